// Benchmark (prints numbers; asserts nothing): the alternative a learner might pick, real
// Django 5.2 in the browser through Pyodide (npm `pyodide`, served locally with the Django,
// asgiref and sqlparse wheels from PyPI and the reference project of tests/django_ref), on the
// same workload as the lab: the article list, N+1 and fixed, 20 per page. Everything it needs
// installs offline: sqlite3 is inside Pyodide's own wasm and standard library.
//
//   node tests/bench/pyodide.mjs            (.ci/bench installs pyodide and the wheels first)
import { createServer } from 'node:http';
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir, homedir } from 'node:os';
import { join, extname, resolve } from 'node:path';
import { brotliCompressSync, constants } from 'node:zlib';
import { launch, median } from '../e2e/harness.mjs';

const HERE = new URL('.', import.meta.url).pathname;
const PYODIDE = join(HERE, 'node_modules', 'pyodide');
const WHEELS = process.env.PYODIDE_WHEELS ?? join(homedir(), '.cache', 'django-perf-lab', 'wheels');
const REF = resolve(HERE, '..', 'django_ref');
const APPS = ['djref', 'articles', 'orgs', 'tasks'];
const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

async function pyFiles(dir, prefix) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory() && e.name !== '__pycache__') out.push(...await pyFiles(join(dir, e.name), `${prefix}/${e.name}`));
    else if (e.isFile() && e.name.endsWith('.py')) out.push(`${prefix}/${e.name}`);
  }
  return out;
}

const PAGE = `<!doctype html><meta charset=utf-8><title>Django in Pyodide</title><script type=module src="/bench.js"></script>`;
// Runs in the page: load Python, install the wheels and the project, open the database, render.
const SCRIPT = `
import { loadPyodide } from '/pyodide/pyodide.mjs';
const cfg = await (await fetch('/config.json')).json();
const py = await loadPyodide({ indexURL: '/pyodide/' });
await Promise.all(cfg.wheels.map(async (w) => py.unpackArchive(await (await fetch('/wheels/' + w)).arrayBuffer(), 'wheel')));
await Promise.all(cfg.files.map(async (f) => {
  const text = await (await fetch('/ref/' + f)).text();
  py.FS.mkdirTree('/ref/' + f.split('/').slice(0, -1).join('/'));
  py.FS.writeFile('/ref/' + f, text);
}));
py.FS.writeFile('/ref/db.sqlite3', new Uint8Array(await (await fetch('/db.sqlite3')).arrayBuffer()));
py.runPython(\`
import os, sys, time, statistics
# Pyodide runs Python inside the page's event loop; Django's ORM refuses that unless told.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
sys.path.insert(0, '/ref')
from djref import boot
boot.setup('/ref/db.sqlite3')
from django.db import connection
from django.template import Context, Template
from articles.models import Article
TEMPLATE = Template("{% for a in articles %}<li>{{ a.title }} by {{ a.author.username }}: {% for t in a.tags.all %}{{ t.name }}{% if not forloop.last %}, {% endif %}{% endfor %}</li>{% endfor %}")
def render(fixed):
    qs = Article.objects.published().order_by("-created_at")
    if fixed:
        qs = qs.select_related("author").prefetch_related("tags")
    return TEMPLATE.render(Context({"articles": qs[:20]}))
render(False)
\`);
const first = performance.now();
const out = JSON.parse(py.runPython(\`
import json
def timed(fixed):
    render(fixed)
    times = []
    for _ in range(20):
        t0 = time.perf_counter(); render(fixed); times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)
json.dumps({"n_plus_one_ms": timed(False), "fixed_ms": timed(True)})
\`));
window.__result = { first, ...out };
`;

