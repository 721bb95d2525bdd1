// browser.mjs — what the Web UI browser tests share: their environment variables and a headless
// Debian chromium (playwright-core) with a fresh profile, removed again by close().
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

// The value of an environment variable the Python side must pass.
export const env = (name, runner) => {
  const value = process.env[name];
  assert.ok(value, `environment variable ${name} is required (run through ${runner})`);
  return value;
};

// A page in a fresh headless chromium; any dialog (a script run by the page) throws.
export async function openBrowser(out, prefix, viewport = { width: 1366, height: 800 }) {
  mkdirSync(out, { recursive: true });
  const profile = mkdtempSync(path.join(tmpdir(), prefix));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport,
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('dialog', (d) => { throw new Error(`unexpected dialog: ${d.message()}`); });
  return {
    page,
    shot: (name) => page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true }),
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// The Web UI stages settings changes (CONTRACT §12): the banner's Commit Changes, with an
// optional comment, puts them in effect. Waits for the redirect that says they were committed.
// Without `comment` the field keeps what the page put there (a form's cluster-mode Comment).
export async function commitChanges(page, comment) {
  if (comment !== undefined) await page.fill('#commit_comment', comment);
  await Promise.all([page.waitForURL(/changes=committed/), page.click('#commit_changes')]);
}
