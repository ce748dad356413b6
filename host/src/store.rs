//! Persistence on SQLite or PostgreSQL through one API.
//!
//! Every query is written once: both dialects accept `$N` placeholders, `RETURNING` and
//! `ON CONFLICT`, and we store snowflakes as 64-bit integers and times as unix milliseconds, so
//! the only per-dialect code is the pool type (see [`on_db!`]) and the migrations folder.

mod guilds;
mod integrations;
mod pending;
mod plugins;
mod rights;
mod stats;
mod tickets;
mod transcripts;

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use guilds::{BlacklistEntry, GuildSettings, SettingsUpdate};
pub use integrations::{ConsentAction, ConsentRecord, Delivery, FailureWindow, GuildIntegration};
pub use pending::{PendingEnable, PendingUpload, Refusal, UploadQuota, UploadRefusal};
pub use plugins::{GuildPlugin, InstalledPlugin, UploadHead};
pub use rights::{AdminRecord, BlacklistedIn, Erased, Membership, PersonRecords, TicketEvent};
pub use tickets::{
    AuditEntry, ClaimOutcome, NewTicket, OpenRefusal, Ticket, TicketStatus, STALE_RESERVATION_MS,
};
pub use transcripts::{ReplaceError, TranscriptRow};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Every table with a `guild_id` column, in the order a server's rows are deleted when the bot
/// leaves it (settings first: opening a ticket locks that row first too, so the two never wait
/// on each other in opposite orders). A test compares this list with the schema, so a new
/// table holding server data cannot be forgotten.
pub const GUILD_TABLES: &[&str] = &[
    "guild_settings",
    "audit_log",
    "transcript_blobs",
    "transcript_people",
    "transcripts",
    "tickets",
    "panels",
    "blacklist",
    "blacklist_roles",
    "guild_integrations",
    "integration_consents",
    "integration_deliveries",
    "guild_plugins",
    // Operator installs have no server (NULL); a server's row here would go with it.
    "plugins",
    "upload_attempts",
    "pending_uploads",
    "pending_enables",
    // Counters only (PRIVACY.md #13), but still this server's.
    "stats_daily",
    "stats_durations",
    "stats_commands",
];

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (the default).
    Sqlite,
    /// A PostgreSQL server, for operators who run several processes.
    Postgres,
}

/// A database failure, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL with any password removed.
        url: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },
    /// Applying migrations failed.
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

#[derive(Clone, Debug)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code against whichever pool the store holds.
macro_rules! on_db {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
use on_db;

/// The bot's database: cheap to clone, safe to share.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

impl Store {
    /// Opens (creating a SQLite file and its folder if needed) the database at `url`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let connect_err = |source| StoreError::Connect {
            url: redact(url),
            source,
        };
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect_err)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if let Some(dir) = options.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| connect_err(sqlx::Error::Io(e)))?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(connect_err)?;
            Ok(Store {
                db: Db::Sqlite(pool),
            })
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(connect_err)?;
            Ok(Store {
                db: Db::Postgres(pool),
            })
        }
    }

    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The tables of the schema that have a `guild_id` column.
    pub async fn tables_with_guild_id(&self) -> Result<Vec<String>, StoreError> {
        let mut tables: Vec<String> = match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c \
                 WHERE m.type = 'table' AND c.name = 'guild_id'",
                )
                .fetch_all(pool)
                .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.columns \
                 WHERE column_name = 'guild_id' AND table_schema = current_schema()",
                )
                .fetch_all(pool)
                .await?
            }
        };
        tables.sort();
        Ok(tables)
    }

    /// Every server this database holds anything about.
    pub async fn known_guild_ids(&self) -> Result<Vec<u64>, StoreError> {
        let mut ids = std::collections::BTreeSet::new();
        for table in GUILD_TABLES {
            // Table names come from the constant list above, never from input.
            let sql = format!("SELECT DISTINCT guild_id FROM {table} WHERE guild_id IS NOT NULL");
            let found: Vec<i64> = on_db!(self, pool => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?
            });
            ids.extend(found.into_iter().map(unsf));
        }
        Ok(ids.into_iter().collect())
    }

    /// How many rows each table of [`GUILD_TABLES`] holds for server `guild_id`.
    pub async fn guild_row_counts(&self, guild_id: u64) -> Result<Vec<(String, i64)>, StoreError> {
        let mut counts = Vec::with_capacity(GUILD_TABLES.len());
        for table in GUILD_TABLES {
            // Table names come from the constant list above, never from input.
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE guild_id = $1");
            let n: i64 = on_db!(self, pool => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(sf(guild_id)).fetch_one(pool).await?
            });
            counts.push(((*table).to_owned(), n));
        }
        Ok(counts)
    }

    /// Waits for checked-out connections to return, then closes the pool.
    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }

    /// Deletes everything stored about a server (the bot left it; PRIVACY.md #8): every row
    /// of every table in [`GUILD_TABLES`], and the ticket members of its tickets.
    pub async fn delete_guild_data(&self, guild_id: u64) -> Result<(), StoreError> {
        let g = sf(guild_id);
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM ticket_members WHERE ticket_id IN (SELECT id FROM tickets WHERE guild_id = $1)")
                .bind(g)
                .execute(&mut *tx)
                .await?;
            for table in GUILD_TABLES {
                // Table names come from the constant list, never from input.
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE guild_id = $1")))
                    .bind(g)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

/// A snowflake as stored: Discord ids are below 2^63, so the cast is lossless.
pub(crate) fn sf(id: u64) -> i64 {
    id as i64
}

/// A stored snowflake back as Discord's unsigned id.
pub(crate) fn unsf(id: i64) -> u64 {
    id as u64
}

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgres://bob:hunter2@db:5432/x"),
            "postgres://bob:***@db:5432/x"
        );
        assert_eq!(redact("postgres://bob@db/x"), "postgres://bob@db/x");
        assert_eq!(redact("sqlite://data/t.db"), "sqlite://data/t.db");
    }
}
