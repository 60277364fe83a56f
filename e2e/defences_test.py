"""End-to-end tests of the connection defences: greeting delay by reputation, early-talker
drop, weighted DNS lists (a real DNS server on loopback), reputation shared across two
workers, greylisting and per-IP limits. Clients bind to distinct 127.0.0.x addresses; only
127.0.0.1 is a trusted gateway. Closes with `N passed, M failed`.

Usage: python3 e2e/defences_test.py TARGET_DIR [TEST_NAME ...]
"""

import os
import signal
import socket
import subprocess
import time

import mta_test
from mta_test import LISTINGS, free_port, port_open, wait_for

# 127.0.0.6 is on the block list only; 127.0.0.7 on both the block and the allow list.
LISTINGS.update({
    "6.0.0.127.bl.test": "127.0.0.2",
    "7.0.0.127.bl.test": "127.0.0.2",
    "7.0.0.127.wl.test": "127.0.0.2",
})

ENV = {
    "MOAT_TARPIT_UNKNOWN_MIN_MS": "300",
    "MOAT_TARPIT_UNKNOWN_MAX_MS": "800",
    "MOAT_TARPIT_BAD_DELAY_MS": "2500",
    "MOAT_DNSBL_SITES": "bl.test=127.0.0.[2..11]*3, wl.test*-5",
    "MOAT_DNSBL_THRESHOLD": "3",
    "MOAT_DNSBL_ACTION": "reject",
    "MOAT_GREYLIST_DELAY_SECS": "2",
    "MOAT_MAX_CONNECTIONS_PER_IP": "3",
    "MOAT_REPUTATION_SYNC_SECS": "1",
    "MOAT_MESSAGES_PER_IP_PER_MINUTE": "6",
}


def greet(sy, source, port=None, talk_early=False):
    """Connects from `source`; answers (lines before the final 220 or refusal, final line,
    seconds until it came, socket)."""
    sock = socket.create_connection(("127.0.0.1", port or sy.smtp_port), timeout=15, source_address=(source, 0))
    started = time.time()
    if talk_early:
        sock.sendall(b"EHLO impatient.test\r\n")
    f = sock.makefile("rb")
    lines = []
    while True:
        line = f.readline()
        if not line:
            return lines, b"", time.time() - started, sock
        if line[3:4] == b"-":
            lines.append(line)
            continue
        return lines, line, time.time() - started, sock


def platform_token(sy):
    return sy.login("admin@moat.test", "moat-demo-admin")


def test_early_talker_is_dropped_logged_and_waits_longer(sy):
    teaser, final, _, sock = greet(sy, "127.0.0.5", talk_early=True)
    assert teaser and teaser[0].startswith(b"220-"), teaser
    assert final.startswith(b"554 5.5.0"), final
    assert sock.recv(10) == b"", "the connection is closed"
    sock.close()
    admin = platform_token(sy)
    found = wait_for(lambda: [m for m in sy.http("GET", "/api/v1/messages?status=rejected", admin)[1]["items"]
                              if m["client_ip"] == "127.0.0.5"], what="early-talker event in tracking")
    assert "early talker" in found[0]["reasons"][0] and found[0]["last_error"].startswith("554"), found[0]
    # Its next connection waits the bad-reputation delay (2.5 s), not the unknown one (< 0.8 s).
    _, final, waited, sock = greet(sy, "127.0.0.5")
    sock.close()
    assert final.startswith(b"220 "), final
    assert waited >= 2.0, f"waited only {waited:.2f}s"
    print(f"     early talker's next greeting after {waited:.2f}s", flush=True)


def test_a_client_that_gives_up_in_the_tarpit_is_counted(sy):
    sock = socket.create_connection(("127.0.0.1", sy.smtp_port), timeout=15, source_address=("127.0.0.12", 0))
    time.sleep(0.1)  # within the greeting delay (at least 0.3 s here)
    sock.close()
    admin = platform_token(sy)
    found = wait_for(lambda: [m for m in sy.http("GET", "/api/v1/messages?status=rejected", admin)[1]["items"]
                              if m["client_ip"] == "127.0.0.12"], what="tarpit event in tracking")
    assert found[0]["reasons"][0].startswith("tarpit: hung up after"), found[0]

    def counted():
        status, stats = sy.http("GET", "/api/v1/stats?bucket=hour", admin)
        assert status == 200, stats
        return [t for t in stats["totals"]["threats"] if t["kind"] == "tarpit" and t["count"] >= 1]
    wait_for(counted, what="the tarpit drop in the platform's statistics")


