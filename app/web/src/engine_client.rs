//! The page's side of the engine worker: spawn it, send requests, route answers, and replace
//! it when it dies (a wasm panic aborts the worker for good) or stops answering.

use std::cell::RefCell;
use std::rc::Rc;

use std::collections::VecDeque;

use protocol::{LabRun, ProjectSpec, Request, Response, Step};
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

/// How long the worker may work on a request without a word before it counts as stuck. The
/// worker answers one request at a time, so the clock of a request starts when the worker
/// takes it up (when the one before it is answered), and every progress report of a long job
/// starts it again.
fn budget_ms(req: &Request) -> i32 {
    match req {
        // A request runs under the engine's own budget (2 s), a test run under 8 s.
        Request::Step { step: Step::Test { .. }, .. } => 20_000,
        Request::Step { .. } | Request::Sql { .. } | Request::Explain { .. } | Request::Fingerprint { .. } => 10_000,
        // Loading a project can build an index on 100,000 rows.
        Request::Load { .. } => 60_000,
        // Seeding 100,000 rows takes seconds in wasm; progress comes every 2,000 rows.
        Request::Seed { .. } => 60_000,
        // A check, a comparison or a sweep point may create a data set first (progress
        // reported), then run several projects.
        Request::Check { .. } | Request::Compare { .. } | Request::Measure { .. } => 60_000,
        Request::CrashForTest { .. } | Request::StallForTest { .. } => 10_000,
    }
}

/// A test hook can shorten the watchdog (`window.djperfWatchdogMs`), so a test of the hung
/// engine does not wait a minute.
fn watchdog_override() -> Option<i32> {
    let w = web_sys::window()?;
    js_sys::Reflect::get(&w, &JsValue::from_str("djperfWatchdogMs")).ok()?.as_f64().map(|v| v as i32)
}

/// Consecutive restarts allowed before giving up.
const MAX_RESTARTS: u32 = 3;

/// What the client tells the page.
pub enum Event {
    Response(Response),
    /// The worker died or hung and was replaced; the text says why, and the requests that were
    /// lost with it are listed (their ids) so the page can say what was not done.
    Restarted(String, Vec<u64>),
    /// The worker keeps failing (it cannot load); no new one was started.
    GaveUp(String),
}

