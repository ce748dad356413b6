-- The limit check looks up a member's open tickets ordered by number. With (guild_id, opener_id)
-- alone, SQLite's planner preferred the (guild_id, number) unique index to avoid a sort and
-- scanned every ticket of the server; including `number` makes this index serve the whole query.
DROP INDEX tickets_open_by_opener;
CREATE INDEX tickets_open_by_opener ON tickets (guild_id, opener_id, number) WHERE status = 'open';
