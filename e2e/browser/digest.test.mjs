// The quarantine digest end to end: a real `moat-api serve` whose system mail leaves through
// a real SMTP server (aiosmtpd on loopback, writing .eml files), a user in Asia/Tokyo with
// digests at 08:00 and 16:00, and a clock the test drives (MOAT_CLOCK_FILE). The digest is
// rendered in headless Chromium (screenshot), its release link shows a confirmation page and
// releases on the button's POST; a changed link does nothing; with secure release on, the
// link leads to the web app's sign-in first.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bin, client, freePort, launchBrowser, root, shots, startApi } from "./moat.mjs";

let server, sink, browser, base, dataDir, inbox, clock, env;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  const smtpPort = await freePort();
  ({ server, base, dataDir, env } = await startApi("moat-digest-", (dir, url) => ({
    MOAT_PUBLIC_URL: url,
    MOAT_SMTP_RELAY: `127.0.0.1:${smtpPort}`,
    MOAT_SMTP_RELAY_TLS: "none",
    MOAT_CLOCK_FILE: join(dir, "clock"),
  })));
  ({ api, token } = client(base));
  inbox = join(dataDir, "inbox");
  clock = join(dataDir, "clock");
  sink = spawn("python3", [join(root, "infra/dev/demo-mailserver.py"), String(smtpPort), inbox], { stdio: "inherit" });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill();
  sink?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

let api, token;

/// Sets the API's clock to `local` (YYYY-MM-DDTHH:MM) in Tokyo (UTC+9, no DST).
function setTokyoClock(local) {
  const at = new Date(`${local}:00+09:00`);
  writeFileSync(clock, at.toISOString());
}

/// The .eml files the SMTP server received whose subject says mail is held.
function digests() {
  let names = [];
  try { names = readdirSync(inbox).sort(); } catch { return []; }
  return names.map((n) => join(inbox, n)).filter((p) => /Subject: .*held for you/.test(execFileSync("cat", [p]).toString()));
}

/// The decoded HTML and text parts of a received mail (Python's email package).
function parts(path) {
  const script = "import email,json,sys\nm=email.message_from_binary_file(open(sys.argv[1],'rb'))\n" +
    "print(json.dumps({p.get_content_type(): p.get_payload(decode=True).decode() for p in m.walk() if not p.is_multipart()}))";
  return JSON.parse(execFileSync("python3", ["-c", script, path]).toString());
}

async function waitForDigests(n) {
  for (let i = 0; i < 200; i++) {
    if (digests().length >= n) return digests();
    await sleep(100);
  }
  throw new Error(`digest ${n} never arrived`);
}

let node;
async function hold(subject, id) {
  node ??= execFileSync(bin, ["node", "create", "--name", "digest-test"], { env }).toString().trim().split("\n").pop();
  const user = await token("user@example.test", "moat-demo-user");
  const me = (await api("GET", "/auth/me", user)).body;
  const raw = `From: Shop <offers@shop.test>\r\nSubject: ${subject}\r\nContent-Type: text/plain\r\n\r\nBig offers inside.\r\n`;
  const res = await api("POST", "/worker/quarantine", node, {
    id, org_id: me.reach.org_id, user_id: me.user.id, recipient: "user@example.test", sender: "offers@shop.test",
    subject, score: 9.1, reasons: ["BAYES_99 (+5.5)"], received_at: new Date().toISOString(),
    raw_base64: Buffer.from(raw).toString("base64"),
  });
  assert.equal(res.status, 201);
  return { user, me };
}

