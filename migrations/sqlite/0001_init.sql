-- Scheduler state. The store is the truth; the scheduler's memory is a cache of it.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);

CREATE TABLE problems (
    id                 TEXT NOT NULL,
    version            INTEGER NOT NULL,
    name               TEXT NOT NULL,
    time_limit_ms      INTEGER NOT NULL,
    memory_limit_bytes INTEGER NOT NULL,
    output_limit_bytes INTEGER NOT NULL,
    validator_flags    TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    PRIMARY KEY (id, version)
);

-- Every file of a problem version, content addressed; blobs live on disk, not here.
CREATE TABLE problem_files (
    problem_id TEXT NOT NULL,
    version    INTEGER NOT NULL,
    path       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    PRIMARY KEY (problem_id, version, path)
);

CREATE TABLE problem_tests (
    problem_id    TEXT NOT NULL,
    version       INTEGER NOT NULL,
    idx           INTEGER NOT NULL,
    name          TEXT NOT NULL,
    input_sha256  TEXT NOT NULL,
    input_size    INTEGER NOT NULL,
    answer_sha256 TEXT NOT NULL,
    answer_size   INTEGER NOT NULL,
    PRIMARY KEY (problem_id, version, idx)
);

CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    job_type        TEXT NOT NULL,
    language        TEXT NOT NULL,
    problem_id      TEXT NOT NULL,
    problem_version INTEGER NOT NULL,
    run_all_tests   INTEGER NOT NULL,
    source          BLOB NOT NULL,
    state           TEXT NOT NULL,
    verdict         TEXT,
    message         TEXT NOT NULL DEFAULT '',
    attempt         INTEGER NOT NULL DEFAULT 0,
    worker          TEXT,
    submitted_at    INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX jobs_unfinished ON jobs (state) WHERE state IN ('queued', 'assigned', 'running');

-- Test results per attempt: a re-queued job's old results stay apart from the new ones.
CREATE TABLE job_tests (
    job_id    INTEGER NOT NULL,
    attempt   INTEGER NOT NULL,
    idx       INTEGER NOT NULL,
    name      TEXT NOT NULL,
    verdict   TEXT NOT NULL,
    time_ms   INTEGER NOT NULL,
    wall_ms   INTEGER NOT NULL,
    memory_kb INTEGER NOT NULL,
    exit_code INTEGER NOT NULL,
    signal    INTEGER NOT NULL,
    message   TEXT NOT NULL,
    PRIMARY KEY (job_id, attempt, idx)
);

-- What WatchJob replays: protobuf-encoded JobEvents, numbered per job without gaps.
CREATE TABLE job_events (
    job_id  INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (job_id, seq)
);