struct Inner {
    worker: Option<Worker>,
    next_id: u64,
    /// Articles (and tasks) in the current database, to re-seed a replacement worker the same way.
    articles: u32,
    tasks: Option<u32>,
    /// Requests sent and not answered yet, oldest first (the worker answers them in order),
    /// with their watchdog budgets.
    in_flight: VecDeque<(u64, i32, String)>,
    /// The watchdog timer of the request at the front of `in_flight`.
    timer: Option<i32>,
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
            in_flight: VecDeque::new(),
            timer: None,
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
            Response::Progress { id, .. } => self.answered(*id, false),
            other => {
                if matches!(other, Response::Seeded { .. }) {
                    self.0.borrow_mut().failures = 0;
                    mark("engine-seeded");
                    let first = !std::mem::replace(&mut self.0.borrow_mut().seeded_once, true);
                    if first {
                        register_service_worker();
                    }
                }
                if let Some(id) = other.id() {
                    self.answered(id, true);
                }
            }
        }
        let on_event = self.0.borrow().on_event.clone();
        on_event(Event::Response(resp));
    }

    /// The worker spoke about request `id`: a final answer takes it off the queue; either way
    /// the watchdog starts again, for the request the worker is on now.
    fn answered(&self, id: u64, done: bool) {
        {
            let mut inner = self.0.borrow_mut();
            if done {
                inner.in_flight.retain(|(i, _, _)| *i != id);
            }
        }
        self.arm_watchdog();
    }

    /// (Re)starts the watchdog for the oldest unanswered request, if any.
    fn arm_watchdog(&self) {
        let mut inner = self.0.borrow_mut();
        if let Some(t) = inner.timer.take() {
            if let Some(w) = web_sys::window() {
                w.clear_timeout_with_handle(t);
            }
        }
        let Some((id, budget, what)) = inner.in_flight.front().cloned() else { return };
        let budget = watchdog_override().unwrap_or(budget);
        drop(inner);
        let me = self.clone();
        let cb = Closure::once_into_js(move || {
            let still = me.0.borrow().in_flight.front().map(|(i, _, _)| *i) == Some(id);
            if still {
                me.restart(format!("the engine did not answer within {} s ({what})", budget / 1000));
            }
        });
        if let Some(w) = web_sys::window() {
            if let Ok(t) = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), budget) {
                self.0.borrow_mut().timer = Some(t);
            }
        }
    }

    /// Replaces a dead or stuck worker with a fresh one on a freshly seeded database.
    pub fn restart(&self, why: String) {
        let (on_event, articles, tasks, failures, lost) = {
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
            if let Some(timer) = inner.timer.take() {
                if let Some(w) = web_sys::window() {
                    w.clear_timeout_with_handle(timer);
                }
            }
            let mut lost: Vec<u64> = inner.in_flight.drain(..).map(|(id, _, _)| id).collect();
            lost.extend(inner.queue.drain(..).map(|r| r.id()));
            (inner.on_event.clone(), inner.articles, inner.tasks, inner.failures, lost)
        };
        if failures > MAX_RESTARTS {
            on_event(Event::GaveUp(format!(
                "{why}. The engine failed {MAX_RESTARTS} times in a row, so it was not started again. Reload the page to retry"
            )));
            return;
        }
        on_event(Event::Restarted(why, lost));
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
        let what = match &req {
            Request::Seed { articles, tasks, .. } => match tasks {
                Some(t) => format!("creating {t} tasks"),
                None => format!("creating {articles} articles"),
            },
            Request::Load { .. } => "loading the project".into(),
            Request::Step { step: Step::Get { url, .. }, .. } => format!("GET {url}"),
            Request::Step { step: Step::Run { .. }, .. } => "a shell line".into(),
            Request::Step { step: Step::Test { .. }, .. } => "the tests".into(),
            Request::Step { .. } => "a step".into(),
            Request::Check { .. } => "a check".into(),
            Request::Compare { .. } => "a comparison".into(),
            Request::Measure { .. } => "a growth point".into(),
            _ => "a request".into(),
        };
        let first = inner.in_flight.is_empty();
        inner.in_flight.push_back((req.id(), budget_ms(&req), what));
        drop(inner);
        if let Ok(text) = serde_json::to_string(&req) {
            let _ = worker.post_message(&JsValue::from_str(&text));
        }
        if first {
            self.arm_watchdog();
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

    /// Installs a project (`fresh`: on freshly seeded data, for a timeline); `lesson` names the
    /// lesson whose goals the step reports judge.
    pub fn load(&self, project: ProjectSpec, fresh: bool, lesson: Option<String>) -> u64 {
        let id = self.next_id();
        self.post(Request::Load { id, project, fresh, lesson });
        id
    }

    pub fn step(&self, step: Step) -> u64 {
        let id = self.next_id();
        self.post(Request::Step { id, step });
        id
    }

    /// Exercise `exercise` of `lesson`, judged in the worker (answered by `CheckResult`).
    pub fn check(&self, lesson: String, exercise: usize, attempt: protocol::lesson::Attempt) -> u64 {
        let id = self.next_id();
        self.post(Request::Check { id, lesson, exercise, attempt });
        id
    }

    /// Runs a lab twice, A and B (answered by `Compared`).
    pub fn compare(&self, a: LabRun, b: LabRun) -> u64 {
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
    pub fn measure(&self, run: LabRun, articles: u32, tasks: Option<u32>) -> u64 {
        let id = self.next_id();
        self.post(Request::Measure { id, run, articles, tasks });
        id
    }

    /// A digest of the learner's session (answered by `Fingerprinted`): a test hook.
    pub fn fingerprint(&self) -> u64 {
        let id = self.next_id();
        self.post(Request::Fingerprint { id });
        id
    }

    /// Test hook: keeps the worker busy without answering (a hung engine).
    pub fn stall_for_test(&self, ms: u32) -> u64 {
        let id = self.next_id();
        self.post(Request::StallForTest { id, ms });
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
