// Benchmark (prints numbers; asserts nothing): bundle sizes, time to the first lab result in
// headless Chromium, and the lab page's request time, N+1 against fixed, at 20 and 200 articles.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { DIST, serveDist, launch, waitForResult } from '../e2e/harness.mjs';

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const kb = (n) => `${(n / 1024).toFixed(0)} KB`;

async function sizes() {
  const rows = [];
  const total = { raw: 0, gz: 0, br: 0 };
  for (const f of (await readdir(DIST)).sort()) {
    if (!/\.(wasm|js|css|html)$/.test(f)) continue;
    const buf = await readFile(join(DIST, f));
    const gz = gzipSync(buf, { level: 9 }).length;
    const br = brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
    rows.push(`  ${f.padEnd(44)} raw ${kb(buf.length).padStart(9)}  gzip ${kb(gz).padStart(8)}  brotli ${kb(br).padStart(8)}`);
    total.raw += buf.length; total.gz += gz; total.br += br;
  }
  console.log('bundle sizes (dist/):');
  rows.forEach((r) => console.log(r));
  console.log(`  ${'TOTAL'.padEnd(44)} raw ${kb(total.raw).padStart(9)}  gzip ${kb(total.gz).padStart(8)}  brotli ${kb(total.br).padStart(8)}  (target: whole app <= 2.0 MB brotli)`);
}

async function firstResult(browser, base) {
  const times = [];
  for (let i = 0; i < 5; i++) {
    const ctx = await browser.newContext(); // fresh profile state: cold HTTP cache
    const page = await ctx.newPage();
    await page.goto(`${base}/#/lessons/n-plus-one`);
    await page.waitForFunction(() => document.querySelector('[data-testid=query-count]'), null, { polling: 'raf', timeout: 60_000 });
    times.push(await page.evaluate(() => performance.now()));
    await ctx.close();
  }
  console.log(`navigation -> first lab result (cold cache, default database of 200 articles): median ${median(times).toFixed(0)} ms of [${times.map((t) => t.toFixed(0)).join(', ')}]  (target <= 1000 ms)`);
}

async function labTimes(browser, base, articles) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${base}/#/lessons/n-plus-one`);
  let last = (await waitForResult(page)).run;
  if (articles !== 200) {
    await page.getByLabel('Articles in the database').selectOption(String(articles));
    last = (await waitForResult(page, last)).run;
  }
  console.log(`database of ${articles} articles:`);
  const box = page.getByLabel('QuerySet for articles');
  for (const perPage of [20, 200]) {
    for (const [label, expr] of [
      ['N+1  ', `Article.objects.published()[:${perPage}]`],
      ['fixed', `Article.objects.published().select_related("author").prefetch_related("tags")[:${perPage}]`],
    ]) {
      await box.fill(expr);
      await box.dispatchEvent('change');
      const ms = [];
      const sqlMs = [];
      let count = 0;
      for (let i = 0; i < 21; i++) {
        await page.getByTestId('run').click();
        const r = await waitForResult(page, last);
        last = r.run;
        count = r.count;
        if (i > 0) { // the first run warms the statement cache
          ms.push(r.ms);
          sqlMs.push(Number(await page.getByTestId('sql-ms').textContent()));
        }
      }
      console.log(`  page of ${String(perPage).padStart(3)}, ${label}: ${String(count).padStart(3)} queries, request median ${median(ms).toFixed(2)} ms (min ${Math.min(...ms).toFixed(2)}, max ${Math.max(...ms).toFixed(2)}), of which SQL ${median(sqlMs).toFixed(2)} ms, n=20`);
    }
  }
  console.log('  targets, 20 articles warm: N+1 <= 3 ms, fixed <= 1 ms (real Django natively: 9.7 ms / 3.0 ms)');
  await ctx.close();
}

const server = await serveDist();
const browser = await launch();
try {
  await sizes();
  await firstResult(browser, server.base);
  await labTimes(browser, server.base, 200);
  await labTimes(browser, server.base, 1000);
} finally {
  await browser.close();
  await server.close();
}
