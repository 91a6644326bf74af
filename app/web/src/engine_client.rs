//! The page's side of the engine worker: spawn it, send requests, route answers, and replace
//! it when it dies (a wasm panic aborts the worker for good) or stops answering.

use std::cell::RefCell;
use std::rc::Rc;

use protocol::{ProjectSpec, Request, Response, Step};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ErrorEvent, MessageEvent, Worker, WorkerOptions, WorkerType};

/// Where Trunk puts the worker's loader (`data-loader-shim` in index.html) and its wasm, before
/// the build versions them; the versioned names come from `<meta name="engine-worker">`.
const WORKER_URL: &str = "./engine_worker_loader.js";
const WORKER_WASM_URL: &str = "./engine_worker_bg.wasm";

/// The engine worker's loader and wasm as this build named them (.ci/finish_dist.py writes the
/// `<meta name="engine-worker">`; without it, Trunk's own names).
fn worker_urls() -> (String, String) {
    match engine_meta() {
        Some(m) => (
            m.get_attribute("content").unwrap_or_else(|| WORKER_URL.into()),
            m.get_attribute("data-wasm").unwrap_or_else(|| WORKER_WASM_URL.into()),
        ),
        None => (WORKER_URL.into(), WORKER_WASM_URL.into()),
    }
}

/// The build's `<meta name="engine-worker">`: absent from a build the post-build step did not finish.
fn engine_meta() -> Option<web_sys::Element> {
    web_sys::window()?.document()?.query_selector("meta[name=engine-worker]").ok().flatten()
}

/// A named moment in the page's performance timeline (`.ci/bench` reads them).
pub fn mark(name: &str) {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        let _ = p.mark(name);
    }
}

/// The worker boot.js started before the app's wasm had loaded, with the messages it sent
/// meanwhile and the error it reported, if any. Taken once.
fn take_early_worker() -> Option<(Worker, Vec<JsValue>, Option<String>)> {
    let window = web_sys::window()?;
    let key = JsValue::from_str("__earlyEngine");
    let early = js_sys::Reflect::get(&window, &key).ok().filter(|v| v.is_object())?;
    let _ = js_sys::Reflect::delete_property(window.unchecked_ref::<js_sys::Object>(), &key);
    let worker: Worker = js_sys::Reflect::get(&early, &"worker".into()).ok()?.dyn_into().ok()?;
    let messages: Vec<JsValue> = js_sys::Reflect::get(&early, &"messages".into())
        .ok()
        .and_then(|m| m.dyn_into::<js_sys::Array>().ok())
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let error = js_sys::Reflect::get(&early, &"error".into()).ok().and_then(|e| e.as_string());
    Some((worker, messages, error))
}

/// After the first database is seeded (so it never competes with the first result): the
/// service worker that keeps the versioned files for offline use and fast return visits.
fn register_service_worker() {
    let Some(window) = web_sys::window() else { return };
    let navigator = window.navigator();
    // Absent on plain-HTTP hosts other than localhost: the lab works, just not offline.
    if !js_sys::Reflect::has(&navigator, &"serviceWorker".into()).unwrap_or(false) {
        return;
    }
    if engine_meta().is_none() {
        return; // not a finished build: there is no sw.js
    }
    let _ = navigator.service_worker().register("./sw.js");
}
/// A worker that has not said "ready" by then failed to load (its errors may not reach the page).
const STARTUP_TIMEOUT_MS: i32 = 30_000;
/// A run that takes longer than this means the worker is stuck (the engine's own budget is 1 s).
const RUN_TIMEOUT_MS: i32 = 10_000;
/// Seeding 10,000 articles takes a few seconds in wasm; allow for slow machines.
const SEED_TIMEOUT_MS: i32 = 120_000;
/// A test run has a budget of its own (8 s in the worker).
const TEST_TIMEOUT_MS: i32 = 20_000;

/// Consecutive restarts allowed before giving up.
const MAX_RESTARTS: u32 = 3;

/// What the client tells the page.
pub enum Event {
    Response(Response),
    /// The worker died or hung and was replaced; the text says why.
    Restarted(String),
    /// The worker keeps failing (it cannot load); no new one was started.
    GaveUp(String),
}

