// What every browser test file shares: a free loopback port, a real `moat-api serve` on a
// fresh SQLite database with the demo seed (and any extra settings), and Debian's headless
// Chromium.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const shots = join(root, "e2e", "screenshots");
export const bin = process.env.MOAT_API_BIN ?? join(root, "target", "debug", "moat-api");

export const freePort = () =>
  new Promise((ok) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

/// Starts the API with `extra(dataDir, base)` added to its environment; answers once it is ready.
export async function startApi(prefix, extra = () => ({})) {
  mkdirSync(shots, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    MOAT_DEMO_SEED: "true",
    MOAT_HTTP_LISTEN: `127.0.0.1:${port}`,
    MOAT_DATA_DIR: dataDir,
    MOAT_DATABASE_URL: `sqlite:${dataDir}/moat.db`,
    MOAT_FRONTEND_DIR: join(root, "frontend", "dist"),
    MOAT_LOG: "warn",
    ...extra(dataDir, base),
  };
  const server = spawn(bin, ["serve"], { env, stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {}
    if (i > 100) throw new Error("moat-api did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  return { server, base, dataDir, env };
}

export const launchBrowser = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });

/// JSON calls to the API at `base` (`api(method, path, token, body)` answers `{status, body}`),
/// and a login that answers the access token.
export function client(base) {
  async function api(method, path, token, body) {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }
  const token = async (email, password) => (await api("POST", "/auth/login", null, { email, password })).body.access_token;
  return { api, token };
}

/// Registers a node with the API of `env` and starts a real `moat-mta` worker for it on a free
/// loopback port: 127.0.0.1 is a trusted gateway, internal destinations are allowed (every
/// test server is on loopback), and there is no DNS server (sender authentication off).
export async function startWorker({ base, env, dataDir }, name) {
  const nodeToken = execFileSync(bin, ["node", "create", "--name", name], { env, cwd: dataDir })
    .toString().trim().split("\n").pop();
  const smtpPort = await freePort();
  const worker = spawn(join(dirname(bin), "moat-mta"), ["run"], {
    env: {
      ...process.env,
      MOAT_API_URL: base,
      MOAT_NODE_TOKEN: nodeToken,
      MOAT_SMTP_LISTEN: `127.0.0.1:${smtpPort}`,
      MOAT_METRICS_LISTEN: `127.0.0.1:${await freePort()}`,
      MOAT_DATA_DIR: join(dataDir, "mta"),
      MOAT_HOSTNAME: "mx.moat.test",
      MOAT_TRUSTED_NETWORKS: "127.0.0.1/32",
      MOAT_ALLOW_INTERNAL_DESTINATIONS: "true",
      // No DNS server here: sender authentication (SPF, DKIM, DMARC) would only time out.
      MOAT_DNS_SERVER: `127.0.0.1:${await freePort()}`,
      MOAT_AUTHENTICATION: "false",
      MOAT_LOG: "warn",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return { worker, smtpPort };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// Polls `f` every 200 ms until it answers something truthy (which it returns), for at most `ms`.
export async function until(what, f, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}
