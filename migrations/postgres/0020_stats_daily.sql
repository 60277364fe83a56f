-- Daily roll-ups beside the hourly ones, written in the same transaction: a read over many
-- organisations (an MSP's month) sums 31 rows a metric and organisation instead of 744.
CREATE TABLE stats_daily (
    org_id  UUID NOT NULL,
    day     TIMESTAMPTZ NOT NULL,
    metric  TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (org_id, day, metric)
);
INSERT INTO stats_daily (org_id, day, metric, n)
    SELECT org_id, date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', metric, SUM(n) FROM stats_hourly
    GROUP BY 1, 2, 3;

-- The first day whose top lists the retention pass has not yet cut to their busiest keys.
CREATE TABLE stats_compaction (
    id        SMALLINT PRIMARY KEY CHECK (id = 1),
    next_day  TIMESTAMPTZ NOT NULL
);
