//! The emulator against the real serenity 0.12.5 client: REST through `HttpBuilder::proxy`,
//! and a full gateway `Client` that receives injected interactions and answers them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use serenity::all::{
    ButtonStyle, ChannelId, ChannelType, Client, Command, CommandOptionType, Context,
    CreateActionRow, CreateButton, CreateChannel, CreateCommand, CreateCommandOption, CreateEmbed,
    CreateInteractionResponse, CreateInteractionResponseMessage, EditChannel,
    EditInteractionResponse, EditMessage, EventHandler, GatewayIntents, GuildId, Http, HttpBuilder,
    Interaction, PermissionOverwrite, PermissionOverwriteType, Permissions, Ready, RoleId, UserId,
};
use serenity::async_trait;
use tessera_discord_emulator::{Emulator, GuildSpec, MemberSpec};

const WAIT: Duration = Duration::from_secs(10);

fn http(emu: &Emulator) -> Http {
    HttpBuilder::new(emu.bot_token())
        .proxy(emu.base_url())
        .application_id(emu.application_id().into())
        .ratelimiter_disabled(true)
        .build()
}

fn discord_code(e: &serenity::Error) -> Option<(u16, isize)> {
    match e {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) => {
            Some((r.status_code.as_u16(), r.error.code))
        }
        _ => None,
    }
}

#[tokio::test]
async fn rest_round_trip_with_serenity_http() {
    let emu = Emulator::start().await.expect("starts");
    let guild = emu.add_guild(GuildSpec::new("Support", 42));
    let staff = emu.add_role(guild, "Staff", 0);
    let http = http(&emu);

    let me = http.get_current_user().await.expect("current user");
    assert_eq!(me.id.get(), emu.bot_user_id());
    let app = http
        .get_current_application_info()
        .await
        .expect("application");
    assert_eq!(app.id.get(), emu.application_id());

    let commands = Command::set_global_commands(
        &http,
        vec![
            CreateCommand::new("ticket").description("Open a ticket"),
            CreateCommand::new("setup")
                .description("Configure")
                .default_member_permissions(Permissions::MANAGE_GUILD)
                .dm_permission(false)
                .add_option(
                    CreateCommandOption::new(CommandOptionType::Role, "staff_role", "Staff")
                        .required(true),
                ),
            CreateCommand::new("blacklist")
                .description("Blacklist")
                .add_option(
                    CreateCommandOption::new(CommandOptionType::SubCommand, "add", "Add")
                        .add_sub_option(
                            CreateCommandOption::new(CommandOptionType::User, "user", "Who")
                                .required(true),
                        ),
                ),
        ],
    )
    .await
    .expect("bulk overwrite");
    assert_eq!(commands.len(), 3);
    assert_eq!(emu.global_commands().len(), 3);

    let g = GuildId::new(guild);
    let category = g
        .create_channel(
            &http,
            CreateChannel::new("Tickets").kind(ChannelType::Category),
        )
        .await
        .expect("category");
    let everyone = PermissionOverwrite {
        allow: Permissions::empty(),
        deny: Permissions::VIEW_CHANNEL,
        kind: PermissionOverwriteType::Role(RoleId::new(guild)),
    };
    let opener = PermissionOverwrite {
        allow: Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES,
        deny: Permissions::empty(),
        kind: PermissionOverwriteType::Member(UserId::new(7)),
    };
    let ticket = g
        .create_channel(
            &http,
            CreateChannel::new("ticket-0001")
                .kind(ChannelType::Text)
                .category(category.id)
                .topic("Ticket of <@7>")
                .permissions(vec![everyone, opener])
                .audit_log_reason("ticket opened"),
        )
        .await
        .expect("ticket channel");
    assert_eq!(ticket.parent_id, Some(category.id));
    assert_eq!(ticket.permission_overwrites.len(), 2);
    let stored = emu.channel(ticket.id.get()).expect("stored");
    assert_eq!(stored["permission_overwrites"][0]["deny"], "1024");
    let create = emu
        .wait_for_request(WAIT, |r| {
            r.method == "POST"
                && r.path == format!("/guilds/{guild}/channels")
                && r.status == 201
                && r.body.as_ref().is_some_and(|b| b["name"] == "ticket-0001")
        })
        .await
        .expect("recorded");
    assert_eq!(create.reason.as_deref(), Some("ticket opened"));

    let msg = ticket
        .id
        .send_message(
            &http,
            serenity::all::CreateMessage::new()
                .content("Welcome <@7>")
                .embed(
                    CreateEmbed::new()
                        .title("Ticket")
                        .description("Staff will be with you")
                        .colour(0x5865F2),
                )
                .components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                    "tessera:close",
                )
                .label("Close")
                .style(ButtonStyle::Danger)])]),
        )
        .await
        .expect("message");
    assert_eq!(msg.author.id.get(), emu.bot_user_id());
    assert_eq!(msg.components.len(), 1);
    assert_eq!(msg.embeds.len(), 1);
    let mut msg = msg;
    msg.edit(&http, EditMessage::new().content("Welcome back"))
        .await
        .expect("edit");
    assert_eq!(
        emu.messages_in(ticket.id.get())[0]["content"],
        "Welcome back"
    );
    let fetched = ticket.id.message(&http, msg.id).await.expect("get message");
    assert_eq!(fetched.content, "Welcome back");

    ticket
        .id
        .create_permission(
            &http,
            PermissionOverwrite {
                allow: Permissions::VIEW_CHANNEL,
                deny: Permissions::empty(),
                kind: PermissionOverwriteType::Role(RoleId::new(staff)),
            },
        )
        .await
        .expect("overwrite");
    let stored = emu.channel(ticket.id.get()).expect("stored");
    assert_eq!(
        stored["permission_overwrites"].as_array().map(Vec::len),
        Some(3)
    );
    ticket
        .id
        .delete_permission(&http, PermissionOverwriteType::Member(UserId::new(7)))
        .await
        .expect("delete overwrite");
    let edited = ticket
        .id
        .edit(&http, EditChannel::new().name("closed-0001"))
        .await
        .expect("edit channel");
    assert_eq!(edited.name, "closed-0001");
    assert_eq!(edited.permission_overwrites.len(), 2);
    assert_eq!(g.channels(&http).await.expect("list").len(), 2);

    ticket.id.delete(&http).await.expect("delete channel");
    assert!(emu.channel(ticket.id.get()).is_none());
    let gone = ticket.id.to_channel(&http).await.expect_err("deleted");
    assert_eq!(discord_code(&gone), Some((404, 10003)));
    let nowhere = ChannelId::new(12345)
        .say(&http, "hi")
        .await
        .expect_err("no channel");
    assert_eq!(discord_code(&nowhere), Some((404, 10003)));

    assert!(emu.violations().is_empty(), "{:#?}", emu.violations());
}

