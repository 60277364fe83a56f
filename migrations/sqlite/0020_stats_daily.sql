-- Daily roll-ups beside the hourly ones, written in the same transaction: a read over many
-- organisations (an MSP's month) sums 31 rows a metric and organisation instead of 744.
CREATE TABLE stats_daily (
    org_id  BLOB NOT NULL,
    day     TEXT NOT NULL,
    metric  TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (org_id, day, metric)
);
-- The hours already counted (sqlx writes times as RFC 3339 with +00:00).
INSERT INTO stats_daily (org_id, day, metric, n)
    SELECT org_id, substr(hour, 1, 10) || 'T00:00:00+00:00', metric, SUM(n) FROM stats_hourly
    GROUP BY org_id, substr(hour, 1, 10), metric;

-- The first day whose top lists the retention pass has not yet cut to their busiest keys.
CREATE TABLE stats_compaction (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    next_day  TEXT NOT NULL
);
