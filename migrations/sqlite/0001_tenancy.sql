-- Tenancy, identity and credentials (SQLite). Keep in step with migrations/postgres.
CREATE TABLE msps (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT msps_name_key UNIQUE (name)
);

CREATE TABLE orgs (
    id          BLOB PRIMARY KEY NOT NULL,
    msp_id      BLOB NOT NULL REFERENCES msps(id),
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT orgs_msp_name_key UNIQUE (msp_id, name)
);
CREATE INDEX orgs_msp_idx ON orgs(msp_id);

CREATE TABLE domains (
    id                  BLOB PRIMARY KEY NOT NULL,
    org_id              BLOB NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    destination_host    TEXT NOT NULL,
    destination_port    INTEGER NOT NULL,
    tls_mode            TEXT NOT NULL,
    inbound_enabled     BOOLEAN NOT NULL,
    outbound_enabled    BOOLEAN NOT NULL,
    maintenance_banner  TEXT,
    created_at          TEXT NOT NULL,
    CONSTRAINT domains_name_key UNIQUE (name)
);
CREATE INDEX domains_org_idx ON domains(org_id);

CREATE TABLE users (
    id                      BLOB PRIMARY KEY NOT NULL,
    msp_id                  BLOB REFERENCES msps(id),
    org_id                  BLOB REFERENCES orgs(id) ON DELETE CASCADE,
    email                   TEXT NOT NULL,
    display_name            TEXT NOT NULL,
    role                    TEXT NOT NULL,
    password_hash           TEXT,
    time_zone               TEXT NOT NULL,
    quarantine_delegate_id  BLOB REFERENCES users(id) ON DELETE SET NULL,
    active                  BOOLEAN NOT NULL,
    created_at              TEXT NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);
CREATE INDEX users_org_idx ON users(org_id);
CREATE INDEX users_msp_idx ON users(msp_id);

CREATE TABLE allowed_ips (
    id          BLOB PRIMARY KEY NOT NULL,
    org_id      BLOB NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    cidr        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT allowed_ips_org_cidr_key UNIQUE (org_id, cidr)
);

CREATE TABLE org_policies (
    org_id      BLOB PRIMARY KEY NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    policy      TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE api_keys (
    id            BLOB PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL,
    msp_id        BLOB REFERENCES msps(id) ON DELETE CASCADE,
    org_id        BLOB REFERENCES orgs(id) ON DELETE CASCADE,
    created_by    BLOB REFERENCES users(id) ON DELETE SET NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT,
    CONSTRAINT api_keys_hash_key UNIQUE (key_hash)
);

CREATE TABLE user_tokens (
    id          BLOB PRIMARY KEY NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    created_at  TEXT NOT NULL,
    CONSTRAINT user_tokens_hash_key UNIQUE (token_hash)
);

CREATE TABLE system_mail (
    id          BLOB PRIMARY KEY NOT NULL,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    sent_at     TEXT
);

CREATE TABLE nodes (
    id            BLOB PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT,
    CONSTRAINT nodes_name_key UNIQUE (name),
    CONSTRAINT nodes_token_hash_key UNIQUE (token_hash)
);
