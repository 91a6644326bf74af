// Every claim true, every verdict right, nothing a learner did lost: one test per finding of the
// review (numbered as it numbered them), each doing what a learner did and reading what the
// page then says.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveDist, launch } from './harness.mjs';
import { open as openLab, get, shell, step, editFile, timelineStates, check, fingerprint, answers, tab } from './lab_helpers.mjs';

let server, browser;
before(async () => { server = await serveDist(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });
const open = (ctx, slug, opts) => openLab(ctx, server.base, slug, opts);

/** Waits for the first step of a lab that sends its request by itself. */
async function firstStep(page) {
  await page.waitForFunction(() => document.querySelector('[data-testid=step-detail]'), null, { timeout: 60_000 });
}

test('1. the goal line judges rows fetched too: the unbounded list is over budget, at 200 and at 10,000 articles', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'fast-enough');
  await firstStep(page);
  const goal = page.locator('[data-testid=step-detail] [data-testid=goal]');
  assert.equal(await goal.getAttribute('data-met'), 'false');
  assert.match(await goal.textContent(), /143 rows fetched, the goal is at most 20/);
  assert.match(await page.locator('[data-testid=unbounded-warning]').textContent(), /143 rows fetched/);
  await page.getByLabel('Articles in the database').selectOption('10000');
  await page.locator('[data-testid=status]').filter({ hasText: 'Database ready: 10,000 articles' }).waitFor({ timeout: 120_000 });
  await page.waitForFunction(() => /7,562 rows fetched/.test(document.querySelector('[data-testid=step-detail] [data-testid=goal]')?.textContent ?? ''), null, { timeout: 60_000 });
  assert.equal(await goal.getAttribute('data-met'), 'false');
  const n = await answers(page);
  await page.getByLabel('articles[:20]: a LIMIT').check();
  await page.waitForFunction((b) => Number(document.querySelector('[data-testid=step-detail]')?.dataset.run) > b, n);
  assert.equal(await goal.getAttribute('data-met'), 'true');
  assert.match(await goal.textContent(), /1 query \(at most 1\), 20 rows fetched \(at most 20\)/);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('2. caching the cheap list instead of the aggregate fails the check, and its hit is a fragment hit, not a page HIT', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'cache-fragments-and-keys');
  await editFile(page, 'templates/home.html', (src) => src.replace('<ul>{% for a in articles %}', '{% cache 300 latest %}<ul>{% for a in articles %}').replace('{% endfor %}</ul>', '{% endfor %}</ul>{% endcache %}'));
  await get(page, '/');
  const second = await get(page, '/');
  assert.equal(second.queries, 1);
  assert.equal(second.cache, 'fragment hit');
  assert.equal(await page.locator('[data-testid=history-step]').last().getAttribute('data-state'), 'fragment hit');
  assert.match(await page.locator('[data-testid=cache-state]').textContent(), /^Fragment hit: /);
  const r = await check(page);
  assert.equal(r.passed, false);
  assert.match(r.text, /still sends SELECT "articles_tag"\."id"/);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('3. deleting the newsletter, or publishing without saving, fails the transactions check and Lab C step 3', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'transactions');
  await editFile(page, 'views.py', (src) => src.replace('        send_newsletter(article)\n', ''));
  let r = await check(page);
  assert.equal(r.passed, false);
  assert.match(r.text, /gives \(0, 'published'\) where the reference solution gives \(1, 'published'\)/);
  await page.getByTestId('reset-lab').click();
  await editFile(page, 'views.py', (src) => src.replace('    with transaction.atomic():\n        article = get_object_or_404(Article, pk=pk)\n        article.status = Article.Status.PUBLISHED\n        article.save()\n        send_newsletter(article)\n', '    article = get_object_or_404(Article, pk=pk)\n    send_newsletter(article)\n'));
  r = await check(page);
  assert.equal(r.passed, false);
  assert.match(r.text, /'draft'\) where the reference solution gives \(1, 'published'\)/);
  const c = await open(ctx, 'lab-c');
  await c.page.getByLabel('{% cache 300 newest %} around the sidebar').check();
  await c.page.getByLabel('post_save receiver deletes the fragment').check();
  await editFile(c.page, 'views.py', (src) => src.replace('        send_newsletter(article)\n', ''));
  r = await check(c.page, 2);
  assert.equal(r.passed, false);
  assert.match(r.text, /where the reference solution gives \(2, 'published', 'published'\)/);
  assert.deepEqual([...errors, ...c.errors], []);
  await ctx.close();
});

