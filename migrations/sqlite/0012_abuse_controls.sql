-- Abuse controls (issue 13): a per-member open cooldown (NULL: the operator's default) and a
-- server-wide cap on open tickets (NULL: none).
ALTER TABLE guild_settings ADD COLUMN open_cooldown_secs INTEGER;
ALTER TABLE guild_settings ADD COLUMN max_open_total INTEGER;
