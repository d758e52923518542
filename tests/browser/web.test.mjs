// Admin center and sign-in page in headless Chromium, with passkeys on
// Chromium's virtual authenticator (CDP WebAuthn domain). Run by run.sh.
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import assert from "node:assert/strict";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");
const shots = join(repo, "target", "screenshots");
mkdirSync(shots, { recursive: true });
const bin = process.env.KEYSMITH_BIN;
const data = mkdtempSync(join(tmpdir(), "keysmith-web-"));
const T = "acme";
const results = [];
const openPages = [];
let server;

function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => ok(p));
    });
    s.on("error", fail);
  });
}

function admin(...args) {
  const out = execFileSync(bin, ["admin", "--data-dir", data, "--json", ...args], { encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop());
}

async function startServer(port) {
  server = spawn(bin, ["serve", "--data-dir", data, "--listen", `127.0.0.1:${port}`,
    "--rp-id", "localhost", "--origin", `http://localhost:${port}`], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise((ok, fail) => {
    let buf = "";
    server.stdout.on("data", (d) => {
      buf += d;
      if (buf.includes("\n")) ok(buf.split("\n")[0].trim());
    });
    server.on("exit", (c) => fail(new Error(`keysmith serve exited with ${c}`)));
    setTimeout(() => fail(new Error("keysmith serve did not print its URL in 30 s")), 30000);
  });
  assert.match(line, /^http:\/\/127\.0\.0\.1:\d+$/);
  return `http://localhost:${port}`;
}

async function authenticator(page, extra = {}) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", ctap2Version: "ctap2_1", transport: "usb", hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true, ...extra,
    },
  });
  return { cdp, id: authenticatorId };
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

function watchCsp(page, label) {
  openPages.push([label, page]);
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) {
      throw new Error(`${label}: CSP violation: ${m.text()}`);
    }
  });
  page.on("pageerror", (e) => { throw new Error(`${label}: page error: ${e.message}`); });
}

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push([name, "ok", Date.now() - t0]);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push([name, "FAIL", Date.now() - t0]);
    console.log(`FAIL ${name}: ${e.stack || e}`);
    for (const [label, p] of openPages) {
      try {
        const err = await p.locator("#error").textContent({ timeout: 500 });
        const st = await p.locator("#status").textContent({ timeout: 500 });
        console.log(`  [${label}] ${p.url()} status=${JSON.stringify(st)} error=${JSON.stringify(err)}`);
        await p.screenshot({ path: join(shots, `failure-${label.replace(/\W+/g, "-")}.png`) });
      } catch (_) { /* page closed */ }
    }
    throw e;
  }
}

async function errorText(page) {
  const e = page.locator("#error");
  await e.waitFor({ state: "visible", timeout: 20000 });
  return e.textContent();
}

// fetch() from inside the page (same origin, the page's cookies).
async function pageFetch(page, method, path, { csrf = "page", body } = {}) {
  return page.evaluate(async ({ method, path, csrf, body }) => {
    const headers = { "Content-Type": "application/json" };
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (csrf === "page" && meta) headers["X-CSRF-Token"] = meta.content;
    else if (csrf && csrf !== "page" && csrf !== "none") headers["X-CSRF-Token"] = csrf;
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : null, csp: r.headers.get("content-security-policy") };
  }, { method, path, csrf, body });
}

