-- Quarantine digests: each organisation user's schedule (a missing row means the default:
-- on, 08:00 local, only new), when the next one is due, when the last one was made and
-- when one was last resent on request. Keep in step with the other backend.
CREATE TABLE digest_settings (
    user_id         BLOB PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    enabled         BOOLEAN NOT NULL,
    times           TEXT NOT NULL,
    only_new        BOOLEAN NOT NULL,
    next_at         TEXT,
    last_sent_at    TEXT,
    last_resend_at  TEXT
);
CREATE INDEX digest_settings_due ON digest_settings (next_at);

-- When a held message was first listed in a digest ("only new" lists those never listed).
ALTER TABLE quarantine ADD COLUMN digested_at TEXT;
-- A user's digest (and quarantine) covers those who delegated theirs to it. Partial: most
-- users have no delegate, and a full index's statistics would make the planner scan users.
CREATE INDEX users_delegate_idx ON users (quarantine_delegate_id) WHERE quarantine_delegate_id IS NOT NULL;
