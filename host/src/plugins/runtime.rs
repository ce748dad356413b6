//! Running plugins: one shared engine, one pre-instantiated component per plugin version, and
//! a fresh store per event, under the limits of a [`SandboxPolicy`].
//!
//! - [`failure`] — why a call produced nothing, and the error naming the plugin and version.
//! - [`state`] — what one store holds, the WIT imports plugins call, the memory limiter.

mod failure;
mod state;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimitsBuilder,
    UpdateDeadline,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::WasiCtx;

use super::compile_cache::{CacheOutcome, CompileCache};
use super::component::{inspect, InspectError, Inspection};
use super::egress::secrets::bind_secrets;
use super::egress::{AllowedHost, BoundSecret, Egress};
pub use super::policy::Granted;
use super::policy::SandboxPolicy;
use failure::{check_output, classify_trap, plugin_error, TrapFacts};
pub use failure::{GuestError, PluginFailure, PluginRef};
use state::{collect_log, Limiter, State};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "tessera:plugin/plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

use self::tessera::plugin::types as wit_types;

/// The result of one event.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The placeholders, or why there are none (naming the plugin and version).
    pub result: Result<Vec<(String, String)>, GuestError>,
    /// What the plugin logged (capped).
    pub log: Vec<String>,
    /// HTTP requests it made.
    pub requests: u32,
}

/// Why a plugin did not accept the settings an admin is saving; the message is for the admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsRejected {
    /// The plugin said what is wrong (its message, capped).
    #[error("{0}")]
    Refused(String),
    /// It did not answer within the event timeout.
    #[error("the integration did not finish checking the settings within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// It failed (a trap, or a limit) while checking.
    #[error("the integration failed while checking the settings ({})", .0.failure)]
    Failed(GuestError),
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

impl LoadedPlugin {
    /// Which plugin and version this is.
    pub fn plugin_ref(&self) -> PluginRef {
        PluginRef::of(&self.inspection.manifest)
    }
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is not a usable plugin.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// Compiling or linking failed.
    #[error("cannot compile or link the component: {0:#}")]
    Compile(wasmtime::Error),
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
    policy: Arc<SandboxPolicy>,
    egress: Egress,
    compile_cache: Option<Arc<CompileCache>>,
    _ticker: Arc<Ticker>,
}

