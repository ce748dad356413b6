//! The compile cache through the runtime: a restarted runtime reads compiled plugins from disk,
//! a damaged entry is compiled again and the plugin still runs, and entries are never shared
//! between different files. Nothing planted in the cache directory is ever loaded: an entry
//! without the cache's MAC, a symbolic link, a directory others may write or a key others may
//! read each leave the plugin compiled from its file.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use tessera::plugins::compile_cache::{CacheLocation, CacheOutcome};
use tessera::plugins::embedded::find;
use tessera::plugins::policy::SandboxPolicy;
use tessera::plugins::runtime::{LoadedPlugin, Runtime};

use crate::plugin_files::plugin;

const USER: u64 = 123_456_789_012_345_678;

fn example() -> &'static [u8] {
    find("example")
        .expect("the example plugin is embedded")
        .bytes
}

/// `<dir>/compile-cache`, its key in `<dir>/compile-cache.key`, as in the bot's data directory.
fn location(dir: &Path) -> CacheLocation {
    CacheLocation::in_data_dir(dir)
}

fn cached_runtime(location: &CacheLocation) -> Runtime {
    Runtime::new(SandboxPolicy::default())
        .expect("a runtime")
        .with_compile_cache(location.clone())
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .expect("the cache directory exists")
        .map(|e| e.expect("an entry").path())
        .collect();
    found.sort();
    found
}

async fn assert_runs_the_example(runtime: &Runtime, loaded: &LoadedPlugin) {
    let outcome = runtime
        .on_ticket_opened(loaded, USER, HashMap::new(), HashMap::new())
        .await;
    let placeholders: HashMap<_, _> = outcome.result.expect("runs").into_iter().collect();
    assert_eq!(placeholders["user_id"], USER.to_string());
    assert_eq!(placeholders["greeting"], "Hello");
}

#[tokio::test]
async fn a_restarted_runtime_reads_the_compiled_plugin_from_the_cache() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cache = location(dir.path());
    let first = cached_runtime(&cache);
    let loaded = first.load(example()).expect("loads");
    assert_eq!(loaded.cache, CacheOutcome::Miss);
    assert_eq!(entries(cache.dir()).len(), 1);

    let restarted = cached_runtime(&cache);
    let loaded = restarted.load(example()).expect("loads");
    assert_eq!(loaded.cache, CacheOutcome::Hit);
    assert_runs_the_example(&restarted, &loaded).await;
}

#[tokio::test]
async fn a_corrupted_entry_is_compiled_again_replaced_and_the_plugin_still_runs() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cache = location(dir.path());
    let runtime = cached_runtime(&cache);
    runtime.load(example()).expect("loads");
    let [entry] = &entries(cache.dir())[..] else {
        panic!("expected one entry: {:?}", entries(cache.dir()));
    };
    let good = std::fs::read(entry).expect("the entry");
    let mut corrupted = good.clone();
    let last = corrupted.len() - 1;
    corrupted[last / 2] ^= 0x55;
    corrupted[last] ^= 0x55;
    std::fs::write(entry, &corrupted).expect("corrupt it");

    let loaded = runtime.load(example()).expect("still loads");
    assert_eq!(loaded.cache, CacheOutcome::Replaced);
    assert_runs_the_example(&runtime, &loaded).await;
    assert_ne!(std::fs::read(entry).expect("the entry"), corrupted);

    let restarted = cached_runtime(&cache);
    let loaded = restarted.load(example()).expect("loads");
    assert_eq!(loaded.cache, CacheOutcome::Hit);
    assert_runs_the_example(&restarted, &loaded).await;
}

#[test]
fn different_files_get_different_entries() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cache = location(dir.path());
    let runtime = cached_runtime(&cache);
    let noop = plugin("test_noop");
    assert_eq!(
        runtime.load(example()).expect("loads").cache,
        CacheOutcome::Miss
    );
    assert_eq!(
        runtime.load(&noop).expect("loads").cache,
        CacheOutcome::Miss
    );
    assert_eq!(entries(cache.dir()).len(), 2);
    assert_eq!(runtime.load(&noop).expect("loads").cache, CacheOutcome::Hit);
    assert_eq!(
        runtime.load(example()).expect("loads").cache,
        CacheOutcome::Hit
    );
}

