"""Black-box smoke test of `moat-api serve` with the demo seed, over real HTTP.

Starts the binary on a free loopback port with a fresh data dir, then drives it like an
operator: demo logins, MSP -> org -> domain -> user, the user's reach, isolation, the node
token CLI, and the committed OpenAPI document. Exits non-zero on the first failure.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
passed = 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            raw = res.read()
            return res.status, (json.loads(raw) if raw and res.headers.get_content_type() == "application/json" else raw)
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, (json.loads(raw) if raw else None)


def check(cond, what):
    global passed
    if not cond:
        raise AssertionError(what)
    passed += 1
    print("  ok -", what)


def main(binary):
    data = tempfile.mkdtemp(prefix="moat-e2e-")
    port = free_port()
    env = dict(os.environ, MOAT_DEMO_SEED="true", MOAT_HTTP_LISTEN=f"127.0.0.1:{port}", MOAT_DATA_DIR=data,
               MOAT_DATABASE_URL=f"sqlite:{data}/moat.db", MOAT_LOG="warn")
    log = open(os.path.join(data, "api.log"), "w+")
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=data)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if call(base, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            log.seek(0)
            raise AssertionError("API did not become ready:\n" + log.read())
        log.seek(0)
        banner = log.read()
        check(f"http://127.0.0.1:{port}" in banner and "admin@moat.test" in banner, "serve prints the URL and the demo logins")

        status, res = call(base, "POST", "/api/v1/auth/login", body={"email": "admin@moat.test", "password": "moat-demo-admin"})
        check(status == 200 and res["token_type"] == "Bearer", "demo platform admin logs in")
        admin = res["access_token"]

        status, msp = call(base, "POST", "/api/v1/msps", admin, {"name": "Smoke MSP"})
        check(status == 201 and "id" in msp, "create MSP")
        status, org = call(base, "POST", "/api/v1/orgs", admin, {"name": "Smoke Org", "msp_id": msp["id"]})
        check(status == 201 and "id" in org, "create org")
        status, dom = call(base, "POST", f"/api/v1/orgs/{org['id']}/domains", admin,
                           {"name": "smoke.test", "destination_host": "127.0.0.1", "destination_port": 2525})
        check(status == 201 and dom["name"] == "smoke.test", "create domain")
        status, user = call(base, "POST", f"/api/v1/orgs/{org['id']}/users", admin,
                            {"email": "eve@smoke.test", "display_name": "Eve", "role": "user", "password": "smoke-password"})
        check(status == 201 and user["active"] is True, "create user")

        status, res = call(base, "POST", "/api/v1/auth/login", body={"email": "eve@smoke.test", "password": "smoke-password"})
        check(status == 200, "new user logs in")
        eve = res["access_token"]
        status, me = call(base, "GET", "/api/v1/auth/me", eve)
        check(status == 200 and me["reach"] == {"level": "user", "msp_id": msp["id"], "org_id": org["id"], "user_ids": [user["id"]]},
              "GET /auth/me shows the user's reach")

        status, res = call(base, "POST", "/api/v1/auth/login", body={"email": "admin@example.test", "password": "moat-demo-orgadmin"})
        check(status == 200, "demo org admin logs in")
        demo_admin = res["access_token"]
        status, _ = call(base, "GET", f"/api/v1/orgs/{org['id']}", demo_admin)
        check(status == 404, "demo org admin gets 404 for another tenant's org")
        status, orgs = call(base, "GET", "/api/v1/orgs", demo_admin)
        check(status == 200 and orgs["total"] == 1 and orgs["items"][0]["name"] == "Example Corp", "demo org admin lists only its org")
        status, res = call(base, "POST", "/api/v1/auth/login", body={"email": "msp@moat.test", "password": "moat-demo-msp"})
        check(status == 200, "demo MSP admin logs in")
        status, orgs = call(base, "GET", "/api/v1/orgs", res["access_token"])
        check(orgs["total"] == 1 and orgs["items"][0]["name"] == "Example Corp", "demo MSP admin sees only its orgs")

        status, served = call(base, "GET", "/api/v1/openapi.json")
        with open(os.path.join(ROOT, "openapi", "openapi.json")) as f:
            committed = json.load(f)
        check(status == 200 and served == committed, "served OpenAPI document equals openapi/openapi.json")
        status, metrics = call(base, "GET", "/metrics")
        check(status == 200 and b"moat_api_http_requests_total" in metrics, "/metrics serves Prometheus text")

        out = subprocess.run([binary, "node", "create", "--name", "mx1"], env=env, cwd=data, capture_output=True, text=True, check=True)
        token = out.stdout.strip().splitlines()[-1]
        check(token.startswith("moatnode_") and len(token) > 40, "node create prints the node token as the last line")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"{passed} passed, 0 failed")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except AssertionError as err:
        print(f"FAILED: {err}")
        print(f"{passed} passed, 1 failed")
        sys.exit(1)
