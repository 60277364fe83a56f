"""End-to-end tests of the MTA worker with real peers, all on 127.0.0.1.

Starts `moat-api serve` (fresh SQLite, demo tenant), an aiosmtpd server as the customer's
mail server, and `moat-mta run`; sends with swaks, smtplib and raw sockets. Prints one
line per test and closes with `N passed, M failed`.

Usage: python3 e2e/mta_test.py TARGET_DIR [TEST_NAME ...]
"""

import json
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

from aiosmtpd.controller import Controller
from dnslib import QTYPE, RCODE, RR, TXT, A, MX
from dnslib.server import BaseResolver, DNSServer

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug")
# Benchmarks may run a release worker beside a debug API.
API_BIN = os.path.abspath(os.environ.get("MOAT_API_BIN_DIR", BIN))
ONLY = set(sys.argv[2:])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def wait_for(cond, timeout=15.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Sink:
    """The customer's mail server: stores what it gets, can refuse recipients or be down."""

    def __init__(self):
        self.port = free_port()
        self.messages = []
        self.refuse = set()
        self.lock = threading.Lock()
        self.controller = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "data": envelope.original_content})
        return "250 2.0.0 stored"

    def start(self):
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def with_subject(self, subject):
        with self.lock:
            return [m for m in self.messages if f"Subject: {subject}".encode() in m["data"]]


# DNSBL entries the tests publish: query name -> reply address.
LISTINGS = {}
# TXT records the tests publish (SPF, DKIM keys, DMARC): name -> text. Senders the tests
# allow-list or correspond with publish SPF for the test clients (loopback): sender allow
# entries and the reverse whitelist only count for authenticated senders.
TXT_RECORDS = {
    "ext.test": "v=spf1 ip4:127.0.0.0/8 -all",
    "org-blocked.test": "v=spf1 ip4:127.0.0.0/8 -all",
}


# MX hosts of customer domains (a test may point one elsewhere for a while).
MX_HOSTS = {"example.test": "mx.moat.test."}


