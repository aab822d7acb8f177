// Loads rlws' test page in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core) and checks that every WebSocket connects and
// negotiates permessage-deflate, and that the counter, the shared canvas,
// the echo box and the status list work.
//
// Usage: node test_page.mjs http://127.0.0.1:PORT/
//        node test_page.mjs https://127.0.0.1:PORT/   (self-signed is fine)
// Over https the page must come over HTTP/2 and its WebSockets must be
// streams of that same connection (RFC 8441): the status list then shows
// one peer address for all of them.
// Prints one line per check and "N passed, M failed"; exits 1 on failure.
import { check, finish, launch } from './harness.mjs';

const url = process.argv[2];
if (!url) {
  console.error('usage: node test_page.mjs http://127.0.0.1:PORT/');
  process.exit(2);
}

const browser = await launch();
const secure = url.startsWith('https:');
const context = await browser.newContext({ ignoreHTTPSErrors: secure });
const page = await context.newPage();
page.setDefaultTimeout(10000);
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });

await check('page loads', async () => {
  const resp = await page.goto(url);
  if (!resp || resp.status() !== 200) throw new Error(`status ${resp && resp.status()}`);
  return await page.title();
});

await check('all four websockets connect and the page un-dims', async () => {
  await page.waitForFunction(() => document.body.dataset.connected === '1');
});

await check('every websocket negotiated permessage-deflate', async () => {
  const ext = await page.evaluate(() => window.rlwsTest.extensions);
  const names = ['dumb-increment-protocol', 'lws-mirror-protocol', 'rlws-echo', 'lws-status'];
  for (const n of names) {
    if (!ext[n] || !ext[n].includes('permessage-deflate')) throw new Error(`${n}: "${ext[n]}"`);
  }
  return names.map((n) => `${n}=${ext[n]}`).join('; ');
});

await check('the counter increases and resets', async () => {
  const read = () => page.$eval('#dumb-number', (e) => parseInt(e.textContent, 10));
  await page.waitForFunction(() => parseInt(document.querySelector('#dumb-number').textContent, 10) >= 10);
  const a = await read();
  await page.waitForTimeout(300);
  const b = await read();
  if (!(b > a)) throw new Error(`${a} then ${b}`);
  await page.click('#dumb-reset');
  await page.waitForFunction((hi) => parseInt(document.querySelector('#dumb-number').textContent, 10) < hi, b);
  return `${a} -> ${b}, reset to ${await read()}`;
});

await check('echo box gets its text back', async () => {
  const text = `hello from chromium ✓ ${Date.now()}`;
  await page.fill('#echo-input', text);
  await page.click('#echo-send');
  await page.waitForFunction((t) => document.querySelector('#echo-output').textContent.includes(t), text);
});

await check('drawing on the canvas comes back through the server', async () => {
  const blank = await page.evaluate(() => {
    const c = document.querySelector('#mirror-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) n++;
    return n;
  });
  const box = await page.locator('#mirror-canvas').boundingBox();
  await page.mouse.move(box.x + 50, box.y + 50);
  await page.mouse.down();
  for (let i = 0; i < 20; i++) await page.mouse.move(box.x + 50 + i * 10, box.y + 50 + i * 5);
  await page.mouse.up();
  await page.waitForFunction((before) => {
    const c = document.querySelector('#mirror-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) n++;
    return n > before + 100;
  }, blank);
});

await check('the status list shows the page\'s connections', async () => {
  await page.waitForFunction(() => document.querySelectorAll('#status-body tr').length >= 4);
  return `${await page.$$eval('#status-body tr', (r) => r.length)} rows`;
});

if (secure) {
  await check('over https the page comes by h2 and its websockets share that connection', async () => {
    const proto = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
    if (proto !== 'h2') throw new Error(`page protocol ${proto}`);
    const peers = await page.$$eval('#status-body tr', (rows) =>
      rows.map((r) => Array.from(r.cells).map((c) => c.textContent)));
    const addrs = new Set(peers.map((cells) => cells.find((t) => /^\d+\.\d+\.\d+\.\d+:\d+$/.test(t))));
    if (addrs.size !== 1 || addrs.has(undefined)) throw new Error(`peers ${JSON.stringify(peers)}`);
    return `${peers.length} websockets from ${[...addrs][0]}`;
  });
}

await check('a second page sees the first one\'s drawing (mirror broadcast)', async () => {
  const other = await context.newPage();
  await other.goto(url);
  await other.waitForFunction(() => document.body.dataset.connected === '1');
  const box = await page.locator('#mirror-canvas').boundingBox();
  await page.mouse.move(box.x + 300, box.y + 200);
  await page.mouse.down();
  for (let i = 0; i < 10; i++) await page.mouse.move(box.x + 300 + i * 5, box.y + 200);
  await page.mouse.up();
  await other.waitForFunction(() => {
    const c = document.querySelector('#mirror-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 200) return true;
    return false;
  });
  await other.close();
});

await check('no console errors', async () => {
  if (consoleErrors.length) throw new Error(consoleErrors.join(' | '));
});

await finish(browser);
