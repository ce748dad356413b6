-- An integration's failures are counted over a window that opens at its first counted failure
-- (issue 11), not "in a row": within the window, failures and successes are both counted, and
-- Tessera disables the integration only when it failed often enough and more often than it
-- worked. Only failures that are the plugin's or its settings' fault are counted at all.
ALTER TABLE guild_integrations RENAME COLUMN consecutive_failures TO recent_failures;
ALTER TABLE guild_integrations ADD COLUMN recent_successes INTEGER NOT NULL DEFAULT 0;
-- Unix ms when the current window opened (0: no window).
ALTER TABLE guild_integrations ADD COLUMN failing_since INTEGER NOT NULL DEFAULT 0;
