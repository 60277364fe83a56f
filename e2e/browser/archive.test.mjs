// The Live Archive in a real browser, with a real worker: the demo domain's mail server is
// down, a message sent to the demo user over SMTP (Python's smtplib) waits in the worker's
// queue and is in the user's archive; the user signs in, sees the continuity banner, opens
// the message, replies, and finds the reply in Sent.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { client, freePort, launchBrowser, shots, sleep, startApi, startWorker, until } from "./moat.mjs";

let server, worker, browser, base, dataDir, env, smtpPort;

let api, token;

before(async () => {
  ({ server, base, dataDir, env } = await startApi("moat-archive-"));
  ({ api, token } = client(base));
  // The demo domain's server is down: nothing listens on its port.
  const admin = await token("admin@example.test", "moat-demo-orgadmin");
  const me = (await api("GET", "/auth/me", admin)).body;
  const domains = (await api("GET", `/orgs/${me.reach.org_id}/domains`, admin)).body;
  const down = await freePort();
  const patched = await api("PATCH", `/domains/${domains.items[0].id}`, admin, { destination_host: "127.0.0.1", destination_port: down });
  assert.equal(patched.status, 200);
  ({ worker, smtpPort } = await startWorker({ base, env, dataDir }, "browser-mx"));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  worker?.kill();
  server?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function sendMail(subject, body) {
  const script = `
import smtplib, sys, time
for _ in range(100):
    try:
        s = smtplib.SMTP("127.0.0.1", ${smtpPort}, timeout=30)
        break
    except OSError:
        time.sleep(0.1)
s.ehlo("partner.test")
code, _ = s.mail("alice@ext.test")
code, _ = s.rcpt("user@example.test")
if code != 250:
    sys.exit(f"rcpt {code}")
s.data(b"From: Alice <alice@ext.test>\\r\\nTo: user@example.test\\r\\nSubject: ${subject}\\r\\nMessage-ID: <invoice-42@ext.test>\\r\\n\\r\\n${body}\\r\\n")
s.quit()`;
  // The worker takes a moment to load its policy: retry until the recipient is known.
  for (let i = 0; ; i++) {
    try {
      execFileSync("python3", ["-c", script], { stdio: "pipe" });
      return;
    } catch (err) {
      if (i > 50) throw err;
      execFileSync("sleep", ["0.2"]);
    }
  }
}

test("banner, open a waiting message, reply, and the reply is in Sent", async () => {
  sendMail("Invoice 42", "Please find the PINEAPPLE invoice.");
  const user = await token("user@example.test", "moat-demo-user");
  const me = (await api("GET", "/auth/me", user)).body;
  await until("the domain reported unreachable", async () => {
    const d = (await api("GET", `/domains/${me.domain_id}/delivery`, user)).body;
    return d && !d.reachable && d.waiting >= 1;
  });
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/login`);
  await page.getByLabel("Email").fill("user@example.test");
  await page.getByLabel("Password").fill("moat-demo-user");
  await page.getByRole("button", { name: "Sign in" }).click();
  const banner = page.locator("#continuity-banner");
  await banner.waitFor({ timeout: 15000 });
  assert.match(await banner.innerText(), /unreachable since .*1 message\(s\) are safe here/);
  await page.screenshot({ path: join(shots, "archive-banner.png") });

  await banner.getByRole("link", { name: /Live Archive/ }).click();
  await page.getByRole("button", { name: "Invoice 42" }).click();
  const reader = page.locator("#reader");
  await reader.getByText("Waiting for the server").waitFor();
  await reader.locator("iframe, pre").first().waitFor();
  assert.match(await reader.locator("pre").innerText(), /PINEAPPLE invoice/);
  await page.screenshot({ path: join(shots, "archive-reader.png") });

  await reader.getByRole("button", { name: "Reply", exact: true }).click();
  const composer = page.locator("#composer");
  assert.equal(await composer.getByLabel(/^To/).inputValue(), "alice@ext.test");
  assert.equal(await composer.getByLabel("Subject").inputValue(), "Re: Invoice 42");
  await composer.getByLabel("Message").fill("Paid today. Thanks!");
  await composer.getByRole("button", { name: "Send" }).click();
  await page.getByRole("status").filter({ hasText: "on its way" }).waitFor();

  // Sent shows the reply once the worker has queued it.
  await until("the reply in Sent", async () => {
    await page.getByRole("button", { name: "Inbox", exact: true }).click();
    await page.getByRole("button", { name: "Sent", exact: true }).click();
    await sleep(500);
    return (await page.getByRole("button", { name: "Re: Invoice 42" }).count()) > 0;
  });
  await page.getByRole("button", { name: "Re: Invoice 42" }).click();
  await page.locator("#reader").getByText("Paid today. Thanks!").waitFor();
  await page.screenshot({ path: join(shots, "archive-sent.png") });
  // The conversation holds both.
  const thread = await page.locator("#reader .thread li").allInnerTexts();
  assert.equal(thread.length, 2, thread.join(" | "));
  assert.deepEqual(errors, []);
});
