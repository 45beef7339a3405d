-- Alerts: folding counts what went out of a kind lately; an alert that cannot be
-- delivered for a day is set aside (kept and counted, no longer retried).
ALTER TABLE alert_events ADD COLUMN first_failed_at BIGINT;
ALTER TABLE alert_events ADD COLUMN set_aside_at BIGINT;
CREATE INDEX alert_events_by_kind ON alert_events (kind, delivered_at);
CREATE INDEX alert_events_set_aside ON alert_events (set_aside_at);
