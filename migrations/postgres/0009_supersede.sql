-- A job may name a supersede key: a later job of the same owner with the same key cancels
-- it, queued or running. Kept so that a restarted scheduler still knows which job holds it.
ALTER TABLE jobs ADD COLUMN supersede_key TEXT;
