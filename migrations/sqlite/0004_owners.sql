-- Whatever a token opened belongs to it: worker names to the token that first registered
-- them, jobs to the token that submitted them (by token name), with the submitter's
-- optional request id making a retried Submit return the same job.
CREATE TABLE worker_names (
    name       TEXT PRIMARY KEY,
    token_id   TEXT NOT NULL,
    claimed_at INTEGER NOT NULL
);
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN request_id TEXT;
CREATE INDEX jobs_owner ON jobs (owner, id);
CREATE UNIQUE INDEX jobs_request ON jobs (owner, request_id) WHERE request_id IS NOT NULL;
