-- Plugins a server's admins uploaded (`/integrations upload`). The file is kept in the database
-- so every process sees it; only that server can see or run it.
CREATE TABLE guild_plugins (
    guild_id     INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    plugin_id    TEXT NOT NULL,
    version      TEXT NOT NULL,
    -- The manifest as embedded (TOML).
    manifest     TEXT NOT NULL,
    wasm         BLOB NOT NULL,
    uploaded_by  INTEGER NOT NULL,
    uploaded_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, sha256)
);
CREATE INDEX guild_plugins_by_id ON guild_plugins (guild_id, plugin_id, uploaded_at);

-- Consent records gain the 'uploaded' action and what besides the user ID the plugin receives.
-- SQLite cannot change a CHECK constraint in place: copy into a new table.
CREATE TABLE integration_consents_v2 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id        INTEGER NOT NULL,
    plugin_id       TEXT NOT NULL,
    version         TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    privacy_policy  TEXT NOT NULL,
    data_use        TEXT NOT NULL,
    allowed_hosts   TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('enabled', 'disabled', 'auto-disabled', 'uploaded')),
    actor_id        INTEGER,
    at              INTEGER NOT NULL,
    -- What the plugin receives: 'user ID', or 'user ID, server ID'.
    shares          TEXT NOT NULL DEFAULT 'user ID'
);
INSERT INTO integration_consents_v2 (id, guild_id, plugin_id, version, sha256, privacy_policy,
    data_use, allowed_hosts, action, actor_id, at)
SELECT id, guild_id, plugin_id, version, sha256, privacy_policy, data_use, allowed_hosts, action,
    actor_id, at FROM integration_consents;
DROP TABLE integration_consents;
ALTER TABLE integration_consents_v2 RENAME TO integration_consents;
CREATE INDEX integration_consents_by_guild ON integration_consents (guild_id, plugin_id, at);