impl Runtime {
    /// An engine with the pooling allocator, epoch interruption and the policy's limits.
    pub fn new(policy: SandboxPolicy) -> anyhow::Result<Runtime> {
        let slots = &policy.pool;
        let mut pool = PoolingAllocationConfig::default();
        // A slot freed after an event is reset to the module's initial image before its next
        // use, either way. By default the reset is an `madvise` of the whole slot, so the next
        // event page-faults on every page it touches again, and every copy-on-write fault
        // shoots down TLBs on all cores (IPIs: most of a small plugin's instantiate time). With
        // PAGEMAP_SCAN (Linux >= 6.7; `Auto` falls back to the old behaviour elsewhere) the
        // pages the guest dirtied, up to the budgets below, are copied back from the image
        // instead and stay resident: the same contents the guest would see after `madvise`,
        // without the faults. Costs at most the budgets per warm slot in RSS (one per memory
        // slot).
        pool.total_component_instances(slots.total_component_instances)
            .total_core_instances(slots.total_core_instances)
            .total_memories(slots.total_memories)
            .total_tables(slots.total_tables)
            .max_memory_size(policy.memory.ceiling)
            .table_elements(slots.table_elements)
            .linear_memory_keep_resident(slots.linear_memory_keep_resident)
            .table_keep_resident(slots.table_keep_resident)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(slots.max_wasm_stack)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Plugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
        // A dedicated thread, not a tokio task: it must tick even when the runtime is starved.
        let stop = Arc::new(AtomicBool::new(false));
        let ticking = engine.weak();
        let stopped = stop.clone();
        let tick = policy.cpu.tick;
        std::thread::Builder::new()
            .name("tessera-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match ticking.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => return,
                    }
                }
            })?;
        let egress = Egress::new(policy.egress.clone())?;
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            policy: Arc::new(policy),
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

    /// The sandbox's policy in force.
    pub fn policy(&self) -> &SandboxPolicy {
        &self.policy
    }

    /// Inspects, compiles (or reads from the compile cache) and pre-links a plugin file.
    #[tracing::instrument(skip_all, fields(plugin, version))]
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedPlugin, LoadError> {
        let inspection = inspect(bytes)?;
        let span = tracing::Span::current();
        span.record("plugin", inspection.manifest.id.as_str());
        span.record("version", inspection.manifest.version.as_str());
        let (component, cache) = match &self.compile_cache {
            Some(compile_cache) => compile_cache.component(&self.engine, bytes),
            None => Component::new(&self.engine, bytes).map(|c| (c, CacheOutcome::Disabled)),
        }
        .map_err(LoadError::Compile)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(PluginPre::new)
            .map_err(LoadError::Compile)?;
        let granted = self.policy.grant(&inspection.manifest.limits);
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
    #[tracing::instrument(skip_all, fields(plugin = %plugin.inspection.manifest.id, version = %plugin.inspection.manifest.version))]
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
        let output = &self.policy.output;
        let result = match tokio::time::timeout(self.policy.event_timeout, run).await {
            Err(_) => Err(PluginFailure::Timeout(self.policy.event_timeout)),
            Ok(Err(trap)) => Err(self.classify(&trap, &store, plugin)),
            Ok(Ok(Err(err))) => Err(plugin_error(err, output)),
            Ok(Ok(Ok(placeholders))) => check_output(placeholders, output),
        };
        let requests = store.data().requests;
        let log = collect_log(&mut store, pipes, output);
        Outcome {
            result: result.map_err(|failure| GuestError {
                plugin: plugin.plugin_ref(),
                failure,
            }),
            log,
            requests,
        }
    }

    /// Asks the plugin whether the settings an admin is saving are right, with the network
    /// closed.
    #[tracing::instrument(skip_all, fields(plugin = %plugin.inspection.manifest.id, version = %plugin.inspection.manifest.version))]
    pub async fn validate_config(
        &self,
        plugin: &LoadedPlugin,
        config: HashMap<String, String>,
        secrets: HashMap<String, String>,
    ) -> Result<(), SettingsRejected> {
        let bound = bind_secrets(&plugin.inspection.manifest, &secrets, &config);
        let (mut store, pipes) = self.new_store(plugin, config, bound, Vec::new(), true);
        let run = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            instance
                .tessera_plugin_handler()
                .call_validate_config(&mut store)
                .await
        };
        let output = &self.policy.output;
        let result = tokio::time::timeout(self.policy.event_timeout, run).await;
        let log = collect_log(&mut store, pipes, output);
        for line in &log {
            tracing::debug!(line, "plugin log (validating settings)");
        }
        match result {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(message))) => Err(SettingsRejected::Refused(
                message.chars().take(output.max_message_chars).collect(),
            )),
            Err(_) => Err(SettingsRejected::Timeout(self.policy.event_timeout)),
            Ok(Err(trap)) => Err(SettingsRejected::Failed(GuestError {
                plugin: plugin.plugin_ref(),
                failure: self.classify(&trap, &store, plugin),
            })),
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
        let policy = &self.policy;
        // Only what the policy grants (by default nothing); no directory is ever preopened.
        let grants = &policy.wasi;
        let stdout = MemoryOutputPipe::new(grants.stdio_bytes);
        let stderr = MemoryOutputPipe::new(grants.stdio_bytes);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .envs(&grants.env)
            .args(&grants.args)
            .allow_tcp(grants.tcp)
            .allow_udp(grants.udp)
            .allow_ip_name_lookup(grants.ip_name_lookup)
            .build();
        let per_store = &policy.per_store;
        let state = State {
            wasi,
            table: ResourceTable::new(),
            limits: Limiter {
                inner: StoreLimitsBuilder::new()
                    .memory_size(plugin.granted.memory)
                    .instances(per_store.instances)
                    .tables(per_store.tables)
                    .memories(per_store.memories)
                    .table_elements(per_store.table_elements)
                    .trap_on_grow_failure(true)
                    .build(),
                memory_refused: false,
            },
            config,
            secrets: Arc::new(secrets),
            hosts: Arc::new(hosts),
            network_closed,
            egress: self.egress.clone(),
            requests: 0,
            log: Vec::new(),
            log_bytes: 0,
            max_log_bytes: policy.output.max_log_bytes,
            max_log_line_chars: policy.output.max_log_line_chars,
            cpu_ticks: 0,
            cpu_budget_ticks: policy.cpu_ticks(plugin.granted.cpu),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        // Each tick observed while the guest runs is one tick of its CPU; waiting on host calls
        // (an HTTP request) is not counted, except that a tick landing during the wait is charged
        // once when the guest resumes: at most one tick per host call against the budget.
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

    /// Why a call trapped, from what its store recorded.
    fn classify(
        &self,
        err: &wasmtime::Error,
        store: &Store<State>,
        plugin: &LoadedPlugin,
    ) -> PluginFailure {
        let state = store.data();
        let facts = TrapFacts {
            cpu_exhausted: state.cpu_ticks > state.cpu_budget_ticks,
            memory_refused: state.limits.memory_refused,
        };
        classify_trap(err, facts, plugin.granted)
    }
}
