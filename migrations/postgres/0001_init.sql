-- Scheduler state. The store is the truth; the scheduler's memory is a cache of it.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);

CREATE TABLE problems (
    id                 TEXT NOT NULL,
    version            BIGINT NOT NULL,
    name               TEXT NOT NULL,
    time_limit_ms      BIGINT NOT NULL,
    memory_limit_bytes BIGINT NOT NULL,
    output_limit_bytes BIGINT NOT NULL,
    validator_flags    TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (id, version)
);

-- Every file of a problem version, content addressed; blobs live on disk, not here.
CREATE TABLE problem_files (
    problem_id TEXT NOT NULL,
    version    BIGINT NOT NULL,
    path       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       BIGINT NOT NULL,
    PRIMARY KEY (problem_id, version, path)
);

CREATE TABLE problem_tests (
    problem_id    TEXT NOT NULL,
    version       BIGINT NOT NULL,
    idx           BIGINT NOT NULL,
    name          TEXT NOT NULL,
    input_sha256  TEXT NOT NULL,
    input_size    BIGINT NOT NULL,
    answer_sha256 TEXT NOT NULL,
    answer_size   BIGINT NOT NULL,
    PRIMARY KEY (problem_id, version, idx)
);

CREATE TABLE jobs (
    id              BIGINT PRIMARY KEY,
    job_type        TEXT NOT NULL,
    language        TEXT NOT NULL,
    problem_id      TEXT NOT NULL,
    problem_version BIGINT NOT NULL,
    run_all_tests   BIGINT NOT NULL,
    source          BYTEA NOT NULL,
    state           TEXT NOT NULL,
    verdict         TEXT,
    message         TEXT NOT NULL DEFAULT '',
    attempt         BIGINT NOT NULL DEFAULT 0,
    worker          TEXT,
    submitted_at    BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX jobs_unfinished ON jobs (state) WHERE state IN ('queued', 'assigned', 'running');

-- Test results per attempt: a re-queued job's old results stay apart from the new ones.
CREATE TABLE job_tests (
    job_id    BIGINT NOT NULL,
    attempt   BIGINT NOT NULL,
    idx       BIGINT NOT NULL,
    name      TEXT NOT NULL,
    verdict   TEXT NOT NULL,
    time_ms   BIGINT NOT NULL,
    wall_ms   BIGINT NOT NULL,
    memory_kb BIGINT NOT NULL,
    exit_code BIGINT NOT NULL,
    signal    BIGINT NOT NULL,
    message   TEXT NOT NULL,
    PRIMARY KEY (job_id, attempt, idx)
);

-- What WatchJob replays: protobuf-encoded JobEvents, numbered per job without gaps.
CREATE TABLE job_events (
    job_id  BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    payload BYTEA NOT NULL,
    PRIMARY KEY (job_id, seq)
);
