// What the browser checks share: Debian's Chromium launched headless by
// playwright-core, one check per line ("PASS name" / "FAIL name: why"),
// and the "N passed, M failed" summary with the exit status.
import { chromium } from 'playwright-core';

let passed = 0;
let failed = 0;

export async function check(name, fn) {
  try {
    const detail = await fn();
    passed++;
    console.log(`PASS ${name}${detail ? ': ' + detail : ''}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.message ? e.message.split('\n')[0] : e}`);
  }
}

export async function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    timeout: 30000,
  });
}

export async function finish(browser) {
  await browser.close();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
