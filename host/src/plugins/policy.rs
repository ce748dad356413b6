//! The sandbox's policy: every limit and grant in one value.
//!
//! [`SandboxPolicy::default`] is DESIGN.md's table, and it is what production runs:
//! [`SandboxPolicy::from_settings`] is the only mapping from the operator's configuration, and
//! a test pins the two together. The runtime, the egress client and the output checks read
//! their limits from this value and from nowhere else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::config::Settings;

use super::egress::url::UrlRules;
use super::manifest::RequestedLimits;

/// Every limit of the sandbox. Defaults follow DESIGN.md; an operator may tighten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPolicy {
    /// Guest CPU per event.
    pub cpu: CpuPolicy,
    /// Wall-clock limit for a whole event, host calls included; a ticket never waits longer.
    pub event_timeout: Duration,
    /// Linear memory per instance.
    pub memory: MemoryPolicy,
    /// The pooling allocator's slots, shared by every plugin of the process.
    pub pool: PoolPolicy,
    /// What one store (one event of one plugin) may create.
    pub per_store: StorePolicy,
    /// What the WASI context grants.
    pub wasi: WasiGrants,
    /// Caps on what a plugin hands back: placeholders, messages and logs.
    pub output: OutputCaps,
    /// The rules of the only way out: host-mediated HTTPS.
    pub egress: EgressPolicy,
    /// What compiling one uploaded plugin may use (in its own worker process).
    pub compile: CompilePolicy,
}

/// What compiling one plugin nobody vetted (a server's upload) may use. Such a file is
/// compiled in a worker process of its own ([`super::compiler`]) that the kernel stops at
/// these limits and the bot kills at the deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompilePolicy {
    /// CPU time of the worker, every compiler thread together.
    pub cpu: Duration,
    /// Wall-clock time from starting the worker to reading its result.
    pub wall: Duration,
    /// The worker's data (heap) limit, bytes: what the compiler may allocate.
    pub memory: usize,
}

/// Guest CPU, counted in epoch ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuPolicy {
    /// What a plugin gets unless its manifest asks for more.
    pub default: Duration,
    /// The most any manifest can get.
    pub ceiling: Duration,
    /// How often the epoch ticks: the budget's unit, and how late a runaway guest is stopped.
    pub tick: Duration,
}

/// Linear memory, bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPolicy {
    /// What a plugin gets unless its manifest asks for more.
    pub default: usize,
    /// The most any manifest can get; also the size of each pooled memory slot.
    pub ceiling: usize,
}

/// The pooling allocator's configuration: how many events may run at once, what one plugin
/// instance may hold, and how much of a freed slot stays resident for the next event.
///
/// The pool holds exactly `slots` instances of the largest plugin the per-component limits
/// admit, and an event runs only once it holds a slot (waiting for one, within its deadline),
/// so instantiation never fails because the pool ran out: a plugin holding slots can only
/// make later events wait, and only its own server's past [`PoolPolicy::per_server`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPolicy {
    /// Events running at once, every server together (one component instance each).
    pub slots: u32,
    /// Events running at once for one server: no server can hold every slot.
    pub per_server: u32,
    /// Core (module) instances one plugin may create. A Rust plugin needs about five.
    pub core_instances_per_component: u32,
    /// Linear memories one plugin may create.
    pub memories_per_component: u32,
    /// Tables one plugin may create.
    pub tables_per_component: u32,
    /// Elements per pooled table slot.
    pub table_elements: usize,
    /// Dirty bytes of a freed memory slot copied back instead of released (see the runtime).
    pub linear_memory_keep_resident: usize,
    /// Dirty bytes of a freed table slot copied back instead of released.
    pub table_keep_resident: usize,
    /// The guest's native stack, bytes: deep recursion traps instead of crashing the host.
    pub max_wasm_stack: usize,
}

/// What one store (one event) may use of the host: the store's own limits, checked as the
/// guest asks, before any work is done for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorePolicy {
    /// Elements per table.
    pub table_elements: usize,
    /// Bytes a single call into the host may copy out of the guest (strings, lists): what
    /// wasmtime calls hostcall fuel. Above the largest request body and log line.
    pub hostcall_fuel: usize,
    /// Entries in the host's resource table (WASI streams, pollables, ...).
    pub resource_entries: usize,
    /// Live component-model handles.
    pub component_handles: usize,
}

