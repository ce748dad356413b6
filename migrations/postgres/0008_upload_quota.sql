-- Every upload a server's admins started (issue 11), counted against that server's upload
-- quotas (uploads per hour, bytes per day) and forgotten after a day, or when the bot leaves
-- the server.
CREATE TABLE upload_attempts (
    guild_id  BIGINT NOT NULL,
    at        BIGINT NOT NULL,
    bytes     BIGINT NOT NULL
);
CREATE INDEX upload_attempts_by_guild ON upload_attempts (guild_id, at);
