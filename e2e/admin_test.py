"""End-to-end tests of an organisation admin's tools with real peers on 127.0.0.1: a test
delivery run by a real worker against the customer's server (aiosmtpd) reports every stage
with its time, and its test message goes through the worker's own intake and queue (and
arrives; a recipient's block list refuses it); against a stopped server it reports the stage
that failed and its error; the domain's MX check reads a real DNS server and knows every
registered node. The outbound
content policy (a blocked recipient domain refused at RCPT, a blocked attachment and spam
held in the outbound quarantine, released by the admin to the real MX) and the maximum
message size of a domain (552 at RCPT for a declared SIZE, and at the end of DATA). A
sender's hourly limit holds for its mail through two workers together. Closes
with `N passed, M failed`.

Usage: python3 e2e/admin_test.py TARGET_DIR [TEST_NAME ...]
"""

import json
import signal
import smtplib
import subprocess

import mta_test
from mta_test import free_port, port_open, wait_for

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def run_test_delivery(sy, send_test):
    status, test = sy.http("POST", "/api/v1/diagnostics/test-delivery", sy.admin,
                           {"domain_id": sy.domain_id, "send_test": send_test})
    assert status == 202 and test["status"] == "pending", (status, test)
    assert test["test_recipient"] == ("admin@example.test" if send_test else None), test

    def finished():
        status, body = sy.http("GET", f"/api/v1/diagnostics/test-delivery/{test['id']}", sy.admin)
        assert status == 200, body
        return body if body["status"] != "pending" else None
    return wait_for(finished, timeout=60, what="the worker ran the test delivery")


def test_a_running_destination_reports_every_stage_with_its_time(sy):
    result = run_test_delivery(sy, send_test=True)
    stages = {s["stage"]: s for s in result["stages"]}
    assert [s["stage"] for s in result["stages"]] == ["mx", "dns", "connect", "banner", "ehlo", "starttls", "rcpt", "data",
                                                      "delivery"], result
    assert result["status"] == "passed", result
    assert all(isinstance(s["micros"], int) for s in result["stages"])
    assert stages["connect"]["micros"] > 0 and stages["banner"]["micros"] > 0, result
    assert stages["mx"]["ok"] and "MX points at Moat (mx.moat.test)" in stages["mx"]["answer"], stages["mx"]
    assert stages["banner"]["answer"].startswith("220"), stages["banner"]
    assert "8BITMIME" in stages["ehlo"]["details"] and "SMTPUTF8" in stages["ehlo"]["details"], stages["ehlo"]
    assert stages["rcpt"]["answer"].startswith("250"), stages["rcpt"]
    assert result["node"] == "mx.moat.test"
    # The test message went through Moat's own intake (queued), then the queue delivered it.
    assert stages["data"]["answer"].startswith("Moat: 250 ") and "queued as" in stages["data"]["answer"], stages["data"]
    assert stages["delivery"]["answer"].startswith("250"), stages["delivery"]
    for s in result["stages"]:
        print(f"     {s['stage']:9} {s['micros'] / 1000:7.2f} ms  {s['answer']}")
    got = wait_for(lambda: sy.sink.with_subject("Moat test delivery"), what="the test message at the customer's server")[0]
    assert got["to"] == ["admin@example.test"], got["to"]
    # Stamped by the pipeline: received, scored, tracked like any mail.
    assert b"Received: from mx.moat.test ([127.0.0.1])" in got["data"] and b"X-Moat-Score:" in got["data"], got["data"][:600]
    story = wait_for(lambda: [m for m in sy.tracked("Moat test delivery") if m["status"] == "delivered"],
                     what="the test message tracked as delivered")[0]
    assert story["recipients"] == ["admin@example.test"] and story["verdict"] == "deliver", story


def test_the_test_message_meets_the_recipients_filters(sy):
    """The test message is judged like any mail: a recipient who blocks its sender refuses it."""
    status, entry = sy.http("POST", "/api/v1/lists", sy.admin,
                            {"scope": {"level": "domain", "id": sy.domain_id}, "kind": "block",
                             "pattern": "postmaster@mx.moat.test"})
    assert status == 201, entry
    try:
        wait_for(lambda: sy.policy_has("postmaster@mx.moat.test"), what="the block entry in the policy")
        result = wait_for(lambda: (lambda r: r if any(s["stage"] == "data" and not s["ok"] for s in r["stages"]) else None)(
            run_test_delivery(sy, send_test=True)), timeout=60, what="the test message refused by the block list")
        data = result["stages"][-1]
        assert result["status"] == "failed" and data["stage"] == "data", result
        assert "550" in data["answer"] and "blocked" in data["answer"], data
        print(f"     data: {data['answer']}")
    finally:
        assert sy.http("DELETE", f"/api/v1/lists/{entry['id']}", sy.admin)[0] == 204


