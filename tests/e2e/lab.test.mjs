// The N+1 lab in real headless Chromium, against the release build in dist/ served on loopback.
// The lab sends its request by itself when it opens and after each toggle (it has no cache).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveDist, launch, waitForResult } from './harness.mjs';
import { editFile, tab } from './lab_helpers.mjs';

let server, browser;
before(async () => { server = await serveDist(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

async function openLesson(ctx) {
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.base}/#/lessons/n-plus-one`);
  return { page, errors };
}

test('the lesson list links to the N+1 lesson by a URL of its own', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${server.base}/`);
  const link = page.locator('a[href*="n-plus-one"]');
  await link.click();
  assert.match(page.url(), /#\/lessons\/n-plus-one$/);
  await page.getByRole('heading', { level: 1, name: 'N+1 queries' }).waitFor();
  await ctx.close();
});

test('toggling select_related and prefetch_related takes the page from 41 to 21 to 2 queries', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await openLesson(ctx);
  let r = await waitForResult(page);
  assert.equal(r.count, 41);
  assert.ok(r.ms > 0, `request time shown: ${r.ms}`);
  assert.match(await page.locator('[data-testid=n-plus-one]').first().textContent(), /20 similar queries/);

  await page.getByLabel('select_related("author")').check();
  r = await waitForResult(page, r.run);
  assert.equal(r.count, 21);
  const sqlAfterJoin = await page.locator('[data-testid=query]').first().textContent();
  assert.match(sqlAfterJoin, /INNER JOIN "auth_user" ON \("articles_article"\."author_id" = "auth_user"\."id"\)/);

  await page.getByLabel('prefetch_related("tags")').check();
  r = await waitForResult(page, r.run);
  assert.equal(r.count, 2);
  const log = await page.locator('[data-testid=query-log]').textContent();
  assert.match(log, /WHERE "articles_article_tags"\."article_id" IN \(\d+(, \d+)*\)/);
  assert.equal(await page.locator('[data-testid=n-plus-one]').count(), 0);
  assert.match(await page.locator('[data-testid=goal]').textContent(), /✔/);
  assert.equal(await page.locator('[data-testid=goal]').getAttribute('data-met'), 'true');

  // Prefetch alone: 1 list + 1 prefetch + 20 author lookups.
  await page.getByLabel('select_related("author")').uncheck();
  r = await waitForResult(page, r.run);
  assert.equal(r.count, 22);
  assert.match(await page.locator('[data-testid=n-plus-one]').first().textContent(), /select_related\("author"\)/);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('reloading lands on the same lesson and runs it again', async () => {
  const ctx = await browser.newContext();
  const { page } = await openLesson(ctx);
  await waitForResult(page);
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'N+1 queries' }).waitFor();
  const r = await waitForResult(page);
  assert.equal(r.count, 41);
  await ctx.close();
});

test('an unknown URL shows a not-found page with a link to the lessons', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${server.base}/#/lessons/__proto__`);
  await page.locator('[data-testid=not-found]').waitFor();
  await page.getByRole('link', { name: 'See all lessons' }).click();
  await page.locator('a[href*="n-plus-one"]').waitFor();
  await ctx.close();
});

