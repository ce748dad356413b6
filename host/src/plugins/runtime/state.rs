//! The host side of one store: the state an event's store holds, the WIT imports a plugin
//! calls (`config`, `log`, `http`), and the memory limiter that records what it refused.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, StoreLimits};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::tessera::plugin::{
    config as wit_config, http as wit_http, log as wit_log, types as wit_types,
};
use crate::discord::text::is_invisible_format;
use crate::plugins::egress::{AllowedHost, BoundSecret, Egress, FetchFailure, OutgoingRequest};
use crate::plugins::policy::OutputCaps;

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
    pub(super) cpu_ticks: u64,
    pub(super) cpu_budget_ticks: u64,
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
        self.push_log(level, &message);
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
