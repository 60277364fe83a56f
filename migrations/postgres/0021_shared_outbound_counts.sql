-- Outbound sending counts shared between worker nodes: each node stores its own absolute
-- counts per sender (`<org>/<address>`) or organisation (`<org>`) in its current hourly and
-- daily windows (hours and days since the Unix epoch), so a limit holds for the sum of every
-- node's traffic. A global version orders the pushes so nodes pull only changes.
CREATE TABLE outbound_count_state (
    id       SMALLINT PRIMARY KEY CHECK (id = 1),
    version  BIGINT NOT NULL
);
INSERT INTO outbound_count_state (id, version) VALUES (1, 0);

CREATE TABLE outbound_counts (
    key             TEXT NOT NULL,
    node_id         UUID NOT NULL,
    hour            BIGINT NOT NULL,
    hour_messages   BIGINT NOT NULL,
    day             BIGINT NOT NULL,
    day_messages    BIGINT NOT NULL,
    day_recipients  BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    PRIMARY KEY (key, node_id)
);
CREATE INDEX outbound_counts_seq_idx ON outbound_counts(seq);
CREATE INDEX outbound_counts_day_idx ON outbound_counts(day);
