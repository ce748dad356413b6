//! Running plugins: one shared engine, one pre-instantiated component per plugin version, a
//! fresh store per event, and every limit of the sandbox.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder, UpdateDeadline,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::compile_cache::{CacheOutcome, CompileCache};
use super::component::{inspect, InspectError, Inspection};
use super::egress::{BoundSecret, Egress, EgressPolicy, FetchFailure, OutgoingRequest};
use super::manifest::{named_secrets, AllowedHost, Manifest};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "tessera:plugin/plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

use self::tessera::plugin::{
    config as wit_config, http as wit_http, log as wit_log, types as wit_types,
};
use exports::tessera::plugin::handler::{Placeholder as WitPlaceholder, PluginError};

/// How often the epoch ticks; CPU budgets are counted in these ticks.
const TICK: Duration = Duration::from_millis(10);

/// The sandbox's limits. Defaults follow DESIGN.md; an operator may tighten them.
#[derive(Debug, Clone)]
pub struct SandboxLimits {
    /// Linear memory a plugin gets unless its manifest asks for more.
    pub default_memory: usize,
    /// The most any manifest can get.
    pub max_memory: usize,
    /// Guest CPU per event unless the manifest asks for more.
    pub default_cpu: Duration,
    /// The most any manifest can get.
    pub max_cpu: Duration,
    /// Wall-clock limit for a whole event, host calls included.
    pub event_timeout: Duration,
    /// Placeholders per event.
    pub max_placeholders: usize,
    /// Characters per placeholder name.
    pub max_name_chars: usize,
    /// Characters per placeholder value.
    pub max_value_chars: usize,
    /// Log bytes kept per event (stdout, stderr and `log` together).
    pub max_log_bytes: usize,
    /// Egress rules.
    pub egress: EgressPolicy,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            default_memory: 16 << 20,
            max_memory: 64 << 20,
            default_cpu: Duration::from_millis(500),
            max_cpu: Duration::from_millis(2000),
            event_timeout: Duration::from_secs(3),
            max_placeholders: 25,
            max_name_chars: 32,
            max_value_chars: 1024,
            max_log_bytes: 16 * 1024,
            egress: EgressPolicy::default(),
        }
    }
}

/// What one plugin was granted (shown to admins at enable time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    /// Linear memory, bytes.
    pub memory: usize,
    /// Guest CPU per event.
    pub cpu: Duration,
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
    /// It trapped (a panic, a stack overflow, an invalid operation).
    #[error("trap: {0}")]
    Trap(String),
    /// Its output broke the limits (too many, too long, bad names).
    #[error("output limits: {0}")]
    Output(String),
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
            PluginFailure::Output(_) => "output-limits",
        }
    }
}

/// The result of one event.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The placeholders, or why there are none.
    pub result: Result<Vec<(String, String)>, PluginFailure>,
    /// What the plugin logged (capped).
    pub log: Vec<String>,
    /// HTTP requests it made.
    pub requests: u32,
}

/// Per-event host state: everything a store holds.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    config: HashMap<String, String>,
    secrets: Arc<Vec<BoundSecret>>,
    hosts: Arc<Vec<AllowedHost>>,
    /// Set while settings are validated: no request leaves.
    network_closed: bool,
    egress: Egress,
    requests: u32,
    log: Vec<String>,
    log_bytes: usize,
    max_log_bytes: usize,
    cpu_ticks: u64,
    cpu_budget_ticks: u64,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl State {
    fn push_log(&mut self, line: String) {
        if self.log_bytes >= self.max_log_bytes {
            return;
        }
        let room = self.max_log_bytes - self.log_bytes;
        let line: String = line.chars().take(room.min(512)).collect();
        self.log_bytes += line.len().max(1);
        self.log.push(line);
        if self.log_bytes >= self.max_log_bytes {
            self.log.push("[log truncated]".to_owned());
        }
    }
}

impl wit_types::Host for State {}

impl wit_config::Host for State {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key).cloned())
    }

    async fn has_secret(&mut self, name: String) -> wasmtime::Result<bool> {
        Ok(self.secrets.iter().any(|s| s.name == name))
    }
}

impl wit_log::Host for State {
    async fn write(&mut self, level: wit_log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            wit_log::Level::Debug => "debug",
            wit_log::Level::Info => "info",
            wit_log::Level::Warn => "warn",
            wit_log::Level::Error => "error",
        };
        self.push_log(format!("[{level}] {message}"));
        Ok(())
    }
}

