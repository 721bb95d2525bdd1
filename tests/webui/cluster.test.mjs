// cluster.test.mjs — the Web UI of cluster mode (issue 18, CONTRACT §11 "Web UI") in Debian's
// chromium through playwright-core, run by node's test runner. tests/e2e/test_webui_cluster.py
// starts two gateways, gw1 and gw2, on one private etcd (cluster Test_Cluster, no groups, TDC
// enabled at the cluster level) and runs this file twice, passing in the environment:
//   WEBUI_URL (gw1), WEBUI_URL2 (gw2), WEBUI_USER, WEBUI_PASSWORD, WEBUI_OUT (screenshots),
//   WEBUI_PHASE: "up" (etcd running: the whole walk) or "down" (etcd stopped: a commit is refused)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { commitChanges, env as required, openBrowser } from './browser.mjs';

const env = (name) => required(name, 'test_webui_cluster.py');
const URL_BASE = env('WEBUI_URL');
const URL2 = env('WEBUI_URL2');
const USER = env('WEBUI_USER');
const PASSWORD = env('WEBUI_PASSWORD');
const OUT = env('WEBUI_OUT');
const PHASE = env('WEBUI_PHASE');
const up = { skip: PHASE !== 'up' };
const down = { skip: PHASE !== 'down' };

let browser;
let page;
let shot;

before(async () => {
  browser = await openBrowser(OUT, 'tidegate-webui-cl-chromium-', { width: 1366, height: 1000 });
  ({ page, shot } = browser);
  await page.goto(`${URL_BASE}/ui/cluster`);
  await page.fill('#user', USER);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(/\/ui\/cluster$/), page.click('main button[type=submit]')]);
});

after(async () => {
  await browser?.close();
});

// gw2's Threat Defense Connector setting, through its JSON API.
async function gw2Enabled() {
  const auth = 'Basic ' + Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  const r = await fetch(`${URL2}/api/v1/tdc`, { headers: { Authorization: auth } });
  assert.equal(r.status, 200);
  return (await r.json()).enabled;
}

const banner = () => page.innerText('#mode-banner');
const origin = () => page.innerText('#origin-level');

// Every post form on the page carries its CSRF token.
async function formsHaveTokens() {
  const forms = await page.locator('form[method=post]').count();
  const tokens = await page.locator('form[method=post] input[name=csrf_token]').count();
  assert.ok(forms > 0);
  assert.equal(tokens, forms);
}

test('the cluster posts need the CSRF token', up, async () => {
  await page.goto(`${URL_BASE}/ui/cluster`);
  const statuses = await page.evaluate(async () => {
    const mode = new URLSearchParams({ level: 'machine', name: 'gw1', return: '/ui/tdc' });
    const section = new URLSearchParams({ section: 'threat_defense_connector',
      action: 'override', return: '/ui/tdc' });
    return [(await fetch('/ui/cluster/mode', { method: 'POST', body: mode })).status,
      (await fetch('/ui/cluster/section', { method: 'POST', body: section })).status,
      (await fetch('/ui/tdc', { method: 'POST', body: new URLSearchParams({ comment: 'x' }) }))
        .status];
  });
  assert.deepEqual(statuses, [403, 403, 403]);
  // Nothing changed: still the cluster mode.
  await page.goto(`${URL_BASE}/ui/tdc`);
  assert.equal(await banner(), 'Mode — Cluster: Test_Cluster');
});

test('the Cluster page lists both machines with health and revision', up, async () => {
  await page.goto(`${URL_BASE}/ui/status`);
  await Promise.all([page.waitForURL(/\/ui\/cluster$/), page.click('nav a:has-text("Cluster")')]);
  assert.equal(await page.innerText('#cluster-name'), 'Test_Cluster');
  assert.equal(await page.innerText('#machine-name'), 'gw1');
  assert.equal(await page.innerText('#connection'), 'connected');
  const revision = await page.innerText('#applied-revision');
  assert.match(revision, /^[1-9]\d*$/);
  for (const [name, url] of [['gw1', URL_BASE], ['gw2', URL2]]) {
    const row = page.locator(`#machines tr[data-machine="${name}"]`);
    assert.equal(await row.count(), 1, name);
    assert.equal(await row.locator('td.health').innerText(), 'healthy');
    assert.equal(await row.locator('td.num').innerText(), revision);
    assert.equal(await row.locator('a').getAttribute('href'), `${url}/ui/cluster`);
  }
  assert.match(await page.innerText('#machines tr[data-machine="gw1"]'), /this machine/);
  await formsHaveTokens();
  await shot('cluster-page');
});

