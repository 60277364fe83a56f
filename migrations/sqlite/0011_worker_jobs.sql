-- Jobs the API hands to workers (releases from quarantine now; later sends from the Live
-- Archive and system mail): leased by one node at a time, done once. A quarantined message
-- is released at most once, however often release is asked for.
CREATE TABLE worker_jobs (
    id             BLOB PRIMARY KEY NOT NULL,
    kind           TEXT NOT NULL,
    quarantine_id  TEXT NOT NULL,
    org_id         BLOB NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    recipient      TEXT NOT NULL,
    sender         TEXT NOT NULL,
    blob_key       TEXT NOT NULL,
    released_by    TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending',
    leased_until   TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    created_at     TEXT NOT NULL,
    done_at        TEXT
);
CREATE UNIQUE INDEX worker_jobs_release_once ON worker_jobs (quarantine_id) WHERE kind = 'release';
CREATE INDEX worker_jobs_due ON worker_jobs (status, created_at);
