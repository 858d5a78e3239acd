// Drives `wxfs serve` in headless Chromium for tests/serve_browser.rs, which filled the root,
// started the server and a host process, and checks this script's report against the library's
// own figures. The script walks every view as a person would, saves a screenshot of each, and
// reports what the page showed; the few things only a page can tell (no markup was made of a key,
// an event arrived without a reload) it reports as facts too.
//
// Environment: WXFS_URL (the URL `wxfs serve` printed), WXFS_SCREENSHOTS (a directory),
// WXFS_REPORT (the JSON file to write), WXFS_CHROMIUM (default /usr/bin/chromium), WXFS_TRIGGER
// (created once the Events tab is open: the held sandbox's host then has a write refused).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const url = process.env.WXFS_URL;
const shots = process.env.WXFS_SCREENSHOTS;
const reportPath = process.env.WXFS_REPORT;
const executablePath = process.env.WXFS_CHROMIUM || '/usr/bin/chromium';
const token = new URL(url).searchParams.get('token');

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxfs-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1400, height: 900 },
  acceptDownloads: true,
});
// Every page records what its Content-Security-Policy blocked: an inline handler that some key or
// file name had turned into markup would be one (and would leave an <img> behind).
await context.addInitScript(() => {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
});
const report = {};
const errors = [];
// Statuses of refusals this script asks for on purpose (Chromium logs each failed fetch as a
// console error): each one expected is taken off once seen; any other is an error.
const expectedRefusals = [];

async function newPage() {
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push('page error: ' + e.message));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const status = /^Failed to load resource: the server responded with a status of (\d{3})/.exec(m.text());
    const at = status ? expectedRefusals.indexOf(Number(status[1])) : -1;
    if (at >= 0) expectedRefusals.splice(at, 1);
    else errors.push('console: ' + m.text());
  });
  page.on('dialog', (d) => { errors.push('dialog opened: ' + d.message()); d.dismiss(); });
  return page;
}

async function ready(page, what) {
  await page.waitForSelector(`body[data-ready="${what}"]`, { timeout: 60_000 });
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
}