test('the TDC page shows the mode; a refused mode change is shown', up, async () => {
  await page.goto(`${URL_BASE}/ui/tdc`);
  assert.equal(await banner(), 'Mode — Cluster: Test_Cluster');
  assert.equal(await origin(), 'Cluster: Test_Cluster');
  assert.equal(await page.locator('#override').count(), 0);
  assert.equal(await page.locator('#inherit').count(), 0);
  assert.equal(await page.locator('form[action="/ui/tdc"] #comment').count(), 1);
  await formsHaveTokens();
  await page.click('#change-mode');
  await page.selectOption('#mode-level', 'group');
  await page.fill('#mode-name', '');
  await Promise.all([page.waitForURL(/\/ui\/cluster\/mode$/), page.click('#mode-submit')]);
  assert.match(await page.innerText('main p.alert[role=alert]'), /group needs a name/);
  await shot('mode-refused');
  await Promise.all([page.waitForURL(/\/ui\/tdc$/), page.click('#back')]);
  assert.equal(await banner(), 'Mode — Cluster: Test_Cluster');
});

test('machine mode, Override here, disable with a comment: gw2 stays enabled', up, async () => {
  await page.goto(`${URL_BASE}/ui/tdc`);
  await page.click('#change-mode');
  await page.selectOption('#mode-level', 'machine');
  await page.fill('#mode-name', 'gw1');
  await Promise.all([page.waitForURL(/\/ui\/tdc\?cluster=mode$/), page.click('#mode-submit')]);
  assert.equal(await banner(), 'Mode — Machine: gw1');
  assert.equal(await origin(), 'Cluster: Test_Cluster');
  assert.match(await page.innerText('main .notice'), /Mode changed/);

  await page.fill('#cm-comment', 'pin TDC on gw1');
  await Promise.all([page.waitForURL(/\/ui\/tdc\?cluster=override$/), page.click('#override')]);
  assert.equal(await origin(), 'Machine: gw1');
  assert.equal(await page.locator('#override').count(), 0);
  assert.equal(await page.locator('#inherit').count(), 1);
  assert.equal(await page.isChecked('#enabled'), true);

  await page.uncheck('#enabled');
  await page.fill('#comment', 'gw1 off for a test');
  await Promise.all([page.waitForURL(/\/ui\/tdc\?saved=1$/),
    page.click('form[action="/ui/tdc"] button[type=submit]')]);
  // Staged (CONTRACT §12): the form's comment goes with Commit Changes.
  assert.equal(await page.inputValue('#commit_comment'), 'gw1 off for a test');
  await commitChanges(page);
  assert.equal(await page.isChecked('#enabled'), false);
  assert.equal(await origin(), 'Machine: gw1');
  assert.equal(await gw2Enabled(), true);
  await shot('machine-override');

  // gw2's own page (another browser: both gateways are on 127.0.0.1, and cookies do not tell
  // ports apart): still the cluster mode and the cluster's section.
  const other = await openBrowser(OUT, 'tidegate-webui-cl2-chromium-');
  try {
    const p2 = other.page;
    await p2.goto(`${URL2}/ui/tdc`);
    await p2.fill('#user', USER);
    await p2.fill('#password', PASSWORD);
    await Promise.all([p2.waitForURL(/\/ui\/tdc$/), p2.click('main button[type=submit]')]);
    assert.equal(await p2.innerText('#mode-banner'), 'Mode — Cluster: Test_Cluster');
    assert.equal(await p2.innerText('#origin-level'), 'Cluster: Test_Cluster');
    assert.equal(await p2.isChecked('#enabled'), true);
  } finally {
    await other.close();
  }
});

