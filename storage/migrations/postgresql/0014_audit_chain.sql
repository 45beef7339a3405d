-- The audit log, tamper-evident: every row is chained (bot/audit_chain.py) by the active
-- bot's job, seconds after it was written. A chained row carries its place in the chain
-- (chain_seq), the id of the key it was chained under (chain_key_id) and its link
-- (chain_mac: HMAC-SHA256 over the row and the previous link). Writers only append rows
-- without a link, as before. Rows from before this migration are chained like new ones.
ALTER TABLE audit_log ADD COLUMN chain_seq BIGINT;
ALTER TABLE audit_log ADD COLUMN chain_key_id TEXT;
ALTER TABLE audit_log ADD COLUMN chain_mac BYTEA;
CREATE UNIQUE INDEX audit_log_by_chain_seq ON audit_log (chain_seq);
-- What the chain job looks for every few seconds: only the rows not chained yet.
CREATE INDEX audit_log_unchained ON audit_log (id) WHERE chain_mac IS NULL;
-- Statistics that know every existing row waits to be chained: without them the planner
-- guesses a few, and reads all of them (then sorts) for each batch of the backlog.
ANALYZE audit_log;

-- Still append-only: every UPDATE is refused but one, the job's, which gives a row that
-- has no link yet all three chain columns and leaves every other column as it was.
-- (A migration that adds a column to audit_log adds it to this list.) DELETE and
-- TRUNCATE stay refused by 0001's triggers.
DROP TRIGGER audit_log_no_update ON audit_log;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW WHEN (NOT (
        OLD.chain_seq IS NULL AND OLD.chain_key_id IS NULL AND OLD.chain_mac IS NULL
        AND NEW.chain_seq IS NOT NULL AND NEW.chain_key_id IS NOT NULL
        AND NEW.chain_mac IS NOT NULL
        AND NEW.id IS NOT DISTINCT FROM OLD.id
        AND NEW.at IS NOT DISTINCT FROM OLD.at
        AND NEW.actor IS NOT DISTINCT FROM OLD.actor
        AND NEW.telegram_user_id IS NOT DISTINCT FROM OLD.telegram_user_id
        AND NEW.account_id IS NOT DISTINCT FROM OLD.account_id
        AND NEW.action IS NOT DISTINCT FROM OLD.action
        AND NEW.detail IS NOT DISTINCT FROM OLD.detail
    ))
    EXECUTE FUNCTION audit_log_append_only();
