"""Statistics read latency: a month of a large organisation (goal: under 100 ms), on SQLite and
on PostgreSQL. A generator writes the roll-ups the event ingest keeps (`stats_hourly`,
`stats_daily`, `stats_hourly_by`, `stats_top`) straight into the database, for the demo organisation as a
large one — 31 days of hourly counts for every metric (directions, verdicts, nine kinds of
threat), the same for its domain and for 1,000 of its mailboxes, the top lists of 5,000
recipients and 5,000 client IPs every day — beside 300 other organisations of the same MSP.
Then one retention pass (`moat-api retention run`) cuts the finished days' top lists as the
hourly job would, and `GET /stats` is asked over HTTP 20 times each (after one warm-up) for the month by day,
by hour, for the domain, for one mailbox and for the whole MSP; p50, p95 and max.

Usage: python3 bench/stats.py TARGET_DIR
"""

import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import search  # noqa: E402  (the API start-up, HTTP calls and seeding run of the search benchmark)

DAYS = 31
METRICS = ["direction:inbound", "direction:outbound", "verdict:deliver", "verdict:quarantine", "verdict:reject",
           "threat:spam", "threat:dns_list", "threat:early_talker", "threat:tarpit", "threat:attachment",
           "threat:backscatter", "threat:block_list", "threat:dmarc"]
OTHER_ORGS = 300
MAILBOXES = 1000
TOP_KEYS = 5000
REPEAT = 20
END = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
START = END - timedelta(days=DAYS)


def hours():
    return [START + timedelta(hours=h) for h in range(DAYS * 24)]


def generated(demo, other_orgs):
    """(hourly, hourly_by, top) rows: (org, hour, metric, n), (org, key, hour, metric, n), (org, day, kind, key, n)."""
    rng = random.Random(11)
    hourly, by, top = [], [], []
    for hour in hours():
        for metric in METRICS:
            hourly.append((demo, hour, metric, rng.randrange(50, 5000)))
            by.append((demo, "domain:example.test", hour, metric, rng.randrange(50, 5000)))
        for org in other_orgs:
            for metric in METRICS[:8]:
                hourly.append((org, hour, metric, rng.randrange(1, 200)))
        # Each mailbox gets mail in some hours (three metrics an arrival).
        for m in rng.sample(range(MAILBOXES), 40):
            for metric in ("direction:inbound", "verdict:deliver", "threat:spam"):
                by.append((demo, f"user:u{m}@example.test", hour, metric, rng.randrange(1, 20)))
    for d in range(DAYS + 1):
        day = (START + timedelta(days=d)).replace(hour=0)  # the ingest keeps top lists per UTC day
        for k in range(TOP_KEYS):
            top.append((demo, day, "recipient", f"u{k}@example.test", rng.randrange(1, 400)))
            top.append((demo, day, "ip", f"198.51.{k // 250}.{k % 250}", rng.randrange(1, 400)))
    return hourly, daily_of(hourly), by, top


def daily_of(hourly):
    """The daily roll-up the ingest keeps beside the hourly one: (org, day, metric, n)."""
    days = {}
    for org, hour, metric, n in hourly:
        key = (org, hour.replace(hour=0), metric)
        days[key] = days.get(key, 0) + n
    return [(org, day, metric, n) for (org, day, metric), n in days.items()]


def retention_pass(db_url):
    """One retention pass as the hourly job runs it; answers its seconds."""
    work = tempfile.mkdtemp(prefix="moat-stats-retention-")
    env = dict(os.environ, MOAT_DATABASE_URL=db_url, MOAT_DATA_DIR=work, MOAT_LOG="warn")
    started = time.time()
    subprocess.run([f"{search.BIN}/moat-api", "retention", "run"], env=env, check=True, capture_output=True)
    return time.time() - started


def seed_sqlite(path, demo):
    db = sqlite3.connect(path)
    msp = db.execute("SELECT msp_id FROM orgs WHERE id = ?", (demo["org"].bytes,)).fetchone()[0]
    others = [uuid.uuid4() for _ in range(OTHER_ORGS)]
    now = datetime.now(timezone.utc).isoformat()
    db.executemany("INSERT INTO orgs (id, msp_id, name, created_at) VALUES (?, ?, ?, ?)",
                   [(o.bytes, msp, f"Stats org {n}", now) for n, o in enumerate(others)])
    db.execute("INSERT OR IGNORE INTO users (id, org_id, email, display_name, role, time_zone, active, created_at) "
               "VALUES (?, ?, 'u7@example.test', 'Mailbox 7', 'user', 'UTC', 1, ?)", (uuid.uuid4().bytes, demo["org"].bytes, now))
    hourly, daily, by, top = generated(demo["org"], others)
    db.executemany("INSERT INTO stats_hourly (org_id, hour, metric, n) VALUES (?, ?, ?, ?)",
                   [(o.bytes, h.isoformat(), m, n) for o, h, m, n in hourly])
    db.executemany("INSERT INTO stats_daily (org_id, day, metric, n) VALUES (?, ?, ?, ?)",
                   [(o.bytes, d.isoformat(), m, n) for o, d, m, n in daily])
    db.executemany("INSERT INTO stats_hourly_by (org_id, key, hour, metric, n) VALUES (?, ?, ?, ?, ?)",
                   [(o.bytes, k, h.isoformat(), m, n) for o, k, h, m, n in by])
    db.executemany("INSERT INTO stats_top (org_id, day, kind, key, n) VALUES (?, ?, ?, ?, ?)",
                   [(o.bytes, d.isoformat(), kind, k, n) for o, d, kind, k, n in top])
    # The API's first start marked today as the first day to cut; the seeded month came before.
    db.execute("DELETE FROM stats_compaction")
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return len(hourly) + len(daily) + len(by) + len(top), retention_pass(f"sqlite:{path}")


