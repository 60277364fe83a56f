"""Scan rate: Moat's content scan alone beside SpamAssassin (spamd/spamc) and rspamd (rspamc)
on the same messages of the SpamAssassin corpus, each on one core (Moat: one process pinned
with taskset; spamd: one child; rspamd: one normal worker). Network tests are off for all
three (spamd -L; rspamd's DNS goes to a local server that answers at once).

Usage: python3 bench/scan_rate.py TARGET_DIR [--messages 400]
"""

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import accuracy  # noqa: E402
from mta_test import Quiet, Zone, free_port, wait_for  # noqa: E402
from rspamd import Rspamd  # noqa: E402
from dnslib.server import DNSServer  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "target/release")
COUNT = int(sys.argv[sys.argv.index("--messages") + 1]) if "--messages" in sys.argv else 400


def messages():
    data = accuracy.corpus()
    files = []
    for group in accuracy.GROUPS:
        names = sorted(n for n in os.listdir(os.path.join(data, group)) if n.endswith(".txt") and accuracy.in_test_set(n))
        files += [os.path.join(data, group, n) for n in names]
    step = max(1, len(files) // COUNT)
    return files[::step][:COUNT], data


def moat_rate(files, data):
    work = tempfile.mkdtemp(prefix="moat-scanrate-")
    model = os.path.join(work, "spam.model")
    accuracy.split(data, work)
    accuracy.learn(BIN, work, model)
    before = os.times()
    started = time.time()
    subprocess.run(["taskset", "-c", "0", f"{BIN}/moat-mta", "scan", "--model", model, *files], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.time() - started
    after = os.times()
    cpu = after.children_user - before.children_user + after.children_system - before.children_system
    subprocess.run(["rm", "-rf", work])
    return len(files) / wall, 1000 * cpu / len(files)


def spamassassin_rate(files):
    port = free_port()
    pidfile = tempfile.mktemp(prefix="moat-spamd-")
    subprocess.run(["spamd", "-d", "-L", f"--listen=127.0.0.1:{port}", "--max-children=1", "--min-children=1",
                    "-u", "nobody", f"--pidfile={pidfile}", "--syslog=stderr"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        probe = open(files[0], "rb").read()
        wait_for(lambda: subprocess.run(["spamc", "-d", "127.0.0.1", "-p", str(port), "-c"], input=probe,
                                        capture_output=True).stdout.strip() not in (b"", b"0/0"),
                 timeout=120, what="spamd ready")
        started = time.time()
        for path in files:
            with open(path, "rb") as f:
                subprocess.run(["spamc", "-d", "127.0.0.1", "-p", str(port), "-c"], stdin=f, capture_output=True)
        return len(files) / (time.time() - started)
    finally:
        try:
            os.kill(int(open(pidfile).read().strip()), 15)
        except (OSError, ValueError):
            pass


def rspamd_rate(files):
    dns_port = free_port()
    dns = DNSServer(Zone(), port=dns_port, address="127.0.0.1", logger=Quiet())
    dns.start_thread()
    rspamd = Rspamd(dns_port)
    try:
        host = rspamd.url.split("//", 1)[1]
        # Warm up: rspamd compiles its Hyperscan databases after start; until then it is slow.
        deadline = time.time() + 120
        while time.time() < deadline:
            started = time.time()
            subprocess.run(["rspamc", "-h", host, *files[:10]], capture_output=True, check=True)
            if time.time() - started < 0.3:
                break
            time.sleep(2)
        started = time.time()
        out = subprocess.run(["rspamc", "-h", host, "-n", "1", *files], capture_output=True, text=True, check=True)
        assert out.stdout.count("Action:") >= len(files), out.stdout[-500:]
        return len(files) / (time.time() - started)
    finally:
        rspamd.stop()
        dns.stop()


def main():
    files, data = messages()
    moat, moat_cpu = moat_rate(files, data)
    sa = spamassassin_rate(files)
    rs = rspamd_rate(files)
    print(f"{len(files)} messages of the corpus's test split (spam and ham), scanned one after another.")
    print()
    print("| Scanner | msgs/s | Moat is |")
    print("|---|---|---|")
    print(f"| Moat `moat-mta scan` (rules + Bayes, one core; {moat_cpu:.3f} ms CPU per message) | {moat:.0f} | — |")
    print(f"| SpamAssassin 4.0 `spamc` → `spamd -L`, one child | {sa:.1f} | {moat / sa:.0f}× faster |")
    print(f"| rspamd 3.4 `rspamc` → one normal worker | {rs:.1f} | {moat / rs:.0f}× faster |")


if __name__ == "__main__":
    main()
