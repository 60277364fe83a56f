"""API search latency with 1,000,000 tracked messages and 1,000,000 quarantined messages across
1,000 organisations, on SQLite and on PostgreSQL. A generator writes the rows straight into
the database (not through SMTP), then the API (started on that database) is asked the same
searches 40 times each, as the platform admin, an org admin and a user; p50 and p95.

Usage: python3 bench/search.py TARGET_DIR [--rows 1000000] [--orgs 1000]
"""

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from mta_test import free_port, wait_for  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "target/release")
ROWS = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 1_000_000
ORGS = int(sys.argv[sys.argv.index("--orgs") + 1]) if "--orgs" in sys.argv else 1000
PG_URL = os.environ.get("MOAT_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
WORDS = "invoice meeting report offer update order payment delivery account password statement newsletter".split()
REPEAT = 10


def rows(org_ids, demo_org, demo_user):
    """Deterministic generated messages: (tracking id, org, sender, recipient, subject, at, user)."""
    rng = random.Random(42)
    # Within the retentions (30 days of quarantine by default): the purge job, which runs
    # when the API starts, would take older rows away.
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=25)
    for i in range(ROWS):
        org = demo_org if i % 100 == 0 else org_ids[rng.randrange(len(org_ids))]
        user = demo_user if org == demo_org else None
        sender = f"{rng.choice(WORDS)}{rng.randrange(5000)}@sender{rng.randrange(2000)}.test"
        recipient = "user@example.test" if org == demo_org else f"u{rng.randrange(50)}@org{org.hex[:8]}.test"
        subject = f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} #{i}"
        at = start + timedelta(seconds=i * 2)
        yield f"bench{i:08d}.1", org, sender, recipient, subject, at, user