/// What the WASI 0.2 context grants. Every toolchain imports WASI, so it is linked; by default it
/// grants nothing. There is no field for preopened directories: the sandbox never grants one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasiGrants {
    /// Environment variables the guest sees.
    pub env: Vec<(String, String)>,
    /// Command-line arguments the guest sees.
    pub args: Vec<String>,
    /// Whether TCP sockets may be opened.
    pub tcp: bool,
    /// Whether UDP sockets may be opened.
    pub udp: bool,
    /// Whether names may be looked up (the host's `fetch` resolves for itself).
    pub ip_name_lookup: bool,
    /// Bytes of stdout, and of stderr, kept for the plugin's log; the rest is dropped.
    pub stdio_bytes: usize,
}

/// Caps on a plugin's output: what reaches the ticket, the admin and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputCaps {
    /// Placeholders per event.
    pub max_placeholders: usize,
    /// Characters per placeholder name.
    pub max_name_chars: usize,
    /// Characters per placeholder value.
    pub max_value_chars: usize,
    /// Characters kept of a plugin's own error or settings message.
    pub max_message_chars: usize,
    /// Log bytes kept per event from the `log` interface.
    pub max_log_bytes: usize,
    /// Characters kept per log line.
    pub max_log_line_chars: usize,
    /// Lines kept of stdout and of stderr each.
    pub max_stdio_lines: usize,
}

/// What one plugin was granted (shown to admins at enable time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    /// Linear memory, bytes.
    pub memory: usize,
    /// Guest CPU per event.
    pub cpu: Duration,
}

impl Default for SandboxPolicy {
    fn default() -> Self {
        SandboxPolicy {
            cpu: CpuPolicy {
                default: Duration::from_millis(500),
                ceiling: Duration::from_millis(500),
                tick: Duration::from_millis(10),
            },
            event_timeout: Duration::from_secs(3),
            memory: MemoryPolicy {
                default: 16 << 20,
                ceiling: 64 << 20,
            },
            pool: PoolPolicy {
                slots: 64,
                per_server: 8,
                core_instances_per_component: 16,
                memories_per_component: 1,
                tables_per_component: 4,
                table_elements: 20_000,
                linear_memory_keep_resident: 256 << 10,
                table_keep_resident: 64 << 10,
                max_wasm_stack: 512 << 10,
            },
            per_store: StorePolicy {
                table_elements: 20_000,
                hostcall_fuel: 256 << 10,
                resource_entries: 1024,
                component_handles: 1024,
            },
            wasi: WasiGrants {
                env: Vec::new(),
                args: Vec::new(),
                tcp: false,
                udp: false,
                ip_name_lookup: false,
                stdio_bytes: 16 << 10,
            },
            output: OutputCaps {
                max_placeholders: 25,
                max_name_chars: 32,
                max_value_chars: 1024,
                max_message_chars: 500,
                max_log_bytes: 16 << 10,
                max_log_line_chars: 512,
                max_stdio_lines: 100,
            },
            egress: EgressPolicy::default(),
            compile: CompilePolicy {
                cpu: Duration::from_secs(60),
                wall: Duration::from_secs(60),
                memory: 1 << 30,
            },
        }
    }
}

impl SandboxPolicy {
    /// The policy the operator's settings ask for: the only mapping from configuration. A
    /// loosened limit is logged as a warning, never applied silently.
    pub fn from_settings(settings: &Settings) -> SandboxPolicy {
        let defaults = SandboxPolicy::default();
        let p = &settings.plugins;
        let memory_ceiling = (p.max_memory_mib as usize) << 20;
        let cpu_ceiling = Duration::from_millis(u64::from(p.max_cpu_ms));
        let tests = p.allow_loopback_for_tests;
        let compile_time = Duration::from_secs(u64::from(p.compile_secs));
        let policy = SandboxPolicy {
            compile: CompilePolicy {
                cpu: compile_time,
                wall: compile_time,
                memory: (p.compile_memory_mib as usize) << 20,
            },
            cpu: CpuPolicy {
                default: defaults.cpu.default.min(cpu_ceiling),
                ceiling: cpu_ceiling,
                ..defaults.cpu.clone()
            },
            event_timeout: Duration::from_millis(u64::from(p.event_timeout_ms)),
            memory: MemoryPolicy {
                default: defaults.memory.default.min(memory_ceiling),
                ceiling: memory_ceiling,
            },
            pool: PoolPolicy {
                slots: p.max_concurrent_events,
                per_server: p.max_concurrent_events_per_server,
                ..defaults.pool.clone()
            },
            egress: EgressPolicy {
                allow_loopback_for_tests: tests,
                // The test-only maps are dropped unless the test-only switch is on, whatever
                // the settings' own validation said.
                static_hosts: if tests {
                    p.test_resolve.clone()
                } else {
                    Default::default()
                },
                test_origins: if tests {
                    p.test_origins.clone()
                } else {
                    Default::default()
                },
                ..defaults.egress.clone()
            },
            ..defaults.clone()
        };
        for (setting, loosened) in [
            (
                "plugins.max_memory_mib",
                policy.memory.ceiling > defaults.memory.ceiling,
            ),
            (
                "plugins.max_cpu_ms",
                policy.cpu.ceiling > defaults.cpu.ceiling,
            ),
            (
                "plugins.event_timeout_ms",
                policy.event_timeout > defaults.event_timeout,
            ),
            (
                "plugins.max_concurrent_events",
                policy.pool.slots > defaults.pool.slots,
            ),
            (
                "plugins.max_concurrent_events_per_server",
                policy.pool.per_server > defaults.pool.per_server,
            ),
            (
                "plugins.compile_secs",
                policy.compile.cpu > defaults.compile.cpu,
            ),
            (
                "plugins.compile_memory_mib",
                policy.compile.memory > defaults.compile.memory,
            ),
        ] {
            if loosened {
                tracing::warn!(
                    setting,
                    "the plugin sandbox is LOOSENED beyond Tessera's defaults by this setting"
                );
            }
        }
        if p.allow_loopback_for_tests {
            tracing::warn!("plugins.allow_loopback_for_tests is on: plugins may reach loopback over plain http. Never use this outside tests.");
        }
        policy
    }

