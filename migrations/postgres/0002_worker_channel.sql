-- Worker channel (PostgreSQL): policy version bumped by triggers, message tracking from events.
CREATE TABLE policy_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  BIGINT NOT NULL
);
INSERT INTO policy_state (id, version) VALUES (1, 1);

CREATE FUNCTION policy_bump() RETURNS trigger AS $$
BEGIN
    UPDATE policy_state SET version = version + 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER policy_bump_domains AFTER INSERT OR UPDATE OR DELETE ON domains FOR EACH STATEMENT EXECUTE FUNCTION policy_bump();
CREATE TRIGGER policy_bump_users_id AFTER INSERT OR DELETE ON users FOR EACH STATEMENT EXECUTE FUNCTION policy_bump();
CREATE TRIGGER policy_bump_users_u AFTER UPDATE OF email, org_id ON users FOR EACH STATEMENT EXECUTE FUNCTION policy_bump();
CREATE TRIGGER policy_bump_ips AFTER INSERT OR DELETE ON allowed_ips FOR EACH STATEMENT EXECUTE FUNCTION policy_bump();
CREATE TRIGGER policy_bump_policies AFTER INSERT OR UPDATE ON org_policies FOR EACH STATEMENT EXECUTE FUNCTION policy_bump();

CREATE TABLE tracked_messages (
    id           TEXT PRIMARY KEY NOT NULL,
    org_id       UUID REFERENCES orgs(id) ON DELETE CASCADE,
    node_id      UUID,
    direction    TEXT NOT NULL,
    sender       TEXT NOT NULL,
    recipients   TEXT NOT NULL,
    subject      TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    size         BIGINT NOT NULL,
    client_ip    TEXT NOT NULL,
    status       TEXT NOT NULL,
    verdict      TEXT,
    reasons      TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    last_error   TEXT,
    received_at  TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX tracked_messages_org_time_idx ON tracked_messages(org_id, received_at);

CREATE TABLE message_events (
    id          UUID PRIMARY KEY NOT NULL,
    tracking_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX message_events_tracking_idx ON message_events(tracking_id, at);
