// The size budget of the built site (bytes are deterministic; time is not, so time lives in
// .ci/bench). `node tests/e2e/bundle.mjs` prints every file and fails when the site's brotli
// total exceeds BUDGET_KB: every feature pays for its bytes inside the budget.
//
// The goal is 2,000 KB (issue 11) and is not met: the engine worker alone is ~2,800 KB brotli
// with turso_core and the sandbox at opt-level 3. Measured: both at "s" save 300 KB and make
// the N+1 lab's request ~1.9x slower (5.1 ms against 2.7 ms), wasm-opt -Oz makes the brotli
// file larger (2,830 KB against 2,798 KB). The budget is today's size plus 2%: a ratchet.
//
// Raised from 3,210 to 3,260 KB with the one lab model (issue 19/20): the worker now holds the
// course's labs and judges checks itself (judge, session, typed steps: +57 KB brotli before
// trimming). Trimmed since: the embedded labs are compact and leave out the claims and wrong
// answers only the self-check reads, and the worker leaves out the prose (-43 KB): 3,224 KB.
// Tried and not kept then: tracing's release_max_level_off made the worker 9 KB larger (raw).
//
// Raised from 3,260 to 3,300 KB with the Django breadth (issue 22) and the workbench's first
// parts (issue 21), measured file by file against the build before them (3,235 KB): the
// engine worker +34 KB (the middleware chain of settings.MIDDLEWARE with Django's own
// middleware, django.views.generic's source, the test client's methods/headers/redirects,
// case-insensitive headers, dates and Trunc, captureOnCommitCallbacks); the page +14 KB (the
// prose as parsed blocks and their renderer — the blocks themselves cost 1.4 KB more than the
// Markdown they replace —, the request bar's methods and headers, the last-request bar).
//
// Raised from 3,300 to 3,330 KB with the result tabs and the resizable split (issue 21), the
// timing-middleware lesson with its judge and the Profile tab (issue 23), Django's default
// 400/403/500 pages: 3,292 → 3,322 KB, measured file by file: the page's wasm 395 → 402 KB
// (the tabs, the splitter, the Profile panel and its 21 bar-width classes in the CSS, shell
// actions in the prose), the engine worker +22 KB before the tracing lever (the lesson's lab
// embedded, first_run in every step report, the duration judge, the error pages). Then
// tracing's release_max_level_off, measured again on the same tree: the worker's wasm 7 KB
// larger raw but 8 KB smaller brotli (kept: brotli is what travels). Last, the templates a
// request rendered, with their time and queries, in the Profile tab: +4 KB, 3,326 KB.
//
// Raised from 3,330 to 3,350 KB with the per-line profile (issue 23): 3,326 → 3,347 KB, the
// page's wasm 402 → 422 KB (the line-by-line table, the kept profile compared line by line,
// the editors' gutter bars; wasm-opt -Oz on it: 1,473 → 1,319 KB raw but 423 KB brotli, not
// kept), the engine worker 2,902 → 2,908 KB (the profiler, template tags that know their
// file and line), the CSS +1 KB (the gutter's 21 bar widths).
//
// Raised from 3,350 to 3,370 KB for the default database shipped as an image (issue 24, lever
// 4): the engine worker +19 KB brotli (the image is 176 KB raw, 17 KB brotli; its reader and
// writer), 3,368 KB. It buys the cold start: navigation → first N+1 result 1,255 → 937 ms
// (median of 5, same machine, same hour), the database ready 100 ms after the engine instead
// of 400 ms.
//
// Lowered from 3,370 to 3,140 KB (issue 24, lever 3): the engine is built without ICU's 102
// locale collation tailorings (app/icu-root, selected by ICU4X_DATA_DIR in .ci/setup.sh): the
// engine worker 12,753 → 11,843 KB raw, 2,926 → 2,686 KB brotli; the site 3,368 → 3,129 KB.
// Measured then (lever 2, same tree, `BENCH_ONLY=lab`): the worker crate — the one LTO
// optimizes the merged module at — at opt-level 3 makes the site 3,574 KB and no request
// faster (N+1 3.40 against 2.80 ms); at "s" 3,358 KB for 2.45 against 2.80 ms on the N+1 page
// and nothing else faster. Kept at "z".
//
// Raised from 3,140 to 3,150 KB with Django fidelity found by probing against Django 5.2 (the
// closing note of stop 31): the engine worker 11,848,612 → 11,890,188 bytes raw, 2,752,951 →
// 2,762,069 brotli (+8.9 KB: itertools.count read lazily by for/next/zip/islice with CPython's
// checks and messages, booleans typed through Value/Case, NULLS FIRST/LAST, str(qs.query) as
// `sql % params`, a nested prefetch's row order, seeding's rollback on failure); the site
// 3,135 → 3,144 KB. Still under the 3,167 KB of issue 24's "now" column.
//
// Raised from 3,150 to 3,160 KB with the QuerySet API a learner of this chapter reaches for
// (the closing note of stop 32): the engine worker 11,890,188 → 11,935,006 bytes raw,
// 2,762,069 → 2,771,667 brotli (+9.4 KB: union()/intersection()/difference() and their
// compound SQL; IntegerField()/FloatField()/… as output fields, ExpressionWrapper, Cast,
// aggregate default=, Django's type inference errors); the site 3,144 → 3,153 KB. Then to
// 3,165 KB in the same stop: the worker 11,935,006 → 11,980,764 bytes raw, 2,771,667 →
// 2,780,969 brotli (+9.1 KB: Manager.raw() and its RawQuerySet, Extract*/Greatest/Least/Round/
// Substr/Replace/Trim/StrIndex and the other database functions, dict views); the site
// 3,162 KB, still under issue 24's 3,167 KB "now".
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { DIST } from './harness.mjs';

export const BUDGET_KB = 3165;
export const GOAL_KB = 2000;

/** Every file a browser may fetch from dist/, raw, gzip -9 and brotli 11, in bytes. */
export async function bundleSizes(dir = DIST) {
  const files = [];
  for (const name of (await readdir(dir)).sort()) {
    if (!/\.(wasm|js|css|html)$/.test(name)) continue;
    const buf = await readFile(join(dir, name));
    files.push({
      name,
      raw: buf.length,
      gzip: gzipSync(buf, { level: 9 }).length,
      brotli: brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
    });
  }
  const total = files.reduce((t, f) => ({ raw: t.raw + f.raw, gzip: t.gzip + f.gzip, brotli: t.brotli + f.brotli }), { raw: 0, gzip: 0, brotli: 0 });
  return { files, total };
}

const kb = (n) => `${(n / 1024).toFixed(0)} KB`;

export function printSizes({ files, total }) {
  const row = (name, f) => `  ${name.padEnd(44)} raw ${kb(f.raw).padStart(9)}  gzip ${kb(f.gzip).padStart(8)}  brotli ${kb(f.brotli).padStart(8)}`;
  for (const f of files) console.log(row(f.name, f));
  console.log(row('TOTAL', total));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = await bundleSizes();
  printSizes(sizes);
  const totalKb = sizes.total.brotli / 1024;
  console.log(`size budget: ${totalKb.toFixed(0)} KB brotli, budget ${BUDGET_KB} KB (goal ${GOAL_KB} KB)`);
  if (totalKb > BUDGET_KB) {
    console.error(`the site is ${(totalKb - BUDGET_KB).toFixed(0)} KB over its size budget of ${BUDGET_KB} KB brotli: find the bytes (see tests/e2e/bundle.mjs) or justify raising BUDGET_KB`);
    process.exit(1);
  }
}
