// security.test.mjs — the content-security pages of the Web UI (issue 16, CONTRACT §10) in
// Debian's chromium through playwright-core, run by node's test runner. tests/e2e/
// test_webui_security.py starts the gateway (three messages already in its quarantine: 9001 and
// 9002 in Spam, 9003 in Virus, stored in that order; a fake rspamd answering pong; nothing
// listening at the clamd address) and passes, in the environment:
//   WEBUI_URL, WEBUI_USER, WEBUI_PASSWORD, RSPAMD_URL, CLAMD_ADDRESS, WEBUI_OUT (screenshots)
// The tests below run in order and share one browser session; the Python side then checks the
// config file, the next hop and the mail log.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { commitChanges } from './browser.mjs';

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `environment variable ${name} is required (run through test_webui_security.py)`);
  return value;
};
const URL_BASE = env('WEBUI_URL');
const USER = env('WEBUI_USER');
const PASSWORD = env('WEBUI_PASSWORD');
const RSPAMD_URL = env('RSPAMD_URL');
const CLAMD_ADDRESS = env('CLAMD_ADDRESS');
const OUT = env('WEBUI_OUT');

let context;
let page;
let profile;

before(async () => {
  mkdirSync(OUT, { recursive: true });
  profile = mkdtempSync(path.join(tmpdir(), 'tidegate-webui-sec-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1366, height: 800 },
  });
  page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(15000);
  // Any dialog or script run would be a failure of the escaping.
  page.on('dialog', (d) => { throw new Error(`unexpected dialog: ${d.message()}`); });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const shot = async (name) => {
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
};

const submit = async (urlPattern) => {
  await Promise.all([page.waitForURL(urlPattern), page.click('main form.panel button[type=submit]')]);
};

const cell = (policy, kind) => page.locator(`tr[data-policy="${policy}"] td.${kind}`);

test('the new pages need a login', async () => {
  for (const p of ['/ui/quarantine', '/ui/quarantine/9001', '/ui/security/antispam',
    '/ui/security/antivirus', '/ui/policies/Sales/antispam']) {
    const r = await fetch(URL_BASE + p, { redirect: 'manual' });
    assert.equal(r.status, 302, p);
  }
  const post = await fetch(`${URL_BASE}/ui/quarantine/9001/delete`, { method: 'POST', redirect: 'manual' });
  assert.notEqual(post.status, 303);
  await page.goto(`${URL_BASE}/ui/policies`);
  await page.fill('#user', USER);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(/\/ui\/policies$/), page.click('main button[type=submit]')]);
});

test('policy table: Anti-Spam and Anti-Virus columns before the TDC column', async () => {
  await page.goto(`${URL_BASE}/ui/policies`);
  const headers = await page.locator('#policies thead th').allInnerTexts();
  const at = (name) => headers.indexOf(name);
  assert.ok(at('Anti-Spam') > at('Senders'), headers.join('|'));
  assert.equal(at('Anti-Virus'), at('Anti-Spam') + 1, headers.join('|'));
  assert.equal(at('Threat Defense Connector'), at('Anti-Virus') + 1, headers.join('|'));
  const row = async (policy) => [await cell(policy, 'antispam').innerText(),
    await cell(policy, 'antivirus').innerText()];
  assert.deepEqual(await row('Sales'), ['(use default)', '(use default)']);
  assert.deepEqual(await row('Legal'), ['Disabled', 'Enabled']);
  assert.deepEqual(await row('DEFAULT'), ['Enabled', 'Enabled']);
  // The cells sit in the right columns.
  const texts = await page.locator('tr[data-policy="Legal"] td').allInnerTexts();
  assert.equal(texts[at('Anti-Spam')], 'Disabled');
  assert.equal(texts[at('Anti-Virus')], 'Enabled');
  await shot('01-policies');
});

