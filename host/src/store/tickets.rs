//! Tickets, their members and their audit trail.

use sqlx::Row;

use super::guilds::settings_from_row;
use super::{now_ms, on_db, sf, unsf, GuildSettings, Store, StoreError};

/// Whether a ticket is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketStatus {
    /// Open: its channel exists (or is being created).
    Open,
    /// Closed: the closure is recorded; the channel is gone or going.
    Closed,
}

/// One ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Database id.
    pub id: i64,
    /// The server.
    pub guild_id: u64,
    /// Per-server number, never reused.
    pub number: i64,
    /// The ticket's channel; `None` only while it is being created.
    pub channel_id: Option<u64>,
    /// Who opened it.
    pub opener_id: u64,
    /// The panel it was opened from, if any.
    pub panel_id: Option<i64>,
    /// The subject the opener gave with `/open`.
    pub subject: Option<String>,
    /// Open or closed.
    pub status: TicketStatus,
    /// The staff member who claimed it.
    pub claimed_by: Option<u64>,
    /// Unix ms.
    pub opened_at: i64,
    /// Unix ms.
    pub closed_at: Option<i64>,
    /// Who closed it.
    pub closed_by: Option<u64>,
    /// Why, as the closer wrote it.
    pub close_reason: Option<String>,
}

impl Ticket {
    /// The channel name: `ticket-0001` (at least four digits).
    pub fn channel_name(&self) -> String {
        format!("ticket-{:04}", self.number)
    }
}

/// A request to open a ticket.
#[derive(Debug, Clone)]
pub struct NewTicket {
    /// The server.
    pub guild_id: u64,
    /// The member opening it.
    pub opener_id: u64,
    /// The panel clicked, if any.
    pub panel_id: Option<i64>,
    /// The subject given with `/open`.
    pub subject: Option<String>,
    /// Seconds between two opens by one member unless the server set its own.
    pub default_cooldown_secs: u32,
    /// The member's roles (a blacklisted role refuses them).
    pub roles: Vec<u64>,
}

/// Why a ticket was not opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenRefusal {
    /// `/setup` has not been run in this server.
    #[error("server not set up")]
    NotSetUp,
    /// The member is on the server's blacklist.
    #[error("member is blacklisted")]
    Blacklisted,
    /// The member already has `max_open` tickets open; the oldest is given.
    #[error("open-ticket limit reached")]
    LimitReached {
        /// The member's oldest open ticket.
        open: Box<Ticket>,
        /// The server's limit.
        max_open: u8,
    },
    /// The member opened a ticket less than the cooldown ago.
    #[error("open cooldown")]
    Cooldown {
        /// When they may open again, unix ms.
        retry_at_ms: i64,
    },
    /// The server has as many open tickets as it allows.
    #[error("server-wide open-ticket cap reached")]
    ServerFull {
        /// The cap.
        max_open_total: u32,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for OpenRefusal {
    fn from(err: sqlx::Error) -> Self {
        OpenRefusal::Store(StoreError::Query(err))
    }
}

/// The result of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Now claimed by the caller.
    Claimed,
    /// Someone (maybe the caller) already holds it.
    AlreadyClaimed(u64),
    /// The ticket is not open.
    NotOpen,
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Who acted.
    pub actor_id: u64,
    /// `opened`, `claimed`, `unclaimed`, `member_added`, `member_removed`, `closed`.
    pub action: String,
    /// Short, bot-written detail.
    pub detail: Option<String>,
    /// Unix ms.
    pub at: i64,
}

/// The columns [`ticket_from_row`] reads, as a literal so queries stay `&'static str`.
macro_rules! ticket_columns {
    () => {
        "id, guild_id, number, channel_id, opener_id, panel_id, subject, status, claimed_by, opened_at, closed_at, closed_by, close_reason"
    };
}

pub(super) use ticket_columns;

