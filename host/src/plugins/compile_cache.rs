//! Compiled plugins cached on disk, so a restart (or a plugin author's second `plugin run`) does
//! not compile every plugin again.
//!
//! An entry is named by the sha256 of the component's bytes and a hash of everything in the
//! engine that compiled code depends on (wasmtime's version, the target, the compiler's flags,
//! the enabled features and tunables: `Engine::precompile_compatibility_hash`). Another plugin
//! file or another engine configuration therefore never finds the entry.
//!
//! Loading an entry runs its bytes as native code, in the process that holds the bot's token.
//! So an entry is used only if it carries a MAC that only this cache could have made:
//! HMAC-SHA256, under a key derived from the cache's key and the entry's name, over the
//! artifact (`Component::serialize`). The key is 32 random bytes in a file beside the directory,
//! never inside it ([`CacheLocation`]), created mode 0600 on first use; someone able to write
//! the cache directory can neither read it nor make an entry that passes. The directory and the
//! key file are also used only if the bot's user owns them and no one else may write them (nor
//! read the key), and no symbolic link is followed: a directory or key that fails these checks
//! is not used at all ([`CacheOutcome::Refused`]); an entry that fails them, or its MAC, is
//! compiled again and replaced. The plugin is always compiled instead, with a warning: the cache
//! never stops a plugin from loading.
//!
//! - `location` — where the directory and its key are.
//! - `private` — opening them (and entries) so that only this user can have written them.

mod location;
mod private;

use std::hash::{Hash, Hasher};
use std::path::Path;

use anyhow::Context as _;
use ring::hmac;
use ring::rand::{SecureRandom as _, SystemRandom};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

use super::compiler::Precompiled;
pub use location::{CacheLocation, NoDirectoryName};
use private::{create_private_file, read_private_file, PrivateDir, Unusable};

/// The start of every entry; a new layout gets a new version here. (v1 held a plain sha256 of
/// the artifact where the MAC now is: its entries are compiled again and replaced.)
const MAGIC: &[u8; 16] = b"tessera-cwasm-v2";
/// The header: [`MAGIC`], then the MAC of the artifact that follows.
const HEADER_LEN: usize = MAGIC.len() + 32;
/// Bytes of key in the key file.
const KEY_LEN: usize = 32;
/// Separates the per-entry keys from any other use of the cache's key.
const ENTRY_KEY_CONTEXT: &[u8] = b"tessera compile cache entry v2\0";

/// How a plugin's compiled code was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// No compile cache is configured: compiled in memory.
    Disabled,
    /// Read from the cache, its MAC checked; nothing was compiled.
    Hit,
    /// Not in the cache: compiled, then stored.
    Miss,
    /// The entry was unusable (truncated, corrupted, without this cache's MAC, a symbolic link,
    /// unreadable, or refused by wasmtime): compiled, and the entry replaced.
    Replaced,
    /// The cache could not be created or written: compiled, not stored (the reason is in the
    /// log).
    Unavailable,
    /// The cache directory or its key file is not safe to use (a symbolic link, another user's,
    /// writable by others, or a key others may read): nothing read or stored, compiled in
    /// memory (the reason is in the log).
    Refused,
}

impl CacheOutcome {
    /// One lowercase word, for the plugin author's tools.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Disabled => "disabled",
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Replaced => "replaced",
            CacheOutcome::Unavailable => "unavailable",
            CacheOutcome::Refused => "refused",
        }
    }
}

/// A freshly compiled component, and its precompiled form when a compile worker made it (so
/// the cache stores exactly what was loaded).
pub(crate) struct Compiled {
    /// Loaded into the engine.
    pub(crate) component: Component,
    /// What the worker wrote, if a worker compiled it.
    pub(crate) artifact: Option<Precompiled>,
}

/// A directory of compiled components for one engine.
#[derive(Debug)]
pub(crate) struct CompileCache {
    location: CacheLocation,
    /// Hex of (a prefix of) the sha256 of the engine's compatibility hash.
    engine_key: String,
}

impl CompileCache {
    /// A cache at `location` (created on first use) for components compiled by `engine`.
    pub(crate) fn new(engine: &Engine, location: CacheLocation) -> CompileCache {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let digest = hasher.0.finalize();
        CompileCache {
            location,
            engine_key: hex(&digest[..16]),
        }
    }

