//! Through the emulator: the first-party integrations (Bloxlink, RoVer, the custom webhook)
//! against local stand-ins for the real services, reproducing their documented answers.

use std::time::Duration;

use serde_json::{json, Value};
use tessera::store::{Backend, Delivery};

use crate::app::{spawn_app, text, TestApp};
use crate::mock::Mock;
use crate::on_both_backends;

/// Roblox's users API for user 156 (`GET https://users.roblox.com/v1/users/156`).
const ROBLOX_USER: &str = r#"{"description":"Hi","created":"2006-03-08T02:00:00.000Z","isBanned":false,"externalAppDisplayName":null,"hasVerifiedBadge":true,"id":156,"name":"builderman","displayName":"Builder"}"#;

/// Starts `app`'s bot with requests for `hosts` going to `mock` (test-only settings) and a
/// failure threshold high enough that the error cases below do not disable the plugin.
async fn behind(app: &mut TestApp, mock: &Mock, hosts: &[&str]) {
    app.plugins.allow_loopback_for_tests = true;
    app.plugins.disable_after_failures = 100;
    // Below the sandbox's 3 s per request, so a slow service is always the event's timeout.
    app.plugins.event_timeout_ms = 2000;
    for host in hosts {
        app.plugins
            .test_origins
            .insert((*host).to_owned(), mock.origin());
    }
    app.restart_bot().await;
}

async fn set_welcome(app: &TestApp, template: &str) {
    let answer = app
        .command(
            &app.admin(),
            app.lobby,
            "welcome",
            json!([{"name": "set", "type": 1, "options": [{"name": "message", "type": 3, "value": template}]}]),
        )
        .await;
    assert!(text(&answer).contains("Saved"), "{answer}");
}

/// Opens a ticket as member `n`: the welcome message's text and the delivery record.
async fn open(app: &TestApp, n: u64) -> (String, Delivery) {
    let member = app.member(n);
    let channel = app.open_via_panel(&member).await;
    let welcome = app.welcome(channel)["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let deliveries = app
        .store
        .deliveries_for_user(member.user_id)
        .await
        .expect("read");
    let delivery = deliveries.last().cloned().expect("a delivery record");
    (welcome, delivery)
}

async fn list(app: &TestApp) -> Value {
    app.command(
        &app.admin(),
        app.lobby,
        "integrations",
        json!([{"name": "list", "type": 1, "options": []}]),
    )
    .await
}

/// How a service's answers of the right syntax but the wrong shape are treated: a body, and
/// the outcome it must give.
struct Wording<'a> {
    service: &'a str,
    wrong_shape: (&'a str, &'a str),
}

/// Everything the stand-in services below say about themselves in their error bodies: none of
/// it may reach a delivery record or an admin (PRIVACY.md #1).
const UPSTREAM_WORDS: [&str; 4] = ["Unauthorized", "maintenance", "throttled", "not json"];

