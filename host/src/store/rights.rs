//! What is stored about one person across every server, for their export (PRIVACY.md #10)
//! and their deletion (#11), and the deletions still to be applied to tickets that were open.

use std::collections::BTreeMap;

use sqlx::Row;

use super::integrations::ConsentRecord;
use super::tickets::{ticket_columns, ticket_from_row, Ticket, TicketStatus};
use super::{on_db, sf, unsf, Store, StoreError};

/// A ticket someone was added to (besides opening it or being staff).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The server.
    pub guild_id: u64,
    /// The ticket's number in it.
    pub ticket_number: i64,
    /// Open or closed.
    pub status: TicketStatus,
    /// Who added them.
    pub added_by: u64,
    /// Unix ms.
    pub added_at: i64,
}

/// One audit entry that names a person: they acted, or they were added or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketEvent {
    /// The server.
    pub guild_id: u64,
    /// The ticket's number, if the ticket is still stored.
    pub ticket_number: Option<i64>,
    /// `opened`, `claimed`, `unclaimed`, `member_added`, `member_removed`, `closed`.
    pub action: String,
    /// Who acted.
    pub actor_id: u64,
    /// The bot-written detail: the subject of `opened`, the reason of `closed`, the member of
    /// `member_added` / `member_removed`.
    pub detail: Option<String>,
    /// Unix ms.
    pub at: i64,
}

/// A server's blacklist entry about a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlacklistedIn {
    /// The server.
    pub guild_id: u64,
    /// Why, as the server's staff wrote it.
    pub reason: Option<String>,
    /// Unix ms.
    pub added_at: i64,
}

/// Something else a person did as a server's admin that Tessera keeps with their user ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRecord {
    /// `panel`, `integration_settings`, `plugin_upload`, `pending_enable`, `pending_upload`.
    pub kind: &'static str,
    /// The server.
    pub guild_id: u64,
    /// What it is about: the panel's channel, the plugin, the upload's sha256.
    pub what: String,
    /// Unix ms: when it was done (for pending confirmations: when they expire).
    pub at: i64,
}

/// Every row that holds a person's user ID, except deliveries (see
/// [`Store::deliveries_for_user`]) and transcripts (see [`Store::transcripts_with_person`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonRecords {
    /// Tickets they opened, in every server, oldest first.
    pub tickets_opened: Vec<Ticket>,
    /// Tickets they were added to.
    pub memberships: Vec<Membership>,
    /// Audit entries naming them.
    pub events: Vec<TicketEvent>,
    /// Blacklist entries about them.
    pub blacklisted: Vec<BlacklistedIn>,
    /// Integration consent records they made as an admin.
    pub consents: Vec<ConsentRecord>,
    /// Panels, integration settings, uploads and confirmations they made as an admin.
    pub admin: Vec<AdminRecord>,
    /// When they asked for their data to be deleted, while that still applies to open tickets.
    pub erased_at: Option<i64>,
}

/// What [`Store::erase_person`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    /// Delivery records deleted.
    pub deliveries: u64,
    /// Subjects removed from closed tickets they opened (an open ticket's goes when it
    /// closes, see [`Store::close_ticket`]).
    pub subjects: u64,
    /// Close reasons removed (those they wrote closing their own tickets).
    pub close_reasons: u64,
    /// Confirmation prompts awaiting their click, deleted.
    pub pending: u64,
}

