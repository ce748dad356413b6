//! One server cannot starve another: the sandbox's slots, each server's share of them, the
//! per-component limits, and what one host call may copy out of a guest.

use std::collections::HashMap;
use std::time::Duration;

use tessera::plugins::policy::SandboxPolicy;
use tessera::plugins::runtime::{NotRun, PluginFailure, Runtime};

use crate::plugin_files::plugin;

const USER: u64 = 123_456_789_012_345_678;
const SERVER_A: u64 = 1;
const SERVER_B: u64 = 2;

/// A runtime with 4 slots, at most 2 per server, and a short event timeout.
fn small_pool() -> Runtime {
    let mut policy = SandboxPolicy::default();
    policy.pool.slots = 4;
    policy.pool.per_server = 2;
    policy.event_timeout = Duration::from_millis(1500);
    Runtime::new(policy).expect("a runtime")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_holding_every_slot_it_can_never_fails_another() {
    let rt = small_pool();
    let sleeper = rt.load(&plugin("test_sleep")).expect("loads");
    let example = rt.load(&plugin("example")).expect("loads");
    // Server A's hostile plugin: eight events at once, each sleeping past the deadline at no
    // CPU, holding its slot for as long as it is allowed to.
    let mut hostile = Vec::new();
    for n in 0..8 {
        let (rt, sleeper) = (rt.clone(), sleeper.clone());
        hostile.push(tokio::spawn(async move {
            rt.on_ticket_opened_in(SERVER_A, &sleeper, USER + n, HashMap::new(), HashMap::new())
                .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Meanwhile server B's tickets open, several at once: every one gets a slot and answers.
    let mut fine = Vec::new();
    for n in 0..2 {
        let (rt, example) = (rt.clone(), example.clone());
        fine.push(tokio::spawn(async move {
            rt.on_ticket_opened_in(SERVER_B, &example, USER + n, HashMap::new(), HashMap::new())
                .await
        }));
    }
    for task in fine {
        let outcome = task.await.expect("task");
        assert!(outcome.result.is_ok(), "server B: {:?}", outcome.result);
    }
    // Server A's own events: two ran into the deadline, the rest waited for A's share and
    // were not run, which is the host's doing, never counted as the plugin's failure.
    let mut timeouts = 0;
    let mut busy = 0;
    for task in hostile {
        match task
            .await
            .expect("task")
            .result
            .map_err(PluginFailure::from)
        {
            Err(PluginFailure::Timeout(_)) => timeouts += 1,
            Err(PluginFailure::NotRun(NotRun::Busy)) => busy += 1,
            other => panic!("server A: {other:?}"),
        }
    }
    assert_eq!((timeouts, busy), (2, 6));
    // And the slots all came back.
    let outcome = rt
        .on_ticket_opened_in(SERVER_A, &example, USER, HashMap::new(), HashMap::new())
        .await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
}

#[test]
fn a_plugin_beyond_the_per_component_limits_is_refused_when_loaded() {
    let mut policy = SandboxPolicy::default();
    // A Rust plugin is three core instances, one memory and two tables.
    policy.pool.core_instances_per_component = 2;
    let rt = Runtime::new(policy).expect("a runtime");
    let refused = rt
        .load(&plugin("example"))
        .err()
        .expect("refused")
        .to_string();
    assert!(refused.contains("core module instances"), "{refused}");

    let mut policy = SandboxPolicy::default();
    policy.pool.tables_per_component = 1;
    let rt = Runtime::new(policy).expect("a runtime");
    let refused = rt
        .load(&plugin("example"))
        .err()
        .expect("refused")
        .to_string();
    assert!(refused.contains("tables"), "{refused}");

    // The defaults admit real plugins.
    let rt = Runtime::new(SandboxPolicy::default()).expect("a runtime");
    for name in ["example", "bloxlink", "rover", "webhook"] {
        rt.load(&plugin(name)).expect(name);
    }
}

#[tokio::test]
async fn a_guest_cannot_make_one_host_call_copy_more_than_its_fuel() {
    let rt = Runtime::new(SandboxPolicy::default()).expect("a runtime");
    let fetch = rt.load(&plugin("test_fetch")).expect("loads");
    // A 1 MiB header value: the guest hands the host a request four times the hostcall fuel.
    // The copy stops at the fuel, before the egress rules would even read the header.
    let config: HashMap<String, String> = [
        ("url", "https://allowed.test/".to_owned()),
        ("header_name", "x-big".to_owned()),
        ("header_value", "v".repeat(1 << 20)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let outcome = rt
        .on_ticket_opened(&fetch, USER, config, HashMap::new())
        .await;
    assert!(
        matches!(
            outcome.result.as_ref().map_err(|e| &e.failure),
            Err(PluginFailure::Trap(_))
        ),
        "{:?}",
        outcome.result
    );
    assert_eq!(outcome.requests, 0, "nothing was sent");
}
