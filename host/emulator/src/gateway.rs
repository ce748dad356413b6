//! The websocket gateway at `/gateway`: plain JSON text frames, no compression.
//!
//! HELLO on connect; op 1 → op 11; op 2 IDENTIFY → READY + one GUILD_CREATE per guild;
//! op 6 RESUME → op 9 `false` (the client then identifies afresh). An IDENTIFY asking for
//! MESSAGE_CONTENT after [`crate::Emulator::refuse_message_content`] is answered by closing the
//! websocket with 4014, as Discord does for a privileged intent the app lacks. Dispatches from
//! tests go to every identified session through [`crate::state::Inner::dispatch`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::payloads;
use crate::state::{Session, Shared, MESSAGE_CONTENT};

/// Why a connection ends, and the close frame to send first, if any.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Ending {
    /// For the gateway log.
    pub reason: String,
    /// `(code, reason)` of the close frame.
    pub close: Option<(u16, &'static str)>,
}

/// An ending without a close frame.
fn end(reason: &str) -> Option<Ending> {
    Some(Ending {
        reason: reason.to_owned(),
        close: None,
    })
}

static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

/// `GET /gateway` with an upgrade.
pub async fn upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| serve(shared, socket))
}

async fn serve(shared: Arc<Shared>, mut socket: WebSocket) {
    let conn = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    {
        let mut inner = shared.lock();
        inner.sessions.insert(
            conn,
            Session {
                tx: tx.clone(),
                seq: 0,
                identified: false,
                ready_sent: false,
                intents: 0,
            },
        );
        inner.gateway_log.push(format!("connection {conn} opened"));
    }
    let hello = json!({"op": 10, "d": {"heartbeat_interval": 41250}, "s": null, "t": null});
    let _ = tx.send(hello.to_string());
    let reason = loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(frame) => {
                    if let Err(e) = socket.send(Message::Text(frame.into())).await {
                        break format!("send failed: {e}");
                    }
                }
                None => break "session dropped".to_owned(),
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Some(ending) = on_frame(&shared, conn, text.as_str()) {
                        if let Some((code, why)) = ending.close {
                            let frame = CloseFrame { code, reason: why.into() };
                            let _ = socket.send(Message::Close(Some(frame))).await;
                        }
                        break ending.reason;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    break format!("client closed ({:?})", frame.map(|f| (f.code, f.reason.to_string())));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break format!("receive failed: {e}"),
                None => break "connection ended".to_owned(),
            },
        }
    };
    let mut inner = shared.lock();
    inner.sessions.remove(&conn);
    inner
        .gateway_log
        .push(format!("connection {conn} closed: {reason}"));
}

/// Handles one client frame; `Some(ending)` ends the connection.
pub(crate) fn on_frame(shared: &Shared, conn: u64, text: &str) -> Option<Ending> {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        let mut inner = shared.lock();
        inner.violations.push(format!(
            "gateway: connection {conn} sent non-JSON frame {text:?}"
        ));
        return end("invalid JSON frame");
    };
    let op = frame.get("op").and_then(Value::as_u64);
    let mut inner = shared.lock();
    let Some(session) = inner.sessions.get_mut(&conn) else {
        return end("session vanished");
    };
    let tx = session.tx.clone();
    match op {
        Some(1) => {
            let _ = tx.send(json!({"op": 11}).to_string());
        }
        Some(2) => {
            let intents = frame
                .pointer("/d/intents")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            inner.identify_count += 1;
            inner.identify_intents.push(intents);
            if inner.message_content_refused && intents & MESSAGE_CONTENT != 0 {
                inner.gateway_log.push(format!(
                    "connection {conn} IDENTIFY (intents {intents}) → close 4014: MESSAGE_CONTENT is refused"
                ));
                return Some(Ending {
                    reason: "closed with 4014 Disallowed intent(s).".to_owned(),
                    close: Some((4014, "Disallowed intent(s).")),
                });
            }
            inner.session_intents = Some(intents);
            let Some(session) = inner.sessions.get_mut(&conn) else {
                return end("session vanished");
            };
            session.identified = true;
            session.intents = intents;
            let shard = frame.pointer("/d/shard").cloned();
            let session_id = format!("emulated-session-{conn}-{}", inner.identify_count);
            let guild_ids: Vec<u64> = inner.guilds.keys().copied().collect();
            let ready = payloads::ready(
                payloads::current_user(shared.app_id, &shared.bot_name),
                &guild_ids,
                &session_id,
                &shared.gateway_url(),
                shared.app_id,
                shard,
            );
            let creates: Vec<Value> = guild_ids
                .iter()
                .filter_map(|g| inner.guild_create(shared, *g))
                .collect();
            let Some(session) = inner.sessions.get_mut(&conn) else {
                return end("session vanished");
            };
            let mut send = |t: &str, d: &Value| {
                session.seq += 1;
                let _ = tx.send(json!({"op": 0, "t": t, "s": session.seq, "d": d}).to_string());
            };
            send("READY", &ready);
            for g in &creates {
                send("GUILD_CREATE", g);
            }
            session.ready_sent = true;
            inner.gateway_log.push(format!(
                "connection {conn} IDENTIFY (intents {intents}) → READY + {} GUILD_CREATE",
                creates.len()
            ));
        }
        Some(6) => {
            let _ = tx.send(json!({"op": 9, "d": false, "s": null, "t": null}).to_string());
            inner
                .gateway_log
                .push(format!("connection {conn} RESUME → INVALID_SESSION(false)"));
        }
        Some(3 | 4 | 8 | 31) => {
            // presence / voice state / request guild members / soundboard: accepted, ignored
        }
        other => {
            inner.violations.push(format!(
                "gateway: connection {conn} sent unexpected op {other:?}: {text}"
            ));
        }
    }
    None
}
