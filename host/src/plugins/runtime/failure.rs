//! Why a plugin call produced nothing: the failure kinds callers branch on, and the error that
//! carries the plugin's id and version with them.

use std::time::Duration;

use wasmtime::{Trap, WasmBacktrace};
use wasmtime_wasi::I32Exit;

use super::bindings::exports::tessera::plugin::handler::{
    Placeholder as WitPlaceholder, PluginError,
};
use crate::plugins::manifest::Manifest;
use crate::plugins::policy::OutputCaps;

/// Which plugin, which version: every guest failure names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    /// The manifest's id.
    pub id: String,
    /// The manifest's version.
    pub version: String,
}

impl PluginRef {
    /// The plugin a manifest describes.
    pub fn of(manifest: &Manifest) -> PluginRef {
        PluginRef {
            id: manifest.id.clone(),
            version: manifest.version.clone(),
        }
    }
}

impl std::fmt::Display for PluginRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.id, self.version)
    }
}

/// A guest failure, with the plugin and version that failed (Zed's `extension_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin {plugin}: {failure}")]
pub struct GuestError {
    /// The plugin that failed.
    pub plugin: PluginRef,
    /// How it failed.
    #[source]
    pub failure: PluginFailure,
}

impl From<GuestError> for PluginFailure {
    fn from(err: GuestError) -> PluginFailure {
        err.failure
    }
}

/// Why a plugin produced no placeholders.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginFailure {
    /// The plugin returned an error of its own.
    #[error("{kind}: {message}")]
    Plugin {
        /// `not-found`, `upstream`, `denied`, `rate-limited`, `bad-config`, `internal`.
        kind: &'static str,
        /// The plugin's message.
        message: String,
    },
    /// It used more guest CPU than granted.
    #[error("cpu limit: used more than {0:?} of CPU")]
    CpuLimit(Duration),
    /// The whole event took longer than the wall-clock limit.
    #[error("timeout: the event took longer than {0:?}")]
    Timeout(Duration),
    /// It tried to use more memory than granted.
    #[error("memory limit: tried to grow past {0} bytes")]
    MemoryLimit(usize),
    /// It trapped (a panic, a stack overflow, an invalid operation), or a host function it
    /// called stopped it (a full resource table, too much data copied); says which.
    #[error("trap: {0}")]
    Trap(String),
    /// It called WASI's `exit` instead of returning an answer (WASI 0.2 passes only success,
    /// 0, or failure, 1).
    #[error("exit: the plugin called `exit` with status {0} instead of returning placeholders")]
    Exit(i32),
    /// Its output broke the limits (too many, too long, bad names).
    #[error("output limits: {0}")]
    Output(String),
    /// Tessera did not run it this time, for a reason of its own: the plugin received nothing.
    #[error("not run: {0}")]
    NotRun(NotRun),
}

/// Why Tessera did not run a plugin for one event. Never the plugin's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotRun {
    /// Its service rate limited it recently; Tessera waits before calling again.
    #[error("backing off after the service rate limited it")]
    BackingOff,
    /// No sandbox slot was free before the event's deadline.
    #[error("no sandbox slot was free in time")]
    Busy,
    /// Its stored secrets no longer open (the operator's key changed).
    #[error("its secrets do not open with the configured key")]
    SecretsLocked,
}

impl PluginFailure {
    /// A short machine-readable kind.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginFailure::Plugin { kind, .. } => kind,
            PluginFailure::CpuLimit(_) => "cpu-limit",
            PluginFailure::Timeout(_) => "timeout",
            PluginFailure::MemoryLimit(_) => "memory-limit",
            PluginFailure::Trap(_) => "trap",
            PluginFailure::Exit(_) => "exit",
            PluginFailure::Output(_) => "output-limits",
            PluginFailure::NotRun(_) => "not-run",
        }
    }
}

/// What the store saw when a call trapped: the typed facts the classification rests on.
pub(super) struct TrapFacts {
    /// The CPU budget ran out (the epoch callback interrupted the guest).
    pub cpu_exhausted: bool,
    /// The memory limiter refused a growth (or an initial size).
    pub memory_refused: bool,
}

