// The service worker: once the lab has loaded, it works offline and a return visit reads every
// file from the cache. The build (.ci/finish_dist.py) fills in the version and the file list;
// every listed file has its content hash in its name, so a cached copy is never stale.
const VERSION = __VERSION__;
const ASSETS = __ASSETS__;
const CACHE = `django-perf-lab-${VERSION}`;
// The page itself is asked for on the network first (a redeploy shows at once), but not for
// longer than this before the cached copy is used.
const PAGE_TIMEOUT_MS = 3000;

const scope = new URL(self.registration.scope);
const versioned = new Set(ASSETS.map((name) => new URL(name, scope).href));
const pageUrl = new URL('./', scope).href;
const indexUrl = new URL('index.html', scope).href;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll([pageUrl, ...versioned]);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith('django-perf-lab-') && key !== CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

async function fromCacheFirst(request) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request, { ignoreSearch: true });
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok) cache.put(request, response.clone());
  return response;
}

async function pageFromNetworkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await Promise.race([
      fetch(request),
      new Promise((_, fail) => setTimeout(() => fail(new Error('slow network')), PAGE_TIMEOUT_MS)),
    ]);
    if (response.ok) cache.put(pageUrl, response.clone());
    return response;
  } catch (offline) {
    const hit = await cache.match(pageUrl);
    if (hit) return hit;
    throw offline;
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  url.hash = '';
  url.search = '';
  if (versioned.has(url.href)) {
    event.respondWith(fromCacheFirst(request));
  } else if (request.mode === 'navigate' && (url.href === pageUrl || url.href === indexUrl)) {
    event.respondWith(pageFromNetworkFirst(request));
  }
  // Anything else (the engine file check's HEAD request, other paths) goes to the network as usual.
});
