-- Core ticket lifecycle. Snowflakes are INTEGER (they fit in i64); times are unix milliseconds.

-- Per-server settings, written by /setup. `last_ticket_number` is the per-server counter: it only
-- ever grows, so a ticket number never repeats inside a server.
CREATE TABLE guild_settings (
    guild_id            INTEGER PRIMARY KEY NOT NULL,
    staff_role_id       INTEGER NOT NULL,
    category_id         INTEGER,
    log_channel_id      INTEGER,
    max_open            INTEGER NOT NULL DEFAULT 1 CHECK (max_open BETWEEN 1 AND 10),
    last_ticket_number  INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

CREATE TABLE panels (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id      INTEGER NOT NULL,
    channel_id    INTEGER NOT NULL,
    message_id    INTEGER,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL,
    button_label  TEXT NOT NULL,
    created_by    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX panels_by_guild ON panels (guild_id);

CREATE TABLE tickets (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id      INTEGER NOT NULL,
    number        INTEGER NOT NULL,
    channel_id    INTEGER UNIQUE,
    opener_id     INTEGER NOT NULL,
    panel_id      INTEGER REFERENCES panels (id) ON DELETE SET NULL,
    subject       TEXT,
    status        TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    claimed_by    INTEGER,
    opened_at     INTEGER NOT NULL,
    closed_at     INTEGER,
    closed_by     INTEGER,
    close_reason  TEXT,
    UNIQUE (guild_id, number)
);
CREATE INDEX tickets_open_by_opener ON tickets (guild_id, opener_id) WHERE status = 'open';

CREATE TABLE ticket_members (
    ticket_id  INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    added_by   INTEGER NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
);

CREATE TABLE blacklist (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    reason     TEXT,
    added_by   INTEGER NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- What happened to which ticket, by whom. `detail` is short, bot-written text (never message content).
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    ticket_id  INTEGER REFERENCES tickets (id) ON DELETE CASCADE,
    actor_id   INTEGER NOT NULL,
    action     TEXT NOT NULL,
    detail     TEXT,
    at         INTEGER NOT NULL
);
CREATE INDEX audit_by_guild ON audit_log (guild_id, at);
CREATE INDEX audit_by_ticket ON audit_log (ticket_id);
