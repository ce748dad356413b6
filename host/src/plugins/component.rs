//! Reading a plugin file without running it: is it a component, which WIT world, what does it
//! import, what does its manifest say. Also `pack`, which embeds a manifest in any component.

use wasmparser::{Parser, Payload};

use super::manifest::{Manifest, ManifestError, SECTION};

/// The WIT package version this host speaks.
pub const WIT_PACKAGE: &str = "tessera:plugin";
/// The version of [`WIT_PACKAGE`] this host implements.
pub const WIT_VERSION: &str = "0.1.0";
/// The interface every plugin must export.
pub const HANDLER_EXPORT: &str = "tessera:plugin/handler@0.1.0";

/// Why a file is not a usable plugin; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// Not WebAssembly at all.
    #[error("not a WebAssembly file (it does not start with the `\\0asm` header)")]
    NotWasm,
    /// A core module rather than a component.
    #[error("a core WebAssembly module, not a component: build it with `--target wasm32-wasip2` (or wrap it with `wasm-tools component new`)")]
    CoreModule,
    /// Damaged or unsupported binary.
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    /// No manifest section.
    #[error("no `{SECTION}` section: embed a manifest with the SDK's export macro or `tessera plugin pack`")]
    NoManifest,
    /// More than one manifest section.
    #[error("more than one `{SECTION}` section")]
    ManyManifests,
    /// The manifest is not valid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// It imports something the sandbox does not provide.
    #[error("imports `{0}`, which is outside the tessera:plugin@0.1.0 world and WASI 0.2; plugins may import only those")]
    ForbiddenImport(String),
    /// It does not export the handler (another world, or another version).
    #[error("does not export `{HANDLER_EXPORT}` (it exports: {0}); it was built for another world or WIT version")]
    WrongWorld(String),
}

/// What `inspect` learns from a plugin file.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The validated manifest.
    pub manifest: Manifest,
    /// The component's imports (interface names).
    pub imports: Vec<String>,
    /// The component's exports.
    pub exports: Vec<String>,
    /// sha256 of the file, hex.
    pub sha256: String,
}

/// Whether the sandbox provides this import: our WIT, or a WASI 0.2 interface.
pub fn import_allowed(name: &str) -> bool {
    const OURS: [&str; 4] = ["types", "http", "config", "log"];
    let ours = name
        .strip_prefix("tessera:plugin/")
        .and_then(|rest| rest.split_once('@'))
        .is_some_and(|(iface, v)| OURS.contains(&iface) && v == WIT_VERSION);
    if ours {
        return true;
    }
    // WASI 0.2.x: every toolchain imports some of these; the context we give grants nothing.
    const WASI: [&str; 5] = [
        "wasi:cli/",
        "wasi:clocks/",
        "wasi:filesystem/",
        "wasi:io/",
        "wasi:random/",
    ];
    let wasi_02 = |prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.split_once('@'))
            .is_some_and(|(iface, v)| !iface.is_empty() && v.starts_with("0.2."))
    };
    WASI.iter().any(|p| wasi_02(p)) || wasi_02("wasi:sockets/")
}

/// Finds the manifest section(s), at component level or inside nested core modules.
fn manifest_sections(bytes: &[u8]) -> Result<Vec<Vec<u8>>, InspectError> {
    let mut found = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| InspectError::Invalid(e.message().to_owned()))?;
        if let Payload::CustomSection(section) = payload {
            if section.name() == SECTION {
                found.push(section.data().to_vec());
            }
        }
    }
    Ok(found)
}

/// Top-level imports and exports of a component, by name.
fn imports_exports(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>), InspectError> {
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| InspectError::Invalid(e.message().to_owned()))?;
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import =
                        import.map_err(|e| InspectError::Invalid(e.message().to_owned()))?;
                    imports.push(import.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export =
                        export.map_err(|e| InspectError::Invalid(e.message().to_owned()))?;
                    exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

/// The header check: `\0asm`, then version 1 (module) or the component encoding.
fn check_header(bytes: &[u8]) -> Result<(), InspectError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(InspectError::NotWasm);
    }
    match bytes[4..8] {
        [1, 0, 0, 0] => Err(InspectError::CoreModule),
        [_, _, 1, 0] => Ok(()),
        _ => Err(InspectError::Invalid("unknown WebAssembly version".into())),
    }
}

/// Inspects a plugin file: header, manifest, imports and exports. Nothing runs.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, InspectError> {
    check_header(bytes)?;
    let mut sections = manifest_sections(bytes)?;
    let manifest = match sections.len() {
        0 => return Err(InspectError::NoManifest),
        1 => sections.remove(0),
        _ => return Err(InspectError::ManyManifests),
    };
    let text = String::from_utf8(manifest).map_err(|_| ManifestError::NotUtf8)?;
    let manifest = Manifest::parse(&text)?;
    let (imports, exports) = imports_exports(bytes)?;
    if let Some(bad) = imports.iter().find(|i| !import_allowed(i)) {
        return Err(InspectError::ForbiddenImport(bad.clone()));
    }
    if !exports.iter().any(|e| e == HANDLER_EXPORT) {
        return Err(InspectError::WrongWorld(if exports.is_empty() {
            "nothing".to_owned()
        } else {
            exports.join(", ")
        }));
    }
    Ok(Inspection {
        manifest,
        imports,
        exports,
        sha256: sha256_hex(bytes),
    })
}

/// Embeds `manifest` (validated TOML) into `component` as a component-level custom section,
/// replacing none: a component that already carries a manifest is refused.
pub fn pack(component: &[u8], manifest_toml: &str) -> Result<Vec<u8>, InspectError> {
    check_header(component)?;
    Manifest::parse(manifest_toml)?;
    if !manifest_sections(component)?.is_empty() {
        return Err(InspectError::ManyManifests);
    }
    let mut payload = Vec::new();
    leb128(&mut payload, SECTION.len() as u64);
    payload.extend_from_slice(SECTION.as_bytes());
    payload.extend_from_slice(manifest_toml.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section id
    leb128(&mut out, payload.len() as u64);
    out.extend_from_slice(&payload);
    Ok(out)
}

fn leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// sha256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_core_modules_are_named() {
        assert!(matches!(
            inspect(b"hello world, not wasm"),
            Err(InspectError::NotWasm)
        ));
        assert!(matches!(
            inspect(b"\0asm\x01\0\0\0"),
            Err(InspectError::CoreModule)
        ));
        assert!(matches!(
            inspect(b"\0asm\x0d\0\x01\0\xff\xff"),
            Err(InspectError::Invalid(_))
        ));
    }

    #[test]
    fn only_our_world_and_wasi_02_may_be_imported() {
        for ok in [
            "tessera:plugin/http@0.1.0",
            "tessera:plugin/log@0.1.0",
            "wasi:cli/environment@0.2.3",
            "wasi:io/streams@0.2.0",
            "wasi:filesystem/preopens@0.2.6",
            "wasi:sockets/tcp@0.2.0",
        ] {
            assert!(import_allowed(ok), "{ok}");
        }
        for bad in [
            "tessera:plugin/http@0.2.0",
            "tessera:plugin/secrets@0.1.0",
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:io/streams@0.3.0",
            "evil:backdoor/open@1.0.0",
            "env",
        ] {
            assert!(!import_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn leb128_encodes_like_the_spec() {
        let mut out = Vec::new();
        leb128(&mut out, 624_485);
        assert_eq!(out, [0xe5, 0x8e, 0x26]);
    }
}
