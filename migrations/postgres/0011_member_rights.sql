-- Members' data rights (issue 12, PRIVACY.md #10, #11): who appears in which transcript, so a
-- member's export and deletion find their messages without opening every transcript, and the
-- deletions still to be applied to tickets that were open when they were asked for.

-- Bumped by every rewrite of a transcript (a deletion re-seals it): a rewrite based on an older
-- revision is refused and redone, so two deletions never undo each other.
ALTER TABLE transcripts ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
-- FALSE for transcripts stored before `transcript_people` existed: the next export or deletion
-- opens them once and fills it in.
ALTER TABLE transcripts ADD COLUMN indexed BOOLEAN NOT NULL DEFAULT FALSE;

-- Everyone who wrote or was mentioned in a transcript (its participants). User IDs only: the
-- messages stay sealed in `transcript_blobs`.
CREATE TABLE transcript_people (
    ticket_id  BIGINT NOT NULL REFERENCES transcripts (ticket_id) ON DELETE CASCADE,
    guild_id   BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
);
CREATE INDEX transcript_people_by_user ON transcript_people (user_id);

-- A member asked for their data to be deleted at `erased_at`: their messages from before then
-- are removed from the transcript of any ticket that was still open and closes later. Deleted
-- by the retention purge once no ticket open at that time is still open.
CREATE TABLE erasures (
    user_id    BIGINT PRIMARY KEY NOT NULL,
    erased_at  BIGINT NOT NULL
);
