-- Alerts (SQLite): what an organisation's admins must look at, raised by workers (an
-- account over its outbound limits). An open alert with `blocks` set stops the account
-- from sending through any worker until an admin clears it; one open alert per
-- (organisation, kind, subject).
CREATE TABLE alerts (
    id          BLOB PRIMARY KEY NOT NULL,
    org_id      BLOB NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    blocks      BOOLEAN NOT NULL,
    raised_at   TEXT NOT NULL,
    cleared_at  TEXT,
    cleared_by  TEXT
);
CREATE INDEX alerts_org_idx ON alerts(org_id, raised_at);
CREATE UNIQUE INDEX alerts_open_idx ON alerts(org_id, kind, subject) WHERE cleared_at IS NULL;
CREATE TRIGGER policy_bump_alerts_i AFTER INSERT ON alerts WHEN NEW.blocks BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_alerts_u AFTER UPDATE OF cleared_at ON alerts WHEN NEW.blocks BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_alerts_d AFTER DELETE ON alerts WHEN OLD.blocks BEGIN UPDATE policy_state SET version = version + 1; END;

-- Test deliveries: asked for by an admin, run by a worker (a `test_delivery` job), the
-- worker's stages kept as JSON.
CREATE TABLE test_deliveries (
    id            BLOB PRIMARY KEY NOT NULL,
    org_id        BLOB NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    domain_id     BLOB NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    domain        TEXT NOT NULL,
    send_test     BOOLEAN NOT NULL,
    requested_by  TEXT NOT NULL,
    requested_at  TEXT NOT NULL,
    finished_at   TEXT,
    report        TEXT
);
CREATE INDEX test_deliveries_domain_idx ON test_deliveries(domain_id, requested_at);

-- Statistics roll-ups, kept as worker events arrive: counts per organisation (the nil id
-- for connections refused before any recipient), hour and metric (`verdict:…`,
-- `direction:…`, `threat:…`), and per day the most targeted recipients and sending IPs.
CREATE TABLE stats_hourly (
    org_id  BLOB NOT NULL,
    hour    TEXT NOT NULL,
    metric  TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (org_id, hour, metric)
);
CREATE TABLE stats_top (
    org_id  BLOB NOT NULL,
    day     TEXT NOT NULL,
    kind    TEXT NOT NULL,
    key     TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (org_id, day, kind, key)
);

-- A reverse-whitelist entry a user removed leaves the workers' snapshot too.
CREATE TRIGGER policy_bump_correspondents_d AFTER DELETE ON correspondents BEGIN UPDATE policy_state SET version = version + 1; END;

-- Feature flags: one row per setting; `scope_id` is the MSP or organisation (the nil id at
-- platform level).
CREATE TABLE feature_settings (
    feature   TEXT NOT NULL,
    level     TEXT NOT NULL,
    scope_id  TEXT NOT NULL,
    enabled   BOOLEAN NOT NULL,
    PRIMARY KEY (feature, level, scope_id)
);
