// Shared by the browser tests and the benchmark: a static server for dist/ on loopback and a
// headless Chromium from Debian (playwright cannot download browsers here).
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm', '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.svg': 'image/svg+xml',
};

export const DIST = resolve(process.env.DIST_DIR ?? new URL('../../dist', import.meta.url).pathname);

/** A plain static file server (no SPA fallback: routes live in the URL hash); with `prefix`
 * (`/course/`), the site lives under that path and nothing outside it is served; `headers` are
 * added to every answer (a host's Content-Security-Policy, say). `stop()` also cuts open
 * connections: the site is gone at once, as when the learner goes offline. */
export async function serveDist(root = DIST, prefix = '/', headers = {}) {
  await stat(join(root, 'index.html'));
  const server = createServer(async (req, res) => {
    let path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (!path.startsWith(prefix)) { res.writeHead(404, { 'content-type': 'text/plain' }).end('outside the site'); return; }
    path = '/' + path.slice(prefix.length);
    const file = normalize(join(root, path.endsWith('/') ? path + 'index.html' : path));
    if (!file.startsWith(root)) { res.writeHead(403).end(); return; }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store', ...headers });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return {
    base: `http://127.0.0.1:${port}`,
    close: () => new Promise((ok) => server.close(ok)),
    stop: () => new Promise((ok) => { server.close(ok); server.closeAllConnections(); }),
  };
}

/** The middle value (the mean of the two middle ones for an even count). */
export const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

const CHROMIUM_OPTIONS = {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
};

/** A browser whose `newContext()`s are in-memory profiles (as a private window: nothing is
 * written to disk, V8's code cache included). */
export async function launch() {
  return chromium.launch(CHROMIUM_OPTIONS);
}

/** A browser context on a profile kept on disk in `dir`, as a learner's everyday browser window:
 * its HTTP cache, service worker storage and V8's code cache persist between visits. */
export async function launchProfile(dir) {
  return chromium.launchPersistentContext(dir, CHROMIUM_OPTIONS);
}

/** Waits until the lab shows a result for a run newer than `afterRun`, and returns it. */
export async function waitForResult(page, afterRun = 0, timeout = 60_000) {
  const handle = await page.waitForFunction((after) => {
    const m = document.querySelector('[data-testid=metrics]');
    if (!m) return null;
    const run = Number(m.getAttribute('data-run'));
    if (run <= after) return null;
    return {
      run,
      count: Number(document.querySelector('[data-testid=query-count]').textContent),
      ms: Number(document.querySelector('[data-testid=request-ms]').textContent),
    };
  }, afterRun, { timeout });
  return handle.jsonValue();
}
