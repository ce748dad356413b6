//! Compiling plugins nobody vetted — servers' uploads — in a worker process of their own.
//!
//! Cranelift cannot be interrupted, and a small file can be made to compile for a long time or
//! into a lot of memory. So an upload is compiled by `tessera plugin compile-worker`: a child
//! process that limits itself before it reads a byte (RLIMIT_CPU, RLIMIT_DATA, no core dumps,
//! no files written) and that the bot kills at the deadline. It starts with an empty
//! environment, so it never holds the bot's token or keys; it reads the component on stdin and
//! writes wasmtime's precompiled artifact on stdout, which the bot loads into its own engine.
//! Both engines compile with [`compiler_config`], so the artifact fits the bot's engine (a unit
//! test compares their compatibility hashes).
//!
//! The operator's own plugins (`tessera plugin install`, the first-party ones) are compiled in
//! the bot's process as before.

use std::io::{Read as _, Write as _};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use wasmtime::component::Component;
use wasmtime::{Config, Engine};

use super::policy::CompilePolicy;

/// The worker could not compile the file: the message is wasmtime's, on stderr.
const EXIT_INVALID: u8 = 10;
/// The worker ran out of memory in a way it could still report.
const EXIT_MEMORY: u8 = 11;
/// The worker could not set itself up (limits, stdin, engine).
const EXIT_SETUP: u8 = 12;
/// Bytes of the worker's stderr kept for the message.
const STDERR_KEPT: u64 = 4096;
/// How often the bot looks whether the worker has ended.
const POLL: Duration = Duration::from_millis(5);

/// The compilation settings every engine of Tessera uses: the bot's runtime adds its
/// allocator and stack limit (which do not change compiled code) on top.
pub(crate) fn compiler_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    config
}

/// Why a worker did not hand back a compiled plugin.
#[derive(Debug, thiserror::Error)]
pub enum CompileFailure {
    /// The compiler refused the file.
    #[error("cannot compile the component: {0}")]
    Invalid(String),
    /// Compiling it needed more memory than the policy allows.
    #[error("compiling it needs more than the {mib} MiB of memory this bot allows")]
    OutOfMemory {
        /// The limit, MiB.
        mib: usize,
    },
    /// Compiling it took longer (in CPU or wall-clock time) than the policy allows.
    #[error("compiling it takes longer than the {secs} seconds this bot allows")]
    TooSlow {
        /// The limit, seconds.
        secs: u64,
        /// Which limit stopped it.
        by: StoppedBy,
    },
    /// The worker could not be started or did not answer as a worker does.
    #[error("the compile worker failed: {0:#}")]
    Worker(anyhow::Error),
}

/// Which limit stopped a slow compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoppedBy {
    /// The kernel, at the CPU limit.
    Cpu,
    /// The bot, at the deadline.
    Deadline,
}

/// Compiles components in worker processes, one per file.
#[derive(Debug, Clone)]
pub struct CompileWorker {
    program: PathBuf,
    policy: CompilePolicy,
}

/// What a worker wrote: wasmtime's precompiled form of a component, from
/// `Engine::precompile_component` with [`compiler_config`]. Only [`CompileWorker::compile`]
/// makes one.
pub struct Precompiled(Vec<u8>);

impl Precompiled {
    /// The artifact's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl CompileWorker {
    /// Workers run as `program plugin compile-worker …` (a `tessera` binary) under `policy`.
    pub fn new(program: PathBuf, policy: CompilePolicy) -> CompileWorker {
        CompileWorker { program, policy }
    }

    /// The running binary as the worker (the bot's own `tessera`).
    pub fn this_binary(policy: CompilePolicy) -> anyhow::Result<CompileWorker> {
        let program = std::env::current_exe()
            .map_err(|e| anyhow::anyhow!("cannot find the running tessera binary: {e}"))?;
        Ok(CompileWorker::new(program, policy))
    }

