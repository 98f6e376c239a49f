// The support console, end to end in Debian's Chromium:
// staff sign in, switch JIT with a reason, a new person signs in through the demo
// provider, and the person shows in the roster and the audit trail.
// Usage: node admin.mjs <base-url> <staff-token> <screenshot-dir>
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base, token, out] = process.argv.slice(2);
if (!base || !token || !out) {
  console.error('usage: node admin.mjs <base-url> <staff-token> <screenshot-dir>');
  process.exit(2);
}
mkdirSync(out, { recursive: true });

function expect(cond, what) {
  if (!cond) throw new Error(`expected: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const staff = await (await browser.newContext()).newPage();
  await staff.goto(`${base}/admin`);
  await staff.fill('#token', token);
  await staff.click('button[type=submit]');
  await staff.waitForSelector('h1:has-text("Tenants")');
  expect(await staff.textContent('td[data-jit="demo"]') === 'on', 'the demo tenant starts with JIT on');

  for (const [state, reason] of [['off', 'browser test: pause'], ['on', 'browser test: customer asked for JIT']]) {
    await staff.fill('input[name=reason]', reason);
    await staff.click(`button:has-text("Turn JIT ${state}")`);
    await staff.waitForSelector('h1:has-text("Tenants")');
    expect((await staff.textContent('td[data-jit="demo"]')) === state, `JIT is ${state}`);
  }
  await staff.screenshot({ path: `${out}/1-tenants.png`, fullPage: true });

  // An unknown person signs in through the demo provider in a browser of their own.
  const person = await (await browser.newContext()).newPage();
  await person.goto(`${base}/t/demo/login`);
  await person.fill('#given_name', 'Nora');
  await person.fill('#family_name', 'Nilsen');
  await person.fill('#email', 'nora@browser.example');
  await person.screenshot({ path: `${out}/2-provider.png`, fullPage: true });
  await person.click('button[type=submit]');
  await person.waitForSelector('h1:has-text("Welcome, Nora!")');
  await person.screenshot({ path: `${out}/3-signed-in.png`, fullPage: true });

  await staff.goto(`${base}/admin/t/demo/roster`);
  await staff.fill('#q', 'nora');
  await staff.click('button:has-text("Search")');
  await staff.waitForSelector('td:has-text("nora@browser.example")');
  await staff.screenshot({ path: `${out}/4-roster.png`, fullPage: true });

  await staff.goto(`${base}/admin/t/demo/audit`);
  const trail = await staff.textContent('main');
  expect(trail.includes('profile_created'), 'the creation is in the audit trail');
  expect(trail.includes('jit_changed') && trail.includes('customer asked for JIT'), 'the JIT change and its reason are audited');
  await staff.screenshot({ path: `${out}/5-audit.png`, fullPage: true });

  await staff.goto(`${base}/admin/t/demo?check=1`);
  await staff.waitForSelector('h2:has-text("Integration check")');
  await staff.screenshot({ path: `${out}/6-check.png`, fullPage: true });
  console.log('BROWSER OK');
} finally {
  await browser.close();
}