    /// What a plugin gets: what its manifest asks for (or the default), up to the ceilings.
    pub fn grant(&self, asked: &RequestedLimits) -> Granted {
        Granted {
            memory: asked
                .memory_mib
                .map_or(self.memory.default, |m| (m as usize) << 20)
                .min(self.memory.ceiling),
            cpu: asked
                .cpu_ms
                .map_or(self.cpu.default, |ms| Duration::from_millis(u64::from(ms)))
                .min(self.cpu.ceiling),
        }
    }

    /// A CPU grant in epoch ticks (at least one).
    pub fn cpu_ticks(&self, cpu: Duration) -> u64 {
        let tick = self.cpu.tick.as_nanos().max(1);
        u64::try_from(cpu.as_nanos() / tick)
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// The egress part of the policy: limits, the URL rules and the test-only switches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Requests allowed per event.
    pub max_requests: u32,
    /// Time to connect.
    pub connect_timeout: Duration,
    /// Time for the whole exchange.
    pub total_timeout: Duration,
    /// Largest response body, bytes.
    pub max_response_bytes: usize,
    /// Largest request body a plugin may send, bytes.
    pub max_request_bytes: usize,
    /// Most headers a plugin may set on one request.
    pub max_request_headers: usize,
    /// Longest header value a plugin may set, bytes.
    pub max_header_value_bytes: usize,
    /// What a request's URL must be (https on port 443).
    pub url: UrlRules,
    /// TEST ONLY: allow plain http and loopback addresses (never private, link-local or
    /// metadata ones). Off by default; nothing in production turns it on.
    pub allow_loopback_for_tests: bool,
    /// TEST ONLY: fixed name resolutions (like curl's `--resolve`), consulted before DNS.
    pub static_hosts: HashMap<String, IpAddr>,
    /// TEST ONLY: `https://HOST/...` requests that pass every rule are sent to this loopback
    /// origin (`http://127.0.0.1:PORT`) instead, so tests can stand in for a real service.
    pub test_origins: HashMap<String, String>,
    /// TEST ONLY: extra trusted root certificates (DER), so an https loopback server with a
    /// self-signed certificate can stand in for a real service. Read only when
    /// [`EgressPolicy::allow_loopback_for_tests`] is on; no setting fills it.
    pub test_root_certs: Vec<Vec<u8>>,
}

impl EgressPolicy {
    /// The URL rules in force: [`EgressPolicy::url`], relaxed to plain http and any port when
    /// the test-only switch is on.
    pub fn url_rules(&self) -> UrlRules {
        if self.allow_loopback_for_tests {
            UrlRules::LOOPBACK_TESTS
        } else {
            self.url
        }
    }
}

impl Default for EgressPolicy {
    fn default() -> Self {
        EgressPolicy {
            max_requests: 3,
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(3),
            max_response_bytes: 256 << 10,
            max_request_bytes: 64 << 10,
            max_request_headers: 32,
            max_header_value_bytes: 4 << 10,
            url: UrlRules::PUBLIC,
            allow_loopback_for_tests: false,
            static_hosts: HashMap::new(),
            test_origins: HashMap::new(),
            test_root_certs: Vec::new(),
        }
    }
}

#[cfg(test)]
// figment's `Jail` closures must return its large error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    /// The settings a fresh install runs with: no file, no `TESSERA_*` variables.
    fn production_settings() -> Settings {
        let mut settings = None;
        Jail::expect_with(|jail| {
            // Whatever the machine running the tests exports, a fresh install has none of it.
            jail.clear_env();
            settings = Some(Settings::load(None).expect("the defaults are valid"));
            Ok(())
        });
        settings.expect("the jail ran")
    }