def test_the_mx_check_knows_every_registered_node(sy):
    """A domain whose MX names another registered node points at Moat as well."""
    out = mta_test.subprocess.run([f"{mta_test.API_BIN}/moat-api", "node", "create", "--name", "mx2"], env=sy.api_env,
                                  cwd=sy.dir, capture_output=True, text=True, check=True)
    other = out.stdout.strip().splitlines()[-1]
    status, body = sy.http("POST", "/api/v1/worker/register", other, {"hostname": "MX2.moat.test."})
    assert status == 200, body
    assert sy.http("POST", "/api/v1/worker/register", other, {"hostname": "not a host!"})[0] == 422
    wait_for(lambda: sy.policy_has('"mx2.moat.test"'), what="the other node in the snapshot")
    mta_test.MX_HOSTS["example.test"] = "mx2.moat.test."
    try:
        result = wait_for(lambda: (lambda r: r if "mx2" in r["stages"][0]["answer"] else None)(
            run_test_delivery(sy, send_test=False)), timeout=60, what="the MX check of the other node")
        mx = result["stages"][0]
        assert mx["stage"] == "mx" and mx["ok"] and mx["answer"] == "MX points at Moat (mx2.moat.test)", mx
        assert mx["details"] == ["MX 10 mx2.moat.test"], mx
        mta_test.MX_HOSTS["example.test"] = "mx.unknown.test."
        result = wait_for(lambda: (lambda r: r if "unknown" in json.dumps(r["stages"][0]) else None)(
            run_test_delivery(sy, send_test=False)), timeout=60, what="the MX check of a stranger")
        assert not result["stages"][0]["ok"] and "does not point at a Moat node" in result["stages"][0]["answer"], result
    finally:
        mta_test.MX_HOSTS["example.test"] = "mx.moat.test."


def test_a_stopped_destination_reports_the_failing_stage_and_its_error(sy):
    sy.set_destination(free_port())
    try:
        wait_for(lambda: sy.policy_has('"destination_port"'), what="new destination in the policy")
        result = wait_for(lambda: (lambda r: r if any(s["stage"] == "connect" and not s["ok"] for s in r["stages"]) else None)(
            run_test_delivery(sy, send_test=False)), timeout=60, what="a failed connect")
        assert result["status"] == "failed", result
        last = result["stages"][-1]
        assert last["stage"] == "connect" and not last["ok"], result
        assert "cannot connect to 127.0.0.1:" in last["answer"] and "refused" in last["answer"].lower(), last
        print(f"     {last['stage']} after {last['micros'] / 1000:.2f} ms: {last['answer']}")
    finally:
        sy.set_destination(sy.sink.port)


def test_other_tenants_and_plain_users_cannot_test_or_read_it(sy):
    status, test = sy.http("POST", "/api/v1/diagnostics/test-delivery", sy.admin, {"domain_id": sy.domain_id})
    assert status == 202, test
    user = sy.login("user@example.test", "moat-demo-user")
    assert sy.http("POST", "/api/v1/diagnostics/test-delivery", user, {"domain_id": sy.domain_id})[0] == 403
    assert sy.http("GET", f"/api/v1/diagnostics/test-delivery/{test['id']}", user)[0] == 403
    status, body = sy.http("POST", "/api/v1/diagnostics/test-delivery", sy.admin, {"domain_id": sy.domain_id, "x": 1})
    assert status == 422, body


def outbound_quarantine(sy, subject):
    status, body = sy.http("GET", "/api/v1/quarantine?direction=outbound", sy.admin)
    assert status == 200, body
    return [i for i in body["items"] if i["subject"] == subject]


