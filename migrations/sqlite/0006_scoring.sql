-- Interactive and scoring problems: how a version is judged (protobuf Judging; NULL for a
-- batch pass-fail version from before), each test's group, and scores of tests, groups and
-- jobs. Group results are kept per attempt, as test results are.
ALTER TABLE problems ADD COLUMN judging BLOB;
ALTER TABLE problem_tests ADD COLUMN grp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN score REAL;
ALTER TABLE job_tests ADD COLUMN score REAL;
CREATE TABLE job_groups (
    job_id  INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    name    TEXT NOT NULL,
    verdict TEXT NOT NULL,
    score   REAL NOT NULL,
    PRIMARY KEY (job_id, attempt, idx)
);
