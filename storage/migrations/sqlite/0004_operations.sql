-- Operations: alert delivery with retries, the support SLA, bursts per Telegram user.

ALTER TABLE alert_events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alert_events ADD COLUMN next_attempt_at INTEGER;
ALTER TABLE deactivation_requests ADD COLUMN sla_alerted_at INTEGER;
CREATE INDEX audit_log_by_user ON audit_log (telegram_user_id, at);
