-- When an approved deactivation window ended (by time); NULL while it runs.
ALTER TABLE deactivation_requests ADD COLUMN window_ended_at INTEGER;