    /// Compiles `wasm` in a new worker process: its precompiled form, or why not.
    pub fn compile(&self, wasm: &[u8]) -> Result<Precompiled, CompileFailure> {
        let secs = self.policy.cpu.as_secs().max(1);
        let mut child = Command::new(&self.program)
            .args(["plugin", "compile-worker", "--cpu-secs"])
            .arg(secs.to_string())
            .arg("--memory-bytes")
            .arg(self.policy.memory.to_string())
            .env_clear()
            .current_dir("/")
            // Its own process group, so that killing it kills anything it started as well.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                CompileFailure::Worker(anyhow::anyhow!(
                    "cannot start {}: {e}",
                    self.program.display()
                ))
            })?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CompileFailure::Worker(anyhow::anyhow!(
                "the worker's pipes were not opened"
            )));
        };
        // The artifact can be no larger than what the worker may allocate.
        let cap = self.policy.memory as u64;
        let deadline = Instant::now() + self.policy.wall;
        let (waited, artifact, message) = std::thread::scope(|scope| {
            scope.spawn(move || {
                // A worker that stops reading (it failed) closes the pipe: nothing to do.
                let _ = stdin.write_all(wasm);
            });
            let artifact = scope.spawn(move || {
                let mut out = Vec::new();
                stdout.take(cap + 1).read_to_end(&mut out).map(|_| out)
            });
            let message = scope.spawn(move || {
                let mut err = Vec::new();
                let _ = stderr.take(STDERR_KEPT).read_to_end(&mut err);
                String::from_utf8_lossy(&err).trim().to_owned()
            });
            let waited = wait_until(&mut child, deadline);
            let artifact = artifact.join();
            let message = message.join().unwrap_or_default();
            (waited, artifact, message)
        });
        let status = match waited {
            Ok(Some(status)) => status,
            Ok(None) => {
                return Err(CompileFailure::TooSlow {
                    secs,
                    by: StoppedBy::Deadline,
                })
            }
            Err(e) => {
                return Err(CompileFailure::Worker(
                    anyhow::Error::new(e).context("waiting for the compile worker"),
                ))
            }
        };
        let mib = self.policy.memory >> 20;
        if let Some(signal) = status.signal() {
            use rustix::process::Signal;
            // RLIMIT_CPU's soft limit sends SIGXCPU, its hard limit (a second later) SIGKILL.
            if signal == Signal::XCPU.as_raw() || signal == Signal::KILL.as_raw() {
                return Err(CompileFailure::TooSlow {
                    secs,
                    by: StoppedBy::Cpu,
                });
            }
            // Rust aborts when an allocation fails, after saying so.
            if signal == Signal::ABORT.as_raw() && message.contains("memory allocation of") {
                return Err(CompileFailure::OutOfMemory { mib });
            }
            return Err(CompileFailure::Invalid(format!(
                "the compiler stopped on it (signal {signal})"
            )));
        }
        match status.code() {
            Some(0) => match artifact {
                Ok(Ok(bytes)) if (bytes.len() as u64) <= cap && !bytes.is_empty() => {
                    Ok(Precompiled(bytes))
                }
                Ok(Ok(bytes)) => Err(CompileFailure::Worker(anyhow::anyhow!(
                    "it wrote {} bytes of compiled code",
                    bytes.len()
                ))),
                Ok(Err(e)) => Err(CompileFailure::Worker(
                    anyhow::Error::new(e).context("reading the compiled plugin"),
                )),
                Err(_) => Err(CompileFailure::Worker(anyhow::anyhow!(
                    "reading the compiled plugin failed"
                ))),
            },
            Some(code) if code == i32::from(EXIT_INVALID) => Err(CompileFailure::Invalid(message)),
            Some(code) if code == i32::from(EXIT_MEMORY) => {
                Err(CompileFailure::OutOfMemory { mib })
            }
            _ => Err(CompileFailure::Worker(anyhow::anyhow!(
                "it {status}: {message}"
            ))),
        }
    }
}

