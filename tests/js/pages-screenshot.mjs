// Screenshots of Gatehouse's hosted login page in English and Japanese, in Debian's Chromium (playwright-core), and
// the fonts Chromium actually drew each page's heading with (DevTools' CSS.getPlatformFontsForNode): a Japanese
// heading must be drawn with a Japanese font, not boxes.
//
//   node tests/js/pages-screenshot.mjs <authorize URL> <output folder>
//
// Prints one JSON line: { ok, pages: { en: { heading, fonts }, ja: { ... } }, error? }.
import { join } from 'node:path';

import { chromium } from 'playwright-core';

const [url, out] = process.argv.slice(2);

async function shoot(browser, locale) {
  const context = await browser.newContext({ locale, viewport: { width: 480, height: 640 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForSelector('h1');
  const heading = await page.textContent('h1');
  await page.screenshot({ path: join(out, `login-${locale.slice(0, 2)}.png`), fullPage: true });
  const cdp = await context.newCDPSession(page);
  await cdp.send('DOM.enable');
  await cdp.send('CSS.enable');
  const { root } = await cdp.send('DOM.getDocument');
  const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector: 'h1' });
  const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
  await context.close();
  return { heading, fonts: fonts.map((f) => ({ family: f.familyName, glyphs: f.glyphCount })) };
}

let browser;
try {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const pages = { en: await shoot(browser, 'en-US'), ja: await shoot(browser, 'ja-JP') };
  console.log(JSON.stringify({ ok: true, pages }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e && e.stack || e) }));
} finally {
  if (browser) await browser.close();
}
