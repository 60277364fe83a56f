-- Append-only record of every state-changing call and of admins' reads of others' mail.
CREATE TABLE audit_log (
    id          UUID PRIMARY KEY NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    UUID,
    actor       TEXT NOT NULL,
    ip          TEXT NOT NULL,
    action      TEXT NOT NULL,
    status      INTEGER NOT NULL,
    org_id      UUID,
    msp_id      UUID
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_org ON audit_log (org_id, at);
CREATE INDEX audit_log_msp ON audit_log (msp_id, at);
