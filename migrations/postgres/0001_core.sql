-- Core ticket lifecycle. Snowflakes are BIGINT (they fit in i64); times are unix milliseconds.

-- Per-server settings, written by /setup. `last_ticket_number` is the per-server counter: it only
-- ever grows, so a ticket number never repeats inside a server.
CREATE TABLE guild_settings (
    guild_id            BIGINT PRIMARY KEY NOT NULL,
    staff_role_id       BIGINT NOT NULL,
    category_id         BIGINT,
    log_channel_id      BIGINT,
    max_open            BIGINT NOT NULL DEFAULT 1 CHECK (max_open BETWEEN 1 AND 10),
    last_ticket_number  BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE panels (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id      BIGINT NOT NULL,
    channel_id    BIGINT NOT NULL,
    message_id    BIGINT,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL,
    button_label  TEXT NOT NULL,
    created_by    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX panels_by_guild ON panels (guild_id);

CREATE TABLE tickets (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id      BIGINT NOT NULL,
    number        BIGINT NOT NULL,
    channel_id    BIGINT UNIQUE,
    opener_id     BIGINT NOT NULL,
    panel_id      BIGINT REFERENCES panels (id) ON DELETE SET NULL,
    subject       TEXT,
    status        TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    claimed_by    BIGINT,
    opened_at     BIGINT NOT NULL,
    closed_at     BIGINT,
    closed_by     BIGINT,
    close_reason  TEXT,
    UNIQUE (guild_id, number)
);
CREATE INDEX tickets_open_by_opener ON tickets (guild_id, opener_id) WHERE status = 'open';

CREATE TABLE ticket_members (
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL,
    added_by   BIGINT NOT NULL,
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
);

CREATE TABLE blacklist (
    guild_id   BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    reason     TEXT,
    added_by   BIGINT NOT NULL,
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- What happened to which ticket, by whom. `detail` is short, bot-written text (never message content).
CREATE TABLE audit_log (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id   BIGINT NOT NULL,
    ticket_id  BIGINT REFERENCES tickets (id) ON DELETE CASCADE,
    actor_id   BIGINT NOT NULL,
    action     TEXT NOT NULL,
    detail     TEXT,
    at         BIGINT NOT NULL
);
CREATE INDEX audit_by_guild ON audit_log (guild_id, at);
CREATE INDEX audit_by_ticket ON audit_log (ticket_id);
