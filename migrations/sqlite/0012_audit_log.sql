-- Append-only record of every state-changing call and of admins' reads of others' mail.
CREATE TABLE audit_log (
    id          BLOB PRIMARY KEY NOT NULL,
    at          TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    BLOB,
    actor       TEXT NOT NULL,
    ip          TEXT NOT NULL,
    action      TEXT NOT NULL,
    status      INTEGER NOT NULL,
    org_id      BLOB,
    msp_id      BLOB
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_org ON audit_log (org_id, at);
CREATE INDEX audit_log_msp ON audit_log (msp_id, at);