struct Inner {
    worker: Option<Worker>,
    next_id: u64,
    /// Articles (and tasks) in the current database, to re-seed a replacement worker the same way.
    articles: u32,
    tasks: Option<u32>,
    /// The request being waited on and its watchdog timer.
    waiting: Option<(u64, i32)>,
    on_event: Rc<dyn Fn(Event)>,
    /// Requests sent before the worker said it was ready.
    queue: Vec<Request>,
    ready: bool,
    /// Handlers of replaced workers: kept alive, since a terminated worker's last message can
    /// still be delivered (a dropped closure would then throw in the page).
    retired: Vec<Closure<dyn FnMut(JsValue)>>,
    /// Restarts since the last successful seed: a worker that cannot even load (missing file,
    /// wrong MIME type, blocked by a CSP) must not be respawned forever.
    failures: u32,
    /// A database was seeded at least once (then the service worker is registered).
    seeded_once: bool,
    _closures: Vec<Closure<dyn FnMut(JsValue)>>,
}

#[derive(Clone)]
pub struct EngineClient(Rc<RefCell<Inner>>);

impl EngineClient {
    pub fn new(articles: u32, on_event: impl Fn(Event) + 'static) -> EngineClient {
        let client = EngineClient(Rc::new(RefCell::new(Inner {
            worker: None,
            next_id: 1,
            articles,
            tasks: None,
            waiting: None,
            on_event: Rc::new(on_event),
            queue: Vec::new(),
            ready: false,
            retired: Vec::new(),
            failures: 0,
            seeded_once: false,
            _closures: Vec::new(),
        })));
        client.check_engine_file();
        client.spawn();
        client.seed(articles, None);
        client
    }