impl Store {
    /// Every row that names `user_id`, in every server.
    pub async fn records_about(&self, user_id: u64) -> Result<PersonRecords, StoreError> {
        let u = sf(user_id);
        let opened_sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE opener_id = $1 ORDER BY opened_at, id"
        );
        let mut out = on_db!(self, pool => {
            let mut out = PersonRecords::default();
            for row in sqlx::query(opened_sql).bind(u).fetch_all(pool).await? {
                out.tickets_opened.push(ticket_from_row(&row)?);
            }
            let rows = sqlx::query(
                "SELECT t.guild_id, t.number, t.status, m.added_by, m.added_at FROM ticket_members m \
                 JOIN tickets t ON t.id = m.ticket_id WHERE m.user_id = $1 ORDER BY m.added_at, t.id",
            )
            .bind(u)
            .fetch_all(pool)
            .await?;
            for row in rows {
                let status: String = row.try_get("status")?;
                out.memberships.push(Membership {
                    guild_id: unsf(row.try_get("guild_id")?),
                    ticket_number: row.try_get("number")?,
                    status: if status == "open" { TicketStatus::Open } else { TicketStatus::Closed },
                    added_by: unsf(row.try_get("added_by")?),
                    added_at: row.try_get("added_at")?,
                });
            }
            // Adding and removing members is the one audit detail that is a user ID.
            let rows = sqlx::query(
                "SELECT a.guild_id, t.number, a.action, a.actor_id, a.detail, a.at FROM audit_log a \
                 LEFT JOIN tickets t ON t.id = a.ticket_id \
                 WHERE a.actor_id = $1 OR (a.action IN ('member_added', 'member_removed') AND a.detail = $2) \
                 ORDER BY a.at, a.id",
            )
            .bind(u)
            .bind(user_id.to_string())
            .fetch_all(pool)
            .await?;
            for row in rows {
                out.events.push(TicketEvent {
                    guild_id: unsf(row.try_get("guild_id")?),
                    ticket_number: row.try_get("number")?,
                    action: row.try_get("action")?,
                    actor_id: unsf(row.try_get("actor_id")?),
                    detail: row.try_get("detail")?,
                    at: row.try_get("at")?,
                });
            }
            let rows = sqlx::query("SELECT guild_id, reason, added_at FROM blacklist WHERE user_id = $1 ORDER BY added_at, guild_id")
                .bind(u)
                .fetch_all(pool)
                .await?;
            for row in rows {
                out.blacklisted.push(BlacklistedIn {
                    guild_id: unsf(row.try_get("guild_id")?),
                    reason: row.try_get("reason")?,
                    added_at: row.try_get("added_at")?,
                });
            }
            let mut admin = Vec::new();
            for (kind, sql) in [
                ("panel", "SELECT guild_id, CAST(channel_id AS TEXT) AS what, created_at AS at FROM panels WHERE created_by = $1"),
                ("integration_settings", "SELECT guild_id, plugin_id AS what, updated_at AS at FROM guild_integrations WHERE updated_by = $1"),
                ("plugin_upload", "SELECT guild_id, sha256 AS what, uploaded_at AS at FROM guild_plugins WHERE uploaded_by = $1"),
                ("pending_enable", "SELECT guild_id, plugin_id AS what, expires_at AS at FROM pending_enables WHERE user_id = $1"),
                ("pending_upload", "SELECT guild_id, sha256 AS what, expires_at AS at FROM pending_uploads WHERE uploaded_by = $1"),
            ] {
                for row in sqlx::query(sql).bind(u).fetch_all(pool).await? {
                    admin.push(AdminRecord {
                        kind,
                        guild_id: unsf(row.try_get("guild_id")?),
                        what: row.try_get("what")?,
                        at: row.try_get("at")?,
                    });
                }
            }
            admin.sort_by_key(|r| r.at);
            out.admin = admin;
            out.erased_at = sqlx::query_scalar("SELECT erased_at FROM erasures WHERE user_id = $1")
                .bind(u)
                .fetch_optional(pool)
                .await?;
            out
        });
        out.consents = self.consents_by(user_id).await?;
        Ok(out)
    }

    /// Deletes or blanks what is only about `user_id` (their deletion, at `now_ms`), in one
    /// transaction: the delivery records of their ID, the subjects of closed tickets they
    /// opened, the close reasons they wrote closing their own tickets (and the same texts in the
    /// audit log), and confirmation prompts awaiting their click. It also records the deletion,
    /// so that their messages are left out of the transcripts of tickets still open (see
    /// [`Store::erasures_among`]) and the subjects of their open tickets go when those close:
    /// until then the ticket's welcome message shows it in the channel, and the transcript made
    /// at close needs it to remove it from there. Transcripts themselves are rewritten by the
    /// caller.
    pub async fn erase_person(&self, user_id: u64, now_ms: i64) -> Result<Erased, StoreError> {
        let u = sf(user_id);
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            // First, so a ticket closing from now on already leaves their messages out.
            sqlx::query(
                "INSERT INTO erasures (user_id, erased_at) VALUES ($1, $2) \
                 ON CONFLICT (user_id) DO UPDATE SET erased_at = excluded.erased_at",
            )
            .bind(u)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            let deliveries = sqlx::query("DELETE FROM integration_deliveries WHERE user_id = $1")
                .bind(u)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let subjects = sqlx::query("UPDATE tickets SET subject = NULL WHERE opener_id = $1 AND status = 'closed' AND subject IS NOT NULL")
                .bind(u)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let close_reasons = sqlx::query(
                "UPDATE tickets SET close_reason = NULL WHERE opener_id = $1 AND closed_by = $1 AND close_reason IS NOT NULL",
            )
            .bind(u)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // The audit log repeats those two texts as the detail of `opened` and `closed`.
            sqlx::query(
                "UPDATE audit_log SET detail = NULL WHERE actor_id = $1 AND action IN ('opened', 'closed') \
                 AND ticket_id IN (SELECT id FROM tickets WHERE opener_id = $1 AND status = 'closed')",
            )
            .bind(u)
            .execute(&mut *tx)
            .await?;
            let mut pending = 0;
            for sql in [
                "DELETE FROM pending_enables WHERE user_id = $1",
                "DELETE FROM pending_uploads WHERE uploaded_by = $1",
            ] {
                pending += sqlx::query(sql).bind(u).execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            Ok(Erased {
                deliveries,
                subjects,
                close_reasons,
                pending,
            })
        })
    }

    /// Of `user_ids`, those who asked for their data to be deleted, with when (unix ms).
    pub async fn erasures_among(&self, user_ids: &[u64]) -> Result<BTreeMap<u64, i64>, StoreError> {
        let mut out = BTreeMap::new();
        on_db!(self, pool => {
            for id in user_ids {
                let at: Option<i64> = sqlx::query_scalar("SELECT erased_at FROM erasures WHERE user_id = $1")
                    .bind(sf(*id))
                    .fetch_optional(pool)
                    .await?;
                if let Some(at) = at {
                    out.insert(*id, at);
                }
            }
        });
        Ok(out)
    }

    /// Deletes the records of deletions that no open ticket needs any more (every ticket open
    /// when it was asked for has closed since); how many.
    pub async fn purge_erasures(&self) -> Result<u64, StoreError> {
        on_db!(self, pool => {
            let done = sqlx::query(
                "DELETE FROM erasures WHERE NOT EXISTS \
                 (SELECT 1 FROM tickets WHERE status = 'open' AND opened_at <= erasures.erased_at)",
            )
            .execute(pool)
            .await?;
            Ok(done.rows_affected())
        })
    }
}
