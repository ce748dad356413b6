-- Integrations (plugins) per server, and the privacy records of PRIVACY.md #14-#17.

-- The server's welcome message template; NULL means Tessera's default text.
ALTER TABLE guild_settings ADD COLUMN welcome_template TEXT;

-- A plugin a server's admins enabled, with its settings. The row stays after a disable so the
-- settings survive; nothing is sent to a plugin whose row is not `enabled`.
CREATE TABLE guild_integrations (
    guild_id              BIGINT NOT NULL,
    plugin_id             TEXT NOT NULL,
    enabled               BOOLEAN NOT NULL,
    -- Non-secret settings, a JSON object of strings.
    config                TEXT NOT NULL,
    -- Secret settings: a JSON object sealed with AES-256-GCM (see host/src/secrets.rs), or NULL.
    secrets               TEXT,
    consecutive_failures  BIGINT NOT NULL DEFAULT 0,
    -- Why it is off when Tessera turned it off (repeated failures); NULL otherwise.
    disabled_reason       TEXT,
    updated_by            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    PRIMARY KEY (guild_id, plugin_id)
);

-- Who turned which plugin version on or off, and what it declared at that moment (#14, #16).
CREATE TABLE integration_consents (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id        BIGINT NOT NULL,
    plugin_id       TEXT NOT NULL,
    version         TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    privacy_policy  TEXT NOT NULL,
    data_use        TEXT NOT NULL,
    allowed_hosts   TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('enabled', 'disabled', 'auto-disabled')),
    -- The admin; NULL when Tessera disabled it.
    actor_id        BIGINT,
    at              BIGINT NOT NULL
);
CREATE INDEX integration_consents_by_guild ON integration_consents (guild_id, plugin_id, at);

-- Each time a plugin received a user ID: which plugin and version, whose ID, for which ticket,
-- when, and how it went (#17).
CREATE TABLE integration_deliveries (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id   BIGINT NOT NULL,
    ticket_id  BIGINT,
    plugin_id  TEXT NOT NULL,
    version    TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    user_id    BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    -- 'ok', or the failure's kind (timeout, cpu-limit, plugin-not-found, ...).
    outcome    TEXT NOT NULL,
    detail     TEXT
);
CREATE INDEX integration_deliveries_by_user ON integration_deliveries (user_id, at);
CREATE INDEX integration_deliveries_by_guild ON integration_deliveries (guild_id, at);