#[tokio::test]
async fn failure_injection_and_violations() {
    let emu = Emulator::start().await.expect("starts");
    let guild = emu.add_guild(GuildSpec::default());
    let chan = ChannelId::new(emu.add_channel(guild, "general", 0, None));
    let http = http(&emu);

    emu.fail("POST", "/channels/*/messages", 403, 1);
    let e = chan.say(&http, "one").await.expect_err("injected 403");
    assert_eq!(discord_code(&e), Some((403, 50013)));
    chan.say(&http, "two").await.expect("second succeeds");
    emu.fail("POST", "/channels/*/messages", 429, 1);
    let e = chan.say(&http, "three").await.expect_err("injected 429");
    assert_eq!(discord_code(&e).map(|c| c.0), Some(429));
    emu.fail("GET", "/channels/*", 500, 1);
    assert!(chan.to_channel(&http).await.is_err());
    emu.fail("GET", "/channels/*", 404, 1);
    assert_eq!(
        discord_code(&chan.to_channel(&http).await.expect_err("404")),
        Some((404, 10003))
    );
    assert_eq!(emu.messages_in(chan.get()).len(), 1);
    assert!(emu.violations().is_empty(), "{:#?}", emu.violations());

    // no token → 401
    let anonymous = HttpBuilder::new("wrong")
        .proxy(emu.base_url())
        .ratelimiter_disabled(true)
        .build();
    assert_eq!(
        discord_code(&chan.say(&anonymous, "x").await.expect_err("401")).map(|c| c.0),
        Some(401)
    );

    // an invalid body is answered like Discord (50035) and recorded as a violation
    let e = http
        .send_message(chan, vec![], &json!({"content": 5}))
        .await
        .expect_err("invalid body");
    assert_eq!(discord_code(&e), Some((400, 50035)));
    // an unemulated route is a violation too
    let _ = http.get_guild_webhooks(GuildId::new(guild)).await;
    let v = emu.violations();
    assert!(v.iter().any(|v| v.contains("$.content")), "{v:#?}");
    assert!(
        v.iter()
            .any(|v| v.contains("route not emulated: GET /guilds/")),
        "{v:#?}"
    );
}

