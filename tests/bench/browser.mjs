// Benchmark (prints numbers; asserts nothing): every target of issue 24 (speed, re-scoped),
// measured in headless Chromium against the release build in dist/, each printed with its target
// and the baseline it started from. Run by .ci/bench; the size budget alone is enforced, in
// .ci/test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, serveDist, launch, launchProfile, waitForResult, median } from '../e2e/harness.mjs';
import { bundleSizes, printSizes, BUDGET_KB } from '../e2e/bundle.mjs';
import { pyodideBench } from './pyodide.mjs';

const list = (xs) => `[${xs.map((x) => x.toFixed(0)).join(', ')}]`;
const summary = [];
/** One row of the closing table: what, measured, target, baseline, and whether it is met. */
function report(what, value, unit, target, baseline) {
  const met = value <= target;
  summary.push({ what, value, unit, target, baseline, met });
  console.log(`  ${what}: ${value.toFixed(unit === 'x' || (unit === 'ms' && value < 20) ? 2 : 0)} ${unit} (target <= ${target} ${unit}, baseline ${baseline}) ${met ? 'MET' : 'NOT MET'}`);
}

// Long main-thread tasks, from the very start of every page.
const LONGTASKS = () => {
  window.__longtasks = [];
  try {
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longtasks.push(e.duration); })
      .observe({ type: 'longtask', buffered: true });
  } catch { /* no longtask support: reported as none */ }
};

async function firstResultTimes(page) {
  await page.waitForFunction(() => document.querySelector('[data-testid=query-count]'), null, { polling: 'raf', timeout: 60_000 });
  return page.evaluate(() => {
    const mark = (n) => performance.getEntriesByName(n)[0]?.startTime ?? NaN;
    return { result: performance.now(), ready: mark('engine-ready'), seeded: mark('engine-seeded'), longtasks: window.__longtasks ?? [] };
  });
}

async function cold(browser, base) {
  const runs = [];
  for (let i = 0; i < 5; i++) {
    const ctx = await browser.newContext(); // a fresh profile: empty HTTP cache, no service worker
    await ctx.addInitScript(LONGTASKS);
    const page = await ctx.newPage();
    await page.goto(`${base}/#/lessons/n-plus-one`);
    runs.push(await firstResultTimes(page));
    await ctx.close();
  }
  console.log('cold start (fresh browser profile, localhost, default database of 200 articles):');
  console.log(`  engine loaded (wasm fetched and compiled in the worker) at ${list(runs.map((r) => r.ready))} ms`);
  console.log(`  database seeded at ${list(runs.map((r) => r.seeded))} ms`);
  console.log(`  first lab result at ${list(runs.map((r) => r.result))} ms`);
  const long = runs.flatMap((r) => r.longtasks);
  console.log(`  main-thread tasks over 50 ms while loading: ${long.length} in 5 loads, longest ${long.length ? Math.max(...long).toFixed(0) : 0} ms`);
  report('cold: navigation -> first N+1 lab result, median', median(runs.map((r) => r.result)), 'ms', 600, '1,121 ms (issue 24)');
  return long;
}

/** Return visits after a first visit that ends when the service worker is active, or (`idleMs`)
 * that stays idle that long after its first result, as a learner reading the text does: V8
 * writes its cache of compiled wasm once the code has tiered up and compiling has stopped.
 * `onDisk`: in a profile kept on disk (a learner's everyday window, where V8's code cache
 * lives); else in an in-memory profile (a private window: V8 keeps no code cache), as issue 24's
 * baseline was measured. */
