-- A run job's input and output are kept for a retention period, then dropped (its outcome,
-- exit code and use stay): when that happened. The partial index serves the per-token bound
-- on bytes held by run jobs whose input and output are still kept.
ALTER TABLE jobs ADD COLUMN io_expired_at BIGINT;
CREATE INDEX jobs_run_io_held ON jobs (owner) WHERE job_type = 'run' AND io_expired_at IS NULL;
