-- Blacklisting a role (issue 13): members with any of these roles cannot open tickets.
CREATE TABLE blacklist_roles (
    guild_id   INTEGER NOT NULL,
    role_id    INTEGER NOT NULL,
    reason     TEXT,
    added_by   INTEGER NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);
