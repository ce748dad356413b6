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
    /// A section no WebAssembly version defines: a damaged file, or bytes appended to it.
    #[error("not a valid WebAssembly component: unknown section id {id} at byte {offset} (a damaged file, or bytes appended after the component)")]
    UnknownSection {
        /// The section id.
        id: u8,
        /// Where its contents start.
        offset: usize,
    },
    /// It imports something the sandbox does not provide.
    #[error("imports `{0}`, which the sandbox does not provide: a plugin may import only the tessera:plugin@0.1.0 interfaces and the standard WASI interfaces, versions 0.2.0 to 0.2.{WASI_MAX_PATCH}")]
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

/// The WASI 0.2 interfaces the runtime links (`wasmtime_wasi::p2::add_to_linker_async`, without
/// unstable features): every toolchain imports some of them, and the context we give grants
/// nothing. Keep in step with wasmtime-wasi when it is upgraded.
pub const WASI_INTERFACES: [&str; 27] = [
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/preopens",
    "wasi:filesystem/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:random/random",
    "wasi:sockets/instance-network",
    "wasi:sockets/ip-name-lookup",
    "wasi:sockets/network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
];

/// The newest WASI 0.2 patch release the linked interfaces implement (wasmtime-wasi 48 ships
/// the 0.2.12 WIT); a newer one may declare functions the host lacks.
pub const WASI_MAX_PATCH: u32 = 12;

/// Whether the sandbox provides this import: an interface of our WIT, or one of
/// [`WASI_INTERFACES`] at a version from 0.2.0 to 0.2.[`WASI_MAX_PATCH`]. Names and versions are
/// compared exactly, so a made-up interface in a real package is refused here, by name.
pub fn import_allowed(name: &str) -> bool {
    const OURS: [&str; 4] = ["types", "http", "config", "log"];
    let Some((interface, version)) = name.split_once('@') else {
        return false;
    };
    if let Some(ours) = interface.strip_prefix("tessera:plugin/") {
        return OURS.contains(&ours) && version == WIT_VERSION;
    }
    let wasi_02 = version
        .strip_prefix("0.2.")
        // Semver: digits only, no leading zero.
        .filter(|patch| patch.bytes().all(|b| b.is_ascii_digit()))
        .filter(|patch| *patch == "0" || !patch.starts_with('0'))
        .and_then(|patch| patch.parse::<u32>().ok())
        .is_some_and(|patch| patch <= WASI_MAX_PATCH);
    wasi_02 && WASI_INTERFACES.contains(&interface)
}

/// Finds the manifest section(s), at component level or inside nested core modules. Refuses
/// unknown sections, which the parser passes over but the compiler does not.
fn manifest_sections(bytes: &[u8]) -> Result<Vec<Vec<u8>>, InspectError> {
    let mut found = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| InspectError::Invalid(e.message().to_owned()))?;
        match payload {
            Payload::CustomSection(section) if section.name() == SECTION => {
                found.push(section.data().to_vec());
            }
            Payload::UnknownSection { id, range, .. } => {
                return Err(InspectError::UnknownSection {
                    id,
                    offset: range.start,
                })
            }
            _ => {}
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
            "wasi:random/insecure-seed@0.2.12",
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
    fn wasi_imports_are_checked_by_exact_name_and_version() {
        for bad in [
            // Made-up interfaces in real WASI packages.
            "wasi:cli/made-up@0.2.0",
            "wasi:sockets/raw@0.2.0",
            "wasi:filesystem/everything@0.2.6",
            // Real, but not linked: an export of the command world, an unstable interface.
            "wasi:cli/run@0.2.0",
            "wasi:clocks/timezone@0.2.12",
            // Versions the linked WIT does not implement, or that are not plain semver.
            "wasi:io/streams@0.2.13",
            "wasi:io/streams@0.2.01",
            "wasi:io/streams@0.2.0-rc-2023-11-10",
            "wasi:io/streams@0.2",
            "wasi:io/streams",
            "wasi:io/@0.2.0",
        ] {
            assert!(!import_allowed(bad), "{bad}");
        }
        for interface in WASI_INTERFACES {
            for version in ["0.2.0", "0.2.6", "0.2.12"] {
                let name = format!("{interface}@{version}");
                assert!(import_allowed(&name), "{name}");
            }
        }
    }

    #[test]
    fn bytes_appended_after_a_component_are_refused() {
        // A component header, then an "unknown section" (id 0x7f, 4 bytes): what appended junk
        // parses as. The parser would skip it; the compiler refuses it.
        let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
        bytes.extend_from_slice(b"\x7f\x04junk");
        let err = inspect(&bytes).expect_err("refused");
        assert!(
            matches!(
                err,
                InspectError::UnknownSection {
                    id: 0x7f,
                    offset: 10
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("appended"), "{err}");
    }

    #[test]
    fn leb128_encodes_like_the_spec() {
        let mut out = Vec::new();
        leb128(&mut out, 624_485);
        assert_eq!(out, [0xe5, 0x8e, 0x26]);
    }
}