/// Classifies a trapped call by what the store recorded and by wasmtime's typed [`Trap`], never
/// by the error's text.
pub(super) fn classify_trap(
    err: &wasmtime::Error,
    facts: TrapFacts,
    granted: crate::plugins::policy::Granted,
) -> PluginFailure {
    if facts.cpu_exhausted {
        return PluginFailure::CpuLimit(granted.cpu);
    }
    if facts.memory_refused {
        return PluginFailure::MemoryLimit(granted.memory);
    }
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return PluginFailure::Exit(exit.0);
    }
    match err.downcast_ref::<Trap>() {
        Some(trap) => PluginFailure::Trap(trap.to_string()),
        // Not a wasm trap: a host function refused to go on (a full resource table, the
        // host-copy limit, an oversized WASI request, or a bug of ours).
        None => PluginFailure::Trap(host_stop_cause(err)),
    }
}

/// What a host function's error says, without the wasm backtrace wasmtime wraps around it:
/// every layer of the error below that context, joined like `{:#}`.
fn host_stop_cause(err: &wasmtime::Error) -> String {
    // wasmtime attaches the backtrace as the outermost context of a host error.
    let backtrace = usize::from(err.downcast_ref::<WasmBacktrace>().is_some());
    let cause: Vec<String> = err
        .chain()
        .skip(backtrace)
        .map(|layer| layer.to_string())
        .collect();
    if cause.is_empty() {
        // Only a backtrace (cannot happen: a context always wraps an error); say so plainly.
        "a host function stopped the plugin".to_owned()
    } else {
        cause.join(": ")
    }
}

/// The plugin's own error, its message capped.
pub(super) fn plugin_error(err: PluginError, caps: &OutputCaps) -> PluginFailure {
    let (kind, message) = match err {
        PluginError::NotFound(m) => ("not-found", m),
        PluginError::Upstream(m) => ("upstream", m),
        PluginError::Denied(m) => ("denied", m),
        PluginError::RateLimited(m) => ("rate-limited", m),
        PluginError::BadConfig(m) => ("bad-config", m),
        PluginError::Internal(m) => ("internal", m),
    };
    PluginFailure::Plugin {
        kind,
        message: message.chars().take(caps.max_message_chars).collect(),
    }
}

