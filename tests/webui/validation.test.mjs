// validation.test.mjs — Security Services › Recipient Validation (issue 17, CONTRACT §13) in
// Debian's chromium through playwright-core, run by node's test runner. tests/e2e/
// test_webui_validation.py starts the gateway (accepted domains example.com and example.org,
// recipient_validation with always_accept only) and passes, in the environment:
//   WEBUI_URL, WEBUI_USER, WEBUI_PASSWORD, WEBUI_OUT (screenshots)
// The gateway's lookup test is wired (AdminContext::test_recipient); with no method configured
// it answers "accepted, not validated". Every verdict kind is displayed by the unit test
// src/webui/validation_page_test.cc (fake hook); the RCPT-time answers against a real slapd and
// next hops are tests/e2e/test_recipient_validation.py.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { commitChanges, env as required, openBrowser } from './browser.mjs';

const env = (name) => required(name, 'test_webui_validation.py');
const URL_BASE = env('WEBUI_URL');
const USER = env('WEBUI_USER');
const PASSWORD = env('WEBUI_PASSWORD');
const OUT = env('WEBUI_OUT');

let browser;
let page;
let shot;

before(async () => {
  browser = await openBrowser(OUT, 'tidegate-webui-rv-chromium-', { width: 1366, height: 900 });
  ({ page, shot } = browser);
});

after(async () => {
  await browser?.close();
});

test('the page needs a login, and its forms a CSRF token', async () => {
  const r = await fetch(`${URL_BASE}/ui/recipient-validation`, { redirect: 'manual' });
  assert.equal(r.status, 302);
  const post = await fetch(`${URL_BASE}/ui/recipient-validation`, { method: 'POST', redirect: 'manual' });
  assert.notEqual(post.status, 303);
  await page.goto(`${URL_BASE}/ui/status`);
  await page.fill('#user', USER);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(/\/ui\/status$/), page.click('main button[type=submit]')]);
  // Logged in, but without the token a post is refused.
  const status = await page.evaluate(async () => {
    const body = new URLSearchParams({ address: 'joe@example.com' });
    const resp = await fetch('/ui/recipient-validation/test', { method: 'POST', body });
    return resp.status;
  });
  assert.equal(status, 403);
});

test('the menu leads to the page, which shows the settings', async () => {
  await page.goto(`${URL_BASE}/ui/status`);
  await Promise.all([page.waitForURL(/\/ui\/recipient-validation$/),
    page.click('nav a:has-text("Recipient Validation")')]);
  assert.equal(await page.inputValue('#always_accept'), 'postmaster@');
  assert.equal(await page.inputValue('#cache_ttl'), '10m');
  assert.equal(await page.inputValue('#max_invalid'), '0');
  assert.equal(await page.isChecked('#ldap'), false);
  assert.equal(await page.isChecked('#call_ahead'), false);
  await shot('settings');
});

test('without a method the lookup test says the address is accepted, not validated', async () => {
  await page.goto(`${URL_BASE}/ui/recipient-validation`);
  assert.equal(await page.locator('#not-running').count(), 0);
  await page.fill('#address', 'joe@example.com');
  await Promise.all([page.waitForURL(/\/ui\/recipient-validation\/test$/), page.click('#test')]);
  const result = await page.innerText('#test-result');
  assert.match(result, /accepted/);
  assert.match(result, /not validated/);
  assert.equal(await page.inputValue('#address'), 'joe@example.com');
  await shot('lookup-not-validated');
});

test('a refused change is shown escaped, with what was typed', async () => {
  await page.goto(`${URL_BASE}/ui/recipient-validation`);
  await page.check('#ldap');
  await page.fill('#ldap_uri', 'ldap://127.0.0.1:389');
  await page.fill('#ldap_base', 'dc=example,dc=com');
  await page.fill('#ldap_filter', '(mail=<b>bold</b>)');
  await Promise.all([page.waitForURL(/\/ui\/recipient-validation$/), page.click('#save')]);
  assert.match(await page.innerText('main p.alert[role=alert]'), /the filter must contain \{a\}/);
  assert.equal(await page.inputValue('#ldap_filter'), '(mail=<b>bold</b>)');
  assert.equal(await page.locator('main b').count(), 0);
  await shot('refused');
});

test('saving writes the section and shows it again', async () => {
  await page.goto(`${URL_BASE}/ui/recipient-validation`);
  await page.fill('#always_accept', 'postmaster@, abuse@');
  await page.fill('#cache_ttl', '5m');
  await page.fill('#max_invalid', '25');
  await page.check('#call_ahead');
  await page.fill('#call_ahead_domains', 'example.org');
  await page.fill('#call_ahead_timeout', '3s');
  await page.selectOption('#call_ahead_on_failure', 'accept');
  await Promise.all([page.waitForURL(/\/ui\/recipient-validation\?saved=1$/), page.click('#save')]);
  assert.match(await page.innerText('main .notice'), /Recipient validation settings saved/);
  assert.equal(await page.inputValue('#always_accept'), 'postmaster@, abuse@');
  assert.equal(await page.inputValue('#max_invalid'), '25');
  assert.equal(await page.isChecked('#call_ahead'), true);
  assert.equal(await page.inputValue('#call_ahead_domains'), 'example.org');
  assert.equal(await page.inputValue('#call_ahead_on_failure'), 'accept');
  assert.equal(await page.isChecked('#ldap'), false);
  await shot('saved');
  await commitChanges(page, 'recipient validation');
});
