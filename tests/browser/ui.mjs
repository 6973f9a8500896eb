// ui.mjs - the web UI driven in Debian's headless chromium by playwright-core.
//
// Run by tests/t310-web-browser.c, which starts `genbox serve` and passes:
//   GENBOX_URL             base URL of the running server (http://127.0.0.1:PORT)
//   GENBOX_ADMIN_KEY       token of an admin key with read and write
//   GENBOX_READ_KEY        token of a read-only key of the same organization
//   GENBOX_FAILED_IDS      two failed contexts "a,b": a is retried, b stays failed
//   GENBOX_ARTIFACTS       folder for the screenshots (created)
//   BROWSER_NODE_MODULES   the node_modules holding playwright-core (tests/browser/setup.sh)
// Prints TAP lines without numbers ("ok - ...", "not ok - ...", "# ...");
// the C program relays them as its own checks.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const env = (k) => {
  if (!process.env[k]) {
    console.log(`not ok - environment variable ${k} is set`);
    process.exit(2);
  }
  return process.env[k];
};
const BASE = env('GENBOX_URL').replace(/\/$/, '');
const ADMIN = env('GENBOX_ADMIN_KEY');
const READ = env('GENBOX_READ_KEY');
const [FAILED_A, FAILED_B] = env('GENBOX_FAILED_IDS').split(',');
const ART = env('GENBOX_ARTIFACTS');
const require = createRequire(path.join(env('BROWSER_NODE_MODULES'), 'x.js'));
const { chromium } = require('playwright-core');

const LIVE_TIMEOUT = 90000;
// a locator that must show up: long enough for a loaded 2-core machine
const UI_TIMEOUT = 30000;
let failures = 0, shot = 0;
const diag = (s) => String(s).split('\n').forEach((l) => console.log('# ' + l));
function check(cond, name, why) {
  console.log((cond ? 'ok - ' : 'not ok - ') + name);
  if (!cond) {
    failures++;
    if (why !== undefined)
      diag(why);
  }
  return cond;
}

async function snap(page, name) {
  const file = path.join(ART, String(++shot).padStart(2, '0') + '-' + name + '.png');
  try {
    await page.screenshot({ path: file, fullPage: true });
  } catch (e) {
    diag(`screenshot ${file}: ${e.message}`);
  }
}

// one step: an exception is a failed check with a screenshot, and the rest goes on
async function step(page, name, fn) {
  try {
    await fn();
  } catch (e) {
    check(false, name, e.stack || String(e));
    await snap(page, 'failed-' + name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40));
  }
}

const tid = (id) => `[data-testid="${id}"]`;

async function signIn(page, key) {
  await page.goto(BASE + '/#/login');
  await page.locator(tid('login-key')).fill(key);
  await page.locator(tid('login-submit')).click();
  await page.locator(tid('who')).waitFor({ timeout: UI_TIMEOUT });
}