def test_outbound_content_policy_refuses_holds_and_releases(sy):
    status, body = sy.http("POST", f"/api/v1/orgs/{sy.org_id}/provision", sy.admin, {"allowed_ips": ["127.0.0.2"]})
    assert status == 200, body
    rules = {"quarantine_threshold": 5, "blocked_extensions": ["exe"], "blocked_recipient_domains": ["rival.test"]}
    status, body = sy.http("PUT", f"/api/v1/orgs/{sy.org_id}/policy", sy.admin, {"outbound_content": rules})
    assert status == 200, body
    try:
        wait_for(lambda: sy.policy_has("rival.test") and sy.policy_has("127.0.0.2"), what="outbound rules in the snapshot")

        def rcpt(address):
            s = smtplib.SMTP("127.0.0.1", sy.smtp_port, timeout=10, source_address=("127.0.0.2", 0))
            s.ehlo("exchange.example.test")
            s.mail("user@example.test")
            answer = s.rcpt(address)
            s.quit()
            return answer
        wait_for(lambda: rcpt("friend@ext.test")[0] == 250, what="relay allowed for the customer's server")
        code, text = wait_for(lambda: (lambda a: a if b"outbound policy" in a[1] else None)(rcpt("boss@mail.rival.test")),
                              what="a blocked recipient domain refused")
        assert code == 550, (code, text)
        assert b"rival.test is blocked by your organisation's outbound policy" in text, text
        assert rcpt("friend@ext.test")[0] == 250
        # Spam and a blocked attachment wait in the outbound quarantine; clean mail leaves.
        sy.relay("127.0.0.2", "user@example.test", ["friend@ext.test"],
                 f"From: user@example.test\r\nSubject: outbound spam\r\n\r\n{GTUBE}\r\n".encode())
        attachment = (b"From: user@example.test\r\nSubject: outbound exe\r\nMIME-Version: 1.0\r\n"
                      b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                      b"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=tool.exe\r\n"
                      b"Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b--\r\n")
        sy.relay("127.0.0.2", "user@example.test", ["friend@ext.test"], attachment)
        sy.relay("127.0.0.2", "user@example.test", ["friend@ext.test"],
                 b"From: user@example.test\r\nSubject: outbound clean\r\n\r\nlunch at noon?\r\n")
        wait_for(lambda: sy.foreign.with_subject("outbound clean"), what="clean outbound mail at the MX")
        spam = wait_for(lambda: outbound_quarantine(sy, "outbound spam"), what="outbound spam held")[0]
        exe = wait_for(lambda: outbound_quarantine(sy, "outbound exe"), what="outbound attachment held")[0]
        assert spam["direction"] == "outbound" and spam["user_id"] is None and spam["recipient"] == "friend@ext.test", spam
        assert spam["reasons"][0].startswith("outbound policy: spam score"), spam
        assert exe["reasons"] == ["outbound policy: attachment: tool.exe"], exe
        assert sy.foreign.with_subject("outbound spam") == [] and sy.foreign.with_subject("outbound exe") == []
        story = wait_for(lambda: [m for m in sy.tracked("outbound spam") if m["status"] == "quarantined"], what="tracked as held")
        assert story[0]["direction"] == "outbound", story
        # The sender (a plain user) never sees or releases it; the admin does, and it leaves by MX.
        user = sy.login("user@example.test", "moat-demo-user")
        assert [i for i in sy.http("GET", "/api/v1/quarantine", user)[1]["items"] if i["subject"].startswith("outbound")] == []
        status, body = sy.http("POST", "/api/v1/quarantine/release", user, {"ids": [exe["id"]]})
        assert status in (403, 404) or body.get("affected") == 0, (status, body)
        status, body = sy.http("POST", "/api/v1/quarantine/release", sy.admin, {"ids": [exe["id"]]})
        assert status in (200, 202) and body["affected"] == 1, (status, body)
        got = wait_for(lambda: sy.foreign.with_subject("outbound exe"), what="the released outbound mail at the MX")[0]
        assert got["to"] == ["friend@ext.test"] and got["from"].endswith("=user@example.test"), got  # BATV: outbound
        assert b"X-Moat-Released: admin@example.test" in got["data"] and b"X-Moat-Verdict" not in got["data"], got["data"][:400]
    finally:
        sy.http("PUT", f"/api/v1/orgs/{sy.org_id}/policy", sy.admin, {})


