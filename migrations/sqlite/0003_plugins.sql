-- Installed plugin files. The .wasm itself lives in <data_dir>/plugins/<sha256>.wasm; the row
-- records what it is. `guild_id` NULL means installed by the operator for every server.
CREATE TABLE plugins (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    plugin_id     TEXT NOT NULL,
    version       TEXT NOT NULL,
    sha256        TEXT NOT NULL UNIQUE,
    manifest      TEXT NOT NULL,
    guild_id      INTEGER,
    installed_at  INTEGER NOT NULL
);
CREATE INDEX plugins_by_id ON plugins (plugin_id, version);
