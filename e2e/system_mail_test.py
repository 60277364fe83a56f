"""End-to-end tests of the mail the platform sends itself (activation, password reset):
through a real SMTP relay (aiosmtpd on loopback) named by MOAT_SMTP_RELAY, with its state
visible to the platform admin, and honest when no relay is configured. Closes with
`N passed, M failed`.

Usage: python3 e2e/system_mail_test.py TARGET_DIR [TEST_NAME ...]
"""

import email
import email.policy
import re
import uuid
import warnings

import mta_test
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from mta_test import Sink, wait_for


# The test relay takes AUTH over plain TCP on loopback on purpose.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")


class AuthSink(Sink):
    """A relay that takes mail only after AUTH as relay-user / relay-secret."""

    def start(self):
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = getattr(auth_data, "login", b"") == b"relay-user" and getattr(auth_data, "password", b"") == b"relay-secret"
            return AuthResult(success=ok)

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, authenticator=authenticator,
                                     auth_required=True, auth_require_tls=False)
        self.controller.start()


def platform(sy):
    return sy.login("admin@moat.test", "moat-demo-admin")


def with_relay(sy, relay_port):
    """Restarts the API with MOAT_SMTP_RELAY pointing at a plain relay on loopback."""
    sy.stop_api()
    sy.api_env.update(MOAT_SMTP_RELAY=f"127.0.0.1:{relay_port}", MOAT_SMTP_RELAY_TLS="none",
                      MOAT_SYSTEM_MAIL_FROM="no-reply@moat.test", MOAT_PUBLIC_URL="https://moat.example")
    sy.start_api()


def without_relay(sy):
    sy.stop_api()
    for key in ("MOAT_SMTP_RELAY", "MOAT_SMTP_RELAY_TLS"):
        sy.api_env.pop(key, None)
    sy.start_api()


def new_user(sy, token):
    address = f"new-{uuid.uuid4().hex[:8]}@example.test"
    status, user = sy.http("POST", f"/api/v1/orgs/{sy.org_id}/users", token,
                           {"email": address, "display_name": "New <Person>", "role": "user"})
    assert status == 201, user
    return address, user


def mail_to(relay, address):
    return [m for m in relay.messages if address in [t.lower() for t in m["to"]]]


def system_mail(sy, admin, address):
    items = sy.http("GET", "/api/v1/system-mail?per_page=500", admin)[1]["items"]
    return [m for m in items if m["recipient"] == address]


def mail_where(sy, admin, address, wanted, what):
    """Waits (up to 20 s) until some of the system mail to `address` is `wanted`; answers those."""
    return wait_for(lambda: [m for m in system_mail(sy, admin, address) if wanted(m)], what=what, timeout=20)


def test_an_activation_mail_reaches_a_real_smtp_server_and_its_link_sets_the_password(sy):
    relay = Sink()
    relay.start()
    try:
        with_relay(sy, relay.port)
        admin = platform(sy)
        address, _ = new_user(sy, admin)
        got = wait_for(lambda: mail_to(relay, address), what="the activation mail at the relay", timeout=20)
        message = email.message_from_bytes(got[0]["data"], policy=email.policy.default)
        assert got[0]["from"] == "no-reply@moat.test", got[0]["from"]
        assert message["Subject"] == "Welcome to Moat: activate your account", message["Subject"]
        assert "Moat" in message["From"] and message["Auto-Submitted"] == "auto-generated"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "New &lt;Person&gt;" in html and "<Person>" not in html, "the name is escaped in HTML"
        token = re.search(r"https://moat\.example/activate\?token=(\S+)", text).group(1)
        assert token in html
        status, body = sy.http("POST", "/api/v1/auth/activate", body={"token": token, "password": "a new long password"})
        assert status in (200, 204), body
        assert sy.login(address, "a new long password")
        assert sy.http("POST", "/api/v1/auth/activate", body={"token": token, "password": "another password x"})[0] in (400, 404, 410, 422)
        sent = mail_where(sy, admin, address, lambda m: m["status"] == "sent", "state sent")
        assert sent[0]["attempts"] == 1 and sent[0]["sent_at"], sent[0]
        assert "body" not in sent[0], "bodies (with their tokens) are not shown"
        state = sy.http("GET", "/api/v1/system-mail/state", admin)[1]
        assert state["delivery_configured"] is True, state
    finally:
        relay.stop()


def test_a_refused_mail_is_marked_failed_and_a_down_relay_keeps_mail_pending(sy):
    relay = Sink()
    relay.start()
    try:
        with_relay(sy, relay.port)
        admin = platform(sy)
        refused = f"refused-{uuid.uuid4().hex[:8]}@example.test"
        relay.refuse.add(refused)
        status, _ = sy.http("POST", f"/api/v1/orgs/{sy.org_id}/users", admin,
                            {"email": refused, "display_name": "Refused", "role": "user"})
        assert status == 201
        failed = mail_where(sy, admin, refused, lambda m: m["status"] == "failed",
                            "a permanent refusal marks the mail failed")
        assert failed[0]["last_error"].startswith("550"), failed[0]
        assert sy.http("GET", "/api/v1/system-mail?status=failed", admin)[1]["total"] >= 1
        relay.stop()
        address, _ = new_user(sy, admin)
        waiting = mail_where(sy, admin, address, lambda m: m["attempts"] >= 1, "an attempt against the down relay")
        assert waiting[0]["status"] == "pending" and waiting[0]["last_error"], waiting[0]
        assert waiting[0]["next_attempt_at"], "the retry is scheduled"
        assert mail_to(relay, address) == []
    finally:
        relay.stop()


def test_the_relay_login_is_used_and_without_it_the_relay_refuses(sy):
    relay = AuthSink()
    relay.start()
    try:
        with_relay(sy, relay.port)
        admin = platform(sy)
        anonymous, _ = new_user(sy, admin)
        failed = mail_where(sy, admin, anonymous, lambda m: m["status"] == "failed",
                            "the relay refuses mail without a login")
        assert failed[0]["last_error"].startswith("530"), failed[0]
        sy.stop_api()
        sy.api_env.update(MOAT_SMTP_RELAY_USER="relay-user", MOAT_SMTP_RELAY_PASSWORD="relay-secret")
        sy.start_api()
        address, _ = new_user(sy, admin)
        wait_for(lambda: mail_to(relay, address), what="mail sent after AUTH", timeout=20)
    finally:
        for key in ("MOAT_SMTP_RELAY_USER", "MOAT_SMTP_RELAY_PASSWORD"):
            sy.api_env.pop(key, None)
        relay.stop()


def test_without_a_relay_mail_waits_and_the_state_says_so(sy):
    without_relay(sy)
    admin = platform(sy)
    address, _ = new_user(sy, admin)
    state = sy.http("GET", "/api/v1/system-mail/state", admin)[1]
    assert state["delivery_configured"] is False and state["pending"] >= 1, state
    items = system_mail(sy, admin, address)
    assert items and items[0]["status"] == "pending" and items[0]["attempts"] == 0, items


def test_only_the_platform_admin_sees_the_outbox(sy):
    for login in (("admin@example.test", "moat-demo-orgadmin"), ("msp@moat.test", "moat-demo-msp"),
                  ("user@example.test", "moat-demo-user")):
        token = sy.login(*login)
        assert sy.http("GET", "/api/v1/system-mail", token)[0] == 403, login
        assert sy.http("GET", "/api/v1/system-mail/state", token)[0] == 403, login
    assert sy.http("GET", "/api/v1/system-mail")[0] == 401


if __name__ == "__main__":
    mta_test.main([v for k, v in list(globals().items()) if k.startswith("test_")])