class Zone(BaseResolver):
    """A real DNS server on loopback: ext.test has its MX at mx.ext.test = 127.0.0.1."""

    def resolve(self, request, handler):
        reply = request.reply()
        q = request.q
        name = str(q.qname).rstrip(".").lower()
        if name in MX_HOSTS and q.qtype == QTYPE.MX:
            # The demo customer's domain points at Moat (the worker's MOAT_HOSTNAME); short
            # TTL: a test may point it at another node.
            reply.add_answer(RR(q.qname, QTYPE.MX, rdata=MX(MX_HOSTS[name]), ttl=1))
        elif name == "ext.test" and q.qtype == QTYPE.MX:
            reply.add_answer(RR(q.qname, QTYPE.MX, rdata=MX("mx.ext.test."), ttl=60))
        elif name == "mx.ext.test" and q.qtype == QTYPE.A:
            reply.add_answer(RR(q.qname, QTYPE.A, rdata=A("127.0.0.1"), ttl=60))
        elif name in LISTINGS and q.qtype == QTYPE.A:
            reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(LISTINGS[name]), ttl=60))
        elif name in TXT_RECORDS and q.qtype == QTYPE.TXT:
            text = TXT_RECORDS[name].encode()
            reply.add_answer(RR(q.qname, QTYPE.TXT, rdata=TXT([text[i:i + 255] for i in range(0, len(text), 255)]), ttl=60))
        elif name in TXT_RECORDS:
            pass  # the name exists, without records of this type
        elif name not in ("ext.test", "mx.ext.test", "example.test"):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class Quiet:
    """A dnslib logger that logs nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class System:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="moat-mta-e2e-")
        self.api_port, self.smtp_port, self.metrics_port = free_port(), free_port(), free_port()
        self.api_env = dict(os.environ, MOAT_DEMO_SEED="true", MOAT_HTTP_LISTEN=f"127.0.0.1:{self.api_port}",
                            MOAT_DATA_DIR=f"{self.dir}/api", MOAT_DATABASE_URL=f"sqlite:{self.dir}/api/moat.db", MOAT_LOG="warn",
                            # Every test server lives on loopback.
                            MOAT_ALLOW_INTERNAL_DESTINATIONS="true")
        self.api = self.worker = None
        self.extra_env = {}
        self.sink = Sink()
        self.sink.start()
        # The outside world: a foreign domain's MX, found through a local DNS server.
        self.foreign = Sink()
        self.foreign.start()
        self.dns_port = free_port()
        self.dns = DNSServer(Zone(), port=self.dns_port, address="127.0.0.1", logger=Quiet())
        self.dns.start_thread()

    # --- processes ---------------------------------------------------------------------
    def start_api(self):
        self.api = subprocess.Popen([f"{API_BIN}/moat-api", "serve"], env=self.api_env, cwd=self.dir,
                                    stdout=open(f"{self.dir}/api.log", "a"), stderr=subprocess.STDOUT)
        wait_for(lambda: self.http("GET", "/readyz", raw=True)[0] == 200, what="API ready")

    def stop_api(self):
        self.api.kill()
        self.api.wait()

    def worker_env(self, **extra):
        env = dict(os.environ, MOAT_API_URL=f"http://127.0.0.1:{self.api_port}", MOAT_NODE_TOKEN=self.node_token,
                   MOAT_SMTP_LISTEN=f"127.0.0.1:{self.smtp_port}", MOAT_METRICS_LISTEN=f"127.0.0.1:{self.metrics_port}",
                   MOAT_DATA_DIR=f"{self.dir}/mta", MOAT_HOSTNAME="mx.moat.test", MOAT_RETRY_SCHEDULE_SECS="[1]",
                   MOAT_DNS_SERVER=f"127.0.0.1:{self.dns_port}", MOAT_MX_PORT=str(self.foreign.port),
                   # The test client at 127.0.0.1 is a known gateway; other loopback addresses
                   # meet every connection defence (see e2e/defences_test.py).
                   MOAT_TRUSTED_NETWORKS="127.0.0.1/32", MOAT_TARPIT_UNKNOWN_MAX_MS="300",
                   # Every test server (customer servers, MX hosts) lives on loopback.
                   MOAT_ALLOW_INTERNAL_DESTINATIONS="true",
                   MOAT_LOG="info")
        env.update(self.extra_env)
        env.update(extra)
        return env

    def start_worker(self, wait_policy=True, **extra):
        self.worker = subprocess.Popen([f"{BIN}/moat-mta", "run"], env=self.worker_env(**extra), cwd=self.dir,
                                       stdout=open(f"{self.dir}/mta.log", "a"), stderr=subprocess.STDOUT)
        wait_for(self.smtp_up, what="worker listening")
        if wait_policy:
            wait_for(lambda: self.rcpt_code("user@example.test") == 250, what="worker has the policy")

    def kill_worker(self, sig=signal.SIGKILL):
        self.worker.send_signal(sig)
        self.worker.wait()

    def smtp_up(self):
        return port_open(self.smtp_port)

    def queue(self, *args):
        return subprocess.run([f"{BIN}/moat-mta", "queue", *args], env=self.worker_env(), cwd=self.dir,
                              capture_output=True, text=True)

    # --- API -----------------------------------------------------------------------------
    def http(self, method, path, token=None, body=None, raw=False):
        req = urllib.request.Request(f"http://127.0.0.1:{self.api_port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                data = res.read()
                return res.status, (data if raw or not data else json.loads(data))
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except OSError:
            return 0, None

    def login(self, email, password):
        return self.http("POST", "/api/v1/auth/login", body={"email": email, "password": password})[1]["access_token"]

    def setup(self):
        self.start_api()
        out = subprocess.run([f"{API_BIN}/moat-api", "node", "create", "--name", "mx1"], env=self.api_env, cwd=self.dir,
                             capture_output=True, text=True, check=True)
        self.node_token = out.stdout.strip().splitlines()[-1]
        self.admin = self.login("admin@example.test", "moat-demo-orgadmin")
        me = self.http("GET", "/api/v1/auth/me", self.admin)[1]
        self.org_id = me["reach"]["org_id"]
        domains = self.http("GET", f"/api/v1/orgs/{self.org_id}/domains", self.admin)[1]
        self.domain_id = domains["items"][0]["id"]
        self.set_destination(self.sink.port)
        self.start_worker()

    def set_destination(self, port):
        status, _ = self.http("PATCH", f"/api/v1/domains/{self.domain_id}", self.admin,
                              {"destination_host": "127.0.0.1", "destination_port": port, "tls_mode": "opportunistic"})
        assert status == 200, status

    def tracked(self, subject):
        q = urllib.request.quote(subject)
        status, body = self.http("GET", f"/api/v1/messages?subject={q}", self.admin)
        return body["items"] if status == 200 else []

    def policy_has(self, text):
        return text in json.dumps(self.http("GET", "/api/v1/worker/policy", self.node_token)[1])

    def add_user(self, email):
        status, body = self.http("POST", f"/api/v1/orgs/{self.org_id}/users", self.admin,
                                 {"email": email, "display_name": email.split("@")[0], "role": "user"})
        assert status == 201, body
        return body

    # --- SMTP ----------------------------------------------------------------------------
    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10)
        s.ehlo("client.test")
        return s

    def rcpt_code(self, address):
        try:
            s = self.smtp()
            s.mail("probe@ext.test")
            code, _ = s.rcpt(address)
            s.quit()
            return code
        except (OSError, smtplib.SMTPException):
            return 0

    def send(self, subject, to="user@example.test", sender="sender@ext.test", body="Hello.\r\n"):
        msg = f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject.replace(' ', '-')}@ext.test>\r\n\r\n{body}"
        s = self.smtp()
        s.sendmail(sender, [to], msg.encode())
        s.quit()
        return msg.encode()

    def relay(self, source, sender, rcpts, data):
        """Sends as a customer's own server at `source` (a loopback address) relaying out."""
        s = smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10, source_address=(source, 0))
        s.ehlo("exchange.example.test")
        s.sendmail(sender, rcpts, data)
        s.quit()

    def close(self):
        for p in (self.worker, self.api):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        self.sink.stop()
        self.foreign.stop()
        self.dns.stop()


