// webui.test.mjs — the Web UI's acceptance test (issue 6), driven through Debian's chromium by
// playwright-core and run by node's own test runner (`node --test`). tests/e2e/test_webui.py
// starts the real gateway with its peers and passes, in the environment:
//   WEBUI_URL          http://127.0.0.1:<admin port>
//   WEBUI_USER, WEBUI_PASSWORD
//   SMTP_PORT          the gateway's listener
//   CUSTOM_INTAKE      the intake address to set on the Support policy through the UI
//   GLOBAL_INTAKE      the global intake address (shown in "Use Global Settings (...)")
//   MESSAGE_ID         the Message-ID of the message this test sends
//   WEBUI_OUT          where screenshots go (one PNG per page)
// The tests below run in order and share one browser session.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { commitChanges } from './browser.mjs';

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `environment variable ${name} is required (run through test_webui.py)`);
  return value;
};
const URL_BASE = env('WEBUI_URL');
const USER = env('WEBUI_USER');
const PASSWORD = env('WEBUI_PASSWORD');
const SMTP_PORT = Number(env('SMTP_PORT'));
const CUSTOM = env('CUSTOM_INTAKE');
const GLOBAL = env('GLOBAL_INTAKE');
const MESSAGE_ID = env('MESSAGE_ID');
const OUT = env('WEBUI_OUT');

let browser;
let context;
let page;
let profile;
let originalMid;

before(async () => {
  mkdirSync(OUT, { recursive: true });
  profile = mkdtempSync(path.join(tmpdir(), 'tidegate-webui-chromium-'));
  // A persistent context is the way to give chromium a fresh user-data-dir of our own.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1366, height: 800 },
  });
  browser = context.browser();
  page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(15000);
});

