-- Rejudges: each earlier judging of a job, kept when an admin has it judged again (the
-- job's row holds the newest). `attempt` is the attempt whose tests and groups it was.
CREATE TABLE judgings (
    job_id          BIGINT NOT NULL,
    n               BIGINT NOT NULL,
    problem_version BIGINT NOT NULL,
    state           TEXT NOT NULL,
    verdict         TEXT,
    message         TEXT NOT NULL,
    score           DOUBLE PRECISION,
    attempt         BIGINT NOT NULL,
    priority        TEXT NOT NULL,
    finished_at     BIGINT,
    PRIMARY KEY (job_id, n)
);
-- Attempts made before the current judging: the retry cap counts from here.
ALTER TABLE jobs ADD COLUMN judging_base BIGINT NOT NULL DEFAULT 0;