test('a policy\'s anti-spam setting: off, then on with actions', async () => {
  await page.goto(`${URL_BASE}/ui/policies`);
  await cell('Sales', 'antispam').locator('a').click();
  await page.waitForURL(/\/ui\/policies\/Sales\/antispam$/);
  assert.ok(await page.isChecked('#mode-default'));
  assert.equal(await page.locator('label[for=mode-default]').innerText(),
    'Use Default Policy settings (Enabled)');
  await page.check('#mode-off');
  await submit(/\/ui\/policies\?saved=1$/);
  assert.equal(await cell('Sales', 'antispam').innerText(), 'Disabled');

  await cell('Sales', 'antispam').locator('a').click();
  assert.ok(await page.isChecked('#mode-off'));
  // An action that does not exist (a hand-made post) is refused and changes nothing.
  const bad = await page.request.post(`${URL_BASE}/ui/policies/Sales/antispam`, {
    form: {
      csrf_token: await page.inputValue('input[name=csrf_token]'),
      mode: 'on', positive: 'explode', suspect: 'tag',
    },
    maxRedirects: 0,
  });
  assert.equal(bad.status(), 400);
  assert.match(await bad.text(), /positive must be deliver, tag, quarantine or drop/);
  await page.check('#mode-on');
  await page.selectOption('#positive', 'tag');
  await page.selectOption('#suspect', 'deliver');
  await page.fill('#subject_tag', '[WEB <b>]');
  await shot('02-policy-antispam');
  await submit(/\/ui\/policies\?saved=1$/);
  assert.equal(await cell('Sales', 'antispam').innerText(), 'Enabled');
  await page.goto(`${URL_BASE}/ui/policies/Sales/antispam`);
  assert.ok(await page.isChecked('#mode-on'));
  assert.equal(await page.inputValue('#positive'), 'tag');
  assert.equal(await page.inputValue('#suspect'), 'deliver');
  assert.equal(await page.inputValue('#subject_tag'), '[WEB <b>]');
});

test('DEFAULT\'s anti-virus page offers no "use default"; off turns it off everywhere', async () => {
  await page.goto(`${URL_BASE}/ui/policies`);
  await cell('DEFAULT', 'antivirus').locator('a').click();
  await page.waitForURL(/\/ui\/policies\/DEFAULT\/antivirus$/);
  assert.equal(await page.locator('#mode-default').count(), 0);
  assert.ok(await page.isChecked('#mode-on'));
  assert.equal(await page.inputValue('#infected'), 'drop');
  await page.check('#mode-off');
  await submit(/\/ui\/policies\?saved=1$/);
  assert.equal(await cell('DEFAULT', 'antivirus').innerText(), 'Disabled');
  // Sales follows DEFAULT; Legal has its own setting.
  assert.equal(await cell('Sales', 'antivirus').innerText(), '(use default)');
  assert.equal(await cell('Legal', 'antivirus').innerText(), 'Enabled');
  await shot('03-policies-after');
  await commitChanges(page, 'anti-spam and anti-virus per policy');
});

const listed = async () => page.locator('#quarantine-list tbody tr').evaluateAll(
  (trs) => trs.map((tr) => tr.dataset.mid));

test('the quarantine lists newest first, filters and searches', async () => {
  await page.goto(`${URL_BASE}/ui/policies`);
  await page.click('nav a[href="/ui/quarantine"]');
  await page.waitForURL(/\/ui\/quarantine$/);
  assert.deepEqual(await listed(), ['9003', '9002', '9001']);
  const headers = await page.locator('#quarantine-list thead th').allInnerTexts();
  assert.deepEqual(headers, ['MID', 'Quarantine', 'Stored', 'Sender', 'Recipients', 'Subject',
    'Reason', 'Size']);
  const row = page.locator('tr[data-mid="9002"] td');
  assert.equal(await row.nth(1).innerText(), 'Spam');
  assert.equal(await row.nth(3).innerText(), 'spammer@sender.test');
  assert.equal(await row.nth(4).innerText(), 'sue@sales.example.com');
  assert.equal(await row.nth(5).innerText(), '<script>alert(1)</script>');
  assert.equal(await row.nth(6).innerText(), 'spam score 99.00');
  await shot('04-quarantine');
  await page.selectOption('#quarantine', 'Spam');
  await Promise.all([page.waitForURL(/quarantine=Spam/), page.click('#filter button')]);
  assert.deepEqual(await listed(), ['9002', '9001']);
  await page.selectOption('#quarantine', 'Virus');
  await Promise.all([page.waitForURL(/quarantine=Virus/), page.click('#filter button')]);
  assert.deepEqual(await listed(), ['9003']);
  await page.selectOption('#quarantine', '');
  await page.fill('#search', 'INVOICE');
  await Promise.all([page.waitForURL(/search=INVOICE/), page.click('#filter button')]);
  assert.deepEqual(await listed(), ['9001']);
  assert.equal(await page.inputValue('#search'), 'INVOICE');
});