async function returnVisit(browser, base, idleMs = 0, onDisk = false) {
  const dir = onDisk ? mkdtempSync(join(tmpdir(), 'bench-profile-')) : null;
  const ctx = onDisk ? await launchProfile(dir) : await browser.newContext();
  await ctx.addInitScript(LONGTASKS);
  const first = await ctx.newPage();
  await first.goto(`${base}/#/lessons/n-plus-one`);
  await firstResultTimes(first);
  await first.waitForFunction(async () => (await navigator.serviceWorker.getRegistration())?.active?.state === 'activated', null, { timeout: 60_000, polling: 200 });
  if (idleMs) await first.waitForTimeout(idleMs);
  await first.close();
  const runs = [];
  for (let i = 0; i < 5; i++) {
    const page = await ctx.newPage();
    await page.goto(`${base}/#/lessons/n-plus-one`);
    runs.push(await firstResultTimes(page));
    await page.close();
  }
  await ctx.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  const after = idleMs ? `, after a first visit idle ${idleMs / 1000} s` : '';
  const profile = onDisk ? 'a profile on disk' : 'an in-memory profile';
  console.log(`return visit (the same profile, ${profile}; files from the service worker's cache${after}):`);
  console.log(`  engine loaded at ${list(runs.map((r) => r.ready))} ms, seeded at ${list(runs.map((r) => r.seeded))} ms, first result at ${list(runs.map((r) => r.result))} ms`);
  report(`return visit, ${profile}${after}: navigation -> first result, median`, median(runs.map((r) => r.result)), 'ms', 300, `635 ms (issue 24, ${onDisk ? 'measured in an in-memory profile' : 'the same way'})`);
}

/** Median request time of the N+1 lab's page with `expr` as its QuerySet (views.py edited),
 * over 20 warm runs of `GET /` (the first is dropped). */
async function warmRuns(page, expr, last) {
  await page.locator('[data-testid=file-tab]', { hasText: 'views.py' }).click();
  const editor = page.locator('[data-testid=file-editor][data-file="views.py"]');
  const src = await editor.inputValue();
  await editor.fill(src.replace(/articles = .*\n/, `articles = ${expr}\n`));
  await page.locator('[data-testid=url]').fill('/');
  const ms = [];
  // The first run of each request is the profiled one (the Profile tab times it); the shown
  // number is the median of that run and up to four unprofiled repeats.
  const profiled = [];
  let count = 0;
  for (let i = 0; i < 21; i++) {
    await page.getByTestId('send').click();
    const r = await waitForResult(page, last);
    last = r.run;
    count = r.count;
    if (i > 0) {
      ms.push(r.ms);
      const t = await page.locator('[data-testid=step-detail][data-run="' + r.run + '"] [data-testid=profile-time]').textContent();
      profiled.push(Number(/listed: ([\d.]+) ms/.exec(t)?.[1] ?? NaN));
    }
  }
  return { ms: median(ms), min: Math.min(...ms), max: Math.max(...ms), profiled: median(profiled), count, last };
}

