"""End-to-end tests of tenant boundaries in the mail path, with real SMTP clients against the
built worker and API (all on loopback): no tenant can open the relay, send as another
tenant, skip greylisting for strangers, or be trusted by a forged sender; every accepted
message reaches the API whatever its size or content; the worker's own port and files are
closed to others. Closes with `N passed, M failed`.

Usage: python3 e2e/boundaries_test.py TARGET_DIR [TEST_NAME ...]
"""

import base64
import glob
import io
import json
import os
import smtplib
import socket
import ssl
import stat
import subprocess
import time
import urllib.request
import uuid
import zipfile
from email.message import EmailMessage
from email.utils import formatdate

import mta_test
from mta_test import API_BIN, TXT_RECORDS, wait_for

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
RELAY = "127.0.0.2"  # the demo organisation's own mail server
IGNORED = "on your allow list, but the message is not really from them"

TXT_RECORDS.update({
    # A bank that publishes SPF for its own server only and DMARC p=reject.
    "bank.test": "v=spf1 ip4:192.0.2.1 -all",
    "_dmarc.bank.test": "v=DMARC1; p=reject",
    # A partner whose SPF covers the test client, without DMARC.
    "partner.test": "v=spf1 ip4:127.0.0.1 -all",
    # A sender domain with neither: nothing proves who sent it.
    "nodmarc.test": "v=spf1 ?all",
    # A correspondent whose SPF covers the test client 127.0.0.1 only.
    "strict-mate.test": "v=spf1 ip4:127.0.0.1 -all",
})


def platform(sy):
    return sy.login("admin@moat.test", "moat-demo-admin")


def victim_org(sy):
    """A second tenant, `victim.test`, created once by the operator."""
    if getattr(sy, "victim", None):
        return sy.victim
    admin = platform(sy)
    msp = sy.http("GET", "/api/v1/msps", admin)[1]["items"][0]["id"]
    status, org = sy.http("POST", "/api/v1/orgs", admin, {"name": "Victim Corp", "msp_id": msp})
    assert status == 201, org
    status, dom = sy.http("POST", f"/api/v1/orgs/{org['id']}/domains", admin,
                          {"name": "victim.test", "destination_host": "127.0.0.1", "destination_port": sy.sink.port})
    assert status == 201, dom
    status, ceo = sy.http("POST", f"/api/v1/orgs/{org['id']}/users", admin,
                          {"email": "ceo@victim.test", "display_name": "CEO", "role": "user", "password": "victim-password"})
    assert status == 201, ceo
    sy.victim = org["id"]
    return sy.victim


def ensure_relay(sy):
    status, res = sy.http("POST", f"/api/v1/orgs/{sy.org_id}/provision", sy.admin, {"allowed_ips": [RELAY]})
    assert status in (200, 409), res
    wait_for(lambda: sy.policy_has(f"{RELAY}/32"), what="relay server in the policy")
    time.sleep(0.5)


def client(sy, source="127.0.0.1", helo="exchange.example.test"):
    s = smtplib.SMTP("127.0.0.1", sy.smtp_port, timeout=20, source_address=(source, 0))
    s.ehlo(helo)
    return s


def rcpt(sy, source, sender, to):
    s = client(sy, source)
    try:
        s.mail(sender)
        return s.rcpt(to)
    finally:
        s.quit()


def data_refusal(sy, source, sender, to, raw):
    """The 5xx after DATA, or None when the message was accepted."""
    s = client(sy, source)
    try:
        s.sendmail(sender, [to], raw)
        return None
    except smtplib.SMTPDataError as err:
        return err
    finally:
        s.quit()


def quarantined(sy, subject, token):
    items = sy.http("GET", "/api/v1/quarantine?per_page=100", token)[1]["items"]
    return [i for i in items if i["subject"] == subject]


def advertised_size(sy):
    s = sy.smtp()
    try:
        return int(s.esmtp_features.get("size", "0"))
    finally:
        s.quit()


def message(subject, sender, body="Hello.\r\n", to="user@example.test"):
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {formatdate()}\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@client.test>\r\n\r\n{body}").encode()


