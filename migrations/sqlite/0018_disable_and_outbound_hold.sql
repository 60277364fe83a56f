-- An admin may disable a user (no sign-in, no digests, links refused) without deleting it;
-- quarantined mail says which way it was going (outbound holds are reviewed by admins).
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE quarantine ADD COLUMN direction TEXT NOT NULL DEFAULT 'inbound';
CREATE INDEX quarantine_org_direction_idx ON quarantine(org_id, direction, received_at);
-- A release job carries the held copy's direction (an outbound hold leaves as outbound mail).
ALTER TABLE worker_jobs ADD COLUMN direction TEXT NOT NULL DEFAULT 'inbound';
-- Statistics per domain and per user ('domain:<name>', 'user:<address>'): the same hourly
-- metrics as stats_hourly, so one domain's or one mailbox's month is one indexed range.
CREATE TABLE stats_hourly_by (
    org_id  BLOB NOT NULL,
    key     TEXT NOT NULL,
    hour    TEXT NOT NULL,
    metric  TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (org_id, key, hour, metric)
);