/// The placeholders, if they keep to the output caps.
pub(super) fn check_output(
    placeholders: Vec<WitPlaceholder>,
    l: &OutputCaps,
) -> Result<Vec<(String, String)>, PluginFailure> {
    if placeholders.len() > l.max_placeholders {
        return Err(PluginFailure::Output(format!(
            "{} placeholders (at most {})",
            placeholders.len(),
            l.max_placeholders
        )));
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(placeholders.len());
    for p in placeholders {
        let valid_name = !p.name.is_empty()
            && p.name.chars().count() <= l.max_name_chars
            && p.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(PluginFailure::Output(format!(
                "placeholder name {:?} must be 1-{} letters, digits, `_` or `-`",
                p.name
                    .chars()
                    .take(l.max_name_chars + 8)
                    .collect::<String>(),
                l.max_name_chars
            )));
        }
        if p.value.chars().count() > l.max_value_chars {
            return Err(PluginFailure::Output(format!(
                "placeholder {} is longer than {} characters",
                p.name, l.max_value_chars
            )));
        }
        // The WIT's rule: one plugin's names are unique (a welcome message could not tell
        // two `%id.name%` apart). At most 25 names, so a scan is enough.
        if out.iter().any(|(name, _)| *name == p.name) {
            return Err(PluginFailure::Output(format!(
                "placeholder {} is returned more than once (each name must be unique)",
                p.name
            )));
        }
        out.push((p.name, p.value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_error_names_the_plugin_and_its_version() {
        let err = GuestError {
            plugin: PluginRef {
                id: "bloxlink".into(),
                version: "1.2.3".into(),
            },
            failure: PluginFailure::Trap("unreachable".into()),
        };
        assert_eq!(err.to_string(), "plugin bloxlink@1.2.3: trap: unreachable");
        assert_eq!(PluginFailure::from(err).kind(), "trap");
    }

    #[test]
    fn a_typed_trap_is_classified_without_reading_its_text() {
        let granted = crate::plugins::policy::Granted {
            memory: 1 << 20,
            cpu: Duration::from_millis(5),
        };
        let none = || TrapFacts {
            cpu_exhausted: false,
            memory_refused: false,
        };
        let unreachable = wasmtime::Error::new(Trap::UnreachableCodeReached);
        assert_eq!(
            classify_trap(&unreachable, none(), granted),
            PluginFailure::Trap(Trap::UnreachableCodeReached.to_string())
        );
        let interrupted = wasmtime::Error::new(Trap::Interrupt);
        let facts = TrapFacts {
            cpu_exhausted: true,
            ..none()
        };
        assert_eq!(
            classify_trap(&interrupted, facts, granted),
            PluginFailure::CpuLimit(granted.cpu)
        );
        // Whatever the text says, only the limiter's record makes it a memory failure.
        let text = wasmtime::Error::msg("forcing trap when growing memory to 1 bytes");
        assert!(matches!(
            classify_trap(&text, none(), granted),
            PluginFailure::Trap(_)
        ));
        let facts = TrapFacts {
            memory_refused: true,
            ..none()
        };
        assert_eq!(
            classify_trap(&text, facts, granted),
            PluginFailure::MemoryLimit(granted.memory)
        );
    }
    fn granted() -> crate::plugins::policy::Granted {
        crate::plugins::policy::Granted {
            memory: 1 << 20,
            cpu: Duration::from_millis(5),
        }
    }

    fn no_facts() -> TrapFacts {
        TrapFacts {
            cpu_exhausted: false,
            memory_refused: false,
        }
    }

    /// `err` as wasmtime hands back a host function's error: under a wasm backtrace.
    fn from_a_host_function(err: wasmtime::Error) -> wasmtime::Error {
        let store = wasmtime::Store::new(&wasmtime::Engine::default(), ());
        err.context(WasmBacktrace::force_capture(&store))
    }

    #[test]
    fn a_plugin_calling_exit_is_reported_as_an_exit_not_a_trap() {
        for status in [0, 1] {
            let err = from_a_host_function(wasmtime::Error::new(I32Exit(status)));
            let failure = classify_trap(&err, no_facts(), granted());
            assert_eq!(failure, PluginFailure::Exit(status));
            assert_eq!(failure.kind(), "exit");
            assert!(failure.to_string().contains("called `exit`"), "{failure}");
        }
    }

    #[test]
    fn a_host_stop_names_its_cause_without_the_backtrace() {
        let full = from_a_host_function(wasmtime::Error::msg("resource table has no free keys"));
        assert_eq!(
            classify_trap(&full, no_facts(), granted()),
            PluginFailure::Trap("resource table has no free keys".into())
        );
        let layered = from_a_host_function(
            wasmtime::Error::msg("requested len 1073741824 exceeds limit 67108864")
                .context("wasi:random/random.get-random-bytes"),
        );
        let PluginFailure::Trap(message) = classify_trap(&layered, no_facts(), granted()) else {
            panic!("a host stop is a trap");
        };
        assert_eq!(
            message,
            "wasi:random/random.get-random-bytes: requested len 1073741824 exceeds limit 67108864"
        );
        // An error without a backtrace loses nothing.
        let bare = wasmtime::Error::msg("too much data is being copied");
        assert_eq!(
            classify_trap(&bare, no_facts(), granted()),
            PluginFailure::Trap("too much data is being copied".into())
        );
    }

    fn placeholder(name: &str, value: &str) -> WitPlaceholder {
        WitPlaceholder {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn duplicate_placeholder_names_are_refused_and_named() {
        let caps = crate::plugins::policy::SandboxPolicy::default().output;
        let unique = vec![placeholder("a", "1"), placeholder("b", "2")];
        assert_eq!(
            check_output(unique, &caps),
            Ok(vec![("a".into(), "1".into()), ("b".into(), "2".into())])
        );
        let twice = vec![
            placeholder("roblox_id", "1"),
            placeholder("other", "2"),
            placeholder("roblox_id", "3"),
        ];
        match check_output(twice, &caps) {
            Err(PluginFailure::Output(message)) => {
                assert!(message.contains("roblox_id"), "{message}");
                assert!(message.contains("more than once"), "{message}");
            }
            other => panic!("a duplicate must be refused: {other:?}"),
        }
    }
}
