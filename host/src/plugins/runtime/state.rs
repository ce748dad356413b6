//! The host side of one store: the state an event's store holds, the WIT imports a plugin
//! calls (`config`, `log`, `http`), and the memory limiter that records what it refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, StoreLimits};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::tessera::plugin::{
    config as wit_config, http as wit_http, log as wit_log, types as wit_types,
};
use crate::plugins::egress::{AllowedHost, BoundSecret, Egress, FetchFailure, OutgoingRequest};
use crate::plugins::policy::OutputCaps;
use crate::unicode::is_invisible_format;

/// Per-event host state: everything a store holds.
pub struct State {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limits: Limiter,
    pub(super) config: HashMap<String, String>,
    pub(super) secrets: Arc<Vec<BoundSecret>>,
    pub(super) hosts: Arc<Vec<AllowedHost>>,
    /// Set while settings are validated: no request leaves.
    pub(super) network_closed: bool,
    pub(super) egress: Egress,
    pub(super) requests: u32,
    /// A service answered 429 Too Many Requests during this event.
    pub(super) saw_429: bool,
    pub(super) log: Vec<String>,
    pub(super) log_bytes: usize,
    pub(super) max_log_bytes: usize,
    pub(super) max_log_line_chars: usize,
    pub(super) cpu: CpuMeter,
}

/// The guest's CPU budget, in epoch ticks, and what the host spent working for it.
///
/// Each tick observed while the guest runs is one tick of its CPU. Time inside the host's own
/// calls (`log`, `config`, `http`) is measured as the host works ([`timed`]: only while the
/// call's future is being polled, never while it waits for a service) and charged on top, whole
/// ticks at a time, at the guest's next tick.
#[derive(Debug)]
pub(super) struct CpuMeter {
    ticks: u64,
    budget: u64,
    tick: Duration,
    host_uncharged: Duration,
    host_total: Duration,
}

impl CpuMeter {
    pub(super) fn new(budget: u64, tick: Duration) -> CpuMeter {
        CpuMeter {
            ticks: 0,
            budget,
            tick: tick.max(Duration::from_micros(1)),
            host_uncharged: Duration::ZERO,
            host_total: Duration::ZERO,
        }
    }

    /// The host worked `spent` for the guest.
    pub(super) fn charge_host(&mut self, spent: Duration) {
        self.host_uncharged += spent;
        self.host_total += spent;
    }

    /// One tick passed while the guest ran: charges it and the host's whole ticks since the
    /// last one. Whether the budget is now spent.
    pub(super) fn on_tick(&mut self) -> bool {
        let host_ticks = (self.host_uncharged.as_nanos() / self.tick.as_nanos()) as u64;
        self.host_uncharged =
            Duration::from_nanos((self.host_uncharged.as_nanos() % self.tick.as_nanos()) as u64);
        self.ticks = self.ticks.saturating_add(1).saturating_add(host_ticks);
        self.exhausted()
    }

    /// Whether more was charged than the budget.
    pub(super) fn exhausted(&self) -> bool {
        self.ticks > self.budget
    }

    /// Everything the host's calls took for this guest.
    pub(super) fn host_total(&self) -> Duration {
        self.host_total
    }
}

/// Runs `work` and returns its output with the time spent inside its polls: what the host
/// worked on the guest's behalf, without the time it waited (for a service, for the runtime).
pub(super) async fn timed<F: std::future::Future>(work: F) -> (F::Output, Duration) {
    let mut work = std::pin::pin!(work);
    let mut spent = Duration::ZERO;
    let output = std::future::poll_fn(|cx| {
        let started = Instant::now();
        let polled = std::future::Future::poll(work.as_mut(), cx);
        spent += started.elapsed();
        polled
    })
    .await;
    (output, spent)
}