def start_second_worker(sy, name):
    """Another worker node of the same platform (its own token, port and spool); answers
    (process, SMTP port)."""
    out = subprocess.run([f"{mta_test.BIN}/moat-api", "node", "create", "--name", name], env=sy.api_env, cwd=sy.dir,
                         capture_output=True, text=True, check=True)
    port = free_port()
    env = sy.worker_env(MOAT_NODE_TOKEN=out.stdout.strip().splitlines()[-1], MOAT_SMTP_LISTEN=f"127.0.0.1:{port}",
                        MOAT_METRICS_LISTEN=f"127.0.0.1:{free_port()}", MOAT_DATA_DIR=f"{sy.dir}/{name}")
    proc = subprocess.Popen([f"{mta_test.BIN}/moat-mta", "run"], env=env, cwd=sy.dir,
                            stdout=open(f"{sy.dir}/{name}.log", "a"), stderr=subprocess.STDOUT)
    wait_for(lambda: port_open(port), what=f"worker {name} listening")
    return proc, port


def test_a_sending_limit_holds_for_two_workers_together(sy):
    status, body = sy.http("POST", f"/api/v1/orgs/{sy.org_id}/provision", sy.admin, {"allowed_ips": ["127.0.0.2"]})
    assert status == 200, body
    limits = {"user_messages_per_hour": 2, "action": "defer"}
    status, body = sy.http("PUT", f"/api/v1/orgs/{sy.org_id}/policy", sy.admin, {"outbound": limits})
    assert status == 200, body
    # A sender of its own: other tests' mail from user@example.test counts in this hour too.
    sender = "two-nodes@example.test"
    sy.add_user(sender)
    second, port_b = start_second_worker(sy, "mx-b")
    try:
        def rcpt(port, sender=sender):
            s = smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=("127.0.0.2", 0))
            s.ehlo("exchange.example.test")
            s.mail(sender)
            answer = s.rcpt("friend@ext.test")
            s.quit()
            return answer

        def send(port, subject):
            s = smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=("127.0.0.2", 0))
            s.ehlo("exchange.example.test")
            s.sendmail(sender, ["friend@ext.test"], f"From: {sender}\r\nSubject: {subject}\r\n\r\nhello\r\n".encode())
            s.quit()
        for port in (sy.smtp_port, port_b):
            wait_for(lambda: rcpt(port)[0] == 250, what="both workers relay for the customer's server")
        # One message through each worker: each node alone has counted one, below the limit.
        send(sy.smtp_port, "limit one")
        send(port_b, "limit two")
        for port in (sy.smtp_port, port_b):
            code, text = wait_for(lambda: (lambda a: a if a[0] != 250 else None)(rcpt(port)), timeout=20,
                                  what="the other worker's message counts here too")
            assert code == 451 and b"2 messages in this hour, the limit is 2" in text, (code, text)
        sy.add_user("two-nodes-other@example.test")
        assert rcpt(sy.smtp_port, "two-nodes-other@example.test")[0] == 250, "another sender has its own count"
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait()
        sy.http("PUT", f"/api/v1/orgs/{sy.org_id}/policy", sy.admin, {})


def test_a_domains_maximum_message_size_is_applied(sy):
    status, body = sy.http("PUT", f"/api/v1/domains/{sy.domain_id}/policy", sy.admin, {"max_message_size_mb": 1})
    assert status == 200, body
    try:
        def declared_big():
            s = sy.smtp()
            s.mail("big@ext.test", ["SIZE=2000000"])
            answer = s.rcpt("user@example.test")
            s.quit()
            return answer
        code, text = wait_for(lambda: (lambda a: a if a[0] != 250 else None)(declared_big()), what="the worker applies the limit")
        assert code == 552 and b"Message too big for <user@example.test>" in text, (code, text)
        big = b"From: big@ext.test\r\nSubject: too big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 1200
        s = sy.smtp()  # no SIZE= declared: refused at the end of DATA
        assert s.mail("big@ext.test")[0] == 250 and s.rcpt("user@example.test")[0] == 250
        code, text = s.data(big)
        s.close()
        assert code == 552 and b"too big" in text, (code, text)
        small = b"From: big@ext.test\r\nSubject: small enough\r\n\r\n" + (b"x" * 998 + b"\r\n") * 500
        s = sy.smtp()
        s.sendmail("big@ext.test", ["user@example.test"], small)
        s.quit()
        wait_for(lambda: sy.sink.with_subject("small enough"), what="a 0.5 MB message delivered")
    finally:
        sy.http("PUT", f"/api/v1/domains/{sy.domain_id}/policy", sy.admin, {})
    wait_for(lambda: declared_big()[0] == 250, what="the limit gone when the domain inherits again")


if __name__ == "__main__":
    mta_test.main([v for k, v in list(globals().items()) if k.startswith("test_")])