after(async () => {
  await context?.close();
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const shot = async (name) => {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
};

// Reloads `url` until check() is true (bounded): tracking and counters lag the mail a little.
const poll = async (url, check, what, timeoutMs = 30000) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.goto(url);
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`${what}: not seen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
};

// A minimal SMTP client: one message, every reply checked.
const sendMail = (from, to, data) => new Promise((resolve, reject) => {
  const socket = net.connect(SMTP_PORT, '127.0.0.1');
  socket.setTimeout(20000, () => socket.destroy(new Error('SMTP timeout')));
  const steps = [
    [null, 220], ['EHLO webui.test', 250], [`MAIL FROM:<${from}>`, 250],
    [`RCPT TO:<${to}>`, 250], ['DATA', 354], [`${data.replace(/\r?\n/g, '\r\n')}\r\n.`, 250],
    ['QUIT', 221],
  ];
  let buffer = '';
  let step = 0;
  const next = () => {
    if (step === steps.length) { socket.end(); resolve(); return; }
    const [command] = steps[step];
    if (command !== null) socket.write(`${command}\r\n`);
  };
  socket.on('data', (chunk) => {
    buffer += chunk.toString('latin1');
    // A complete reply ends with a line "NNN text" (no dash after the code).
    const lines = buffer.split('\r\n');
    const last = lines.length >= 2 ? lines[lines.length - 2] : '';
    if (!/^\d{3}( |$)/.test(last)) return;
    const code = Number(last.slice(0, 3));
    buffer = '';
    const [command, expected] = steps[step];
    if (code !== expected) {
      socket.destroy();
      reject(new Error(`SMTP ${command ?? 'greeting'}: expected ${expected}, got ${last}`));
      return;
    }
    step += 1;
    next();
  });
  socket.on('error', reject);
});

test('pages without a session redirect to the login', async () => {
  for (const p of ['/ui/tdc', '/ui/policies', '/ui/status', '/ui/tracking', '/ui/tracking/1']) {
    const r = await fetch(URL_BASE + p, { redirect: 'manual' });
    assert.equal(r.status, 302, p);
    assert.match(r.headers.get('location'), /^\/login/, p);
  }
  const post = await fetch(`${URL_BASE}/ui/tdc`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'enabled=on&intake_address=x%40intake.test',
  });
  assert.notEqual(post.status, 200);
  assert.notEqual(post.status, 303);
  await page.goto(`${URL_BASE}/ui/policies`);
  assert.match(new URL(page.url()).pathname, /^\/login/);
  await shot('01-login');
});

test('log in', async () => {
  await page.fill('#user', USER);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(/\/ui\/policies$/), page.click('main button[type=submit]')]);
  assert.equal(await page.locator('h1').innerText(), 'Incoming Mail Policies');
});

test('a form post without the CSRF token is refused', async () => {
  // page.request carries the session cookie, but no csrf_token field.
  const r = await page.request.post(`${URL_BASE}/ui/tdc`, {
    form: { enabled: 'on', intake_address: 'evil@intake.test' }, maxRedirects: 0,
  });
  assert.equal(r.status(), 403);
  const wrong = await page.request.post(`${URL_BASE}/ui/policies/Support/tdc`, {
    form: { csrf_token: 'not-the-token', mode: 'off' }, maxRedirects: 0,
  });
  assert.equal(wrong.status(), 403);
  await page.goto(`${URL_BASE}/ui/tdc`);
  assert.equal(await page.inputValue('#intake_address'), GLOBAL);
});

test('Threat Defense Connector Settings: validation error beside the field', async () => {
  await page.goto(`${URL_BASE}/ui/tdc`);
  assert.ok(await page.isChecked('#enabled'));
  await page.fill('#intake_address', 'not an <address>');
  await page.click('main button[type=submit]');
  const error = page.locator('#intake_address-error');
  assert.ok((await error.innerText()).length > 0);
  assert.equal(await page.inputValue('#intake_address'), 'not an <address>');
  await shot('02-tdc-settings-error');
  // Nothing was changed: the page shows the global address again.
  await page.goto(`${URL_BASE}/ui/tdc`);
  assert.equal(await page.inputValue('#intake_address'), GLOBAL);
  // Submitting the unchanged form commits and says so.
  await Promise.all([page.waitForURL(/saved=1/), page.click('main button[type=submit]')]);
  assert.match(await page.locator('.notice').innerText(), /in effect/);
  await shot('03-tdc-settings');
});

test('set a custom intake address on a policy', async () => {
  await page.goto(`${URL_BASE}/ui/policies`);
  const row = page.locator('tr[data-policy="Support"]');
  assert.equal(await row.locator('td.tdc').innerText(), '(use default)');
  assert.equal(await page.locator('tr[data-policy="Legal"] td.tdc').innerText(), 'Disabled');
  assert.equal(await page.locator('tr[data-policy="DEFAULT"] td.tdc').innerText(), 'Enabled');
  // DEFAULT cannot be moved, edited or deleted: no controls for it.
  assert.equal(await page.locator('tr[data-policy="DEFAULT"] td.actions').innerText(), '');
  await shot('04-policies');

  await page.goto(`${URL_BASE}/ui/policies/DEFAULT/tdc`);
  assert.equal(await page.locator('#mode-default').count(), 0);

  await page.goto(`${URL_BASE}/ui/policies`);
  await row.locator('td.tdc a').click();
  await page.waitForURL(/\/ui\/policies\/Support\/tdc$/);
  assert.equal(await page.locator('label[for=mode-global]').innerText(),
    `Use Global Settings (${GLOBAL})`);
  assert.equal(await page.locator('label[for=mode-custom]').innerText(),
    'Use custom Message Intake Address');
  assert.equal(await page.locator('label[for=mode-off]').innerText(), 'No');
  assert.equal(await page.locator('label[for=mode-default]').innerText(),
    'Use Default Policy settings');
  assert.ok(await page.isChecked('#mode-default'));
  // An invalid custom address: the error beside the field, the entered value kept.
  await page.check('#mode-custom');
  await page.fill('#intake_address', 'nobody@[127.0.0.1]');
  await page.click('main button[type=submit]');
  assert.ok((await page.locator('#intake_address-error').innerText()).length > 0);
  assert.equal(await page.inputValue('#intake_address'), 'nobody@[127.0.0.1]');
  assert.ok(await page.isChecked('#mode-custom'));

  await page.fill('#intake_address', CUSTOM);
  await shot('05-policy-tdc');
  await Promise.all([page.waitForURL(/\/ui\/policies\?saved=1$/),
    page.click('main button[type=submit]')]);
  assert.equal(await row.locator('td.tdc').innerText(), 'Enabled');
  await page.goto(`${URL_BASE}/ui/policies/Support/tdc`);
  assert.ok(await page.isChecked('#mode-custom'));
  assert.equal(await page.inputValue('#intake_address'), CUSTOM);
  // Saved into the staged copy (CONTRACT §12): in effect once committed.
  assert.equal(await page.locator('#uncommitted').count(), 1);
  await commitChanges(page, 'Support journaled to its own intake');
  assert.equal(await page.locator('#uncommitted').count(), 0);
});

test('send a message through the gateway', async () => {
  await sendMail('alice@sender.test', 'sue@support.example.com',
    `From: alice@sender.test\nTo: sue@support.example.com\nSubject: web ui check\n` +
    `Message-ID: ${MESSAGE_ID}\n\nhello from the browser test\n`);
});

test('Delivery Status shows the.tdc.queue', async () => {
  const cell = (n) => page.locator(`tr[data-host="the.tdc.queue"] td:nth-child(${n})`);
  await poll(`${URL_BASE}/ui/status`, async () => (await cell(1).count()) === 1 &&
    Number((await cell(5).innerText()).replace(/,/g, '')) >= 1,
  'the.tdc.queue with a delivered recipient');
  // The page refreshes itself without a script.
  assert.equal(await page.locator('meta[http-equiv=refresh]').count(), 1);
  await shot('06-delivery-status');
});

test('Message Tracking finds the message with its TDC line', async () => {
  await page.goto(`${URL_BASE}/ui/tracking`);
  await page.fill('#message_id', MESSAGE_ID);
  // Journal copies are hidden unless asked for (CONTRACT §12).
  await page.check('#include_journal');
  await Promise.all([page.waitForURL(/message_id=.*include_journal=1/),
    page.click('main button[type=submit]')]);
  const rows = page.locator('#results tbody tr[data-mid]');
  await poll(page.url(), async () => (await rows.count()) >= 2, 'original and journal copy');
  await shot('07-tracking-search');
  const original = page.locator('#results tbody tr[data-mid]', { hasText: 'Support' })
    .filter({ hasNotText: 'journal copy' });
  assert.equal(await original.count(), 1);
  originalMid = await original.getAttribute('data-mid');
  await original.locator('td:first-child a').click();
  await page.waitForURL(new RegExp(`/ui/tracking/${originalMid}$`));
  const line = /TDC: Message \d+ was successfully delivered for scanning with Secure Email Threat Defense\./;
  await poll(page.url(), async () => line.test(await page.locator('#events').innerText()),
    'the TDC line on the original');
  // CONTRACT §7's line format.
  assert.match(await page.locator('#events li').first().innerText(),
    /^\d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \(GMT [+-]\d\d:\d\d\) /);
  await shot('08-tracking-original');
  // Original -> copy -> original.
  const copyHref = await page.locator('#copies a').first().getAttribute('href');
  await Promise.all([page.waitForURL((u) => u.pathname === copyHref),
    page.locator('#copies a').first().click()]);
  assert.match(await page.locator('#summary').innerText(), new RegExp(CUSTOM.replace(/\./g, '\\.')));
  assert.equal(await page.locator('#original a').innerText(), originalMid);
  await shot('09-tracking-copy');
  await page.locator('#original a').click();
  await page.waitForURL(new RegExp(`/ui/tracking/${originalMid}$`));
});

test('add, edit, reorder and delete a policy', async () => {
  const names = async () => page.locator('#policies tbody tr').evaluateAll(
    (trs) => trs.map((tr) => tr.dataset.policy));
  await page.goto(`${URL_BASE}/ui/policies`);
  await page.click('text=Add Policy...');
  // Escaped, and refused beside the field.
  await page.fill('#name', '<b>bold</b>');
  await page.fill('#recipients', '@web.example.com');
  await page.click('main button[type=submit]');
  assert.match(await page.locator('#name-error').innerText(), /<b>bold<\/b>/);
  assert.equal(await page.locator('#name-error b').count(), 0);
  await page.fill('#name', 'WebTest');
  await page.selectOption('#position', '1');
  await shot('10-policy-add');
  await Promise.all([page.waitForURL(/\/ui\/policies\?saved=1$/),
    page.click('main button[type=submit]')]);
  assert.deepEqual(await names(), ['WebTest', 'Sales', 'Legal', 'Support', 'DEFAULT']);
  assert.equal(await page.locator('tr[data-policy="WebTest"] td.tdc').innerText(),
    '(use default)');

  const move = async (title) => {
    await page.goto(`${URL_BASE}/ui/policies`);
    await Promise.all([page.waitForURL(/\/ui\/policies\?saved=1$/),
      page.click(`button[title="${title}"]`)]);
  };
  await move('Move WebTest down');
  assert.deepEqual(await names(), ['Sales', 'WebTest', 'Legal', 'Support', 'DEFAULT']);
  await move('Move Support up');
  assert.deepEqual(await names(), ['Sales', 'WebTest', 'Support', 'Legal', 'DEFAULT']);
  await move('Move Legal up');
  assert.deepEqual(await names(), ['Sales', 'WebTest', 'Legal', 'Support', 'DEFAULT']);
  // Neither the first policy up nor the one above DEFAULT down: DEFAULT stays last.
  assert.equal(await page.locator('button[title="Move Sales up"]').count(), 0);
  assert.equal(await page.locator('button[title="Move Support down"]').count(), 0);

  await page.locator('tr[data-policy="WebTest"] td.actions a', { hasText: 'Edit' }).click();
  assert.equal(await page.inputValue('#recipients'), '@web.example.com');
  await page.fill('#name', 'WebTest2');
  await page.fill('#senders', 'boss@sender.test');
  await Promise.all([page.waitForURL(/\/ui\/policies\?saved=1$/),
    page.click('main button[type=submit]')]);
  assert.deepEqual(await names(), ['Sales', 'WebTest2', 'Legal', 'Support', 'DEFAULT']);
  assert.equal(await page.locator('tr[data-policy="WebTest2"] td:nth-child(4)').innerText(),
    'boss@sender.test');

  await page.locator('tr[data-policy="WebTest2"] td.actions a', { hasText: 'Delete' }).click();
  await page.waitForURL(/\/ui\/policies\/WebTest2\/delete$/);
  await shot('11-policy-delete-confirm');
  await Promise.all([page.waitForURL(/\/ui\/policies\?saved=1$/),
    page.click('main button[type=submit]')]);
  assert.deepEqual(await names(), ['Sales', 'Legal', 'Support', 'DEFAULT']);
  if (await page.locator('#uncommitted').count() > 0) await commitChanges(page, 'policy round trip');

  // DEFAULT's delete page refuses.
  await page.goto(`${URL_BASE}/ui/policies/DEFAULT/delete`);
  assert.match(await page.locator('.alert').innerText(), /cannot be deleted/);
  await page.goto(`${URL_BASE}/ui/policies`);
  await shot('12-policies-final');
});

test('log out ends the session', async () => {
  await page.click('text=Log Out');
  await page.goto(`${URL_BASE}/ui/status`);
  assert.match(new URL(page.url()).pathname, /^\/login/);
});
