"""Relay throughput: Postfix's smtp-source as the load, smtp-sink as the customer's server,
against (a) a private Postfix 3.7 instance configured as a plain relay for the domain (no
filter) and (b) Moat with its whole pipeline on (SPF/DKIM/DMARC against a local DNS
server, rules, Bayes model, lists, attachments). The load's address is a trusted network
for Moat, as a known gateway would be. Reports accepted and end-to-end msgs/s and ratios.

Usage: python3 bench/relay.py TARGET_DIR [--quick]     (loopback only; bounded loads)
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import mta_test  # noqa: E402
from mta_test import TXT_RECORDS, free_port, port_open, wait_for  # noqa: E402

QUICK = "--quick" in sys.argv
RUNS = [("-s 20, 5 KB", 20, 5120), ("-s 100, 5 KB", 100, 5120), ("-s 20, 50 KB", 20, 51200)]
MESSAGES = 500 if QUICK else 5000
# The load's sender domain publishes SPF and DMARC (cached by the resolver after the first look).
TXT_RECORDS.update({"bench.test": "v=spf1 ip4:127.0.0.0/8 -all", "_dmarc.bench.test": "v=DMARC1; p=none"})


class SmtpSink:
    """Postfix's smtp-sink with its running counter read from stdout."""

    def __init__(self):
        self.port = free_port()
        self.count = 0
        self.proc = subprocess.Popen(["smtp-sink", "-u", "postfix", "-c", f"127.0.0.1:{self.port}", "1024"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()
        wait_for(self._up, what="smtp-sink listening")

    def _up(self):
        return port_open(self.port)

    def _read(self):
        buf = b""
        while True:
            chunk = self.proc.stdout.read1(4096)
            if not chunk:
                return
            buf = (buf + chunk)[-256:]
            found = re.findall(rb"mesg=(\d+)", buf)
            if found:
                self.count = int(found[-1])

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def _many_files():
    """Lets a child hold tens of thousands of sockets (postscreen keeps one per client)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))


def tree_pss_kib(root_pid):
    """Proportional set size of a process and all its descendants (shared pages split fairly)."""
    pids, total = [root_pid], 0
    while pids:
        pid = pids.pop()
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    pids += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


class PostfixRelay:
    """A private Postfix instance (own config and queue folders) relaying example.test."""

    def __init__(self, sink_port, settings=None, postscreen=False):
        self.dir = tempfile.mkdtemp(prefix="moat-bench-postfix-")
        self.port = free_port()
        extra_settings = settings or {}
        etc = f"{self.dir}/etc"
        shutil.copytree("/etc/postfix", etc)
        settings = {
            "queue_directory": f"{self.dir}/spool", "data_directory": f"{self.dir}/data",
            "inet_interfaces": "127.0.0.1", "inet_protocols": "ipv4", "myhostname": "relay.bench.test",
            "mydestination": "", "relay_domains": "example.test", "mynetworks": "127.0.0.0/8",
            "transport_maps": f"inline:{{example.test=smtp:[127.0.0.1]:{sink_port}}}",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination",
            "maillog_file": "/dev/stdout", "alias_maps": "", "alias_database": "",
            "smtp_tls_security_level": "none", "smtpd_tls_security_level": "none",
            "default_process_limit": "200", "compatibility_level": "3.6", "multi_instance_enable": "no",
            **extra_settings,
        }
        subprocess.run(["postconf", "-c", etc, "-e", *[f"{k}={v}" for k, v in settings.items()]], check=True)
        subprocess.run(["postconf", "-c", etc, "-F", "*/*/chroot = n"], check=True)
        subprocess.run(["postconf", "-c", etc, "-M#", "smtp/inet"], check=True)
        if postscreen:
            # postscreen answers every connection in one process and hands passed clients to smtpd.
            services = [f"127.0.0.1:{self.port}/inet = 127.0.0.1:{self.port} inet n - n - 1 postscreen",
                        "smtpd/pass = smtpd pass - - n - - smtpd", "dnsblog/unix = dnsblog unix - - n - 0 dnsblog",
                        "tlsproxy/unix = tlsproxy unix - - n - 0 tlsproxy"]
        else:
            services = [f"127.0.0.1:{self.port}/inet = 127.0.0.1:{self.port} inet n - n - - smtpd"]
        for service in services:
            subprocess.run(["postconf", "-c", etc, "-M", service], check=True)
        os.chmod(self.dir, 0o755)  # the postfix user walks through it
        for sub in ("spool", "data"):
            os.makedirs(f"{self.dir}/{sub}")
        shutil.chown(f"{self.dir}/data", "postfix")
        # In the foreground, logging to a file of its own (no syslog needed).
        self.proc = subprocess.Popen(["postfix", "-c", etc, "start-fg"], stdout=open(f"{self.dir}/maillog", "w"),
                                     stderr=subprocess.STDOUT, preexec_fn=_many_files)
        self.etc = etc
        wait_for(lambda: port_open(self.port), what="postfix up")

    def stop(self):
        subprocess.run(["postfix", "-c", self.etc, "stop"], capture_output=True)
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def load(port, sessions, size, sink, before):
    """Runs smtp-source; answers (accepted msgs/s, end-to-end msgs/s)."""
    started = time.time()
    subprocess.run(["smtp-source", "-s", str(sessions), "-m", str(MESSAGES), "-l", str(size),
                    "-f", "load@bench.test", "-t", "user@example.test", f"127.0.0.1:{port}"],
                   check=True, stdout=subprocess.DEVNULL)
    accepted = time.time() - started
    wait_for(lambda: sink.count - before >= MESSAGES, timeout=600, what="the sink has every message")
    return MESSAGES / accepted, MESSAGES / (time.time() - started)


def main():
    bin_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "target/release")
    results = {}
    sink = SmtpSink()
    postfix = PostfixRelay(sink.port)
    try:
        for label, sessions, size in RUNS:
            results[("postfix", label)] = load(postfix.port, sessions, size, sink, sink.count)
    finally:
        postfix.stop()
    sy = mta_test.System()
    sy.extra_env = {"MOAT_DESTINATION_CONCURRENCY": "20", "MOAT_LOG": "warn"}
    try:
        sy.setup()
        sy.set_destination(sink.port)
        # Plain TLS-less delivery to smtp-sink, as Postfix does above.
        sy.http("PATCH", f"/api/v1/domains/{sy.domain_id}", sy.admin, {"tls_mode": "none"})
        time.sleep(1)
        for label, sessions, size in RUNS:
            results[("moat", label)] = load(sy.smtp_port, sessions, size, sink, sink.count)
    finally:
        sy.close()
        sink.stop()
    print(f"{MESSAGES} messages per run (`smtp-source -s N -m {MESSAGES} -l SIZE`), smtp-sink as the destination; "
          f"Moat with MOAT_DESTINATION_CONCURRENCY=20 (Postfix's default per-destination concurrency).")
    print()
    print("| Load | Postfix accepted | Moat accepted | Ratio | Postfix end-to-end | Moat end-to-end | Ratio |")
    print("|---|---|---|---|---|---|---|")
    for label, _, _ in RUNS:
        pa, pe = results[("postfix", label)]
        ma, me = results[("moat", label)]
        print(f"| {label} | {pa:.0f} msgs/s | {ma:.0f} msgs/s | {ma / pa:.2f}× | {pe:.0f} msgs/s | {me:.0f} msgs/s | {me / pe:.2f}× |")


if __name__ == "__main__":
    main()