impl wit_http::Host for State {
    async fn fetch(
        &mut self,
        request: wit_http::Request,
    ) -> wasmtime::Result<Result<wit_http::Response, wit_http::FetchError>> {
        if self.network_closed {
            return Ok(Err(wit_http::FetchError::Denied(
                "the network is closed while settings are validated".into(),
            )));
        }
        let method = match request.method {
            wit_http::Method::Get => reqwest::Method::GET,
            wit_http::Method::Post => reqwest::Method::POST,
            wit_http::Method::Put => reqwest::Method::PUT,
            wit_http::Method::Patch => reqwest::Method::PATCH,
            wit_http::Method::Delete => reqwest::Method::DELETE,
        };
        let outgoing = OutgoingRequest {
            method,
            url: request.url,
            headers: request.headers,
            body: request.body,
        };
        let egress = self.egress.clone();
        let hosts = self.hosts.clone();
        let secrets = self.secrets.clone();
        let result = egress
            .fetch(&hosts, &secrets, outgoing, &mut self.requests)
            .await;
        Ok(match result {
            Ok(r) => Ok(wit_http::Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(FetchFailure::Denied(m)) => Err(wit_http::FetchError::Denied(m)),
            Err(FetchFailure::DestinationProhibited(m)) => {
                Err(wit_http::FetchError::DestinationProhibited(m))
            }
            Err(FetchFailure::Timeout) => Err(wit_http::FetchError::Timeout),
            Err(FetchFailure::TooLarge) => Err(wit_http::FetchError::TooLarge),
            Err(FetchFailure::Transport(m)) => Err(wit_http::FetchError::Transport(m)),
        })
    }
}

/// A plugin ready to run: inspected, compiled, linked.
#[derive(Clone)]
pub struct LoadedPlugin {
    /// What the file says about itself.
    pub inspection: Arc<Inspection>,
    /// What the sandbox grants it.
    pub granted: Granted,
    /// Whether its compiled code came from the compile cache.
    pub cache: CacheOutcome,
    pre: PluginPre<State>,
    hosts: Arc<Vec<AllowedHost>>,
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is not a usable plugin.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// Compiling or linking failed.
    #[error("cannot compile or link the component: {0}")]
    Compile(String),
}

/// Stops the epoch ticker when the runtime goes.
struct Ticker(Arc<AtomicBool>);
impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The plugin runtime: one engine for every plugin.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<State>>,
    limits: Arc<SandboxLimits>,
    egress: Egress,
    compile_cache: Option<Arc<CompileCache>>,
    _ticker: Arc<Ticker>,
}

