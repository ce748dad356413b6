//! The plugin sandbox's overheads:
//! - instantiate-and-call of a no-op plugin (a fresh store and instance per event), and
//! - one HTTP GET made by a plugin through the host versus the same GET made directly with
//!   reqwest (the target: at most 1.10x at p50).
//!
//! The comparison is kept fair: both sides send the same request (`GET http://allowed.test:<port>/`,
//! or `https://` for the TLS servers, the name pinned to 127.0.0.1: the host through the
//! test-only `static_hosts` of its egress policy, the direct client through reqwest's `resolve`)
//! to the same keep-alive HTTP/1.1 server, with a reqwest client configured like the host's
//! egress client (no proxy, no redirects, the same connect and total timeouts, a connection pool,
//! the same trusted roots), and the samples are interleaved so both see the same machine. Each
//! client keeps its connection alive: the bench counts the connections the server accepted and
//! fails if either side reconnects (and so handshakes again) per request.
//!
//! Two latencies: a server that answers at once (the harshest case: the plugin's fixed cost, a
//! fresh instance per event, against a ~50-80 us round trip), and one that waits 5 ms before
//! answering, like a nearby API. Each is served over plain http and over TLS, the way real
//! plugins always reach a service: a certificate for `allowed.test`, self-signed at start, that
//! both clients trust (the host through the test-only `test_root_certs` of its egress policy).
//! Prints p50/p99 of each side and the p50 ratio for all four, then runs criterion on the no-op
//! plugin (group `plugin`) and on both sides of each server (`plugin` for plain http,
//! `plugin_tls` for TLS).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use tessera::plugins::egress::EgressPolicy;
use tessera::plugins::policy::SandboxPolicy;
use tessera::plugins::runtime::{LoadedPlugin, Runtime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// The host name both sides ask for; pinned to loopback on both.
const HOST: &str = "allowed.test";

fn plugin(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
        .join("wasm-plugins");
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/Cargo.toml");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
            manifest,
        ])
        .arg("--target-dir")
        .arg(&dir)
        .status()
        .expect("cargo");
    assert!(status.success(), "building the plugins failed");
    std::fs::read(dir.join(format!("wasm32-wasip2/release/{name}.wasm"))).expect("a plugin")
}

/// A self-signed certificate for [`HOST`] and a TLS acceptor serving it (TLS 1.3 or 1.2,
/// HTTP/1.1, on the ring provider reqwest uses too). Returns the certificate's DER for the
/// clients to trust.
fn tls_acceptor() -> (TlsAcceptor, Vec<u8>) {
    let certified =
        rcgen::generate_simple_self_signed(vec![HOST.to_owned()]).expect("a certificate");
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.clone()], key.into())
    .expect("the certificate matches its key");
    (TlsAcceptor::from(Arc::new(config)), cert.to_vec())
}

/// A keep-alive HTTP/1.1 server on loopback that answers "ok" to every request after
/// `latency`, over TLS when given an acceptor. Returns its port and the number of connections
/// it has accepted.
async fn serve(latency: Duration, tls: Option<TlsAcceptor>) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::Relaxed);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => answer(socket, latency).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(socket).await {
                            answer(stream, latency).await;
                        }
                    }
                }
            });
        }
    });
    (port, accepted)
}