# --- relay and sender binding ----------------------------------------------------------------
def test_an_org_admin_cannot_make_the_world_a_relay_client(sy):
    for wide in ("0.0.0.0/0", "::/0", "127.0.0.0/8"):
        status, res = sy.http("POST", f"/api/v1/orgs/{sy.org_id}/provision", sy.admin, {"allowed_ips": [wide]})
        assert status == 422, (wide, status, res)
        status, res = sy.http("POST", f"/api/v1/orgs/{sy.org_id}/allowed-ips", sy.admin, {"cidr": wide})
        assert status == 422, (wide, status, res)
    assert not sy.policy_has("0.0.0.0/0")
    code, text = rcpt(sy, "127.0.0.3", "spammer@ext.test", "victim@elsewhere.test")
    assert code == 550 and b"relaying denied" in text, (code, text)


def test_relay_clients_send_only_as_their_own_organisation(sy):
    victim_org(sy)
    ensure_relay(sy)
    code, _ = rcpt(sy, RELAY, "user@example.test", "friend@ext.test")
    assert code == 250
    for forged in ("ceo@victim.test", "payments@bank.test"):
        code, text = rcpt(sy, RELAY, forged, "friend@ext.test")
        assert code == 550 and b"5.7.1" in text and b"own domains" in text, (forged, code, text)
    # The envelope is ours but the From: header is another tenant's.
    err = data_refusal(sy, RELAY, "user@example.test", "pal2@ext.test", message("forged from", "ceo@victim.test"))
    assert err is not None and err.smtp_code == 550 and b"victim.test" in err.smtp_error, err
    time.sleep(1)
    assert sy.foreign.with_subject("forged from") == []
    snapshot = sy.http("GET", "/api/v1/worker/policy", sy.node_token)[1]
    assert "pal2@ext.test" not in json.dumps(snapshot["correspondents"]), "refused mail taught the reverse whitelist"
    # A bounce from the customer's server (null sender) is relayed.
    bounce = message("bounce from exchange", "MAILER-DAEMON@exchange.example.test", to="stranger@ext.test")
    assert data_refusal(sy, RELAY, "", "stranger@ext.test", bounce) is None
    wait_for(lambda: sy.foreign.with_subject("bounce from exchange"), what="null-sender bounce relayed")
    # The outbound switch of the domain is enforced.
    status, _ = sy.http("PATCH", f"/api/v1/domains/{sy.domain_id}", sy.admin, {"outbound_enabled": False})
    assert status == 200
    try:
        wait_for(lambda: rcpt(sy, RELAY, "user@example.test", "friend@ext.test")[0] == 550, what="outbound switched off")
        code, text = rcpt(sy, RELAY, "user@example.test", "friend@ext.test")
        assert b"switched off for example.test" in text, text
    finally:
        sy.http("PATCH", f"/api/v1/domains/{sy.domain_id}", sy.admin, {"outbound_enabled": True})
    wait_for(lambda: rcpt(sy, RELAY, "user@example.test", "friend@ext.test")[0] == 250, what="outbound back on")


def test_an_org_admin_cannot_claim_another_tenants_addresses(sy):
    victim = victim_org(sy)
    status, res = sy.http("POST", f"/api/v1/orgs/{sy.org_id}/users", sy.admin,
                          {"email": "invoices@victim.test", "display_name": "Invoices", "role": "user"})
    assert status == 422 and b"email" in res and b"Victim" not in res, (status, res)
    time.sleep(0.5)
    assert sy.rcpt_code("invoices@victim.test") == 550
    # The owner can still create it, and mail to it is the owner's.
    status, res = sy.http("POST", f"/api/v1/orgs/{victim}/users", platform(sy),
                          {"email": "invoices@victim.test", "display_name": "Invoices", "role": "user"})
    assert status == 201, res
    wait_for(lambda: sy.rcpt_code("invoices@victim.test") == 250, what="the owner's new address accepted")
    sy.send("for the victim", to="invoices@victim.test")
    tracked = wait_for(lambda: sy.http("GET", "/api/v1/messages?subject=for%20the%20victim", platform(sy))[1]["items"],
                       what="tracked under the owner")
    assert tracked[0]["org_id"] == victim, tracked
    assert sy.http("GET", "/api/v1/messages?subject=for%20the%20victim", sy.admin)[1]["items"] == []


