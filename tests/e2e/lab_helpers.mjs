// What the browser tests do to a lab, as a learner would: open a lesson, send a request, run a
// shell line, edit a file, tick a toggle, read what the page shows.
import assert from 'node:assert/strict';

/** Opens a lesson and waits for its database; page errors are collected in `errors`. */
export async function open(ctx, base, slug, { ready = 'Database ready' } = {}) {
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/#/lessons/${slug}`);
  await page.locator('[data-testid=status]').filter({ hasText: ready }).waitFor({ timeout: 120_000 });
  return { page, errors };
}

/** Number of answered steps so far (the newest step's detail carries it). */
export async function answers(page) {
  const d = page.locator('[data-testid=step-detail]');
  return (await d.count()) ? Number(await d.getAttribute('data-run')) : 0;
}

/** What the selected step's detail shows. */
export async function shown(page) {
  const text = async (id) => {
    const l = page.locator(`[data-testid=step-detail] [data-testid=${id}]`);
    return (await l.count()) ? (await l.first().textContent()).trim() : null;
  };
  const rowsRead = await page.locator('[data-testid=step-detail] [data-testid=rows-read]').evaluateAll((els) => els.reduce((a, e) => a + Number(e.dataset.value), 0));
  return {
    status: await text('status'),
    queries: Number(await text('query-count')),
    ms: Number(await text('request-ms')),
    rowsFetched: Number(await text('rows-fetched')),
    rowsRead,
    // (Counted first: a step without a cache badge has no element to wait for.)
    cache: await page.locator('[data-testid=step-detail] [data-testid=cache-state]').evaluateAll((els) => els[0]?.getAttribute('data-state') ?? null),
  };
}

/** Clicks, then waits for the next step's detail and returns its numbers. */
export async function step(page, click, timeout = 60_000) {
  const before = await answers(page);
  await click();
  await page.waitForFunction((b) => {
    const d = document.querySelector('[data-testid=step-detail]');
    return d && Number(d.getAttribute('data-run')) > b;
  }, before, { timeout });
  return shown(page);
}

/** Sends `GET url` from the address bar (as `user`, on `worker` when the lab has workers). */
export async function get(page, url, user = '', worker = null) {
  await page.locator('[data-testid=url]').fill(url);
  await page.locator('[data-testid=user]').selectOption(user);
  if (worker) await page.locator('[data-testid=worker]').selectOption(String(worker));
  return step(page, () => page.locator('[data-testid=send]').click());
}

/** Runs a shell line; returns its output. */
export async function shell(page, code) {
  await page.locator('[data-testid=shell]').fill(code);
  const r = await step(page, () => page.locator('[data-testid=run-shell]').click());
  const out = page.locator('[data-testid=step-detail] [data-testid=shell-output]');
  return { ...r, output: (await out.count()) ? (await out.textContent()).trim() : '' };
}

export async function editFile(page, name, edit) {
  await page.locator('[data-testid=file-tab]', { hasText: name }).click();
  const editor = page.locator(`[data-testid=file-editor][data-file="${name}"]`);
  const src = await editor.inputValue();
  const next = edit(src);
  assert.notEqual(next, src, `the edit of ${name} changes it`);
  await editor.fill(next);
}

/** Waits until `total` steps were answered, then the timeline strip's states (the newest load). */
export async function timelineStates(page, total) {
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=history-step]').length >= n, total, { timeout: 60_000 });
  return page.locator('[data-testid=timeline-step]').evaluateAll((els) => els.map((e) => e.getAttribute('data-state') || '-'));
}

/** Clicks "Check my solution" (of exercise `k`) and waits for the verdict. */
export async function check(page, k = 0) {
  const panel = page.locator('[data-testid=exercise]').nth(k);
  await panel.locator('[data-testid=check]').click();
  const result = panel.locator('[data-testid=check-result]');
  await result.waitFor({ timeout: 120_000 });
  return { passed: (await result.getAttribute('data-passed')) === 'true', text: (await result.textContent()).trim() };
}

/** The digest of the learner's session (data, cache, clock, project). */
export async function fingerprint(page) {
  await page.evaluate(() => window.djperfFingerprint());
  await page.waitForFunction(() => (document.querySelector('[data-testid=fingerprint]')?.textContent ?? '') !== '', null, { timeout: 30_000 });
  return page.locator('[data-testid=fingerprint]').textContent();
}

/** Brings result tab `name` (response, sql, cache, tests, timeline, chart, compare, growth) forward. */
export async function tab(page, name) {
  await page.locator(`[data-testid=result-tab][data-tab=${name}]`).click();
  await page.locator(`[data-testid=result-tab][data-tab=${name}][aria-selected=true]`).waitFor();
}

/** The lessons the course's list links to (`#/lessons/<slug>`), each once, in order; the
 * list page's errors go to `errors`. */
export async function lessonLinks(ctx, base, errors) {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/#/`);
  const hrefs = await page.locator('a[href^="#/lessons/"]').evaluateAll((as) => [...new Set(as.map((a) => a.getAttribute('href')))]);
  assert.ok(hrefs.length >= 14, `${hrefs.length} lessons listed`);
  await page.close();
  return hrefs;
}