#[test]
fn without_a_compile_cache_nothing_is_stored() {
    let runtime = Runtime::new(SandboxPolicy::default()).expect("a runtime");
    assert_eq!(
        runtime.load(example()).expect("loads").cache,
        CacheOutcome::Disabled
    );
}

#[test]
fn an_unusable_cache_directory_does_not_stop_loading() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("a file");
    // Where the directory cannot be created: compiled, not stored.
    let inside_a_file = CacheLocation::new(file.join("compile-cache")).expect("a location");
    let loaded = cached_runtime(&inside_a_file)
        .load(example())
        .expect("loads anyway");
    assert_eq!(loaded.cache, CacheOutcome::Unavailable);
    // Where a file stands in the directory's place: not used at all.
    let file_as_dir = CacheLocation::new(file.clone()).expect("a location");
    let loaded = cached_runtime(&file_as_dir)
        .load(example())
        .expect("loads anyway");
    assert_eq!(loaded.cache, CacheOutcome::Refused);
    assert_eq!(std::fs::read(&file).expect("the file"), b"not a directory");
}

/// Not a speed target (those live in benchmarks): prints what the cache saves, for the record.
#[test]
fn print_cold_compile_and_cache_hit_times_of_the_example_plugin() {
    fn median(mut samples: Vec<Duration>) -> Duration {
        samples.sort();
        samples[samples.len() / 2]
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let uncached = Runtime::new(SandboxPolicy::default()).expect("a runtime");
    let cached = cached_runtime(&location(dir.path()));
    cached.load(example()).expect("fills the cache");
    let time = |runtime: &Runtime, expected: CacheOutcome| {
        let start = Instant::now();
        let loaded = runtime.load(example()).expect("loads");
        let took = start.elapsed();
        assert_eq!(loaded.cache, expected);
        took
    };
    let cold: Vec<_> = (0..5)
        .map(|_| time(&uncached, CacheOutcome::Disabled))
        .collect();
    let hit: Vec<_> = (0..5).map(|_| time(&cached, CacheOutcome::Hit)).collect();
    eprintln!(
        "example plugin ({} bytes), load incl. inspect and pre-link, median of 5: \
         cold compile {:?}, compile cache hit {:?}",
        example().len(),
        median(cold),
        median(hit)
    );
}

/// The compiled form of `bytes` as its cache entry holds it: the entry minus its 48-byte header
/// (16 bytes of magic, 32 of MAC; in the previous format, 32 of the artifact's sha256).
fn artifact_of(bytes: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cache = location(dir.path());
    cached_runtime(&cache).load(bytes).expect("loads");
    let [entry] = &entries(cache.dir())[..] else {
        panic!("expected one entry: {:?}", entries(cache.dir()));
    };
    std::fs::read(entry).expect("the entry")[48..].to_vec()
}

#[tokio::test]
async fn an_entry_with_the_right_sha256_but_no_mac_is_compiled_again_not_loaded() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cache = location(dir.path());
    let runtime = cached_runtime(&cache);
    runtime.load(example()).expect("loads");
    let [entry] = &entries(cache.dir())[..] else {
        panic!("expected one entry: {:?}", entries(cache.dir()));
    };
    // What someone able to write the cache directory can make: another component's valid
    // compiled code under the example's name, with the header a sha256 check accepts.
    let planted = artifact_of(&plugin("test_noop"));
    let magic = std::fs::read(entry).expect("the entry")[..16].to_vec();
    let forged = [magic.as_slice(), &Sha256::digest(&planted), &planted].concat();
    std::fs::write(entry, &forged).expect("plant it");

    let restarted = cached_runtime(&cache);
    let loaded = restarted.load(example()).expect("loads");
    assert_eq!(loaded.cache, CacheOutcome::Replaced);
    assert_runs_the_example(&restarted, &loaded).await;
    assert_ne!(std::fs::read(entry).expect("the entry"), forged);
}