test('a quarantined message\'s headers are shown as text', async () => {
  await page.goto(`${URL_BASE}/ui/quarantine`);
  await page.locator('tr[data-mid="9002"] td:first-child a').click();
  await page.waitForURL(/\/ui\/quarantine\/9002$/);
  const headers = await page.locator('#headers').innerText();
  assert.match(headers, /^Subject: <script>alert\(1\)<\/script>$/m);
  assert.match(headers, /^X-Evil: <img src=x onerror=alert\(2\)> caf\uFFFD$/m);
  assert.doesNotMatch(headers, /body of 9002/);
  // Nothing of the message became markup.
  assert.equal(await page.locator('script').count(), 0);
  assert.equal(await page.locator('#headers *').count(), 0);
  assert.match(await page.locator('#meta').innerText(), /spam score 99\.00/);
  await shot('05-quarantine-message');
});

test('release a message', async () => {
  await Promise.all([page.waitForURL(/done=released&mid=9002/), page.click('#release')]);
  assert.match(await page.locator('.notice').innerText(), /MID 9002 was released/);
  assert.deepEqual(await listed(), ['9003', '9001']);
  const gone = await page.goto(`${URL_BASE}/ui/quarantine/9002`);
  assert.equal(gone.status(), 404);
});

test('delete a message after confirming', async () => {
  await page.goto(`${URL_BASE}/ui/quarantine/9001`);
  await page.click('#delete');
  await page.waitForURL(/\/ui\/quarantine\/9001\/delete$/);
  assert.deepEqual(await listed(), []);  // a confirm page, no list
  await shot('06-quarantine-delete-confirm');
  await submit(/done=deleted&mid=9001/);
  assert.deepEqual(await listed(), ['9003']);
});

test('Security Services: engine settings and connection tests', async () => {
  await page.goto(`${URL_BASE}/ui/policies`);
  await page.click('nav a[href="/ui/security/antispam"]');
  const kv = page.locator('#engine');
  assert.match(await kv.innerText(), new RegExp(`URL\\s+${RSPAMD_URL.replace(/\./g, '\\.')}`));
  assert.match(await kv.innerText(), /Timeout\s+3 s/);
  assert.match(await kv.innerText(), /Maximum concurrent requests\s+8/);
  assert.match(await kv.innerText(), /Maximum message size\s+4 MiB/);
  assert.match(await kv.innerText(), /Retry delay\s+7 s/);
  await Promise.all([page.waitForURL(/\/ui\/security\/antispam\/test$/), page.click('#test')]);
  assert.equal(await page.locator('#test-result').innerText(), 'Connection test: OK');
  await shot('07-antispam-test');

  await page.click('nav a[href="/ui/security/antivirus"]');
  assert.match(await kv.innerText(), new RegExp(`Address\\s+${CLAMD_ADDRESS.replace(/\./g, '\\.')}`));
  assert.match(await kv.innerText(), /Retry delay\s+9 s/);
  await Promise.all([page.waitForURL(/\/ui\/security\/antivirus\/test$/), page.click('#test')]);
  assert.equal(await page.locator('#test-result').innerText(),
    'Connection test failed: connection refused');
  await shot('08-antivirus-test');
});
