-- `run` and `console` jobs: the program's standard input, its limits (protobuf RunLimits)
-- and its result (protobuf RunResult); all NULL for judge jobs. Job types workers have offered, so that
-- Submit refuses a type no worker of the cluster runs.
ALTER TABLE jobs ADD COLUMN stdin BLOB;
ALTER TABLE jobs ADD COLUMN run_limits BLOB;
ALTER TABLE jobs ADD COLUMN run_result BLOB;
-- `console` jobs: the terminal and its limits (protobuf ConsoleSpec).
ALTER TABLE jobs ADD COLUMN console BLOB;
CREATE TABLE job_types (
    id      TEXT PRIMARY KEY,
    seen_at INTEGER NOT NULL
);
-- Every cluster from before ran judge jobs.
INSERT INTO job_types (id, seen_at) VALUES ('judge', 0);