def raw_session(sy, helo, timeout=10):
    """A plain socket past the greeting and EHLO, with a line reader."""
    sock = socket.create_connection(("127.0.0.1", sy.smtp_port), timeout=timeout)
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(f"EHLO {helo}\r\n".encode())
    while f.readline()[3:4] == b"-":
        pass
    return sock, f


# --- tests ---------------------------------------------------------------------------------
def test_swaks_and_smtplib_deliver_byte_for_byte(sy):
    original = sy.send("smtplib byte check", body="Line one\r\n.leading dot\r\nLast line\r\n")
    body = "From: swaks@ext.test\r\nTo: user@example.test\r\nSubject: swaks byte check\r\n\r\nswaks body\r\n..double dot\r\n"
    path = f"{sy.dir}/swaks.eml"
    # swaks ends DATA with CRLF "." CRLF itself, so the file carries no final CRLF.
    open(path, "w", newline="").write(body[:-2])
    out = subprocess.run(["swaks", "--server", f"127.0.0.1:{sy.smtp_port}", "--from", "swaks@ext.test",
                          "--to", "user@example.test", "--data", path], capture_output=True, text=True)
    assert "250 2.0.0 Ok: queued as" in out.stdout, out.stdout
    for subject, sent in (("smtplib byte check", original), ("swaks byte check", body.encode())):
        got = wait_for(lambda: sy.sink.with_subject(subject), what=f"'{subject}' at the sink")[0]
        data = got["data"]
        assert data.startswith(b"Received: from client.test") or data.startswith(b"Received: from "), data[:80]
        # The only change: Received:, Authentication-Results: and X-Moat-* fields on top
        # (some with folded continuation lines); the message itself follows unchanged.
        added, rest = [], data
        while rest.startswith((b"Received:", b"Authentication-Results:", b"X-Moat-", b"\t")):
            line, rest = rest.split(b"\r\n", 1)
            added.append(line)
        assert rest == sent, (rest, sent)
        names = [line.split(b":")[0] for line in added if not line.startswith(b"\t")]
        assert names == [b"Received", b"Authentication-Results", b"X-Moat-Score", b"X-Moat-Verdict"], names
        assert got["to"] == ["user@example.test"]
    t = wait_for(lambda: [m for m in sy.tracked("smtplib byte check") if m["status"] == "delivered"], what="tracking: delivered")
    assert t[0]["sender"] == "sender@ext.test" and t[0]["verdict"] == "deliver"


