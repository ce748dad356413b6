//! Servers' uploads compile in a worker process (`tessera plugin compile-worker`) that the
//! kernel stops at the sandbox's CPU and memory limits and the bot kills at its deadline; the
//! bot loads only what a worker that ended well wrote.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tessera::plugins::compiler::{CompileFailure, CompileWorker, StoppedBy};
use tessera::plugins::policy::{CompilePolicy, SandboxPolicy};
use tessera::plugins::runtime::{LoadError, Runtime};

use crate::plugin_files::plugin;

fn tessera() -> PathBuf {
    env!("CARGO_BIN_EXE_tessera").into()
}

fn limits(cpu: Duration, wall: Duration, memory: usize) -> CompilePolicy {
    CompilePolicy { cpu, wall, memory }
}

/// A stand-in worker: a shell script.
fn script(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("worker.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write the script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    path
}

fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb128(body.len(), out);
    out.extend_from_slice(body);
}

/// A valid component that is small but slow to compile: one core module of `functions`
/// functions, each keeping `depth` values live at once (a lot of register allocation).
fn slow_to_compile(functions: usize, depth: usize) -> Vec<u8> {
    let mut body = Vec::new();
    body.push(0); // no locals
    for n in 0..depth {
        body.extend_from_slice(&[0x20, 0x00, 0x41]); // local.get 0; i32.const n
        leb128(n % 64, &mut body);
        body.push(0x6c); // i32.mul
    }
    body.extend(std::iter::repeat_n(0x6a, depth - 1)); // i32.add
    body.push(0x0b);
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 1, 0x7f, 1, 0x7f], &mut module);
    let mut funcs = Vec::new();
    leb128(functions, &mut funcs);
    funcs.extend(std::iter::repeat_n(0u8, functions));
    section(3, &funcs, &mut module);
    let mut code = Vec::new();
    leb128(functions, &mut code);
    for _ in 0..functions {
        leb128(body.len(), &mut code);
        code.extend_from_slice(&body);
    }
    section(10, &code, &mut module);
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    section(1, &module, &mut component);
    component
}

#[tokio::test]
async fn an_upload_compiled_by_the_worker_loads_and_runs() {
    let runtime = Runtime::new(SandboxPolicy::default())
        .expect("a runtime")
        .with_compile_worker(CompileWorker::new(
            tessera(),
            SandboxPolicy::default().compile,
        ));
    let loaded = runtime
        .check_upload(&plugin("example"))
        .expect("the worker's artifact loads in the bot's engine");
    let outcome = runtime
        .on_ticket_opened(
            &loaded,
            123_456_789_012_345_678,
            HashMap::new(),
            HashMap::new(),
        )
        .await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
}

#[test]
fn a_file_the_compiler_refuses_is_refused_with_its_reason() {
    let worker = CompileWorker::new(tessera(), SandboxPolicy::default().compile);
    // A component holding a core module whose one function returns nothing, though its type
    // says i32.
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 1, 0x7f], &mut module);
    section(3, &[1, 0], &mut module);
    section(10, &[1, 2, 0, 0x0b], &mut module);
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    section(1, &module, &mut component);
    match worker.compile(&component) {
        Err(CompileFailure::Invalid(message)) => {
            assert!(message.contains("type mismatch"), "{message}")
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("an invalid component compiled"),
    }
}

#[test]
fn a_compile_that_uses_too_much_cpu_is_stopped_by_the_kernel() {
    // Plenty of wall-clock time: only the CPU limit can stop it.
    let worker = CompileWorker::new(
        tessera(),
        limits(Duration::from_secs(1), Duration::from_secs(300), 1 << 30),
    );
    let started = std::time::Instant::now();
    match worker.compile(&slow_to_compile(2000, 1000)) {
        Err(CompileFailure::TooSlow { secs: 1, by }) => assert_eq!(by, StoppedBy::Cpu),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!(
            "it compiled within one CPU second ({:?}): make the test file slower",
            started.elapsed()
        ),
    }
}

#[test]
fn a_compile_that_needs_too_much_memory_is_stopped() {
    let worker = CompileWorker::new(
        tessera(),
        limits(Duration::from_secs(60), Duration::from_secs(60), 48 << 20),
    );
    match worker.compile(&slow_to_compile(2000, 1000)) {
        Err(CompileFailure::OutOfMemory { mib: 48 }) => {}
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("it compiled within 48 MiB"),
    }
}

#[test]
fn a_worker_that_does_not_finish_is_killed_at_the_deadline() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let marker = dir.path().join("still-running");
    // Sleeps, then leaves a mark: the mark appears only if it was not killed.
    let hanging = script(dir.path(), &format!("sleep 3; touch {}", marker.display()));
    let worker = CompileWorker::new(
        hanging,
        limits(Duration::from_secs(60), Duration::from_millis(300), 1 << 30),
    );
    let started = std::time::Instant::now();
    match worker.compile(&plugin("example")) {
        Err(CompileFailure::TooSlow { by, .. }) => assert_eq!(by, StoppedBy::Deadline),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a worker that wrote nothing was used"),
    }
    assert!(started.elapsed() < Duration::from_secs(3), "waited for it");
    std::thread::sleep(Duration::from_secs(4));
    assert!(!marker.exists(), "the worker went on after its deadline");
}

#[test]
fn the_worker_starts_with_an_empty_environment() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // Cargo sets CARGO_* variables for every test process; the bot's own process would hold
    // TESSERA_DISCORD_TOKEN the same way.
    assert!(std::env::vars().any(|(k, _)| k.starts_with("CARGO")));
    let printing = script(dir.path(), "env >&2; exit 10");
    let worker = CompileWorker::new(printing, SandboxPolicy::default().compile);
    match worker.compile(&plugin("example")) {
        Err(CompileFailure::Invalid(env)) => {
            assert!(!env.contains("CARGO") && !env.contains("HOME="), "{env}")
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a worker that wrote nothing was used"),
    }
}

#[test]
fn what_a_worker_writes_is_loaded_only_if_it_is_compiled_code() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let lying = script(
        dir.path(),
        "cat >/dev/null; printf 'not compiled code'; exit 0",
    );
    let runtime = Runtime::new(SandboxPolicy::default())
        .expect("a runtime")
        .with_compile_worker(CompileWorker::new(lying, SandboxPolicy::default().compile));
    match runtime.check_upload(&plugin("example")) {
        Err(LoadError::Compile(_)) => {}
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("garbage was loaded as compiled code"),
    }
    // The operator's own plugins never go to the worker.
    runtime
        .load(&plugin("example"))
        .expect("an operator's plugin compiles in the bot's process");
}
