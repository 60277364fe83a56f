"""Live Archive search latency with 1,000,000 archived messages across 1,000 organisations,
on SQLite and on PostgreSQL. A generator writes the rows straight into the database (each
message with its mailbox row and its tracked route), then the API is asked the same
searches over HTTP, as the demo user (whose mailbox holds 1 % of all mail: 10,000 messages)
and as its org admin opening that mailbox; p50 and p95. The goal is the quarantine search's:
p95 under 50 ms.

Usage: python3 bench/archive_search.py TARGET_DIR [--rows 1000000] [--orgs 1000]
"""

import os
import random
import sqlite3
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import search  # noqa: E402
from search import ORGS, ROWS, login, time_searches  # noqa: E402

WORDS = "invoice meeting report offer update order payment delivery account password statement newsletter".split()
USERS_PER_ORG = 5
REPEAT = 20


def vocabulary(rng):
    return [f"{rng.choice('bcdfghklmnprstvz')}{rng.choice('aeiou')}{rng.choice('bcdfghklmnprstvz')}{n}" for n in range(3000)]


def rows(org_ids, users, demo_org, demo_user):
    """Deterministic archived messages: (id, org, user, mailbox, sender, recipients, subject, snippet, search text, at)."""
    rng = random.Random(7)
    vocab = vocabulary(rng)
    # Within the default retention (7 days): the purge job would take older mail away.
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=5)
    for i in range(ROWS):
        org = demo_org if i % 100 == 0 else org_ids[rng.randrange(len(org_ids) - 1)]
        user = demo_user if org == demo_org else users[org][rng.randrange(USERS_PER_ORG)]
        mailbox = "sent" if rng.random() < 0.2 else "inbox"
        sender = f"{rng.choice(WORDS)}{rng.randrange(5000)}@sender{rng.randrange(2000)}.test"
        recipients = f",u{rng.randrange(50)}@org.test,"
        subject = f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} #{i}"
        words = [rng.choice(vocab) for _ in range(30)]
        if rng.random() < 0.001:
            words[rng.randrange(30)] = "pineapple"
        text = " ".join(words)
        search = f"{sender}\n{recipients}\n{subject}\n{text}".lower()
        at = start + timedelta(milliseconds=i * 400)
        yield f"arch{i:010d}", org, user, mailbox, sender, recipients, subject, text[:160], search, at


