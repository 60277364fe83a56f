-- A domain's own filtering policy (PostgreSQL), overriding its organisation's when present.
CREATE TABLE domain_policies (
    domain_id   UUID PRIMARY KEY NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    policy      TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE TRIGGER policy_bump_domain_policies AFTER INSERT OR UPDATE OR DELETE ON domain_policies FOR EACH STATEMENT EXECUTE FUNCTION policy_bump();
