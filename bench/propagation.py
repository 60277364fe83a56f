"""Policy propagation: the time from a block-list change through the API to the first SMTP
transaction the worker judges by it, over 100 changes; p50 and p99.

Usage: python3 bench/propagation.py TARGET_DIR [--changes 100]
"""

import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import mta_test  # noqa: E402

CHANGES = int(sys.argv[sys.argv.index("--changes") + 1]) if "--changes" in sys.argv else 100


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    sy = mta_test.System()
    sy.extra_env = {"MOAT_LOG": "warn"}
    times = []
    try:
        sy.setup()
        def connect():
            s = smtplib.SMTP("127.0.0.1", sy.smtp_port, timeout=10)
            s.ehlo("probe.test")
            return s

        s = connect()
        for i in range(CHANGES):
            sender = f"sender{i}@propagation.test"
            started = time.perf_counter()
            status, body = sy.http("POST", "/api/v1/lists", sy.admin,
                                   {"scope": {"level": "org", "id": sy.org_id}, "kind": "block", "pattern": sender})
            assert status == 201, body
            deadline = started + 10
            while True:
                try:
                    s.mail(sender)
                    code, _ = s.rcpt("user@example.test")
                    s.rset()
                except smtplib.SMTPServerDisconnected:
                    s = connect()  # the session's command limit; probe on a new one
                    continue
                time.sleep(0.001)
                if code == 550:
                    times.append(time.perf_counter() - started)
                    break
                if time.perf_counter() > deadline:
                    raise AssertionError(f"change {i} not enforced within 10 s")
        s.quit()
    finally:
        sy.close()
    print(f"{CHANGES} block-list additions (`POST /api/v1/lists`, org level), each followed at once by "
          f"MAIL/RCPT probes on one connection until the first 550.")
    print()
    print("| Changes | p50 | p99 | max |")
    print("|---|---|---|---|")
    print(f"| {len(times)} | {percentile(times, 50) * 1000:.0f} ms | {percentile(times, 99) * 1000:.0f} ms | "
          f"{max(times) * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
