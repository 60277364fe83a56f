"""End-to-end tests of the Live Archive and continuity with real peers on 127.0.0.1: the
customer's server (aiosmtpd) stopped, mail to a user kept in its archive (queued, then
deferred with the error), the continuity state and banner data, a reply written in the
archive reaching the external sender's server (found through a real DNS server), a retry
asked for by the admin, a domain's longer queue expiry, and the original delivered once
when the server is back. Closes with `N passed, M failed`.

Usage: python3 e2e/archive_test.py TARGET_DIR [TEST_NAME ...]
"""

import time
import urllib.parse

import mta_test
from mta_test import Sink, free_port, wait_for


def archive(sy, token, mailbox="inbox", q=""):
    status, body = sy.http("GET", f"/api/v1/archive?mailbox={mailbox}&q={urllib.parse.quote(q)}", token)
    assert status == 200, body
    return body["items"]


def one(sy, token, subject, mailbox="inbox"):
    return [m for m in archive(sy, token, mailbox) if m["subject"] == subject]


def delivery(sy, token):
    status, body = sy.http("GET", f"/api/v1/domains/{sy.domain_id}/delivery", token)
    assert status == 200, body
    return body


def retry_now(sy):
    status, body = sy.http("POST", f"/api/v1/domains/{sy.domain_id}/delivery/retry", sy.admin, {})
    assert status == 200, body
    time.sleep(0.5)  # the request reaches the worker with the next policy snapshot


def set_expiry(sy, days):
    status, body = sy.http("PATCH", f"/api/v1/domains/{sy.domain_id}", sy.admin, {"queue_expiry_days": days})
    assert status == 200, body
    time.sleep(0.5)