impl Runtime {
    /// An engine with the pooling allocator, epoch interruption and the sandbox's limits.
    pub fn new(limits: SandboxLimits) -> anyhow::Result<Runtime> {
        let mut pool = PoolingAllocationConfig::default();
        // A slot freed after an event is reset to the module's initial image before its next
        // use, either way. By default the reset is an `madvise` of the whole slot, so the next
        // event page-faults on every page it touches again, and every copy-on-write fault
        // shoots down TLBs on all cores (IPIs: most of a small plugin's instantiate time). With
        // PAGEMAP_SCAN (Linux >= 6.7; `Auto` falls back to the old behaviour elsewhere) the
        // pages the guest dirtied, up to the budgets below, are copied back from the image
        // instead and stay resident: the same contents the guest would see after `madvise`,
        // without the faults. Costs at most the budgets per warm slot in RSS (64 memory slots).
        pool.total_component_instances(64)
            .total_core_instances(512)
            .total_memories(64)
            .total_tables(256)
            .max_memory_size(limits.max_memory)
            .table_elements(20_000)
            .linear_memory_keep_resident(256 << 10)
            .table_keep_resident(64 << 10)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(512 * 1024)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Plugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
        // A dedicated thread, not a tokio task: it must tick even when the runtime is starved.
        let stop = Arc::new(AtomicBool::new(false));
        let ticking = engine.weak();
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("tessera-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match ticking.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => return,
                    }
                }
            })?;
        let egress = Egress::new(limits.egress.clone())?;
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            limits: Arc::new(limits),
            egress,
            compile_cache: None,
            _ticker: Arc::new(Ticker(stop)),
        })
    }

    /// This runtime with compiled plugins cached in `dir` (created when first needed), keyed by
    /// the plugin file's sha256 and this engine's configuration; without it nothing is cached.
    /// `dir` must be writable only by the bot's user, like the rest of its data directory.
    pub fn with_compile_cache(mut self, dir: PathBuf) -> Runtime {
        self.compile_cache = Some(Arc::new(CompileCache::new(&self.engine, dir)));
        self
    }

    /// The egress client and its policy.
    pub fn egress(&self) -> &Egress {
        &self.egress
    }

    /// The limits in force.
    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    /// Inspects, compiles (or reads from the compile cache) and pre-links a plugin file.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedPlugin, LoadError> {
        let inspection = inspect(bytes)?;
        let (component, cache) = match &self.compile_cache {
            Some(compile_cache) => compile_cache.component(&self.engine, bytes),
            None => Component::new(&self.engine, bytes).map(|c| (c, CacheOutcome::Disabled)),
        }
        .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let pre = PluginPre::new(pre).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let asked = &inspection.manifest.limits;
        let granted = Granted {
            memory: asked
                .memory_mib
                .map_or(self.limits.default_memory, |m| (m as usize) << 20)
                .min(self.limits.max_memory),
            cpu: asked
                .cpu_ms
                .map_or(self.limits.default_cpu, |ms| {
                    Duration::from_millis(u64::from(ms))
                })
                .min(self.limits.max_cpu),
        };
        let hosts = Arc::new(inspection.manifest.hosts().map_err(InspectError::from)?);
        Ok(LoadedPlugin {
            inspection: Arc::new(inspection),
            granted,
            cache,
            pre,
            hosts,
        })
    }

    /// Runs the plugin's ticket-open handler for `user_id` in a fresh store. `config` is the
    /// server's settings (with the server's ID when the manifest asks for it), `secrets` the
    /// opened secrets by manifest name.
    pub async fn on_ticket_opened(
        &self,
        plugin: &LoadedPlugin,
        user_id: u64,
        config: HashMap<String, String>,
        secrets: HashMap<String, String>,
    ) -> Outcome {
        let bound = bind_secrets(&plugin.inspection.manifest, &secrets, &config);
        let hosts: Vec<AllowedHost> = plugin
            .hosts
            .iter()
            .filter_map(|h| h.resolve(&config))
            .collect();
        let (mut store, pipes) = self.new_store(plugin, config, bound, hosts, false);
        let event = wit_types::TicketOpened { user_id };
        let run = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            instance
                .tessera_plugin_handler()
                .call_on_ticket_opened(&mut store, event)
                .await
        };
        let result = match tokio::time::timeout(self.limits.event_timeout, run).await {
            Err(_) => Err(PluginFailure::Timeout(self.limits.event_timeout)),
            Ok(Err(trap)) => Err(self.classify_trap(&trap, &store, plugin)),
            Ok(Ok(Err(err))) => Err(plugin_error(err)),
            Ok(Ok(Ok(placeholders))) => self.check_output(placeholders),
        };
        let requests = store.data().requests;
        let log = collect_log(&mut store, pipes);
        Outcome {
            result,
            log,
            requests,
        }
    }

    /// Asks the plugin whether the settings an admin is saving are right, with the network
    /// closed. `Err` is the message for the admin.
    pub async fn validate_config(
        &self,
        plugin: &LoadedPlugin,
        config: HashMap<String, String>,
        secrets: HashMap<String, String>,
    ) -> Result<(), String> {
        let bound = bind_secrets(&plugin.inspection.manifest, &secrets, &config);
        let (mut store, pipes) = self.new_store(plugin, config, bound, Vec::new(), true);
        let run = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            instance
                .tessera_plugin_handler()
                .call_validate_config(&mut store)
                .await
        };
        let result = tokio::time::timeout(self.limits.event_timeout, run).await;
        let log = collect_log(&mut store, pipes);
        for line in &log {
            tracing::debug!(plugin = %plugin.inspection.manifest.id, line, "plugin log (validating settings)");
        }
        match result {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(message))) => Err(message.chars().take(500).collect()),
            Err(_) => Err(format!(
                "the integration did not finish checking the settings within {} ms",
                self.limits.event_timeout.as_millis()
            )),
            Ok(Err(trap)) => Err(format!(
                "the integration failed while checking the settings ({})",
                self.classify_trap(&trap, &store, plugin)
            )),
        }
    }

    /// A fresh store for one call: the plugin's grants, these settings, secrets and hosts.
    fn new_store(
        &self,
        plugin: &LoadedPlugin,
        config: HashMap<String, String>,
        secrets: Vec<BoundSecret>,
        hosts: Vec<AllowedHost>,
        network_closed: bool,
    ) -> (Store<State>, [MemoryOutputPipe; 2]) {
        let stdout = MemoryOutputPipe::new(self.limits.max_log_bytes);
        let stderr = MemoryOutputPipe::new(self.limits.max_log_bytes);
        // Grants nothing: no preopened directories, no env or args, no sockets, no name lookup.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let cpu_budget_ticks = (plugin.granted.cpu.as_millis() / TICK.as_millis()).max(1) as u64;
        let state = State {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(plugin.granted.memory)
                .instances(64)
                .tables(64)
                .memories(8)
                .table_elements(20_000)
                .trap_on_grow_failure(true)
                .build(),
            config,
            secrets: Arc::new(secrets),
            hosts: Arc::new(hosts),
            network_closed,
            egress: self.egress.clone(),
            requests: 0,
            log: Vec::new(),
            log_bytes: 0,
            max_log_bytes: self.limits.max_log_bytes,
            cpu_ticks: 0,
            cpu_budget_ticks,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        // Each tick observed while the guest runs is ~10 ms of its CPU; waiting on host calls
        // (an HTTP request) is not counted, except that a tick landing during the wait is charged
        // once when the guest resumes: at most ~10 ms per host call against the budget.
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            state.cpu_ticks += 1;
            if state.cpu_ticks > state.cpu_budget_ticks {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        (store, [stdout, stderr])
    }

    fn classify_trap(
        &self,
        err: &wasmtime::Error,
        store: &Store<State>,
        plugin: &LoadedPlugin,
    ) -> PluginFailure {
        if store.data().cpu_ticks > store.data().cpu_budget_ticks {
            return PluginFailure::CpuLimit(plugin.granted.cpu);
        }
        let text = format!("{err:#}");
        if text.contains("forcing trap when growing memory") || text.contains("memory minimum size")
        {
            return PluginFailure::MemoryLimit(plugin.granted.memory);
        }
        let trap = err.downcast_ref::<wasmtime::Trap>().map(|t| t.to_string());
        PluginFailure::Trap(
            trap.unwrap_or_else(|| text.lines().next().unwrap_or("trap").to_owned()),
        )
    }

    fn check_output(
        &self,
        placeholders: Vec<WitPlaceholder>,
    ) -> Result<Vec<(String, String)>, PluginFailure> {
        let l = &self.limits;
        if placeholders.len() > l.max_placeholders {
            return Err(PluginFailure::Output(format!(
                "{} placeholders (at most {})",
                placeholders.len(),
                l.max_placeholders
            )));
        }
        let mut out = Vec::with_capacity(placeholders.len());
        for p in placeholders {
            let valid_name = !p.name.is_empty()
                && p.name.chars().count() <= l.max_name_chars
                && p.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                return Err(PluginFailure::Output(format!(
                    "placeholder name {:?} must be 1-{} letters, digits, `_` or `-`",
                    p.name.chars().take(40).collect::<String>(),
                    l.max_name_chars
                )));
            }
            if p.value.chars().count() > l.max_value_chars {
                return Err(PluginFailure::Output(format!(
                    "placeholder {} is longer than {} characters",
                    p.name, l.max_value_chars
                )));
            }
            out.push((p.name, p.value));
        }
        Ok(out)
    }
}

