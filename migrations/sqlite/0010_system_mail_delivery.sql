-- System mail is really sent: each message has a delivery state, retried with backoff by
-- one runner at a time (a lease), and an HTML part beside the text.
ALTER TABLE system_mail ADD COLUMN html TEXT NOT NULL DEFAULT '';
ALTER TABLE system_mail ADD COLUMN status TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE system_mail ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE system_mail ADD COLUMN next_attempt_at TEXT;
ALTER TABLE system_mail ADD COLUMN last_error TEXT;
CREATE INDEX system_mail_due ON system_mail (status, next_attempt_at);

-- Scheduled jobs take a lease by name, so one API replica runs each job at a time.
CREATE TABLE job_leases (
    name        TEXT PRIMARY KEY NOT NULL,
    holder      TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
