//! Proves the gateway payloads are complete: every frame the emulator sends is deserialized
//! with serenity 0.12.5's own types (a dispatch serenity cannot parse would be dropped silently).

use serde_json::{json, Value};
use serenity::model::application::{ComponentInteractionDataKind, Interaction};
use serenity::model::event::{Event, GatewayEvent};
use serenity::model::gateway::Ready;
use serenity::model::guild::Guild;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use crate::state::Session;
use crate::{gateway, payloads, Emulator, GuildSpec, MemberSpec};

mod transcripts;

const FAKE_CONN: u64 = u64::MAX;

/// Registers an in-process session and identifies it; returns its outgoing frames.
fn identify(emu: &Emulator) -> UnboundedReceiver<String> {
    identify_as(emu, FAKE_CONN, 513)
}

/// Registers in-process session `conn` and identifies it with `intents`; returns its outgoing
/// frames.
fn identify_as(emu: &Emulator, conn: u64, intents: u64) -> UnboundedReceiver<String> {
    let (tx, rx) = unbounded_channel();
    emu.shared.lock().sessions.insert(
        conn,
        Session {
            tx,
            seq: 0,
            identified: false,
            ready_sent: false,
            intents: 0,
        },
    );
    let identify = json!({"op": 2, "d": {"token": emu.bot_token(), "intents": intents,
        "properties": {"os": "linux", "browser": "serenity", "device": "serenity"}, "shard": [0, 1]}});
    assert!(gateway::on_frame(&emu.shared, conn, &identify.to_string()).is_none());
    rx
}

fn frames(rx: &mut UnboundedReceiver<String>) -> Vec<Value> {
    let mut out = Vec::new();
    while let Ok(f) = rx.try_recv() {
        out.push(serde_json::from_str(&f).expect("frames are JSON"));
    }
    out
}

/// Parses a dispatch frame the way serenity's shard does and insists it is not `Unknown`.
fn serenity_event(frame: &Value) -> Event {
    match serde_json::from_value::<GatewayEvent>(frame.clone()).expect("a gateway event") {
        GatewayEvent::Dispatch(_, Event::Unknown(u)) => {
            panic!("serenity would drop this {:?} as Unknown: {frame}", u.kind)
        }
        GatewayEvent::Dispatch(_, e) => e,
        other => panic!("not a dispatch: {other:?}"),
    }
}

#[tokio::test]
async fn ready_and_guild_create_deserialize_with_serenity() {
    let emu = Emulator::start().await.expect("starts");
    let guild = emu.add_guild(GuildSpec::new("Support", 42));
    let cat = emu.add_channel(guild, "Tickets", 4, None);
    let text = emu.add_channel(guild, "open-here", 0, Some(cat));
    let role = emu.add_role(guild, "Staff", 0x2000);
    let mut rx = identify(&emu);
    let frames = frames(&mut rx);
    assert_eq!(frames.len(), 2, "READY + one GUILD_CREATE: {frames:?}");
    assert_eq!(frames[0]["t"], "READY");
    assert_eq!(frames[0]["s"], 1);
    let ready: Ready = serde_json::from_value(frames[0]["d"].clone()).expect("serenity Ready");
    assert_eq!(ready.user.id.get(), emu.bot_user_id());
    assert!(ready.user.bot);
    assert_eq!(ready.guilds.len(), 1);
    assert!(matches!(serenity_event(&frames[0]), Event::Ready(_)));

    assert_eq!(frames[1]["t"], "GUILD_CREATE");
    assert_eq!(frames[1]["s"], 2);
    let g: Guild = serde_json::from_value(frames[1]["d"].clone()).expect("serenity Guild");
    assert_eq!(g.id.get(), guild);
    assert_eq!(g.owner_id.get(), 42);
    assert!(
        g.roles.contains_key(&guild.into()),
        "@everyone has the guild's id"
    );
    assert!(g.roles.contains_key(&role.into()));
    assert_eq!(g.channels.len(), 2);
    assert_eq!(
        g.channels[&text.into()].parent_id.map(|p| p.get()),
        Some(cat)
    );
    assert!(g.members.contains_key(&emu.bot_user_id().into()));
    assert!(matches!(serenity_event(&frames[1]), Event::GuildCreate(_)));
    assert_eq!(emu.identify_count(), 1);
    emu.wait_for_ready(std::time::Duration::from_millis(100))
        .await
        .expect("ready");
}

