// history.test.mjs — Web UI staging and System Administration › Configuration History (issue 19,
// CONTRACT §12) in Debian's chromium through playwright-core, run by node's test runner.
// tests/e2e/test_webui_history.py starts the gateway and passes, in the environment:
//   WEBUI_URL, WEBUI_USER, WEBUI_PASSWORD, WEBUI_OUT (screenshots)
//   GLOBAL_INTAKE   the configured global intake address
//   NEW_INTAKE      an intake address this test stages and commits
// Afterwards the Python side checks the history through the CLI and the configuration file.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { commitChanges, env as required, openBrowser } from './browser.mjs';

const env = (name) => required(name, 'test_webui_history.py');
const URL_BASE = env('WEBUI_URL');
const USER = env('WEBUI_USER');
const PASSWORD = env('WEBUI_PASSWORD');
const OUT = env('WEBUI_OUT');
const GLOBAL = env('GLOBAL_INTAKE');
const NEW = env('NEW_INTAKE');

let browser;
let page;
let shot;

before(async () => {
  browser = await openBrowser(OUT, 'tidegate-webui-hist-chromium-', { width: 1366, height: 900 });
  ({ page, shot } = browser);
});

after(async () => {
  await browser?.close();
});

const legalTdc = async () => {
  await page.goto(`${URL_BASE}/ui/policies`);
  return page.locator('tr[data-policy="Legal"] td.tdc').innerText();
};

const stageTwoPages = async () => {
  await page.goto(`${URL_BASE}/ui/tdc`);
  await page.fill('#intake_address', NEW);
  await Promise.all([page.waitForURL(/\/ui\/tdc\?saved=1$/), page.click('main button[type=submit]')]);
  assert.equal(await page.inputValue('#intake_address'), NEW);  // the staged value is shown
  await page.goto(`${URL_BASE}/ui/policies/Legal/tdc`);
  await page.check('#mode-global');
  await Promise.all([page.waitForURL(/\/ui\/policies\?saved=1$/),
    page.click('main button[type=submit]')]);
  assert.equal(await legalTdc(), 'Enabled');
};

const apiAuth = { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };
const liveTdc = async () => (await (await fetch(`${URL_BASE}/api/v1/tdc`, { headers: apiAuth })).json());

test('log in; no banner without changes', async () => {
  await page.goto(`${URL_BASE}/ui/tdc`);
  await page.fill('#user', USER);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(/\/ui\/tdc$/), page.click('main button[type=submit]')]);
  assert.equal(await page.locator('#uncommitted').count(), 0);
  assert.equal(await page.inputValue('#intake_address'), GLOBAL);
});

test('changes on two pages are staged, shown with the banner on every page, then abandoned',
  async () => {
    await stageTwoPages();
    for (const p of ['/ui/status', '/ui/tdc', '/ui/configs']) {
      await page.goto(URL_BASE + p);
      assert.equal(await page.locator('#uncommitted').count(), 1, p);
      assert.match(await page.innerText('#uncommitted'), /Uncommitted changes/);
    }
    // Not in effect: the live configuration still has the old values.
    assert.equal((await liveTdc()).intake_address, GLOBAL);
    await shot('01-staged-banner');
    await page.goto(`${URL_BASE}/ui/tdc`);
    await Promise.all([page.waitForURL(/changes=abandoned/), page.click('#abandon_changes')]);
    assert.equal(await page.locator('#uncommitted').count(), 0);
    assert.equal(await page.inputValue('#intake_address'), GLOBAL);
    assert.equal(await legalTdc(), 'Disabled');
    assert.equal((await liveTdc()).intake_address, GLOBAL);
  });

test('Commit Changes with a comment: one history entry with that comment and user', async () => {
  await stageTwoPages();
  await commitChanges(page, 'browser <b>commit</b>');
  assert.equal(await page.locator('#uncommitted').count(), 0);
  assert.equal((await liveTdc()).intake_address, NEW);
  await page.goto(`${URL_BASE}/ui/configs`);
  const rows = page.locator('#history tbody tr');
  assert.equal(await rows.count(), 2);
  const newest = await rows.first().locator('td').allInnerTexts();
  assert.deepEqual(newest.slice(0, 4).filter((_, i) => i !== 1),
    ['2', USER, 'browser <b>commit</b>']);
  assert.equal(await page.locator('#history b').count(), 0);  // escaped
  await shot('02-history');
  await rows.first().locator('a', { hasText: 'View' }).click();
  await page.waitForURL(/\/ui\/configs\/2$/);
  const diff = await page.innerText('#diff');
  assert.match(diff, new RegExp(`^-  intake_address: ${GLOBAL.replace(/\./g, '\\.')}$`, 'm'));
  assert.match(diff, new RegExp(`^\\+  intake_address: ${NEW.replace(/\./g, '\\.')}$`, 'm'));
  assert.match(diff, /^-    threat_defense_connector: off$/m);
  assert.match(await page.innerText('#config'), /incoming_mail_policies:/);
  await shot('03-history-entry');
});

test('a commit after someone else changed the configuration is refused as a conflict', async () => {
  await page.goto(`${URL_BASE}/ui/tdc`);
  await page.uncheck('#enabled');
  await Promise.all([page.waitForURL(/\/ui\/tdc\?saved=1$/), page.click('main button[type=submit]')]);
  // Meanwhile another administrator commits through the API.
  const r = await fetch(`${URL_BASE}/api/v1/tdc`, {
    method: 'POST', headers: { ...apiAuth, 'content-type': 'application/json' },
    body: JSON.stringify({ intake_address: GLOBAL, comment: 'api meanwhile' }),
  });
  assert.equal(r.status, 200);
  const [response] = await Promise.all([
    page.waitForResponse((x) => x.request().method() === 'POST'), page.click('#commit_changes')]);
  assert.equal(response.status(), 409);
  assert.match(await page.innerText('main p.alert'), /changed by someone else.*api meanwhile/);
  assert.equal((await liveTdc()).enabled, true);
  await shot('04-conflict');
  await Promise.all([page.waitForURL(/changes=abandoned/), page.click('#abandon_changes')]);
});

test('roll back to entry 1 after a confirmation', async () => {
  await page.goto(`${URL_BASE}/ui/configs`);
  await page.locator('#history tbody tr', { hasText: 'configuration at first start' })
    .locator('a', { hasText: 'Roll Back' }).click();
  await page.waitForURL(/\/ui\/configs\/1\/rollback$/);
  await shot('05-rollback-confirm');
  await Promise.all([page.waitForURL(/\/ui\/configs\?rolledback=1$/), page.click('#confirm_rollback')]);
  const newest = await page.locator('#history tbody tr').first().locator('td').allInnerTexts();
  assert.equal(newest[0], '4');
  assert.equal(newest[3], 'rollback to 1');
  assert.equal(await legalTdc(), 'Disabled');
  assert.equal((await liveTdc()).intake_address, GLOBAL);
  await shot('06-rolled-back');
});