async function main() {
  fs.mkdirSync(ART, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'genbox-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  const problems = [];	// CSP violations and script errors seen by the page
  page.on('console', (m) => {
    // a refused key is a 401 by design; what the sandboxed output frame
    // is refused (its scripts, its inline styles) is the sandbox working
    if (m.type() !== 'error' || /status of 401/.test(m.text()) ||
        /about:srcdoc/.test(m.text() + ' ' + (m.location().url || '')))
      return;
    problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  try {
    await run(page, ctx);
  } finally {
    check(problems.length === 0, 'no script error and no CSP violation in the page',
      problems.slice(0, 10).join('\n'));
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function run(page, ctx) {
  await step(page, 'the page is served with a CSP and shows the sign-in form', async () => {
    const res = await page.goto(BASE + '/');
    const csp = res.headers()['content-security-policy'] || '';
    check(res.status() === 200, 'GET / answers 200', `status ${res.status()}`);
    check(/script-src 'self'/.test(csp) && !/unsafe-inline/.test(csp),
      'GET / carries a CSP without inline script', csp);
    await page.locator(tid('login-form')).waitFor({ timeout: UI_TIMEOUT });
    check(true, 'the sign-in form is shown');
    await snap(page, 'sign-in');
  });

  await step(page, 'a bad key is refused on the form', async () => {
    await page.locator(tid('login-key')).fill('key_0000000000000000.' + 'A'.repeat(43));
    await page.locator(tid('login-submit')).click();
    const err = page.locator(tid('login-error'));
    await err.filter({ hasText: /./ }).waitFor({ timeout: UI_TIMEOUT });
    check(await page.locator(tid('who')).count() === 0, 'a bad key is refused with a message',
      await err.textContent());
  });

  await step(page, 'sign in with the admin key', async () => {
    await signIn(page, ADMIN);
    const who = await page.locator(tid('who')).textContent();
    check(/admin/.test(who) && /write/.test(who), 'signed in as an admin with write', who);
    const stored = await page.evaluate(() => [sessionStorage.length, localStorage.length]);
    check(stored[0] === 1 && stored[1] === 0, 'the key is kept in sessionStorage only',
      JSON.stringify(stored));
  });

  await step(page, 'dashboard', async () => {
    await page.goto(BASE + '/#/');
    await page.locator(tid('count-completed')).waitFor({ timeout: UI_TIMEOUT });
    await page.locator(tid('throughput-chart')).waitFor({ timeout: UI_TIMEOUT });
    const n = await page.locator(tid('count-completed') + ' .n').textContent();
    check(/^\d+$/.test(n.trim()), 'the dashboard shows the count of completed contexts', n);
    const syncState = await page.locator(tid('sync-state')).textContent();
    check(syncState === 'off', 'the Sync panel shows the state (no cluster: off)', syncState);
    check(/No cluster configured/.test(await page.locator(tid('sync-panel')).textContent()),
      'and says no cluster is configured');
    await page.locator(tid('jobs-table')).waitFor({ timeout: UI_TIMEOUT });
    const jobs = await page.locator(tid('jobs-table')).textContent();
    check(jobs.includes('archive') && jobs.includes('contexts 12'),
      'the Jobs panel lists each job with its counts', jobs);
    check(jobs.includes('<img src=x onerror=alert(1)>') && jobs.includes('<b>n</b> 3') &&
      jobs.includes('<i>boom</i>'), 'a job\'s name, counts and error show as text', jobs);
    const markup = await page.locator(tid('jobs-panel') + ' img, ' + tid('jobs-panel') +
      ' td b, ' + tid('jobs-panel') + ' td i').count();
    check(markup === 0, 'none of it becomes markup', String(markup));
    const jobWarn = await page.locator(tid('job-warning')).allTextContents();
    check(jobWarn.some((w) => /the last run failed: <i>boom<\/i>/.test(w)),
      'a failed job is warned about', jobWarn.join(' | '));
    check(/free pages/.test(await page.locator(tid('db-figures')).textContent()),
      'the panel shows the database file\'s figures');
    const busy = await page.locator(tid('worker-processing')).allTextContents();
    check(busy.length > 0 && busy.every((b) => /^\d+ contexts?$/.test(b)),
      'each worker row shows how many contexts it is processing', busy.join(' | '));
    await page.locator(tid('live-state')).filter({ hasText: 'live' }).waitFor({ timeout: UI_TIMEOUT });
    check(true, 'the event stream is connected');
    await snap(page, 'dashboard-light');
    // a hidden tab stops the stream; showing it again restarts it
    const setHidden = (v) => page.evaluate((hidden) => {
      Object.defineProperty(document, 'hidden', { value: hidden, configurable: true });
      Object.defineProperty(document, 'visibilityState',
        { value: hidden ? 'hidden' : 'visible', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    }, v);
    await setHidden(true);
    const paused = await page.locator(tid('live-state')).textContent();
    await setHidden(false);
    await page.locator(tid('live-state')).filter({ hasText: 'live' }).waitFor({ timeout: UI_TIMEOUT });
    check(paused === 'paused', 'the stream stops while the tab is hidden and comes back', paused);
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await snap(page, 'dashboard-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    check(dark !== light, 'dark mode follows prefers-color-scheme', `${light} / ${dark}`);
  });

  let batchId = null;
  await step(page, 'submit a batch and see it reach 100 % live', async () => {
    await page.goto(BASE + '/#/batches');
    await page.locator(tid('batch-form')).waitFor({ timeout: UI_TIMEOUT });
    await page.evaluate(() => { window.__sameDocument = 'yes'; });
    const stamp = Date.now().toString(36);
    const titles = [1, 2, 3].map((i) => `Browser batch ${stamp} article ${i}`);
    await page.locator(tid('batch-name')).fill('browser ' + stamp);
    await page.locator(tid('batch-input')).fill(titles.join('\n'));
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/batches') &&
        r.request().method() === 'POST'),
      page.locator(tid('batch-submit')).click(),
    ]);
    const body = await res.json();
    check(res.status() === 201, 'POST /batches from the form answers 201', JSON.stringify(body));
    batchId = body._id;
    const bar = page.locator(`tr[data-batch-id="${batchId}"] ${tid('batch-progress')}`);
    await bar.waitFor({ timeout: UI_TIMEOUT });
    const first = await bar.getAttribute('aria-valuenow');
    diag(`batch ${batchId}: progress first shown at ${first} %`);
    await snap(page, 'batch-submitted');
    await page.waitForFunction((id) => {
      const el = document.querySelector(`tr[data-batch-id="${id}"] [data-testid="batch-progress"]`);
      return el && el.getAttribute('aria-valuenow') === '100';
    }, batchId, { timeout: LIVE_TIMEOUT, polling: 200 });
    const label = await bar.textContent();
    const same = await page.evaluate(() => window.__sameDocument);
    check(label.includes('3/3'), "the batch's progress bar reaches 100 % (3/3)", label);
    check(same === 'yes', 'without a reload of the page');
    await snap(page, 'batch-complete');
  });

  await step(page, 'open a context and see its rendered output', async () => {
    if (!batchId)
      throw new Error('no batch was created');
    await page.locator(`tr[data-batch-id="${batchId}"] ${tid('batch-link')}`).click();
    const link = page.locator(tid('context-link')).first();
    await link.waitFor({ timeout: UI_TIMEOUT });
    const title = (await link.textContent()).trim();
    await link.click();
    const out = page.locator(tid('ctx-output'));
    await out.waitFor({ timeout: 20000 });
    let text;
    if (await out.getAttribute('data-format') === 'html') {
      check(await out.getAttribute('sandbox') === '', 'html output is in a sandboxed iframe');
      text = await page.frameLocator(tid('ctx-output')).locator('body').textContent();
    } else {
      text = await out.textContent();
    }
    check(text.includes(title), "the context's page shows its rendered output",
      `title ${title}; output: ${text.slice(0, 300)}`);
    check(await page.locator(tid('timings-chart') + ' rect').count() > 0,
      'the component timings chart has bars');
    await snap(page, 'context-output');
  });

  await step(page, 'bulk retry asks for confirmation with the count', async () => {
    await page.goto(BASE + '/#/contexts?status=failed&limit=200');
    await page.locator(tid('contexts-table')).waitFor({ timeout: UI_TIMEOUT });
    const rows = await page.locator(tid('context-row')).count();
    await page.locator(tid('bulk-retry')).click();
    const txt = await page.locator(tid('confirm-text')).textContent({ timeout: UI_TIMEOUT });
    check(new RegExp(`^Retry ${rows} contexts? that match`).test(txt),
      'the bulk retry confirmation states how many contexts match', `${rows} rows; "${txt}"`);
    await snap(page, 'bulk-confirm');
    await page.locator(tid('confirm-no')).click();
    await page.waitForTimeout(300);
    check(await page.locator(`[data-testid="context-row"][data-id="${FAILED_B}"]`).count() === 1,
      'declining changes nothing');
  });

  await step(page, 'retry a failed context', async () => {
    await page.goto(BASE + `/#/contexts/${FAILED_A}`);
    await page.locator(`${tid('ctx-status')}[data-status="failed"]`).waitFor({ timeout: UI_TIMEOUT });
    await page.locator(tid('attempts-table')).waitFor();
    await snap(page, 'failed-context');
    await page.locator(tid('ctx-retry')).click();
    await page.waitForFunction(() => {
      const el = document.querySelector('[data-testid="ctx-status"]');
      return el && el.getAttribute('data-status') !== 'failed';
    }, null, { timeout: 20000 });
    const st = await page.locator(tid('ctx-status')).getAttribute('data-status');
    check(['pending', 'processing', 'completed'].includes(st),
      'the failed context is retried', `status now ${st}`);
    check(await page.locator(tid('ctx-retry')).count() === 0, 'its retry button is gone');
    await snap(page, 'retried-context');
  });

  await step(page, 'the admin sees the write buttons', async () => {
    await page.goto(BASE + `/#/contexts/${FAILED_B}`);
    await page.locator(tid('ctx-retry')).waitFor({ timeout: UI_TIMEOUT });
    await page.goto(BASE + '/#/keys');
    await page.locator(tid('key-create')).waitFor({ timeout: UI_TIMEOUT });
    check(true, 'the admin sees retry on a failed context and the key form');
  });

  await step(page, 'a read-only key shows no write buttons', async () => {
    await page.locator(tid('signout')).click();
    await page.locator(tid('login-form')).waitFor({ timeout: UI_TIMEOUT });
    await signIn(page, READ);
    const who = await page.locator(tid('who')).textContent();
    check(!/write/.test(who), 'signed in with the read-only key', who);
    const pages = [
      ['/#/batches', tid('batches-table') + ' tbody tr',
        ['batch-form', 'batch-submit', 'batch-pause', 'batch-resume']],
      ['/#/contexts?status=failed', tid('contexts-table'), ['bulk-retry', 'bulk-cancel']],
      [`/#/contexts/${FAILED_B}`, tid('ctx-status'), ['ctx-retry', 'ctx-cancel']],
      ['/#/catalog/pipelines', tid('catalog-table'), ['catalog-new', 'catalog-edit']],
      ['/#/keys', tid('keys-table'), ['key-create', 'key-revoke']],
    ];
    for (const [url, ready, absent] of pages) {
      await page.goto(BASE + url);
      await page.locator(ready).first().waitFor({ timeout: UI_TIMEOUT });
      await page.waitForTimeout(300);	// whatever loads after the first paint
      const seen = [];
      for (const id of absent)
        if (await page.locator(tid(id)).count())
          seen.push(id);
      check(seen.length === 0, `read-only: no write buttons on ${url}`, seen.join(', '));
      await snap(page, 'read-only-' + url.replace(/[^a-z]+/g, '-').replace(/^-|-$/g, ''));
    }
  });
}

main().then(() => {
  diag(`screenshots in ${ART}`);
  process.exit(0);
}, (e) => {
  check(false, 'the browser test ran', e.stack || String(e));
  process.exit(1);
});
