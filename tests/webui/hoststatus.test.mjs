// hoststatus.test.mjs — Monitor › Delivery Status and its page per destination (issue 19) in
// Debian's chromium through playwright-core, run by node's test runner. tests/e2e/
// test_webui_hoststatus.py has sent real mail before (example.com: one delivered, one 550; its
// three journal copies to the.tdc.queue; dead.example.com: a closed port, down; the DSN to
// sender.test) and passes, in the environment:
//   WEBUI_URL, WEBUI_USER, WEBUI_PASSWORD, WEBUI_OUT (screenshots)
//   NEXT_HOP, INTAKE            "127.0.0.1:<port>" of example.com's next hop and of the intake
//   DELIVERED_MAIL, DELIVERED_JOURNAL   the split the API reported (the peers' counts)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env as required, openBrowser } from './browser.mjs';

const env = (name) => required(name, 'test_webui_hoststatus.py');
const URL_BASE = env('WEBUI_URL');
const USER = env('WEBUI_USER');
const PASSWORD = env('WEBUI_PASSWORD');
const OUT = env('WEBUI_OUT');
const NEXT_HOP = env('NEXT_HOP');
const INTAKE = env('INTAKE');
const DELIVERED_MAIL = env('DELIVERED_MAIL');
const DELIVERED_JOURNAL = env('DELIVERED_JOURNAL');

let browser;
let page;
let shot;

before(async () => {
  browser = await openBrowser(OUT, 'tidegate-webui-hs-chromium-', { width: 1366, height: 900 });
  ({ page, shot } = browser);
});

after(async () => {
  await browser?.close();
});

const text = async (selector) => (await page.locator(selector).innerText()).trim();
const number = async (selector) => Number((await text(selector)).replace(/,/g, ''));

// Follows the link of `host`'s row on Delivery Status to its page.
const openHost = async (host) => {
  await page.goto(`${URL_BASE}/ui/status`);
  const link = page.locator(`#tophosts tr[data-host="${host}"] a`);
  assert.equal(await link.innerText(), host);
  await Promise.all([page.waitForURL(new RegExp(`/ui/status/${host.replace(/\./g, '\\.')}$`)),
    link.click()]);
  assert.equal(await text('#host'), host);
};

test('the pages need a login', async () => {
  for (const p of ['/ui/status/example.com', '/ui/status/nowhere.example.net']) {
    const r = await fetch(URL_BASE + p, { redirect: 'manual' });
    assert.equal(r.status, 302, p);
  }
  await page.goto(`${URL_BASE}/ui/status`);
  await page.fill('#user', USER);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(/\/ui\/status$/), page.click('main button[type=submit]')]);
});

test('Delivery Status: every row links to its page; Recipients delivered is split', async () => {
  await page.goto(`${URL_BASE}/ui/status`);
  for (const host of ['example.com', 'the.tdc.queue', 'dead.example.com', 'sender.test']) {
    assert.equal(await page.locator(`#tophosts tr[data-host="${host}"] a[href="/ui/status/${host}"]`)
      .count(), 1, host);
  }
  // The down host is marked as tophosts marks it; its columns are tophosts' own.
  assert.match(await text('#tophosts tr[data-host="dead.example.com"] td:nth-child(1)'), /\*$/);
  assert.equal(await number('#tophosts tr[data-host="the.tdc.queue"] td:nth-child(5)'),
    Number(DELIVERED_JOURNAL));
  assert.equal(await number('#delivered-mail td'), Number(DELIVERED_MAIL));
  assert.equal(await number('#delivered-journal td'), Number(DELIVERED_JOURNAL));
  assert.equal(await number('#counters tr:has(th:text-is("Recipients delivered")) td'),
    Number(DELIVERED_MAIL) + Number(DELIVERED_JOURNAL));
  await shot('01-delivery-status');
});

test('example.com: up, its next hop, one delivered (mail), one hard bounce', async () => {
  await openHost('example.com');
  assert.equal(await text('#status td'), 'Up');
  assert.notEqual(await text('#last-activity td'), 'None');
  assert.equal(await text('#next-attempt td'), 'None waiting');
  assert.equal(await text('#ips-used td'), NEXT_HOP);
  // "host [ip]:port", the route's host being the IP literal itself.
  const [ip, port] = NEXT_HOP.split(':');
  assert.equal(await text('#next-hops td'), `${ip} [${ip}]:${port}`);
  assert.match(await text('#last-5xx td'), /^550 /);
  assert.match(await text('#last-error td'), /^550 .*\(.+\)$/);
  assert.equal(await number('#delivered td'), 1);
  assert.equal(await number('#delivered-mail td'), 1);
  assert.equal(await number('#delivered-journal td'), 0);
  assert.equal(await number('#hard-bounced td'), 1);
  assert.equal(await number('#soft-bounced td'), 0);
  assert.equal(await number('#active td'), 0);
  assert.equal(await number('#connections-out td') >= 0, true);
  // The page refreshes itself, like Delivery Status.
  assert.equal(await page.locator('meta[http-equiv=refresh]').count(), 1);
  await shot('02-example.com');
});

test('the.tdc.queue: its delivered recipients are the journal copies', async () => {
  await openHost('the.tdc.queue');
  assert.equal(await text('#status td'), 'Up');
  assert.equal(await text('#ips-used td'), INTAKE);
  assert.equal(await number('#delivered td'), Number(DELIVERED_JOURNAL));
  assert.equal(await number('#delivered-journal td'), Number(DELIVERED_JOURNAL));
  assert.equal(await number('#delivered-mail td'), 0);
  assert.equal(await number('#hard-bounced td'), 0);
  await shot('03-the.tdc.queue');
});

test('dead.example.com: down, its error, when it is tried next, its queued recipient', async () => {
  await openHost('dead.example.com');
  assert.equal(await text('#status td'), 'Down');
  assert.equal(await text('#ips-used td'), 'None yet');
  assert.notEqual(await text('#last-error td'), 'None');
  assert.notEqual(await text('#next-attempt td'), 'None waiting');
  assert.equal(await number('#active td'), 1);
  assert.ok(await number('#soft-bounced td') >= 1);
  assert.equal(await number('#delivered td'), 0);
  await shot('04-dead.example.com');
});

test('an unknown or invalid destination is a 404 page, its name never markup', async () => {
  let r = await page.goto(`${URL_BASE}/ui/status/nowhere.example.net`);
  assert.equal(r.status(), 404);
  assert.match(await text('.alert'), /No destination "nowhere\.example\.net" is known/);
  await shot('05-unknown');
  r = await page.goto(`${URL_BASE}/ui/status/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E`);
  assert.equal(r.status(), 404);
  assert.match(await text('.alert'), /Not a destination name/);
  assert.equal(await page.locator('main img').count(), 0);
  for (const p of ['/ui/status/', '/ui/status/a%2Fb', `/ui/status/${'x'.repeat(300)}`,
    '/ui/status/%FF%FE']) {
    r = await page.goto(URL_BASE + p);
    assert.equal(r.status(), 404, p);
  }
  // The name is case-insensitive, as domains are.
  r = await page.goto(`${URL_BASE}/ui/status/Example.COM`);
  assert.equal(r.status(), 200);
  assert.equal(await text('#host'), 'example.com');
});