/// The error cases every lookup shares: each a distinct outcome, recorded in Tessera's words
/// only; the ticket always opens with the placeholders marked unavailable; and a service that
/// rate limits makes Tessera pause the integration, not count it as broken.
async fn lookup_failures(
    app: &TestApp,
    mock: &Mock,
    lookup: &str,
    first_member: u64,
    wording: &Wording<'_>,
) {
    /// Status, body, response headers, delay, and the outcome the bot must record.
    type Case<'a> = (u16, &'a str, &'a [(&'a str, &'a str)], Duration, &'a str);
    let cases: [Case; 4] = [
        (
            401,
            r#"{"error":"Unauthorized"}"#,
            &[],
            Duration::ZERO,
            "denied",
        ),
        (
            503,
            r#"{"error":"maintenance"}"#,
            &[],
            Duration::ZERO,
            "upstream",
        ),
        (200, "{not json", &[], Duration::ZERO, "upstream"),
        // Longer than the event's time limit.
        (
            200,
            r#"{"robloxID":"156","robloxId":156}"#,
            &[],
            Duration::from_secs(4),
            "timeout",
        ),
    ];
    let service = wording.service;
    let mut member = first_member;
    let check_words = |delivery: &Delivery, listed: Option<&Value>| {
        let detail = delivery.detail.clone().unwrap_or_default();
        let listed = listed.map(|l| text(l).to_owned()).unwrap_or_default();
        for word in UPSTREAM_WORDS {
            assert!(
                !detail.contains(word) && !listed.contains(word),
                "{service}: the service's words reached the record or the admins: {detail} / {listed}"
            );
        }
    };
    let mut next_member = || {
        member += 1;
        member
    };
    for (status, body, headers, delay, outcome) in cases {
        mock.on_with(lookup, status, body, headers, delay);
        let (welcome, delivery) = open(app, next_member()).await;
        assert!(
            welcome.contains("*unavailable*"),
            "{service} {status}: {welcome}"
        );
        assert_eq!(
            delivery.outcome, outcome,
            "{service} {status} {body}: {delivery:?}"
        );
        // Tessera's words for the class, and nothing the plugin or its service said.
        let failure = match outcome {
            "timeout" => tessera::plugins::runtime::PluginFailure::Timeout(Duration::ZERO),
            kind => tessera::plugins::runtime::PluginFailure::Plugin {
                kind: if kind == "denied" {
                    "denied"
                } else {
                    "upstream"
                },
                message: String::new(),
            },
        };
        assert_eq!(
            delivery.detail.as_deref(),
            Some(tessera::integrations::health::host_message(&failure)),
            "{service} {status}: {delivery:?}"
        );
        // Admins see the last failure in the list, in those words.
        let listed = list(app).await;
        if outcome != "timeout" {
            assert!(text(&listed).contains("Last ticket:"), "{listed}");
        }
        check_words(&delivery, Some(&listed));
    }
    let (body, outcome) = wording.wrong_shape;
    mock.on(lookup, 200, body);
    let (welcome, delivery) = open(app, next_member()).await;
    assert!(
        welcome.contains("*unavailable*"),
        "{service} wrong shape: {welcome}"
    );
    assert_eq!(
        delivery.outcome, outcome,
        "{service} wrong shape: {delivery:?}"
    );

    // A 429: recorded as a rate limit, and then Tessera leaves the service alone for a while
    // instead of calling it at every ticket (and the integration stays enabled).
    mock.on_with(
        lookup,
        429,
        r#"{"error":"throttled"}"#,
        &[("retry-after", "30")],
        Duration::ZERO,
    );
    let (_, delivery) = open(app, next_member()).await;
    assert_eq!(delivery.outcome, "rate-limited", "{service}: {delivery:?}");
    check_words(&delivery, None);
    let calls = |mock: &Mock| {
        mock.seen()
            .iter()
            .filter(|s| s.path.starts_with(lookup))
            .count()
    };
    let before = calls(mock);
    let paused = app.member(next_member());
    let channel = app.open_via_panel(&paused).await;
    let welcome = text(&app.welcome(channel)).to_owned();
    assert!(welcome.contains("*unavailable*"), "{service}: {welcome}");
    assert_eq!(
        calls(mock),
        before,
        "{service}: the service was called while paused"
    );
    let records = app
        .store
        .deliveries_for_user(paused.user_id)
        .await
        .expect("read");
    assert!(
        records.is_empty(),
        "{service}: nothing was sent, nothing is recorded: {records:?}"
    );
    let listed = list(app).await;
    assert!(text(&listed).contains("Paused"), "{service}: {listed}");
    assert!(text(&listed).contains("✅ enabled"), "{service}: {listed}");
}

/// Bloxlink and RoVer: a wrong-shaped answer is the service's fault.
fn roblox_wording(service: &str) -> Wording<'_> {
    Wording {
        service,
        wrong_shape: (r#"{"robloxID":{"nested":true},"robloxId":[1]}"#, "upstream"),
    }
}