    /// The name of the entry that holds (or would hold) the compiled form of `component`.
    fn entry_name(&self, component: &[u8]) -> String {
        let source = hex(&Sha256::digest(component));
        format!("{source}-{}.cwasm", self.engine_key)
    }

    /// The file that holds (or would hold) the compiled form of `component`.
    #[cfg(test)]
    pub(crate) fn entry_path(&self, component: &[u8]) -> std::path::PathBuf {
        self.location.dir().join(self.entry_name(component))
    }

    /// `component` compiled for `engine` (the engine this cache was made for): read from the
    /// cache when a valid entry is there, otherwise compiled by `compile` and stored. Only a
    /// failure to compile is an error; cache failures are logged and worked around.
    pub(crate) fn component<E>(
        &self,
        engine: &Engine,
        component: &[u8],
        compile: impl FnOnce() -> Result<Compiled, E>,
    ) -> Result<(Component, CacheOutcome), E> {
        let (dir, key) = match self.open() {
            Ok(opened) => opened,
            Err(e) => {
                let outcome = match e {
                    Unusable::Refused { .. } => CacheOutcome::Refused,
                    Unusable::Failed(_) => CacheOutcome::Unavailable,
                };
                tracing::warn!(
                    dir = %self.location.dir().display(),
                    error = format!("{e:#}"),
                    "compile cache not used; compiling the plugin in memory"
                );
                return compile().map(|c| (c.component, outcome));
            }
        };
        let name = self.entry_name(component);
        let path = self.location.dir().join(&name);
        let found = match read_entry(&dir, &key, &name) {
            Ok(Some(artifact)) => match deserialize(engine, &artifact) {
                Ok(compiled) => return Ok((compiled, CacheOutcome::Hit)),
                Err(e) => {
                    warn_unusable(&path, &format!("{e:#}"));
                    true
                }
            },
            Ok(None) => false,
            Err(e) => {
                warn_unusable(&path, &format!("{e:#}"));
                true
            }
        };
        let compiled = compile()?;
        let stored = match &compiled.artifact {
            Some(artifact) => Ok(std::borrow::Cow::Borrowed(artifact.bytes())),
            None => compiled
                .component
                .serialize()
                .map(std::borrow::Cow::Owned)
                .map_err(anyhow::Error::from)
                .context("serializing the compiled plugin"),
        }
        .and_then(|artifact| {
            let tag = hmac::sign(&key.for_entry(&name), &artifact);
            dir.store(&name, &[MAGIC, tag.as_ref(), &artifact])
        });
        let outcome = match stored {
            Err(e) => {
                tracing::warn!(
                    path = %path.display(),
                    error = format!("{e:#}"),
                    "cannot store the compiled plugin in the compile cache; it will be compiled again next time"
                );
                CacheOutcome::Unavailable
            }
            Ok(()) if found => CacheOutcome::Replaced,
            Ok(()) => CacheOutcome::Miss,
        };
        Ok((compiled.component, outcome))
    }

    /// Deletes every entry but those of the components in `keep` (sha256, hex) compiled by
    /// this engine: entries of plugins no longer loaded, of other engines, of the old layout,
    /// and temporary files a crash left. Returns how many were deleted. Only files directly in
    /// the checked directory are touched; a symbolic link is removed, never followed.
    pub(crate) fn prune(&self, keep: &std::collections::HashSet<String>) -> usize {
        let Ok(dir) = PrivateDir::open_or_create(self.location.dir()) else {
            return 0;
        };
        let Ok(entries) = std::fs::read_dir(dir.path()) else {
            return 0;
        };
        let wanted = |name: &str| {
            name.strip_suffix(".cwasm")
                .and_then(|stem| stem.split_once('-'))
                .is_some_and(|(sha, engine)| engine == self.engine_key && keep.contains(sha))
        };
        let mut deleted = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            if wanted(name) {
                continue;
            }
            // `remove_file` unlinks the name itself: a link is removed, not its target.
            match std::fs::remove_file(entry.path()) {
                Ok(()) => deleted += 1,
                Err(e) => {
                    tracing::warn!(path = %entry.path().display(), error = %e, "cannot prune a compile cache entry")
                }
            }
        }
        deleted
    }

    /// The checked directory (created if missing) and the key (created if missing).
    fn open(&self) -> Result<(PrivateDir, CacheKey), Unusable> {
        let dir = PrivateDir::open_or_create(self.location.dir())?;
        let key = CacheKey::load_or_create(self.location.key_file())?;
        Ok((dir, key))
    }
}

