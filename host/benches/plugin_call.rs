//! The plugin sandbox's overheads:
//! - instantiate-and-call of a no-op plugin (a fresh store and instance per event), and
//! - one HTTP GET made by a plugin through the host versus the same GET made directly with
//!   reqwest, both to a loopback server (through the test-only egress switch).
//!
//! Prints p50/p99 and the ratio, then runs criterion on both.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tessera::plugins::egress::EgressPolicy;
use tessera::plugins::runtime::{LoadedPlugin, Runtime, SandboxLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// A keep-alive HTTP/1.1 server on loopback that answers "ok" to every request.
async fn serve() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if socket.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
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

fn plugin_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let limits = SandboxLimits {
        egress: EgressPolicy {
            allow_loopback_for_tests: true,
            static_hosts: HashMap::from([(
                "allowed.test".to_owned(),
                "127.0.0.1".parse::<IpAddr>().expect("ip"),
            )]),
            ..EgressPolicy::default()
        },
        ..SandboxLimits::default()
    };
    let sandbox = Runtime::new(limits).expect("sandbox");
    let noop = sandbox.load(&plugin("test_noop")).expect("noop");
    let fetcher = sandbox.load(&plugin("test_fetch")).expect("fetch");
    let port = rt.block_on(serve());
    let url = format!("http://allowed.test:{port}/");
    let direct_url = format!("http://127.0.0.1:{port}/");
    let fetch_config = HashMap::from([("url".to_owned(), url)]);
    let none = HashMap::new();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");

    rt.block_on(async {
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

        let mut via_plugin = Vec::new();
        let mut direct = Vec::new();
        for _ in 0..2000 {
            let t = Instant::now();
            call(&sandbox, &fetcher, &fetch_config).await;
            via_plugin.push(t.elapsed());
            let t = Instant::now();
            let body = client.get(&direct_url).send().await.expect("get").bytes().await.expect("body");
            assert_eq!(&body[..], b"ok");
            direct.push(t.elapsed());
        }
        let (plugin_p50, _) = percentiles(via_plugin);
        let (direct_p50, _) = percentiles(direct);
        eprintln!(
            "one GET to loopback: through a plugin p50 {plugin_p50:?}, direct reqwest p50 {direct_p50:?}, ratio {:.2}x",
            plugin_p50.as_secs_f64() / direct_p50.as_secs_f64()
        );
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
    group.bench_function("http_get_via_plugin", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    call(&sandbox, &fetcher, &fetch_config).await;
                }
                t.elapsed()
            })
        })
    });
    group.bench_function("http_get_direct", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    let _ = client
                        .get(&direct_url)
                        .send()
                        .await
                        .expect("get")
                        .bytes()
                        .await;
                }
                t.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, plugin_call);
criterion_main!(benches);