    #[test]
    fn the_library_default_is_the_production_default() {
        assert_eq!(
            SandboxPolicy::from_settings(&production_settings()),
            SandboxPolicy::default(),
            "tests (SandboxPolicy::default) and production (config.rs defaults) must run the same sandbox"
        );
    }

    #[test]
    fn the_default_is_designs_table() {
        let p = SandboxPolicy::default();
        assert_eq!(p.cpu.default, Duration::from_millis(500));
        assert_eq!(p.cpu.ceiling, Duration::from_millis(500));
        assert_eq!(p.event_timeout, Duration::from_secs(3));
        assert_eq!((p.memory.default, p.memory.ceiling), (16 << 20, 64 << 20));
        assert_eq!(
            (
                p.output.max_placeholders,
                p.output.max_name_chars,
                p.output.max_value_chars
            ),
            (25, 32, 1024)
        );
        assert_eq!(p.egress.max_requests, 3);
        assert_eq!(p.egress.connect_timeout, Duration::from_secs(2));
        assert_eq!(p.egress.total_timeout, Duration::from_secs(3));
        assert_eq!(p.egress.max_response_bytes, 256 << 10);
        assert_eq!(p.egress.max_request_bytes, 64 << 10);
        assert_eq!(p.egress.max_request_headers, 32);
        // Everything one request may carry fits in what one host call may copy out.
        assert!(
            p.egress.max_request_bytes
                + p.egress.max_request_headers * p.egress.max_header_value_bytes
                < p.per_store.hostcall_fuel
        );
        assert_eq!((p.pool.slots, p.pool.per_server), (64, 8));
        assert_eq!(p.pool.memories_per_component, 1);
        assert_eq!(p.egress.url, UrlRules::PUBLIC);
        assert_eq!(p.egress.url.port, Some(443));
        assert!(!p.egress.url.plain_http);
        assert!(!p.egress.allow_loopback_for_tests);
        assert!(p.egress.static_hosts.is_empty() && p.egress.test_origins.is_empty());
        assert!(p.egress.test_root_certs.is_empty());
    }

    #[test]
    fn wasi_grants_nothing_by_default() {
        let wasi = SandboxPolicy::default().wasi;
        assert!(wasi.env.is_empty() && wasi.args.is_empty());
        assert!(!wasi.tcp && !wasi.udp && !wasi.ip_name_lookup);
    }

    #[test]
    fn settings_tighten_the_ceilings_and_the_defaults_follow() {
        let mut settings = production_settings();
        settings.plugins.max_memory_mib = 8;
        settings.plugins.max_cpu_ms = 100;
        settings.plugins.event_timeout_ms = 1000;
        let p = SandboxPolicy::from_settings(&settings);
        assert_eq!((p.memory.default, p.memory.ceiling), (8 << 20, 8 << 20));
        assert_eq!(p.cpu.default, Duration::from_millis(100));
        assert_eq!(p.event_timeout, Duration::from_secs(1));
        let asked = RequestedLimits {
            memory_mib: Some(32),
            cpu_ms: Some(2000),
        };
        assert_eq!(
            p.grant(&asked),
            Granted {
                memory: 8 << 20,
                cpu: Duration::from_millis(100)
            }
        );
    }

    #[test]
    fn test_maps_are_dropped_without_the_test_switch() {
        let mut settings = production_settings();
        settings
            .plugins
            .test_origins
            .insert("api.example.com".into(), "http://127.0.0.1:9".into());
        let p = SandboxPolicy::from_settings(&settings);
        assert!(p.egress.test_origins.is_empty());
        settings.plugins.allow_loopback_for_tests = true;
        let p = SandboxPolicy::from_settings(&settings);
        assert_eq!(p.egress.test_origins.len(), 1);
    }

    #[test]
    fn cpu_budgets_are_counted_in_ticks() {
        let p = SandboxPolicy::default();
        assert_eq!(p.cpu_ticks(Duration::from_millis(500)), 50);
        assert_eq!(p.cpu_ticks(Duration::from_millis(1)), 1);
    }
}
