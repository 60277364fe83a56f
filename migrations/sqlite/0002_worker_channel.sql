-- Worker channel (SQLite): policy version bumped by triggers, message tracking from events.
CREATE TABLE policy_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  BIGINT NOT NULL
);
INSERT INTO policy_state (id, version) VALUES (1, 1);

CREATE TRIGGER policy_bump_domains_i AFTER INSERT ON domains BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_domains_u AFTER UPDATE ON domains BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_domains_d AFTER DELETE ON domains BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_users_i AFTER INSERT ON users BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_users_u AFTER UPDATE OF email, org_id ON users BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_users_d AFTER DELETE ON users BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_ips_i AFTER INSERT ON allowed_ips BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_ips_d AFTER DELETE ON allowed_ips BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_policies_i AFTER INSERT ON org_policies BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_policies_u AFTER UPDATE ON org_policies BEGIN UPDATE policy_state SET version = version + 1; END;

CREATE TABLE tracked_messages (
    id           TEXT PRIMARY KEY NOT NULL,
    org_id       BLOB REFERENCES orgs(id) ON DELETE CASCADE,
    node_id      BLOB,
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
    received_at  TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX tracked_messages_org_time_idx ON tracked_messages(org_id, received_at);

CREATE TABLE message_events (
    id          BLOB PRIMARY KEY NOT NULL,
    tracking_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX message_events_tracking_idx ON message_events(tracking_id, at);