test('4. a page-cache miss is not badged HIT: with vary_on_cookie the second user misses; a fragment hit says so', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'cache-page');
  await page.getByLabel('@cache_page(60) on dashboard').check();
  await page.getByLabel('@vary_on_cookie on dashboard').check();
  await get(page, '/dashboard/', 'user006');
  const second = await get(page, '/dashboard/', 'user002');
  assert.equal(second.queries, 2);
  assert.equal(second.cache, 'miss');
  assert.match(await page.locator('[data-testid=cache-state]').textContent(), /Page cache miss: the view ran/);
  assert.doesNotMatch(await page.locator('[data-testid=cache-state]').textContent(), /came from the cache/);
  const f = await open(ctx, 'cache-fragments-and-keys');
  await f.page.getByLabel('{% cache 300 top_tags %} around the sidebar').check();
  await get(f.page, '/');
  const hit = await get(f.page, '/');
  assert.equal(hit.queries, 1);
  assert.equal(hit.cache, 'fragment hit');
  assert.match(await f.page.locator('[data-testid=cache-state]').textContent(), /Fragment hit: a \{% cache %\} fragment came from the cache; the view and the rest of the template ran\./);
  assert.deepEqual([...errors, ...f.errors], []);
  await ctx.close();
});

test('5. assertNumQueries\' call form with self.client.get runs, fails with Django\'s message, and passes the check once fixed', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'query-count-tests');
  await editFile(page, 'tests.py', (src) => src.replace('    # (your query-count test)\n', '    def test_call_form(self):\n        self.assertNumQueries(2, self.client.get, "/orgs/acme/tasks/")\n'));
  await step(page, () => page.locator('[data-testid=run-tests]').click());
  const failing = page.locator('[data-testid=test-result][data-outcome=fail]');
  assert.match(await failing.textContent(), /AssertionError: 22 != 2 : 22 queries executed, 2 expected/);
  assert.doesNotMatch(await page.locator('[data-testid=step-detail]').textContent(), /NotSupported/);
  await page.getByLabel(/select_related/).check();
  const r = await check(page);
  assert.equal(r.passed, true, r.text);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('6. the indexes lesson\'s shell line about a unique field runs: the models are imported, as in Django 5.2\'s shell', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'indexes');
  await shell(page, "Article.objects.filter(slug='article-1').explain()");
  assert.match(await page.locator('[data-testid=plan]').textContent(), /SEARCH articles_article USING INDEX sqlite_autoindex_articles_article_1 \(slug=\?\)/);
  assert.equal(await page.locator('[data-testid=step-detail] [data-testid=error]').count(), 0);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('7. every timeline run starts from fresh data: after the save the request is STALE on the second run too', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'lab-c');
  await tab(page, 'timeline');
  await page.locator('[data-testid=run-timeline]').click();
  assert.deepEqual(await timelineStates(page, 6), ['-', '-', '-', '-', '-', '-']);
  await page.getByLabel('{% cache 300 newest %} around the sidebar').check();
  await page.locator('[data-testid=run-timeline]').click();
  const states = await timelineStates(page, 12);
  assert.deepEqual(states.slice(0, 4), ['fragment miss', 'fragment hit', '-', 'fragment stale']);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('8. N+1 advice names every relation of a group, and test setup writes are never an N+1', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'query-count-tests');
  await get(page, '/orgs/org-1/tasks/');
  const advice = await page.locator('[data-testid=n-plus-one]').allTextContents();
  assert.equal(advice.length, 1);
  assert.match(advice[0], /t\.assigned_to\.username.*t\.created_by\.username.*t\.updated_by\.username/);
  assert.match(advice[0], /select_related\("assigned_to", "created_by", "updated_by"\)/);
  await page.getByLabel(/select_related/).check();
  await step(page, () => page.locator('[data-testid=run-tests]').click());
  assert.equal(await page.locator('[data-testid=step-detail] [data-testid=n-plus-one]').count(), 0, 'setUpTestData\'s INSERTs are not flagged');
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('9. what the lessons say is what the labs show: six columns, 401 at 1,000, a tampered cursor, tag slugs, page=last', async () => {
  const ctx = await browser.newContext();
  const fast = await open(ctx, 'fast-enough');
  assert.match(await fast.page.locator('.prose').textContent(), /lists six columns/);
  await firstStep(fast.page);
  await fast.page.getByLabel('.only("title", "slug", "author__username")').check();
  await fast.page.waitForFunction(() => /"auth_user"\."username" FROM/.test(document.querySelector('[data-testid=step-detail] [data-testid=query]')?.textContent ?? ''));
  const sql = await fast.page.locator('[data-testid=step-detail] [data-testid=query] .sql').first().textContent();
  assert.equal(sql.split(' FROM ')[0].split(', ').length, 6, sql);
  const n1 = await open(ctx, 'n-plus-one');
  assert.match(await n1.page.locator('.prose').textContent(), /load 1,000 articles: the N\+1 version grows to\s+401 queries/);
  await n1.page.getByLabel('Articles in the database').selectOption('1000');
  await n1.page.locator('[data-testid=status]').filter({ hasText: 'Database ready: 1,000 articles' }).waitFor({ timeout: 120_000 });
  await editFile(n1.page, 'views.py', (src) => src.replace('[:20]', '[:200]'));
  assert.equal((await get(n1.page, '/')).queries, 401);
  const pag = await open(ctx, 'pagination');
  const tampered = await get(pag.page, '/articles/by-cursor/?cursor=not-a-date~5');
  assert.equal(tampered.status, '200');
  const cp = await open(ctx, 'cache-page');
  await get(cp.page, '/articles/?tag=sql');
  assert.match(await cp.page.locator('[data-testid=step-detail] iframe').getAttribute('srcdoc'), /Articles tagged sql[\s\S]*<li>/);
  const a = await open(ctx, 'lab-a');
  assert.match(await a.page.locator('.prose').textContent(), /answers last \(not a number\) with page 1/);
  assert.deepEqual([...fast.errors, ...n1.errors, ...pag.errors, ...cp.errors, ...a.errors], []);
  await ctx.close();
});

