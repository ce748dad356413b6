-- Transcripts (issue 12): a per-server switch, off by default, and the sealed transcripts.
-- Message text exists only inside `transcript_blobs.data`, compressed and sealed (AES-256-GCM,
-- key from configuration); nothing else holds it.
ALTER TABLE guild_settings ADD COLUMN transcripts BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE guild_settings ADD COLUMN transcript_dm BOOLEAN NOT NULL DEFAULT FALSE;
-- Days a transcript is kept; NULL: the operator's ceiling.
ALTER TABLE guild_settings ADD COLUMN transcript_retention_days BIGINT;

CREATE TABLE transcripts (
    ticket_id      BIGINT PRIMARY KEY NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    guild_id       BIGINT NOT NULL,
    message_count  BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX transcripts_by_guild ON transcripts (guild_id);
CREATE INDEX transcripts_by_expiry ON transcripts (expires_at);

-- Blob 0 is the transcript document; the others are the files it kept (avatars, attachments).
CREATE TABLE transcript_blobs (
    ticket_id  BIGINT NOT NULL REFERENCES transcripts (ticket_id) ON DELETE CASCADE,
    blob_no    BIGINT NOT NULL,
    guild_id   BIGINT NOT NULL,
    data       BYTEA NOT NULL,
    PRIMARY KEY (ticket_id, blob_no)
);
