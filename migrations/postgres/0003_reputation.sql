-- Shared IP reputation (PostgreSQL). Each node reports its own absolute counters per IP, so a
-- repeated push changes nothing; readers sum across nodes.
CREATE TABLE reputation_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  BIGINT NOT NULL
);
INSERT INTO reputation_state (id, version) VALUES (1, 0);

CREATE TABLE ip_reputation (
    ip             TEXT NOT NULL,
    node_id        UUID NOT NULL,
    connections    BIGINT NOT NULL,
    messages       BIGINT NOT NULL,
    rejected       BIGINT NOT NULL,
    early_talks    BIGINT NOT NULL,
    dnsbl_hits     BIGINT NOT NULL,
    penalty_until  TIMESTAMPTZ,
    first_seen     TIMESTAMPTZ NOT NULL,
    last_seen      TIMESTAMPTZ NOT NULL,
    seq            BIGINT NOT NULL,
    PRIMARY KEY (ip, node_id)
);
CREATE INDEX ip_reputation_seq_idx ON ip_reputation(seq);
