-- Quarantined messages (PostgreSQL): metadata here, raw bytes in the blob store.
CREATE TABLE quarantine (
    id           TEXT PRIMARY KEY NOT NULL,
    org_id       UUID NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id      UUID REFERENCES users(id) ON DELETE SET NULL,
    recipient    TEXT NOT NULL,
    sender       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    reasons      TEXT NOT NULL,
    size         BIGINT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    reviewed     BOOLEAN NOT NULL,
    blob_key     TEXT NOT NULL
);
CREATE INDEX quarantine_org_time_idx ON quarantine(org_id, received_at);
CREATE INDEX quarantine_user_idx ON quarantine(user_id);
