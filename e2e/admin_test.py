"""End-to-end tests of an organisation admin's tools with real peers on 127.0.0.1: a test
delivery run by a real worker against the customer's server (aiosmtpd) reports every stage
with its time (and its test message arrives); against a stopped server it reports the stage
that failed and its error; the domain's MX check reads a real DNS server. Closes with
`N passed, M failed`.

Usage: python3 e2e/admin_test.py TARGET_DIR [TEST_NAME ...]
"""

import mta_test
from mta_test import free_port, wait_for


def run_test_delivery(sy, send_test):
    status, test = sy.http("POST", "/api/v1/diagnostics/test-delivery", sy.admin,
                           {"domain_id": sy.domain_id, "send_test": send_test})
    assert status == 202 and test["status"] == "pending", (status, test)

    def finished():
        status, body = sy.http("GET", f"/api/v1/diagnostics/test-delivery/{test['id']}", sy.admin)
        assert status == 200, body
        return body if body["status"] != "pending" else None
    return wait_for(finished, timeout=60, what="the worker ran the test delivery")


def test_a_running_destination_reports_every_stage_with_its_time(sy):
    result = run_test_delivery(sy, send_test=True)
    stages = {s["stage"]: s for s in result["stages"]}
    assert [s["stage"] for s in result["stages"]] == ["mx", "dns", "connect", "banner", "ehlo", "starttls", "rcpt", "data"], result
    assert result["status"] == "passed", result
    assert all(isinstance(s["micros"], int) for s in result["stages"])
    assert stages["connect"]["micros"] > 0 and stages["banner"]["micros"] > 0, result
    assert stages["mx"]["ok"] and "MX points at Moat (mx.moat.test)" in stages["mx"]["answer"], stages["mx"]
    assert stages["banner"]["answer"].startswith("220"), stages["banner"]
    assert "8BITMIME" in stages["ehlo"]["details"] and "SMTPUTF8" in stages["ehlo"]["details"], stages["ehlo"]
    assert stages["rcpt"]["answer"].startswith("250"), stages["rcpt"]
    assert result["node"] == "mx.moat.test"
    for s in result["stages"]:
        print(f"     {s['stage']:9} {s['micros'] / 1000:7.2f} ms  {s['answer']}")
    wait_for(lambda: sy.sink.with_subject("Moat test delivery"), what="the test message at the customer's server")


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


if __name__ == "__main__":
    mta_test.main([v for k, v in list(globals().items()) if k.startswith("test_")])