/// Waits for `child` until `deadline`; at the deadline kills it, and whatever else is in its
/// process group (so that nothing holds its pipes), and answers `None`. The group is killed
/// only while the worker is not yet reaped, so its id cannot belong to anyone else.
fn wait_until(
    child: &mut std::process::Child,
    deadline: Instant,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let group = rustix::process::Pid::from_raw(child.id() as i32);
    let kill_group = || {
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    };
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            kill_group();
            // It may have ended just now; either way it is gone after `wait`.
            let _ = child.kill();
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// The one other unsafe operation of the plugin runtime: loading what a worker compiled.
#[allow(unsafe_code)]
pub(crate) fn load(engine: &Engine, artifact: &Precompiled) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` runs the machine code in `artifact` as is, so the bytes
    // must come from `Engine::precompile_component` of this wasmtime. They do: a `Precompiled`
    // holds exactly what a worker process wrote on the pipe the bot opened to it, after it
    // exited with success, and the worker is this same `tessera` binary (the running one, or
    // the operator's `plugins.compile_worker`), which writes only the output of
    // `Engine::precompile_component` under `compiler_config`. wasmtime itself refuses an
    // artifact of another version or configuration. A file that could make the compiler emit
    // something else would exploit a Cranelift bug, which compiling in the bot's own process
    // (as before) would expose no less: the worker takes nothing from the bot.
    unsafe { Component::deserialize(engine, &artifact.0) }
}

/// `tessera plugin compile-worker`: limits this process, reads a component on stdin, writes
/// its precompiled form on stdout. Exit codes: 0 compiled, 10 not compilable (wasmtime's
/// message on stderr), 11 out of memory, 12 could not start.
pub fn worker_main(cpu_secs: u64, memory_bytes: u64) -> ExitCode {
    if let Err(e) = limit_this_process(cpu_secs, memory_bytes) {
        eprintln!("cannot limit the compile worker: {e}");
        return ExitCode::from(EXIT_SETUP);
    }
    let mut wasm = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut wasm) {
        if e.kind() == std::io::ErrorKind::OutOfMemory {
            return ExitCode::from(EXIT_MEMORY);
        }
        eprintln!("cannot read the component: {e}");
        return ExitCode::from(EXIT_SETUP);
    }
    let engine = match Engine::new(&compiler_config()) {
        Ok(engine) => engine,
        Err(e) if out_of_memory(&e) => return ExitCode::from(EXIT_MEMORY),
        Err(e) => {
            eprintln!("cannot create the compiler: {e:#}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    match engine.precompile_component(&wasm) {
        Ok(artifact) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(&artifact).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cannot write the compiled component: {e}");
                    ExitCode::from(EXIT_SETUP)
                }
            }
        }
        Err(e) if out_of_memory(&e) => ExitCode::from(EXIT_MEMORY),
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// Whether a compile error is a failed allocation (an `mmap` refused at RLIMIT_DATA).
fn out_of_memory(error: &wasmtime::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::OutOfMemory)
    })
}

/// The worker's own limits, set before it reads its input.
fn limit_this_process(cpu_secs: u64, memory_bytes: u64) -> std::io::Result<()> {
    use rustix::process::{setrlimit, Resource, Rlimit};
    let exactly = |limit: u64| Rlimit {
        current: Some(limit),
        maximum: Some(limit),
    };
    // SIGXCPU at the limit, SIGKILL a second later if it is ignored.
    setrlimit(
        Resource::Cpu,
        Rlimit {
            current: Some(cpu_secs),
            maximum: Some(cpu_secs.saturating_add(1)),
        },
    )?;
    // RLIMIT_DATA, not RLIMIT_AS: it counts the heap and writable private mappings, which is
    // what compiling allocates, and not the address space wasmtime reserves without using.
    setrlimit(Resource::Data, exactly(memory_bytes))?;
    setrlimit(Resource::Core, exactly(0))?;
    // It writes only to its pipes; it has no business creating files of any size.
    setrlimit(Resource::Fsize, exactly(0))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::hash::{Hash as _, Hasher as _};

    use super::*;
    use crate::plugins::policy::SandboxPolicy;
    use crate::plugins::runtime::Runtime;

    fn hash_of(engine: &Engine) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn the_workers_engine_compiles_for_the_bots_engine() {
        let worker = Engine::new(&compiler_config()).expect("an engine");
        let mut tight = SandboxPolicy::default();
        tight.memory.ceiling = 8 << 20;
        tight.pool.slots = 4;
        tight.pool.max_wasm_stack = 256 << 10;
        for policy in [SandboxPolicy::default(), tight] {
            let runtime = Runtime::new(policy).expect("a runtime");
            assert_eq!(
                hash_of(&worker),
                hash_of(runtime.engine()),
                "an artifact of the worker would not load in the bot's engine"
            );
        }
    }
}
