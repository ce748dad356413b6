-- Aggregate statistics (issue 12, PRIVACY.md #13): counters per server and UTC day, nothing else.
-- No user, channel, message or ticket ids and no text from members: a test lists these tables'
-- columns and fails on any column not named in it. `day` counts days since 1970-01-01 UTC;
-- durations are milliseconds. Rows go with the server (GUILD_TABLES) and after 400 days.

-- Tickets opened and closed that day; the time to close of the tickets closed that day (one
-- per closed ticket, so `closed` is its count); the time to the first staff action (the first
-- claim, or a close by staff, whichever came first) of those closed tickets that had one.
CREATE TABLE stats_daily (
    guild_id             BIGINT NOT NULL,
    day                  BIGINT NOT NULL,
    opened               BIGINT NOT NULL DEFAULT 0,
    closed               BIGINT NOT NULL DEFAULT 0,
    close_ms_sum         BIGINT NOT NULL DEFAULT 0,
    close_ms_max         BIGINT NOT NULL DEFAULT 0,
    first_action_count   BIGINT NOT NULL DEFAULT 0,
    first_action_ms_sum  BIGINT NOT NULL DEFAULT 0,
    first_action_ms_max  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, day)
);
CREATE INDEX stats_daily_by_day ON stats_daily (day);

-- How many of those durations fell in each bucket (0: under 15 min … 7: over 7 days), for a median.
CREATE TABLE stats_durations (
    guild_id  BIGINT NOT NULL,
    day       BIGINT NOT NULL,
    metric    TEXT NOT NULL CHECK (metric IN ('close', 'first_action')),
    bucket    BIGINT NOT NULL CHECK (bucket BETWEEN 0 AND 7),
    n         BIGINT NOT NULL,
    PRIMARY KEY (guild_id, day, metric, bucket)
);
CREATE INDEX stats_durations_by_day ON stats_durations (day);

-- Commands used that day, by command name (Tessera's own names only, never text from members).
CREATE TABLE stats_commands (
    guild_id  BIGINT NOT NULL,
    day       BIGINT NOT NULL,
    command   TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (guild_id, day, command)
);
CREATE INDEX stats_commands_by_day ON stats_commands (day);
