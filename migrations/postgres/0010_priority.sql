-- Priority classes: each job's class, and the highest class each token may ask for (admins
-- may ask for any; a submitter's is normal unless granted more at `token create`).
ALTER TABLE jobs ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
ALTER TABLE tokens ADD COLUMN max_priority TEXT NOT NULL DEFAULT 'normal';