async function main() {
  const port = await freePort();
  const base = `http://localhost:${port}`;
  admin("tenant", "create", T, "--rp-id", "localhost", "--rp-name", "Acme");
  const bob = admin("user", "create", "--tenant", T, "--upn", "bob@acme.test", "--display-name", "Bob Builder");
  const carol = admin("user", "create", "--tenant", T, "--upn", "carol@acme.test", "--display-name", "Carol Chen");
  const alice = admin("bootstrap-admin", "--tenant", T, "--upn", "alice@acme.test", "--role", "admin", "--url", base);
  const hank = admin("bootstrap-admin", "--tenant", T, "--upn", "hank@acme.test", "--role", "helpdesk", "--url", base);
  assert.match(alice.enrollUrl, new RegExp(`^${base}/${T}/admin/enroll\\?token=`));
  await startServer(port);

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  try {
    const adminCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const pageA = await adminCtx.newPage();
    watchCsp(pageA, "admin");
    await authenticator(pageA);
    const userUrl = (u) => `${base}/${T}/admin/users/${u.id}`;
    let aaguid;

    await step("admin enrolls through the one-time link", async () => {
      const r = await pageA.goto(alice.enrollUrl);
      assert.equal(r.status(), 200);
      const csp = r.headers()["content-security-policy"];
      assert.match(csp, /default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'/);
      await shot(pageA, "01-enroll");
      await pageA.click("#enroll");
      await pageA.waitForURL(`${base}/${T}/admin`);
      assert.equal(await pageA.textContent("#whoami"), "alice@acme.test");
      assert.equal(await pageA.textContent("#role"), "admin");
      const cookies = await adminCtx.cookies();
      const c = cookies.find((c) => c.name === "ks_session");
      assert.ok(c && c.httpOnly && c.secure && c.sameSite === "Strict", JSON.stringify(c));
      // The link is single use.
      const again = await pageA.goto(alice.enrollUrl);
      assert.equal(again.status(), 400);
      assert.match(await pageA.textContent(".error-box"), /already used/);
    });

    await step("admin signs out and signs in again with the passkey", async () => {
      await pageA.goto(`${base}/${T}/admin`);
      await pageA.click("#logout");
      await pageA.waitForURL(`${base}/${T}/admin/login`);
      await shot(pageA, "02-admin-login");
      await pageA.click("#login");
      await pageA.waitForURL(`${base}/${T}/admin`);
      assert.equal(await pageA.textContent("#whoami"), "alice@acme.test");
    });

    await step("user search finds bob", async () => {
      await pageA.fill("#q", "bob");
      await pageA.press("#q", "Enter");
      await pageA.waitForURL(/\?q=bob/);
      const rows = await pageA.locator("table tbody tr").count();
      assert.equal(rows, 1);
      await shot(pageA, "03-user-search");
      await pageA.click("text=bob@acme.test");
      await pageA.waitForURL(userUrl(bob));
    });

    // Bob's security key: a second tab with its own virtual authenticator.
    const pageB = await adminCtx.newPage();
    watchCsp(pageB, "bob's key");
    await authenticator(pageB);

    await step("admin provisions a passkey for bob in the browser", async () => {
      await pageB.goto(userUrl(bob));
      await pageB.fill("#display-name", "Bob's key");
      const reg = pageB.waitForResponse((r) => r.url().endsWith(`/users/${bob.id}/passkeys`) && r.request().method() === "POST");
      await pageB.click("#provision button[type=submit]");
      const res = await reg;
      assert.equal(res.status(), 201);
      await pageB.waitForSelector("#passkeys tbody tr");
      // The page reloads after the registration and shows its flash once
      // its script has run, a moment after the table is there.
      await pageB.waitForSelector("#status:has-text('registered')");
      // The AAGUID the registration reported (the page shows the stored one).
      aaguid = (await pageB.textContent("#passkeys .aaguid")).trim();
      assert.match(aaguid, /^[0-9a-f-]{36}$/);
      assert.match(await pageB.textContent("#status"), new RegExp(`AAGUID ${aaguid}`));
      assert.match(await pageB.textContent("#passkeys"), /Bob's key/);
      assert.match(await pageB.textContent("#status"), /registered/);
      await shot(pageB, "04-user-passkeys");
    });

    await step("bob signs in usernameless at /signin", async () => {
      const r = await pageB.goto(`${base}/${T}/signin`);
      assert.match(r.headers()["content-security-policy"], /script-src 'self'/);
      await pageB.click("#signin-discoverable");
      await pageB.waitForSelector("#result:not([hidden])");
      assert.equal(await pageB.textContent("#result-upn"), "bob@acme.test");
      assert.equal(await pageB.textContent("#result-key"), "Bob's key");
      assert.match(await pageB.textContent("#result-aaguid"), new RegExp(aaguid));
      await shot(pageB, "05-signin-usernameless");
    });

    await step("bob signs in username-first at /signin", async () => {
      await pageB.goto(`${base}/${T}/signin`);
      await pageB.fill("#upn", "bob@acme.test");
      await pageB.click("#signin-username button[type=submit]");
      await pageB.waitForSelector("#result:not([hidden])");
      assert.equal(await pageB.textContent("#result-user"), "Bob Builder");
      await shot(pageB, "06-signin-username-first");
    });

    await step("a cancelled ceremony (NotAllowedError) says so", async () => {
      const ctx = await browser.newContext();
      const p = await ctx.newPage();
      watchCsp(p, "cancel");
      const a = await authenticator(p);
      await p.goto(`${base}/${T}/signin`);
      // The user declines: the authenticator's user verification fails.
      await a.cdp.send("WebAuthn.setUserVerified", { authenticatorId: a.id, isUserVerified: false });
      await p.click("#signin-discoverable");
      assert.match(await errorText(p), /cancelled or timed out/);
      await shot(p, "07-signin-cancelled");
      await ctx.close();
    });

    const ctxH = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const pageH = await ctxH.newPage();
    watchCsp(pageH, "helpdesk");
    await authenticator(pageH);

    await step("helpdesk enrolls, can view users, cannot edit policy (403)", async () => {
      await pageH.goto(hank.enrollUrl);
      await pageH.click("#enroll");
      await pageH.waitForURL(`${base}/${T}/admin`);
      assert.equal(await pageH.textContent("#role"), "helpdesk");
      const u = await pageH.goto(userUrl(bob));
      assert.equal(u.status(), 200);
      await pageH.goto(`${base}/${T}/admin/policy`);
      assert.ok(await pageH.isVisible("#readonly"));
      await shot(pageH, "08-policy-helpdesk");
      const r = await pageFetch(pageH, "POST", `/${T}/admin/api/policy`, { body: { isAttestationEnforced: true } });
      assert.equal(r.status, 403, JSON.stringify(r.json));
      assert.equal(r.json.error.code, "accessDenied");
      assert.match(r.json.error.message, /admin role/);
    });

    await step("state-changing requests without a valid CSRF token are rejected (403)", async () => {
      await pageA.goto(userUrl(carol));
      for (const csrf of ["none", "forged-token"]) {
        const r = await pageFetch(pageA, "POST", `/${T}/admin/api/users/${carol.id}/passkeys/options`, { csrf });
        assert.equal(r.status, 403, JSON.stringify(r.json));
        assert.match(r.json.error.message, /CSRF/);
        assert.match(r.csp, /frame-ancestors 'none'/);
      }
      const ok = await pageFetch(pageA, "POST", `/${T}/admin/api/users/${carol.id}/passkeys/options`);
      assert.equal(ok.status, 200);
      assert.equal(ok.json.publicKey.rp.id, "localhost");
    });

    await step("admin deletes bob's passkey; bob's sign-in then fails clearly", async () => {
      await pageA.goto(userUrl(bob));
      pageA.once("dialog", (d) => d.accept());
      await pageA.click(".delete-passkey");
      await pageA.waitForSelector("#no-passkeys");
      // The page reloads after the deletion; its script shows the flash
      // once loaded, a moment after the list is there.
      await pageA.waitForSelector("#status:has-text('deleted')");
      assert.match(await pageA.textContent("#status"), /deleted/);
      await shot(pageA, "09-passkey-deleted");
      await pageB.goto(`${base}/${T}/signin`);
      await pageB.click("#signin-discoverable");
      assert.match(await errorText(pageB), /not registered in this tenant/);
      await shot(pageB, "10-signin-unknown-key");
    });

    await step("policy blocks the virtual authenticator's AAGUID; registration fails clearly", async () => {
      await pageA.goto(`${base}/${T}/admin/policy`);
      await pageA.check("#restrict");
      await pageA.selectOption("#enforcement", "block");
      await pageA.fill("#aaguids", aaguid);
      await pageA.click("#policy button[type=submit]");
      await pageA.waitForSelector("#status:has-text('Policy saved')");
      assert.equal(await pageA.inputValue("#aaguids"), aaguid);
      assert.match(await pageA.textContent("#models"), new RegExp(`${aaguid}[\\s\\S]*listed`));
      await shot(pageA, "11-policy-blocked");
      await pageB.goto(userUrl(carol));
      await pageB.click("#provision button[type=submit]");
      assert.match(await errorText(pageB), /not allowed by the tenant's key restrictions/);
      await shot(pageB, "12-provision-blocked");
      // And a blocked key cannot sign in either (alice's key, same model).
      await pageA.goto(`${base}/${T}/signin`);
      await pageA.click("#signin-discoverable");
      assert.match(await errorText(pageA), /not allowed by the tenant's key restrictions/);
      await shot(pageA, "13-signin-blocked");
    });

    await step("audit log viewer with filters", async () => {
      await pageA.goto(`${base}/${T}/admin/audit?activity=Register+passkey`);
      const text = await pageA.textContent("#audit tbody");
      assert.match(text, /Register passkey/);
      assert.doesNotMatch(text, /Delete passkey/);
      assert.match(text, /failure/);
      await pageA.selectOption("#result", "failure");
      await pageA.click(".filters button[type=submit]");
      await pageA.waitForURL(/result=failure/);
      assert.match(await pageA.textContent("#audit tbody"), /not allowed by the tenant's key restrictions/);
      await pageA.goto(`${base}/${T}/admin/audit`);
      await shot(pageA, "14-audit");
    });

    await step("bulk deprovision with a dry run, then for real", async () => {
      await pageA.goto(`${base}/${T}/admin/deprovision`);
      await pageA.fill("#upns", "hank@acme.test\nnobody@acme.test");
      await pageA.click("#deprovision button[type=submit]");
      await pageA.waitForSelector("#deprovision-result:not([hidden])");
      assert.match(await pageA.textContent("#deprovision-caption"), /Dry run: 1 passkey\(s\) of 1 user\(s\) would be deleted/);
      assert.match(await pageA.textContent("#deprovision-result tbody"), /no such user/);
      await shot(pageA, "15-deprovision-dry-run");
      await pageA.uncheck("#dry-run");
      pageA.once("dialog", (d) => d.accept());
      await pageA.click("#deprovision button[type=submit]");
      // The dry run's caption ("… would be deleted") also says "deleted":
      // wait until the real run's caption has replaced it.
      await pageA.waitForFunction(
        () => /^\d+ passkey/.test(document.querySelector("#deprovision-caption").textContent),
      );
      assert.match(await pageA.textContent("#deprovision-caption"), /^1 passkey\(s\) of 1 user\(s\) deleted/);
    });
  } finally {
    await browser.close();
  }
}

let code = 0;
try {
  await main();
} catch (e) {
  code = 1;
} finally {
  if (server) server.kill("SIGINT");
  rmSync(data, { recursive: true, force: true });
}
const failed = results.filter((r) => r[1] !== "ok").length;
console.log(`${results.length - failed} passed, ${failed} failed; screenshots in ${shots}`);
process.exit(code || (failed ? 1 : 0));
