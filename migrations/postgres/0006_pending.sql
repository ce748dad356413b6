-- What a later click needs from an earlier step, kept in the database so that any process can
-- serve the click (PostgreSQL operators run several) and a restart loses nothing. Each row
-- expires; an expired row is refused and deleted.

-- An uploaded plugin shown to its admin and not yet confirmed (`/integrations upload`).
CREATE TABLE pending_uploads (
    guild_id     BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    -- Only this admin may confirm or discard it.
    uploaded_by  BIGINT NOT NULL,
    wasm         BYTEA NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (guild_id, sha256)
);
CREATE INDEX pending_uploads_by_expiry ON pending_uploads (expires_at);

-- An enable prompt an admin was shown: the exact plugin version they were asked about.
CREATE TABLE pending_enables (
    guild_id    BIGINT NOT NULL,
    plugin_id   TEXT NOT NULL,
    user_id     BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (guild_id, plugin_id, user_id)
);
CREATE INDEX pending_enables_by_expiry ON pending_enables (expires_at);
