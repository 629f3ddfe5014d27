-- Interactive and scoring problems: how a version is judged (protobuf Judging; NULL for a
-- batch pass-fail version from before), each test's group, and scores of tests, groups and
-- jobs. Group results are kept per attempt, as test results are.
ALTER TABLE problems ADD COLUMN judging BYTEA;
ALTER TABLE problem_tests ADD COLUMN grp BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN score DOUBLE PRECISION;
ALTER TABLE job_tests ADD COLUMN score DOUBLE PRECISION;
CREATE TABLE job_groups (
    job_id  BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    idx     BIGINT NOT NULL,
    name    TEXT NOT NULL,
    verdict TEXT NOT NULL,
    score   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job_id, attempt, idx)
);