/// The cache's key, read from its key file.
struct CacheKey(hmac::Key);

impl CacheKey {
    /// The key in `path`, or a new random one written there if there is none. Refused if the
    /// file is not this user's alone or does not hold exactly [`KEY_LEN`] bytes.
    fn load_or_create(path: &Path) -> Result<CacheKey, Unusable> {
        // Twice at most: if another process creates the file between our read and our create,
        // its key is read and used.
        for _ in 0..2 {
            if let Some(bytes) = read_private_file(path, KEY_LEN as u64 + 1)? {
                if bytes.len() != KEY_LEN {
                    return Err(Unusable::Refused {
                        path: path.to_owned(),
                        reason: format!(
                            "is not a {KEY_LEN}-byte key; remove it and a new one is made"
                        ),
                    });
                }
                return Ok(CacheKey(hmac::Key::new(hmac::HMAC_SHA256, &bytes)));
            }
            let mut fresh = [0u8; KEY_LEN];
            SystemRandom::new()
                .fill(&mut fresh)
                .map_err(|_| anyhow::anyhow!("the system's random generator failed"))?;
            if create_private_file(path, &fresh)? {
                return Ok(CacheKey(hmac::Key::new(hmac::HMAC_SHA256, &fresh)));
            }
        }
        Err(anyhow::anyhow!("{} keeps disappearing", path.display()).into())
    }

    /// The key for the entry `name` alone, so that a valid entry moved to another name (another
    /// component's) fails its check.
    fn for_entry(&self, name: &str) -> hmac::Key {
        let mut context = hmac::Context::with_key(&self.0);
        context.update(ENTRY_KEY_CONTEXT);
        context.update(name.as_bytes());
        hmac::Key::new(hmac::HMAC_SHA256, context.sign().as_ref())
    }
}

/// Bytes that carried this cache's MAC for their entry: exactly what [`CompileCache::component`]
/// stored. Only [`read_entry`] makes one.
struct VerifiedArtifact(Vec<u8>);

/// The artifact in the entry `name`: `None` if there is no entry, an error if it cannot be
/// read or fails the checks.
fn read_entry(
    dir: &PrivateDir,
    key: &CacheKey,
    name: &str,
) -> anyhow::Result<Option<VerifiedArtifact>> {
    let Some(mut bytes) = dir.read(name)? else {
        return Ok(None);
    };
    if bytes.len() < HEADER_LEN || !bytes.starts_with(MAGIC) {
        anyhow::bail!("not a compile cache entry of this version (truncated, foreign or older)");
    }
    let artifact = bytes.split_off(HEADER_LEN);
    hmac::verify(&key.for_entry(name), &artifact, &bytes[MAGIC.len()..]).map_err(|_| {
        anyhow::anyhow!(
            "the compiled code does not carry this cache's MAC (corrupted, or not written by this cache)"
        )
    })?;
    Ok(Some(VerifiedArtifact(artifact)))
}

/// The one unsafe operation of the plugin runtime: loading native code from the cache.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &VerifiedArtifact) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` runs the machine code in `artifact` as is, so the bytes
    // must come from `Component::serialize` or `Engine::precompile_component` of this wasmtime.
    // They do: a `VerifiedArtifact` holds exactly bytes whose HMAC-SHA256, under a key derived
    // from the cache's key and the entry's name, matched the MAC stored with them, and only
    // `CompileCache::component` makes such a MAC, over `Component::serialize` output. The key is
    // 32 random bytes in a file outside the cache directory that only the bot's user may read
    // (checked, symlinks not followed), so whoever can write the cache directory but not read
    // the key cannot forge an entry, nor move one to another component's name; a truncated or
    // corrupted file never gets here either. wasmtime itself also refuses an artifact of another
    // version or configuration. Someone able to read the key runs as the bot's user (or root)
    // and could as well replace the binary.
    unsafe { Component::deserialize(engine, &artifact.0) }
}

fn warn_unusable(path: &Path, error: &str) {
    tracing::warn!(
        path = %path.display(),
        error,
        "compile cache entry unusable; compiling the plugin again and replacing it"
    );
}

