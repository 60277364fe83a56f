// An organisation admin's day in a real browser, against a real `moat-api serve` whose system
// mail leaves through a real SMTP server (aiosmtpd on loopback) and a real worker: the admin
// invites a user, the activation mail arrives, its link sets a password, the user signs in;
// then the admin switches greylisting on for one domain in its policy screen and the worker
// answers the next message to that domain with a 451.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { client, freePort, launchBrowser, root, shots, startApi, startWorker, until } from "./moat.mjs";

let server, sink, worker, browser, base, dataDir, env, inbox, smtpPort, relayPort;
let api, token;

before(async () => {
  relayPort = await freePort();
  ({ server, base, dataDir, env } = await startApi("moat-admin-", (dir, url) => ({
    MOAT_PUBLIC_URL: url,
    MOAT_SMTP_RELAY: `127.0.0.1:${relayPort}`,
    MOAT_SMTP_RELAY_TLS: "none",
  })));
  ({ api, token } = client(base));
  inbox = join(dataDir, "inbox");
  sink = spawn("python3", [join(root, "infra/dev/demo-mailserver.py"), String(relayPort), inbox], { stdio: "inherit" });
  ({ worker, smtpPort } = await startWorker({ base, env, dataDir }, "admin-mx"));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  worker?.kill();
  sink?.kill();
  server?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/// The decoded text part of the first received mail whose subject matches.
function mailText(subjectPattern) {
  let names = [];
  try { names = readdirSync(inbox).sort(); } catch { return null; }
  const path = names.map((n) => join(inbox, n)).find((p) => subjectPattern.test(readFileSync(p, "latin1")));
  if (!path) return null;
  const script = "import email,sys\nm=email.message_from_binary_file(open(sys.argv[1],'rb'))\n" +
    "print(next(p.get_payload(decode=True).decode() for p in m.walk() if p.get_content_type()=='text/plain'))";
  return execFileSync("python3", ["-c", script, path]).toString();
}

/// RCPT's answer for mail from an outside address at 127.0.0.2 (not a trusted gateway).
function rcptCode(sender, recipient) {
  const script = `
import smtplib
s = smtplib.SMTP("127.0.0.1", ${smtpPort}, timeout=30, source_address=("127.0.0.2", 0))
s.ehlo("outside.test")
s.mail("${sender}")
code, _ = s.rcpt("${recipient}")
s.quit()
print(code)`;
  try {
    return Number(execFileSync("python3", ["-c", script], { stdio: "pipe" }).toString().trim());
  } catch {
    return 0;
  }
}

async function signIn(page, email, password) {
  await page.goto(`${base}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor();
}

test("invite → activation mail → password → sign-in; a domain's greylisting reaches the worker", async () => {
  const admin = await token("admin@example.test", "moat-demo-orgadmin");
  const me = (await api("GET", "/auth/me", admin)).body;
  const orgId = me.reach.org_id;
  const domain = (await api("GET", `/orgs/${orgId}/domains`, admin)).body.items[0];
  // The organisation greylists nobody, so the domain's own switch is what the worker obeys.
  assert.equal((await api("GET", `/orgs/${orgId}/policy`, admin)).body.greylisting, false);

  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signIn(page, "admin@example.test", "moat-demo-orgadmin");
  await page.goto(`${base}/orgs/${orgId}`);
  await page.locator("#user-email").fill("newcomer@example.test");
  await page.locator("#user-name").fill("Nina Newcomer");
  await page.getByRole("button", { name: "Send invitation" }).click();
  await page.locator("#user-table").getByText("newcomer@example.test").waitFor();

  const text = await until("the activation mail at the SMTP server", () => mailText(/Subject: Welcome to Moat/));
  assert.match(text, /Hello Nina Newcomer/);
  const link = text.match(/https?:\/\/\S+\/activate\?token=\S+/)[0];
  assert.ok(link.startsWith(base), link);

  const invited = await browser.newPage();
  await invited.goto(link);
  await invited.getByLabel("New password").fill("nina-is-here-2026");
  await invited.getByRole("button", { name: "Save password" }).click();
  await invited.getByText("Your password is set").waitFor();
  await signIn(invited, "newcomer@example.test", "nina-is-here-2026");
  await invited.screenshot({ path: join(shots, "admin-activated-user.png") });
  // The link worked once: a second use is refused.
  const again = await api("POST", "/auth/activate", null, { token: new URL(link).searchParams.get("token"), password: "another-pass-1" });
  assert.equal(again.status >= 400, true, JSON.stringify(again));

  // Before: no greylisting, the worker takes the message.
  await until("the worker knows the new user", () => rcptCode("first@outside.test", "newcomer@example.test") === 250);

  await page.goto(`${base}/domains/${domain.id}`);
  const grey = page.locator('fieldset[data-field="greylisting"]');
  assert.equal(await grey.locator(".inherit-box").isChecked(), true);
  assert.equal(await grey.getByLabel("Greylisting").isDisabled(), true);
  await grey.locator(".inherit-box").uncheck();
  await grey.getByLabel("Greylisting").check();
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.getByRole("status").filter({ hasText: "Policy saved" }).waitFor();
  await page.screenshot({ path: join(shots, "admin-domain-policy.png"), fullPage: true });
  const own = (await api("GET", `/domains/${domain.id}/policy/overrides`, admin)).body;
  assert.deepEqual(own, { greylisting: true });

  // After: the next message from an unknown sender is greylisted.
  await until("the worker greylists the domain's next message",
    () => rcptCode("second@outside.test", "newcomer@example.test") === 451);
  // The organisation's own setting did not change.
  assert.equal((await api("GET", `/orgs/${orgId}/policy`, admin)).body.greylisting, false);

  // Back to "as the organisation": the field shows the organisation's value again.
  await page.reload();
  await grey.locator(".inherit-box").check();
  assert.equal(await grey.getByLabel("Greylisting").isChecked(), false);
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.getByRole("status").filter({ hasText: "Policy saved" }).waitFor();
  assert.deepEqual((await api("GET", `/domains/${domain.id}/policy/overrides`, admin)).body, {});
  await until("greylisting off again", () => rcptCode("third@outside.test", "newcomer@example.test") === 250);
  assert.deepEqual(errors, []);
});

/// Relays one message from the customer's server (127.0.0.3) as `sender`; answers RCPT's code
/// (and sends the message when it was taken).
function relay(sender, recipient, subject, body = "Hello") {
  const script = `
import smtplib
s = smtplib.SMTP("127.0.0.1", ${smtpPort}, timeout=30, source_address=("127.0.0.3", 0))
s.ehlo("server.example.test")
s.mail("${sender}")
code, text = s.rcpt("${recipient}")
if code == 250:
    s.data(b"From: ${sender}\\r\\nTo: ${recipient}\\r\\nSubject: ${subject}\\r\\n\\r\\n${body}\\r\\n")
s.quit()
print(code, text.decode())`;
  return execFileSync("python3", ["-c", script], { stdio: "pipe" }).toString().trim();
}

test("over its hourly outbound limit a sender gets a 4xx, and the admin sees and clears the alert", async () => {
  const admin = await token("admin@example.test", "moat-demo-orgadmin");
  const orgId = (await api("GET", "/auth/me", admin)).body.reach.org_id;
  const added = await api("POST", `/orgs/${orgId}/allowed-ips`, admin, { cidr: "127.0.0.3/32" });
  assert.equal(added.status, 201, JSON.stringify(added));

  const page = await browser.newPage();
  await signIn(page, "admin@example.test", "moat-demo-orgadmin");
  await page.goto(`${base}/orgs/${orgId}`);
  await page.getByLabel("Messages per sender per hour").fill("2");
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.getByRole("status").filter({ hasText: "Policy saved" }).waitFor();
  assert.equal((await api("GET", `/orgs/${orgId}/policy`, admin)).body.outbound.user_messages_per_hour, 2);

  // The worker takes the new policy within a moment; two messages pass, the third is deferred.
  await until("the relay server reaches the worker", () => relay("user@example.test", "probe@far.test", "probe").startsWith("250"));
  let answer = "";
  for (let i = 0; i < 3 && !answer.startsWith("451"); i++) answer = relay("user@example.test", `r${i}@far.test`, `m${i}`);
  assert.match(answer, /^451 .*Sending limit reached \(2 messages in this hour, the limit is 2\)/);
  // Another sender of the organisation is not held back by this one's count.
  assert.match(relay("admin@example.test", "x@far.test", "other"), /^250/);

  await page.goto(`${base}/alerts`);
  const row = page.locator("#alert-table tr", { hasText: "user@example.test" });
  await row.waitFor({ timeout: 15000 });
  assert.match(await row.innerText(), /2 messages in this hour, the limit is 2/);
  await page.screenshot({ path: join(shots, "admin-alerts.png"), fullPage: true });
  // The admins were mailed too (the SMTP server got it).
  await until("the alert mail", () => mailText(/Subject: Moat alert: user@example.test/));
  await row.getByRole("button", { name: "Clear" }).click();
  await page.getByText("No open alerts.").waitFor();
  const cleared = (await api("GET", "/alerts?open=false", admin)).body;
  assert.equal(cleared.items[0].cleared_by, "admin@example.test");
});

test("test delivery: a stopped server shows the failing stage, a running one every stage with its time", async () => {
  const admin = await token("admin@example.test", "moat-demo-orgadmin");
  const orgId = (await api("GET", "/auth/me", admin)).body.reach.org_id;
  const domain = (await api("GET", `/orgs/${orgId}/domains`, admin)).body.items[0];
  const stopped = await freePort();
  assert.equal((await api("PATCH", `/domains/${domain.id}`, admin, { destination_host: "127.0.0.1", destination_port: stopped })).status, 200);

  const page = await browser.newPage();
  await signIn(page, "admin@example.test", "moat-demo-orgadmin");
  await page.goto(`${base}/domains/${domain.id}`);
  const panel = page.locator("#test-delivery");
  // Runs one test and waits for its result (not the one shown before).
  const runOnce = async () => {
    const before = (await panel.locator(".test-verdict").count()) ? await panel.locator(".test-verdict").getAttribute("data-id") : "";
    await panel.getByRole("button", { name: "Run test delivery" }).click();
    await panel.locator(`.test-verdict:not([data-status="pending"]):not([data-id="${before}"])`).waitFor({ timeout: 60000 });
  };
  // The worker may still hold the old destination for a moment: run until it reports this one.
  await until("a test against the stopped server", async () => {
    await runOnce();
    return (await panel.locator("#test-timeline").innerText()).includes(`:${stopped}`);
  }, 90000);
  assert.equal(await panel.locator(".test-verdict").getAttribute("data-status"), "failed");
  const failed = panel.locator('.stage[data-stage="connect"]');
  assert.match(await failed.innerText(), /cannot connect to 127\.0\.0\.1:\d+: .*refused/i);
  assert.equal(await panel.locator('.stage[data-stage="banner"]').count(), 0, "nothing after the failing stage");
  await page.screenshot({ path: join(shots, "admin-test-delivery-failed.png"), fullPage: true });

  // The server runs (the SMTP server of this test): every stage, each with a time.
  assert.equal((await api("PATCH", `/domains/${domain.id}`, admin, { destination_port: relayPort })).status, 200);
  await until("a test against the running server", async () => {
    await panel.getByLabel(/Also send a test message/).check();
    await runOnce();
    return (await panel.locator(".test-verdict").getAttribute("data-status")) === "passed";
  }, 90000);
  const stages = await panel.locator(".stage").evaluateAll((els) => els.map((e) => e.dataset.stage));
  assert.deepEqual(stages, ["mx", "dns", "connect", "banner", "ehlo", "starttls", "rcpt", "data", "delivery"]);
  assert.match(await panel.locator('.stage[data-stage="data"]').innerText(), /Moat: 250 .*queued as/);
  for (const stage of stages) {
    assert.match(await panel.locator(`.stage[data-stage="${stage}"] .stage-time`).innerText(), /^\d+\.\d ms$/);
  }
  assert.match(await panel.locator('.stage[data-stage="banner"]').innerText(), /220 /);
  await until("the test message at the server", () => mailText(/Subject: Moat test delivery/));
  await page.screenshot({ path: join(shots, "admin-test-delivery-passed.png"), fullPage: true });
});

/// Sends one message to the demo user through the worker, from a gateway it trusts.
function inbound(subject, body) {
  const script = `
import smtplib
s = smtplib.SMTP("127.0.0.1", ${smtpPort}, timeout=30)
s.ehlo("partner.test")
s.mail("alice@partner.test")
s.rcpt("user@example.test")
try:
    s.data(b"From: alice@partner.test\\r\\nTo: user@example.test\\r\\nSubject: ${subject}\\r\\n\\r\\n${body}\\r\\n")
except smtplib.SMTPDataError as e:
    print(e.smtp_code)
s.quit()`;
  execFileSync("python3", ["-c", script], { stdio: "pipe" });
}

test("the statistics page draws its chart from traffic sent through the worker", async () => {
  const admin = await token("admin@example.test", "moat-demo-orgadmin");
  const orgId = (await api("GET", "/auth/me", admin)).body.reach.org_id;
  inbound("stats clean one", "Hello there");
  inbound("stats clean two", "Hello again");
  inbound("stats spam", "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X");
  const totals = await until("the worker's events in the statistics", async () => {
    const t = (await api("GET", `/stats?org_id=${orgId}&bucket=hour&from=${new Date(Date.now() - 86400000).toISOString()}`, admin)).body.totals;
    return t.delivered >= 2 && t.quarantined + t.rejected >= 1 ? t : null;
  });

  const page = await browser.newPage();
  await signIn(page, "admin@example.test", "moat-demo-orgadmin");
  await page.getByRole("link", { name: "Statistics" }).click();
  await page.getByLabel("Period").selectOption("24h");
  const chart = page.locator("#verdict-chart");
  await chart.waitFor();
  assert.ok(await chart.locator("g.bar rect.bar-delivered").count() >= 1, "a bar of delivered mail");
  assert.ok(await chart.locator("g.bar rect.bar-quarantined, g.bar rect.bar-rejected").count() >= 1, "a bar of stopped mail");
  const title = await chart.locator("g.bar").last().locator("title").first().textContent();
  assert.match(title, new RegExp(`${totals.delivered} delivered`));
  await page.locator('#attack-chart g.threat[data-kind="spam"]').waitFor();
  assert.match(await page.locator("#top-recipients").innerText(), /user@example\.test/);
  await page.screenshot({ path: join(shots, "admin-statistics.png"), fullPage: true });
});

test("message tracking finds a message and tells its story", async () => {
  const page = await browser.newPage();
  await signIn(page, "admin@example.test", "moat-demo-orgadmin");
  await page.getByRole("link", { name: "Tracking" }).click();
  await page.getByLabel("Sender, recipient or subject").fill("stats spam");
  await page.getByRole("button", { name: "Search" }).click();
  const table = page.locator("#tracking-table");
  await table.getByRole("button", { name: "stats spam" }).waitFor();
  assert.equal(await table.getByRole("button", { name: "stats clean one" }).count(), 0, "the search narrows the list");
  await table.getByRole("button", { name: "stats spam" }).click();
  const story = page.locator("#message-story");
  await story.locator('li[data-kind="verdict"]').waitFor();
  assert.match(await story.locator('li[data-kind="received"]').innerText(), /from 127\.0\.0\.1/);
  assert.match(await story.locator('li[data-kind="verdict"]').innerText(), /verdict: (quarantine|reject)[\s\S]*GTUBE/);
  // A delivered message's story ends with the destination's answer.
  await page.getByLabel("Sender, recipient or subject").fill("stats clean one");
  await page.getByRole("button", { name: "Search" }).click();
  await table.getByRole("button", { name: "stats clean one" }).click();
  const delivered = story.locator('li[data-kind="delivered"]');
  await until("the delivery in the story", async () => {
    await table.getByRole("button", { name: "stats clean one" }).click();
    return (await delivered.count()) > 0;
  });
  assert.match(await delivered.innerText(), /answer: 250/);
  await page.screenshot({ path: join(shots, "admin-tracking.png"), fullPage: true });
});

test("allow and block lists: an admin manages its organisation's, a user its own", async () => {
  const admin = await token("admin@example.test", "moat-demo-orgadmin");
  const orgId = (await api("GET", "/auth/me", admin)).body.reach.org_id;
  const page = await browser.newPage();
  await signIn(page, "admin@example.test", "moat-demo-orgadmin");
  await page.goto(`${base}/orgs/${orgId}`);
  const panel = page.locator('.lists-panel[data-level="org"]');
  for (const p of ["@spammy.test", "@other-spam.test", "198.51.100.0/24"]) {
    await panel.getByLabel("Pattern", { exact: true }).fill(p);
    await panel.getByRole("button", { name: "Add entry" }).click();
    await panel.locator("table.list-entries").getByText(p, { exact: true }).waitFor();
  }
  // A bad pattern is refused at the field and changes nothing.
  await panel.getByLabel("Pattern", { exact: true }).fill("not a pattern");
  await panel.getByRole("button", { name: "Add entry" }).click();
  await panel.locator(".field-invalid").waitFor();
  await panel.getByLabel("Find an entry").fill("spammy");
  await panel.getByRole("button", { name: "Search" }).click();
  await until("the search narrows the list", async () => (await panel.locator("table.list-entries tbody tr").count()) === 1);
  await panel.getByRole("button", { name: "Remove" }).click();
  await panel.getByRole("button", { name: "Yes, delete" }).click();
  await panel.getByText("No entries.").waitFor();
  const left = (await api("GET", `/lists?level=org&scope_id=${orgId}`, admin)).body;
  assert.deepEqual(left.items.map((e) => e.pattern).sort(), ["198.51.100.0/24", "@other-spam.test"]);

  const user = await browser.newPage();
  await signIn(user, "user@example.test", "moat-demo-user");
  await user.goto(`${base}/account`);
  const mine = user.locator('.lists-panel[data-level="user"]');
  await mine.getByLabel("Pattern", { exact: true }).fill("friend@ext.test");
  await mine.getByLabel("Kind").selectOption("allow");
  await mine.getByRole("button", { name: "Add entry" }).click();
  await mine.locator("table.list-entries").getByText("friend@ext.test").waitFor();
  const userToken = await token("user@example.test", "moat-demo-user");
  const own = (await api("GET", "/lists?level=user", userToken)).body;
  assert.equal(own.items[0].kind, "allow");

  // The addresses the user relayed mail to earlier (the outbound test) are its reverse
  // whitelist; it removes one.
  const people = user.locator("#correspondent-table");
  await people.getByText("probe@far.test").waitFor();
  await people.locator("tr", { hasText: "probe@far.test" }).getByRole("button", { name: "Remove" }).click();
  await people.getByRole("button", { name: "Yes, delete" }).click();
  await until("the entry is gone", async () => (await people.getByText("probe@far.test").count()) === 0);
  const me = (await api("GET", "/auth/me", userToken)).body.user.id;
  const remaining = (await api("GET", `/users/${me}/correspondents`, userToken)).body.items.map((c) => c.address);
  assert.ok(!remaining.includes("probe@far.test") && remaining.includes("r0@far.test"), JSON.stringify(remaining));
  await user.screenshot({ path: join(shots, "account-lists.png"), fullPage: true });
});

test("feature flags: the platform admin switches the Live Archive off for one organisation", async () => {
  const orgAdmin = await token("admin@example.test", "moat-demo-orgadmin");
  const orgId = (await api("GET", "/auth/me", orgAdmin)).body.reach.org_id;
  const platform = await browser.newPage();
  await signIn(platform, "admin@moat.test", "moat-demo-admin");
  await platform.goto(`${base}/orgs/${orgId}`);
  const flags = platform.locator("#feature-flags");
  await flags.getByLabel("Live Archive").selectOption("off");
  await until("the setting is stored", async () => {
    const all = (await api("GET", "/features", await token("admin@moat.test", "moat-demo-admin"))).body.items;
    return all.some((s) => s.feature === "live_archive" && s.level === "org" && s.enabled === false);
  });

  const user = await browser.newPage();
  await signIn(user, "user@example.test", "moat-demo-user");
  const nav = user.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "Quarantine" }).waitFor();
  assert.equal(await nav.getByRole("link", { name: "Live Archive" }).count(), 0, "no Live Archive for this organisation");
  const userToken = await token("user@example.test", "moat-demo-user");
  assert.equal((await api("GET", "/archive", userToken)).status, 403);

  await flags.getByLabel("Live Archive").selectOption("inherit");
  await until("the setting is gone", async () => (await api("GET", "/archive", userToken)).status === 200);
  await user.reload();
  await nav.getByRole("link", { name: "Live Archive" }).waitFor();
});

test("users from a CSV: every bad line is shown before anything is written, then all are imported", async () => {
  const admin = await token("admin@example.test", "moat-demo-orgadmin");
  const orgId = (await api("GET", "/auth/me", admin)).body.reach.org_id;
  const page = await browser.newPage();
  await signIn(page, "admin@example.test", "moat-demo-orgadmin");
  await page.goto(`${base}/orgs/${orgId}`);
  const bad = "email,display_name,role\ncsv1@example.test,One,user\nbroken,Two,user\ncsv3@example.test,Three,wizard\n";
  await page.locator("#users-csv").fill(bad);
  await page.getByRole("button", { name: "Check CSV" }).click();
  await page.locator("#csv-problems").waitFor();
  const rows = await page.locator("#csv-problems tbody tr").allInnerTexts();
  assert.equal(rows.length, 2, rows.join("\n"));
  assert.match(rows[0], /^3\s/);
  assert.match(rows[1], /^4\s.*wizard/);
  assert.equal(await page.getByRole("button", { name: /^Import \d+ users$/ }).isDisabled(), true);
  assert.equal((await api("GET", `/orgs/${orgId}/users?per_page=500`, admin)).body.items.some((u) => u.email === "csv1@example.test"), false);
  await page.screenshot({ path: join(shots, "admin-csv-preview.png"), fullPage: true });

  await page.locator("#users-csv").fill("email,display_name,role\ncsv1@example.test,One,user\ncsv2@example.test,Two,spam_czar\n");
  await page.getByRole("button", { name: "Check CSV" }).click();
  await page.locator("#csv-verdict").getByText("2 users ready to import.").waitFor();
  await page.getByRole("button", { name: "Import 2 users" }).click();
  await page.getByText("2 users imported").waitFor();
  await page.locator("#user-table").getByText("csv2@example.test").waitFor();
  await until("both invitations at the SMTP server", () => mailText(/To: <?csv2@example\.test/) && mailText(/To: <?csv1@example\.test/));
});

test("outbound content rules: a blocked domain is refused, spam waits in the outbound quarantine for the admin", async () => {
  const admin = await token("admin@example.test", "moat-demo-orgadmin");
  const orgId = (await api("GET", "/auth/me", admin)).body.reach.org_id;
  await api("POST", `/orgs/${orgId}/allowed-ips`, admin, { cidr: "127.0.0.3/32" });
  assert.equal((await api("PUT", `/orgs/${orgId}/policy`, admin, {})).status, 200); // no sending limits left over
  const page = await browser.newPage();
  await signIn(page, "admin@example.test", "moat-demo-orgadmin");
  await page.goto(`${base}/orgs/${orgId}`);
  await page.getByLabel("Hold outbound mail at spam score").fill("5");
  await page.getByLabel("Never send to").fill("rival.test");
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.getByRole("status").filter({ hasText: "Policy saved" }).waitFor();
  const saved = (await api("GET", `/orgs/${orgId}/policy`, admin)).body.outbound_content;
  assert.deepEqual([saved.quarantine_threshold, saved.blocked_recipient_domains], [5, ["rival.test"]]);

  await until("the worker refuses the blocked domain", () => /^550 .*rival\.test is blocked/.test(relay("staff@example.test", "ceo@rival.test", "x")));
  const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
  assert.match(relay("staff@example.test", "buyer@far.test", "Outbound spam run", gtube), /^250/);
  await page.goto(`${base}/quarantine`);
  await page.getByLabel("Going").selectOption("outbound");
  await page.getByRole("button", { name: "Search" }).click();
  const row = page.locator("tr", { hasText: "Outbound spam run" });
  await until("the held message in the outbound quarantine", async () => {
    if (await row.count()) return true;
    await page.getByRole("button", { name: "Search" }).click();
    return false;
  });
  assert.match(await row.innerText(), /buyer@far\.test\s*outgoing/);
  await page.screenshot({ path: join(shots, "admin-outbound-quarantine.png"), fullPage: true });
  assert.equal((await api("PUT", `/orgs/${orgId}/policy`, admin, {})).status, 200);
});

test("an admin disables an account: it cannot sign in until enabled again", async () => {
  const admin = await token("admin@example.test", "moat-demo-orgadmin");
  const orgId = (await api("GET", "/auth/me", admin)).body.reach.org_id;
  const created = await api("POST", `/orgs/${orgId}/users`, admin,
    { email: "leaver@example.test", display_name: "Leaver", role: "user", password: "leaver password 1" });
  assert.equal(created.status, 201, JSON.stringify(created));
  const page = await browser.newPage();
  await signIn(page, "admin@example.test", "moat-demo-orgadmin");
  await page.goto(`${base}/users/${created.body.id}`);
  await page.getByRole("button", { name: "Disable account" }).click();
  await page.getByRole("status").filter({ hasText: "Account disabled" }).waitFor();
  assert.equal((await api("GET", `/users/${created.body.id}`, admin)).body.disabled, true);
  const other = await browser.newPage();
  await other.goto(`${base}/login`);
  await other.getByLabel("Email").fill("leaver@example.test");
  await other.getByLabel("Password").fill("leaver password 1");
  await other.getByRole("button", { name: "Sign in" }).click();
  await other.getByText("wrong email or password").waitFor();
  await page.getByRole("button", { name: "Enable account" }).click();
  await page.getByRole("status").filter({ hasText: "Account enabled" }).waitFor();
  await signIn(other, "leaver@example.test", "leaver password 1");
});
