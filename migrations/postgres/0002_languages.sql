-- Languages some worker of the cluster has offered: Submit accepts only these.
CREATE TABLE languages (
    id      TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    seen_at BIGINT NOT NULL
);