    /// A missing engine file or a wrong MIME type makes the worker fail silently: look first,
    /// and say exactly what is wrong.
    fn check_engine_file(&self) {
        let me = self.clone();
        let (_, wasm_url) = worker_urls();
        wasm_bindgen_futures::spawn_local(async move {
            let Some(window) = web_sys::window() else { return };
            let init = web_sys::RequestInit::new();
            init.set_method("HEAD");
            let Ok(resp) = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init(&wasm_url, &init)).await else {
                return; // offline or blocked: the startup watchdog still applies
            };
            let resp: web_sys::Response = resp.unchecked_into();
            let mime = resp.headers().get("content-type").ok().flatten().unwrap_or_default();
            // Only a definite "not there" counts: some servers refuse HEAD itself (405).
            let problem = if resp.status() == 404 || resp.status() == 410 {
                Some(format!("the engine file {wasm_url} could not be loaded (HTTP {})", resp.status()))
            } else if resp.ok() && !mime.starts_with("application/wasm") {
                Some(format!("the server sends the engine file {wasm_url} as '{mime}' instead of 'application/wasm'"))
            } else {
                None
            };
            if let Some(why) = problem {
                me.give_up(why);
            }
        });
    }

    fn give_up(&self, why: String) {
        let on_event = {
            let mut inner = self.0.borrow_mut();
            if let Some(w) = inner.worker.take() {
                // Detached first: an error the dying worker still reports (its script failing to
                // load, say) must not restart it and replace this message with a vaguer one.
                w.set_onmessage(None);
                w.set_onerror(None);
                w.terminate();
            }
            inner.failures = MAX_RESTARTS + 1;
            inner.on_event.clone()
        };
        on_event(Event::GaveUp(format!("{why}. Reload the page to retry")));
    }

    fn spawn(&self) {
        // The first worker is the one boot.js started while the page loaded, if it did.
        let (worker, early_messages) = match take_early_worker() {
            Some((worker, messages, None)) => (worker, messages),
            other => {
                if let Some((failed, _, Some(_))) = other {
                    failed.terminate();
                }
                let opts = WorkerOptions::new();
                opts.set_type(WorkerType::Classic);
                match Worker::new_with_options(&worker_urls().0, &opts) {
                    Ok(w) => (w, Vec::new()),
                    Err(e) => {
                        let why = format!("the engine could not start: {e:?}");
                        let on_event = self.0.borrow().on_event.clone();
                        on_event(Event::GaveUp(why));
                        return;
                    }
                }
            }
        };
        let me = self.clone();
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            me.on_data(ev.unchecked_into::<MessageEvent>().data());
        });
        let me = self.clone();
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let msg = ev.dyn_ref::<ErrorEvent>().map(|e| e.message()).unwrap_or_else(|| "unknown error".into());
            me.restart(format!("the engine stopped: {msg}"));
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let mut inner = self.0.borrow_mut();
        inner.worker = Some(worker.clone());
        inner.ready = false;
        let old = std::mem::replace(&mut inner._closures, vec![on_message, on_error]);
        inner.retired.extend(old);
        drop(inner);
        let me = self.clone();
        let watchdog = Closure::once_into_js(move || {
            let inner = me.0.borrow();
            let same_worker = inner.worker.as_ref().is_some_and(|w| JsValue::from(w) == JsValue::from(&worker));
            let stuck = same_worker && !inner.ready;
            drop(inner);
            if stuck {
                me.restart(format!("the engine did not load within {} s", STARTUP_TIMEOUT_MS / 1000));
            }
        });
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(watchdog.unchecked_ref(), STARTUP_TIMEOUT_MS);
        }
        // What the early worker said before the app was there to listen ("ready", usually).
        for data in early_messages {
            self.on_data(data);
        }
    }

    fn on_data(&self, data: JsValue) {
        let Some(text) = data.as_string() else { return };
        match serde_json::from_str::<Response>(&text) {
            Ok(resp) => self.receive(resp),
            Err(e) => self.restart(format!("the engine sent an unreadable answer ({e})")),
        }
    }

    fn receive(&self, resp: Response) {
        match &resp {
            Response::Ready => {
                mark("engine-ready");
                let queued: Vec<Request> = {
                    let mut inner = self.0.borrow_mut();
                    inner.ready = true;
                    std::mem::take(&mut inner.queue)
                };
                for r in queued {
                    self.post(r);
                }
            }
            Response::Panic { message } => {
                self.restart(format!("the engine crashed ({message})"));
                return;
            }
            Response::Progress { .. } => {}
            other => {
                if matches!(other, Response::Seeded { .. }) {
                    self.0.borrow_mut().failures = 0;
                    mark("engine-seeded");
                    let first = !std::mem::replace(&mut self.0.borrow_mut().seeded_once, true);
                    if first {
                        register_service_worker();
                    }
                }
                let id = match other {
                    Response::Seeded { id, .. }
                    | Response::Result { id, .. }
                    | Response::SqlResult { id, .. }
                    | Response::Error { id, .. }
                    | Response::ProjectLoaded { id, .. }
                    | Response::StepResult { id, .. } => *id,
                    _ => 0,
                };
                self.clear_watchdog(id);
            }
        }
        let on_event = self.0.borrow().on_event.clone();
        on_event(Event::Response(resp));
    }

    fn clear_watchdog(&self, id: u64) {
        let mut inner = self.0.borrow_mut();
        if let Some((wid, timer)) = inner.waiting {
            if wid == id {
                if let Some(w) = web_sys::window() {
                    w.clear_timeout_with_handle(timer);
                }
                inner.waiting = None;
            }
        }
    }

    /// Replaces a dead or stuck worker with a fresh one on a freshly seeded database.
    pub fn restart(&self, why: String) {
        let (on_event, articles, tasks, failures) = {
            let mut inner = self.0.borrow_mut();
            if inner.worker.is_none() && inner.failures > MAX_RESTARTS {
                return; // gave up already (a late watchdog): the learner has the reason
            }
            inner.failures += 1;
            if let Some(w) = inner.worker.take() {
                w.set_onmessage(None);
                w.set_onerror(None);
                w.terminate();
            }
            if let Some((_, timer)) = inner.waiting.take() {
                if let Some(w) = web_sys::window() {
                    w.clear_timeout_with_handle(timer);
                }
            }
            inner.queue.clear();
            (inner.on_event.clone(), inner.articles, inner.tasks, inner.failures)
        };
        if failures > MAX_RESTARTS {
            on_event(Event::GaveUp(format!(
                "{why}. The engine failed {MAX_RESTARTS} times in a row, so it was not started again. Reload the page to retry"
            )));
            return;
        }
        on_event(Event::Restarted(why));
        self.spawn();
        self.seed(articles, tasks);
    }

    fn next_id(&self) -> u64 {
        let mut inner = self.0.borrow_mut();
        inner.next_id += 1;
        inner.next_id
    }

    fn post(&self, req: Request) {
        let mut inner = self.0.borrow_mut();
        if !inner.ready {
            inner.queue.push(req);
            return;
        }
        let Some(worker) = inner.worker.clone() else { return };
        let timeout = match &req {
            Request::Seed { .. } => SEED_TIMEOUT_MS,
            Request::Step { step: Step::Test { .. }, .. } => TEST_TIMEOUT_MS,
            _ => RUN_TIMEOUT_MS,
        };
        let id = req.id();
        drop(inner);
        if let Ok(text) = serde_json::to_string(&req) {
            let _ = worker.post_message(&JsValue::from_str(&text));
        }
        let me = self.clone();
        let cb = Closure::once_into_js(move || {
            let stuck = me.0.borrow().waiting.map(|(w, _)| w) == Some(id);
            if stuck {
                me.restart(format!("the engine did not answer within {} s", timeout / 1000));
            }
        });
        if let Some(w) = web_sys::window() {
            if let Ok(timer) = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), timeout) {
                self.0.borrow_mut().waiting = Some((id, timer));
            }
        }
    }

    pub fn seed(&self, articles: u32, tasks: Option<u32>) -> u64 {
        {
            let mut inner = self.0.borrow_mut();
            inner.articles = articles;
            inner.tasks = tasks;
        }
        let id = self.next_id();
        self.post(Request::Seed { id, articles, tasks });
        id
    }

    /// The same data again (undoes writes).
    pub fn reseed(&self) -> u64 {
        let (articles, tasks) = {
            let inner = self.0.borrow();
            (inner.articles, inner.tasks)
        };
        self.seed(articles, tasks)
    }

    pub fn run(&self, context: Vec<(String, String)>, template: String, renders: u32, clear_cache: bool) -> u64 {
        let id = self.next_id();
        self.post(Request::Run { id, context, template, renders, clear_cache });
        id
    }

    pub fn project(&self, project: ProjectSpec) -> u64 {
        let id = self.next_id();
        self.post(Request::Project { id, project });
        id
    }

    pub fn step(&self, step: Step) -> u64 {
        let id = self.next_id();
        self.post(Request::Step { id, step });
        id
    }

    /// An exercise check (answered by `CheckResult`).
    pub fn check(&self, check: protocol::CheckSpec) -> u64 {
        let id = self.next_id();
        self.post(Request::Check { id, check });
        id
    }

    /// Runs a lab twice, A and B (answered by `Compared`).
    pub fn compare(&self, a: protocol::CompareRun, b: protocol::CompareRun) -> u64 {
        let id = self.next_id();
        self.post(Request::Compare { id, a, b });
        id
    }

    /// A query log's Explain button (answered by `Explained`).
    pub fn explain(&self, sql: String) -> u64 {
        let id = self.next_id();
        self.post(Request::Explain { id, sql });
        id
    }

    /// One growth-chart point (answered by `Measured`).
    pub fn measure(&self, run: protocol::CompareRun, articles: u32, tasks: Option<u32>) -> u64 {
        let id = self.next_id();
        self.post(Request::Measure { id, run, articles, tasks });
        id
    }

    /// Test hook: makes the worker panic, to exercise recovery end to end.
    pub fn crash_for_test(&self) {
        let id = self.next_id();
        self.post(Request::CrashForTest { id });
    }

    pub fn sql(&self, sql: String) -> u64 {
        let id = self.next_id();
        self.post(Request::Sql { id, sql });
        id
    }
}