def test_trusted_gateways_are_greeted_at_once_unknown_ips_wait(sy):
    teaser, final, waited, sock = greet(sy, "127.0.0.1")
    sock.close()
    assert teaser == [] and final.startswith(b"220 "), (teaser, final)
    print(f"     trusted gateway greeted after {waited * 1000:.1f} ms", flush=True)
    assert waited < 0.5, waited
    teaser, final, waited, sock = greet(sy, "127.0.0.4")
    sock.close()
    assert teaser and teaser[0].startswith(b"220-") and final.startswith(b"220 "), (teaser, final)
    assert 0.25 <= waited < 5.0, waited
    print(f"     unknown IP greeted after {waited:.2f}s", flush=True)


def test_dns_lists_score_and_allow_lists_override(sy):
    _, final, _, sock = greet(sy, "127.0.0.6")
    sock.close()
    assert final.startswith(b"554 5.7.1") and b"bl.test" in final, final
    _, final, _, sock = greet(sy, "127.0.0.7")
    sock.close()
    assert final.startswith(b"220 "), final
    admin = platform_token(sy)
    hits = wait_for(lambda: sy.http("GET", "/api/v1/reputation?ip=127.0.0.6", admin)[1]["items"],
                    what="DNSBL hit in the shared reputation")
    assert hits[0]["dnsbl_hits"] >= 1, hits