test('markup in the data is printed escaped, as Django autoescapes', async () => {
  const ctx = await browser.newContext();
  const { page } = await openLesson(ctx);
  const r = await waitForResult(page);
  // Article 7's title is a <script> tag; show the first ten articles, drafts included.
  await editFile(page, 'views.py', (src) => src.replace('Article.objects.published()[:20]', "Article.objects.order_by('id')[:10]"));
  await page.getByTestId('send').click();
  await waitForResult(page, r.run);
  const html = await page.locator('[data-testid=step-detail] iframe').getAttribute('srcdoc');
  assert.match(html, /&lt;script&gt;alert\(&#x27;xss&#x27;\)&lt;\/script&gt; &amp; other &quot;tricks&quot;/);
  assert.doesNotMatch(html, /<script>/);
  await ctx.close();
});

test('a typo in the QuerySet gets Django\'s message with a caret, and the page keeps working', async () => {
  const ctx = await browser.newContext();
  const { page } = await openLesson(ctx);
  const r = await waitForResult(page);
  await editFile(page, 'views.py', (src) => src.replace('Article.objects.published()[:20]', "Article.objects.filter(titel='x')[:20]"));
  await page.getByTestId('send').click();
  const err = page.locator('[data-testid=step-detail] [data-testid=error]');
  await err.waitFor();
  const text = await err.textContent();
  assert.match(text, /FieldError: Cannot resolve keyword 'titel' into field\. Choices are: author, author_id, body/);
  assert.match(text, /\^/);
  await editFile(page, 'views.py', (src) => src.replace("Article.objects.filter(titel='x')[:20]", 'Article.objects.published()[:5]'));
  await page.getByTestId('send').click();
  const r2 = await waitForResult(page, r.run + 1);
  assert.equal(r2.count, 11);
  await ctx.close();
});

test('when the engine crashes, the page says so, restarts it and keeps the learner\'s code', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await openLesson(ctx);
  const r = await waitForResult(page);
  await editFile(page, 'templates/articles/front.html', () => '{% for a in articles %}{{ a.slug }} {% endfor %}');
  const tpl = page.locator('[data-testid=file-editor]');
  await page.evaluate(() => window.djperfCrashEngine());
  await page.locator('[data-testid=notice]').waitFor({ timeout: 30_000 });
  assert.match(await page.locator('[data-testid=notice]').textContent(), /engine crashed/);
  assert.equal(await tpl.inputValue(), '{% for a in articles %}{{ a.slug }} {% endfor %}');
  const r2 = await waitForResult(page, r.run, 60_000);
  assert.equal(r2.count, 1, 'the edited template (no relation touched) runs on the fresh engine');
  // The old worker's handlers are detached, not dropped: no "closure invoked … after being
  // dropped" or any other page error on the fault path.
  await page.waitForTimeout(500);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('when the engine file is missing, the page says so instead of retrying forever', async () => {
  const { mkdtemp, readdir, copyFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { DIST } = await import('./harness.mjs');
  const broken = await mkdtemp(join(tmpdir(), 'dist-no-engine-'));
  for (const f of await readdir(DIST)) {
    if (!/^engine_worker-[0-9a-f]+_bg\.wasm$/.test(f)) await copyFile(join(DIST, f), join(broken, f));
  }
  const brokenServer = await serveDist(broken);
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  try {
    await page.goto(`${brokenServer.base}/#/lessons/n-plus-one`);
    await page.getByRole('heading', { level: 1, name: 'N+1 queries' }).waitFor();
    await page.waitForFunction(() => /not available/.test(document.querySelector('[data-testid=status]')?.textContent ?? ''), null, { timeout: 60_000 });
    assert.match(await page.locator('[data-testid=notice]').textContent(), /engine_worker-[0-9a-f]+_bg\.wasm could not be loaded \(HTTP 404\)\. Reload the page to retry/);
    assert.match(await page.locator('[data-testid=file-editor]').inputValue(), /Article\.objects\.published\(\)\[:20\]/);
  } finally {
    await ctx.close();
    await brokenServer.close();
    await rm(broken, { recursive: true, force: true });
  }
});

test('the build versions the engine files and the page runs under its own CSP with no violation', async () => {
  const { readdir, readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { DIST } = await import('./harness.mjs');
  const files = await readdir(DIST);
  assert.ok(files.some((f) => /^engine_worker-[0-9a-f]{16}_bg\.wasm$/.test(f)), files.join(' '));
  assert.ok(files.some((f) => /^engine_worker_loader-[0-9a-f]{16}\.js$/.test(f)), files.join(' '));
  assert.ok(!files.includes('engine_worker_bg.wasm') && !files.includes('engine_worker_loader.js'));
  const html = await readFile(join(DIST, 'index.html'), 'utf8');
  assert.match(html, /http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self' 'wasm-unsafe-eval';/);
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  const ctx = await browser.newContext();
  await ctx.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const { page, errors } = await openLesson(ctx);
  const r = await waitForResult(page);
  assert.equal(r.count, 41);
  // A chart (its colours are classes, not inline styles) and the Explain tree render too.
  await page.goto(`${server.base}/#/lessons/indexes`);
  await page.locator('[data-testid=result-tab][data-tab=growth]').waitFor();
  await tab(page, 'growth');
  await page.getByTestId('growth').waitFor();
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('a host whose Content-Security-Policy blocks WebAssembly gets a message in words, not a blank page', async () => {
  const strict = await serveDist(undefined, '/', { 'content-security-policy': "default-src 'self'; script-src 'self'" });
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  try {
    await page.goto(`${strict.base}/#/lessons/n-plus-one`);
    const box = page.getByTestId('boot-error');
    await box.waitFor({ timeout: 30_000 });
    assert.match(await box.textContent(), /Content-Security-Policy does not allow WebAssembly.*'wasm-unsafe-eval'/);
    assert.equal(await box.getAttribute('role'), 'alert');
  } finally {
    await ctx.close();
    await strict.close();
  }
});

test('once loaded, the lab works offline: the service worker serves the page, the UI and the engine', async () => {
  const own = await serveDist();
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  try {
    await page.goto(`${own.base}/#/lessons/n-plus-one`);
    assert.equal((await waitForResult(page)).count, 41);
    await page.waitForFunction(async () => {
      const reg = await navigator.serviceWorker.getRegistration();
      return reg?.active?.state === 'activated' && navigator.serviceWorker.controller !== null;
    }, null, { timeout: 60_000, polling: 200 });
    // One navigation under the service worker while the site is up, then the site is gone.
    // Chrome sends a navigation to the network, uncontrolled, when the service worker does not
    // start in time (seen once in CI on a loaded machine); a few reloads tell that apart from a
    // worker that never takes the page.
    let controlled = false;
    for (let attempt = 1; attempt <= 4 && !controlled; attempt++) {
      if (attempt > 1) await page.waitForTimeout(1000);
      await page.reload();
      await waitForResult(page);
      controlled = await page.evaluate(() => navigator.serviceWorker.controller !== null);
      if (!controlled) console.log(`# reload ${attempt} was not served by the service worker`);
    }
    assert.ok(controlled, 'the reloaded page is served by the service worker');
    await own.stop();
    // A loaded machine can be slow to start the service worker for a navigation, and Chrome
    // then asks the network; a few tries tell that apart from a worker that never serves.
    for (let attempt = 1; ; attempt++) {
      try { await page.reload(); break; } catch (e) { if (attempt === 3) throw e; await page.waitForTimeout(1000); }
    }
    const r = await waitForResult(page);
    assert.equal(r.count, 41);
    await page.getByLabel('select_related("author")').check();
    await page.getByLabel('prefetch_related("tags")').check();
    await page.waitForFunction(() => document.querySelector('[data-testid=query-count]')?.textContent.trim() === '2', null, { timeout: 60_000 });
  } finally {
    await ctx.close();
    await own.close().catch(() => {});
  }
});

test('honest timings: the shown time is the median of warm runs with their spread; a cold first run is named', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await openLesson(ctx);
  await waitForResult(page);
  const note = page.getByTestId('timing');
  const runs = Number(await note.getAttribute('data-runs'));
  assert.ok(runs >= 2, `runs: ${runs}`);
  const text = await note.textContent();
  const m = /Median of (\d) runs \(([\d.]+)–([\d.]+) ms\)/.exec(text);
  assert.ok(m, text);
  const ms = Number(await page.getByTestId('request-ms').textContent());
  assert.ok(Number(m[2]) <= ms + 0.01 && ms <= Number(m[3]) + 0.01, `${ms} within ${m[2]}–${m[3]}`);
  if ((await note.getAttribute('data-cold')) === 'true') assert.match(text, /The first took [\d.]+ ms: cold code/);
  console.log(`# first result: ${text}`);
  assert.deepEqual(errors, []);
  await ctx.close();
});