def test_destination_down_defers_then_delivers_once(sy):
    down = free_port()
    sy.set_destination(down)
    time.sleep(0.5)  # the worker follows the change (long-poll)
    sy.send("while the server is down")
    wait_for(lambda: [m for m in sy.tracked("while the server is down") if m["status"] == "deferred"], what="deferred in tracking")
    listing = sy.queue("list").stdout
    assert "user@example.test" in listing and "1 message(s) in queue" in listing, listing
    sy.set_destination(sy.sink.port)
    wait_for(lambda: sy.sink.with_subject("while the server is down"), what="delivery after the server is back")
    wait_for(lambda: [m for m in sy.tracked("while the server is down") if m["status"] == "delivered"], what="delivered in tracking")
    time.sleep(2.5)  # another retry period: it must not come twice
    assert len(sy.sink.with_subject("while the server is down")) == 1
    assert "0 message(s) in queue" in sy.queue("list").stdout


def test_permanent_failure_bounces_with_a_dsn(sy):
    sy.add_user("gone@example.test")
    sy.sink.refuse.add("gone@example.test")
    wait_for(lambda: sy.rcpt_code("gone@example.test") == 250, what="worker knows the new user")
    sy.send("to a mailbox that is gone", to="gone@example.test", sender="admin@example.test")
    dsn = wait_for(lambda: [m for m in sy.sink.messages if m["from"] in ("", "<>") and b"gone@example.test" in m["data"]], what="DSN")[0]
    assert dsn["to"] == ["admin@example.test"]
    assert b"multipart/report" in dsn["data"] and b"delivery-status" in dsn["data"], dsn["data"][:400]
    assert b"Status: 5.1.1" in dsn["data"] and b"Action: failed" in dsn["data"]
    wait_for(lambda: [m for m in sy.tracked("to a mailbox that is gone") if m["status"] == "bounced"], what="bounced in tracking")


def test_kill_9_after_250_loses_nothing(sy):
    sy.set_destination(free_port())
    time.sleep(0.5)
    sy.send("survives kill -9")
    sy.kill_worker(signal.SIGKILL)  # right after the 250
    assert sy.sink.with_subject("survives kill -9") == []
    sy.set_destination(sy.sink.port)
    sy.start_worker()
    wait_for(lambda: sy.sink.with_subject("survives kill -9"), what="delivery after restart")
    time.sleep(1.5)
    assert len(sy.sink.with_subject("survives kill -9")) == 1


def test_api_down_mail_still_flows_and_events_arrive_once(sy):
    sy.stop_api()
    sy.send("while the API is down")
    wait_for(lambda: sy.sink.with_subject("while the API is down"), what="delivery without the API")
    # A worker restarted while the API is down serves from its saved snapshot.
    sy.kill_worker(signal.SIGTERM)
    sy.start_worker(wait_policy=False)
    wait_for(lambda: sy.rcpt_code("user@example.test") == 250, what="policy from disk")
    sy.send("after a restart without the API")
    wait_for(lambda: sy.sink.with_subject("after a restart without the API"), what="delivery after restart without API")
    sy.start_api()
    for subject in ("while the API is down", "after a restart without the API"):
        items = wait_for(lambda: [m for m in sy.tracked(subject) if m["status"] == "delivered"], what=f"events for '{subject}'")
        assert len(sy.tracked(subject)) == 1, sy.tracked(subject)
        status, detail = sy.http("GET", f"/api/v1/messages/{items[0]['id']}", sy.admin)
        kinds = [e["kind"] for e in detail["events"]]
        assert kinds.count("received") == 1 and kinds.count("delivered") == 1, kinds


def test_open_relay_tricks_are_refused(sy):
    s = sy.smtp()
    s.mail("spammer@ext.test")
    cases = {
        "victim@other.test": 550,
        "user%victim.test@example.test": 550,
        '"victim@other.test"@example.test': 550,
        "victim@other.test.": 550,
        "victim@[192.0.2.1]": 501,
        "victim@example.test@other.test": 501,
        "nobody@example.test": 550,
    }
    for rcpt, want in cases.items():
        code, text = s.docmd(f"RCPT TO:<{rcpt}>")
        assert code == want, (rcpt, code, text)
    code, text = s.docmd("RCPT TO:<victim@other.test>")
    assert b"5.7.1" in text and b"relaying denied" in text
    code, text = s.docmd("RCPT TO:<nobody@example.test>")
    assert b"5.1.1" in text
    code, _ = s.docmd("DATA")
    assert code == 554, code
    s.quit()