def test_dnsbl_score_action_adds_points_to_the_content_score(sy):
    # With the `score` action a listed client is not refused: its DNSBL points join the
    # message's score (127.0.0.12 is listed in bl.test with weight 3, for this test only).
    LISTINGS["12.0.0.127.bl.test"] = "127.0.0.2"
    sy.kill_worker(signal.SIGTERM)
    sy.start_worker(MOAT_DNSBL_ACTION="score")
    try:
        import smtplib
        s = smtplib.SMTP(timeout=15, source_address=("127.0.0.12", 0))
        s.connect("127.0.0.1", sy.smtp_port)
        s.ehlo("listed.test")
        msg = (b"From: a@ext.test\r\nTo: user@example.test\r\nSubject: scored by dnsbl\r\n"
               b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <dnsbl@ext.test>\r\n\r\nhello\r\n")
        s.sendmail("a@ext.test", ["user@example.test"], msg)
        s.quit()
        got = wait_for(lambda: sy.sink.with_subject("scored by dnsbl"), what="delivery with DNSBL points")[0]
        head = got["data"].split(b"\r\n\r\n", 1)[0]
        assert b"X-Moat-Score: 3.00" in head and b"DNSBL (+3.0)" in head, head
    finally:
        del LISTINGS["12.0.0.127.bl.test"]
        sy.kill_worker(signal.SIGTERM)
        sy.start_worker()


def test_reputation_learned_on_one_worker_slows_another(sy):
    out = subprocess.run([f"{mta_test.BIN}/moat-api", "node", "create", "--name", "mx2"], env=sy.api_env, cwd=sy.dir,
                         capture_output=True, text=True, check=True)
    second = {
        "MOAT_NODE_TOKEN": out.stdout.strip().splitlines()[-1],
        "MOAT_SMTP_LISTEN": f"127.0.0.1:{free_port()}",
        "MOAT_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
        "MOAT_DATA_DIR": f"{sy.dir}/mta-b",
    }
    port_b = int(second["MOAT_SMTP_LISTEN"].rsplit(":", 1)[1])
    b = subprocess.Popen([f"{mta_test.BIN}/moat-mta", "run"], env=sy.worker_env(**second), cwd=sy.dir,
                         stdout=open(f"{sy.dir}/mta-b.log", "a"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: port_open(port_b), what="second worker listening")
        _, final, waited, sock = greet(sy, "127.0.0.8", port=port_b)
        sock.close()
        assert final.startswith(b"220 ") and waited < 1.0, (final, waited)
        # The IP misbehaves on worker A ...
        _, final, _, sock = greet(sy, "127.0.0.8", talk_early=True)
        sock.close()
        assert final.startswith(b"554"), final
        # ... and worker B learns it through the API.
        def slowed_on_b():
            _, final, waited, sock = greet(sy, "127.0.0.8", port=port_b)
            sock.close()
            return waited >= 2.0 and final.startswith(b"220 ")
        wait_for(slowed_on_b, timeout=30, what="worker B delays the IP worker A penalised")
    finally:
        b.send_signal(signal.SIGTERM)
        b.wait()


def test_greylisting_defers_the_first_attempt_and_accepts_the_retry(sy):
    status, body = sy.http("PUT", f"/api/v1/orgs/{sy.org_id}/policy", sy.admin, {"greylisting": True})
    assert status == 200, body
    try:
        def rcpt_from(source):
            s = mta_test.smtplib.SMTP("127.0.0.1", sy.smtp_port, timeout=15, source_address=(source, 0))
            s.ehlo("grey.test")
            s.mail("first-timer@ext.test")
            code, text = s.rcpt("user@example.test")
            s.quit()
            return code, text
        code, text = wait_for(lambda: (lambda r: r if r[0] == 451 else None)(rcpt_from("127.0.0.9")), what="greylisting on")
        assert b"4.7.1" in text and b"Greylisted" in text, text
        assert rcpt_from("127.0.0.9")[0] == 451, "an immediate retry is still too early"
        time.sleep(2.2)
        assert rcpt_from("127.0.0.9")[0] == 250, "the retry after the delay passes"
        assert rcpt_from("127.0.0.9")[0] == 250, "and the triplet is remembered"
        assert sy.rcpt_code("user@example.test") == 250, "trusted gateways are not greylisted"
    finally:
        sy.http("PUT", f"/api/v1/orgs/{sy.org_id}/policy", sy.admin, {"greylisting": False})


def test_a_domains_own_greylisting_and_block_action_win_over_its_organisations(sy):
    """The organisation greylists nobody and refuses block-listed senders; the domain turns
    greylisting on and drops block-listed mail for itself. Then it inherits again."""
    domain_policy = f"/api/v1/domains/{sy.domain_id}/policy"
    status, body = sy.http("PUT", domain_policy, sy.admin, {"greylisting": True, "block_action": "drop"})
    assert status == 200 and body["greylisting"] is True, body
    status, entry = sy.http("POST", "/api/v1/lists", sy.admin,
                            {"scope": {"level": "domain", "id": sy.domain_id}, "kind": "block", "pattern": "spammer@drop.test"})
    assert status == 201, entry

    def rcpt_from(source, sender):
        s = mta_test.smtplib.SMTP("127.0.0.1", sy.smtp_port, timeout=15, source_address=(source, 0))
        s.ehlo("grey.test")
        s.mail(sender)
        code, _ = s.rcpt("user@example.test")
        s.quit()
        return code
    try:
        wait_for(lambda: rcpt_from("127.0.0.12", "new@grey2.test") == 451, what="the domain's greylisting applies")
        # A block-listed sender is accepted (and dropped) rather than refused.
        wait_for(lambda: rcpt_from("127.0.0.13", "spammer@drop.test") == 250, what="the domain's block action: drop")
    finally:
        assert sy.http("DELETE", f"/api/v1/lists/{entry['id']}", sy.admin)[0] == 204
        assert sy.http("DELETE", domain_policy, sy.admin)[0] == 204
    wait_for(lambda: rcpt_from("127.0.0.14", "other@grey3.test") == 250, what="inherited again: no greylisting")


def test_too_many_connections_from_one_ip_get_421(sy):
    held = []
    try:
        for _ in range(3):
            held.append(socket.create_connection(("127.0.0.1", sy.smtp_port), timeout=15, source_address=("127.0.0.10", 0)))
        time.sleep(0.2)
        _, final, _, sock = greet(sy, "127.0.0.10")
        sock.close()
        assert final.startswith(b"421 4.7.0"), final
    finally:
        for s in held:
            s.close()


def test_too_many_messages_from_one_ip_get_421(sy):
    s = mta_test.smtplib.SMTP("127.0.0.1", sy.smtp_port, timeout=15, source_address=("127.0.0.11", 0))
    s.ehlo("bulk.test")
    for _ in range(6):
        code, _ = s.docmd("MAIL FROM:<bulk@ext.test>")
        assert code == 250, code
        s.rset()
    code, text = s.docmd("MAIL FROM:<bulk@ext.test>")
    assert code == 421 and b"4.7.0" in text and b"try again in" in text, (code, text)


if __name__ == "__main__":
    tests = [v for k, v in list(globals().items()) if k.startswith("test_")]
    mta_test.main(tests, ENV)