/// Answers each request read from `stream` (one read is one request: the clients send small
/// GETs and wait for each answer) until the client closes.
async fn answer(mut stream: impl AsyncRead + AsyncWrite + Unpin, latency: Duration) {
    let mut buf = vec![0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        // TLS buffers what it writes: flush so the reply leaves now (a no-op for plain TCP).
        if stream.write_all(reply).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    (at(0.5), at(0.99))
}

async fn call(rt: &Runtime, p: &LoadedPlugin, config: &HashMap<String, String>) {
    let outcome = rt
        .on_ticket_opened(p, 42, config.clone(), HashMap::new())
        .await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
}

/// The fetch plugin's placeholders when its GET succeeded.
async fn fetch_via_plugin(rt: &Runtime, p: &LoadedPlugin, config: &HashMap<String, String>) {
    let outcome = rt
        .on_ticket_opened(p, 42, config.clone(), HashMap::new())
        .await;
    let placeholders = outcome.result.expect("the plugin ran");
    assert_eq!(
        placeholders,
        vec![
            ("status".to_owned(), "200".to_owned()),
            ("body".to_owned(), "ok".to_owned())
        ],
        "the plugin's GET failed"
    );
}

async fn fetch_direct(client: &reqwest::Client, url: &str) {
    let response = client.get(url).send().await.expect("get");
    assert_eq!(response.status(), 200);
    assert_eq!(&response.bytes().await.expect("body")[..], b"ok");
}

/// One server's comparison: everything needed to GET it both ways.
struct Target {
    /// Its latency, as named in criterion ids: `loopback` (none) or `5ms`.
    name: &'static str,
    latency: Duration,
    tls: bool,
    url: String,
    config: HashMap<String, String>,
    accepted: Arc<AtomicUsize>,
}

impl Target {
    /// How the printed results name it.
    fn label(&self) -> String {
        let tls = if self.tls { "TLS " } else { "" };
        format!("{tls}{} server", self.name)
    }

    /// Interleaved samples per side: fewer where each waits for the server's latency.
    fn samples(&self) -> usize {
        if self.latency.is_zero() {
            3000
        } else {
            400
        }
    }
}

fn plugin_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (acceptor, cert) = tls_acceptor();
    let policy = EgressPolicy {
        allow_loopback_for_tests: true,
        static_hosts: HashMap::from([(HOST.to_owned(), loopback)]),
        test_root_certs: vec![cert.clone()],
        ..EgressPolicy::default()
    };
    // The host's egress client, minus only the vetting resolver (the pin to loopback stands in
    // for it): same pool, same timeouts, same roots, no redirects, no proxy.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(policy.connect_timeout)
        .timeout(policy.total_timeout)
        .no_proxy()
        .resolve(HOST, SocketAddr::new(loopback, 0))
        .add_root_certificate(reqwest::Certificate::from_der(&cert).expect("DER"))
        .build()
        .expect("client");
    let limits = SandboxPolicy {
        egress: policy,
        ..SandboxPolicy::default()
    };
    let sandbox = Runtime::new(limits).expect("sandbox");
    let noop = sandbox.load(&plugin("test_noop")).expect("noop");
    let fetcher = sandbox.load(&plugin("test_fetch")).expect("fetch");
    let state = sandbox.load(&plugin("test_state")).expect("state");
    let none = HashMap::new();

    let targets: Vec<Target> = [false, true]
        .into_iter()
        .flat_map(|tls| {
            [
                ("loopback", Duration::ZERO, tls),
                ("5ms", Duration::from_millis(5), tls),
            ]
        })
        .map(|(name, latency, tls)| {
            let (port, accepted) = rt.block_on(serve(latency, tls.then(|| acceptor.clone())));
            let scheme = if tls { "https" } else { "http" };
            let url = format!("{scheme}://{HOST}:{port}/");
            Target {
                name,
                latency,
                tls,
                config: HashMap::from([("url".to_owned(), url.clone())]),
                url,
                accepted,
            }
        })
        .collect();

    rt.block_on(async {
        // The pool's speed-ups (slots reused at once, reset by copying back only the pages the
        // last event dirtied) must not carry state over: events in a row on the same slot
        // still each see a fresh instance.
        for _ in 0..1000 {
            let outcome = sandbox
                .on_ticket_opened(&state, 42, HashMap::new(), HashMap::new())
                .await;
            let count = outcome.result.expect("test_state runs");
            assert_eq!(count, vec![("count".to_owned(), "1".to_owned())]);
        }
        for _ in 0..200 {
            call(&sandbox, &noop, &none).await;
        }
        let mut noop_samples = Vec::new();
        for _ in 0..5000 {
            let t = Instant::now();
            call(&sandbox, &noop, &none).await;
            noop_samples.push(t.elapsed());
        }
        let (p50, p99) = percentiles(noop_samples);
        eprintln!("no-op plugin, instantiate and call: p50 {p50:?}, p99 {p99:?}");

        // The fetch plugin up to its request, refused by the host before anything is sent:
        // instantiate, guest work, the host's checks; what the plugin adds besides the network.
        let refused = HashMap::from([("url".to_owned(), "http://refused.test/".to_owned())]);
        let mut refused_samples = Vec::new();
        for i in 0..2200 {
            let t = Instant::now();
            call(&sandbox, &fetcher, &refused).await;
            if i >= 200 {
                refused_samples.push(t.elapsed());
            }
        }
        let (p50, p99) = percentiles(refused_samples);
        eprintln!("fetch plugin, request refused before sending: p50 {p50:?}, p99 {p99:?}");

        for target in &targets {
            let samples = target.samples();
            for _ in 0..100 {
                fetch_via_plugin(&sandbox, &fetcher, &target.config).await;
                fetch_direct(&client, &target.url).await;
            }
            let (mut via_plugin, mut direct) = (Vec::new(), Vec::new());
            for _ in 0..samples {
                let t = Instant::now();
                fetch_via_plugin(&sandbox, &fetcher, &target.config).await;
                via_plugin.push(t.elapsed());
                let t = Instant::now();
                fetch_direct(&client, &target.url).await;
                direct.push(t.elapsed());
            }
            // Each client keeps one connection alive; hyper may open a second now and then when
            // a request starts before the last one's connection is back in the pool.
            let requests = 2 * (100 + samples);
            let accepted = target.accepted.load(Ordering::Relaxed);
            assert!(
                accepted <= 8,
                "connections are not reused: the {} accepted {accepted} for {requests} requests",
                target.label()
            );
            let (plugin_p50, plugin_p99) = percentiles(via_plugin);
            let (direct_p50, direct_p99) = percentiles(direct);
            eprintln!(
                "one GET, {}: through a plugin p50 {plugin_p50:?} p99 {plugin_p99:?}; \
                 direct reqwest p50 {direct_p50:?} p99 {direct_p99:?}; ratio at p50 {:.3}x \
                 (+{:?}); {accepted} connections for {requests} requests",
                target.label(),
                plugin_p50.as_secs_f64() / direct_p50.as_secs_f64(),
                plugin_p50.saturating_sub(direct_p50),
            );
        }
    });

    let mut group = c.benchmark_group("plugin");
    group.bench_function("noop_instantiate_and_call", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    call(&sandbox, &noop, &none).await;
                }
                t.elapsed()
            })
        })
    });
    for target in targets.iter().filter(|t| !t.tls) {
        bench_target(&mut group, &rt, &sandbox, &fetcher, &client, target);
    }
    group.finish();
    let mut group = c.benchmark_group("plugin_tls");
    for target in targets.iter().filter(|t| t.tls) {
        bench_target(&mut group, &rt, &sandbox, &fetcher, &client, target);
    }
    group.finish();
}

/// Criterion on both sides of one server: `http_get_via_plugin_<name>` and
/// `http_get_direct_<name>`.
fn bench_target(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    sandbox: &Runtime,
    fetcher: &LoadedPlugin,
    client: &reqwest::Client,
    target: &Target,
) {
    // Criterion's default, or fewer where every sample waits for the server's latency.
    group.sample_size(if target.latency.is_zero() { 100 } else { 20 });
    group.bench_function(format!("http_get_via_plugin_{}", target.name), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    fetch_via_plugin(sandbox, fetcher, &target.config).await;
                }
                t.elapsed()
            })
        })
    });
    group.bench_function(format!("http_get_direct_{}", target.name), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    fetch_direct(client, &target.url).await;
                }
                t.elapsed()
            })
        })
    });
}

criterion_group!(benches, plugin_call);
criterion_main!(benches);
