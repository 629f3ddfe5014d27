-- Rejudges: each earlier judging of a job, kept when an admin has it judged again (the
-- job's row holds the newest). `attempt` is the attempt whose tests and groups it was.
CREATE TABLE judgings (
    job_id          INTEGER NOT NULL,
    n               INTEGER NOT NULL,
    problem_version INTEGER NOT NULL,
    state           TEXT NOT NULL,
    verdict         TEXT,
    message         TEXT NOT NULL,
    score           REAL,
    attempt         INTEGER NOT NULL,
    priority        TEXT NOT NULL,
    finished_at     INTEGER,
    PRIMARY KEY (job_id, n)
);
-- Attempts made before the current judging: the retry cap counts from here.
ALTER TABLE jobs ADD COLUMN judging_base INTEGER NOT NULL DEFAULT 0;
