// End-to-end: seed 000's step-up login, driven through Auth0's own SPA SDK (@auth0/auth0-spa-js 2.27.0) in headless
// Chromium (Debian's /usr/bin/chromium, driven by playwright-core) against a running Gatehouse.
//
//   node tests/js/spa-step-up.mjs <issuer> <port> [client_id]
//
// <issuer> is Gatehouse's issuer (http://127.0.0.1:<gatehouse-port>/); <port> is the free 127.0.0.1 port this script
// serves the application on (the tenant's SPA client must have http://127.0.0.1:<port>/callback as a callback and
// http://127.0.0.1:<port> as an allowed origin); client_id defaults to "sdk-spa".
//
// The application is seed 000's client code (pages/seed-000.html), unchanged but for its constants: it calls
// loginWithRedirect with scope "openid profile email write:data" and acr_values
// http://schemas.openid.net/pfi/2021/04/acr/mfa. The browser lands on Gatehouse's login page; the script fills in
// jane@example.com's password; the user has no factor yet, so Gatehouse shows the authenticator-app enrollment page:
// the script reads the secret, computes the TOTP code itself (RFC 6238 below), passes the recovery-code page, and the
// callback page (pages/callback.html) has the SDK exchange the code and read its tokens back from its cache.
//
// Prints one JSON line ({"ok": true|false, ...}); exits 1 on failure, with a screenshot in /tmp.

import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const EMAIL = 'jane@example.com';
const PASSWORD = 'correct-horse-battery';
const AUDIENCE = 'https://api.example.com/';
const SCOPE = 'openid profile email write:data'; // the seed's REQUIRED_SCOPES_FOR_THIS_PAGE
const SEED_ACR = 'http://schemas.openid.net/pfi/2021/04/acr/mfa';
const STEP_TIMEOUT_MS = 20_000;
// Diagnostics only, never set by the tests: GATEHOUSE_E2E_BYPASS_CSP=1 makes Chromium ignore the pages'
// Content-Security-Policy, to look at the rest of the flow while the hosted pages' `form-action 'self'` blocks the
// redirect back to the application. The result then says "bypass_csp": true, and spa_sdk.rs rejects it.
const BYPASS_CSP = process.env.GATEHOUSE_E2E_BYPASS_CSP === '1';

