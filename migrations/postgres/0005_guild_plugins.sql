-- Plugins a server's admins uploaded (`/integrations upload`). The file is kept in the database
-- so every process sees it; only that server can see or run it.
CREATE TABLE guild_plugins (
    guild_id     BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    plugin_id    TEXT NOT NULL,
    version      TEXT NOT NULL,
    -- The manifest as embedded (TOML).
    manifest     TEXT NOT NULL,
    wasm         BYTEA NOT NULL,
    uploaded_by  BIGINT NOT NULL,
    uploaded_at  BIGINT NOT NULL,
    PRIMARY KEY (guild_id, sha256)
);
CREATE INDEX guild_plugins_by_id ON guild_plugins (guild_id, plugin_id, uploaded_at);

-- Consent records gain the 'uploaded' action and what besides the user ID the plugin receives.
ALTER TABLE integration_consents DROP CONSTRAINT integration_consents_action_check;
ALTER TABLE integration_consents ADD CONSTRAINT integration_consents_action_check
    CHECK (action IN ('enabled', 'disabled', 'auto-disabled', 'uploaded'));
-- What the plugin receives: 'user ID', or 'user ID, server ID'.
ALTER TABLE integration_consents ADD COLUMN shares TEXT NOT NULL DEFAULT 'user ID';
