-- System mail can go out through a worker: a `system_mail` job on the worker channel (its
-- `quarantine_id` holds the system mail's id; system mail has no organisation, so org_id
-- becomes optional). SQLite cannot drop NOT NULL in place: the table is rebuilt.
CREATE TABLE worker_jobs_rebuilt (
    id             BLOB PRIMARY KEY NOT NULL,
    kind           TEXT NOT NULL,
    quarantine_id  TEXT NOT NULL,
    org_id         BLOB REFERENCES orgs(id) ON DELETE CASCADE,
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
INSERT INTO worker_jobs_rebuilt SELECT id, kind, quarantine_id, org_id, recipient, sender, blob_key, released_by,
    status, leased_until, attempts, last_error, created_at, done_at FROM worker_jobs;
DROP TABLE worker_jobs;
ALTER TABLE worker_jobs_rebuilt RENAME TO worker_jobs;
CREATE UNIQUE INDEX worker_jobs_release_once ON worker_jobs (quarantine_id) WHERE kind = 'release';
CREATE UNIQUE INDEX worker_jobs_system_mail_once ON worker_jobs (quarantine_id) WHERE kind = 'system_mail';
CREATE INDEX worker_jobs_due ON worker_jobs (status, created_at);
