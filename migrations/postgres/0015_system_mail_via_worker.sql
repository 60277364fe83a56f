-- System mail can go out through a worker: a `system_mail` job on the worker channel (its
-- `quarantine_id` holds the system mail's id; system mail has no organisation, so org_id
-- becomes optional). Keep in step with migrations/sqlite.
ALTER TABLE worker_jobs ALTER COLUMN org_id DROP NOT NULL;
CREATE UNIQUE INDEX worker_jobs_system_mail_once ON worker_jobs (quarantine_id) WHERE kind = 'system_mail';