test("a Tokyo user's digests arrive at 08:00 and 16:00 local time and their links release safely", async () => {
  // Two days ahead, so the driven clock is after the messages' real arrival.
  const day = new Date(Date.now() + 2 * 86400e3).toISOString().slice(0, 10);
  setTokyoClock(`${day}T07:00`);
  const { user, me } = await hold("Spring sale on garden chairs", "digest-1.1-1");
  const settings = await api("PUT", `/users/${me.user.id}/settings`, user,
    { time_zone: "Asia/Tokyo", digest: { enabled: true, times: ["08:00", "16:00"], only_new: true } });
  assert.equal(settings.status, 200, JSON.stringify(settings.body));
  assert.equal(settings.body.next_digest_at, new Date(`${day}T08:00:00+09:00`).toISOString().replace(".000Z", "Z"));

  setTokyoClock(`${day}T07:59`);
  await sleep(6000);
  assert.equal(digests().length, 0, "nothing before 08:00 Tokyo time");
  setTokyoClock(`${day}T08:00`);
  const [first] = await waitForDigests(1);
  const mail = parts(first);
  assert.ok(mail["text/html"].includes("Spring sale on garden chairs"));
  assert.ok(mail["text/plain"].includes("scored 9.1 where 5 holds mail"), mail["text/plain"]);

  // The digest as a mail reader shows it.
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  await page.setContent(mail["text/html"]);
  await page.getByText("Spring sale on garden chairs").waitFor();
  await page.screenshot({ path: join(shots, "digest-mail.png"), fullPage: true });
  const release = await page.getByRole("link", { name: "Release", exact: true }).getAttribute("href");
  assert.ok(release.startsWith(`${base}/d/`), release);

  // Opening the link (as a link scanner would) changes nothing: a confirmation page.
  const opened = await page.goto(release);
  assert.equal(opened.status(), 200);
  await page.getByRole("heading", { name: "Release this message?" }).waitFor();
  assert.deepEqual((await api("GET", "/worker/jobs", node)).body.jobs, [], "a GET released nothing");
  await page.screenshot({ path: join(shots, "digest-confirm.png") });
  await page.getByRole("button", { name: "Release" }).click();
  await page.getByRole("heading", { name: "Released" }).waitFor();
  await page.getByText("on its way to your mailbox").waitFor();
  const jobs = (await api("GET", "/worker/jobs", node)).body.jobs;
  assert.deepEqual(jobs.map((j) => j.recipient), ["user@example.test"], "one release job");

  // A changed link: refused with a page saying so, and nothing happens.
  const changed = release.slice(0, -3) + (release.endsWith("AAA") ? "BBB" : "AAA");
  const refused = await page.goto(changed);
  assert.equal(refused.status(), 403);
  await page.getByRole("heading", { name: "This link is not valid" }).waitFor();
  const post = await fetch(changed, { method: "POST" });
  assert.equal(post.status, 403);

  // 16:00 brings only what is new since 08:00.
  await hold("Last chance: patio heaters", "digest-2.1-1");
  setTokyoClock(`${day}T15:59`);
  await sleep(6000);
  assert.equal(digests().length, 1, "nothing before 16:00");
  setTokyoClock(`${day}T16:00`);
  const second = parts((await waitForDigests(2))[1]);
  assert.ok(second["text/plain"].includes("patio heaters"));
  assert.ok(!second["text/plain"].includes("garden chairs"), "only new since the last digest");

  // Secure release: the link opens the web app, which asks for a sign-in first.
  const admin = await token("admin@example.test", "moat-demo-orgadmin");
  const policyPath = `/orgs/${me.reach.org_id}/policy`;
  const policy = (await api("GET", policyPath, admin)).body;
  assert.equal((await api("PUT", policyPath, admin, { ...policy, secure_release: true })).status, 200);
  const secure = second["text/html"].match(/href="([^"]+\/d\/[^"]+)"[^>]*>Release</)[1].replaceAll("&amp;", "&");
  await page.goto(secure);
  await page.waitForURL(/\/login\?next=/);
  await page.getByLabel("Email").fill("user@example.test");
  await page.getByLabel("Password").fill("moat-demo-user");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/quarantine?open=digest-2.1-1`);
  await page.locator("#preview").getByText("Last chance: patio heaters").first().waitFor();
  await page.screenshot({ path: join(shots, "digest-secure-release.png"), fullPage: true });
  assert.equal((await fetch(secure, { method: "POST" })).status, 403, "no release without signing in");
  await page.close();
});

test("a user sets its digest times on My account and asks for a digest now", async () => {
  const { user, me } = await hold("Garden gnome clearance", "digest-3.1-1");
  const start = { time_zone: "Asia/Tokyo", digest: { enabled: true, times: ["08:00", "16:00"], only_new: true } };
  assert.equal((await api("PUT", `/users/${me.user.id}/settings`, user, start)).status, 200);
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await page.goto(`${base}/login`);
  await page.getByLabel("Email").fill("user@example.test");
  await page.getByLabel("Password").fill("moat-demo-user");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/quarantine`);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "My account" }).click();
  const panel = page.locator("section", { has: page.getByRole("heading", { name: "Quarantine digest" }) });
  await panel.getByText("Times of day (Asia/Tokyo)").waitFor();
  await panel.getByRole("button", { name: "Remove digest time 2" }).click();
  await panel.getByRole("button", { name: "Add a time" }).click();
  await panel.getByLabel("Digest time 2", { exact: true }).fill("12:30");
  await panel.getByLabel("Only messages no earlier digest listed").uncheck();
  await panel.getByRole("button", { name: "Save digest schedule" }).click();
  await panel.getByText("Digest schedule saved").waitFor();
  await panel.getByText(/Next digest: /).waitFor();
  const settings = (await api("GET", `/users/${me.user.id}/settings`, user)).body;
  assert.deepEqual(settings.digest, { enabled: true, times: ["08:00", "12:30"], only_new: false });
  const before = digests().length;
  await panel.getByRole("button", { name: "Send a digest now" }).click();
  await panel.getByText(/A digest listing \d+ message\(s\) is in the outbox/).waitFor();
  await waitForDigests(before + 1);
  await page.screenshot({ path: join(shots, "digest-settings.png"), fullPage: true });
  await panel.getByRole("button", { name: "Send a digest now" }).click();
  await panel.getByText("A digest was just sent; try again in a few minutes").waitFor();
  await page.close();
});