test('10. a check that takes a while is not a hang; a real hang restarts the engine and says which shell writes were lost', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'cache-page');
  await shell(page, "Article.objects.filter(pk=1).update(title='Mine')");
  const r = await check(page);
  assert.equal(r.passed, false);
  // Longer than the old 10 s watchdog: nothing restarts, the shell's write is still there.
  await page.waitForTimeout(11_000);
  assert.equal(await page.locator('[data-testid=notice]').count(), 0);
  assert.equal((await shell(page, 'Article.objects.get(pk=1).title')).output, 'Mine');
  // A hang: the engine stays busy without a word past the (test-shortened) watchdog.
  await page.evaluate(() => { window.djperfWatchdogMs = 3000; window.djperfStallEngine(8000); });
  const notice = page.locator('[data-testid=notice]');
  await notice.waitFor({ timeout: 30_000 });
  const text = await notice.textContent();
  assert.match(text, /did not answer within 3 s/);
  assert.match(text, /what your shell lines wrote since it was created is gone \(`Article\.objects\.filter\(pk=1\)\.update\(title='Mine'\)`/);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('11. checks, comparisons and growth points leave the learner\'s data, cache, clock and history as they were', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'lab-c');
  await page.getByLabel('{% cache 300 newest %} around the sidebar').check();
  await get(page, '/');
  await shell(page, "Article.objects.filter(pk=2).update(title='Only mine')");
  const history = await page.locator('[data-testid=history-step]').count();
  const before = await fingerprint(page);
  assert.equal((await check(page, 1)).passed, false);
  assert.equal((await check(page, 2)).passed, false);
  assert.equal(await fingerprint(page), before, 'the checks of steps 2 and 3 left the session alone');
  await tab(page, 'compare');
  await page.locator('[data-testid=compare-choice]').selectOption({ index: 2 });
  await page.locator('[data-testid=compare]').click();
  await page.locator('[data-testid=compare-result]').waitFor({ timeout: 60_000 });
  assert.equal(await fingerprint(page), before, 'so did a comparison');
  assert.equal(await page.locator('[data-testid=history-step]').count(), history);
  const r = await get(page, '/');
  assert.equal(r.cache, 'fragment hit', 'the learner\'s cached fragment is still there');
  assert.equal((await shell(page, 'Article.objects.get(pk=2).title')).output, 'Only mine');
  assert.equal(await page.locator('[data-testid=shell-output]').count(), 1);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('12. a link made in a lab after using another lesson\'s lab opens', async () => {
  const ctx = await browser.newContext();
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write']);
  const a = await open(ctx, 'lab-a');
  await get(a.page, '/');
  await a.page.goto(`${server.base}/#/lessons/n-plus-one`);
  await a.page.locator('[data-testid=status]').filter({ hasText: 'Database ready' }).waitFor();
  await firstStep(a.page);
  await a.page.getByTestId('copy-link').click();
  const url = await a.page.locator('[data-testid=share-url]').inputValue();
  const page = await ctx.newPage();
  await page.goto(url);
  await page.locator('[data-testid=link-banner]').waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('[data-testid=link-error]').count(), 0);
  await ctx.close();
});