def api(db_url, data_dir, port):
    env = dict(os.environ, MOAT_DATABASE_URL=db_url, MOAT_DATA_DIR=data_dir, MOAT_HTTP_LISTEN=f"127.0.0.1:{port}",
               MOAT_DEMO_SEED="true", MOAT_LOG="warn")
    proc = subprocess.Popen([f"{BIN}/moat-api", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: call(port, "/readyz", raw=True) == 200, timeout=60, what="API ready")
    return proc


def call(port, path, token=None, body=None, raw=False):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode() if body else None,
                                 method="POST" if body else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return res.status if raw else json.loads(res.read())
    except OSError:
        return 0 if raw else None


def login(port, email, password):
    return call(port, "/api/v1/auth/login", body={"email": email, "password": password})["access_token"]


def seed_sqlite(path, demo):
    db = sqlite3.connect(path)
    db.execute("PRAGMA cache_size = -262144")  # the text index's merges stay in memory while seeding
    msp = db.execute("SELECT msp_id FROM orgs WHERE id = ?", (demo["org"].bytes,)).fetchone()[0]
    now = datetime.now(timezone.utc).isoformat()
    org_ids = [uuid.uuid4() for _ in range(ORGS - 1)] + [demo["org"]]
    db.executemany("INSERT INTO orgs (id, msp_id, name, created_at) VALUES (?, ?, ?, ?)",
                   [(o.bytes, msp, f"Bench org {n}", now) for n, o in enumerate(org_ids[:-1])])
    ts = lambda at: at.isoformat()
    db.executemany(
        "INSERT INTO tracked_messages (id, org_id, node_id, direction, sender, recipients, subject, message_id, size, "
        "client_ip, status, verdict, reasons, attempts, last_error, received_at, updated_at) VALUES "
        "(?, ?, NULL, 'inbound', ?, ?, ?, ?, 4000, '192.0.2.1', 'delivered', 'deliver', '[]', 1, NULL, ?, ?)",
        ((t, o.bytes, s, f",{r},", subj, f"{t}@gen", ts(at), ts(at)) for t, o, s, r, subj, at, _ in rows(org_ids, demo["org"], demo["user"])))
    db.executemany(
        "INSERT INTO quarantine (id, org_id, user_id, recipient, sender, subject, message_id, score, reasons, size, "
        "received_at, reviewed, blob_key) VALUES (?, ?, ?, ?, ?, ?, ?, 7.5, '[\"BAYES_99 (+5.5)\"]', 4000, ?, 0, 'none')",
        ((t + "-q", o.bytes, u.bytes if u else None, r, s, subj, f"{t}@gen", ts(at))
         for t, o, s, r, subj, at, u in rows(org_ids, demo["org"], demo["user"])))
    db.commit()
    db.execute("ANALYZE")
    db.close()


def psql(url, sql, stdin=None):
    """Runs one statement (with COPY data on stdin) against `url`; answers its output."""
    return subprocess.run(["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", url, "-c", sql], input=stdin, check=True,
                          capture_output=True, text=True).stdout


def msp_of(url, org):
    """The MSP of organisation `org` in the PostgreSQL database at `url`."""
    return subprocess.run(["psql", "-X", "-tA", url, "-c", f"SELECT msp_id FROM orgs WHERE id = '{org}'"],
                          check=True, capture_output=True, text=True).stdout.strip()


def seed_postgres(url, demo):
    def psql(sql, stdin=None):
        return subprocess.run(["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", url, "-c", sql], input=stdin, check=True,
                              capture_output=True, text=True).stdout
    msp = subprocess.run(["psql", "-X", "-tA", url, "-c", f"SELECT msp_id FROM orgs WHERE id = '{demo['org']}'"],
                         check=True, capture_output=True, text=True).stdout.strip()
    now = datetime.now(timezone.utc).isoformat()
    org_ids = [uuid.uuid4() for _ in range(ORGS - 1)] + [demo["org"]]
    psql("COPY orgs (id, msp_id, name, created_at) FROM STDIN",
         "".join(f"{o}\t{msp}\tBench org {n}\t{now}\n" for n, o in enumerate(org_ids[:-1])))
    tracked = "".join(f"{t}\t{o}\tinbound\t{s}\t,{r},\t{subj}\t{t}@gen\t4000\t192.0.2.1\tdelivered\tdeliver\t[]\t1\t{at.isoformat()}\t{at.isoformat()}\n"
                      for t, o, s, r, subj, at, _ in rows(org_ids, demo["org"], demo["user"]))
    psql("COPY tracked_messages (id, org_id, direction, sender, recipients, subject, message_id, size, client_ip, status, "
         "verdict, reasons, attempts, received_at, updated_at) FROM STDIN", tracked)
    quarantined = "".join(f"{t}-q\t{o}\t{u if u else chr(92) + 'N'}\t{r}\t{s}\t{subj}\t{t}@gen\t7.5\t[\"BAYES_99 (+5.5)\"]\t4000\t{at.isoformat()}\tf\tnone\n"
                          for t, o, s, r, subj, at, u in rows(org_ids, demo["org"], demo["user"]))
    psql("COPY quarantine (id, org_id, user_id, recipient, sender, subject, message_id, score, reasons, size, received_at, "
         "reviewed, blob_key) FROM STDIN", quarantined)
    psql("ANALYZE")


def measure(port, demo):
    admin = login(port, "admin@moat.test", "moat-demo-admin")
    org_admin = login(port, "admin@example.test", "moat-demo-orgadmin")
    user = login(port, "user@example.test", "moat-demo-user")
    searches = [
        ("platform admin: tracking, newest page", admin, "/api/v1/messages"),
        ("platform admin: tracking, q=invoice", admin, "/api/v1/messages?q=invoice"),
        ("platform admin: tracking, sender=offer42", admin, "/api/v1/messages?sender=offer42"),
        ("org admin: tracking, q=payment", org_admin, "/api/v1/messages?q=payment"),
        ("platform admin: quarantine, q=invoice", admin, "/api/v1/quarantine?q=invoice"),
        ("org admin: quarantine, newest page", org_admin, "/api/v1/quarantine"),
        ("user: quarantine, q=statement", user, "/api/v1/quarantine?q=statement"),
    ]
    return time_searches(port, searches)


def time_searches(port, searches, repeat=REPEAT):
    """Each (label, token, path) asked once to warm up, then `repeat` times: (label, total, p50, p95)."""
    results = []
    for label, token, path in searches:
        first = call(port, path, token)
        assert first and "total" in first, (path, first)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            call(port, path, token)
            times.append(time.perf_counter() - started)
        times.sort()
        results.append((label, first["total"], times[len(times) // 2], times[int(len(times) * 0.95) - 1]))
    return results


def run(backend, seed_sqlite=seed_sqlite, seed_postgres=seed_postgres, measure=measure, settle=0.0):
    """Seeds a fresh database of `backend` around the demo tenant, then measures on it."""
    work = tempfile.mkdtemp(prefix=f"moat-search-{backend}-")
    port = free_port()
    if backend == "SQLite":
        url = f"sqlite:{work}/moat.db"
    else:
        name = f"moat_bench_{os.getpid()}_{int(time.time())}"
        subprocess.run(["psql", "-X", "-q", PG_URL, "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
    proc = api(url, work, port)
    me = call(port, "/api/v1/auth/me", login(port, "user@example.test", "moat-demo-user"))
    demo = {"org": uuid.UUID(me["reach"]["org_id"]), "user": uuid.UUID(me["user"]["id"])}
    proc.terminate()
    proc.wait()
    started = time.time()
    if backend == "SQLite":
        seed_sqlite(f"{work}/moat.db", demo)
    else:
        seed_postgres(url, demo)
    seeded = time.time() - started
    proc = api(url, work, port)
    try:
        time.sleep(settle)
        return seeded, measure(port, demo)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)
        if backend != "SQLite":
            subprocess.run(["psql", "-X", "-q", PG_URL, "-c", f"DROP DATABASE {name}"], capture_output=True)


def main():
    print(f"{ROWS:,} tracked + {ROWS:,} quarantined messages across {ORGS:,} organisations (1 % in the demo org); "
          f"each search {REPEAT}× over HTTP (after one warm-up) on loopback; `total` is counted on every request (exactly up to 1,000, then reported as capped).")
    print()
    print("| Backend | Search | Matches | p50 | p95 |")
    print("|---|---|---|---|---|")
    for backend in os.environ.get("MOAT_BENCH_BACKENDS", "SQLite,PostgreSQL").split(","):
        seeded, results = run(backend)
        for label, total, p50, p95 in results:
            print(f"| {backend} | {label} | {total:,} | {p50 * 1000:.1f} ms | {p95 * 1000:.1f} ms |", flush=True)
        print(f"| {backend} | (seeding {2 * ROWS:,} rows took {seeded:.0f} s) | | | |", flush=True)


if __name__ == "__main__":
    main()
