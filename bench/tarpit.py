"""Tarpit capacity benchmark: N idle connections held by the worker (connected, silent,
from many untrusted loopback addresses) while a trusted sender measures its throughput;
reports the worker's RSS and the sender's rate against a no-load run; then the same against
Postfix 3.7 with postscreen.

Usage: python3 bench/tarpit.py TARGET_DIR [--idle 10000] [--messages 300]
Every load is bounded in count and time, and talks only to 127.0.0.0/8.
"""

import argparse
import asyncio
import os
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mta_test  # noqa: E402  (reuses the e2e harness: API, sink, worker)
from relay import PostfixRelay, SmtpSink, tree_pss_kib  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def send_batch(port, n, tag, deadline=90):
    """Sends n messages over one connection from the trusted address; answers msgs/s, or
    None when the server did not take them all within `deadline` seconds."""
    body = b"Subject: bench %s\r\n\r\n" % tag.encode() + b"x" * 2000 + b"\r\n"
    started = time.time()
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=deadline)
        s.ehlo("bench.test")
        for _ in range(n):
            s.sendmail("bench@ext.test", ["user@example.test"], body)
            if time.time() - started > deadline:
                return None
        s.quit()
    except (OSError, smtplib.SMTPException):
        return None
    return n / (time.time() - started)


def established(port):
    """Client connections the server on `port` holds open right now (from the kernel's table)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True)
    return len(out.stdout.splitlines())


async def hold(n, port, deadline):
    """Opens n silent connections from 127.1.x.y addresses; answers the writers."""
    sem = asyncio.Semaphore(400)
    conns = []

    async def one(i):
        ip = f"127.1.{i // 200}.{i % 200 + 1}"
        async with sem:
            try:
                _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, local_addr=(ip, 0)), 10)
                conns.append(w)
            except (OSError, asyncio.TimeoutError):
                pass

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), max(1, deadline - time.time()))
    return conns


def measure(port, memory, idle, messages, settle):
    """The no-load run, then `idle` silent connections and the same sender again."""
    send_batch(port, 20, "warmup")
    base_mem = memory()
    base_rate = send_batch(port, messages, "baseline")
    loop = asyncio.new_event_loop()
    started = time.time()
    conns = loop.run_until_complete(hold(idle, port, time.time() + 120))
    opened = time.time() - started
    time.sleep(settle)  # past the longest greeting delay: every connection that is still held now idles
    held = established(port)
    held_mem = memory()
    load_rate = send_batch(port, messages, "under load")
    still = established(port)
    for w in conns:
        w.close()
    loop.close()
    return {"opened": len(conns), "opened_s": opened, "held": held, "still": still, "base_mem": base_mem,
            "held_mem": held_mem, "base_rate": base_rate, "load_rate": load_rate}


def rate(r, base=None):
    if r is None:
        return "did not finish in 90 s"
    return f"{r:.0f} msgs/s" + (f" ({r / base:.2f}×)" if base else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--messages", type=int, default=300)
    args = ap.parse_args()
    mta_test.BIN = os.path.abspath(args.target)
    sy = mta_test.System()
    sy.extra_env = {"MOAT_MAX_CONNECTIONS_PER_IP": "100", "MOAT_CONNECTIONS_PER_IP_PER_MINUTE": "1000",
                    "MOAT_LOG": "warn", "MOAT_TARPIT_UNKNOWN_MAX_MS": "5000"}
    try:
        sy.setup()
        pid = sy.worker.pid
        moat = measure(sy.smtp_port, lambda: rss_kib(pid), args.idle, args.messages, 6)
    finally:
        sy.close()
    # Postfix 3.7 with postscreen in front of smtpd, the way Postfix meets zombie floods:
    # the trusted sender is on the postscreen access list (like Moat's trusted network).
    sink = SmtpSink()
    postfix = PostfixRelay(sink.port, postscreen=True, settings={
        "mynetworks": "127.0.0.1/32", "postscreen_access_list": "permit_mynetworks",
        "postscreen_greet_action": "enforce", "postscreen_greet_wait": "5s",
        "default_process_limit": "200",
        # Room for every connection, like Moat's 20,000-session cap (the defaults would 421 past 200).
        "postscreen_pre_queue_limit": "20000", "postscreen_post_queue_limit": "20000"})
    try:
        master = postfix.proc.pid
        pf = measure(postfix.port, lambda: tree_pss_kib(master), args.idle, args.messages, 7)
    finally:
        postfix.stop()
        sink.stop()
    print(f"{args.idle:,} connections from untrusted loopback addresses (127.1.x.y) connect and stay silent while a "
          f"trusted sender (127.0.0.1) sends {args.messages} messages over one connection; the same run against "
          "Postfix 3.7 with postscreen (greet wait 5 s, enforce; the sender on its access list; "
          "default_process_limit 200, pre/post queue limits 20,000). Memory: Moat's RSS (one process); Postfix's PSS summed over the master "
          "and all its children (shared pages counted once). Connections held: established sockets on the "
          "server's port (`ss`) after the greeting delays.")
    print()
    print("| measure | Moat | Postfix + postscreen |\n|---|---|---|")
    rows = [
        ("connections opened", lambda m: f"{m['opened']:,} of {args.idle:,} in {m['opened_s']:.1f} s"),
        ("connections held after the greeting delay", lambda m: f"{m['held']:,}"),
        ("connections still held after the sender's run", lambda m: f"{m['still']:,}"),
        ("memory, no load", lambda m: f"{m['base_mem'] / 1024:.1f} MiB"),
        ("memory, connections held", lambda m: f"{m['held_mem'] / 1024:.1f} MiB"),
        ("sender throughput, no load", lambda m: rate(m["base_rate"])),
        ("sender throughput, connections held", lambda m: rate(m["load_rate"], m["base_rate"])),
    ]
    for name, show in rows:
        print(f"| {name} | {show(moat)} | {show(pf)} |")


if __name__ == "__main__":
    main()
