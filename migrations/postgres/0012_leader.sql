-- Two or more schedulers on one PostgreSQL: one leads, holding this lease. The term grows at
-- every takeover; every write transaction of the leader locks this row (FOR SHARE) and
-- checks the term, so a deposed leader cannot write once another has taken over.
CREATE TABLE leader_lease (
    id           INT PRIMARY KEY CHECK (id = 1),
    term         BIGINT NOT NULL,
    holder       TEXT NOT NULL,
    address      TEXT NOT NULL,
    http_address TEXT NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
INSERT INTO leader_lease (id, term, holder, address, http_address, expires_at)
VALUES (1, 0, '', '', '', 'epoch');

-- Problem files, content addressed, so that any scheduler on this database serves them (a
-- scheduler's blob directory is then a cache of these rows). One row per chunk, in order.
CREATE TABLE blob_chunks (
    sha256 TEXT NOT NULL,
    idx    INT NOT NULL,
    data   BYTEA NOT NULL,
    -- Milliseconds since the epoch: the gc keeps young rows a push may still be recording.
    stored_at BIGINT NOT NULL,
    PRIMARY KEY (sha256, idx)
);
