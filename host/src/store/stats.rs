//! Aggregate statistics (PRIVACY.md #13): counters per server and UTC day, added to with
//! upserts so concurrent events never lose a count. What is counted is in [`crate::stats`].

use sqlx::Row;

use super::{on_db, sf, Store, StoreError};
use crate::stats::{bucket_of, ClosedSample, Day, Durations, Metric, Summary, BUCKETS};

const BUCKET_SQL: &str =
    "INSERT INTO stats_durations (guild_id, day, metric, bucket, n) SELECT $1, $2, $3, $4, 1 \
     WHERE EXISTS (SELECT 1 FROM guild_settings WHERE guild_id = $1) \
     ON CONFLICT (guild_id, day, metric, bucket) DO UPDATE SET n = stats_durations.n + 1";

impl Store {
    /// Adds one opened ticket to `day`.
    pub async fn count_opened(&self, guild_id: u64, day: Day) -> Result<(), StoreError> {
        on_db!(self, pool => {
            // Only for a server still set up: an open finishing after the bot left writes nothing back.
            sqlx::query("INSERT INTO stats_daily (guild_id, day, opened) SELECT $1, $2, 1 \
                 WHERE EXISTS (SELECT 1 FROM guild_settings WHERE guild_id = $1) \
                 ON CONFLICT (guild_id, day) DO UPDATE SET opened = stats_daily.opened + 1")
                .bind(sf(guild_id))
                .bind(day.number())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Adds one closed ticket and its durations to `day`.
    pub async fn count_closed(
        &self,
        guild_id: u64,
        day: Day,
        sample: &ClosedSample,
    ) -> Result<(), StoreError> {
        let (g, d) = (sf(guild_id), day.number());
        let close_ms = sample.open_for_ms.max(0);
        let first_ms = sample.first_action_ms.map(|ms| ms.max(0));
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO stats_daily (guild_id, day, closed, close_ms_sum, close_ms_max, \
                   first_action_count, first_action_ms_sum, first_action_ms_max) \
                 SELECT $1, $2, 1, $3, $3, $4, $5, $5 \
                 WHERE EXISTS (SELECT 1 FROM guild_settings WHERE guild_id = $1) \
                 ON CONFLICT (guild_id, day) DO UPDATE SET \
                   closed = stats_daily.closed + 1, \
                   close_ms_sum = stats_daily.close_ms_sum + excluded.close_ms_sum, \
                   close_ms_max = CASE WHEN excluded.close_ms_max > stats_daily.close_ms_max \
                     THEN excluded.close_ms_max ELSE stats_daily.close_ms_max END, \
                   first_action_count = stats_daily.first_action_count + excluded.first_action_count, \
                   first_action_ms_sum = stats_daily.first_action_ms_sum + excluded.first_action_ms_sum, \
                   first_action_ms_max = CASE WHEN excluded.first_action_ms_max > stats_daily.first_action_ms_max \
                     THEN excluded.first_action_ms_max ELSE stats_daily.first_action_ms_max END",
            )
            .bind(g)
            .bind(d)
            .bind(close_ms)
            .bind(i64::from(first_ms.is_some()))
            .bind(first_ms.unwrap_or(0))
            .execute(&mut *tx)
            .await?;
            let mut buckets = vec![(Metric::Close, bucket_of(close_ms))];
            buckets.extend(first_ms.map(|ms| (Metric::FirstAction, bucket_of(ms))));
            for (metric, bucket) in buckets {
                sqlx::query(BUCKET_SQL)
                    .bind(g)
                    .bind(d)
                    .bind(metric.as_str())
                    .bind(bucket as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Adds one use of `command` (one of Tessera's own command names) to `day`.
    pub async fn count_command(
        &self,
        guild_id: u64,
        day: Day,
        command: &str,
    ) -> Result<(), StoreError> {
        on_db!(self, pool => {
            sqlx::query("INSERT INTO stats_commands (guild_id, day, command, n) VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (guild_id, day, command) DO UPDATE SET n = stats_commands.n + 1")
                .bind(sf(guild_id))
                .bind(day.number())
                .bind(command)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The server's statistics from day `from` to day `to`, both included.
    pub async fn stats_summary(
        &self,
        guild_id: u64,
        from: Day,
        to: Day,
    ) -> Result<Summary, StoreError> {
        let (g, from, to) = (sf(guild_id), from.number(), to.number());
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back so both backends give an i64.
        on_db!(self, pool => {
            let totals = sqlx::query(
                "SELECT CAST(COALESCE(SUM(opened), 0) AS BIGINT) AS opened, \
                   CAST(COALESCE(SUM(closed), 0) AS BIGINT) AS closed, \
                   CAST(COALESCE(SUM(close_ms_sum), 0) AS BIGINT) AS close_ms_sum, \
                   CAST(COALESCE(MAX(close_ms_max), 0) AS BIGINT) AS close_ms_max, \
                   CAST(COALESCE(SUM(first_action_count), 0) AS BIGINT) AS first_action_count, \
                   CAST(COALESCE(SUM(first_action_ms_sum), 0) AS BIGINT) AS first_action_ms_sum, \
                   CAST(COALESCE(MAX(first_action_ms_max), 0) AS BIGINT) AS first_action_ms_max \
                 FROM stats_daily WHERE guild_id = $1 AND day BETWEEN $2 AND $3",
            )
            .bind(g).bind(from).bind(to)
            .fetch_one(pool)
            .await?;
            let mut summary = Summary {
                opened: totals.try_get("opened")?,
                closed: totals.try_get("closed")?,
                time_to_close: Durations {
                    count: totals.try_get("closed")?,
                    sum_ms: totals.try_get("close_ms_sum")?,
                    max_ms: totals.try_get("close_ms_max")?,
                    buckets: [0; BUCKETS],
                },
                first_action: Durations {
                    count: totals.try_get("first_action_count")?,
                    sum_ms: totals.try_get("first_action_ms_sum")?,
                    max_ms: totals.try_get("first_action_ms_max")?,
                    buckets: [0; BUCKETS],
                },
                commands: Vec::new(),
            };
            let rows = sqlx::query(
                "SELECT metric, bucket, CAST(SUM(n) AS BIGINT) AS total FROM stats_durations \
                 WHERE guild_id = $1 AND day BETWEEN $2 AND $3 GROUP BY metric, bucket",
            )
            .bind(g).bind(from).bind(to)
            .fetch_all(pool)
            .await?;
            for row in &rows {
                let metric: String = row.try_get("metric")?;
                let durations = if metric == Metric::Close.as_str() {
                    &mut summary.time_to_close
                } else {
                    &mut summary.first_action
                };
                let bucket: i64 = row.try_get("bucket")?;
                if let Some(n) = usize::try_from(bucket).ok().and_then(|b| durations.buckets.get_mut(b)) {
                    *n += row.try_get::<i64, _>("total")?;
                }
            }
            let rows = sqlx::query(
                "SELECT command, CAST(SUM(n) AS BIGINT) AS uses FROM stats_commands \
                 WHERE guild_id = $1 AND day BETWEEN $2 AND $3 GROUP BY command ORDER BY uses DESC, command",
            )
            .bind(g).bind(from).bind(to)
            .fetch_all(pool)
            .await?;
            for row in &rows {
                summary.commands.push((row.try_get("command")?, row.try_get("uses")?));
            }
            Ok(summary)
        })
    }

    /// Deletes every server's statistics of the days before `before`; how many rows.
    pub async fn purge_stats(&self, before: Day) -> Result<u64, StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut deleted = 0;
            for sql in [
                "DELETE FROM stats_daily WHERE day < $1",
                "DELETE FROM stats_durations WHERE day < $1",
                "DELETE FROM stats_commands WHERE day < $1",
            ] {
                deleted += sqlx::query(sql).bind(before.number()).execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
            Ok(deleted)
        })
    }

    /// Every (table, column) of the schema whose table name starts with `prefix`, sorted.
    pub async fn columns_of_tables(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut columns: Vec<(String, String)> = match &self.db {
            super::Db::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT m.name, c.name FROM sqlite_master m JOIN pragma_table_info(m.name) c \
                     WHERE m.type = 'table' AND substr(m.name, 1, length($1)) = $1",
                )
                .bind(prefix)
                .fetch_all(pool)
                .await?
            }
            super::Db::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND substr(table_name::text, 1, length($1::text)) = $1::text",
                )
                .bind(prefix)
                .fetch_all(pool)
                .await?
            }
        };
        columns.sort();
        Ok(columns)
    }
}
