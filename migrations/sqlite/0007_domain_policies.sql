-- A domain's own filtering policy (SQLite), overriding its organisation's when present.
CREATE TABLE domain_policies (
    domain_id   BLOB PRIMARY KEY NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    policy      TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TRIGGER policy_bump_domain_policies_i AFTER INSERT ON domain_policies BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_domain_policies_u AFTER UPDATE ON domain_policies BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_domain_policies_d AFTER DELETE ON domain_policies BEGIN UPDATE policy_state SET version = version + 1; END;