/// wasmtime's `StoreLimits`, remembering whether it refused memory: a failed growth becomes a
/// trap whose error is only text, so the store keeps the fact the classification needs.
pub(super) struct Limiter {
    pub(super) inner: StoreLimits,
    pub(super) memory_refused: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum);
        if !matches!(allowed, Ok(true)) {
            self.memory_refused = true;
        }
        allowed
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_refused = true;
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// One log entry from a plugin's text: at most `max_chars` characters of it, on one line, with
/// every control character escaped (`\n`, `\u{1b}`, ...), so a plugin cannot forge lines that
/// look like the host's or drive a terminal. Only the kept prefix is read.
pub fn log_line(prefix: &str, text: &str, max_chars: usize) -> String {
    let mut line = String::with_capacity(prefix.len() + text.len().min(max_chars));
    line.push_str(prefix);
    for c in text.chars().take(max_chars) {
        if c.is_control() || is_invisible_format(c) {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

impl State {
    /// Keeps one log entry of `level`, capped before anything is copied or formatted.
    fn push_log(&mut self, level: &str, message: &str) {
        if self.log_bytes >= self.max_log_bytes {
            return;
        }
        let room = self.max_log_bytes - self.log_bytes;
        let line = log_line(
            &format!("[{level}] "),
            message,
            room.min(self.max_log_line_chars),
        );
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
        let started = Instant::now();
        let value = self.config.get(&key).cloned();
        self.cpu.charge_host(started.elapsed());
        Ok(value)
    }

    async fn has_secret(&mut self, name: String) -> wasmtime::Result<bool> {
        let started = Instant::now();
        let has = self.secrets.iter().any(|s| s.name == name);
        self.cpu.charge_host(started.elapsed());
        Ok(has)
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
        let started = Instant::now();
        self.push_log(level, &message);
        self.cpu.charge_host(started.elapsed());
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
        let (result, spent) =
            timed(egress.fetch(&hosts, &secrets, outgoing, &mut self.requests)).await;
        self.cpu.charge_host(spent);
        if matches!(&result, Ok(r) if r.status == 429) {
            self.saw_429 = true;
        }
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

/// The plugin's log lines, then what it wrote to stdout and stderr.
pub(super) fn collect_log(
    store: &mut Store<State>,
    pipes: [MemoryOutputPipe; 2],
    caps: &OutputCaps,
) -> Vec<String> {
    let mut log = std::mem::take(&mut store.data_mut().log);
    for (stream, pipe) in ["stdout", "stderr"].into_iter().zip(pipes) {
        let bytes = pipe.contents();
        for line in String::from_utf8_lossy(&bytes)
            .lines()
            .take(caps.max_stdio_lines)
        {
            log.push(log_line(
                &format!("[{stream}] "),
                line,
                caps.max_log_line_chars,
            ));
        }
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_work_is_charged_in_whole_ticks_on_top_of_the_guests() {
        let tick = Duration::from_millis(10);
        let mut meter = CpuMeter::new(5, tick);
        assert!(!meter.on_tick(), "1 of 5");
        meter.charge_host(Duration::from_millis(25));
        assert!(!meter.on_tick(), "1 + 1 + 2 of the host's = 4 of 5");
        assert!(!meter.on_tick(), "5 of 5 (the host's 5 ms left over)");
        meter.charge_host(Duration::from_millis(5));
        assert!(meter.on_tick(), "5 + 1 + 1 = 7 > 5");
        assert_eq!(meter.host_total(), Duration::from_millis(30));
    }

    #[tokio::test]
    async fn only_the_time_inside_polls_counts_as_the_hosts_work() {
        let (_, waiting) = timed(tokio::time::sleep(Duration::from_millis(200))).await;
        assert!(waiting < Duration::from_millis(50), "{waiting:?}");
        let (_, working) = timed(async {
            let started = Instant::now();
            while started.elapsed() < Duration::from_millis(60) {
                std::hint::spin_loop();
            }
        })
        .await;
        assert!(working >= Duration::from_millis(60), "{working:?}");
    }

    #[test]
    fn a_log_entry_is_one_line_with_control_characters_escaped() {
        let forged = "ok\n[error] host: token=abc\r\u{1b}[2Jx\u{202e}y";
        let line = log_line("[info] ", forged, 512);
        assert!(!line.contains(['\n', '\r', '\u{1b}', '\u{202e}']), "{line}");
        assert_eq!(
            line,
            "[info] ok\\n[error] host: token=abc\\r\\u{1b}[2Jx\\u{202e}y"
        );
        // Only the kept prefix is read and copied.
        assert_eq!(log_line("", &"x".repeat(1 << 20), 4), "xxxx");
    }
}