#[tokio::test]
async fn an_entry_made_under_another_key_is_compiled_again_not_loaded() {
    let ours = tempfile::tempdir().expect("a temp dir");
    let theirs = tempfile::tempdir().expect("a temp dir");
    let (ours, theirs) = (location(ours.path()), location(theirs.path()));
    cached_runtime(&ours).load(example()).expect("loads");
    cached_runtime(&theirs).load(example()).expect("loads");
    let [entry] = &entries(ours.dir())[..] else {
        panic!("expected one entry");
    };
    let [foreign] = &entries(theirs.dir())[..] else {
        panic!("expected one entry");
    };
    assert_eq!(entry.file_name(), foreign.file_name());
    std::fs::copy(foreign, entry).expect("plant it");

    let runtime = cached_runtime(&ours);
    let loaded = runtime.load(example()).expect("loads");
    assert_eq!(loaded.cache, CacheOutcome::Replaced);
    assert_runs_the_example(&runtime, &loaded).await;
    assert_eq!(
        runtime.load(example()).expect("loads").cache,
        CacheOutcome::Hit
    );
}

#[test]
fn the_key_is_kept_beside_the_cache_directory_readable_only_by_the_bots_user() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cache = location(dir.path());
    cached_runtime(&cache).load(example()).expect("loads");
    let key = cache.key_file();
    assert_eq!(key, dir.path().join("compile-cache.key"));
    assert!(!key.starts_with(cache.dir()));
    let meta = std::fs::symlink_metadata(key).expect("the key file exists");
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
    let dir_meta = std::fs::symlink_metadata(cache.dir()).expect("the cache directory");
    assert_eq!(dir_meta.permissions().mode() & 0o777, 0o700);
    for entry in entries(cache.dir()) {
        assert!(
            entry.extension().is_some_and(|e| e == "cwasm"),
            "only entries in the cache directory: {entry:?}"
        );
    }
}

#[tokio::test]
async fn a_symlinked_entry_is_not_followed() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cache = location(dir.path());
    cached_runtime(&cache).load(example()).expect("loads");
    let [entry] = &entries(cache.dir())[..] else {
        panic!("expected one entry");
    };
    // A valid entry elsewhere, linked to from the cache: loaded if the link were followed.
    let elsewhere = dir.path().join("elsewhere.cwasm");
    std::fs::rename(entry, &elsewhere).expect("move it");
    std::os::unix::fs::symlink(&elsewhere, entry).expect("symlink");
    let valid = std::fs::read(&elsewhere).expect("the entry");

    let runtime = cached_runtime(&cache);
    let loaded = runtime.load(example()).expect("loads");
    assert_eq!(loaded.cache, CacheOutcome::Replaced);
    assert_runs_the_example(&runtime, &loaded).await;
    let replaced = std::fs::symlink_metadata(entry).expect("the entry");
    assert!(replaced.is_file(), "the link itself was replaced");
    assert_eq!(std::fs::read(&elsewhere).expect("untouched"), valid);
}

#[tokio::test]
async fn a_symlinked_cache_directory_or_key_is_not_used() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let real = location(&dir.path().join("real"));
    cached_runtime(&real).load(example()).expect("loads");
    let before = entries(real.dir());

    // Both linked: followed, the valid entry and its key would make a hit.
    let linked = location(&dir.path().join("linked"));
    std::fs::create_dir(dir.path().join("linked")).expect("mkdir");
    std::os::unix::fs::symlink(real.dir(), linked.dir()).expect("symlink");
    std::os::unix::fs::symlink(real.key_file(), linked.key_file()).expect("symlink");
    let runtime = cached_runtime(&linked);
    let loaded = runtime.load(example()).expect("still loads");
    assert_eq!(loaded.cache, CacheOutcome::Refused);
    assert_runs_the_example(&runtime, &loaded).await;

    // Only the directory linked, the key a copy: still refused.
    std::fs::remove_file(linked.key_file()).expect("unlink");
    std::fs::copy(real.key_file(), linked.key_file()).expect("copy the key");
    chmod(linked.key_file(), 0o600);
    let loaded = cached_runtime(&linked).load(example()).expect("loads");
    assert_eq!(loaded.cache, CacheOutcome::Refused);

    // Only the key linked, the directory real: refused too.
    let key_linked = location(&dir.path().join("key-linked"));
    std::fs::create_dir_all(key_linked.dir()).expect("mkdir");
    chmod(key_linked.dir(), 0o700);
    std::os::unix::fs::symlink(real.key_file(), key_linked.key_file()).expect("symlink");
    let loaded = cached_runtime(&key_linked).load(example()).expect("loads");
    assert_eq!(loaded.cache, CacheOutcome::Refused);
    assert!(entries(key_linked.dir()).is_empty(), "nothing stored");
    assert_eq!(entries(real.dir()), before);
}