def test_a_relay_client_does_not_skip_greylisting_for_other_senders(sy):
    ensure_relay(sy)
    status, _ = sy.http("PUT", f"/api/v1/orgs/{sy.org_id}/policy", sy.admin, {"greylisting": True})
    assert status == 200
    try:
        wait_for(lambda: rcpt(sy, "127.0.0.9", "first@ext.test", "user@example.test")[0] == 451, what="greylisting on")
        code, text = rcpt(sy, RELAY, "stranger@ext.test", "user@example.test")
        assert code == 451 and b"Greylisted" in text, (code, text)
        # The customer's server sending as its own organisation is not delayed.
        code, _ = rcpt(sy, RELAY, "colleague@example.test", "user@example.test")
        assert code == 250
    finally:
        sy.http("PUT", f"/api/v1/orgs/{sy.org_id}/policy", sy.admin, {"greylisting": False})


# --- nothing lost after 250 ---------------------------------------------------------------------
def test_a_5mb_message_with_a_blocked_attachment_reaches_the_quarantine(sy):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("setup.exe", os.urandom(5 * 1024 * 1024))
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "vendor@ext.test", "user@example.test", "five megabytes"
    m.set_content("The installer you asked for.")
    m.add_attachment(buf.getvalue(), maintype="application", subtype="zip", filename="installer.zip")
    raw = m.as_bytes().replace(b"\n", b"\r\n")
    assert len(raw) > 5 * 1024 * 1024
    s = client(sy)
    s.sendmail("vendor@ext.test", ["user@example.test"], raw)
    s.quit()
    user = sy.login("user@example.test", "moat-demo-user")
    items = wait_for(lambda: quarantined(sy, "five megabytes", user), timeout=60, what="the 5 MB message in quarantine")
    assert items[0]["reasons"] == ["attachment: installer.zip contains setup.exe"], items[0]
    assert glob.glob(f"{sy.dir}/mta/quarantine/refused/*") == []


def test_the_worker_takes_no_message_larger_than_the_api_does(sy):
    # An API that takes at most 1 MiB: the worker learns it from the snapshot, advertises a
    # smaller SIZE and refuses larger mail at MAIL FROM, instead of answering 250 for a copy
    # it could not hand over.
    sy.stop_api()
    sy.api_env["MOAT_MAX_MESSAGE_SIZE"] = str(1024 * 1024)
    try:
        sy.start_api()

        size = wait_for(lambda: (lambda n: n if n < 1024 * 1024 else None)(advertised_size(sy)),
                        what="the smaller SIZE advertised")
        s = sy.smtp()
        code, text = s.docmd(f"MAIL FROM:<big@ext.test> SIZE={size + 1}")
        assert code == 552, (code, text)
        s.quit()
    finally:
        sy.stop_api()
        del sy.api_env["MOAT_MAX_MESSAGE_SIZE"]
        sy.start_api()
    wait_for(lambda: advertised_size(sy) > 1024 * 1024, what="the full SIZE again")


def test_a_2mb_subject_is_tracked_truncated_and_later_mail_still_ships(sy):
    subject = "Huge " + "x" * (2 * 1024 * 1024)
    s = client(sy)
    s.sendmail("huge@ext.test", ["user@example.test"],
               f"From: huge@ext.test\r\nSubject: {subject}\r\n\r\nbody\r\n".encode())
    s.quit()
    sy.send("after the huge subject", sender="later@ext.test")
    items = wait_for(lambda: sy.http("GET", "/api/v1/messages?sender=huge@ext.test", sy.admin)[1]["items"],
                     timeout=30, what="the huge-subject message tracked")
    assert len(items[0]["subject"]) == 998 and items[0]["subject"].startswith("Huge xxx"), len(items[0]["subject"])
    wait_for(lambda: [m for m in sy.tracked("after the huge subject") if m["status"] == "delivered"],
             what="later mail tracked")


