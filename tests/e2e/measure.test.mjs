// The timing-middleware lesson as a learner does it: the header appears in the Response tab,
// its place in MIDDLEWARE decides what it measures, and the check says what a number leaves out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveDist, launch } from './harness.mjs';
import { open, get, editFile, check, tab } from './lab_helpers.mjs';

let server, browser;
before(async () => { server = await serveDist(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

const header = async (page) => {
  const dl = await page.locator('[data-testid=step-detail] [data-testid=headers]').textContent();
  const m = dl.match(/X-Request-Duration-Ms([0-9.]+)/);
  return m ? Number(m[1]) : null;
};

test('a timing middleware: listed last it lets the cache replay an old number and the check says so; listed first it passes', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page, errors } = await open(ctx, server.base, 'measure');
  let verdict = await check(page);
  assert.equal(verdict.passed, false);
  assert.match(verdict.text, /has no X-Request-Duration-Ms header/);
  // The learner writes the timing and lists the middleware at the end.
  await editFile(page, 'timing.py', (src) => src.replace(
    '        response = self.get_response(request)\n        # To do',
    '        start = time.perf_counter()\n        response = self.get_response(request)\n        response["X-Request-Duration-Ms"] = f"{(time.perf_counter() - start) * 1000:.2f}"\n        # To do'));
  await editFile(page, 'settings.py', (src) => src.replace('FetchFromCacheMiddleware",\n]', 'FetchFromCacheMiddleware",\n    "timing.TimingMiddleware",\n]'));
  const miss = await get(page, '/articles/');
  const first = await header(page);
  assert.ok(first > 0 && first <= miss.ms * 50, `the page's header: ${first} ms`);
  const hit = await get(page, '/articles/');
  assert.equal(hit.queries, 0, 'the second request is a cache hit');
  assert.equal(await header(page), first, 'the cached page carries the first request\'s number');
  verdict = await check(page);
  assert.equal(verdict.passed, false);
  assert.match(verdict.text, /not measured on this request[\s\S]*put it first in MIDDLEWARE/);
  // First in the list: every response measured, the hit included.
  await editFile(page, 'settings.py', (src) => src.replace('    "timing.TimingMiddleware",\n]', ']').replace('MIDDLEWARE = [\n', 'MIDDLEWARE = [\n    "timing.TimingMiddleware",\n'));
  await get(page, '/articles/');
  await get(page, '/articles/');
  const cached = await header(page);
  assert.ok(cached !== null && cached < first, `the hit's own, smaller number: ${cached} < ${first}`);
  // The Profile tab lists the middleware in order: the learner's first, and a hit ends at the
  // cache's FetchFromCacheMiddleware (no view ran); the miss before it reached the view.
  await tab(page, 'profile');
  const layers = () => page.locator('[data-testid=step-detail] [data-testid=profile-layer] code').allTextContents();
  const hitLayers = await layers();
  assert.equal(hitLayers[0], 'timing.TimingMiddleware');
  assert.equal(hitLayers.at(-1), 'django.middleware.cache.FetchFromCacheMiddleware', hitLayers.join(' | '));
  await page.locator('[data-testid=history-step] button').nth(-2).click();
  const missLayers = await layers();
  assert.match(missLayers.at(-1), /^\(the view/, missLayers.join(' | '));
  assert.equal(missLayers.length, hitLayers.length + 1);
  verdict = await check(page);
  assert.equal(verdict.passed, true, verdict.text);
  assert.deepEqual(errors, []);
  await ctx.close();
});
