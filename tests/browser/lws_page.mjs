// Loads lws' own test page (test.html and test.js from Debian's
// libwebsockets-test-server) served by rlws in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core) and uses it as its user
// would: the counter runs, the mirror and status sockets open, the server
// info shows, "close testing" gets the server's close (1001, "seeya") and
// the browser's (3000) answered,
// and both POST forms come back with what was sent. Any page error fails.
//
// Usage: node lws_page.mjs http://127.0.0.1:PORT/
// Prints one line per check and "N passed, M failed"; exits 1 on failure.
import { check, finish, launch } from './harness.mjs';

const url = process.argv[2];
if (!url) {
  console.error('usage: node lws_page.mjs http://127.0.0.1:PORT/');
  process.exit(2);
}

const browser = await launch();
const context = await browser.newContext();
const page = await context.newPage();
page.setDefaultTimeout(10000);
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));
// The page alerts on exceptions in its socket code: that is an error too.
page.on('dialog', async (d) => { pageErrors.push(`dialog: ${d.message()}`); await d.dismiss(); });

await check('page loads', async () => {
  const resp = await page.goto(url);
  if (!resp || resp.status() !== 200) throw new Error(`status ${resp && resp.status()}`);
  return await page.title();
});

await check('the counter counts', async () => {
  await page.waitForFunction(() => /\d/.test(document.getElementById('number').textContent));
  const a = Number(await page.textContent('#number'));
  await page.waitForFunction((a) => Number(document.getElementById('number').textContent) > a, a);
  return `from ${a}`;
});

await check('the mirror socket opens', async () => {
  await page.waitForFunction(() => /opened/.test(document.getElementById('wslm_status').textContent));
});

await check('server info shows version, host and this client', async () => {
  await page.waitForFunction(() => /rlws/.test(document.getElementById('servinfo').textContent));
  await page.waitForFunction(() => /client 1/.test(document.getElementById('conninfo').textContent));
  return (await page.textContent('#servinfo')).trim().replace(/\s+/g, ' ');
});

await check('close testing: the server closes with 1001 "seeya"', async () => {
  await page.click('label[for="tab-3"]');
  await page.click('#ot_open_btn');
  await page.waitForFunction(() => /opened/.test(document.getElementById('ot_status').textContent));
  await page.click('#ot_req_close_btn');
  await page.waitForFunction(() => /CLOSED/.test(document.getElementById('ot_status').textContent));
  const s = await page.textContent('#ot_status');
  if (!/code: 1001, reason: seeya/.test(s)) throw new Error(s);
  return s.trim();
});

await check('close testing: the browser closes with 3000', async () => {
  await page.click('#ot_open_btn');
  await page.waitForFunction(() => /opened/.test(document.getElementById('ot_status').textContent));
  await page.click('#ot_close_btn');
  await page.waitForFunction(() => /CLOSED/.test(document.getElementById('ot_status').textContent));
  const s = await page.textContent('#ot_status');
  if (!/code: 3000/.test(s)) throw new Error(s);
  return s.trim();
});

await check('no page errors while the sockets ran', async () => {
  if (pageErrors.length) throw new Error(pageErrors.join(' | '));
});

await check('POST form 1 (urlencoded) comes back', async () => {
  await page.click('label[for="tab-5"]');
  const form = page.locator('form[action="formtest"]').first();
  await form.locator('input[name="text"]').fill('typed by chromium');
  await Promise.all([page.waitForNavigation(), form.locator('input[type="submit"]').click()]);
  const body = await page.textContent('body');
  if (!/typed by chromium/.test(body)) throw new Error(body.slice(0, 200));
  return page.url();
});

await check('POST form 2 (multipart with a file) comes back', async () => {
  await page.goto(url);
  await page.click('label[for="tab-5"]');
  const form = page.locator('form[name="multipart"]');
  await form.locator('input[name="text"]').fill('multipart text');
  await form.locator('input[type="file"]').setInputFiles({
    name: 'hello.txt', mimeType: 'text/plain', buffer: Buffer.from('x'.repeat(5000)),
  });
  await page.waitForFunction(() => !document.getElementById('upload').disabled);
  await Promise.all([page.waitForNavigation(), form.locator('#upload').click()]);
  const body = await page.textContent('body');
  if (!/multipart text/.test(body) || !/hello\.txt \(5000 bytes\)/.test(body)) {
    throw new Error(body.slice(0, 300));
  }
});

await check('no page errors at all', async () => {
  if (pageErrors.length) throw new Error(pageErrors.join(' | '));
});

await finish(browser);
