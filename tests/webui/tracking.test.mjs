// tracking.test.mjs — Monitor › Message Tracking's search (issue 19, CONTRACT §12) in Debian's
// chromium through playwright-core, in a 1366-px window. tests/e2e/test_webui_tracking.py starts
// a gateway that journals to a TLS intake, sends the mail and passes, in the environment:
//   WEBUI_URL, WEBUI_USER, WEBUI_PASSWORD, WEBUI_OUT (screenshots),
//   TRACK_SUBJECT (the subject of the message with a long Message-ID, from 127.0.0.7)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env as required, openBrowser } from './browser.mjs';

const env = (name) => required(name, 'test_webui_tracking.py');
const URL_BASE = env('WEBUI_URL');
const USER = env('WEBUI_USER');
const PASSWORD = env('WEBUI_PASSWORD');
const OUT = env('WEBUI_OUT');
const SUBJECT = env('TRACK_SUBJECT');

let browser;
let page;
let shot;

before(async () => {
  browser = await openBrowser(OUT, 'tidegate-webui-track-chromium-', { width: 1366, height: 900 });
  ({ page, shot } = browser);
  await page.goto(`${URL_BASE}/ui/tracking`);
  await page.fill('#user', USER);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(/\/ui\/tracking$/), page.click('main button[type=submit]')]);
});

after(async () => {
  await browser?.close();
});

const noHorizontalScroll = () => page.evaluate(
  () => document.documentElement.scrollWidth <= document.documentElement.clientWidth);

test('the form searches by subject and sender IP with a match mode; copies need the toggle', async () => {
  await page.selectOption('#match', 'contains');
  await page.fill('#subject', SUBJECT.slice(3, 12).toUpperCase());
  await page.fill('#sender_ip', '127.0.0.7');
  await Promise.all([page.waitForURL(/subject=/), page.click('#search button[type=submit]')]);
  const rows = page.locator('#results tbody tr[data-mid]');
  assert.equal(await rows.count(), 1);
  assert.equal(await page.locator('#results tbody tr:has-text("journal copy")').count(), 0);
  assert.equal(await page.inputValue('#match'), 'contains');
  assert.equal(await page.isChecked('#include_journal'), false);
  await page.check('#include_journal');
  await Promise.all([page.waitForURL(/include_journal=1/), page.click('#search button[type=submit]')]);
  assert.equal(await rows.count(), 2);
  assert.equal(await page.locator('#results tbody tr:has-text("journal copy")').count(), 1);
  assert.equal(await page.isChecked('#include_journal'), true);
  await shot('search-with-copies');
});

test('the results fit a 1366-px window: the long Message-ID wraps', async () => {
  assert.equal(await noHorizontalScroll(), true);
  const cell = page.locator('#results td.message-id').first();
  const box = await cell.boundingBox();
  assert.ok(box.x + box.width <= 1366, JSON.stringify(box));
  // Wrapped: the cell is taller than one line.
  assert.ok(box.height > 40, JSON.stringify(box));
  // Everything, the bulk included, still fits.
  await page.goto(`${URL_BASE}/ui/tracking?include_journal=1`);
  assert.equal(await noHorizontalScroll(), true);
  await shot('all-1366');
});

test('the details page shows the delivery connection with TLS', async () => {
  await page.goto(`${URL_BASE}/ui/tracking?sender_ip=127.0.0.7&include_journal=1`);
  const copy = page.locator('#results tbody tr:has-text("journal copy") td.num a').first();
  await Promise.all([page.waitForURL(/\/ui\/tracking\/\d+$/), copy.click()]);
  const cells = await page.locator('#connections tbody tr').first().locator('td').allInnerTexts();
  assert.match(cells[0], /^\d+$/);
  assert.equal(cells[1], '127.0.0.1');
  assert.match(cells[2], /^\d+$/);
  assert.match(cells[3], /^TLSv1\.[23]$/);
  assert.ok(cells[4].length > 0);
  assert.equal(await page.innerText('#sender-ip'), '127.0.0.7');
  assert.equal(await noHorizontalScroll(), true);
  await shot('details-connection');
});

test('paging goes past 200 and back', async () => {
  await page.goto(`${URL_BASE}/ui/tracking?sender=bulk&match=begins`);
  const rows = page.locator('#results tbody tr[data-mid]');
  assert.equal(await rows.count(), 200);
  await Promise.all([page.waitForURL(/offset=200/), page.locator('#next').first().click()]);
  assert.equal(await rows.count(), 5);
  assert.match(await page.innerText('#range'), /201–205/);
  await Promise.all([page.waitForURL((u) => !/offset=/.test(u.search)), page.locator('#prev').first().click()]);
  assert.equal(await rows.count(), 200);
  // The CSV link carries the search.
  const href = await page.getAttribute('#csv', 'href');
  assert.match(href, /^\/ui\/tracking\.csv\?/);
  assert.match(href, /sender=bulk/);
});