def seed_sqlite(path, demo):
    db = sqlite3.connect(path)
    msp = db.execute("SELECT msp_id FROM orgs WHERE id = ?", (demo["org"].bytes,)).fetchone()[0]
    now = datetime.now(timezone.utc).isoformat()
    org_ids = [uuid.uuid4() for _ in range(ORGS - 1)] + [demo["org"]]
    users = {o: [uuid.uuid4() for _ in range(USERS_PER_ORG)] for o in org_ids[:-1]}
    db.executemany("INSERT INTO orgs (id, msp_id, name, created_at) VALUES (?, ?, ?, ?)",
                   [(o.bytes, msp, f"Archive org {n}", now) for n, o in enumerate(org_ids[:-1])])
    db.executemany("INSERT INTO users (id, msp_id, org_id, email, display_name, role, password_hash, time_zone, "
                   "quarantine_delegate_id, active, created_at) VALUES (?, NULL, ?, ?, 'u', 'user', NULL, 'UTC', NULL, 1, ?)",
                   [(u.bytes, o.bytes, f"u{n}@{o.hex[:12]}.test", now) for o, us in users.items() for n, u in enumerate(us)])
    generated = list(rows(org_ids, users, demo["org"], demo["user"]))
    db.executemany(
        "INSERT INTO archive_messages (id, org_id, direction, sender, recipients, subject, message_id, thread_id, snippet, "
        "has_attachments, size, received_at, blob_key) VALUES (?, ?, 'inbound', ?, ?, ?, ?, ?, ?, 0, 3000, ?, 'none')",
        ((i, o.bytes, s, r, subj, f"{i}@gen", f"{i}@gen", snip, at.isoformat())
         for i, o, u, mb, s, r, subj, snip, text, at in generated))
    db.executemany(
        "INSERT INTO archive_mailboxes (archive_id, user_id, mailbox, tracking_id, search_text, received_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        ((i, u.bytes, mb, f"{i}.1", text, at.isoformat()) for i, o, u, mb, s, r, subj, snip, text, at in generated))
    db.executemany(
        "INSERT INTO tracked_messages (id, org_id, node_id, direction, sender, recipients, subject, message_id, size, "
        "client_ip, status, verdict, reasons, attempts, last_error, received_at, updated_at) VALUES "
        "(?, ?, NULL, 'inbound', ?, ?, ?, ?, 3000, '192.0.2.1', 'delivered', 'deliver', '[]', 1, NULL, ?, ?)",
        ((f"{i}.1", o.bytes, s, r, subj, f"{i}@gen", at.isoformat(), at.isoformat())
         for i, o, u, mb, s, r, subj, snip, text, at in generated))
    db.commit()
    db.execute("ANALYZE")
    db.close()


def seed_postgres(url, demo):
    def psql(sql, stdin=None):
        subprocess.run(["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", url, "-c", sql], input=stdin, check=True,
                       capture_output=True, text=True)
    msp = subprocess.run(["psql", "-X", "-tA", url, "-c", f"SELECT msp_id FROM orgs WHERE id = '{demo['org']}'"],
                         check=True, capture_output=True, text=True).stdout.strip()
    now = datetime.now(timezone.utc).isoformat()
    org_ids = [uuid.uuid4() for _ in range(ORGS - 1)] + [demo["org"]]
    users = {o: [uuid.uuid4() for _ in range(USERS_PER_ORG)] for o in org_ids[:-1]}
    psql("COPY orgs (id, msp_id, name, created_at) FROM STDIN",
         "".join(f"{o}\t{msp}\tArchive org {n}\t{now}\n" for n, o in enumerate(org_ids[:-1])))
    psql("COPY users (id, org_id, email, display_name, role, time_zone, active, created_at) FROM STDIN",
         "".join(f"{u}\t{o}\tu{n}@{o.hex[:12]}.test\tu\tuser\tUTC\tt\t{now}\n" for o, us in users.items() for n, u in enumerate(us)))
    generated = list(rows(org_ids, users, demo["org"], demo["user"]))
    esc = lambda t: t.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
    psql("COPY archive_messages (id, org_id, direction, sender, recipients, subject, message_id, thread_id, snippet, "
         "has_attachments, size, received_at, blob_key) FROM STDIN",
         "".join(f"{i}\t{o}\tinbound\t{s}\t{r}\t{subj}\t{i}@gen\t{i}@gen\t{esc(snip)}\tf\t3000\t{at.isoformat()}\tnone\n"
                 for i, o, u, mb, s, r, subj, snip, text, at in generated))
    psql("COPY archive_mailboxes (archive_id, user_id, mailbox, tracking_id, search_text, received_at) FROM STDIN",
         "".join(f"{i}\t{u}\t{mb}\t{i}.1\t{esc(text)}\t{at.isoformat()}\n" for i, o, u, mb, s, r, subj, snip, text, at in generated))
    psql("COPY tracked_messages (id, org_id, direction, sender, recipients, subject, message_id, size, client_ip, status, "
         "verdict, reasons, attempts, received_at, updated_at) FROM STDIN",
         "".join(f"{i}.1\t{o}\tinbound\t{s}\t{r}\t{subj}\t{i}@gen\t3000\t192.0.2.1\tdelivered\tdeliver\t[]\t1\t{at.isoformat()}\t{at.isoformat()}\n"
                 for i, o, u, mb, s, r, subj, snip, text, at in generated))
    psql("ANALYZE")


def measure(port, demo):
    user = login(port, "user@example.test", "moat-demo-user")
    org_admin = login(port, "admin@example.test", "moat-demo-orgadmin")
    other = f"user_id={demo['user']}"
    searches = [
        ("user: Inbox, newest page", user, "/api/v1/archive"),
        ("user: Sent, newest page", user, "/api/v1/archive?mailbox=sent"),
        ("user: Inbox, q=invoice (subject word, common)", user, "/api/v1/archive?q=invoice"),
        ("user: Inbox, q=pineapple (body word, rare)", user, "/api/v1/archive?q=pineapple"),
        ("user: Inbox, q=nosuchword (no match: every row looked at)", user, "/api/v1/archive?q=nosuchword"),
        ("user: Inbox, q=invoice, page 5", user, "/api/v1/archive?q=invoice&page=5"),
        ("org admin: the user's Inbox, q=payment (audited)", org_admin, f"/api/v1/archive?q=payment&{other}"),
    ]
    return time_searches(port, searches, REPEAT)


def main():
    print(f"{ROWS:,} archived messages across {ORGS:,} organisations ({USERS_PER_ORG} users each; the demo user's "
          f"mailbox holds 1 %: {ROWS // 100:,} messages, a fifth of them in Sent), each with its mailbox row and tracked "
          f"route; each search {REPEAT}× over HTTP (after one warm-up) on loopback; `total` counted on every request "
          "(exactly up to 1,000). Goal: p95 under 50 ms.")
    print()
    print("| Backend | Search | Matches | p50 | p95 |")
    print("|---|---|---|---|---|")
    for backend in os.environ.get("MOAT_BENCH_BACKENDS", "SQLite,PostgreSQL").split(","):
        # The digest job first gives the new users their default schedule.
        seeded, results = search.run(backend, seed_sqlite, seed_postgres, measure, settle=6)
        for label, total, p50, p95 in results:
            print(f"| {backend} | {label} | {total:,} | {p50 * 1000:.1f} ms | {p95 * 1000:.1f} ms |", flush=True)
        print(f"| {backend} | (seeding {ROWS:,} messages took {seeded:.0f} s) | | | |", flush=True)


if __name__ == "__main__":
    main()