pub(super) fn ticket_from_row<R>(row: &R) -> Result<Ticket, sqlx::Error>
where
    R: Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let status: String = row.try_get("status")?;
    Ok(Ticket {
        id: row.try_get("id")?,
        guild_id: unsf(row.try_get("guild_id")?),
        number: row.try_get("number")?,
        channel_id: row.try_get::<Option<i64>, _>("channel_id")?.map(unsf),
        opener_id: unsf(row.try_get("opener_id")?),
        panel_id: row.try_get("panel_id")?,
        subject: row.try_get("subject")?,
        status: if status == "open" {
            TicketStatus::Open
        } else {
            TicketStatus::Closed
        },
        claimed_by: row.try_get::<Option<i64>, _>("claimed_by")?.map(unsf),
        opened_at: row.try_get("opened_at")?,
        closed_at: row.try_get("closed_at")?,
        closed_by: row.try_get::<Option<i64>, _>("closed_by")?.map(unsf),
        close_reason: row.try_get("close_reason")?,
    })
}

/// A reservation older than this without a channel was cut off by a crash.
pub const STALE_RESERVATION_MS: i64 = 5 * 60 * 1000;

const AUDIT_SQL: &str =
    "INSERT INTO audit_log (guild_id, ticket_id, actor_id, action, detail, at) VALUES ($1, $2, $3, $4, $5, $6)";

