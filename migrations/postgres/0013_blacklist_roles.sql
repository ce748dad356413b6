-- Blacklisting a role (issue 13): members with any of these roles cannot open tickets.
CREATE TABLE blacklist_roles (
    guild_id   BIGINT NOT NULL,
    role_id    BIGINT NOT NULL,
    reason     TEXT,
    added_by   BIGINT NOT NULL,
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);
