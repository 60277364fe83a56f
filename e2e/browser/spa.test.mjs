// Browser tests of the Moat web app: a real `moat-api serve` (demo seed, fresh SQLite) and
// Debian's headless Chromium driven by playwright-core. Screenshots go to e2e/screenshots.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { bin, launchBrowser, shots, startApi } from "./moat.mjs";

let server, browser, base, dataDir, serverEnv;

before(async () => {
  ({ server, base, dataDir, env: serverEnv } = await startApi("moat-spa-"));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/// A fresh page that records console errors and CSP violations.
async function newPage(width = 1280) {
  const page = await browser.newPage({ viewport: { width, height: 860 } });
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
  return page;
}

async function login(page, email, password) {
  await page.goto(`${base}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("login page renders under the strict CSP", async () => {
  const page = await newPage();
  const res = await page.goto(`${base}/login`);
  assert.match(res.headers()["content-security-policy"], /default-src 'self'/);
  await page.getByRole("heading", { name: "Sign in to Moat" }).waitFor();
  await page.screenshot({ path: join(shots, "login.png") });
  // Client-side validation answers before any request.
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Enter an email address").waitFor();
  await login(page, "admin@moat.test", "not the password");
  await page.getByText("Wrong email or password.").waitFor();
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("admin creates an org and a domain, deep links survive a reload, logout", async () => {
  const page = await newPage();
  await login(page, "admin@moat.test", "moat-demo-admin");
  await page.waitForURL(`${base}/msps`);
  await page.getByRole("cell", { name: "Demo MSP" }).waitFor();
  await page.screenshot({ path: join(shots, "msps.png") });

  await page.getByRole("link", { name: "Organisations" }).click();
  await page.waitForURL(`${base}/orgs`);
  await page.getByLabel("Organisation name").fill("Browser Test Corp");
  await page.selectOption("#org-msp", { label: "Demo MSP" });
  await page.getByRole("button", { name: "Create organisation" }).click();
  await page.getByRole("link", { name: "Browser Test Corp" }).click();
  await page.getByRole("heading", { name: "Browser Test Corp" }).waitFor();
  const orgUrl = page.url();
  assert.match(orgUrl, /\/orgs\/[0-9a-f-]{36}$/);

  // Client-side validation mirrors the API's rules.
  await page.getByLabel("Domain").fill("not a domain");
  await page.getByRole("button", { name: "Add domain" }).click();
  await page.getByText("Enter a domain name such as example.com").waitFor();
  await page.getByLabel("Domain").fill("browsertest.example");
  await page.getByLabel("Mail server").fill("mail.browsertest.example");
  await page.getByLabel("Port").fill("2525");
  await page.getByRole("button", { name: "Add domain" }).click();
  await page.locator("#domain-table").getByRole("link", { name: "browsertest.example" }).waitFor();
  // The API's own refusals are shown too: a duplicate domain.
  await page.getByLabel("Domain").fill("example.test");
  await page.getByLabel("Mail server").fill("127.0.0.1");
  await page.getByRole("button", { name: "Add domain" }).click();
  await page.getByText("a domain with this name already exists").waitFor();
  // Every list pages: on a single page both buttons are there and disabled.
  const pager = page.getByRole("navigation", { name: "Pages" }).first();
  assert.equal(await pager.getByRole("button", { name: "Next →" }).isDisabled(), true);
  assert.equal(await pager.getByRole("button", { name: "← Previous" }).isDisabled(), true);
  await page.screenshot({ path: join(shots, "org.png"), fullPage: true });

  await page.reload();
  await page.getByRole("heading", { name: "Browser Test Corp" }).waitFor();
  await page.locator("#domain-table").getByText("mail.browsertest.example:2525").waitFor();

  await page.locator("#domain-table").getByRole("link", { name: "browsertest.example" }).click();
  await page.getByRole("heading", { name: "browsertest.example" }).waitFor();
  await page.screenshot({ path: join(shots, "domain.png") });

  await page.getByRole("link", { name: "My account" }).click();
  await page.getByRole("heading", { name: "My account" }).waitFor();
  await page.getByLabel("Time zone").waitFor();
  await page.screenshot({ path: join(shots, "account.png") });

  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForURL(`${base}/login`);
  await page.goto(orgUrl);
  // Signed out, a deep link asks for a sign-in that comes back to it.
  await page.waitForURL(`${base}/login?next=${encodeURIComponent(new URL(orgUrl).pathname)}`);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("an org admin names its relay servers, and a whole network is refused", async () => {
  const page = await newPage();
  await login(page, "admin@example.test", "moat-demo-orgadmin");
  await page.getByRole("heading", { name: "Relay servers" }).waitFor();
  await page.getByText("No relay servers: outbound mail through Moat is off.").waitFor();
  await page.getByLabel("Server address").fill("0.0.0.0/0");
  await page.getByRole("button", { name: "Add relay server" }).click();
  await page.getByText("is too wide").waitFor();
  await page.getByLabel("Server address").fill("192.0.2.10");
  await page.getByRole("button", { name: "Add relay server" }).click();
  await page.locator("#relay-table").getByText("192.0.2.10/32").waitFor();
  await page.screenshot({ path: join(shots, "relay-servers.png"), fullPage: true });
  await page.reload();
  await page.locator("#relay-table").getByText("192.0.2.10/32").waitFor();
  await page.locator("#relay-table").getByRole("button", { name: "Remove" }).click();
  await page.locator("#relay-table").getByRole("button", { name: "Yes, delete" }).click();
  await page.getByText("No relay servers: outbound mail through Moat is off.").waitFor();
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("the platform admin sees that system mail has no way out without a relay", async () => {
  const page = await newPage();
  await login(page, "admin@moat.test", "moat-demo-admin");
  await page.waitForURL(`${base}/msps`);
  await page.getByRole("link", { name: "System mail" }).click();
  await page.getByRole("heading", { name: "System mail" }).waitFor();
  await page.getByText("No way out is configured (MOAT_SMTP_RELAY, or MOAT_SYSTEM_MAIL_VIA=worker): nothing is sent.").waitFor();
  await page.screenshot({ path: join(shots, "system-mail.png"), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();
});

let demoUser = null;

/// Puts one message into the demo user's quarantine the way a worker does.
async function quarantineOne(subject, raw = `Subject: ${subject}\r\n\r\nspam\r\n`, id = "browser-test.1-1") {
  const token = execFileSync(bin, ["node", "create", "--name", `browser-${id}`], { env: serverEnv }).toString().trim().split("\n").pop();
  // One login for every message (logins are rate limited per account).
  demoUser ??= await (async () => {
    const login = await (await fetch(`${base}/api/v1/auth/login`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "user@example.test", password: "moat-demo-user" }),
    })).json();
    return (await fetch(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${login.access_token}` } })).json();
  })();
  const me = demoUser;
  const res = await fetch(`${base}/api/v1/worker/quarantine`, {
    method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({
      id, org_id: me.reach.org_id, user_id: me.user.id, recipient: "user@example.test",
      sender: "spammer@ext.test", subject, score: 1000, reasons: ["GTUBE"], received_at: new Date().toISOString(),
      raw_base64: Buffer.from(raw).toString("base64"),
    }),
  });
  assert.equal(res.status, 201);
}