test('13. opening a damaged link, or one with other code, never costs the learner their saved code', async () => {
  const ctx = await browser.newContext();
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write']);
  const { page, errors } = await open(ctx, 'n-plus-one');
  await editFile(page, 'views.py', (src) => src.replace('published()[:20]', 'published().select_related("author")[:20]'));
  const mine = await page.locator('[data-testid=file-editor]').inputValue();
  // Someone else's link: the start of the lesson with prefetch_related.
  await page.getByTestId('reset-lab').click();
  await page.getByLabel('prefetch_related("tags")').check();
  await page.getByTestId('copy-link').click();
  const theirs = await page.locator('[data-testid=share-url]').inputValue();
  // Back to the learner's own code (what was saved before the reset is gone: save it again).
  await editFile(page, 'views.py', () => mine);
  await page.goto(`${server.base}/#/lessons/n-plus-one?s=1garbage-that-is-not-a-link`);
  await page.locator('[data-testid=link-error]').waitFor();
  assert.equal(await page.locator('[data-testid=file-editor]').inputValue(), mine, 'a damaged link shows the learner\'s own code');
  await page.goto(theirs);
  await page.reload();
  await page.locator('[data-testid=link-banner]').waitFor();
  assert.match(await page.locator('[data-testid=file-editor]').inputValue(), /prefetch_related/);
  await page.goto(`${server.base}/#/`);
  await page.locator('[data-testid=lesson-item][data-slug=n-plus-one][data-state=started]').waitFor();
  await page.goto(theirs);
  await page.reload();
  await page.locator('[data-testid=back-to-mine]').click();
  assert.equal(await page.locator('[data-testid=file-editor]').inputValue(), mine);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('14. a lab too large for a link says so when the link is made, and makes none', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx, 'cache-page');
  const { randomBytes } = await import('node:crypto');
  const noise = randomBytes(45_000).toString('base64');
  await editFile(page, 'views.py', (src) => src + `\n# ${noise}\n`);
  await page.getByTestId('copy-link').click();
  assert.match(await page.getByTestId('copied').textContent(), /No link made: its code is too large for a link \([\d,]+ characters; a link carries at most 32,000\)\. Export your progress/);
  assert.equal(await page.locator('[data-testid=share-url]').count(), 0);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('15. the small things: plurals, sub-resolution times, the size in tasks, the shell\'s worker, a confirmed reset, honest import messages, summaries without backticks', async () => {
  const ctx = await browser.newContext();
  const fast = await open(ctx, 'fast-enough');
  await firstStep(fast.page);
  await fast.page.getByLabel('articles[:20]: a LIMIT').check();
  await fast.page.locator('[data-testid=history-step]').nth(1).waitFor();
  assert.match(await fast.page.locator('[data-testid=history-step]').last().textContent(), /· 1 query ·/);
  const times = await fast.page.locator('[data-testid=step-detail] [data-testid=query] .q-head').allTextContents();
  assert.ok(times.every((t) => !/0\.000 ms/.test(t)), times.join(' | '));
  const idx = await open(ctx, 'indexes');
  await idx.page.locator('[data-testid=task-size]').selectOption('10000');
  await idx.page.locator('[data-testid=status]').filter({ hasText: 'Database ready: 10,000 tasks' }).waitFor({ timeout: 120_000 });
  const r = await check(idx.page);
  assert.match(r.text, /the data you see \(10,000 tasks\)/);
  const c = await open(ctx, 'lab-c');
  await c.page.locator('[data-testid=worker]').selectOption('2');
  assert.match(await c.page.getByTestId('shell-worker').textContent(), /in worker 2/);
  await shell(c.page, 'cache.get(make_template_fragment_key("newest"))');
  assert.match(await c.page.locator('[data-testid=history-step]').last().textContent(), /\(on worker 2\)/);
  const home = c.page;
  await home.goto(`${server.base}/#/`);
  await home.getByTestId('reset-progress').click();
  await home.getByTestId('confirm-reset').waitFor();
  await home.getByTestId('reset-progress-no').click();
  assert.equal(await home.locator('[data-testid=lesson-item][data-slug=indexes]').getAttribute('data-state'), 'attempted');
  const dir = await mkdtemp(join(tmpdir(), 'import-'));
  const bad = join(dir, 'progress.json');
  await writeFile(bad, '{"not": "a progress file"}');
  await home.getByTestId('import-progress').setInputFiles(bad);
  const notice = await home.getByTestId('storage-notice').textContent();
  assert.match(notice, /Nothing was imported, and your progress is as it was/);
  assert.doesNotMatch(notice, /reset/);
  const summaries = await home.getByTestId('lesson-summary').allTextContents();
  assert.ok(summaries.every((s) => !s.includes('`')), summaries.join(' | '));
  assert.deepEqual([...fast.errors, ...idx.errors, ...c.errors], []);
  await ctx.close();
});