def test_smtp_smuggling_variants_are_refused(sy):
    for variant in (b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r"):
        sock = socket.create_connection(("127.0.0.1", sy.smtp_port), timeout=10)
        f = sock.makefile("rb")
        def expect(prefix):
            line = f.readline()
            while line[3:4] == b"-":
                line = f.readline()
            assert line.startswith(prefix), (variant, prefix, line)
            return line
        expect(b"220")
        sock.sendall(b"EHLO smuggler.test\r\n"); expect(b"250")
        sock.sendall(b"MAIL FROM:<a@ext.test>\r\n"); expect(b"250")
        sock.sendall(b"RCPT TO:<user@example.test>\r\n"); expect(b"250")
        sock.sendall(b"DATA\r\n"); expect(b"354")
        sock.sendall(b"Subject: smuggle carrier\r\n\r\nfirst" + variant +
                     b"MAIL FROM:<admin@example.test>\r\nRCPT TO:<user@example.test>\r\nDATA\r\n"
                     b"Subject: smuggled\r\n\r\nevil\r\n.\r\n")
        # Only <CRLF>.<CRLF> ends DATA: one answer for one (bare-newline) message, refused.
        expect(b"550 5.5.2")
        sock.sendall(b"QUIT\r\n"); expect(b"221")
        sock.close()
    time.sleep(1)
    assert sy.sink.with_subject("smuggled") == [] and sy.sink.with_subject("smuggle carrier") == []


def test_user_created_through_the_api_is_accepted_within_a_second(sy):
    assert sy.rcpt_code("newcomer@example.test") == 550
    started = time.time()
    sy.add_user("newcomer@example.test")
    wait_for(lambda: sy.rcpt_code("newcomer@example.test") == 250, timeout=5, what="new user accepted")
    # The latency goal (< 1 s) is measured by `make bench`; here it is reported, not timed.
    print(f"     new user accepted {time.time() - started:.3f}s after the API call", flush=True)


def test_protocol_extensions_and_limits(sy):
    s = sy.smtp()
    for ext in ("pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes", "chunking", "starttls"):
        assert s.has_extn(ext), ext
    code, _ = s.docmd("VRFY user@example.test")
    assert code == 252
    code, text = s.docmd(f"MAIL FROM:<a@ext.test> SIZE={10**9}")
    assert code == 552, text
    s.rset()
    s.mail("a@ext.test")
    s.rcpt("user@example.test")
    # BDAT (CHUNKING) in two chunks.
    chunk1 = b"Subject: chunked\r\n\r\n"
    chunk2 = b"sent with BDAT\r\n"
    s.send(f"BDAT {len(chunk1)}\r\n".encode() + chunk1)
    code, text = s.getreply()
    assert code == 250, (code, text)
    s.send(f"BDAT {len(chunk2)} LAST\r\n".encode() + chunk2)
    code, text = s.getreply()
    assert code == 250 and b"queued as" in text, (code, text)
    s.quit()
    wait_for(lambda: sy.sink.with_subject("chunked"), what="BDAT message delivered")
    # STARTTLS with the generated certificate, then mail over TLS.
    s = sy.smtp()
    s.starttls(context=ssl._create_unverified_context())
    s.ehlo("client.test")
    assert not s.has_extn("starttls")
    s.sendmail("tls@ext.test", ["user@example.test"], b"Subject: over tls\r\n\r\nencrypted\r\n")
    s.quit()
    got = wait_for(lambda: sy.sink.with_subject("over tls"), what="TLS message delivered")[0]
    assert b"with ESMTPS" in got["data"]
    # Pipelined commands are answered in order.
    sock, f = raw_session(sy, "p.test")
    sock.sendall(b"MAIL FROM:<p@ext.test>\r\nRCPT TO:<user@example.test>\r\nRCPT TO:<x@other.test>\r\nRSET\r\nNOOP\r\nQUIT\r\n")
    answers = [f.readline()[:3] for _ in range(6)]
    assert answers == [b"250", b"250", b"550", b"250", b"250", b"221"], answers
    sock.close()


def test_customer_servers_relay_outbound_through_mx(sy):
    # Only the customer's own server (127.0.0.2 here) may relay; 127.0.0.1 may not.
    status, body = sy.http("POST", f"/api/v1/orgs/{sy.org_id}/provision", sy.admin, {"allowed_ips": ["127.0.0.2"]})
    assert status == 200, body

    def relay_code(source):
        try:
            s = smtplib.SMTP("127.0.0.1", sy.smtp_port, timeout=10, source_address=(source, 0))
            s.ehlo("exchange.example.test")
            s.mail("user@example.test")
            code, _ = s.rcpt("friend@ext.test")
            s.quit()
            return code
        except (OSError, smtplib.SMTPException):
            return 0

    wait_for(lambda: relay_code("127.0.0.2") == 250, what="relay allowed for the customer's server")
    assert relay_code("127.0.0.1") == 550
    sy.relay("127.0.0.2", "user@example.test", ["friend@ext.test"],
             b"From: user@example.test\r\nSubject: outbound via mx\r\n\r\nhi friend\r\n")
    got = wait_for(lambda: sy.foreign.with_subject("outbound via mx"), what="outbound delivery to the MX")[0]
    assert got["to"] == ["friend@ext.test"], got["to"]
    assert got["from"].startswith("prvs=") and got["from"].endswith("=user@example.test"), got["from"]  # BATV-signed
    t = wait_for(lambda: [m for m in sy.tracked("outbound via mx") if m["status"] == "delivered"], what="outbound tracked")
    assert t[0]["direction"] == "outbound"
    # Reverse whitelist: the user wrote to friend@ext.test, so a spammy reply is delivered;
    # an auto-reply to someone else creates no entry, so that someone's spam is quarantined.
    sy.relay("127.0.0.2", "user@example.test", ["stranger@ext.test"],
             b"From: user@example.test\r\nSubject: out of office\r\nAuto-Submitted: auto-replied\r\n\r\naway\r\n")
    wait_for(lambda: sy.foreign.with_subject("out of office"), what="auto-reply delivered")
    gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
    wait_for(lambda: "friend@ext.test" in str(sy.http("GET", "/api/v1/worker/policy", sy.node_token)[1]["correspondents"]),
             what="the pair in the policy snapshot")
    time.sleep(0.5)  # the worker's long-poll picks the snapshot up
    sy.send("reply from friend", sender="friend@ext.test", body=f"{gtube}\r\n")
    wait_for(lambda: sy.sink.with_subject("reply from friend"), what="spammy reply from a correspondent delivered")
    sy.send("spam from stranger", sender="stranger@ext.test", body=f"{gtube}\r\n")
    user = sy.login("user@example.test", "moat-demo-user")
    wait_for(lambda: [i for i in sy.http("GET", "/api/v1/quarantine", user)[1]["items"] if i["subject"] == "spam from stranger"],
             what="non-correspondent spam quarantined")
    assert sy.sink.with_subject("spam from stranger") == []
    # A bounce for an external sender goes back through DNS too.
    sy.add_user("departed@example.test")
    sy.sink.refuse.add("departed@example.test")
    wait_for(lambda: sy.rcpt_code("departed@example.test") == 250, what="worker knows the new user")
    sy.send("to departed", to="departed@example.test", sender="sender@ext.test")
    dsn = wait_for(lambda: [m for m in sy.foreign.messages if b"departed@example.test" in m["data"]], what="DSN via MX")[0]
    assert dsn["to"] == ["sender@ext.test"] and dsn["from"] in ("", "<>")


def test_gtube_lands_in_the_users_quarantine(sy):
    gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
    sy.send("gtube sample", body=f"This is spam.\r\n{gtube}\r\n")
    user = sy.login("user@example.test", "moat-demo-user")
    items = wait_for(lambda: [i for i in sy.http("GET", "/api/v1/quarantine", user)[1]["items"] if i["subject"] == "gtube sample"],
                     what="GTUBE message in the user's quarantine")
    assert items[0]["reasons"] == ["GTUBE"] and items[0]["recipient"] == "user@example.test", items[0]
    wait_for(lambda: [m for m in sy.tracked("gtube sample") if m["status"] == "quarantined"], what="quarantined in tracking")
    time.sleep(1)
    assert sy.sink.with_subject("gtube sample") == [], "quarantined mail is not delivered"


def test_allow_and_block_lists_at_every_level(sy):
    msp = sy.login("msp@moat.test", "moat-demo-msp")
    platform = sy.login("admin@moat.test", "moat-demo-admin")
    user = sy.login("user@example.test", "moat-demo-user")
    me = sy.http("GET", "/api/v1/auth/me", user)[1]
    msp_id = sy.http("GET", "/api/v1/auth/me", msp)[1]["reach"]["msp_id"]

    def add(token, level, scope_id, kind, pattern):
        status, body = sy.http("POST", "/api/v1/lists", token,
                               {"scope": {"level": level, "id": scope_id}, "kind": kind, "pattern": pattern})
        assert status == 201, body

    def rcpt_code(sender):
        s = sy.smtp()
        s.mail(sender)
        code, _ = s.rcpt("user@example.test")
        s.quit()
        return code

    add(sy.admin, "org", sy.org_id, "block", "@org-blocked.test")
    add(sy.admin, "domain", sy.domain_id, "block", "@domain-blocked.test")
    add(msp, "msp", msp_id, "block", "@msp-blocked.test")
    add(platform, "global", None, "block", "@global-blocked.test")
    for sender in ("a@org-blocked.test", "a@domain-blocked.test", "a@msp-blocked.test", "a@global-blocked.test"):
        wait_for(lambda: rcpt_code(sender) == 550, what=f"{sender} blocked")
    assert rcpt_code("a@elsewhere.test") == 250
    # The most specific level wins: the user's allow beats the org's block, the org's allow
    # beats the global block.
    add(user, "user", me["user"]["id"], "allow", "friend@org-blocked.test")
    add(sy.admin, "org", sy.org_id, "allow", "@global-blocked.test")
    wait_for(lambda: rcpt_code("friend@org-blocked.test") == 250, what="user allow beats org block")
    wait_for(lambda: rcpt_code("a@global-blocked.test") == 250, what="org allow beats global block")
    assert rcpt_code("other@org-blocked.test") == 550
    # Allow skips the spam verdict: GTUBE from an allowed sender is delivered.
    gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
    sy.send("allowed gtube", sender="friend@org-blocked.test", body=f"{gtube}\r\n")
    wait_for(lambda: sy.sink.with_subject("allowed gtube"), what="allow-listed GTUBE delivered")
    # With block_action = drop, blocked mail is accepted and silently discarded.
    status, _ = sy.http("PUT", f"/api/v1/orgs/{sy.org_id}/policy", sy.admin, {"block_action": "drop"})
    assert status == 200
    try:
        wait_for(lambda: rcpt_code("x@org-blocked.test") == 250, what="drop instead of reject")
        sy.send("dropped mail", sender="x@org-blocked.test")
        try:
            wait_for(lambda: [m for m in sy.tracked("dropped mail") if m["verdict"] == "reject"], what="dropped in tracking")
        except AssertionError:
            raise AssertionError(f"tracking shows {sy.tracked('dropped mail')}")
        time.sleep(1)
        assert sy.sink.with_subject("dropped mail") == []
    finally:
        sy.http("PUT", f"/api/v1/orgs/{sy.org_id}/policy", sy.admin, {})


def test_blocked_attachments_are_quarantined_or_refused(sy):
    import io
    import zipfile
    from email.message import EmailMessage

    def message(subject):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("invoice.exe", b"MZ pretend")
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "billing@ext.test", "user@example.test", subject
        m.set_content("Please see the attached report.")
        m.add_attachment(buf.getvalue(), maintype="application", subtype="zip", filename="report.zip")
        return m.as_bytes().replace(b"\n", b"\r\n")

    s = sy.smtp()
    s.sendmail("billing@ext.test", ["user@example.test"], message("zipped exe"))
    s.quit()
    user = sy.login("user@example.test", "moat-demo-user")
    items = wait_for(lambda: [i for i in sy.http("GET", "/api/v1/quarantine", user)[1]["items"] if i["subject"] == "zipped exe"],
                     what="report.zip quarantined")
    assert items[0]["reasons"] == ["attachment: report.zip contains invoice.exe"], items[0]
    assert sy.sink.with_subject("zipped exe") == []
    status, _ = sy.http("PUT", f"/api/v1/orgs/{sy.org_id}/policy", sy.admin, {"attachment_action": "reject"})
    assert status == 200
    try:
        def refused():
            s = sy.smtp()
            try:
                s.sendmail("billing@ext.test", ["user@example.test"], message("zipped exe again"))
                return None
            except smtplib.SMTPDataError as err:
                return err
            finally:
                s.quit()
        err = wait_for(refused, what="refusal with attachment_action = reject")
        assert err.smtp_code == 550 and b"invoice.exe" in err.smtp_error, err
    finally:
        sy.http("PUT", f"/api/v1/orgs/{sy.org_id}/policy", sy.admin, {})


def test_backscatter_protection_with_batv(sy):
    status, _ = sy.http("POST", f"/api/v1/orgs/{sy.org_id}/provision", sy.admin, {"allowed_ips": ["127.0.0.2"]})
    assert status in (200, 409)
    wait_for(lambda: sy.policy_has("127.0.0.2"), what="relay network in the policy")
    time.sleep(0.5)
    s = smtplib.SMTP("127.0.0.1", sy.smtp_port, timeout=10, source_address=("127.0.0.2", 0))
    s.ehlo("exchange.example.test")
    s.sendmail("user@example.test", ["pal@ext.test"],
               b"From: user@example.test\r\nSubject: batv outbound\r\nMessage-ID: <batv-test@example.test>\r\n\r\nhello pal\r\n")
    s.quit()
    out = wait_for(lambda: sy.foreign.with_subject("batv outbound"), what="outbound delivered")[0]
    signed = out["from"]
    assert signed.startswith("prvs=") and signed.endswith("=user@example.test"), signed

    def bounce(rcpt, body):
        s = sy.smtp()
        s.mail("")
        code, text = s.rcpt(rcpt)
        if code != 250:
            s.quit()
            return code, text
        code, text = s.data(body)
        s.quit()
        return code, text

    # A bounce to the tagged address is genuine: delivered to the user.
    code, _ = bounce(signed, b"Subject: tagged bounce\r\n\r\nUndeliverable: hello pal\r\n")
    assert code == 250
    got = wait_for(lambda: sy.sink.with_subject("tagged bounce"), what="tagged bounce delivered")[0]
    assert got["to"] == ["user@example.test"]
    # A forged tag is refused at RCPT.
    code, text = bounce("prvs=0999abcdef=user@example.test", b"Subject: forged tag\r\n\r\nx\r\n")
    assert code == 550 and b"bounce address tag" in text, (code, text)
    # Untagged: a bounce quoting a Message-ID we relayed passes; one that does not is refused.
    code, _ = bounce("user@example.test", b"Subject: quoting bounce\r\n\r\nOriginal headers:\r\nMessage-ID: <batv-test@example.test>\r\n")
    assert code == 250
    wait_for(lambda: sy.sink.with_subject("quoting bounce"), what="quoting bounce delivered")
    try:
        code, text = bounce("user@example.test", b"Subject: joe job\r\n\r\nMessage-ID: <never-sent@example.test>\r\n")
    except smtplib.SMTPDataError as err:
        code, text = err.smtp_code, err.smtp_error
    assert code == 550 and b"back-scatter" in text, (code, text)


def test_metrics_and_health(sy):
    with urllib.request.urlopen(f"http://127.0.0.1:{sy.metrics_port}/healthz", timeout=5) as r:
        assert r.read() == b"ok\n"
    with urllib.request.urlopen(f"http://127.0.0.1:{sy.metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    for name in ("moat_mta_connections_total", "moat_mta_queue_depth", 'moat_mta_messages_total{verdict="deliver"}',
                 "moat_mta_delivery_attempt_seconds_count"):
        assert name in text, name


def main(tests=None, extra_env=None):
    tests = tests if tests is not None else [v for k, v in list(globals().items()) if k.startswith("test_")]
    sy = System()
    sy.extra_env = extra_env or {}
    passed = failed = 0
    try:
        sy.setup()
        for test in tests:
            if ONLY and test.__name__ not in ONLY:
                continue
            try:
                if sy.worker.poll() is not None:
                    sy.start_worker()
                if sy.api.poll() is not None:
                    sy.start_api()
                sy.set_destination(sy.sink.port)
                test(sy)
                passed += 1
                print(f"ok   {test.__name__}", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL {test.__name__}\n{traceback.format_exc()}", flush=True)
    finally:
        sy.close()
        if failed:
            print(f"logs kept in {sy.dir}")
            for log in ("mta.log", "api.log"):
                try:
                    print(f"--- {log} (tail)\n" + "".join(open(f"{sy.dir}/{log}").readlines()[-40:]))
                except OSError:
                    pass
        else:
            shutil.rmtree(sy.dir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
