-- The id the QR code message will most likely get (the message that asked for it, plus
-- one), written before the QR is sent: if the process dies after Telegram took the photo
-- and before its real id was stored, the end of the enrolment still deletes it.
ALTER TABLE pending_enrolments ADD COLUMN qr_expected_message_id INTEGER;