def test_while_the_server_is_down_mail_is_read_and_answered_in_the_archive(sy):
    # One retry an hour and four seconds in the queue: only "retry now" makes a second
    # attempt, and only a domain's own longer expiry keeps mail past four seconds.
    sy.kill_worker()
    sy.start_worker(MOAT_RETRY_SCHEDULE_SECS="[3600]", MOAT_QUEUE_EXPIRY_SECS="4")
    user = sy.login("user@example.test", "moat-demo-user")
    down = free_port()
    sy.set_destination(down)
    time.sleep(0.5)

    # Without the domain's own expiry, mail waiting past the node's four seconds is returned.
    set_expiry(sy, None)
    sy.send("control past expiry")
    wait_for(lambda: [m for m in sy.tracked("control past expiry") if m["status"] == "deferred"], what="control deferred")
    time.sleep(4.5)
    retry_now(sy)
    wait_for(lambda: [m for m in sy.tracked("control past expiry") if m["status"] == "bounced"], what="control expired")

    # With a day of expiry, the original waits; it is in the user's archive within seconds.
    set_expiry(sy, 1)
    sent_at = time.time()
    original = sy.send("Quarterly figures", sender="sender@ext.test", body="The PINEAPPLE numbers are attached.\r\n")
    queued = wait_for(lambda: one(sy, user, "Quarterly figures"), what="the message in the archive")[0]
    archived_after = time.time() - sent_at
    assert queued["state"] in ("queued", "deferred", None), queued
    deferred = wait_for(lambda: [m for m in one(sy, user, "Quarterly figures") if m["state"] == "deferred"],
                        what="deferred with the error")[0]
    assert "127.0.0.1" in deferred["last_error"] or "refused" in deferred["last_error"].lower(), deferred
    print(f"     archived {archived_after:.2f} s after the 250")
    # Search finds it by a word of its text.
    assert [m["id"] for m in archive(sy, user, q="pineapple")] == [queued["id"]]
    assert archive(sy, user, q="no-such-word-anywhere") == []

    # The continuity state the banner shows.
    state = wait_for(lambda: (lambda d: d if not d["reachable"] and d["waiting"] >= 1 else None)(delivery(sy, user)),
                     what="the domain shown unreachable", timeout=20)
    assert state["unreachable_since"] and state["last_error"], state
    assert state["queue_expiry_days"] == 1, state

    # The user replies from the archive; the reply reaches the sender's own server (MX).
    status, read = sy.http("GET", f"/api/v1/archive/{queued['id']}", user)
    assert status == 200 and "PINEAPPLE" in (read["preview"]["text"] or ""), read
    status, sent = sy.http("POST", "/api/v1/archive/send", user,
                           {"to": ["sender@ext.test"], "subject": "Re: Quarterly figures",
                            "text": "Got them, thanks.", "in_reply_to": queued["id"]})
    assert status == 202, sent
    reply = wait_for(lambda: sy.foreign.with_subject("Re: Quarterly figures"), what="the reply at the sender's server", timeout=20)[0]
    assert reply["to"] == ["sender@ext.test"], reply
    assert reply["from"].startswith("prvs=") and reply["from"].endswith("=user@example.test"), reply["from"]
    assert b"In-Reply-To: <Quarterly-figures@ext.test>" in reply["data"], reply["data"][:600]
    mine = wait_for(lambda: [m for m in one(sy, user, "Re: Quarterly figures", "sent") if m["state"] == "delivered"],
                    what="the reply in Sent, delivered")[0]
    status, conversation = sy.http("GET", f"/api/v1/archive/{mine['id']}", user)
    assert [m["subject"] for m in conversation["thread"]] == ["Quarterly figures", "Re: Quarterly figures"], conversation["thread"]

    # The server comes back; past the node's own expiry, the admin's retry delivers the
    # original once, and it is marked delivered.
    back = Sink()
    back.port = down
    back.start()
    try:
        time.sleep(max(0.0, 4.5 - (time.time() - sent_at)))  # past the node's own expiry
        retry_now(sy)
        wait_for(lambda: back.with_subject("Quarterly figures"), what="the original delivered", timeout=20)
        wait_for(lambda: [m for m in one(sy, user, "Quarterly figures") if m["state"] == "delivered"], what="marked delivered")
        wait_for(lambda: delivery(sy, user)["reachable"], what="the domain reachable again", timeout=20)
        retry_now(sy)
        time.sleep(2)
        got = [m for m in back.messages if b"Subject: Quarterly figures" in m["data"]]
        assert len(got) == 1, f"delivered {len(got)} times"
        assert original.split(b"\r\n\r\n", 1)[1] in got[0]["data"]
    finally:
        back.stop()
        set_expiry(sy, None)
        sy.kill_worker()
        sy.start_worker()


def test_outbound_mail_of_a_customer_server_lands_in_the_senders_sent_folder(sy):
    status, body = sy.http("POST", f"/api/v1/orgs/{sy.org_id}/provision", sy.admin, {"allowed_ips": ["127.0.0.3"]})
    assert status == 200, body
    time.sleep(0.5)
    user = sy.login("user@example.test", "moat-demo-user")
    sy.relay("127.0.0.3", "user@example.test", ["partner@ext.test"],
             b"From: user@example.test\r\nTo: partner@ext.test\r\nSubject: relayed and kept\r\n\r\nhello partner\r\n")
    wait_for(lambda: sy.foreign.with_subject("relayed and kept"), what="relayed to the MX")
    kept = wait_for(lambda: [m for m in one(sy, user, "relayed and kept", "sent") if m["state"] == "delivered"],
                    what="in Sent, delivered")[0]
    assert kept["recipients"] == ["partner@ext.test"], kept
    assert one(sy, user, "relayed and kept", "inbox") == []
    # Another user of the organisation sees nothing of it.
    admin_items = [m for m in archive(sy, sy.admin, "sent") if m["subject"] == "relayed and kept"]
    assert admin_items == []
    assert sy.http("GET", f"/api/v1/archive/{kept['id']}", sy.admin)[0] == 404


if __name__ == "__main__":
    mta_test.main([v for k, v in list(globals().items()) if k.startswith("test_")])