// ---- RFC 6238 TOTP (HMAC-SHA1, 30-second steps, 6 digits), with RFC 4648 base32 secrets ----

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.replace(/[\s=-]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const index = alphabet.indexOf(ch);
    if (index < 0) throw new Error(`not a base32 character: ${JSON.stringify(ch)}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function hotp(key, counter, digits = 6) {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(message).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(binary % 10 ** digits).padStart(digits, '0');
}

function totp(secretBase32, unixSeconds = Date.now() / 1000, step = 30, digits = 6) {
  return hotp(base32Decode(secretBase32), Math.floor(unixSeconds / step), digits);
}

// RFC 6238 Appendix B, SHA1 rows (8 digits, the 20-byte ASCII key "12345678901234567890").
function selfTest() {
  const key = Buffer.from('12345678901234567890');
  const vectors = [[59, '94287082'], [1111111109, '07081804'], [1111111111, '14050471'], [1234567890, '89005924'], [2000000000, '69279037'], [20000000000, '65353130']];
  for (const [time, code] of vectors) {
    const got = hotp(key, Math.floor(time / 30), 8);
    if (got !== code) throw new Error(`TOTP self-test failed at T=${time}: ${got} != ${code}`);
  }
  if (base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ').toString() !== '12345678901234567890') {
    throw new Error('base32 self-test failed');
  }
}

// ---- The application: seed 000's page, the callback page and the SDK, on 127.0.0.1:<port> ----

function startApp(port, constants) {
  const sdkPath = require.resolve('@auth0/auth0-spa-js/dist/auth0-spa-js.production.js');
  const sdk = readFileSync(sdkPath);
  const fill = (file, values) => {
    let html = readFileSync(join(here, 'pages', file), 'utf8');
    for (const [name, value] of Object.entries(values)) html = html.replaceAll(`{{${name}}}`, value);
    return html;
  };
  // JSON.stringify leaves "</script>" alone: escape "<" so the constants cannot end the script element.
  const asJs = (v) => JSON.stringify(v).replace(/</g, '\\u003c');
  const seedPage = fill('seed-000.html', {
    DOMAIN: constants.DOMAIN,
    CLIENTID: constants.CLIENTID,
    AUDIENCE: constants.AUDIENCE,
    REDIRECT: constants.REDIRECT,
  });
  const callbackPage = fill('callback.html', { CONFIG: asJs({ ...constants, SCOPE }) });
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://127.0.0.1').pathname;
    const send = (status, type, body) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (path === '/' || path === '/index.html') return send(200, 'text/html; charset=utf-8', seedPage);
    if (path === '/callback') return send(200, 'text/html; charset=utf-8', callbackPage);
    if (path === '/auth0-spa-js.production.js') return send(200, 'text/javascript; charset=utf-8', sdk);
    return send(404, 'text/plain', 'not found');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

// ---- The browser ----

async function run(issuer, port, clientId) {
  const issuerUrl = new URL(issuer);
  const origin = issuerUrl.origin; // DOMAIN: the SDK accepts http://127.0.0.1:<port> and adds /authorize etc.
  const appOrigin = `http://127.0.0.1:${port}`;
  const constants = { DOMAIN: origin, CLIENTID: clientId, AUDIENCE, REDIRECT: `${appOrigin}/callback` };
  const result = { ok: false, issuer, app: appOrigin, client_id: clientId, bypass_csp: BYPASS_CSP, steps: [] };
  const step = (name) => result.steps.push(name);
  const browserLog = [];
  const failures = [];

  const app = await startApp(port, constants);
  const profile = mkdtempSync(join(tmpdir(), 'gatehouse-chromium-'));
  let context;
  let page;
  try {
    // Debian's Chromium (Playwright's own browser download does not work here). launchPersistentContext gives it
    // a fresh, empty --user-data-dir; Playwright adds --headless.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      timeout: 60_000,
      bypassCSP: BYPASS_CSP,
    });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => browserLog.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => browserLog.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => failures.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.origin === origin && url.pathname === '/authorize') result.authorize_params = Object.fromEntries(url.searchParams);
      if (url.origin === origin && url.pathname === '/oauth/token') result.token_request = { method: r.method(), content_type: r.headers()['content-type'] ?? null };
    });
    page.on('response', (r) => {
      const url = new URL(r.url());
      if (url.origin === origin && url.pathname === '/oauth/token') result.token_status = r.status();
    });

    // 1. The application's page runs the seed's code: createAuth0Client, then loginWithRedirect.
    await page.goto(`${appOrigin}/`);
    step('app');
    await page.waitForURL((u) => u.origin === origin && u.pathname === '/u/login');
    step('login page');
    if (!result.authorize_params) throw new Error('the SDK did not call /authorize');

    // 2. Gatehouse's login page: email and password.
    await page.locator('input[name="email"]').fill(EMAIL);
    await page.locator('input[name="password"]').fill(PASSWORD);
    await page.locator('form[action="/u/login"] button[type="submit"]').click();
    step('password');

    // 3. Jane has no factor: the enrollment page (the answer to the form post) shows the authenticator app's secret.
    const secretBox = page.locator('.secret');
    await secretBox.waitFor({ state: 'visible' });
    const secret = (await secretBox.innerText()).trim();
    step('enrollment');
    // Not in the last two seconds of a step: the code would change on the way.
    if (Date.now() / 1000 % 30 > 28) await page.waitForTimeout(2500);
    const code = totp(secret);
    await page.locator('form[action="/u/mfa"] input[name="code"]').fill(code);
    await page.locator('form[action="/u/mfa"] button[type="submit"]').click();
    step('otp');

    // 4. The recovery code, shown once; then back to the application.
    await page.locator('#recovery-code').waitFor({ state: 'visible' });
    result.recovery_code_shown = true;
    step('recovery code');
    await page.locator('form[action="/u/mfa/recovery-saved"] button[type="submit"]').click();

    // 5. The application's redirect URI is on 127.0.0.1, which no one can verify as first-party: the consent page,
    // listing what the SDK asked for, even for this first-party application (as Auth0 does on localhost).
    const accept = page.locator('form[action="/u/consent"] input[value="accept"] ~ button');
    await accept.waitFor({ state: 'visible' });
    result.consent_scopes = await page.locator('ul.scopes li').allInnerTexts();
    step('consent');
    await Promise.all([
      page.waitForURL((u) => u.origin === appOrigin && u.pathname === '/callback'),
      accept.click(),
    ]);
    step('callback');
    result.callback_params = Object.keys(Object.fromEntries(new URL(page.url()).searchParams)).sort();

    // 6. The callback page: handleRedirectCallback, then the SDK's cached tokens.
    await page.waitForFunction(() => window.__result !== undefined);
    result.sdk = await page.evaluate(() => window.__result);
    step('sdk');
    if (!result.sdk.ok) throw new Error(`the SDK failed on the callback page: ${result.sdk.error}: ${result.sdk.error_description}`);

    // 7. The step-up: write:data granted, MFA in the ID token.
    const access = result.sdk.access_token ?? {};
    const id = result.sdk.id_token ?? {};
    const scopes = String(access.scope ?? '').split(' ');
    const problems = [];
    if (!scopes.includes('write:data')) problems.push(`access token scope ${JSON.stringify(access.scope)} lacks write:data`);
    const aud = [].concat(access.aud ?? []);
    if (!aud.includes(AUDIENCE)) problems.push(`access token aud ${JSON.stringify(access.aud)} lacks ${AUDIENCE}`);
    if (JSON.stringify(id.amr) !== JSON.stringify(['mfa'])) problems.push(`ID token amr is ${JSON.stringify(id.amr)}, expected ["mfa"]`);
    if (id.iss !== issuer) problems.push(`ID token iss ${JSON.stringify(id.iss)} != ${issuer}`);
    if (id.aud !== clientId && ![].concat(id.aud ?? []).includes(clientId)) problems.push(`ID token aud ${JSON.stringify(id.aud)}`);
    if (id.email !== EMAIL) problems.push(`ID token email ${JSON.stringify(id.email)}`);
    if (!result.sdk.is_authenticated) problems.push('isAuthenticated() is false');
    if (problems.length) throw new Error(problems.join('; '));
    result.ok = true;
  } catch (e) {
    result.error = e?.message ?? String(e);
    if (page) {
      result.url = page.url();
      const shot = `/tmp/gatehouse-spa-step-up-${Date.now()}.png`;
      try {
        await page.screenshot({ path: shot, fullPage: true });
        result.screenshot = shot;
      } catch (err) {
        result.screenshot_error = String(err?.message ?? err);
      }
      try {
        result.page_text = (await page.locator('body').innerText({ timeout: 2000 })).slice(0, 1500);
      } catch {
        // The page may be gone.
      }
    }
  } finally {
    if (!result.ok) {
      result.browser_log = browserLog.slice(-30);
      result.failed_requests = failures.slice(-30);
    }
    await context?.close().catch(() => {});
    await new Promise((resolve) => app.close(resolve));
    rmSync(profile, { recursive: true, force: true });
  }
  return result;
}

async function main() {
  const [issuer, portText, clientId = 'sdk-spa'] = process.argv.slice(2);
  const port = Number(portText);
  if (!issuer || !/^https?:\/\//.test(issuer) || !Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error('usage: node spa-step-up.mjs <issuer> <port> [client_id]');
    process.exit(2);
  }
  selfTest();
  let result;
  try {
    result = await run(issuer, port, clientId);
  } catch (e) {
    result = { ok: false, error: e?.message ?? String(e) };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = result.ok ? 0 : 1;
}

await main();
