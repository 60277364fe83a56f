"""Tarpit capacity benchmark: N idle connections held by the worker (connected, silent,
from many untrusted loopback addresses) while a trusted sender measures its throughput;
reports the worker's RSS and the sender's rate against a no-load run.

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
import mta_test  # noqa: E402  (reuses the e2e harness: API, sink, worker)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def send_batch(sy, n, tag):
    """Sends n messages over one connection from the trusted address; answers msgs/s."""
    body = b"Subject: bench %s\r\n\r\n" % tag.encode() + b"x" * 2000 + b"\r\n"
    started = time.time()
    s = smtplib.SMTP("127.0.0.1", sy.smtp_port, timeout=60)
    s.ehlo("bench.test")
    for _ in range(n):
        s.sendmail("bench@ext.test", ["user@example.test"], body)
    s.quit()
    return n / (time.time() - started)


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
        send_batch(sy, 20, "warmup")
        base_rss = rss_kib(pid)
        base_rate = send_batch(sy, args.messages, "baseline")
        loop = asyncio.new_event_loop()
        started = time.time()
        conns = loop.run_until_complete(hold(args.idle, sy.smtp_port, time.time() + 120))
        opened = time.time() - started
        time.sleep(6)  # past the longest unknown-IP greeting delay: every connection now idles
        held_rss = rss_kib(pid)
        load_rate = send_batch(sy, args.messages, "under load")
        for w in conns:
            w.close()
        loop.close()
        rows = [
            ("idle connections held", f"{len(conns)} of {args.idle} (opened in {opened:.1f} s)"),
            ("worker RSS, no load", f"{base_rss / 1024:.1f} MiB"),
            ("worker RSS, connections held", f"{held_rss / 1024:.1f} MiB"),
            ("sender throughput, no load", f"{base_rate:.0f} msgs/s"),
            ("sender throughput, connections held", f"{load_rate:.0f} msgs/s ({load_rate / base_rate:.2f}x)"),
        ]
        width = max(len(r[0]) for r in rows)
        print("| measure | value |\n|---|---|")
        for name, value in rows:
            print(f"| {name.ljust(width)} | {value} |")
    finally:
        sy.close()


if __name__ == "__main__":
    main()