/// Feeds what is hashed into sha256, so the engine key is the same in every process and build
/// (`DefaultHasher` promises neither).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::plugins::embedded;

    fn example() -> &'static [u8] {
        embedded::find("example")
            .expect("the example plugin is embedded")
            .bytes
    }

    fn engine(configure: impl FnOnce(&mut wasmtime::Config)) -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        configure(&mut config);
        Engine::new(&config).expect("an engine")
    }

    /// `<dir>/cache`, its key in `<dir>/cache.key`.
    fn location(dir: &Path) -> CacheLocation {
        CacheLocation::new(dir.join("cache")).expect("a location")
    }

    fn outcome(cache: &CompileCache, engine: &Engine, bytes: &[u8]) -> CacheOutcome {
        cache
            .component(engine, bytes, || {
                Component::new(engine, bytes).map(|component| Compiled {
                    component,
                    artifact: None,
                })
            })
            .expect("compiles")
            .1
    }

    #[test]
    fn a_second_engine_of_the_same_configuration_hits_the_entry() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let first = engine(|_| {});
        let cache = CompileCache::new(&first, location(dir.path()));
        assert_eq!(outcome(&cache, &first, example()), CacheOutcome::Miss);
        assert!(cache.entry_path(example()).is_file());

        let second = engine(|_| {});
        let again = CompileCache::new(&second, location(dir.path()));
        assert_eq!(again.entry_path(example()), cache.entry_path(example()));
        assert_eq!(outcome(&again, &second, example()), CacheOutcome::Hit);
    }

    #[test]
    fn another_engine_configuration_does_not_reuse_the_entry() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let plain = engine(|_| {});
        let fuel = engine(|c| {
            c.consume_fuel(true);
        });
        let cache = CompileCache::new(&plain, location(dir.path()));
        let other = CompileCache::new(&fuel, location(dir.path()));
        assert_ne!(cache.entry_path(example()), other.entry_path(example()));
        assert_eq!(outcome(&cache, &plain, example()), CacheOutcome::Miss);
        assert_eq!(outcome(&other, &fuel, example()), CacheOutcome::Miss);
        assert_eq!(outcome(&other, &fuel, example()), CacheOutcome::Hit);
    }

    #[test]
    fn an_entry_written_by_another_configuration_under_our_name_is_replaced() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let plain = engine(|_| {});
        let fuel = engine(|c| {
            c.consume_fuel(true);
        });
        let cache = CompileCache::new(&plain, location(dir.path()));
        let other = CompileCache::new(&fuel, location(dir.path()));
        outcome(&other, &fuel, example());
        // A well-formed entry of the wrong engine: its MAC is for another name (and wasmtime's
        // own check would refuse it too).
        fs::copy(other.entry_path(example()), cache.entry_path(example())).expect("copy");
        assert_eq!(outcome(&cache, &plain, example()), CacheOutcome::Replaced);
        assert_eq!(outcome(&cache, &plain, example()), CacheOutcome::Hit);
    }

    #[test]
    fn another_file_does_not_reuse_the_entry() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let engine = engine(|_| {});
        let cache = CompileCache::new(&engine, location(dir.path()));
        // The same component plus a custom section `nope`: another file, still valid.
        let mut other = example().to_vec();
        other.extend_from_slice(&[0, 5, 4, b'n', b'o', b'p', b'e']);
        assert_eq!(outcome(&cache, &engine, example()), CacheOutcome::Miss);
        assert_ne!(cache.entry_path(example()), cache.entry_path(&other));
        assert_eq!(outcome(&cache, &engine, &other), CacheOutcome::Miss);
        assert_eq!(outcome(&cache, &engine, &other), CacheOutcome::Hit);
    }

    #[test]
    fn a_corrupted_or_truncated_entry_is_compiled_again_and_replaced() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let engine = engine(|_| {});
        let cache = CompileCache::new(&engine, location(dir.path()));
        outcome(&cache, &engine, example());
        let path = cache.entry_path(example());
        let good = fs::read(&path).expect("the entry");

        let mut flipped = good.clone();
        let middle = HEADER_LEN + (flipped.len() - HEADER_LEN) / 2;
        flipped[middle] ^= 0xff;
        let broken: [Vec<u8>; 4] = [
            flipped,
            good[..good.len() / 2].to_vec(),
            good[..10].to_vec(),
            Vec::new(),
        ];
        for bytes in broken {
            fs::write(&path, &bytes).expect("corrupt the entry");
            assert_eq!(outcome(&cache, &engine, example()), CacheOutcome::Replaced);
            assert_eq!(fs::read(&path).expect("the entry"), good);
            assert_eq!(outcome(&cache, &engine, example()), CacheOutcome::Hit);
        }
    }

    #[test]
    fn an_unwritable_cache_still_compiles() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = dir.path().join("not-a-directory");
        fs::write(&file, b"").expect("a file");
        let engine = engine(|_| {});
        let cache = CompileCache::new(&engine, location(&file));
        assert_eq!(
            outcome(&cache, &engine, example()),
            CacheOutcome::Unavailable
        );
        assert_eq!(
            outcome(&cache, &engine, example()),
            CacheOutcome::Unavailable
        );
    }

    #[test]
    fn no_temporary_file_is_left_behind() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let engine = engine(|_| {});
        let cache = CompileCache::new(&engine, location(dir.path()));
        outcome(&cache, &engine, example());
        let names: Vec<_> = fs::read_dir(dir.path().join("cache"))
            .expect("the cache dir")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn an_entry_whose_header_is_the_artifacts_sha256_is_not_loaded() {
        // What the previous format accepted: the magic, the artifact's sha256, the artifact.
        let dir = tempfile::tempdir().expect("a temp dir");
        let engine = engine(|_| {});
        let cache = CompileCache::new(&engine, location(dir.path()));
        outcome(&cache, &engine, example());
        let path = cache.entry_path(example());
        let good = fs::read(&path).expect("the entry");
        let artifact = &good[HEADER_LEN..];
        let forged = [MAGIC.as_slice(), &Sha256::digest(artifact), artifact].concat();
        fs::write(&path, &forged).expect("plant it");
        assert_eq!(outcome(&cache, &engine, example()), CacheOutcome::Replaced);
        assert_eq!(fs::read(&path).expect("the entry"), good);
    }

    #[test]
    fn an_entry_moved_to_another_components_name_is_not_loaded() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let engine = engine(|_| {});
        let cache = CompileCache::new(&engine, location(dir.path()));
        let mut other = example().to_vec();
        other.extend_from_slice(&[0, 5, 4, b'n', b'o', b'p', b'e']);
        outcome(&cache, &engine, example());
        outcome(&cache, &engine, &other);
        // A valid entry, MAC and all, but for another file: it must not be loaded as this one.
        fs::copy(cache.entry_path(&other), cache.entry_path(example())).expect("copy");
        assert_eq!(outcome(&cache, &engine, example()), CacheOutcome::Replaced);
        assert_eq!(outcome(&cache, &engine, example()), CacheOutcome::Hit);
    }

    #[test]
    fn another_key_makes_every_entry_compile_again() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let engine = engine(|_| {});
        let cache = CompileCache::new(&engine, location(dir.path()));
        outcome(&cache, &engine, example());
        let key_file = location(dir.path()).key_file().to_owned();
        fs::remove_file(&key_file).expect("remove the key");
        assert_eq!(outcome(&cache, &engine, example()), CacheOutcome::Replaced);
        assert!(key_file.is_file(), "a new key was made");
        assert_eq!(outcome(&cache, &engine, example()), CacheOutcome::Hit);
    }

    #[test]
    fn the_key_is_32_private_bytes_outside_the_directory() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let engine = engine(|_| {});
        let where_ = location(dir.path());
        let cache = CompileCache::new(&engine, where_.clone());
        outcome(&cache, &engine, example());
        let key = fs::read(where_.key_file()).expect("the key file");
        assert_eq!(key.len(), KEY_LEN);
        assert!(!where_.key_file().starts_with(where_.dir()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let meta = fs::symlink_metadata(where_.key_file()).expect("metadata");
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            let meta = fs::symlink_metadata(where_.dir()).expect("metadata");
            assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        }
        // A key of the wrong length is not used, nor silently replaced.
        fs::write(where_.key_file(), b"short").expect("truncate the key");
        assert_eq!(outcome(&cache, &engine, example()), CacheOutcome::Refused);
        assert_eq!(fs::read(where_.key_file()).expect("kept"), b"short");
    }
}