#[tokio::test]
async fn later_events_deserialize_with_serenity() {
    let emu = Emulator::start().await.expect("starts");
    let mut rx = identify(&emu);
    let _ = frames(&mut rx);
    let guild = emu.add_guild(GuildSpec::default());
    emu.add_channel(guild, "general", 0, None);
    emu.add_role(guild, "Staff", 0);
    emu.remove_guild(guild);
    let frames = frames(&mut rx);
    let kinds: Vec<&str> = frames.iter().filter_map(|f| f["t"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "GUILD_CREATE",
            "CHANNEL_CREATE",
            "GUILD_ROLE_CREATE",
            "GUILD_DELETE"
        ]
    );
    assert!(matches!(serenity_event(&frames[0]), Event::GuildCreate(_)));
    assert!(matches!(
        serenity_event(&frames[1]),
        Event::ChannelCreate(_)
    ));
    assert!(matches!(
        serenity_event(&frames[2]),
        Event::GuildRoleCreate(_)
    ));
    assert!(matches!(serenity_event(&frames[3]), Event::GuildDelete(_)));
    // sequence numbers keep increasing after READY (1) and the first GUILD_CREATE
    assert_eq!(frames[3]["s"], 5);
}

#[tokio::test]
async fn command_interaction_deserializes_with_resolved_options() {
    let emu = Emulator::start().await.expect("starts");
    let guild = emu.add_guild(GuildSpec::default());
    let chan = emu.add_channel(guild, "general", 0, None);
    let staff = emu.add_role(guild, "Staff", 0);
    let mut rx = identify(&emu);
    let _ = frames(&mut rx);
    let admin = MemberSpec::new(5, "admin")
        .with_roles([staff])
        .with_permissions(0x8);
    let other = MemberSpec::new(6, "bob");
    // bob becomes known to the emulator by using a command first
    emu.send_command(guild, chan, &other, "help", json!([]))
        .await;
    let i = emu
        .send_command(
            guild,
            chan,
            &admin,
            "setup",
            json!([
                {"name": "staff_role", "type": 8, "value": staff.to_string()},
                {"name": "category", "type": 7, "value": chan.to_string()},
                {"name": "blacklist", "type": 1, "options": [{"name": "user", "type": 6, "value": "6"}]},
            ]),
        )
        .await;
    let frames = frames(&mut rx);
    assert_eq!(frames.len(), 2);
    let d = frames[1]["d"].clone();
    let Interaction::Command(cmd) =
        serde_json::from_value::<Interaction>(d).expect("serenity Interaction")
    else {
        panic!("not a command");
    };
    assert!(matches!(
        serenity_event(&frames[1]),
        Event::InteractionCreate(_)
    ));
    assert_eq!(cmd.id.get(), i.id);
    assert_eq!(cmd.token, i.token);
    assert_eq!(cmd.data.name, "setup");
    assert_eq!(cmd.guild_id.map(|g| g.get()), Some(guild));
    let member = cmd.member.as_ref().expect("member");
    assert_eq!(member.user.id.get(), 5);
    assert_eq!(member.permissions.map(|p| p.bits()), Some(0x8));
    assert!(cmd.data.resolved.roles.contains_key(&staff.into()));
    assert!(cmd.data.resolved.channels.contains_key(&chan.into()));
    assert_eq!(cmd.data.resolved.users[&6.into()].name, "bob");
    assert!(cmd.data.resolved.members.contains_key(&6.into()));
    // serenity's resolved option view works
    let opts = cmd.data.options();
    assert_eq!(opts.len(), 3);
}