test("a plain user sees its quarantine, no admin navigation, and admin URLs show not found", async () => {
  await quarantineOne("Cheap pills today");
  await quarantineOne("Weekly garden newsletter", "Subject: Weekly garden newsletter\r\n\r\nnews\r\n", "browser-news.1-1");
  const page = await newPage(1280);
  await login(page, "user@example.test", "moat-demo-user");
  await page.waitForURL(`${base}/quarantine`);
  await page.getByRole("heading", { name: "Quarantine" }).waitFor();
  await page.locator("#quarantine-table").getByText("Cheap pills today").waitFor();
  await page.locator("#quarantine-table").getByText("It carries the standard spam test pattern (GTUBE).").first().waitFor();
  await page.screenshot({ path: join(shots, "user-quarantine.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 860 });
  await page.locator("#quarantine-table").getByText("Cheap pills today").waitFor();
  await page.screenshot({ path: join(shots, "user-quarantine-phone.png"), fullPage: true });
  await page.getByLabel("Search sender, recipient or subject").fill("pills");
  await page.getByRole("button", { name: "Search" }).click();
  await page.locator("#quarantine-table").getByText("Cheap pills today").waitFor();
  await page.locator("#quarantine-table").getByText("Weekly garden newsletter").waitFor({ state: "detached" });
  await page.getByLabel("Search sender, recipient or subject").fill("no such thing");
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByText("Nothing in quarantine.").waitFor();
  const nav = page.getByRole("navigation", { name: "Main" });
  assert.equal(await nav.getByRole("link", { name: "Organisations" }).count(), 0);
  assert.equal(await nav.getByRole("link", { name: "MSPs" }).count(), 0);
  await nav.getByRole("link", { name: "My account" }).click();
  await page.getByRole("heading", { name: "My account" }).waitFor();
  await page.screenshot({ path: join(shots, "user-account-phone.png"), fullPage: true });
  for (const path of ["/orgs", "/msps"]) {
    await page.goto(`${base}${path}`);
    await page.getByRole("heading", { name: "Not found" }).waitFor();
  }
  await page.screenshot({ path: join(shots, "user-not-found.png") });
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("a hostile HTML message previews without running anything or fetching its images", async () => {
  // The "remote" image is on loopback (tests talk to 127.0.0.0/8 only); nothing listens there.
  const html = `<p onmouseover="alert('hover')">Your invoice</p><script>alert('script')</script>` +
    `<img src="https://127.0.0.1:49999/pixel.gif" onerror="alert('img')">` +
    `<a href="javascript:alert('link')">Pay now</a> <a href="https://bank.example.evil.test/login">Your bank</a>`;
  const raw = `Subject: Hostile invoice\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n${html}\r\n`;
  await quarantineOne("Hostile invoice", raw, "browser-hostile.1-1");
  const page = await newPage(1280);
  const dialogs = [];
  const pixels = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
  // Requests of the sandboxed frame are seen at the context (and failed ones logged).
  page.context().on("request", (r) => { if (r.url().includes("pixel.gif")) pixels.push(r.url()); });
  page.on("console", (m) => { if (/ERR_CONNECTION_REFUSED/.test(m.text())) pixels.push("refused"); });
  await login(page, "user@example.test", "moat-demo-user");
  await page.waitForURL(`${base}/quarantine`);
  const row = page.locator("#quarantine-table tr", { hasText: "Hostile invoice" });
  await row.getByRole("button", { name: "Preview" }).click();
  await page.getByText("1 remote image(s) blocked.").waitFor();
  const frame = page.frameLocator("iframe.preview-frame");
  await frame.getByText("Your invoice").waitFor();
  await frame.getByText("Your invoice").hover();
  const inner = await frame.locator("body").innerHTML();
  for (const bad of ["script", "onmouseover", "javascript:", "pixel.gif", "onerror"]) {
    assert.ok(!inner.includes(bad), `${bad} reached the preview: ${inner}`);
  }
  await page.locator(".preview-links").getByText("https://bank.example.evil.test/login").waitFor();
  await page.screenshot({ path: join(shots, "quarantine-preview.png"), fullPage: true });
  assert.deepEqual(dialogs, [], "no script ran");
  assert.deepEqual(pixels, [], "no image was fetched before the reader asked");
  assert.deepEqual(page.problems, []);
  await page.getByRole("button", { name: "Show remote images" }).click();
  await frame.locator("img[src*='pixel.gif']").waitFor({ state: "attached" });
  await frame.locator("img").waitFor({ state: "attached" });
  await page.waitForTimeout(500);
  assert.ok(pixels.length >= 1, "the image is fetched once the reader asks");
  assert.deepEqual(dialogs, [], "and still nothing ran");
  await page.close();
});

test("a user marks messages reviewed and deletes one; the unread badge follows", async () => {
  await quarantineOne("Badge one", "Subject: Badge one\r\n\r\nspam\r\n", "badge-1.1-1");
  await quarantineOne("Badge two", "Subject: Badge two\r\n\r\nspam\r\n", "badge-2.1-1");
  const page = await newPage(1280);
  await login(page, "user@example.test", "moat-demo-user");
  await page.waitForURL(`${base}/quarantine`);
  const badge = page.getByRole("navigation", { name: "Main" }).locator(".badge");
  await badge.waitFor();
  const before = Number(await badge.innerText());
  assert.ok(before >= 2, `unread ${before}`);
  await page.getByLabel("Select Badge one").check();
  await page.getByLabel("Select Badge two").check();
  await page.getByText("2 selected").waitFor();
  await page.getByRole("button", { name: "Mark reviewed" }).click();
  await page.getByText("0 selected").waitFor();
  await page.waitForFunction((n) => {
    const b = document.querySelector(".mainnav .badge");
    return (b ? Number(b.textContent) : 0) === n;
  }, before - 2);
  await page.getByLabel("Select Badge one").check();
  await page.getByRole("button", { name: "Delete selected" }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await page.locator("#quarantine-table").getByText("Badge two").waitFor();
  await page.locator("#quarantine-table").getByText("Badge one").waitFor({ state: "detached" });
  await page.screenshot({ path: join(shots, "quarantine-actions.png"), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("a user releases three messages at once; each becomes one delivery job", async () => {
  for (const n of [1, 2, 3]) await quarantineOne(`Release me ${n}`, `Subject: Release me ${n}\r\n\r\nhi\r\n`, `release-${n}.1-1`);
  const page = await newPage(1280);
  await login(page, "user@example.test", "moat-demo-user");
  await page.waitForURL(`${base}/quarantine`);
  for (const n of [1, 2, 3]) await page.getByLabel(`Select Release me ${n}`).check();
  await page.getByRole("button", { name: "Release", exact: true }).click();
  await page.getByText("3 message(s) released for delivery").waitFor();
  // The worker channel now holds exactly those three jobs (a worker delivers them: see
  // mta-worker/tests/worker for the delivery to a real SMTP server).
  const token = execFileSync(bin, ["node", "create", "--name", "browser-release-check"], { env: serverEnv }).toString().trim().split("\n").pop();
  const jobs = await (await fetch(`${base}/api/v1/worker/jobs`, { headers: { authorization: `Bearer ${token}` } })).json();
  assert.deepEqual(jobs.jobs.map((j) => j.recipient), ["user@example.test", "user@example.test", "user@example.test"]);
  for (const n of [1, 2, 3]) await page.getByLabel(`Select Release me ${n}`).check();
  await page.getByRole("button", { name: "Release", exact: true }).click();
  await page.getByText("0 message(s) released for delivery").waitFor();
  await page.screenshot({ path: join(shots, "quarantine-release.png"), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("an org admin reads the audit log of its organisation", async () => {
  const page = await newPage(1280);
  await login(page, "admin@example.test", "moat-demo-orgadmin");
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("heading", { name: "Audit log" }).waitFor();
  // The relay-server changes of an earlier test and this admin's login are there.
  await page.locator("#audit-table").getByText("POST /api/v1/orgs/").first().waitFor();
  await page.getByLabel("Search who or what").fill("allowed-ips");
  await page.getByRole("button", { name: "Search" }).click();
  await page.locator("#audit-table").getByText("DELETE /api/v1/orgs/").first().waitFor();
  await page.screenshot({ path: join(shots, "audit.png"), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("a user picks a colleague as its quarantine delegate", async () => {
  const page = await newPage(1280);
  await login(page, "user@example.test", "moat-demo-user");
  await page.waitForURL(`${base}/quarantine`);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "My account" }).click();
  await page.getByRole("heading", { name: "Quarantine delegate" }).waitFor();
  await page.locator("#delegate option", { hasText: "admin@example.test" }).waitFor({ state: "attached" });
  await page.selectOption("#delegate", { label: await page.locator("#delegate option", { hasText: "admin@example.test" }).innerText() });
  await page.getByRole("button", { name: "Save delegate" }).click();
  await page.getByText("Delegate saved").waitFor();
  await page.reload();
  await page.getByRole("heading", { name: "Quarantine delegate" }).waitFor();
  await page.waitForFunction(() => document.querySelector("#delegate")?.selectedOptions[0]?.textContent.includes("admin@example.test"));
  await page.screenshot({ path: join(shots, "account-delegate.png"), fullPage: true });
  await page.selectOption("#delegate", { label: "Nobody" });
  await page.getByRole("button", { name: "Save delegate" }).click();
  await page.getByText("Delegate saved").waitFor();
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("an org admin edits the filtering policy: bad input is refused, what is saved is what the API holds", async () => {
  const page = await newPage(1280);
  await login(page, "admin@example.test", "moat-demo-orgadmin");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "My organisation" }).click();
  const panel = page.locator("section", { has: page.getByRole("heading", { name: "Filtering policy" }) });
  await panel.getByLabel("Quarantine at score").waitFor();
  await panel.getByLabel("Quarantine at score").fill("lots");
  await panel.getByRole("button", { name: "Save policy" }).click();
  await panel.getByText("Enter a number").waitFor();
  await panel.getByLabel("Quarantine at score").fill("20");
  await panel.getByRole("button", { name: "Save policy" }).click();
  await panel.getByText("quarantine_threshold must not exceed reject_threshold").waitFor();
  await panel.getByLabel("Quarantine at score").fill("6");
  await panel.getByLabel("Secure release").check();
  await panel.getByLabel("Keep quarantined mail (days)").fill("45");
  await panel.getByRole("button", { name: "Save policy" }).click();
  await panel.getByText("Policy saved").waitFor();
  await page.screenshot({ path: join(shots, "org-policy.png"), fullPage: true });
  const token = await (await fetch(`${base}/api/v1/auth/login`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "admin@example.test", password: "moat-demo-orgadmin" }),
  })).json();
  const me = await (await fetch(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token.access_token}` } })).json();
  const policy = await (await fetch(`${base}/api/v1/orgs/${me.reach.org_id}/policy`,
    { headers: { authorization: `Bearer ${token.access_token}` } })).json();
  assert.equal(policy.quarantine_threshold, 6);
  assert.equal(policy.secure_release, true);
  assert.equal(policy.quarantine_retention_days, 45);
  assert.equal(policy.archive_retention_days, 7, "fields the form does not show are kept");
  // Put it back for the other tests.
  await panel.getByLabel("Secure release").uncheck();
  await panel.getByLabel("Quarantine at score").fill("5");
  await panel.getByLabel("Keep quarantined mail (days)").fill("30");
  await panel.getByRole("button", { name: "Save policy" }).click();
  await panel.getByText("Policy saved").waitFor();
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("an org admin creates an API key, sees it once, uses it, and revokes it", async () => {
  const page = await newPage(1280);
  await login(page, "admin@example.test", "moat-demo-orgadmin");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "My organisation" }).click();
  const panel = page.locator("section", { has: page.getByRole("heading", { name: "API keys" }) });
  await panel.getByRole("button", { name: "Create key" }).click();
  await panel.getByText("Name is required").waitFor();
  await panel.getByLabel("Key name").fill("ConnectWise");
  await panel.getByRole("button", { name: "Create key" }).click();
  const secret = await panel.locator("code.secret").innerText();
  assert.ok(secret.startsWith("moat_"), secret);
  await panel.locator("#api-keys-table").getByRole("cell", { name: "ConnectWise", exact: true }).waitFor();
  await page.screenshot({ path: join(shots, "api-keys.png"), fullPage: true });
  const me = await (await fetch(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${secret}` } })).json();
  assert.equal(me.via, "api_key");
  // A read-only key: listed as such, it reads and is refused a change.
  await panel.getByLabel("Key name").fill("Reporting");
  await panel.getByLabel("Read-only").check();
  await panel.getByRole("button", { name: "Create key" }).click();
  await panel.getByText("Key \u201cReporting\u201d created").waitFor();
  const reader = await panel.locator("code.secret").innerText();
  const row = panel.locator("#api-keys-table tr", { hasText: "Reporting" });
  assert.match(await row.innerText(), /read-only/);
  const headers = { authorization: `Bearer ${reader}`, "content-type": "application/json" };
  assert.equal((await fetch(`${base}/api/v1/orgs/${me.reach.org_id}/users`, { headers })).status, 200);
  const write = await fetch(`${base}/api/v1/orgs/${me.reach.org_id}/users`,
    { method: "POST", headers, body: JSON.stringify({ email: "ro@example.test", display_name: "RO", role: "user" }) });
  assert.equal(write.status, 403);
  assert.equal((await write.json()).error.code, "read_only");
  await panel.getByRole("button", { name: "Revoke Reporting" }).click();
  await panel.getByRole("button", { name: "Yes, delete" }).click();
  await row.waitFor({ state: "detached" });
  await panel.getByRole("button", { name: "Revoke ConnectWise" }).click();
  await panel.getByRole("button", { name: "Yes, delete" }).click();
  await panel.locator("#api-keys-table").getByRole("cell", { name: "ConnectWise", exact: true }).waitFor({ state: "detached" });
  const after = await fetch(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(after.status, 401, "a revoked key stops working at once");
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("a domain's maintenance banner is shown to its users while set", async () => {
  const text = "We are moving servers tonight: back in 5 minutes";
  const admin = await newPage(1280);
  await login(admin, "admin@example.test", "moat-demo-orgadmin");
  await admin.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "My organisation" }).click();
  await admin.getByRole("link", { name: "example.test" }).click();
  await admin.getByLabel("Maintenance banner").fill(text);
  await admin.getByRole("button", { name: "Save", exact: true }).click();
  await admin.getByText("Saved", { exact: true }).waitFor();
  const user = await newPage(1280);
  // The login page shows it as soon as the address names the domain.
  await user.goto(`${base}/login`);
  await user.getByLabel("Email").fill("user@example.test");
  await user.locator("#login-banner").getByText(text).waitFor();
  await user.getByLabel("Email").fill("someone@elsewhere.test");
  await user.locator("#login-banner").waitFor({ state: "detached" });
  await login(user, "user@example.test", "moat-demo-user");
  await user.waitForURL(`${base}/quarantine`);
  await user.locator(".maintenance-banner").getByText(text).waitFor();
  await user.screenshot({ path: join(shots, "maintenance-banner.png") });
  await admin.getByLabel("Maintenance banner").fill("");
  await admin.getByRole("button", { name: "Save", exact: true }).click();
  await admin.getByText("Saved", { exact: true }).waitFor();
  await user.reload();
  await user.getByRole("heading", { name: "Quarantine" }).waitFor();
  assert.equal(await user.locator(".maintenance-banner").count(), 0, "cleared: gone");
  assert.deepEqual(user.problems, []);
  await admin.close();
  await user.close();
});