impl Store {
    /// Checks the server's rules and reserves a ticket number and row, atomically.
    ///
    /// The row has no channel yet: the caller creates the channel, then calls
    /// [`Store::attach_channel`], or [`Store::discard_ticket`] if Discord refused.
    pub async fn open_ticket(
        &self,
        new: &NewTicket,
    ) -> Result<(Ticket, GuildSettings), OpenRefusal> {
        let g = sf(new.guild_id);
        let opener = sf(new.opener_id);
        // A reservation that never got its channel (a crash mid-open) stops counting after a while.
        let open_sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE guild_id = $1 AND opener_id = $2 AND status = 'open' \
             AND (channel_id IS NOT NULL OR opened_at > $3) ORDER BY number"
        );
        let insert_sql = concat!("INSERT INTO tickets (guild_id, number, opener_id, panel_id, subject, status, opened_at) \
             VALUES ($1, $2, $3, $4, $5, 'open', $6) RETURNING ", ticket_columns!(), "");
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            // The first statement writes, so SQLite takes its write lock here (waiting politely
            // behind other openers) and PostgreSQL locks this server's row: concurrent opens in
            // one server are serialised, which is what makes the limit and the numbering exact.
            let counter = sqlx::query(
                "UPDATE guild_settings SET last_ticket_number = last_ticket_number + 1 \
                 WHERE guild_id = $1 RETURNING last_ticket_number, guild_id, staff_role_id, category_id, log_channel_id, max_open, welcome_template, transcripts, transcript_dm, transcript_retention_days, open_cooldown_secs, max_open_total",
            )
            .bind(g)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(counter) = counter else {
                return Err(OpenRefusal::NotSetUp);
            };
            let number: i64 = counter.try_get("last_ticket_number")?;
            let settings = settings_from_row(&counter)?;
            let max_open = i64::from(settings.max_open);
            let blacklisted: Option<i64> = sqlx::query_scalar(
                "SELECT user_id FROM blacklist WHERE guild_id = $1 AND user_id = $2",
            )
            .bind(g)
            .bind(opener)
            .fetch_optional(&mut *tx)
            .await?;
            if blacklisted.is_some() {
                return Err(OpenRefusal::Blacklisted);
            }
            let blocked_roles: Vec<i64> =
                sqlx::query_scalar("SELECT role_id FROM blacklist_roles WHERE guild_id = $1")
                    .bind(g)
                    .fetch_all(&mut *tx)
                    .await?;
            if blocked_roles.iter().any(|r| new.roles.contains(&unsf(*r))) {
                return Err(OpenRefusal::Blacklisted);
            }
            let open = sqlx::query(open_sql)
                .bind(g)
                .bind(opener)
                .bind(now_ms() - STALE_RESERVATION_MS)
                .fetch_all(&mut *tx)
                .await?;
            if open.len() as i64 >= max_open {
                let oldest = ticket_from_row(&open[0])?;
                return Err(OpenRefusal::LimitReached {
                    open: Box::new(oldest),
                    max_open: settings.max_open,
                });
            }
            let now = now_ms();
            let cooldown = settings.open_cooldown_secs.unwrap_or(new.default_cooldown_secs);
            if cooldown > 0 {
                let last: Option<i64> = sqlx::query_scalar(
                    "SELECT MAX(opened_at) FROM tickets WHERE guild_id = $1 AND opener_id = $2",
                )
                .bind(g)
                .bind(opener)
                .fetch_one(&mut *tx)
                .await?;
                if let Some(last) = last {
                    let retry_at_ms = last.saturating_add(i64::from(cooldown) * 1000);
                    if retry_at_ms > now {
                        return Err(OpenRefusal::Cooldown { retry_at_ms });
                    }
                }
            }
            if let Some(cap) = settings.max_open_total {
                let open_here: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM tickets WHERE guild_id = $1 AND status = 'open' \
                     AND (channel_id IS NOT NULL OR opened_at > $2)",
                )
                .bind(g)
                .bind(now - STALE_RESERVATION_MS)
                .fetch_one(&mut *tx)
                .await?;
                if open_here >= i64::from(cap) {
                    return Err(OpenRefusal::ServerFull { max_open_total: cap });
                }
            }
            let row = sqlx::query(insert_sql)
                .bind(g)
                .bind(number)
                .bind(opener)
                .bind(new.panel_id)
                .bind(new.subject.as_deref())
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            let ticket = ticket_from_row(&row)?;
            sqlx::query(AUDIT_SQL)
                .bind(g)
                .bind(ticket.id)
                .bind(opener)
                .bind("opened")
                .bind(new.subject.as_deref())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok((ticket, settings))
        })
    }

    /// Records the channel created for a reserved ticket; `false` if the reservation is gone
    /// (the server's data was deleted meanwhile), in which case the channel must go too.
    pub async fn attach_channel(
        &self,
        ticket_id: i64,
        channel_id: u64,
    ) -> Result<bool, StoreError> {
        on_db!(self, pool => {
            let done = sqlx::query("UPDATE tickets SET channel_id = $1 WHERE id = $2")
                .bind(sf(channel_id))
                .bind(ticket_id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Removes a reserved ticket whose channel could not be made. Its number stays used.
    pub async fn discard_ticket(&self, ticket_id: i64) -> Result<(), StoreError> {
        on_db!(self, pool => {
            sqlx::query("DELETE FROM tickets WHERE id = $1").bind(ticket_id).execute(pool).await?;
        });
        Ok(())
    }

    /// Removes reservations older than `older_than_ms` that never got a channel (a crash mid-open).
    pub async fn discard_stale_reservations(&self, older_than_ms: i64) -> Result<u64, StoreError> {
        self.discard_reservations_before(now_ms() - older_than_ms)
            .await
    }

    /// Removes reservations made before `cutoff_ms` (unix ms) that never got a channel.
    pub async fn discard_reservations_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        on_db!(self, pool => {
            let done = sqlx::query("DELETE FROM tickets WHERE channel_id IS NULL AND status = 'open' AND opened_at < $1")
                .bind(cutoff_ms)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// The ticket whose channel this is, open or closed.
    pub async fn ticket_by_channel(&self, channel_id: u64) -> Result<Option<Ticket>, StoreError> {
        let sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE channel_id = $1"
        );
        on_db!(self, pool => {
            let row = sqlx::query(sql).bind(sf(channel_id)).fetch_optional(pool).await?;
            Ok(row.as_ref().map(ticket_from_row).transpose()?)
        })
    }

    /// A ticket by its database id.
    pub async fn ticket(&self, ticket_id: i64) -> Result<Option<Ticket>, StoreError> {
        let sql = concat!("SELECT ", ticket_columns!(), " FROM tickets WHERE id = $1");
        on_db!(self, pool => {
            let row = sqlx::query(sql).bind(ticket_id).fetch_optional(pool).await?;
            Ok(row.as_ref().map(ticket_from_row).transpose()?)
        })
    }

    /// The channels of a server's open tickets (those that have one).
    pub async fn open_ticket_channels(&self, guild_id: u64) -> Result<Vec<u64>, StoreError> {
        on_db!(self, pool => {
            let rows: Vec<i64> = sqlx::query_scalar("SELECT channel_id FROM tickets WHERE guild_id = $1 AND status = 'open' AND channel_id IS NOT NULL")
                .bind(sf(guild_id))
                .fetch_all(pool)
                .await?;
            Ok(rows.into_iter().map(unsf).collect())
        })
    }

    /// All tickets of a server, by number.
    pub async fn tickets_in_guild(&self, guild_id: u64) -> Result<Vec<Ticket>, StoreError> {
        let sql = concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE guild_id = $1 ORDER BY number"
        );
        on_db!(self, pool => {
            let rows = sqlx::query(sql).bind(sf(guild_id)).fetch_all(pool).await?;
            Ok(rows.iter().map(ticket_from_row).collect::<Result<_, _>>()?)
        })
    }

    /// Records the closure (who, when, why); `None` if the ticket was not open. If its opener
    /// asked for their data to be deleted while it was open, its subject is deleted now (with
    /// the audit log's copy); the returned ticket still carries it, so that its transcript can
    /// be cleared of it too.
    pub async fn close_ticket(
        &self,
        ticket_id: i64,
        closed_by: u64,
        reason: Option<&str>,
    ) -> Result<Option<Ticket>, StoreError> {
        let sql = concat!("UPDATE tickets SET status = 'closed', closed_at = $1, closed_by = $2, close_reason = $3 \
             WHERE id = $4 AND status = 'open' RETURNING ", ticket_columns!(), "");
        let now = now_ms();
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let row = sqlx::query(sql)
                .bind(now)
                .bind(sf(closed_by))
                .bind(reason)
                .bind(ticket_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { return Ok(None) };
            let ticket = ticket_from_row(&row)?;
            let erased: Option<i64> = sqlx::query_scalar(
                "SELECT erased_at FROM erasures WHERE user_id = $1 AND erased_at >= $2",
            )
            .bind(sf(ticket.opener_id))
            .bind(ticket.opened_at)
            .fetch_optional(&mut *tx)
            .await?;
            if erased.is_some() {
                for sql in [
                    "UPDATE tickets SET subject = NULL WHERE id = $1",
                    "UPDATE audit_log SET detail = NULL WHERE ticket_id = $1 AND action = 'opened'",
                ] {
                    sqlx::query(sql).bind(ticket.id).execute(&mut *tx).await?;
                }
            }
            sqlx::query(AUDIT_SQL)
                .bind(sf(ticket.guild_id))
                .bind(ticket.id)
                .bind(sf(closed_by))
                .bind("closed")
                .bind(reason)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(ticket))
        })
    }

    /// Claims an open, unclaimed ticket for `staff_id`.
    pub async fn claim_ticket(
        &self,
        ticket_id: i64,
        staff_id: u64,
    ) -> Result<ClaimOutcome, StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE tickets SET claimed_by = $1 WHERE id = $2 AND status = 'open' AND claimed_by IS NULL RETURNING guild_id",
            )
            .bind(sf(staff_id))
            .bind(ticket_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = done {
                let guild: i64 = row.try_get("guild_id")?;
                sqlx::query(AUDIT_SQL)
                    .bind(guild).bind(ticket_id).bind(sf(staff_id)).bind("claimed").bind(None::<String>).bind(now_ms())
                    .execute(&mut *tx).await?;
                tx.commit().await?;
                return Ok(ClaimOutcome::Claimed);
            }
            let row = sqlx::query("SELECT status, claimed_by FROM tickets WHERE id = $1")
                .bind(ticket_id)
                .fetch_optional(&mut *tx)
                .await?;
            Ok(match row {
                Some(row) if row.try_get::<String, _>("status")? == "open" => {
                    match row.try_get::<Option<i64>, _>("claimed_by")? {
                        Some(holder) => ClaimOutcome::AlreadyClaimed(unsf(holder)),
                        None => ClaimOutcome::NotOpen,
                    }
                }
                _ => ClaimOutcome::NotOpen,
            })
        })
    }

    /// Releases a claim; `false` if the ticket was not claimed (by `holder`, when given).
    pub async fn unclaim_ticket(
        &self,
        ticket_id: i64,
        actor_id: u64,
        holder: Option<u64>,
    ) -> Result<bool, StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE tickets SET claimed_by = NULL WHERE id = $1 AND status = 'open' AND claimed_by IS NOT NULL \
                 AND ($2 IS NULL OR claimed_by = $2) RETURNING guild_id",
            )
            .bind(ticket_id)
            .bind(holder.map(sf))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = done else { return Ok(false) };
            let guild: i64 = row.try_get("guild_id")?;
            sqlx::query(AUDIT_SQL)
                .bind(guild).bind(ticket_id).bind(sf(actor_id)).bind("unclaimed").bind(None::<String>).bind(now_ms())
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Records that `user_id` was added to the ticket.
    pub async fn add_ticket_member(
        &self,
        ticket: &Ticket,
        user_id: u64,
        added_by: u64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO ticket_members (ticket_id, user_id, added_by, added_at) VALUES ($1, $2, $3, $4) ON CONFLICT (ticket_id, user_id) DO NOTHING")
                .bind(ticket.id).bind(sf(user_id)).bind(sf(added_by)).bind(now)
                .execute(&mut *tx).await?;
            sqlx::query(AUDIT_SQL)
                .bind(sf(ticket.guild_id)).bind(ticket.id).bind(sf(added_by)).bind("member_added").bind(Some(user_id.to_string())).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records that `user_id` was removed from the ticket.
    pub async fn remove_ticket_member(
        &self,
        ticket: &Ticket,
        user_id: u64,
        removed_by: u64,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM ticket_members WHERE ticket_id = $1 AND user_id = $2")
                .bind(ticket.id).bind(sf(user_id))
                .execute(&mut *tx).await?;
            sqlx::query(AUDIT_SQL)
                .bind(sf(ticket.guild_id)).bind(ticket.id).bind(sf(removed_by)).bind("member_removed").bind(Some(user_id.to_string())).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// When the ticket was first claimed by someone other than `opener_id` (only staff can
    /// claim), from its audit trail; `None` if never.
    pub async fn first_staff_claim_at(
        &self,
        ticket_id: i64,
        opener_id: u64,
    ) -> Result<Option<i64>, StoreError> {
        on_db!(self, pool => {
            let at: Option<i64> = sqlx::query_scalar(
                "SELECT MIN(at) FROM audit_log WHERE ticket_id = $1 AND action = 'claimed' AND actor_id <> $2",
            )
            .bind(ticket_id)
            .bind(sf(opener_id))
            .fetch_one(pool)
            .await?;
            Ok(at)
        })
    }

    /// Members added to a ticket (besides opener and staff).
    pub async fn ticket_members(&self, ticket_id: i64) -> Result<Vec<u64>, StoreError> {
        on_db!(self, pool => {
            let ids: Vec<i64> = sqlx::query_scalar("SELECT user_id FROM ticket_members WHERE ticket_id = $1 ORDER BY added_at, user_id")
                .bind(ticket_id).fetch_all(pool).await?;
            Ok(ids.into_iter().map(unsf).collect())
        })
    }

    /// The ticket's audit trail, oldest first.
    pub async fn ticket_audit(&self, ticket_id: i64) -> Result<Vec<AuditEntry>, StoreError> {
        on_db!(self, pool => {
            let rows = sqlx::query("SELECT actor_id, action, detail, at FROM audit_log WHERE ticket_id = $1 ORDER BY id")
                .bind(ticket_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(AuditEntry {
                    actor_id: unsf(row.try_get("actor_id")?),
                    action: row.try_get("action")?,
                    detail: row.try_get("detail")?,
                    at: row.try_get("at")?,
                });
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_are_padded_to_four_digits() {
        let mut t = Ticket {
            id: 1,
            guild_id: 1,
            number: 7,
            channel_id: None,
            opener_id: 1,
            panel_id: None,
            subject: None,
            status: TicketStatus::Open,
            claimed_by: None,
            opened_at: 0,
            closed_at: None,
            closed_by: None,
            close_reason: None,
        };
        assert_eq!(t.channel_name(), "ticket-0007");
        t.number = 12345;
        assert_eq!(t.channel_name(), "ticket-12345");
    }
}