async function serve(db, files, wheels, cacheable) {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = null;
    let body = null;
    if (path === '/' || path === '/index.html') body = PAGE;
    else if (path === '/bench.js') body = SCRIPT;
    else if (path === '/config.json') body = JSON.stringify({ files, wheels });
    else if (path === '/db.sqlite3') file = db;
    else if (path.startsWith('/pyodide/')) file = join(PYODIDE, path.slice('/pyodide/'.length));
    else if (path.startsWith('/wheels/')) file = join(WHEELS, path.slice('/wheels/'.length));
    else if (path.startsWith('/ref/')) file = join(REF, path.slice('/ref/'.length));
    try {
      if (file && !file.includes('..')) body = await readFile(file);
      if (body === null) throw new Error('not found');
      const type = MIME[extname(file ?? path)] ?? (path === '/' ? 'text/html' : 'application/octet-stream');
      res.writeHead(200, { 'content-type': type, 'cache-control': cacheable && file ? 'public, max-age=3600' : 'no-store' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { base: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((ok) => { server.close(ok); server.closeAllConnections(); }) };
}

async function bytes(wheels) {
  const names = ['pyodide.mjs', 'pyodide.asm.mjs', 'pyodide.asm.wasm', 'python_stdlib.zip', 'pyodide-lock.json'];
  let raw = 0;
  let br = 0;
  for (const f of [...names.map((n) => join(PYODIDE, n)), ...wheels.map((w) => join(WHEELS, w))]) {
    const b = await readFile(f);
    raw += b.length;
    br += brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  }
  return { raw, br };
}

export async function pyodideBench(articlesList = [200, 2000]) {
  const wheels = (await readdir(WHEELS)).filter((w) => w.endsWith('.whl')).sort();
  if (!wheels.some((w) => w.startsWith('django-5.2'))) throw new Error(`no Django 5.2 wheel in ${WHEELS} (.ci/bench downloads it)`);
  const files = (await Promise.all(APPS.map((a) => pyFiles(join(REF, a), a)))).flat();
  const size = await bytes(wheels);
  console.log(`Django 5.2 in Pyodide (npm pyodide ${JSON.parse(await readFile(join(PYODIDE, 'package.json'), 'utf8')).version}, ${wheels.join(', ')}):`);
  console.log(`  bytes fetched: ${(size.raw / 1048576).toFixed(1)} MB raw, ${(size.br / 1048576).toFixed(1)} MB brotli`);
  const tmp = await mkdtemp(join(tmpdir(), 'pyodide-bench-'));
  const browser = await launch();
  const rows = [];
  try {
    for (const articles of articlesList) {
      const db = join(tmp, `db-${articles}.sqlite3`);
      execFileSync('python3', [join(REF, 'seed.py'), '--db', db, '--articles', String(articles)], { stdio: 'ignore' });
      const server = await serve(db, files, wheels, true);
      try {
        const cold = [];
        let warm = null;
        for (let i = 0; i < 3; i++) {
          const ctx = await browser.newContext();
          const page = await ctx.newPage();
          page.on('pageerror', (e) => console.error(`  pyodide page error: ${String(e).slice(-1500)}`));
          await page.goto(`${server.base}/`);
          const r = await (await page.waitForFunction(() => window.__result, null, { timeout: 120_000, polling: 100 })).jsonValue();
          cold.push(r.first);
          warm = r;
          if (i === 2) {
            const again = await ctx.newPage(); // a return visit: the same profile, files from the HTTP cache
            await again.goto(`${server.base}/`);
            const r2 = await (await again.waitForFunction(() => window.__result, null, { timeout: 180_000, polling: 100 })).jsonValue();
            rows.push({ articles, cold: median(cold), ret: r2.first, n1: warm.n_plus_one_ms, fixed: warm.fixed_ms });
          }
          await ctx.close();
        }
        console.log(`  ${articles} articles: first N+1 page ${cold.map((t) => t.toFixed(0)).join(', ')} ms cold, ${rows.at(-1).ret.toFixed(0)} ms on a return visit; warm N+1 ${warm.n_plus_one_ms.toFixed(2)} ms, fixed ${warm.fixed_ms.toFixed(2)} ms (median of 20)`);
      } finally {
        await server.close();
      }
    }
  } finally {
    await browser.close();
    await rm(tmp, { recursive: true, force: true });
  }
  return { size, rows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await pyodideBench();
}