#[tokio::test]
async fn dm_command_and_component_interactions_deserialize() {
    let emu = Emulator::start().await.expect("starts");
    let guild = emu.add_guild(GuildSpec::default());
    let chan = emu.add_channel(guild, "panel", 0, None);
    let mut rx = identify(&emu);
    let _ = frames(&mut rx);

    let user = MemberSpec::new(77, "carol");
    emu.send_dm_command(&user, "ticket", json!([])).await;
    // a stored panel message with a button
    let mid = emu.shared.ids.next();
    let body = json!({"content": "Need help?", "embeds": [{"title": "Support", "color": 3447003}],
        "components": [{"type": 1, "components": [{"type": 2, "style": 1, "label": "Open", "custom_id": "open"}]}]});
    let msg = payloads::message(payloads::NewMessage {
        id: mid,
        channel_id: chan,
        author: emu.shared.bot_user(),
        body: &body,
        kind: 0,
        webhook_id: None,
        application_id: None,
        timestamp: crate::ids::now_iso(),
    });
    emu.shared.lock().messages.insert(mid, msg);
    emu.click_button(guild, chan, mid, &user, "open").await;

    let frames = frames(&mut rx);
    assert_eq!(frames.len(), 2);
    let Interaction::Command(dm) =
        serde_json::from_value::<Interaction>(frames[0]["d"].clone()).expect("DM command")
    else {
        panic!("not a command");
    };
    assert!(dm.guild_id.is_none());
    assert!(dm.member.is_none());
    assert_eq!(dm.user.id.get(), 77);
    let Interaction::Component(c) =
        serde_json::from_value::<Interaction>(frames[1]["d"].clone()).expect("component")
    else {
        panic!("not a component");
    };
    assert!(matches!(
        serenity_event(&frames[1]),
        Event::InteractionCreate(_)
    ));
    assert_eq!(c.data.custom_id, "open");
    assert!(matches!(c.data.kind, ComponentInteractionDataKind::Button));
    assert_eq!(c.message.id.get(), mid);
    assert_eq!(c.message.content, "Need help?");
    assert_eq!(c.message.components.len(), 1);
    assert_eq!(c.member.as_ref().map(|m| m.user.id.get()), Some(77));
}

#[tokio::test]
async fn emulator_responses_match_the_spec_schemas() {
    // the objects the emulator answers with validate against the spec's response schemas
    let spec = crate::openapi::spec().expect("spec");
    let check = |schema: &str, v: &Value| {
        let errors = spec.validate(
            spec.schema(schema).expect("schema"),
            v,
            crate::openapi::Mode::Response,
        );
        assert!(errors.is_empty(), "{schema}: {errors:?}\n{v}");
    };
    check("UserPIIResponse", &payloads::current_user(1, "bot"));
    check(
        "PrivateApplicationResponse",
        &payloads::application(1, "bot", 2),
    );
    check(
        "GuildChannelResponse",
        &payloads::channel(3, 4, "x", 0, Some(5), 0),
    );
    check(
        "GuildChannelResponse",
        &payloads::channel(3, 4, "x", 4, None, 0),
    );
}

#[tokio::test]
async fn message_responses_validate_and_broken_ones_do_not() {
    let spec = crate::openapi::spec().expect("spec");
    let schema = spec.schema("MessageResponse").expect("schema");
    let body = json!({"content": "hi", "embeds": [{"title": "t"}],
        "components": [{"type": 1, "components": [
            {"type": 2, "style": 4, "label": "Close", "custom_id": "close", "emoji": null},
            {"type": 2, "style": 5, "label": "Docs", "url": "https://example.com"}]}]});
    let mut msg = payloads::message(payloads::NewMessage {
        id: 10,
        channel_id: 11,
        author: payloads::user(12, "bot", true),
        body: &body,
        kind: 0,
        webhook_id: None,
        application_id: None,
        timestamp: crate::ids::now_iso(),
    });
    let errors = spec.validate(schema, &msg, crate::openapi::Mode::Response);
    assert!(errors.is_empty(), "{errors:?}");
    let _: serenity::model::channel::Message =
        serde_json::from_value(msg.clone()).expect("serenity Message");
    msg.as_object_mut().expect("object").remove("author");
    msg["components"][0]["components"][0]["style"] = json!("red");
    let errors = spec.validate(schema, &msg, crate::openapi::Mode::Response);
    let text = format!("{errors:?}");
    assert!(text.contains("author"), "{text}");
    assert!(text.contains("$.components[0]"), "{text}");
}

#[tokio::test]
async fn commands_use_the_registered_id() {
    let emu = Emulator::start().await.expect("starts");
    let guild = emu.add_guild(GuildSpec::default());
    let chan = emu.add_channel(guild, "general", 0, None);
    emu.shared
        .lock()
        .commands
        .push(json!({"id": "123456789", "name": "ticket", "type": 1}));
    let mut rx = identify(&emu);
    let _ = frames(&mut rx);
    emu.send_command(guild, chan, &MemberSpec::new(1, "a"), "ticket", json!([]))
        .await;
    let f = frames(&mut rx);
    assert_eq!(f[0]["d"]["data"]["id"], "123456789");
}