#[tokio::test]
async fn a_cache_directory_others_may_write_is_not_used() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cache = location(dir.path());
    cached_runtime(&cache).load(example()).expect("loads");
    let before = entries(cache.dir());
    for mode in [0o777, 0o770, 0o730, 0o703, 0o1777] {
        chmod(cache.dir(), mode);
        let runtime = cached_runtime(&cache);
        let loaded = runtime.load(example()).expect("still loads");
        assert_eq!(loaded.cache, CacheOutcome::Refused, "mode {mode:o}");
        assert_runs_the_example(&runtime, &loaded).await;
        assert_eq!(
            entries(cache.dir()),
            before,
            "nothing stored, mode {mode:o}"
        );
    }
    // Private again: the very same entry is a hit, so the mode alone made the difference.
    chmod(cache.dir(), 0o700);
    assert_eq!(
        cached_runtime(&cache).load(example()).expect("loads").cache,
        CacheOutcome::Hit
    );
}

#[test]
fn a_key_others_may_read_is_not_used() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cache = location(dir.path());
    cached_runtime(&cache).load(example()).expect("loads");
    for mode in [0o644, 0o640, 0o604, 0o660] {
        chmod(cache.key_file(), mode);
        let loaded = cached_runtime(&cache).load(example()).expect("still loads");
        assert_eq!(loaded.cache, CacheOutcome::Refused, "mode {mode:o}");
    }
    chmod(cache.key_file(), 0o600);
    assert_eq!(
        cached_runtime(&cache).load(example()).expect("loads").cache,
        CacheOutcome::Hit
    );
}

/// Root can give the directory away; as another user this part is covered by the unit tests of
/// the owner check, which take the user as a parameter.
#[test]
fn a_cache_directory_or_key_of_another_user_is_not_used() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cache = location(dir.path());
    cached_runtime(&cache).load(example()).expect("loads");
    let nobody = 65_534;
    for path in [cache.dir(), cache.key_file()] {
        if let Err(e) = std::os::unix::fs::chown(path, Some(nobody), None) {
            assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
            eprintln!("not root: cannot give {} away; skipped", path.display());
            return;
        }
        let loaded = cached_runtime(&cache).load(example()).expect("still loads");
        assert_eq!(loaded.cache, CacheOutcome::Refused, "{}", path.display());
        let me = std::fs::metadata(dir.path()).expect("meta");
        std::os::unix::fs::chown(path, Some(std::os::unix::fs::MetadataExt::uid(&me)), None)
            .expect("give it back");
        assert_eq!(
            cached_runtime(&cache).load(example()).expect("loads").cache,
            CacheOutcome::Hit
        );
    }
}

#[test]
fn entries_of_plugins_no_longer_loaded_are_pruned() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cache = location(dir.path());
    let runtime = cached_runtime(&cache);
    let noop = plugin("test_noop");
    let kept = runtime.load(example()).expect("loads");
    runtime.load(&noop).expect("loads");
    std::fs::write(cache.dir().join("stale.tmp"), b"a crash left this").expect("write");
    assert_eq!(entries(cache.dir()).len(), 3);
    let keep = std::collections::HashSet::from([kept.inspection.sha256.clone()]);
    assert_eq!(runtime.prune_compile_cache(&keep), 2);
    let left = entries(cache.dir());
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].to_string_lossy().contains(&kept.inspection.sha256));
    assert_eq!(
        runtime.load(example()).expect("loads").cache,
        CacheOutcome::Hit
    );
    assert_eq!(
        runtime.load(&noop).expect("loads").cache,
        CacheOutcome::Miss
    );
}
