-- Who manages an account from the chat, since when: /status lists the people, and the
-- support message says how long the requester has managed the account. Rows from before
-- get the time of their last change, the latest moment the link can have been made.
ALTER TABLE telegram_users ADD COLUMN linked_at BIGINT;
UPDATE telegram_users SET linked_at = updated_at;

-- A link can be voided before it is used: seen in a group, or the switch it offered
-- declined. A voided link never binds anyone.
ALTER TABLE enrollment_links ADD COLUMN voided_at BIGINT;