/// The plugin's log lines, then what it wrote to stdout and stderr.
fn collect_log(store: &mut Store<State>, pipes: [MemoryOutputPipe; 2]) -> Vec<String> {
    let mut log = std::mem::take(&mut store.data_mut().log);
    for (stream, pipe) in ["stdout", "stderr"].into_iter().zip(pipes) {
        let bytes = pipe.contents();
        for line in String::from_utf8_lossy(&bytes).lines().take(100) {
            log.push(format!(
                "[{stream}] {}",
                line.chars().take(512).collect::<String>()
            ));
        }
    }
    log
}

/// The secrets one call may use, each bound to its host for this server (a `{config.KEY}`
/// host is the host of that setting's URL); a named secret gives one secret per line.
pub fn bind_secrets(
    manifest: &Manifest,
    secrets: &HashMap<String, String>,
    config: &HashMap<String, String>,
) -> Vec<BoundSecret> {
    let mut bound = Vec::new();
    for spec in &manifest.secrets {
        let Some(value) = secrets.get(&spec.name) else {
            continue;
        };
        let host = match AllowedHost::parse(&spec.host)
            .ok()
            .and_then(|h| h.resolve(config))
        {
            Some(AllowedHost::Exact(host)) => host,
            _ => continue,
        };
        if spec.named {
            for (name, value) in named_secrets(value).unwrap_or_default() {
                bound.push(BoundSecret {
                    name,
                    host: host.clone(),
                    header: None,
                    value,
                });
            }
        } else {
            bound.push(BoundSecret {
                name: spec.name.clone(),
                host,
                header: spec.header.clone(),
                value: value.clone(),
            });
        }
    }
    bound
}

fn plugin_error(err: PluginError) -> PluginFailure {
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
        message: message.chars().take(500).collect(),
    }
}