struct Handler {
    ready: Arc<AtomicUsize>,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _: Context, _: Ready) {
        self.ready.fetch_add(1, Ordering::SeqCst);
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(cmd) => {
                let text = format!("pong from {}", cmd.data.name);
                let r = CreateInteractionResponse::Message(
                    CreateInteractionResponseMessage::new()
                        .content(text)
                        .ephemeral(true),
                );
                cmd.create_response(&ctx.http, r).await.expect("respond");
            }
            Interaction::Component(c) => {
                c.defer_ephemeral(&ctx.http).await.expect("defer");
                c.edit_response(&ctx.http, EditInteractionResponse::new().content("closing"))
                    .await
                    .expect("edit original");
            }
            _ => {}
        }
    }
}

async fn start_bot(emu: &Emulator, ready: Arc<AtomicUsize>) -> Client {
    serenity::client::ClientBuilder::new_with_http(http(emu), GatewayIntents::GUILDS)
        .event_handler(Handler { ready })
        .await
        .expect("client")
}

#[tokio::test]
async fn full_client_receives_interactions_and_restarts() {
    let emu = Emulator::start().await.expect("starts");
    let guild = emu.add_guild(GuildSpec::default());
    let chan = emu.add_channel(guild, "panel", 0, None);
    let ready = Arc::new(AtomicUsize::new(0));

    let http = http(&emu);
    let mut client = start_bot(&emu, ready.clone()).await;
    let shards = client.shard_manager.clone();
    let run = tokio::spawn(async move { client.start().await });

    emu.wait_for_ready(WAIT).await.expect("bot identified");
    assert_eq!(emu.identify_count(), 1);

    let alice = MemberSpec::new(7, "alice");
    let i = emu
        .send_command(guild, chan, &alice, "ping", json!([]))
        .await;
    let reply = emu.wait_for_reply(&i, WAIT).await.expect("reply");
    assert_eq!(reply["content"], "pong from ping");
    assert_eq!(reply["flags"], 64);
    assert_eq!(emu.interaction_callback(&i).expect("callback")["type"], 4);

    // a second callback for the same interaction is refused like Discord does
    let again = http
        .create_interaction_response(
            i.id.into(),
            &i.token,
            &CreateInteractionResponse::Acknowledge,
            vec![],
        )
        .await
        .expect_err("already acknowledged");
    assert_eq!(discord_code(&again), Some((400, 40060)));

    // a panel with a button; the click is deferred then answered by editing @original
    let panel = ChannelId::new(chan)
        .send_message(
            &http,
            serenity::all::CreateMessage::new()
                .content("Need help?")
                .components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                    "open",
                )
                .label("Open")])]),
        )
        .await
        .expect("panel");
    let click = emu
        .click_button(guild, chan, panel.id.get(), &alice, "open")
        .await;
    let reply = emu
        .wait_for_reply(&click, WAIT)
        .await
        .expect("deferred reply");
    assert_eq!(reply["content"], "closing");
    assert_eq!(reply["flags"].as_u64().map(|f| f & 64), Some(64));

    // restart: the old shard goes away, a new client identifies again, state is kept
    shards.shutdown_all().await;
    let _ = tokio::time::timeout(WAIT, run).await;
    let mut client = start_bot(&emu, ready.clone()).await;
    let shards = client.shard_manager.clone();
    let run = tokio::spawn(async move { client.start().await });
    let deadline = std::time::Instant::now() + WAIT;
    while emu.identify_count() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(emu.identify_count(), 2);
    emu.wait_for_ready(WAIT).await.expect("ready again");
    let i = emu
        .send_command(guild, chan, &alice, "again", json!([]))
        .await;
    assert_eq!(
        emu.wait_for_reply(&i, WAIT).await.expect("reply")["content"],
        "pong from again"
    );
    assert_eq!(ready.load(Ordering::SeqCst), 2);
    shards.shutdown_all().await;
    let _ = tokio::time::timeout(WAIT, run).await;

    assert!(emu.violations().is_empty(), "{:#?}", emu.violations());
}
