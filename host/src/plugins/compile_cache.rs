//! Compiled plugins cached on disk, so a restart does not compile every plugin again.
//!
//! An entry is named by the sha256 of the component's bytes and a hash of everything in the
//! engine that compiled code depends on (wasmtime's version, the target, the compiler's flags,
//! the enabled features and tunables: `Engine::precompile_compatibility_hash`). Another plugin
//! file or another engine configuration therefore never finds the entry. The file holds a
//! header, the sha256 of the artifact and the artifact (`Component::serialize`); the digest is
//! checked before the artifact is handed to wasmtime, so a truncated or corrupted file is
//! compiled again and replaced. Every cache failure falls back to compiling, with a warning.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The start of every entry; a new layout gets a new version here.
const MAGIC: &[u8; 16] = b"tessera-cwasm-v1";
/// The header: [`MAGIC`], then the sha256 of the artifact that follows.
const HEADER_LEN: usize = MAGIC.len() + 32;

/// How a plugin's compiled code was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// No compile cache is configured: compiled in memory.
    Disabled,
    /// Read from the cache; nothing was compiled.
    Hit,
    /// Not in the cache: compiled, then stored.
    Miss,
    /// The entry was unusable (truncated, corrupted, unreadable, or refused by wasmtime):
    /// compiled, and the entry replaced.
    Replaced,
    /// The cache could not be written: compiled, not stored (the reason is in the log).
    Unavailable,
}

/// A directory of compiled components for one engine.
#[derive(Debug)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    /// Hex of (a prefix of) the sha256 of the engine's compatibility hash.
    engine_key: String,
}

impl CompileCache {
    /// A cache in `dir` (created on first store) for components compiled by `engine`.
    pub(crate) fn new(engine: &Engine, dir: PathBuf) -> CompileCache {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let digest = hasher.0.finalize();
        CompileCache {
            dir,
            engine_key: hex(&digest[..16]),
        }
    }

    /// The file that holds (or would hold) the compiled form of `component`.
    pub(crate) fn entry_path(&self, component: &[u8]) -> PathBuf {
        let source = hex(&Sha256::digest(component));
        self.dir.join(format!("{source}-{}.cwasm", self.engine_key))
    }

    /// `component` compiled by `engine` (the engine this cache was made for): read from the
    /// cache when a valid entry is there, otherwise compiled and stored. Only a failure to
    /// compile is an error; cache failures are logged and worked around.
    pub(crate) fn component(
        &self,
        engine: &Engine,
        component: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.entry_path(component);
        let found = match read_entry(&path) {
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
        let compiled = Component::new(engine, component)?;
        let stored = compiled
            .serialize()
            .map_err(anyhow::Error::from)
            .context("serializing the compiled plugin")
            .and_then(|artifact| self.store(&path, &artifact));
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
        Ok((compiled, outcome))
    }

    /// Writes the entry atomically: a temporary file in the same directory, then a rename, so a
    /// reader sees the old entry, no entry, or the whole new one. Not synced: after a crash a
    /// partly written entry fails its digest and is compiled again.
    fn store(&self, path: &Path, artifact: &[u8]) -> anyhow::Result<()> {
        create_private_dir(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let temp = self.dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .with_context(|| format!("creating {}", temp.display()))?;
            file.write_all(MAGIC)
                .and_then(|()| file.write_all(&Sha256::digest(artifact)))
                .and_then(|()| file.write_all(artifact))
                .with_context(|| format!("writing {}", temp.display()))?;
            drop(file);
            fs::rename(&temp, path)
                .with_context(|| format!("renaming {} to {}", temp.display(), path.display()))
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }
}

/// Bytes whose sha256 matched the digest stored beside them: exactly what [`CompileCache::store`]
/// wrote. Only [`read_entry`] makes one.
struct VerifiedArtifact(Vec<u8>);

/// The artifact in the entry at `path`: `None` if there is no entry, an error if it cannot be
/// read or fails the checks.
fn read_entry(path: &Path) -> anyhow::Result<Option<VerifiedArtifact>> {
    let mut bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if bytes.len() < HEADER_LEN || !bytes.starts_with(MAGIC) {
        anyhow::bail!("not a compile cache entry (truncated or foreign)");
    }
    let artifact = bytes.split_off(HEADER_LEN);
    if Sha256::digest(&artifact)[..] != bytes[MAGIC.len()..] {
        anyhow::bail!("the compiled code does not match its sha256 (truncated or corrupted)");
    }
    Ok(Some(VerifiedArtifact(artifact)))
}

/// The one unsafe operation of the plugin runtime: loading native code from the cache.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &VerifiedArtifact) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` runs the machine code in `artifact` as is, so the bytes
    // must come from `Component::serialize` or `Engine::precompile_component` of this wasmtime.
    // They do: entries are written only by `CompileCache::store` from `Component::serialize`,
    // into the operator's data directory (created private to the bot's user), under a name made
    // of the sha256 of the source component and of the engine's compatibility hash, and a
    // `VerifiedArtifact` holds exactly the bytes whose sha256 matched the digest stored with
    // them, so a truncated or corrupted file never gets here. wasmtime itself also refuses an
    // artifact of another version or configuration. Someone able to write the data directory
    // could forge an entry, but they could as well replace the binary or the database.
    unsafe { Component::deserialize(engine, &artifact.0) }
}

fn warn_unusable(path: &Path, error: &str) {
    tracing::warn!(
        path = %path.display(),
        error,
        "compile cache entry unusable; compiling the plugin again and replacing it"
    );
}

/// Creates `dir` (and its parents) readable and writable only by this user where that exists.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
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

    fn outcome(cache: &CompileCache, engine: &Engine, bytes: &[u8]) -> CacheOutcome {
        cache.component(engine, bytes).expect("compiles").1
    }

    #[test]
    fn a_second_engine_of_the_same_configuration_hits_the_entry() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let first = engine(|_| {});
        let cache = CompileCache::new(&first, dir.path().join("cache"));
        assert_eq!(outcome(&cache, &first, example()), CacheOutcome::Miss);
        assert!(cache.entry_path(example()).is_file());

        let second = engine(|_| {});
        let again = CompileCache::new(&second, dir.path().join("cache"));
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
        let cache = CompileCache::new(&plain, dir.path().to_owned());
        let other = CompileCache::new(&fuel, dir.path().to_owned());
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
        let cache = CompileCache::new(&plain, dir.path().to_owned());
        let other = CompileCache::new(&fuel, dir.path().to_owned());
        outcome(&other, &fuel, example());
        // A well-formed entry of the wrong engine: wasmtime's own check refuses it.
        fs::copy(other.entry_path(example()), cache.entry_path(example())).expect("copy");
        assert_eq!(outcome(&cache, &plain, example()), CacheOutcome::Replaced);
        assert_eq!(outcome(&cache, &plain, example()), CacheOutcome::Hit);
    }

    #[test]
    fn another_file_does_not_reuse_the_entry() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let engine = engine(|_| {});
        let cache = CompileCache::new(&engine, dir.path().to_owned());
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
        let cache = CompileCache::new(&engine, dir.path().to_owned());
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
        let cache = CompileCache::new(&engine, file.join("cache"));
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
        let cache = CompileCache::new(&engine, dir.path().to_owned());
        outcome(&cache, &engine, example());
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("the cache dir")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