def seed_postgres(url, demo):
    def psql(sql, stdin=None):
        search.psql(url, sql, stdin)
    msp = search.msp_of(url, demo["org"])
    others = [uuid.uuid4() for _ in range(OTHER_ORGS)]
    now = datetime.now(timezone.utc).isoformat()
    psql("COPY orgs (id, msp_id, name, created_at) FROM STDIN", "".join(f"{o}\t{msp}\tStats org {n}\t{now}\n" for n, o in enumerate(others)))
    psql(f"INSERT INTO users (id, org_id, email, display_name, role, time_zone, active, created_at) VALUES "
         f"('{uuid.uuid4()}', '{demo['org']}', 'u7@example.test', 'Mailbox 7', 'user', 'UTC', true, '{now}') ON CONFLICT DO NOTHING")
    hourly, daily, by, top = generated(demo["org"], others)
    psql("COPY stats_hourly (org_id, hour, metric, n) FROM STDIN", "".join(f"{o}\t{h.isoformat()}\t{m}\t{n}\n" for o, h, m, n in hourly))
    psql("COPY stats_daily (org_id, day, metric, n) FROM STDIN", "".join(f"{o}\t{d.isoformat()}\t{m}\t{n}\n" for o, d, m, n in daily))
    psql("COPY stats_hourly_by (org_id, key, hour, metric, n) FROM STDIN",
         "".join(f"{o}\t{k}\t{h.isoformat()}\t{m}\t{n}\n" for o, k, h, m, n in by))
    psql("COPY stats_top (org_id, day, kind, key, n) FROM STDIN", "".join(f"{o}\t{d.isoformat()}\t{kind}\t{k}\t{n}\n" for o, d, kind, k, n in top))
    psql("DELETE FROM stats_compaction")
    psql("ANALYZE")
    rows = len(hourly) + len(daily) + len(by) + len(top)
    cut = retention_pass(url)
    psql("ANALYZE")
    return rows, cut


def measure(port, demo):
    admin = search.login(port, "admin@moat.test", "moat-demo-admin")
    org_admin = search.login(port, "admin@example.test", "moat-demo-orgadmin")
    me = search.call(port, "/api/v1/auth/me", org_admin)
    domain = search.call(port, f"/api/v1/orgs/{demo['org']}/domains", org_admin)["items"][0]["id"]
    users = search.call(port, f"/api/v1/orgs/{demo['org']}/users?per_page=500", org_admin)["items"]
    mailbox = next(u["id"] for u in users if u["email"] == "u7@example.test")
    msp = search.call(port, f"/api/v1/orgs/{demo['org']}", org_admin)["msp_id"]
    month = "from=" + urllib.parse.quote(START.isoformat()) + "&to=" + urllib.parse.quote(END.isoformat())
    asks = [
        ("org admin: the organisation's month by day", org_admin, f"/api/v1/stats?org_id={demo['org']}&{month}&bucket=day"),
        ("org admin: the organisation's month by hour", org_admin, f"/api/v1/stats?org_id={demo['org']}&{month}&bucket=hour"),
        ("org admin: its domain's month by day", org_admin, f"/api/v1/stats?domain_id={domain}&{month}&bucket=day"),
        ("org admin: one mailbox's month by day", org_admin, f"/api/v1/stats?user_id={mailbox}&{month}&bucket=day"),
        (f"platform admin: the MSP's month ({OTHER_ORGS + 1} organisations) by day", admin, f"/api/v1/stats?msp_id={msp}&{month}&bucket=day"),
    ]
    assert me["reach"]["org_id"] == str(demo["org"])
    results = []
    for label, token, path in asks:
        first = search.call(port, path, token)
        assert first and first["series"] and first["totals"]["inbound"] > 0, (path, first)
        times = []
        for _ in range(REPEAT):
            started = time.perf_counter()
            search.call(port, path, token)
            times.append(time.perf_counter() - started)
        times.sort()
        results.append((label, first["totals"]["inbound"] + first["totals"]["outbound"], len(first["series"]), times[len(times) // 2],
                        times[int(len(times) * 0.95) - 1], times[-1]))
    return results


def main():
    print(f"{DAYS} days of hourly roll-ups ({len(METRICS)} metrics) for the demo organisation, its domain and "
          f"{MAILBOXES:,} mailboxes; top lists of {TOP_KEYS:,} recipients and IPs a day; {OTHER_ORGS} other organisations "
          f"of the same MSP. `GET /stats` over HTTP on loopback, {REPEAT}× each after one warm-up (release build).")
    print()
    print("| Backend | Read | Messages | Buckets | p50 | p95 | max | Goal (< 100 ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for backend in os.environ.get("MOAT_BENCH_BACKENDS", "SQLite,PostgreSQL").split(","):
        counted = {}

        def seed_lite(path, demo):
            counted["rows"], counted["cut"] = seed_sqlite(path, demo)

        def seed_pg(url, demo):
            counted["rows"], counted["cut"] = seed_postgres(url, demo)
        seeded, results = search.run(backend, seed_sqlite=seed_lite, seed_postgres=seed_pg, measure=measure)
        for label, messages, buckets, p50, p95, worst in results:
            goal = "met" if p95 < 0.1 else "missed"
            print(f"| {backend} | {label} | {messages:,} | {buckets} | {p50 * 1000:.1f} ms | {p95 * 1000:.1f} ms | "
                  f"{worst * 1000:.1f} ms | {goal} |", flush=True)
        print(f"| {backend} | (seeding {counted['rows']:,} roll-up rows took {seeded:.0f} s, of which the retention pass "
              f"cutting 31 days' top lists {counted['cut']:.1f} s) | | | | | | |", flush=True)


if __name__ == "__main__":
    main()