def test_an_event_the_api_refuses_is_set_aside_and_shipping_goes_on(sy):
    sy.kill_worker()
    outbox = f"{sy.dir}/mta/outbox"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def line(tracking_id, subject):
        return json.dumps([{"id": str(uuid.uuid4()), "tracking_id": tracking_id, "kind": "received", "at": now,
                            "org_id": sy.org_id, "detail": {"subject": subject, "recipients": ["user@example.test"]}}])

    poisoned = "p" * 300  # the API takes tracking ids of at most 200 characters
    with open(f"{outbox}/00000000000000000000.log", "w") as f:
        f.write(line(poisoned, "poisoned") + "\n" + line("after-poison", "after poison") + "\n")
    sy.start_worker()
    wait_for(lambda: sy.http("GET", "/api/v1/messages/after-poison", sy.admin)[0] == 200, timeout=30,
             what="the event after the poisoned one shipped")
    dead = wait_for(lambda: glob.glob(f"{outbox}/dead/*.json"), what="the poisoned event set aside")
    assert json.load(open(dead[0]))["tracking_id"] == poisoned
    with urllib.request.urlopen(f"http://127.0.0.1:{sy.metrics_port}/metrics", timeout=5) as r:
        assert "moat_mta_events_dead_total 1" in r.read().decode()
    assert "set aside" in open(f"{sy.dir}/mta.log").read()


# --- trust only for authenticated senders ----------------------------------------------------------
def test_allow_entries_for_senders_need_an_authenticated_sender(sy):
    user = sy.login("user@example.test", "moat-demo-user")
    me = sy.http("GET", "/api/v1/auth/me", user)[1]["user"]["id"]
    for pattern in ("@bank.test", "@nodmarc.test", "@partner.test"):
        status, res = sy.http("POST", "/api/v1/lists", user,
                              {"scope": {"level": "user", "id": me}, "kind": "allow", "pattern": pattern})
        assert status in (201, 409), res
    wait_for(lambda: sy.policy_has("@partner.test"), what="allow entries in the policy")
    time.sleep(0.5)
    # Forged bank mail (SPF fails, p=reject) is not delivered, allow entry or not.
    s = client(sy)
    s.sendmail("security@bank.test", ["user@example.test"], message("verify your account", "security@bank.test",
                                                                      body=f"{GTUBE}\r\n"))
    s.quit()
    item = wait_for(lambda: quarantined(sy, "verify your account", user), what="forged bank mail held")[0]
    assert IGNORED in item["reasons"] and any("DMARC" in r for r in item["reasons"]), item["reasons"]
    # Nothing proves who sent this one either: the entry is ignored, and the reason says so.
    s = client(sy)
    s.sendmail("deals@nodmarc.test", ["user@example.test"], message("unproven deal", "deals@nodmarc.test",
                                                                    body=f"{GTUBE}\r\n"))
    s.quit()
    item = wait_for(lambda: quarantined(sy, "unproven deal", user), what="unauthenticated allow-listed mail held")[0]
    assert item["reasons"][0] == IGNORED, item["reasons"]
    # An authenticated sender on the list is trusted (SPF pass, aligned, no DMARC record).
    s = client(sy)
    s.sendmail("orders@partner.test", ["user@example.test"], message("partner order", "orders@partner.test",
                                                                     body=f"{GTUBE}\r\n"))
    s.quit()
    wait_for(lambda: sy.sink.with_subject("partner order"), what="authenticated allow-listed mail delivered")
    assert sy.sink.with_subject("verify your account") == [] and sy.sink.with_subject("unproven deal") == []


def test_the_reverse_whitelist_needs_an_authenticated_sender(sy):
    ensure_relay(sy)
    s = client(sy, RELAY)
    mate = "mate@strict-mate.test"
    s.sendmail("user@example.test", [mate], message("hello mate", "user@example.test", to=mate))
    s.quit()
    wait_for(lambda: mate in json.dumps(sy.http("GET", "/api/v1/worker/policy", sy.node_token)[1]["correspondents"]),
             what="the pair in the snapshot")
    time.sleep(0.5)
    # From 127.0.0.5, which the domain's SPF does not cover: the pair does not vouch for it.
    s = client(sy, "127.0.0.5", helo="mx.forger.test")
    s.sendmail(mate, ["user@example.test"], message("forged mate", mate, body=f"{GTUBE}\r\n"))
    s.quit()
    user = sy.login("user@example.test", "moat-demo-user")
    item = wait_for(lambda: quarantined(sy, "forged mate", user), what="forged correspondent held")[0]
    assert IGNORED in item["reasons"], item["reasons"]
    # The genuine correspondent (SPF pass from 127.0.0.1) is trusted.
    sy.send("genuine mate", sender=mate, body=f"{GTUBE}\r\n")
    wait_for(lambda: sy.sink.with_subject("genuine mate"), what="genuine correspondent delivered")