async function setArticles(page, n, last) {
  const t0 = Date.now();
  await page.getByLabel('Articles in the database').selectOption(String(n));
  const shown = n.toLocaleString('en-US');
  await page.waitForFunction((shown) => new RegExp(`Database ready: ${shown} articles`).test(document.querySelector('[data-testid=status]')?.textContent ?? ''), shown, { timeout: 180_000, polling: 50 });
  const status = await page.locator('[data-testid=status][role=status]').textContent();
  const r = await waitForResult(page, last, 180_000);
  const seedMs = Number(/\(([\d.]+) ms/.exec(status)?.[1] ?? NaN);
  return { r, seedMs, pageMs: Date.now() - t0 };
}

async function warm(browser, base) {
  const ctx = await browser.newContext();
  await ctx.addInitScript(LONGTASKS);
  const page = await ctx.newPage();
  await page.goto(`${base}/#/lessons/n-plus-one`);
  let last = (await waitForResult(page)).run;
  await page.evaluate(() => { window.__longtasks.length = 0; });
  const N1 = (n) => `Article.objects.published()[:${n}]`;
  const FIXED = (n) => `Article.objects.published().select_related("author").prefetch_related("tags")[:${n}]`;
  const line = (what, r) => console.log(`  ${what}: ${r.count} queries, median ${r.ms.toFixed(2)} ms (min ${r.min.toFixed(2)}, max ${r.max.toFixed(2)}), n=20`);

  console.log('warm requests, end to end in the page (the N+1 lab):');
  let n1 = await warmRuns(page, N1(20), last); last = n1.last; line('200 articles, page of 20, N+1', n1);
  let fixed = await warmRuns(page, FIXED(20), last); last = fixed.last; line('200 articles, page of 20, fixed', fixed);
  report('warm, 200 articles, N+1 page', n1.ms, 'ms', 1.5, '3.2 ms (issue 24)');
  console.log(`  the profiled first run of the same requests: N+1 ${n1.profiled.toFixed(2)} ms, fixed ${fixed.profiled.toFixed(2)} ms (medians)`);
  report('profile overhead: profiled first run / shown median, N+1 page', n1.profiled / n1.ms, 'x', 1.5, 'issue 23: at most 1.5x');
  report('profile overhead: profiled first run / shown median, fixed page', fixed.profiled / fixed.ms, 'x', 1.5, 'issue 23: at most 1.5x');
  report('warm, 200 articles, fixed page', fixed.ms, 'ms', 0.8, '1.1 ms (issue 24)');

  const seeded = await setArticles(page, 5000, last); last = seeded.r.run;
  n1 = await warmRuns(page, N1(20), last); last = n1.last; line('5,000 articles, page of 20, N+1', n1);
  fixed = await warmRuns(page, FIXED(20), last); last = fixed.last; line('5,000 articles, page of 20, fixed', fixed);
  const slice = await warmRuns(page, N1(200), last); last = slice.last; line('5,000 articles, slice of 200, N+1', slice);
  report('warm, 5,000 articles, N+1 page', n1.ms, 'ms', 3, '4.4 ms (issue 24)');
  report('warm, 5,000 articles, fixed page', fixed.ms, 'ms', 3, '7.0 ms (issue 24)');
  report(`warm, the 200-article slice's N+1 page (${slice.count} queries)`, slice.ms, 'ms', 15, '23.9 ms (last session, 1,000 articles)');
  console.log(`  the profiled first run of the slice's N+1 page: ${slice.profiled.toFixed(2)} ms (median)`);
  report('profile overhead: profiled first run / shown median, the 200-article slice', slice.profiled / slice.ms, 'x', 1.5, 'issue 23: at most 1.5x');

  const big = await setArticles(page, 10000, last); last = big.r.run;
  console.log(`  seeding 10,000 articles: ${big.seedMs.toFixed(0)} ms in the worker, ${big.pageMs} ms as the page sees it (with the first request)`);
  report('seeding 10,000 articles (worker)', big.seedMs, 'ms', 300, '496 ms (issue 24)');
  // The "creating 100,000 articles" line: the largest size a learner can pick.
  const huge = await setArticles(page, 100000, last); last = huge.r.run;
  console.log(`  creating 100,000 articles: ${huge.seedMs.toFixed(0)} ms in the worker, ${huge.pageMs} ms as the page sees it (with the first request)`);
  report('creating 100,000 articles (worker)', huge.seedMs, 'ms', 2000, '4.7 s in a learner\'s run (issue 24)');
  const long = await page.evaluate(() => window.__longtasks);
  console.log(`  main-thread tasks over 50 ms while the lab ran (every request above and the three reseeds): ${long.length}, longest ${long.length ? Math.max(...long).toFixed(0) : 0} ms`);
  await ctx.close();
  return long;
}

async function tasks(browser, base) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${base}/#/lessons/indexes`);
  await page.getByTestId('status').filter({ hasText: 'Database ready' }).waitFor({ timeout: 60_000 });
  const before = await page.locator('[data-testid=status][role=status]').textContent();
  await page.locator('[data-testid=task-size]').selectOption('100000');
  await page.waitForFunction((b) => { const t = document.querySelector('[data-testid=status]')?.textContent ?? ''; return t !== b && /Database ready/.test(t); }, before, { timeout: 180_000, polling: 100 });
  const status = await page.locator('[data-testid=status][role=status]').textContent();
  const ms = Number(/\(([\d.]+) ms/.exec(status)?.[1] ?? NaN);
  console.log(`seeding 100,000 tasks (the indexes lab): ${status.trim()}`);
  report('seeding 100,000 tasks (worker)', ms, 'ms', 2000, 'not in issue 24; be50f8b (its "now") measured 1,740 ms on the 2026-12-05 machine');
  await ctx.close();
}

/** This lab's cold, return and warm numbers against real Django in Pyodide, one run of each. */
async function againstPyodide(sizes) {
  const coldMs = summary.find((r) => r.what.startsWith('cold'))?.value;
  const returnMs = summary.find((r) => r.what.startsWith('return'))?.value;
  const n1 = summary.find((r) => r.what === 'warm, 200 articles, N+1 page')?.value;
  const fx = summary.find((r) => r.what === 'warm, 200 articles, fixed page')?.value;
  console.log('');
  const py = await pyodideBench([200]);
  const p = py.rows[0];
  console.log('\nthis lab against Django in Pyodide (200 articles, 20 per page, same machine):');
  console.log(`  | | this lab | Django in Pyodide |`);
  console.log(`  |---|---|---|`);
  console.log(`  | first result, cold | ${coldMs.toFixed(0)} ms | ${p.cold.toFixed(0)} ms |`);
  console.log(`  | first result, return visit | ${returnMs.toFixed(0)} ms | ${p.ret.toFixed(0)} ms |`);
  console.log(`  | bytes (brotli) | ${(sizes.total.brotli / 1048576).toFixed(2)} MB | ${(py.size.br / 1048576).toFixed(1)} MB |`);
  console.log(`  | N+1 page, warm | ${n1.toFixed(2)} ms | ${p.n1.toFixed(2)} ms |`);
  console.log(`  | fixed page, warm | ${fx.toFixed(2)} ms | ${p.fixed.toFixed(2)} ms |`);
}

const server = await serveDist();
const browser = await launch();
try {
  console.log(`bundle sizes (${DIST}):`);
  const sizes = await bundleSizes();
  printSizes(sizes);
  report('bytes: the whole site, brotli', sizes.total.brotli / 1024, 'KB', 2500, `3,167 KB (issue 24); CI budget ${BUDGET_KB} KB`);
  // A lever's quick check: BENCH_ONLY=load measures the cold start and the return visit only;
  // BENCH_ONLY=lab every line of this lab's own, without the Pyodide comparison.
  const only = process.env.BENCH_ONLY ?? '';
  const loadLong = await cold(browser, server.base);
  await returnVisit(browser, server.base);
  await returnVisit(browser, server.base, 6000);
  await returnVisit(browser, server.base, 0, true);
  if (only === 'load') process.exit(0);
  const runLong = await warm(browser, server.base);
  await tasks(browser, server.base);
  const long = [...loadLong, ...runLong];
  report('longest main-thread task while a lab loads or runs', long.length ? Math.max(...long) : 0, 'ms', 50, '192 ms (issue 24)');
  // The alternative: real Django in the browser through Pyodide, on the same page.
  if (only !== 'lab') await againstPyodide(sizes);
  console.log('\nsummary:');
  for (const s of summary) console.log(`  ${s.met ? 'MET    ' : 'NOT MET'} ${s.what}: ${s.value.toFixed(s.unit === 'x' || (s.unit === 'ms' && s.value < 20) ? 2 : 0)} ${s.unit} (target ${s.target}; baseline ${s.baseline})`);
} finally {
  await browser.close();
  await server.close();
}