test('the policies pages carry the options and the comment field', up, async () => {
  await page.goto(`${URL_BASE}/ui/policies`);
  assert.equal(await banner(), 'Mode — Machine: gw1');
  assert.equal(await origin(), 'Cluster: Test_Cluster');
  assert.equal(await page.locator('#override').count(), 1);
  await page.goto(`${URL_BASE}/ui/policies/DEFAULT/tdc`);
  assert.equal(await page.locator('#section-origin code').innerText(), 'incoming_mail_policies');
  assert.equal(await page.locator('form[action="/ui/policies/DEFAULT/tdc"] #comment').count(), 1);
  await formsHaveTokens();
  await page.goto(`${URL_BASE}/ui/recipient-validation`);
  assert.equal(await page.locator('#section-origin code').innerText(), 'recipient_validation');
  assert.equal(await page.locator('#settings #comment').count(), 1);
  await formsHaveTokens();
});

test('Inherit brings gw1 back to the cluster\'s setting', up, async () => {
  await page.goto(`${URL_BASE}/ui/tdc`);
  await page.fill('#cm-comment', 'back to the cluster');
  await Promise.all([page.waitForURL(/\/ui\/tdc\?cluster=inherit$/), page.click('#inherit')]);
  assert.match(await page.innerText('main .notice'), /Override removed/);
  assert.equal(await origin(), 'Cluster: Test_Cluster');
  assert.equal(await page.isChecked('#enabled'), true);
  assert.equal(await banner(), 'Mode — Machine: gw1');
  await shot('inherited');
});

// The history is kept in etcd per level (CONTRACT §11): each row names its level, and a rollback
// restores that level — here machine gw1's, from a page in machine mode.
async function rollBack(comment, note) {
  await page.goto(`${URL_BASE}/ui/configs`);
  const row = page.locator('#history tbody tr', { hasText: comment });
  assert.equal(await row.count(), 1);
  assert.equal(await row.locator('td').nth(3).innerText(), 'machine gw1');
  const number = await row.locator('td').first().innerText();
  await Promise.all([page.waitForURL(new RegExp(`/ui/configs/${number}/rollback$`)),
    row.getByText('Roll Back').click()]);
  assert.match(await page.innerText('main'), /The machine gw1 level is set back to this entry/);
  await page.fill('#comment', note);
  await Promise.all([page.waitForURL(new RegExp(`/ui/configs\\?rolledback=${number}$`)),
    page.click('#confirm_rollback')]);
  assert.match(await page.innerText('main .notice'), new RegExp(`Rolled back to configuration ${number}`));
  const newest = page.locator('#history tbody tr').first();
  assert.equal(await newest.locator('td').nth(3).innerText(), 'machine gw1');
  assert.equal(await newest.locator('td').nth(4).innerText(), `rollback to ${number}: ${note}`);
}

test('the history names each commit\'s level; a rollback restores that level', up, async () => {
  await page.goto(`${URL_BASE}/ui/configs`);
  assert.deepEqual(await page.locator('#history thead th').allInnerTexts(),
    ['Number', 'Time (UTC)', 'User', 'Level', 'Comment', '']);
  await shot('history');
  // Back to the override that disabled gw1, then back to the entry that removed it.
  await rollBack('gw1 off for a test', 'redo the test');
  await page.goto(`${URL_BASE}/ui/tdc`);
  assert.equal(await origin(), 'Machine: gw1');
  assert.equal(await page.isChecked('#enabled'), false);
  assert.equal(await gw2Enabled(), true);
  await rollBack('back to the cluster', 'inherit again');
  await page.goto(`${URL_BASE}/ui/tdc`);
  assert.equal(await origin(), 'Cluster: Test_Cluster');
  assert.equal(await page.isChecked('#enabled'), true);
});

test('with the store down a change is refused with 503, shown in the alert', down, async () => {
  await page.goto(`${URL_BASE}/ui/cluster`);
  assert.match(await page.innerText('#connection'), /^disconnected since /);
  assert.match(await page.innerText('main'), /The machine registry cannot be read/);
  await page.goto(`${URL_BASE}/ui/tdc`);
  await page.uncheck('#enabled');
  await page.fill('#comment', 'while down');
  await Promise.all([page.waitForURL(/\/ui\/tdc\?saved=1$/),
    page.click('form[action="/ui/tdc"] button[type=submit]')]);
  // Staged; the commit is what the unreachable store refuses.
  const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'),
    page.click('#commit_changes')]);
  assert.equal(response.status(), 503);
  assert.match(await page.innerText('main p.alert[role=alert]'),
    /cluster configuration store unreachable/);
  await shot('store-down');
});
