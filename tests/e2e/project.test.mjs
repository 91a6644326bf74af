// Project labs (views.py, templates, tests.py, requests) in real headless Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveDist, launch } from './harness.mjs';
import { tab } from './lab_helpers.mjs';

let server, browser;
before(async () => { server = await serveDist(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

async function open(ctx, slug) {
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.base}/#/lessons/${slug}`);
  await page.locator('[data-testid=status]').filter({ hasText: 'Database ready' }).waitFor({ timeout: 120_000 });
  return { page, errors };
}

/** Number of answered steps so far (the newest step's detail carries it). */
async function answers(page) {
  const d = page.locator('[data-testid=step-detail]');
  return (await d.count()) ? Number(await d.getAttribute('data-run')) : 0;
}

/** Clicks `locator`, then waits for the next step's detail and returns its numbers. */
async function step(page, click) {
  const before = await answers(page);
  await click();
  await page.waitForFunction((b) => {
    const d = document.querySelector('[data-testid=step-detail]');
    return d && Number(d.getAttribute('data-run')) > b;
  }, before, { timeout: 60_000 });
  const text = async (id) => {
    const l = page.locator(`[data-testid=step-detail] [data-testid=${id}]`);
    return (await l.count()) ? (await l.first().textContent()).trim() : null;
  };
  return { status: await text('status'), queries: Number(await text('query-count')), ms: Number(await text('request-ms')) };
}

async function get(page, url, user = '') {
  await page.locator('[data-testid=url]').fill(url);
  await page.locator('[data-testid=user]').selectOption(user);
  return step(page, () => page.locator('[data-testid=send]').click());
}

async function editFile(page, name, edit) {
  await page.locator('[data-testid=file-tab]', { hasText: name }).click();
  const editor = page.locator(`[data-testid=file-editor][data-file="${name}"]`);
  const src = await editor.inputValue();
  await editor.fill(edit(src));
}

test('typing @cache_page(60) into views.py: the second request costs 0 queries, until the clock passes 60 s', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'cache-page');
  let r = await get(page, '/articles/');
  assert.equal(r.status, '200');
  assert.equal(r.queries, 2);
  await editFile(page, 'views.py', (src) => src.replace('def article_list(request):', '@cache_page(60)\ndef article_list(request):'));
  r = await get(page, '/articles/');
  assert.equal(r.queries, 2, 'the first request after the edit fills the cache');
  const uncachedMs = r.ms;
  r = await get(page, '/articles/');
  assert.equal(r.queries, 0, 'served from the cache');
  assert.ok(r.ms < uncachedMs, `cached ${r.ms} ms < uncached ${uncachedMs} ms`);
  console.log(`# /articles/ request time: ${uncachedMs} ms uncached (2 queries), ${r.ms} ms from cache_page (0 queries)`);
  assert.match(await page.locator('[data-testid=step-detail] [data-testid=headers]').textContent(), /max-age=60/);
  // Another query string is another cache entry.
  r = await get(page, '/articles/?tag=tag-03');
  assert.ok(r.queries > 0);
  await step(page, () => page.locator('[data-testid=clock-advance][data-seconds="61"]').click());
  r = await get(page, '/articles/');
  assert.equal(r.queries, 2, 'expired after 61 s');
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('cache_page serves one user\'s dashboard to another; vary_on_cookie stops it', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'cache-page');
  await page.getByLabel('@cache_page(60) on dashboard').check();
  await get(page, '/dashboard/', 'user006');
  const first = await page.frameLocator('[data-testid=step-detail] iframe').locator('body').textContent();
  assert.match(first, /Hello user006/);
  await get(page, '/dashboard/', 'user002');
  const leaked = await page.frameLocator('[data-testid=step-detail] iframe').locator('body').textContent();
  assert.match(leaked, /Hello user006/, 'user002 sees user006\'s page, as in Django');
  await page.getByLabel('@vary_on_cookie on dashboard').check();
  await get(page, '/dashboard/', 'user006');
  await get(page, '/dashboard/', 'user002');
  const fixed = await page.frameLocator('[data-testid=step-detail] iframe').locator('body').textContent();
  assert.match(fixed, /Hello user002/);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('a failing assertNumQueries shows Django\'s message; fixing the view makes it pass', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'query-count-tests');
  await step(page, () => page.locator('[data-testid=run-tests]').click());
  assert.equal(await page.locator('[data-testid=test-result]').count(), 1, 'the lesson starts without the counting test');
  await page.getByLabel('assertNumQueries(2) test in tests.py').check();
  await step(page, () => page.locator('[data-testid=run-tests]').click());
  const rows = page.locator('[data-testid=test-result]');
  assert.equal(await rows.count(), 2);
  const failing = page.locator('[data-testid=test-result][data-outcome=fail]');
  assert.equal(await failing.count(), 1);
  assert.match(await failing.textContent(), /AssertionError: 22 != 2 : 22 queries executed, 2 expected/);
  assert.match(await failing.textContent(), /Captured queries were:/);
  await page.getByLabel(/select_related/).check();
  await step(page, () => page.locator('[data-testid=run-tests]').click());
  assert.equal(await page.locator('[data-testid=test-result][data-outcome=pass]').count(), 2);
  const r = await get(page, '/orgs/org-1/tasks/');
  assert.equal(r.queries, 2);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('an error in views.py points at the line; nothing typed is lost', async () => {
  const ctx = await browser.newContext();
  const { page } = await open(ctx, 'query-count-tests');
  await editFile(page, 'views.py', (src) => src.replace('return render(', 'return render(('));
  await page.locator('[data-testid=send]').click();
  await page.locator('[data-testid=error]').first().waitFor();
  assert.match(await page.locator('[data-testid=error]').first().textContent(), /SyntaxError/);
  assert.match(await page.locator('[data-testid=file-editor]').inputValue(), /render\(\(/);
  // The editor marks the spot: the line is named, and "Select the line" selects it.
  const mark = page.locator('[data-testid=editor-error]');
  await mark.waitFor();
  const line = Number(await mark.getAttribute('data-line'));
  assert.equal(await page.locator('[data-testid=file-editor]').getAttribute('aria-invalid'), 'true');
  await mark.locator('[data-testid=show-error]').click();
  const selected = await page.locator('[data-testid=file-editor]').evaluate((t) => t.value.slice(t.selectionStart, t.selectionEnd));
  const src = await page.locator('[data-testid=file-editor]').inputValue();
  assert.equal(selected, src.split('\n')[line - 1]);
  assert.match(selected, /render\(\(/, `line ${line}: ${selected}`);
  // From another tab, the error offers to open its file.
  await page.locator('[data-testid=file-tab]').nth(1).click();
  await page.locator('[data-testid=open-error-file]').click();
  assert.equal(await page.locator('[data-testid=file-editor]').getAttribute('data-file'), 'views.py');
  await ctx.close();
});

test('the exercise check runs on a fresh project and a hidden copy: not yet at the start, passed with the toggle', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'cache-page');
  await page.locator('[data-testid=check]').click();
  const result = page.locator('[data-testid=check-result]');
  await page.locator('[data-testid=check-result][data-passed=false]').waitFor({ timeout: 60_000 });
  assert.match(await result.textContent(), /the data you see \(200 articles\): 2 queries, the goal is at most 0/);
  await page.getByLabel('@cache_page(60) on article_list').check();
  await page.locator('[data-testid=check]').click();
  await page.locator('[data-testid=check-result][data-passed=true]').waitFor({ timeout: 60_000 });
  assert.match(await result.textContent(), /hidden copy of the data \(137 articles, other rows\): 0 queries/);
  // The lab carries on after the check: the next request reloads the learner's project.
  const r = await get(page, '/articles/');
  assert.equal(r.status, '200');
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('indexes lab at 100,000 tasks: SCAN and a sort become an index SEARCH, rows read fall 100-fold', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'indexes');
  const t0 = Date.now();
  await page.locator('[data-testid=task-size]').selectOption('100000');
  await page.locator('[data-testid=status]').filter({ hasText: 'Database ready' }).waitFor({ timeout: 120_000 });
  console.log(`# seeding 100,000 tasks took ${Date.now() - t0} ms (page's view)`);
  const rowsRead = async () => Number(await page.locator('[data-testid=step-detail] [data-testid=rows-read]').last().getAttribute('data-value'));
  await get(page, '/tasks/open/');
  const before = await rowsRead();
  await page.locator('[data-testid=shell]').fill("Task.objects.filter(status='open').order_by('-created_at')[:20].explain()");
  await step(page, () => page.locator('[data-testid=run-shell]').click());
  let plan = await page.locator('[data-testid=plan]').textContent();
  assert.match(plan, /SCAN tasks_task/);
  assert.match(plan, /USE TEMP B-TREE FOR ORDER BY/);
  await page.getByLabel('Task.Meta.indexes: Index(fields=["status", "-created_at"])').check();
  await page.locator('[data-testid=migrations]').filter({ hasText: 'CREATE INDEX "task_status_created_idx" ON "tasks_task" ("status", "created_at" DESC);' }).waitFor();
  await get(page, '/tasks/open/');
  const after = await rowsRead();
  assert.ok(before >= 100 * Math.max(after, 1), `rows read ${before} -> ${after}`);
  await step(page, () => page.locator('[data-testid=run-shell]').click());
  plan = await page.locator('[data-testid=plan]').textContent();
  assert.match(plan, /SEARCH tasks_task USING INDEX task_status_created_idx \(status=\?\)/);
  assert.doesNotMatch(plan, /TEMP B-TREE/);
  console.log(`# rows read for the triage query: ${before} without the index, ${after} with it`);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('pagination at 10,000 articles: OFFSET reads more the deeper the page, a cursor with its index does not; pages shift', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'pagination');
  await page.getByLabel('Articles in the database').selectOption('10000');
  await page.locator('[data-testid=status]').filter({ hasText: 'Database ready: 10,000 articles' }).waitFor({ timeout: 120_000 });
  const rowsRead = async () => Number(await page.locator('[data-testid=step-detail] [data-testid=rows-read]').last().getAttribute('data-value'));
  // The response as the step shows it (the frame's srcdoc: no waiting for the frame to load).
  const items = async () => {
    const html = await page.locator('[data-testid=step-detail] iframe').getAttribute('srcdoc');
    return [...html.matchAll(/<li>([^<]*)<\/li>/g)].map((m) => m[1]);
  };
  // Without an index on the ordering every page sorts the whole table.
  await get(page, '/articles/');
  const unindexed = await rowsRead();
  assert.ok(unindexed >= 10000, `no index: page 1 read ${unindexed} rows`);
  await page.getByLabel('Article.Meta.indexes: Index(fields=["-created_at", "-id"])').check();
  await get(page, '/articles/');
  const first = await rowsRead();
  await get(page, '/articles/?page=300');
  const deep = await rowsRead();
  assert.ok(deep > 20 * first, `offset: page 1 read ${first} rows, page 300 read ${deep}`);
  // A cursor 6,000 articles deep.
  await page.locator('[data-testid=shell]').fill("a = newest_first()[6000]; f'{a.created_at:%Y-%m-%d %H:%M:%S}~{a.id}'");
  await step(page, () => page.locator('[data-testid=run-shell]').click());
  const cursor = (await page.locator('[data-testid=shell-output]').textContent()).trim();
  await get(page, `/articles/by-cursor/?cursor=${encodeURIComponent(cursor)}`);
  const cursorDeep = await rowsRead();
  assert.ok(cursorDeep < deep / 20, `cursor 6,000 deep read ${cursorDeep} rows; offset page 300 read ${deep}`);
  console.log(`# rows read at 10,000 articles: no index ${unindexed}; with the index offset page 1 ${first}, page 300 ${deep}; cursor 6,000 deep ${cursorDeep}`);
  // Shifting pages: read page 1, a new article arrives, read page 2: one article repeats.
  await get(page, '/articles/');
  const page1 = await items();
  assert.equal(page1.length, 20);
  await page.locator('[data-testid=shell]').fill("Article.objects.create(author_id=1, title='Breaking news', slug='breaking-news', status='published', created_at='2099-01-01 00:00:00')");
  await step(page, () => page.locator('[data-testid=run-shell]').click());
  await get(page, '/articles/?page=2');
  const page2 = await items();
  assert.equal(page2[0], page1[page1.length - 1], 'the last article of page 1 shows again at the top of page 2');
  assert.deepEqual(errors, []);
  await ctx.close();
});

/** Waits until `total` steps were answered, then the timeline strip's states (the newest load). */
async function timelineStates(page, total) {
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=history-step]').length >= n, total, { timeout: 60_000 });
  return page.locator('[data-testid=timeline-step]').evaluateAll((els) => els.map((e) => e.getAttribute('data-state') || '-'));
}

test('the cache timeline marks the read after a save STALE without a receiver, a MISS with one', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'cache-fragments-and-keys');
  await page.getByLabel('cache.get / cache.set in get_top_tags()').check();
  await tab(page, 'timeline');
  await page.locator('[data-testid=run-timeline]').click();
  assert.deepEqual(await timelineStates(page, 6), ['value miss', 'value hit', '-', 'value stale', '-', 'value miss']);
  await page.locator('[data-testid=timeline-step][data-state="value stale"] button').click();
  assert.match(await page.locator('[data-testid=cache-state]').textContent(), /Stale/);
  assert.match(await page.locator('[data-testid=cache-calls]').textContent(), /cache\.get :1:top_tags \(value\) → hit/);
  assert.match(await page.locator('[data-testid=cache-summary]').textContent(), /^1 cache call: 1 hit, 0 misses$/);
  await page.getByLabel('post_save receiver that deletes the key').check();
  await page.locator('[data-testid=run-timeline]').click();
  assert.deepEqual(await timelineStates(page, 12), ['value miss', 'value hit', '-', 'value miss', '-', 'value miss']);
  await page.locator('[data-testid=timeline-step]').last().locator('button').click();
  assert.match(await page.locator('[data-testid=cache-key]').first().textContent(), /top_tags.*expires in 300 s/);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('the learner edits the timeline: a typo names its line, +59 s keeps the entry, +61 s does not', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'cache-page');
  await page.getByLabel('@cache_page(60) on article_list').check();
  await tab(page, 'timeline');
  const script = page.locator('[data-testid=timeline-script]');
  const original = await script.inputValue();
  await script.fill(original + 'FETCH /articles/\n');
  await page.locator('[data-testid=run-timeline]').click();
  assert.match(await page.locator('[data-testid=timeline-error]').textContent(), /line 7: `FETCH \/articles\/` is not a step/);
  assert.equal(await script.inputValue(), original + 'FETCH /articles/\n', 'what was typed stays');
  await script.fill(original.replace('+61 s', '+59 s'));
  await page.locator('[data-testid=run-timeline]').click();
  assert.deepEqual(await timelineStates(page, 6), ['miss', 'hit', '-', 'stale', '-', 'stale']);
  assert.equal(await page.locator('[data-testid=timeline-error]').count(), 0);
  await script.fill(original);
  await page.locator('[data-testid=run-timeline]').click();
  assert.deepEqual(await timelineStates(page, 12), ['miss', 'hit', '-', 'stale', '-', 'miss']);
  assert.deepEqual(errors, []);
  await ctx.close();
});

/** Clicks Compare and waits for both sides: the metrics by name, as {a, b}. */
async function compare(page, choice) {
  await tab(page, 'compare');
  await page.locator('[data-testid=compare-choice]').selectOption({ label: choice });
  await page.locator('[data-testid=compare]').click();
  await page.locator('[data-testid=compare-result]').waitFor({ timeout: 60_000 });
  await page.locator('[data-testid=compare]:not([disabled])').waitFor({ timeout: 60_000 });
  const rows = await page.locator('[data-testid=compare-metric]').evaluateAll((trs) => trs.map((t) => [t.dataset.metric, Number(t.dataset.a), Number(t.dataset.b)]));
  return Object.fromEntries(rows.map(([k, a, b]) => [k, { a, b }]));
}

test('Compare A/B: Lab B without and with select_related, then an index off and on, with the SQL and plan diffs', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'query-count-tests');
  await page.locator('[data-testid=url]').fill('/orgs/org-1/tasks/');
  const m = await compare(page, 'select_related("assigned_to", "created_by", "updated_by")');
  assert.ok(m.queries.a > 3 && m.queries.b === 2, `queries A ${m.queries.a}, B ${m.queries.b}`);
  assert.equal(await page.locator('[data-testid=compare-same-page]').getAttribute('data-same'), 'true');
  const sqlDiff = page.locator('[data-testid=compare-sql-diff]');
  const only = async (side) => (await sqlDiff.locator(`[data-change=${side}]`).allTextContents()).join('');
  assert.match(await only('a'), /FROM "auth_user" WHERE "auth_user"\."id" = \d+ LIMIT 21\s+×\d+/, 'the N lazy loads, once with their count');
  assert.match(await only('b'), /LEFT OUTER JOIN "auth_user"/);
  console.log(`# Compare, Lab B at 200 articles: ${m.queries.a} queries -> ${m.queries.b}; ${m.request_ms.a.toFixed(2)} ms -> ${m.request_ms.b.toFixed(2)} ms`);
  // The lab carries on with the learner's own code after a comparison.
  const r = await get(page, '/orgs/org-1/tasks/');
  assert.equal(r.queries, m.queries.a);

  const idx = await open(ctx, 'indexes');
  await idx.page.locator('[data-testid=task-size]').selectOption('10000');
  await idx.page.locator('[data-testid=status]').filter({ hasText: 'Database ready' }).waitFor({ timeout: 120_000 });
  await idx.page.locator('[data-testid=url]').fill('/tasks/open/');
  const n = await compare(idx.page, 'Task.Meta.indexes: Index(fields=["status", "-created_at"])');
  assert.ok(n.rows_read.a > 10 * n.rows_read.b, `rows read A ${n.rows_read.a}, B ${n.rows_read.b}`);
  assert.ok(n.sorts.a > 0 && n.sorts.b === 0, `sorts A ${n.sorts.a}, B ${n.sorts.b}`);
  const planDiff = idx.page.locator('[data-testid=compare-plan-diff]');
  assert.match(await planDiff.locator('[data-change=a]').allTextContents().then((t) => t.join('\n')), /SCAN tasks_task[\s\S]*USE TEMP B-TREE FOR ORDER BY/);
  assert.match(await planDiff.locator('[data-change=b]').allTextContents().then((t) => t.join('\n')), /SEARCH tasks_task USING INDEX task_status_created_idx/);
  // B's index is not left behind: the learner's lab (index unticked) still scans.
  await get(idx.page, '/tasks/open/');
  const rowsRead = Number(await idx.page.locator('[data-testid=step-detail] [data-testid=rows-read]').last().getAttribute('data-value'));
  assert.equal(rowsRead, n.rows_read.a);
  assert.deepEqual([...errors, ...idx.errors], []);
  await ctx.close();
});

