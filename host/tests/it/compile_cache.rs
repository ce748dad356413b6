//! The compile cache through the runtime: a restarted runtime reads compiled plugins from disk,
//! a damaged entry is compiled again and the plugin still runs, and entries are never shared
//! between different files.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tessera::plugins::compile_cache::CacheOutcome;
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

fn cached_runtime(dir: &Path) -> Runtime {
    Runtime::new(SandboxPolicy::default())
        .expect("a runtime")
        .with_compile_cache(dir.to_owned())
}

fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
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
    let first = cached_runtime(dir.path());
    let loaded = first.load(example()).expect("loads");
    assert_eq!(loaded.cache, CacheOutcome::Miss);
    assert_eq!(entries(dir.path()).len(), 1);

    let restarted = cached_runtime(dir.path());
    let loaded = restarted.load(example()).expect("loads");
    assert_eq!(loaded.cache, CacheOutcome::Hit);
    assert_runs_the_example(&restarted, &loaded).await;
}

#[tokio::test]
async fn a_corrupted_entry_is_compiled_again_replaced_and_the_plugin_still_runs() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let runtime = cached_runtime(dir.path());
    runtime.load(example()).expect("loads");
    let [entry] = &entries(dir.path())[..] else {
        panic!("expected one entry: {:?}", entries(dir.path()));
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

    let restarted = cached_runtime(dir.path());
    let loaded = restarted.load(example()).expect("loads");
    assert_eq!(loaded.cache, CacheOutcome::Hit);
    assert_runs_the_example(&restarted, &loaded).await;
}

#[test]
fn different_files_get_different_entries() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let runtime = cached_runtime(dir.path());
    let noop = plugin("test_noop");
    assert_eq!(
        runtime.load(example()).expect("loads").cache,
        CacheOutcome::Miss
    );
    assert_eq!(
        runtime.load(&noop).expect("loads").cache,
        CacheOutcome::Miss
    );
    assert_eq!(entries(dir.path()).len(), 2);
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
    let loaded = cached_runtime(&file).load(example()).expect("loads anyway");
    assert_eq!(loaded.cache, CacheOutcome::Unavailable);
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
    let cached = cached_runtime(dir.path());
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
