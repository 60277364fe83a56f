"""How long the digest job takes for 100,000 users (goal: under 60 s on this machine), on
SQLite and on PostgreSQL. A generator writes 1,000 organisations of 100 users each (time
zones mixed, three held messages per user) straight into the database, every user's digest
due; then `moat-api digests run` makes them all (query, plain-word reasons, signed links,
text and HTML built, outbox rows written, schedules moved on in the users' zones) and is timed.
A second run with the schedules removed times scheduling 100,000 users seen for the first time.

Usage: python3 bench/digests.py TARGET_DIR [--users 100000]
"""

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, timedelta, timezone

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "target/release")
USERS = int(sys.argv[sys.argv.index("--users") + 1]) if "--users" in sys.argv else 100_000
PER_ORG = 100
HELD_PER_USER = 3
PG_URL = os.environ.get("MOAT_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
ZONES = ["Asia/Tokyo", "Europe/Berlin", "America/New_York", "UTC", "Australia/Sydney", "America/Sao_Paulo"]
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


def generated(msp):
    """(orgs, users, quarantine, settings) rows, deterministic."""
    rng = random.Random(7)
    orgs, users, held, settings = [], [], [], []
    for o in range(USERS // PER_ORG):
        org = uuid.UUID(int=rng.getrandbits(128))
        orgs.append((org, msp, f"Digest org {o}"))
        for u in range(PER_ORG):
            user = uuid.UUID(int=rng.getrandbits(128))
            email = f"u{u}@dorg{o}.test"
            users.append((user, org, email, f"User {u}", rng.choice(ZONES)))
            settings.append((user,))
            for h in range(HELD_PER_USER):
                at = NOW - timedelta(hours=rng.randrange(1, 48))
                held.append((f"dg{o}-{u}-{h}.1", org, user, email, f"offers{h}@shop{rng.randrange(500)}.test",
                             f"Offer {h} for user {u}", at))
    return orgs, users, held, settings


def seed_sqlite(path):
    db = sqlite3.connect(path)
    msp = db.execute("SELECT id FROM msps LIMIT 1").fetchone()[0]
    orgs, users, held, settings = generated(uuid.UUID(bytes=msp))
    now = NOW.isoformat()
    db.executemany("INSERT INTO orgs (id, msp_id, name, created_at) VALUES (?, ?, ?, ?)",
                   [(o.bytes, m.bytes, n, now) for o, m, n in orgs])
    db.executemany("INSERT INTO users (id, org_id, email, display_name, role, time_zone, active, created_at) "
                   "VALUES (?, ?, ?, ?, 'user', ?, 1, ?)", [(u.bytes, o.bytes, e, n, z, now) for u, o, e, n, z in users])
    db.executemany("INSERT INTO quarantine (id, org_id, user_id, recipient, sender, subject, message_id, score, reasons, "
                   "size, received_at, reviewed, blob_key) VALUES (?, ?, ?, ?, ?, ?, ?, 9.1, '[\"BAYES_99 (+5.5)\"]', "
                   "4000, ?, 0, 'none')",
                   [(i, o.bytes, u.bytes, r, s, subj, f"{i}@gen", at.isoformat()) for i, o, u, r, s, subj, at in held])
    schedule(db, settings)
    db.commit()
    db.execute("ANALYZE")
    db.close()


def schedule(db, settings):
    due = (NOW - timedelta(minutes=1)).isoformat()
    db.executemany("INSERT INTO digest_settings (user_id, enabled, times, only_new, next_at) VALUES (?, 1, '[\"08:00\"]', 1, ?)",
                   [(u.bytes, due) for (u,) in settings])


def seed_postgres(url):
    def psql(sql, stdin=None):
        subprocess.run(["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", url, "-c", sql], input=stdin, check=True,
                       capture_output=True, text=True)
    msp = subprocess.run(["psql", "-X", "-tA", url, "-c", "SELECT id FROM msps LIMIT 1"], check=True,
                         capture_output=True, text=True).stdout.strip()
    orgs, users, held, settings = generated(uuid.UUID(msp))
    now = NOW.isoformat()
    psql("COPY orgs (id, msp_id, name, created_at) FROM STDIN", "".join(f"{o}\t{m}\t{n}\t{now}\n" for o, m, n in orgs))
    psql("COPY users (id, org_id, email, display_name, role, time_zone, active, created_at) FROM STDIN",
         "".join(f"{u}\t{o}\t{e}\t{n}\tuser\t{z}\tt\t{now}\n" for u, o, e, n, z in users))
    psql("COPY quarantine (id, org_id, user_id, recipient, sender, subject, message_id, score, reasons, size, "
         "received_at, reviewed, blob_key) FROM STDIN",
         "".join(f"{i}\t{o}\t{u}\t{r}\t{s}\t{subj}\t{i}@gen\t9.1\t[\"BAYES_99 (+5.5)\"]\t4000\t{at.isoformat()}\tf\tnone\n"
                 for i, o, u, r, s, subj, at in held))
    due = (NOW - timedelta(minutes=1)).isoformat()
    psql("COPY digest_settings (user_id, enabled, times, only_new, next_at) FROM STDIN",
         "".join(f"{u}\tt\t[\"08:00\"]\tt\t{due}\n" for (u,) in settings))
    psql("ANALYZE")


def run(env, what):
    out = subprocess.run([f"{BIN}/moat-api", "digests", "run", "--at", NOW.isoformat()], env=env, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    count, seconds = int(out.split()[0]), float(out.split()[-2])
    return count, seconds


def bench(db_url, data_dir, seed, clear):
    env = dict(os.environ, MOAT_DATABASE_URL=db_url, MOAT_DATA_DIR=data_dir, MOAT_DEMO_SEED="true", MOAT_LOG="warn")
    # The first run creates the schema and the demo tenant (nothing is due yet).
    subprocess.run([f"{BIN}/moat-api", "digests", "run", "--at", "2000-01-01T00:00:00Z"], env=env, check=True,
                   capture_output=True)
    seed()
    made, made_s = run(env, "made")
    clear()
    scheduled_count, scheduled_s = run(env, "scheduled")
    return made, made_s, scheduled_s


def main():
    print(f"{USERS:,} users in {USERS // PER_ORG:,} organisations, {HELD_PER_USER} held messages each, "
          f"time zones {', '.join(ZONES)}; `moat-api digests run` (release build), one pass.\n")
    print("| Backend | Digests made | Time | Per second | Goal (< 60 s) | Scheduling 100,000 new users |")
    print("|---|---|---|---|---|---|")
    tmp = tempfile.mkdtemp(prefix="moat-bench-digests-")
    try:
        path = os.path.join(tmp, "moat.db")

        def clear_sqlite():
            db = sqlite3.connect(path)
            db.execute("DELETE FROM digest_settings")
            db.commit()
            db.close()
        made, secs, sched = bench(f"sqlite:{path}", tmp, lambda: seed_sqlite(path), clear_sqlite)
        print(f"| SQLite | {made:,} | {secs:.1f} s | {made / secs:,.0f} | {'met' if secs < 60 else 'missed'} | {sched:.1f} s |")
        if shutil.which("psql"):
            name = f"moat_bench_digests_{uuid.uuid4().hex[:8]}"
            subprocess.run(["psql", "-q", "-X", PG_URL, "-c", f"CREATE DATABASE {name}"], check=True)
            url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
            try:
                clear_pg = lambda: subprocess.run(["psql", "-q", "-X", url, "-c", "DELETE FROM digest_settings"], check=True)
                made, secs, sched = bench(url, os.path.join(tmp, "pg"), lambda: seed_postgres(url), clear_pg)
                print(f"| PostgreSQL | {made:,} | {secs:.1f} s | {made / secs:,.0f} | {'met' if secs < 60 else 'missed'} | {sched:.1f} s |")
            finally:
                subprocess.run(["psql", "-q", "-X", PG_URL, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
