// Runs before the app's own wasm: starts the engine worker at once, so the engine downloads and
// compiles while the page's UI loads (the app adopts it, see engine_client.rs), and says in
// words why the page cannot start when it cannot (a Content-Security-Policy without
// 'wasm-unsafe-eval', an old browser) instead of leaving it blank.
(function () {
  'use strict';
  var started = false;
  addEventListener('TrunkApplicationStarted', function () { started = true; });

  function explain(text) {
    if (started || document.getElementById('boot-error')) return;
    var box = document.createElement('div');
    box.id = 'boot-error';
    box.className = 'boot-error';
    box.setAttribute('role', 'alert');
    box.setAttribute('data-testid', 'boot-error');
    box.textContent = text;
    (document.body || document.documentElement).appendChild(box);
  }

  if (typeof WebAssembly !== 'object') {
    explain('This lab runs Django and its database as WebAssembly, which this browser does not support. Open it in a current browser.');
    return;
  }

  var NO_WASM = "This site's Content-Security-Policy does not allow WebAssembly, and the lab runs on it. "
    + "Whoever hosts it must add 'wasm-unsafe-eval' to script-src (the README gives the whole policy).";
  function failed(message) {
    var m = String(message || '');
    if (/Content.Security.Policy|unsafe-eval/i.test(m)) explain(NO_WASM);
    else if (/WebAssembly|wasm/i.test(m)) explain('The lab could not start: ' + m);
  }
  addEventListener('securitypolicyviolation', function (e) {
    if (e.blockedURI === 'wasm-eval' || /wasm/i.test(e.sample || '')) explain(NO_WASM);
  });
  addEventListener('error', function (e) { failed(e && e.message); });
  addEventListener('unhandledrejection', function (e) { failed(e && e.reason && (e.reason.message || e.reason)); });

  // The early engine: messages that arrive before the app takes it over are kept for it.
  var meta = document.querySelector('meta[name=engine-worker]');
  if (meta && typeof Worker === 'function') {
    try {
      var worker = new Worker(meta.getAttribute('content'));
      var early = { worker: worker, messages: [], error: null };
      worker.onmessage = function (e) { early.messages.push(e.data); };
      worker.onerror = function (e) { early.error = String((e && e.message) || 'the engine failed to load'); };
      window.__earlyEngine = early;
    } catch (e) {
      // The app spawns its own worker and reports what goes wrong.
    }
  }
})();
