// Sign-up, email verification and password reset in Debian's Chromium (playwright-core), in English and Japanese
// (issue 16). For each language, in its own browser context:
//   signup  /authorize?screen_hint=signup opens the sign-up form; typing a weak then a strong password ticks the
//           rules (the page's one script, allowed by its CSP hash: a Content-Security-Policy violation fails the
//           run); submitting ends at the application's callback with a code;
//   verify  the verification link from the outbox says the address is verified;
//   reset   "Forgot your password?" on the login page mails a link; the tenant's password-reset-post-challenge
//           action asks for an email code first (the login's MFA page, in the link's language); then the page takes
//           the new password twice and says it was changed.
// Screenshots of every page go to the output folder.
//
//   node tests/js/accounts-browser.mjs <issuer> <outbox folder> <output folder>
//
// Prints one JSON line: { ok, en: {...}, ja: {...}, error? }.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

const [issuer, outbox, out] = process.argv.slice(2);
const STRONG = 'Sunflower-Meadow-42';

function authorizeUrl(extra) {
  const params = new URLSearchParams({
    client_id: 'test-spa', response_type: 'code', redirect_uri: 'https://spa.example.com/callback',
    scope: 'openid email', state: 's', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256', ...extra,
  });
  return `${issuer}authorize?${params}`;
}

/** The newest link to `path` mailed to `to`, waiting up to 20 s for it. */
async function mailedLink(to, path) {
  const deadline = Date.now() + 20000;
  for (;;) {
    const files = readdirSync(outbox).filter((f) => f.endsWith('.eml')).sort().reverse();
    for (const file of files) {
      const text = readFileSync(join(outbox, file), 'utf8');
      if (text.includes(`To: ${to}`) && text.includes(path)) {
        return text.slice(text.indexOf('http', text.indexOf(path) - issuer.length - 8)).split(/\s/)[0];
      }
    }
    if (Date.now() > deadline) throw new Error(`no ${path} email for ${to}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The newest MFA code mailed to `to` after `after` emails, waiting up to 20 s for it. */
async function mailedCode(to, after) {
  const deadline = Date.now() + 20000;
  for (;;) {
    const files = readdirSync(outbox).filter((f) => f.endsWith('.eml')).sort();
    for (const file of files.slice(after).reverse()) {
      const text = readFileSync(join(outbox, file), 'utf8');
      const match = text.includes(`To: ${to}`) && /(?:code is: |確認コード: )(\d{6})/.exec(text);
      if (match) return match[1];
    }
    if (Date.now() > deadline) throw new Error(`no MFA code for ${to}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function emailCount() {
  return readdirSync(outbox).filter((f) => f.endsWith('.eml')).length;
}

async function ticked(page) {
  return page.$$eval('#rules > li', (items) => items.map((li) => li.classList.contains('met')));
}

async function run(browser, locale) {
  const lang = locale.slice(0, 2);
  const email = `browser-${lang}@example.com`;
  const context = await browser.newContext({ locale, viewport: { width: 480, height: 900 } });
  const violations = [];
  let page = await context.newPage();
  page.on('console', (m) => { if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text()); });
  const result = {};

  await page.goto(authorizeUrl({ screen_hint: 'signup' }));
  await page.waitForSelector('#rules');
  result.signup_heading = await page.textContent('h1');
  await page.fill('#email', email);
  await page.fill('#password', 'abc');
  result.weak = await ticked(page);
  await page.fill('#password', STRONG);
  result.strong = await ticked(page);
  await page.screenshot({ path: join(out, `signup-${lang}.png`), fullPage: true });
  // The login ends with a redirect to the application's callback (not running here: the request is enough).
  const [callback] = await Promise.all([
    page.waitForRequest(/spa\.example\.com\/callback/),
    page.click('button[type=submit]'),
  ]);
  result.callback_has_code = new URL(callback.url()).searchParams.has('code');
  await page.close();
  // The rest in a new tab of the same browser (the first one is left on the unreachable callback).
  page = await context.newPage();
  page.on('console', (m) => { if (/Content.Security.Policy/i.test(m.text())) violations.push(m.text()); });

  await page.goto(await mailedLink(email, '/u/email-verification?ticket='));
  result.verified_heading = await page.textContent('h1');
  await page.screenshot({ path: join(out, `verified-${lang}.png`), fullPage: true });

  await page.goto(authorizeUrl({ prompt: 'login' }));
  await page.waitForSelector('#password');
  await Promise.all([page.waitForURL(/reset-password\/request/), page.click('a[href*="reset-password/request"]')]);
  await page.fill('#email', email);
  await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
  result.requested_text = await page.textContent('main p');
  const link = await mailedLink(email, '/u/reset-password?ticket=');
  const before = emailCount();
  await page.goto(link);
  // The post-challenge action's email code, on the login's MFA page.
  await page.waitForSelector('#code');
  result.challenge_heading = await page.textContent('h1');
  await page.screenshot({ path: join(out, `reset-challenge-${lang}.png`), fullPage: true });
  await page.fill('#code', await mailedCode(email, before));
  await Promise.all([page.waitForSelector('#rules'), page.click('button[type=submit]')]);
  result.reset_heading = await page.textContent('h1');
  await page.fill('#password', 'Another-Meadow-43');
  await page.fill('#password_confirm', 'Another-Meadow-43');
  result.reset_ticked = await ticked(page);
  await page.screenshot({ path: join(out, `reset-${lang}.png`), fullPage: true });
  await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
  result.changed_heading = await page.textContent('h1');
  await page.screenshot({ path: join(out, `reset-done-${lang}.png`), fullPage: true });
  result.csp_violations = violations;
  await context.close();
  return result;
}

let browser;
try {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const report = { ok: true, en: await run(browser, 'en-US'), ja: await run(browser, 'ja-JP') };
  console.log(JSON.stringify(report));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String((e && e.stack) || e) }));
} finally {
  if (browser) await browser.close();
}