test('depth chart at 100,000 articles: the OFFSET line climbs, the cursor line stays flat', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'pagination');
  const t0 = Date.now();
  await page.getByLabel('Articles in the database').selectOption('100000');
  await page.locator('[data-testid=status]').filter({ hasText: 'Database ready: 100,000 articles' }).waitFor({ timeout: 300_000 });
  console.log(`# seeding 100,000 articles took ${Date.now() - t0} ms (page's view)`);
  await page.getByLabel('Article.Meta.indexes: Index(fields=["-created_at", "-id"])').check();
  await tab(page, 'chart');
  const points = async (prefix, metric) => {
    await page.locator('[data-testid=sweep-metric]').selectOption(metric);
    return page.locator('[data-testid=chart] g[data-series]').evaluateAll((gs, p) =>
      [...(gs.find((g) => g.dataset.series.startsWith(p))?.querySelectorAll('circle') ?? [])].map((c) => [Number(c.dataset.x), Number(c.dataset.y)]), prefix);
  };
  const sweep = async (label, prefix) => {
    await page.locator('[data-testid=sweep-choice]').selectOption({ label });
    await page.locator('[data-testid=run-sweep]:not([disabled])').click();
    await page.waitForFunction((p) => [...document.querySelectorAll('[data-testid=chart] g[data-series]')].some((g) => g.dataset.series.startsWith(p) && g.querySelectorAll('circle').length >= 9), prefix, { timeout: 300_000 });
    await page.locator('[data-testid=run-sweep]:not([disabled])').waitFor({ timeout: 60_000 });
  };
  await sweep('Page depth: OFFSET (Paginator)', 'OFFSET');
  await sweep('Page depth: cursor', 'cursor');
  // Both lines on one chart.
  assert.equal(await page.locator('[data-testid=chart] g[data-series]').count(), 2);
  const offsetRead = await points('OFFSET', 'rows_read');
  const cursorRead = await points('cursor', 'rows_read');
  const offsetMs = await points('OFFSET', 'ms');
  const cursorMs = await points('cursor', 'ms');
  assert.deepEqual(offsetRead.map((p) => p[0]), [1, 10, 100, 250, 500, 1000, 2000, 3000, 3750]);
  for (let i = 1; i < offsetRead.length; i++) assert.ok(offsetRead[i][1] >= offsetRead[i - 1][1], `offset climbs: ${JSON.stringify(offsetRead)}`);
  assert.ok(offsetRead.at(-1)[1] > offsetRead[0][1] + 50_000, `offset: ${JSON.stringify(offsetRead)}`);
  assert.ok(cursorRead.every((p) => p[1] < 100), `cursor flat: ${JSON.stringify(cursorRead)}`);
  const at = (pts, x) => pts.find((p) => p[0] === x)?.[1];
  for (const x of [1, 100, 1000, 3750]) {
    console.log(`# 100,000 articles, page ${x}: OFFSET ${at(offsetRead, x)} rows read, ${at(offsetMs, x).toFixed(2)} ms; cursor ${at(cursorRead, x)} rows read, ${at(cursorMs, x).toFixed(2)} ms`);
  }
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('growth with data size: the triage page read grows with the table without the index and stays flat with it', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'indexes');
  await page.locator('[data-testid=url]').fill('/tasks/open/');
  await tab(page, 'growth');
  const growth = page.locator('[data-testid=growth]');
  await growth.locator('[data-testid=growth-range]').selectOption('100000');
  await growth.locator('[data-testid=growth-metric]').selectOption('rows_read');
  const measure = async (n) => {
    await growth.locator('[data-testid=run-growth]:not([disabled])').click();
    await page.waitForFunction((k) => document.querySelectorAll('[data-testid=growth] [data-testid=chart] g[data-series]').length >= k
      && [...document.querySelectorAll('[data-testid=growth] [data-testid=chart] g[data-series]')].at(-1).querySelectorAll('circle').length >= 4, n, { timeout: 120_000 });
    await growth.locator('[data-testid=run-growth]:not([disabled])').waitFor({ timeout: 60_000 });
  };
  await measure(1);
  await page.getByLabel('Task.Meta.indexes: Index(fields=["status", "-created_at"])').check();
  await measure(2);
  const read = () => growth.locator('[data-testid=chart] g[data-series]').evaluateAll((gs) => gs.map((g) => [g.dataset.series, [...g.querySelectorAll('circle')].map((c) => [Number(c.dataset.x), Number(c.dataset.y)])]));
  const lines = await read();
  assert.deepEqual(lines.map(([, pts]) => pts.map((p) => p[0])), [[50, 1000, 10000, 100000], [50, 1000, 10000, 100000]]);
  assert.match(lines[1][0], /Task\.Meta\.indexes/);
  const [without, withIndex] = lines.map(([, pts]) => pts.map((p) => p[1]));
  assert.ok(without[2] >= 10000 && without[1] >= 1000, `without the index: ${without}`);
  assert.ok(withIndex.every((r) => r < 100), `with the index: ${withIndex}`);
  await growth.locator('[data-testid=growth-metric]').selectOption('ms');
  const [msWithout, msWith] = (await read()).map(([, pts]) => pts.map((p) => p[1].toFixed(2)));
  console.log(`# /tasks/open/ at 50, 1,000, 10,000, 100,000 tasks: rows read ${without.join(', ')} and ms ${msWithout.join(', ')} without the index; rows read ${withIndex.join(', ')} and ms ${msWith.join(', ')} with it`);
  // The learner's own database was not touched: still the default size.
  await page.locator('[data-testid=status]').filter({ hasText: 'Database ready: 200 articles' }).waitFor();
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('every query in the log has an Explain button: SCAN and a sort before the index, SEARCH after', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'indexes');
  await get(page, '/tasks/open/');
  await tab(page, 'sql');
  const first = page.locator('[data-testid=step-detail] [data-testid=query]').first();
  await first.locator('[data-testid=explain]').click();
  const plan = first.locator('[data-testid=plan]');
  await plan.waitFor({ timeout: 30_000 });
  assert.match(await plan.textContent(), /SCAN tasks_task[\s\S]*USE TEMP B-TREE FOR ORDER BY/);
  assert.equal(await plan.locator('.plan-line.scan').count(), 1, 'the full scan is marked');
  // (Scrolled up first: the page moves as the plan appears, and a click mid-move misses.)
  const toggle = page.getByLabel('Task.Meta.indexes: Index(fields=["status", "-created_at"])');
  await toggle.scrollIntoViewIfNeeded();
  await toggle.check();
  await get(page, '/tasks/open/');
  const again = page.locator('[data-testid=step-detail] [data-testid=query]').first();
  await again.locator('[data-testid=explain]').click();
  await again.locator('[data-testid=plan]').waitFor({ timeout: 30_000 });
  const after = await again.locator('[data-testid=plan]').textContent();
  assert.match(after, /SEARCH tasks_task USING INDEX task_status_created_idx \(status=\?\)/);
  assert.doesNotMatch(after, /TEMP B-TREE/);
  assert.equal(await again.locator('[data-testid=plan] .plan-line.search').count(), 1);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('indexes in models.py: a typo is Django\'s system check at its line, the fix is migrated and the plan turns to SEARCH', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'indexes');
  await page.locator('[data-testid=task-size]').selectOption('10000');
  await page.locator('[data-testid=status]').filter({ hasText: 'Database ready' }).waitFor({ timeout: 120_000 });
  const rowsRead = async () => Number(await page.locator('[data-testid=step-detail] [data-testid=rows-read]').last().getAttribute('data-value'));
  await get(page, '/tasks/open/');
  const before = await rowsRead();
  const declare = (fields, name) => (src) => src.replace('        indexes = [\n        ]', `        indexes = [\n            models.Index(fields=${fields}, name="${name}"),\n        ]`);
  await editFile(page, 'tasks/models.py', declare('["stauts", "-created_at"]', 'task_status_created_idx'));
  await page.locator('[data-testid=url]').fill('/tasks/open/');
  await page.locator('[data-testid=send]').click();
  const error = page.locator('[data-testid=error]');
  await error.waitFor({ timeout: 30_000 });
  const text = await error.textContent();
  assert.match(text, /SystemCheckError/);
  assert.match(text, /tasks\.Task: \(models\.E012\) 'indexes' refers to the nonexistent field 'stauts'\./);
  assert.match(text, /tasks\/models\.py/);
  // What was typed stays; fixing it migrates the index.
  const editor = page.locator('[data-testid=file-editor][data-file="tasks/models.py"]');
  assert.match(await editor.inputValue(), /"stauts"/);
  await editor.fill((await editor.inputValue()).replace('"stauts"', '"status"'));
  await get(page, '/tasks/open/');
  const after = await rowsRead();
  assert.ok(before >= 100 * Math.max(after, 1), `rows read ${before} -> ${after}`);
  await page.locator('[data-testid=migrations]').filter({ hasText: 'CREATE INDEX "task_status_created_idx" ON "tasks_task" ("status", "created_at" DESC);' }).waitFor();
  await tab(page, 'sql');
  const first = page.locator('[data-testid=step-detail] [data-testid=query]').first();
  await first.locator('[data-testid=explain]').click();
  await first.locator('[data-testid=plan]').waitFor({ timeout: 30_000 });
  assert.match(await first.locator('[data-testid=plan]').textContent(), /SEARCH tasks_task USING INDEX task_status_created_idx \(status=\?\)/);
  console.log(`# models.py index at 10,000 tasks: rows read ${before} -> ${after}`);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('two workers with locmem: a save clears one cache and the other serves a STALE page; RedisCache shares it', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'shared-cache');
  await tab(page, 'timeline');
  await page.locator('[data-testid=run-timeline]').click();
  assert.deepEqual(await timelineStates(page, 6), ['value miss', 'value miss', 'value hit', '-', 'value miss', 'value stale']);
  assert.match(await page.locator('[data-testid=timeline-step]').last().textContent(), /on worker 2/);
  // The address bar's picker sends to a worker too: worker 2 still has the old list.
  await page.locator('[data-testid=worker]').selectOption('2');
  await get(page, '/');
  assert.equal(await page.locator('[data-testid=history-step]').last().getAttribute('data-state'), 'value stale');
  await page.getByLabel('CACHES: RedisCache (shared by every process)').check();
  await page.locator('[data-testid=run-timeline]').click();
  assert.deepEqual(await timelineStates(page, 13), ['value miss', 'value hit', 'value hit', '-', 'value miss', 'value hit']);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('transactions: worker 2 waits 2 s for worker 1\'s long transaction, fails after the timeout, and waits 0 s once the slow call is after the commit', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'transactions');
  const lastClock = async () => {
    await page.locator('[data-testid=history-step]').last().locator('button').click();
    const line = page.locator('[data-testid=step-detail] [data-testid=clock-line]');
    return { waited: Number(await line.getAttribute('data-waited')), text: (await line.textContent()).trim() };
  };
  await tab(page, 'timeline');
  await page.locator('[data-testid=run-timeline]').click();
  await timelineStates(page, 2);
  let c = await lastClock();
  assert.equal(c.waited, 2);
  assert.match(c.text, /09:00:01 → 09:00:03 \(2 s\) · started 1 s into the previous request · waited 2 s for the write lock/);
  assert.match(c.text, /Worker 1's transaction held the write lock until 09:00:03; this request waited for it\./);
  assert.match(await page.locator('[data-testid=timeline-step]').last().textContent(), /waited 2 s/);
  // A 7-second e-mail: after the 5 s timeout the second request fails, as SQLite would.
  await page.getByLabel('the e-mail provider takes 7 s').check();
  await page.locator('[data-testid=run-timeline]').click();
  await timelineStates(page, 4);
  c = await lastClock();
  assert.equal(c.waited, 5);
  assert.match(await page.locator('[data-testid=step-detail] [data-testid=error]').textContent(), /OperationalError[\s\S]*database is locked/);
  // The exercise check judges the wait: not yet.
  const result = page.locator('[data-testid=check-result]');
  await page.locator('[data-testid=check]').click();
  await page.locator('[data-testid=check-result][data-passed=false]').waitFor({ timeout: 60_000 });
  assert.match(await result.textContent(), /database is locked/);
  // The learner's own fix, typed: the newsletter after the atomic() block.
  await editFile(page, 'views.py', (src) => src.replace('        article.save()\n        send_newsletter(article)\n', '        article.save()\n    send_newsletter(article)\n'));
  await page.locator('[data-testid=run-timeline]').click();
  await timelineStates(page, 6);
  c = await lastClock();
  assert.equal(c.waited, 0);
  await page.locator('[data-testid=check]').click();
  await page.locator('[data-testid=check-result][data-passed=true]').waitFor({ timeout: 60_000 });
  assert.match(await result.textContent(), /0 s waiting for the write lock \(at most 0\)/);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('the address bar sends any method, form data and headers: vary_on_headers sees the User-Agent typed there', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'cache-page');
  await editFile(page, 'views.py', (src) => 'from django.views.decorators.vary import vary_on_headers\n'
    + src.replace('def article_list(request):', '@cache_page(60)\n@vary_on_headers("User-Agent")\ndef article_list(request):'));
  let r = await get(page, 'GET /articles/ header User-Agent=phone');
  assert.equal(r.status, '200');
  assert.equal(r.queries, 2, 'the phone page is rendered');
  r = await get(page, 'GET /articles/ header User-Agent=phone');
  assert.equal(r.queries, 0, 'the phone page comes from the cache');
  assert.match(await page.locator('[data-testid=step-detail] [data-testid=headers]').textContent(), /User-Agent/);
  r = await get(page, 'GET /articles/ header User-Agent=desktop');
  assert.equal(r.queries, 2, 'another User-Agent is another cache entry');
  // A POST is never served from the page cache, and the label says what was sent.
  r = await get(page, 'POST /articles/ with note=hi');
  assert.equal(r.status, '200');
  assert.equal(r.queries, 2);
  assert.match(await page.locator('[data-testid=history]').textContent(), /POST \/articles\//);
  r = await get(page, 'HEAD /articles/ header User-Agent=phone');
  assert.equal(r.status, '200');
  assert.equal(r.queries, 0, 'HEAD reads the GET page from the cache');
  assert.deepEqual(errors, []);
  await ctx.close();
});