on_both_backends!(
    bloxlink_fills_roblox_placeholders_and_reports_each_failure_distinctly,
    bloxlink
);
async fn bloxlink(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let mock = Mock::start().await;
    behind(&mut app, &mock, &["api.blox.link", "users.roblox.com"]).await;
    app.set_up(1).await;
    mock.on("/v1/users/156", 200, ROBLOX_USER);
    mock.on(
        "/v4/public/discord-to-roblox/",
        200,
        r#"{"robloxID":"156","resolved":{}}"#,
    );

    // The prompt says the server's ID is shared too, and where everything goes.
    let prompt = app
        .command(
            &app.admin(),
            app.lobby,
            "integrations",
            json!([{"name": "enable", "type": 1, "options": [{"name": "name", "type": 3, "value": "bloxlink"}]}]),
        )
        .await;
    let t = text(&prompt);
    for needle in [
        "that member's Discord user ID and this server's ID",
        "`api.blox.link`",
        "`users.roblox.com`",
        "<https://blox.link/privacy>",
    ] {
        assert!(t.contains(needle), "{needle:?} missing from {t}");
    }
    let done = app
        .enable_plugin("bloxlink", &[("s:api_key", "blox-global-key")])
        .await;
    assert!(text(&done).contains("is enabled"), "{done}");
    set_welcome(
        &app,
        "%bloxlink.roblox_username% (%bloxlink.roblox_display_name%) #%bloxlink.roblox_id% \
         %bloxlink.roblox_profile_url% since %bloxlink.roblox_created%, %bloxlink.roblox_account_age_days% days",
    )
    .await;

    let (welcome, delivery) = open(&app, 1).await;
    assert_eq!(delivery.outcome, "ok", "{delivery:?}");
    for needle in [
        "builderman (Builder) #156",
        "https://www.roblox.com/users/156/profile",
        "since 2006-03-08",
    ] {
        assert!(
            welcome.contains(needle),
            "{needle:?} missing from {welcome}"
        );
    }
    let age: u64 = welcome
        .lines()
        .next()
        .unwrap_or_default()
        .rsplit(", ")
        .next()
        .and_then(|s| s.strip_suffix(" days"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an account age in {welcome}"));
    assert!(age > 7000, "{welcome}");
    // The global endpoint, with the key as Bloxlink wants it, and Roblox without it.
    let seen = mock.seen();
    let member = app.member(1).user_id;
    let lookup = seen
        .iter()
        .find(|s| s.path.starts_with("/v4/"))
        .expect("a Bloxlink lookup");
    assert_eq!(
        lookup.path,
        format!("/v4/public/discord-to-roblox/{member}")
    );
    assert_eq!(lookup.header("authorization"), Some("blox-global-key"));
    let roblox = seen
        .iter()
        .find(|s| s.path.starts_with("/v1/users/"))
        .expect("a Roblox lookup");
    assert_eq!(
        roblox.header("authorization"),
        None,
        "the key stays with Bloxlink"
    );

    // A server key uses the server-scoped endpoint; a bad scope is refused when saved.
    let refused = app
        .configure_plugin("bloxlink", &[("c:scope", "galaxy")])
        .await;
    assert!(
        text(&refused).contains("scope") && text(&refused).contains("Nothing was saved"),
        "{refused}"
    );
    let saved = app
        .configure_plugin("bloxlink", &[("c:scope", "server")])
        .await;
    assert!(text(&saved).contains("Saved"), "{saved}");
    mock.on(
        &format!("/v4/public/guilds/{}/discord-to-roblox/", app.guild),
        200,
        r#"{"robloxID":"156","resolved":{}}"#,
    );
    mock.clear_seen();
    let (welcome, _) = open(&app, 2).await;
    assert!(welcome.contains("builderman"), "{welcome}");
    assert!(
        mock.seen().iter().any(|s| s.path
            == format!(
                "/v4/public/guilds/{}/discord-to-roblox/{}",
                app.guild,
                app.member(2).user_id
            )),
        "{:?}",
        mock.seen()
    );

    // Not linked: a clean answer, not an alert.
    let scoped = format!("/v4/public/guilds/{}/discord-to-roblox/", app.guild);
    mock.on(&scoped, 404, r#"{"error":"User not found"}"#);
    let (welcome, delivery) = open(&app, 3).await;
    assert_eq!(delivery.outcome, "not-found", "{delivery:?}");
    assert!(welcome.contains("*unavailable*"), "{welcome}");
    let row = app
        .store
        .guild_integration(app.guild, "bloxlink")
        .await
        .expect("read")
        .expect("configured");
    assert_eq!(row.recent_failures, 0, "not linked is not a failure");
    assert!(!text(&list(&app).await).contains("Last ticket:"));

    lookup_failures(&app, &mock, &scoped, 20, &roblox_wording("Bloxlink")).await;
    app.finish().await;
}

on_both_backends!(
    rover_uses_a_bearer_key_for_its_host_only_and_the_server_scoped_lookup,
    rover
);
async fn rover(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let mock = Mock::start().await;
    behind(
        &mut app,
        &mock,
        &["registry.rover.link", "users.roblox.com"],
    )
    .await;
    app.set_up(1).await;
    let lookup = format!("/api/guilds/{}/discord-to-roblox/", app.guild);
    mock.on("/v1/users/156", 200, ROBLOX_USER);
    mock.on(
        &lookup,
        200,
        &format!(
            r#"{{"robloxId":156,"cachedUsername":"builderman_old","discordId":"{}","guildId":"{}"}}"#,
            app.member(1).user_id,
            app.guild
        ),
    );
    let done = app
        .enable_plugin("rover", &[("s:api_key", "rover-key")])
        .await;
    assert!(text(&done).contains("is enabled"), "{done}");
    set_welcome(
        &app,
        "%rover.roblox_username% #%rover.roblox_id% was %rover.rover_cached_username% %rover.roblox_profile_url%",
    )
    .await;
    let (welcome, delivery) = open(&app, 1).await;
    assert_eq!(delivery.outcome, "ok", "{delivery:?}");
    assert!(
        welcome.contains(
            "builderman #156 was builderman_old https://www.roblox.com/users/156/profile"
        ),
        "{welcome}"
    );
    let seen = mock.seen();
    let rover = seen
        .iter()
        .find(|s| s.path.starts_with("/api/"))
        .expect("a RoVer lookup");
    assert_eq!(rover.path, format!("{lookup}{}", app.member(1).user_id));
    assert_eq!(rover.header("authorization"), Some("Bearer rover-key"));
    let roblox = seen
        .iter()
        .find(|s| s.path.starts_with("/v1/users/"))
        .expect("a Roblox lookup");
    assert_eq!(roblox.header("authorization"), None);

    // Not linked (RoVer's documented 404).
    mock.on(
        &lookup,
        404,
        r#"{"errorCode":"user_not_found","message":"User not found"}"#,
    );
    let (_, delivery) = open(&app, 2).await;
    assert_eq!(delivery.outcome, "not-found", "{delivery:?}");

    // A key from another server's dashboard (403) is a key problem admins can fix.
    mock.on(
        &lookup,
        403,
        r#"{"errorCode":"forbidden","message":"Forbidden"}"#,
    );
    let (_, delivery) = open(&app, 3).await;
    assert_eq!(delivery.outcome, "denied", "{delivery:?}");
    assert!(
        delivery
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("key"),
        "{delivery:?}"
    );

    lookup_failures(&app, &mock, &lookup, 20, &roblox_wording("RoVer")).await;
    app.finish().await;
}

on_both_backends!(
    the_webhook_posts_only_the_user_id_and_reads_json_paths,
    webhook
);
async fn webhook(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let mock = Mock::start().await;
    behind(&mut app, &mock, &["hooks.example.test"]).await;
    app.plugins.test_resolve.insert(
        "intranet.example.test".into(),
        "10.0.0.7".parse().expect("ip"),
    );
    app.restart_bot().await;
    app.set_up(1).await;

    // The prompt tells the admin the host comes from the URL they enter.
    let prompt = app
        .command(
            &app.admin(),
            app.lobby,
            "integrations",
            json!([{"name": "enable", "type": 1, "options": [{"name": "name", "type": 3, "value": "webhook"}]}]),
        )
        .await;
    assert!(
        text(&prompt).contains("the host of the `url` URL you enter"),
        "{prompt}"
    );

    // Each config mistake is refused when saved, with a message naming it; nothing is stored.
    let good_placeholders = "name = data.user.name\nrank = data.ranks[0]\nlevel = data.level\nbio = data.bio\nnothing = data.missing";
    let mistakes: [(&str, &str, &str, &str); 7] = [
        ("not a url", "POST", good_placeholders, "`url` is not a URL"),
        (
            "http://hooks.example.test/hook",
            "POST",
            good_placeholders,
            "http://",
        ),
        (
            "https://10.1.2.3/hook",
            "POST",
            good_placeholders,
            "private address",
        ),
        (
            "https://localhost/hook",
            "POST",
            good_placeholders,
            "private address",
        ),
        (
            "https://intranet.example.test/hook",
            "POST",
            good_placeholders,
            "private or reserved network",
        ),
        (
            "https://hooks.example.test:8443/hook",
            "POST",
            good_placeholders,
            "port",
        ),
        (
            "https://hooks.example.test/hook",
            "POST",
            "name = data..user",
            "line 1",
        ),
    ];
    for (url, method, placeholders, expect) in mistakes {
        let answer = app
            .enable_plugin(
                "webhook",
                &[
                    ("c:url", url),
                    ("c:method", method),
                    ("c:placeholders", placeholders),
                ],
            )
            .await;
        let t = text(&answer);
        assert!(
            t.contains(expect) && t.contains("Nothing was saved"),
            "{url} / {placeholders}: {expect:?} missing from {t}"
        );
        assert!(app
            .store
            .guild_integration(app.guild, "webhook")
            .await
            .expect("read")
            .is_none());
    }

    // A good one: POST, a secret header, JSON paths into the answer.
    mock.on(
        "/hook",
        200,
        r#"{"data":{"user":{"name":"Ada"},"ranks":["gold","silver"],"level":7,"bio":"@everyone <@1> [click](https://evil.example) **bold**\nnext line"}}"#,
    );
    let done = app
        .enable_plugin(
            "webhook",
            &[
                ("c:url", "https://hooks.example.test/hook"),
                ("c:method", "POST"),
                (
                    "c:headers",
                    "X-Team: support\nAuthorization: Bearer {{secret.token}}",
                ),
                ("c:placeholders", good_placeholders),
                ("s:secrets", "token = hook-s3cret"),
            ],
        )
        .await;
    let t = text(&done);
    assert!(t.contains("is enabled"), "{t}");
    assert!(t.contains("may contact only `hooks.example.test`"), "{t}");
    set_welcome(
        &app,
        "%webhook.name% %webhook.rank% L%webhook.level% bio: %webhook.bio% / %webhook.nothing%",
    )
    .await;
    let member = app.member(1);
    let channel = app.open_via_panel(&member).await;
    let welcome = app.welcome(channel);
    let content = welcome["content"].as_str().unwrap_or_default();
    // What the response tried to inject is inert: the mentions and the masked link are
    // escaped (and only the opener may be pinged, below), the bold is literal, one line.
    assert_eq!(
        content.lines().next().unwrap_or_default(),
        r"Ada gold L7 bio: \@everyone \<\@1\> \[click\](https://evil.example) \*\*bold\*\* next line / *unavailable*",
    );
    let request = app
        .emu
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == format!("/channels/{channel}/messages"))
        .and_then(|r| r.body)
        .expect("the welcome message request");
    let allowed = &request["allowed_mentions"];
    assert!(
        !allowed["parse"].to_string().contains("everyone"),
        "{request}"
    );
    assert_eq!(
        allowed["users"],
        json!([member.user_id.to_string()]),
        "only the opener may be pinged: {request}"
    );

    // The request: exactly the user ID in the body, the configured headers, the secret.
    let hook = mock
        .seen()
        .into_iter()
        .find(|s| s.path == "/hook")
        .expect("a call");
    assert_eq!(hook.method, "POST");
    assert_eq!(
        serde_json::from_str::<Value>(&hook.body).expect("JSON body"),
        json!({"user_id": member.user_id.to_string()})
    );
    assert_eq!(hook.header("x-team"), Some("support"));
    assert_eq!(hook.header("authorization"), Some("Bearer hook-s3cret"));

    // GET puts the ID in the URL, and refuses a URL without the slot.
    let refused = app
        .configure_plugin(
            "webhook",
            &[
                ("c:url", "https://hooks.example.test/lookup"),
                ("c:method", "GET"),
                ("c:placeholders", "name = name"),
            ],
        )
        .await;
    assert!(text(&refused).contains("{user_id}"), "{refused}");
    // An unknown secret in a header is refused too.
    let refused = app
        .configure_plugin(
            "webhook",
            &[
                ("c:url", "https://hooks.example.test/lookup/{user_id}"),
                ("c:method", "GET"),
                ("c:headers", "Authorization: {{secret.nope}}"),
                ("c:placeholders", "name = name"),
            ],
        )
        .await;
    assert!(text(&refused).contains("nope"), "{refused}");
    let saved = app
        .configure_plugin(
            "webhook",
            &[
                (
                    "c:url",
                    "https://hooks.example.test/lookup/{user_id}?full=1",
                ),
                ("c:method", "GET"),
                ("c:placeholders", "name = [0].name"),
            ],
        )
        .await;
    assert!(text(&saved).contains("Saved"), "{saved}");
    mock.on("/lookup/", 200, r#"[{"name":"Grace"}]"#);
    set_welcome(&app, "hi %webhook.name%").await;
    let member = app.member(2);
    let channel = app.open_via_panel(&member).await;
    let content = app.welcome(channel)["content"].to_string();
    assert!(content.starts_with("\"hi Grace"), "{content}");
    let get = mock
        .seen()
        .into_iter()
        .find(|s| s.path.starts_with("/lookup/"))
        .expect("a GET");
    assert_eq!(get.method, "GET");
    assert_eq!(get.path, format!("/lookup/{}?full=1", member.user_id));
    assert!(get.body.is_empty());
    app.finish().await;
}

on_both_backends!(
    the_webhook_reports_each_failure_distinctly,
    webhook_failures
);
async fn webhook_failures(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let mock = Mock::start().await;
    behind(&mut app, &mock, &["hooks.example.test"]).await;
    app.set_up(1).await;
    let done = app
        .enable_plugin(
            "webhook",
            &[
                ("c:url", "https://hooks.example.test/hook"),
                ("c:method", "POST"),
                ("c:placeholders", "name = data.user.name"),
            ],
        )
        .await;
    assert!(text(&done).contains("is enabled"), "{done}");
    set_welcome(&app, "name: %webhook.name%").await;

    // It works first, so each case below is the answer's doing.
    mock.on("/hook", 200, r#"{"data":{"user":{"name":"Ada"}}}"#);
    let (welcome, delivery) = open(&app, 1).await;
    assert!(welcome.starts_with("name: Ada"), "{welcome}");
    assert_eq!(delivery.outcome, "ok", "{delivery:?}");

    // A 404 is "nothing for this member", not a failure the admins are alerted about.
    mock.on("/hook", 404, r#"{"error":"no such user"}"#);
    let (welcome, delivery) = open(&app, 2).await;
    assert!(welcome.contains("*unavailable*"), "{welcome}");
    assert_eq!(delivery.outcome, "not-found", "{delivery:?}");
    let row = app
        .store
        .guild_integration(app.guild, "webhook")
        .await
        .expect("read")
        .expect("enabled");
    assert_eq!(row.recent_failures, 0, "a 404 is not a failure");

    // A redirect is not followed, and the admins are told to use the final address.
    mock.on_with(
        "/hook",
        302,
        "",
        &[("location", "https://elsewhere.example.test/")],
        Duration::ZERO,
    );
    let (_, delivery) = open(&app, 3).await;
    assert_eq!(delivery.outcome, "upstream", "{delivery:?}");
    assert_eq!(
        delivery.detail.as_deref(),
        Some("the service it calls answered with an error"),
        "only Tessera's words are kept: {delivery:?}"
    );
    assert!(
        !mock.seen().iter().any(|s| s.path != "/hook"),
        "nothing but the configured path was called"
    );

    // 401, 429, 5xx, not JSON, too slow; and JSON in which the paths find nothing is the
    // placeholder missing, not an error.
    let wording = Wording {
        service: "webhook",
        wrong_shape: (r#"{"data":{"user":["Ada"]}}"#, "ok"),
    };
    lookup_failures(&app, &mock, "/hook", 20, &wording).await;
    app.finish().await;
}

on_both_backends!(
    a_webhook_secret_goes_only_to_the_host_and_headers_it_was_entered_for,
    webhook_secrets
);
async fn webhook_secrets(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let mock = Mock::start().await;
    behind(
        &mut app,
        &mock,
        &["hooks.example.test", "collector.example.test"],
    )
    .await;
    app.set_up(1).await;
    mock.on("/hook", 200, r#"{"ok":true}"#);
    mock.on("/steal", 200, r#"{"ok":true}"#);
    // The owner sets the webhook up with their token.
    let done = app
        .enable_plugin(
            "webhook",
            &[
                ("c:url", "https://hooks.example.test/hook"),
                ("c:method", "POST"),
                ("c:headers", "Authorization: Bearer {{secret.token}}"),
                ("c:placeholders", "ok = ok"),
                ("s:secrets", "token = owner-s3cret"),
            ],
        )
        .await;
    assert!(text(&done).contains("is enabled"), "{done}");
    let before = app
        .store
        .guild_integration(app.guild, "webhook")
        .await
        .expect("read")
        .expect("row");

    // Another manager re-points the URL to a host of their own and keeps the secret field
    // empty: the secret was entered for the first host, so it is not kept, and they are told.
    let refused = app
        .configure_plugin(
            "webhook",
            &[
                ("c:url", "https://collector.example.test/steal"),
                ("c:method", "POST"),
                (
                    "c:headers",
                    "X: {{secret.token}}\nAuthorization: Bearer {{secret.token}}",
                ),
                ("c:placeholders", "ok = ok"),
                ("s:secrets", ""),
            ],
        )
        .await;
    let t = text(&refused);
    assert!(
        t.contains("hooks.example.test")
            && t.contains("collector.example.test")
            && t.contains("Enter every secret again"),
        "{t}"
    );
    let after = app
        .store
        .guild_integration(app.guild, "webhook")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(after.config, before.config, "nothing was saved");
    assert_eq!(after.sealed_secrets, before.sealed_secrets);

    // Tickets still send the token to the owner's host only.
    app.open_via_panel(&app.member(1)).await;
    let seen = mock.seen();
    assert!(
        !seen.iter().any(|s| s.path.starts_with("/steal")),
        "{seen:?}"
    );
    let hook = seen.iter().find(|s| s.path == "/hook").expect("a call");
    assert_eq!(hook.header("authorization"), Some("Bearer owner-s3cret"));

    // Even on its own host, a secret goes only into the headers the manifest lists for it.
    let saved = app
        .configure_plugin(
            "webhook",
            &[
                ("c:url", "https://hooks.example.test/hook"),
                ("c:method", "POST"),
                ("c:headers", "X-Debug-Echo: {{secret.token}}"),
                ("c:placeholders", "ok = ok"),
            ],
        )
        .await;
    assert!(text(&saved).contains("Saved"), "{saved}");
    let calls = mock.seen().len();
    app.open_via_panel(&app.member(2)).await;
    assert_eq!(
        mock.seen().len(),
        calls,
        "the request was refused before it left"
    );
    assert!(
        !mock
            .seen()
            .iter()
            .any(|s| s.header("x-debug-echo").is_some()),
        "{:?}",
        mock.seen()
    );
    app.finish().await;
}
