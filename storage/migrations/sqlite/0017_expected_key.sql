-- The id the "Show key" message will most likely get (the pressed message's, plus one),
-- written before the key is sent: if the process dies after Telegram took the message
-- and before its real id was stored, the end of the enrolment still deletes it.
ALTER TABLE pending_enrolments ADD COLUMN key_expected_message_id INTEGER;