try {
  // ---- overview, three fresh loads: navigation start to the overview drawn ----
  report.overviewReadyMs = [];
  report.overviewApiMs = [];
  let page;
  for (let i = 0; i < 3; i++) {
    if (page) await page.close();
    page = await newPage();
    await page.goto(url);
    await ready(page, 'overview');
    report.overviewReadyMs.push(await page.evaluate(() => window.__wxfs.overviewReadyAt));
    // Of which the server's answer to /api/overview (request sent to response read).
    report.overviewApiMs.push(await page.evaluate(() => {
      const e = performance.getEntriesByType('resource').find((r) => r.name.includes('/api/overview'));
      return e ? e.responseEnd - e.requestStart : null;
    }));
  }
  await shot(page, '1-overview');
  report.overview = await page.evaluate(() => {
    const out = {};
    for (const card of document.querySelectorAll('section.card')) {
      const bars = {};
      for (const b of card.querySelectorAll('.bar-row')) {
        bars[b.dataset.metric] = { value: b.dataset.value === '' ? null : Number(b.dataset.value), limit: Number(b.dataset.limit), text: b.querySelector('.bar-text').textContent };
      }
      const keys = card.querySelector('.keys');
      out[card.dataset.sandbox] = {
        title: card.querySelector('.title').textContent,
        platform: card.querySelector('.platform').textContent,
        plugin: card.querySelector('.plugin')?.textContent ?? null,
        state: card.querySelector('.state').textContent,
        open: card.querySelector('.state').dataset.open,
        bars,
        keys: Number(keys.dataset.keys),
        encrypted: Number(keys.dataset.encrypted),
        keysText: keys.textContent,
        notes: [...card.querySelectorAll('.notes li')].map((li) => li.textContent),
        readOnly: card.querySelector('p.note')?.textContent ?? null,
        limits: card.querySelector('.limits-from').textContent,
      };
    }
    return out;
  });

  // ---- events, open in its own tab from now on: it must hear what happens elsewhere ----
  const eventsPage = await newPage();
  await eventsPage.goto(url + '#/events');
  await ready(eventsPage, 'events');
  await eventsPage.evaluate(() => { window.__sameDocument = true; });

  // ---- storage of the big sandbox: a page of 100 of its 10,000 keys ----
  const big = encodeURIComponent('u1/wxbig');
  await page.goto(url + '#/storage/' + big);
  await ready(page, 'storage');
  const storageView = async () => page.evaluate(() => {
    const s = document.querySelector('.summary');
    return {
      keys: Number(s.dataset.keys), encrypted: Number(s.dataset.encrypted), bytes: Number(s.dataset.bytes),
      summary: s.textContent,
      rows: document.querySelectorAll('table.keys tbody tr').length,
      sealedRows: [...document.querySelectorAll('tr.sealed')].map((tr) => tr.textContent),
      range: document.querySelector('.pager .range').textContent,
      firstKey: document.querySelector('tr.item td.key')?.textContent ?? null,
      readOnly: document.querySelector('.readonly')?.textContent ?? null,
      buttons: document.querySelectorAll('#add-key, #clear-storage').length,
    };
  });
  report.storage = await storageView();
  await shot(page, '2-storage');
  await page.click('.pager button:has-text("Next")');
  await page.waitForFunction(() => document.querySelector('.pager .range').textContent.startsWith('101'));
  report.storagePage2 = await storageView();
  // The whole value of one key, indented.
  await page.click('tr.item[data-key="key-00150"]');
  await ready(page, 'value');
  report.value = await page.textContent('#value');
  await shot(page, '3-storage-value');
  // A key named like markup, found by the filter: shown as text, nothing made of it.
  await page.fill('input.filter', '<img');
  await page.waitForFunction(() => document.querySelector('.pager .range').textContent === '1–1 of 1');
  await page.click('tr.item');
  await ready(page, 'value');
  report.markupKey = await page.evaluate(() => ({
    key: document.querySelector('tr.item td.key').textContent,
    value: document.querySelector('#value').textContent,
    detailKey: document.querySelector('.detail-key').textContent,
    images: document.querySelectorAll('main img').length,
    pwned: window.__pwned ?? null,
    blocked: window.__csp,
  }));
  await shot(page, '4-storage-markup-key');

  // ---- files of the big sandbox: 100,000 files, a directory page at a time ----
  await page.goto(url + '#/files/' + big);
  await ready(page, 'files');
  await page.click('button.dir[data-area="usr"][data-path=""]');
  await page.waitForSelector('button.dir[data-path="d000"]');
  await page.click('button.dir[data-path="d000"]');
  await page.waitForSelector('button.file[data-path="d000/f0199.txt"]');
  const fileRows = () => page.evaluate(() => document.querySelectorAll('.tree li').length);
  report.files = {
    areas: await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('.view-head .bar-row')].map((b) => [b.dataset.metric, { value: Number(b.dataset.value), limit: Number(b.dataset.limit) }]))),
    rowsAfterOnePage: await fileRows(),
    more: await page.textContent('button.dir[data-path="d000"] + ul > li.more button'),
  };
  await page.click('button.dir[data-path="d000"] + ul > li.more button');
  await page.waitForSelector('button.file[data-path="d000/f0399.txt"]');
  report.files.rowsAfterTwoPages = await fileRows();
  report.files.lastShown = await page.evaluate(() => [...document.querySelectorAll('button.dir[data-path="d000"] + ul button.file')].pop().dataset.path);
  await shot(page, '5-files');
  await page.click('button.file[data-path="readme.txt"]');
  await ready(page, 'preview');
  report.files.text = await page.textContent('#preview-text');
  report.files.download = await page.getAttribute('#download', 'href');
  await page.click('button.file[data-path="picture.bmp"]');
  await page.waitForSelector('#preview-image');
  await page.waitForFunction(() => document.querySelector('#preview-image').complete);
  report.files.image = await page.evaluate(() => ({ width: document.querySelector('#preview-image').naturalWidth, height: document.querySelector('#preview-image').naturalHeight }));
  await shot(page, '6-files-preview');
  const download = page.waitForEvent('download');
  await page.click('#download');
  const saved = path.join(userDataDir, 'download.bmp');
  await (await download).saveAs(saved);
  report.files.downloadBytes = fs.statSync(saved).size;
  const markupFile = await page.evaluate(() => [...document.querySelectorAll('button.file')].map((b) => b.dataset.path).find((p) => p.startsWith('<img')));
  report.files.markupFile = markupFile;
  await page.click(`button.file[data-path="${markupFile.replace(/"/g, '\\"')}"]`);
  await ready(page, 'preview');
  report.files.markupFileShown = await page.evaluate(() => ({ title: document.querySelector('.detail h3').textContent, images: document.querySelectorAll('main img').length, pwned: window.__pwned ?? null, blocked: window.__csp }));

  // ---- edit with --write: change a value, add one, delete one ----
  await page.goto(url + '#/storage/' + encodeURIComponent('u1/wxedit'));
  await ready(page, 'storage');
  await page.click('tr.item[data-key="greeting"]');
  await ready(page, 'value');
  await page.click('#edit-key');
  await page.fill('#edit-value', '{"hello": "browser", "n": 12345678901234567890}');
  await page.fill('#edit-type', 'Object');
  await page.click('#edit-save');
  await page.waitForFunction(() => document.querySelector('#value')?.textContent.includes('browser'));
  report.edit = { shown: await page.textContent('#value') };
  await shot(page, '7-storage-edited');
  // A value the library refuses: its words, on the page.
  await page.click('#edit-key');
  await page.fill('#edit-value', JSON.stringify('x'.repeat(1024 * 1024)));
  expectedRefusals.push(422);
  await page.click('#edit-save');
  await page.waitForFunction(() => document.querySelector('#edit-error').textContent !== '');
  report.edit.refused = await page.textContent('#edit-error');
  await page.click('button:has-text("Cancel")');
  await page.click('#add-key');
  await page.fill('#edit-name', 'added');
  await page.check('#edit-as-text');
  await page.fill('#edit-value', 'typed in the browser');
  await page.click('#edit-save');
  await page.waitForSelector('tr.item[data-key="added"]');
  await page.click('tr.item[data-key="to-delete"]');
  await ready(page, 'value');
  await page.click('#delete-key');
  await page.waitForSelector('tr.item[data-key="to-delete"]', { state: 'detached' });
  report.edit.keys = await page.evaluate(() => [...document.querySelectorAll('tr.item')].map((tr) => tr.dataset.key));

  // ---- the events tab heard the edit's open repair an interrupted write, without a reload ----
  await eventsPage.waitForSelector('tr.event td.message:has-text("interrupted writes removed")');
  // ---- and what the held sandbox's host heard in its own process: a write over its quota ----
  fs.writeFileSync(process.env.WXFS_TRIGGER, '');
  await eventsPage.waitForSelector('tr.event td.message:has-text("writeFileSync refused")');
  report.events = await eventsPage.evaluate(() => [...document.querySelectorAll('tr.event')].map((tr) => [...tr.children].slice(1).map((td) => td.textContent).join(' | ')));
  report.eventsTabKept = await eventsPage.evaluate(() => window.__sameDocument === true);
  await shot(eventsPage, '8-events');

  // ---- a sandbox another process holds open and keeps writing: read-only, its counter moves ----
  await page.goto(url + '#/storage/' + encodeURIComponent('u2/wxheld'));
  await ready(page, 'storage');
  const counter = () => page.evaluate(() => Number(document.querySelector('tr.item[data-key="counter"] td.value').textContent));
  report.held = { first: await counter(), view: await storageView() };
  await shot(page, '9-held-read-only');
  await page.waitForTimeout(500);
  await page.reload();
  await ready(page, 'storage');
  report.held.second = await counter();
  await page.click('tr.item[data-key="counter"]');
  await ready(page, 'value');
  report.held.editButtons = await page.evaluate(() => document.querySelectorAll('#edit-key, #delete-key').length);
  // Asked anyway, as the page would ask: refused, saying why.
  expectedRefusals.push(409);
  report.held.write = await page.evaluate(async (t) => {
    const res = await fetch('/api/storage/set?sandbox=' + encodeURIComponent('u2/wxheld'), {
      method: 'POST', headers: { 'X-Wxfs-Token': t, 'Content-Type': 'application/json' }, body: '{"key":"counter","data":-1}',
    });
    return { status: res.status, error: (await res.json()).error };
  }, token);
  await page.goto(url);
  await ready(page, 'overview');
  report.held.overview = await page.evaluate(() => document.querySelector('section.card[data-sandbox="u2/wxheld"] .state').textContent);
} catch (e) {
  errors.push('script: ' + (e.stack || e.message));
} finally {
  if (expectedRefusals.length) errors.push(`refusals expected but not seen: ${expectedRefusals}`);
  report.errors = errors;
  fs.writeFileSync(reportPath, JSON.stringify(report, null, 2));
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
console.log(`overview ready after ${report.overviewReadyMs?.map((m) => m.toFixed(0)).join(', ')} ms (three loads), `
  + `/api/overview answered in ${report.overviewApiMs?.map((m) => m?.toFixed(0)).join(', ')} ms`);
process.exit(errors.length ? 1 : 0);
