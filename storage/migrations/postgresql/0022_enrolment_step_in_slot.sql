-- An enrolment's step lives in one place: the user's conversation slot (flow 'enrol',
-- step code, name or confirm), moved in the transaction of each change. The stage column
-- kept the same thing a second time; how far an enrolment got still shows in what it
-- holds (an accepted code, a device name).
ALTER TABLE pending_enrolments DROP COLUMN stage;