# --- the worker's own doors -------------------------------------------------------------------------
def test_a_silent_client_after_starttls_is_cut_off(sy):
    sy.kill_worker()
    sy.start_worker(MOAT_TLS_HANDSHAKE_TIMEOUT_SECS="2")
    sock, f = mta_test.raw_session(sy, "silent.test", timeout=15)
    sock.sendall(b"STARTTLS\r\n")
    assert f.readline().startswith(b"220")
    started = time.time()
    assert sock.recv(1) == b"", "the server should close the connection"
    waited = time.time() - started
    assert waited < 12, waited
    sock.close()
    # TLS itself still works.
    s = smtplib.SMTP("127.0.0.1", sy.smtp_port, timeout=10)
    s.starttls(context=ssl._create_unverified_context())
    s.quit()


def test_the_admin_port_needs_its_token_and_keys_are_private(sy):
    base = f"http://127.0.0.1:{sy.metrics_port}"

    def call(method, path, token=None):
        req = urllib.request.Request(base + path, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code

    assert call("GET", "/queue") == 401
    assert call("POST", "/queue/rescan", "wrong") == 401
    token = open(f"{sy.dir}/mta/admin.token").read().strip()
    assert call("GET", "/queue", token) == 200
    assert call("DELETE", "/queue/..%2F..%2Fpolicy.json", token) in (400, 404)
    assert os.path.exists(f"{sy.dir}/mta/policy.json")
    assert call("GET", "/metrics") == 200 and call("GET", "/healthz") == 200
    for secret in ("mta/admin.token", "mta/batv.key", "mta/tls/key.pem", "api/jwt.key"):
        path = f"{sy.dir}/{secret}"
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600, (secret, oct(mode))
    # The queue commands still work (they read the token too).
    out = sy.queue("remove", "not-a-queue-id")
    assert out.returncode != 0 and "not a queue id" in out.stderr, out


def test_reputation_of_many_clients_reaches_the_api_after_an_outage(sy):
    # More clients than one push may carry (the API takes 5,000 entries per request): while
    # the API is down they pile up, afterwards they arrive in chunks.
    sy.stop_api()
    try:
        for n in range(5200):
            source = f"127.3.{n // 250}.{n % 250 + 1}"
            try:
                sock = socket.create_connection(("127.0.0.1", sy.smtp_port), timeout=5, source_address=(source, 0))
                sock.close()
            except OSError:
                pass
    finally:
        sy.start_api()
    admin = platform(sy)
    for ip in ("127.3.0.1", "127.3.20.200"):
        items = wait_for(lambda: sy.http("GET", f"/api/v1/reputation?ip={ip}", admin)[1]["items"], timeout=30,
                         what=f"the reputation of {ip} at the API")
        assert items[0]["connections"] >= 1, items


def test_the_worker_never_delivers_into_its_own_host(sy):
    # Without the development setting, a destination that is (or resolves to) loopback is
    # not connected to: the mail waits, saying why.
    sy.kill_worker()
    sy.start_worker(MOAT_ALLOW_INTERNAL_DESTINATIONS="false")
    try:
        sy.send("to an internal destination")
        t = wait_for(lambda: [m for m in sy.tracked("to an internal destination") if m["status"] == "deferred"],
                     what="deferred for its internal destination")
        assert "internal address" in (t[0]["last_error"] or ""), t[0]
        assert sy.sink.with_subject("to an internal destination") == []
    finally:
        sy.kill_worker()
        sy.start_worker()
    wait_for(lambda: sy.sink.with_subject("to an internal destination"), what="delivered once allowed")


def test_a_revoked_node_token_is_refused(sy):
    out = subprocess.run([f"{API_BIN}/moat-api", "node", "create", "--name", "mx-retired"], env=sy.api_env, cwd=sy.dir,
                         capture_output=True, text=True, check=True)
    token = out.stdout.strip().splitlines()[-1]
    assert sy.http("GET", "/api/v1/worker/policy", token)[0] == 200
    out = subprocess.run([f"{API_BIN}/moat-api", "node", "revoke", "--name", "mx-retired"], env=sy.api_env, cwd=sy.dir,
                         capture_output=True, text=True)
    assert out.returncode == 0 and "revoked" in out.stdout, out
    assert sy.http("GET", "/api/v1/worker/policy", token)[0] == 401


if __name__ == "__main__":
    mta_test.main([v for k, v in list(globals().items()) if k.startswith("test_")])
