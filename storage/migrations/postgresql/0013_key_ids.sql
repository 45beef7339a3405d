-- Which key a recovery code's hash was made under (bot/crypto.py's key id, 8 hex digits).
-- A hash cannot be re-made without the code, which is not stored: a code keeps the key it
-- was issued under until the account's next new set, and python -m bot rotate-key counts
-- what each key still holds. NULL: issued before key ids were recorded (key unknown).
ALTER TABLE recovery_codes ADD COLUMN key_id TEXT;
