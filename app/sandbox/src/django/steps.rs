//! A project session's steps — a request, a clock step, a shell line, a test run — as the lab
//! and the `run-project` contract send them: each runs through the request cycle
//! (`project.rs`) or the test runner (`testing.rs`) and says what it did.

use std::rc::Rc;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::http::Response;
use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::orm::model::Instance;
use crate::source::SourceFile;
use crate::py::objects::Namespace;
use crate::runtime::Rt;
use crate::value::Val;
use protocol::Step;
use super::project::{load, Project, STEP_BUDGET_MS};
use super::test_client::{client_request, wsgi_name, ClientRequest};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ProjectCase {
    pub name: String,
    #[serde(default)]
    pub files: IndexMap<String, String>,
    #[serde(default)]
    pub urls: Vec<Vec<Option<String>>>,
    #[serde(default)]
    pub steps: Vec<serde_json::Value>,
    #[serde(default)]
    pub migrations: Vec<serde_json::Value>,
    /// `{"MIDDLEWARE": [...], "CACHES": {...}}` (contract version 2).
    #[serde(default)]
    pub settings: Option<serde_json::Value>,
}

/// Collapses whitespace as the contract compares bodies.
fn collapse(s: &str) -> String {
    crate::template::collapse_whitespace(s)
}

fn step_error(e: &SandboxError) -> serde_json::Value {
    serde_json::json!({ "error": e.one_line() })
}

/// Runs one case on a fresh database (the caller opens `rt` on a copy of the file).
pub fn run_case(rt: &Rt, case: &ProjectCase) -> serde_json::Value {
    rt.reset_session();
    let fail = |e: SandboxError| serde_json::json!({ "name": case.name, "error": e.one_line() });
    let mut urls = Vec::new();
    for u in &case.urls {
        let route = u.first().cloned().flatten().unwrap_or_default();
        let view = u.get(1).cloned().flatten().unwrap_or_default();
        let name = u.get(2).cloned().flatten();
        urls.push((route, view, name));
    }
    let mut migrations = Vec::new();
    for m in &case.migrations {
        match super::migrations::from_json(m) {
            Ok(m) => migrations.push(m),
            Err(e) => return fail(e),
        }
    }
    let spec = protocol::ProjectSpec { files: case.files.clone().into_iter().collect(), urls, migrations };
    let project = match Project::from_spec(spec) {
        Ok(mut p) => {
            p.shell_in_views = true;
            p.case_settings = case.settings.clone();
            Rc::new(p)
        }
        Err(e) => return fail(e),
    };
    rt.begin_request(60_000.0);
    for m in &project.migrations {
        if let Err(e) = super::migrations::apply(rt, m) {
            return fail(e);
        }
    }
    if let Err(e) = load(rt, project.clone()) {
        return fail(e);
    }
    let mut steps = Vec::new();
    for step in &case.steps {
        steps.push(run_step(rt, &project, step));
    }
    serde_json::json!({ "name": case.name, "steps": steps })
}


/// A `run-project` step (`{"get": url, "user": u}`, `{"advance": s}`, …) as the lab's step.
pub fn step_from_json(step: &serde_json::Value) -> SResult<Step> {
    if let Some(url) = step.get("get").and_then(|v| v.as_str()) {
        let worker = match step.get("worker") {
            None | Some(serde_json::Value::Null) => None,
            Some(w) => match w.as_u64() {
                Some(n @ 1..=2) => Some(n as u8),
                _ => return Err(err(ErrorKind::ValueError, format!("\"worker\" is 1 or 2, got {w}"))),
            },
        };
        let into_previous = match step.get("into_previous") {
            None | Some(serde_json::Value::Null) => None,
            Some(s) => match s.as_f64() {
                Some(x) if (0.0..=protocol::timeline::MAX_INTO_PREVIOUS_SECONDS).contains(&x) => Some(x),
                _ => return Err(err(ErrorKind::ValueError, format!("\"into_previous\" is 0 to {} seconds, got {s}", protocol::timeline::MAX_INTO_PREVIOUS_SECONDS))),
            },
        };
        return Ok(Step::Get { url: url.to_string(), user: step.get("user").and_then(|v| v.as_str()).map(str::to_string), worker, into_previous, http: None });
    }
    if let Some(r) = step.get("request") {
        return request_step(r);
    }
    if let Some(secs) = step.get("advance") {
        return secs.as_f64().map(|seconds| Step::Advance { seconds }).ok_or_else(|| err(ErrorKind::TypeError, "advance takes a number of seconds"));
    }
    if let Some(src) = step.get("run").and_then(|v| v.as_str()) {
        return Ok(Step::Run { code: src.to_string(), worker: None });
    }
    if let Some(file) = step.get("test").and_then(|v| v.as_str()) {
        return Ok(Step::Test { file: file.to_string() });
    }
    Err(err(ErrorKind::ValueError, format!("unknown step: {step}")))
}

/// `{"request": {"method", "path", "data"?, "headers"?, "user"?, "follow"?}}` (contract
/// version 2).
fn request_step(r: &serde_json::Value) -> SResult<Step> {
    let bad = |m: String| err(ErrorKind::ValueError, m);
    let method = match r.get("method") {
        None => "GET".to_string(),
        Some(m) => m.as_str().map(str::to_uppercase).ok_or_else(|| bad(format!("\"method\" is a string, got {m}")))?,
    };
    if !protocol::METHODS.contains(&method.as_str()) {
        return Err(bad(format!("unknown method '{method}': one of {}", protocol::METHODS.join(", "))));
    }
    let path = r.get("path").and_then(|p| p.as_str()).ok_or_else(|| bad("a request step needs a \"path\"".into()))?;
    let mut data = Vec::new();
    match r.get("data") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(m)) => {
            for (k, v) in m {
                let values = match v {
                    serde_json::Value::Array(items) => items.clone(),
                    other => vec![other.clone()],
                };
                for x in values {
                    data.push((k.clone(), json_scalar(&x)));
                }
            }
        }
        Some(other) => return Err(bad(format!("\"data\" is an object, got {other}"))),
    }
    let mut headers = Vec::new();
    match r.get("headers") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(m)) => {
            for (k, v) in m {
                headers.push((k.clone(), json_scalar(v)));
            }
        }
        Some(other) => return Err(bad(format!("\"headers\" is an object, got {other}"))),
    }
    let follow = r.get("follow").and_then(|f| f.as_bool()).unwrap_or(false);
    let user = r.get("user").and_then(|v| v.as_str()).map(str::to_string);
    Ok(Step::Get { url: path.to_string(), user, worker: None, into_previous: None, http: Some(protocol::HttpExtra { method, data, headers, follow }) })
}

/// A JSON value as Python's `str()` of it would send it in a form or header.
fn json_scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(true) => "True".into(),
        serde_json::Value::Bool(false) => "False".into(),
        serde_json::Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// What a step did; the query log of the step stays in `rt.log`.
#[derive(Default)]
pub struct StepOutcome {
    pub status: Option<u16>,
    pub body: Option<String>,
    /// Every header of the response, by the name it was set with.
    pub headers: Vec<(String, String)>,
    /// With `follow`: each redirect followed (`Location`, status).
    pub redirect_chain: Option<Vec<(String, u16)>>,
    /// A shell line's `str()` of its final expression.
    pub output: Option<String>,
    pub tests: Option<Vec<super::testing::TestResult>>,
    pub error: Option<SandboxError>,
    /// For a request that read the cache: the outermost layer read and whether it answered,
    /// or stale (a hit whose page differs from what the request renders now without the cache).
    pub cache: Option<protocol::CacheOutcome>,
    /// A request's own time (ms), without the stale check's replay.
    pub request_ms: Option<f64>,
    /// Of that, the time inside the view (none when no view ran).
    pub view_ms: Option<f64>,
    /// The templates the request rendered.
    pub templates: Vec<protocol::TemplateTime>,
    /// The per-line profile of the step (its first run only; see `profiler.rs`).
    pub lines: Vec<protocol::LineProfile>,
    /// Where the step sat on the virtual clock: (start, end) in seconds.
    pub span: (f64, f64),
}

fn failed(e: SandboxError) -> StepOutcome {
    StepOutcome { error: Some(e), ..Default::default() }
}

/// Runs one step with `budget_ms` of time: a request through the test client (the login
/// itself not counted), a clock move, a shell line in `views.py`'s namespace, or the tests.
pub fn execute(rt: &Rt, project: &Rc<Project>, step: &Step, budget_ms: f64) -> StepOutcome {
    execute_with(rt, project, step, budget_ms, false)
}

/// [`execute`]; with `detect_stale`, a request that read the cache is classified (hit, miss,
/// stale) by rendering it again without the cache, invisibly.
pub fn execute_with(rt: &Rt, project: &Rc<Project>, step: &Step, budget_ms: f64, detect_stale: bool) -> StepOutcome {
    if let Step::Advance { .. } = step {
        let start = rt.now_seconds();
        let mut out = run_one(rt, project, step, budget_ms, detect_stale);
        out.span = (start, rt.now_seconds());
        return out;
    }
    let into_previous = match step {
        Step::Get { into_previous, .. } => *into_previous,
        _ => None,
    };
    crate::db::lock::begin_step(rt, into_previous, super::caches::caches(rt).borrow().worker());
    let mut out = run_one(rt, project, step, budget_ms, detect_stale);
    let (span, warning) = crate::db::lock::end_step(rt, into_previous.is_some());
    out.span = span;
    if let Some(w) = warning {
        rt.warnings.borrow_mut().push(w);
    }
    out
}

fn run_one(rt: &Rt, project: &Rc<Project>, step: &Step, budget_ms: f64, detect_stale: bool) -> StepOutcome {
    // A request or a shell line runs inside a CaptureQueriesContext, as the contract counts
    // its queries: `connection.queries` records them (and a request does not reset it).
    let captured = matches!(step, Step::Get { .. } | Step::Run { .. });
    if captured {
        super::test_client::capture_begin(rt);
    }
    // A request arms its profile around the client call only (not the stale check's replay).
    let profiled = detect_stale && matches!(step, Step::Run { .. } | Step::Test { .. });
    if profiled {
        rt.profile_begin();
    }
    let mut out = run_step_kind(rt, project, step, budget_ms, detect_stale);
    if profiled {
        out.lines = rt.profile_take();
    }
    if captured {
        super::test_client::capture_end(rt);
    }
    out
}

fn run_step_kind(rt: &Rt, project: &Rc<Project>, step: &Step, budget_ms: f64, detect_stale: bool) -> StepOutcome {
    match step {
        Step::Get { url, user, worker, http, .. } => {
            // A request goes to its worker (1 unless named); shell lines run in the worker
            // the last request went to.
            super::caches::caches(rt).borrow_mut().switch_worker(worker.unwrap_or(1));
            rt.begin_request(budget_ms);
            let user_id = match user {
                Some(u) => match force_login(rt, u) {
                    Ok(id) => Some(id),
                    Err(e) => return failed(e),
                },
                None => None,
            };
            rt.log.borrow_mut().clear();
            let session = user_id.map(|id| (id, rt.now_seconds().floor() as i64));
            let sent = match http {
                None => ClientRequest { method: "GET".into(), path: url.to_string(), session, ..Default::default() },
                Some(h) => ClientRequest {
                    method: h.method.clone(),
                    path: url.to_string(),
                    data: h.data.clone(),
                    meta: h.headers.iter().map(|(k, v)| (wsgi_name(k), v.clone())).collect(),
                    follow: h.follow,
                    session,
                },
            };
            let calls_before = super::caches::with_backend(rt, |b| b.calls().len());
            rt.templates.borrow_mut().clear();
            if detect_stale {
                rt.profile_begin();
            }
            let start = crate::clock::monotonic_ms();
            let handled = client_request(rt, &sent);
            let request_ms = Some(crate::clock::monotonic_ms() - start);
            let lines = if detect_stale { rt.profile_take() } else { vec![] };
            let view_ms = rt.view_ms.get();
            let templates = std::mem::take(&mut *rt.templates.borrow_mut());
            match handled {
                Ok((resp, chain)) => {
                    let r = resp.as_obj::<Response>().expect("a response");
                    let headers = r.headers.borrow().values().cloned().collect();
                    let body = r.content.borrow().clone();
                    let plain = sent.method == "GET" && !sent.follow;
                    let cache = if detect_stale && plain { cache_outcome(rt, &sent, calls_before, &body) } else { None };
                    let redirect_chain = sent.follow.then_some(chain);
                    StepOutcome { status: Some(r.status.get()), body: Some(body), headers, cache, request_ms, view_ms, templates, lines, redirect_chain, ..Default::default() }
                }
                Err(e) => StepOutcome { request_ms, lines, ..failed(e) },
            }
        }
        Step::Advance { seconds: s } => match rt.advance_clock(*s) {
            Ok(()) => StepOutcome::default(),
            Err(e) => failed(e),
        },
        Step::Run { code, worker } => {
            if let Some(w) = worker {
                super::caches::caches(rt).borrow_mut().switch_worker(*w);
            }
            rt.begin_request(budget_ms);
            let ns = project.shell_namespace();
            match run_statements(rt, &ns, code) {
                Ok(out) => StepOutcome { output: Some(out), ..Default::default() },
                Err(e) => failed(e),
            }
        }
        Step::Test { file } => {
            rt.begin_request(budget_ms);
            let Some(src) = project.files.get(file).cloned() else {
                return failed(exc("FileNotFoundError", format!("No such file: '{file}'")));
            };
            match super::testing::run_tests(rt, file, &src) {
                Ok(results) => StepOutcome { tests: Some(results), ..Default::default() },
                Err(e) => failed(e),
            }
        }
    }
}

/// Which cache layer the request read and whether it answered, from the cache's own record
/// of the request's calls; a hit whose page differs from a fresh render is stale.
fn cache_outcome(rt: &Rt, sent: &ClientRequest, calls_before: usize, body: &str) -> Option<protocol::CacheOutcome> {
    let outcome = super::caches::with_backend(rt, |b| {
        let calls = b.calls();
        crate::cache::cache_outcome(&calls[calls_before.min(calls.len())..])
    })?;
    if outcome.state != protocol::CacheState::Hit {
        return Some(outcome);
    }
    let stale = protocol::CacheOutcome { state: protocol::CacheState::Stale, ..outcome };
    // The replay runs in a transaction rolled back afterwards: a view that writes does not
    // write twice.
    let fresh = super::caches::without_cache(rt, || {
        if crate::db::transaction::enter(rt, false).is_err() {
            return None;
        }
        let r = client_request(rt, sent).map(|(r, _)| r);
        let _ = crate::db::transaction::exit(rt, true);
        Some(r)
    });
    let Some(fresh) = fresh else { return Some(outcome) };
    match fresh {
        Ok(resp) => match resp.as_obj::<Response>() {
            Some(r) if *r.content.borrow() != body => Some(stale),
            _ => Some(outcome),
        },
        Err(_) => Some(outcome),
    }
}

pub fn run_step(rt: &Rt, project: &Rc<Project>, step: &serde_json::Value) -> serde_json::Value {
    let kind = match step_from_json(step) {
        Ok(k) => k,
        Err(e) => return step_error(&e),
    };
    let out = execute(rt, project, &kind, STEP_BUDGET_MS);
    if let Some(e) = &out.error {
        let mut v = step_error(e);
        if matches!(kind, Step::Get { into_previous: Some(_), .. }) {
            v["elapsed"] = elapsed_json(&out);
        }
        return v;
    }
    let log = rt.log.borrow();
    let sql: Vec<String> = log.iter().map(|q| q.sql.clone()).collect();
    match kind {
        Step::Get { into_previous, http, .. } => {
            let mut v = serde_json::json!({
                "status": out.status,
                "n_queries": log.len(),
                "body": collapse(out.body.as_deref().unwrap_or("")),
                "sql": sql,
            });
            // Contract version 2's request step also reports the headers and the redirects.
            if http.is_some() {
                let headers: serde_json::Map<String, serde_json::Value> = out.headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("date") && !k.eq_ignore_ascii_case("content-length")).map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
                v["headers"] = serde_json::Value::Object(headers);
                if let Some(chain) = &out.redirect_chain {
                    v["redirect_chain"] = serde_json::json!(chain.iter().map(|(u, s)| serde_json::json!([u, s])).collect::<Vec<_>>());
                }
            }
            // Time on the lab's clock, for a request that overlaps the previous one (the
            // contract's steps without "into_previous" keep their documented keys).
            if into_previous.is_some() {
                v["elapsed"] = elapsed_json(&out);
            }
            v
        }
        Step::Advance { .. } => serde_json::json!({}),
        Step::Run { .. } => serde_json::json!({ "n_queries": log.len(), "sql": sql, "output": out.output.unwrap_or_default() }),
        Step::Test { .. } => serde_json::json!({
            "tests": out.tests.unwrap_or_default().iter().map(|r| serde_json::json!({"name": r.name, "outcome": r.outcome, "message": r.message})).collect::<Vec<_>>()
        }),
    }
}

/// Seconds the step took on the virtual clock (sleeps and lock waits), to the millisecond.
fn elapsed_json(out: &StepOutcome) -> serde_json::Value {
    serde_json::json!(((out.span.1 - out.span.0) * 1000.0).round() / 1000.0)
}

/// `Client.force_login(user)`: the session cookie, and `last_login` updated (not counted).
pub fn force_login(rt: &Rt, username: &str) -> SResult<i64> {
    let qs = crate::orm::model::QuerySetObj::for_model(&crate::schema::USER);
    let user = qs.get(rt, vec![], vec![("username".into(), Val::str(username))])?;
    let inst = user.as_obj::<Instance>().expect("a user").rc();
    let id = inst.pk_value().unwrap_or(0);
    let now = crate::py::dates::datetime_now(rt);
    inst.set_value("last_login", Val::DateTime(now));
    crate::orm::write::save(rt, &inst, vec![], vec![("update_fields".into(), Val::list(vec![Val::str("last_login")]))])?;
    Ok(id)
}

/// A shell step: statements in the views module's namespace; the `str()` of a final
/// expression statement, else "".
pub fn run_statements(rt: &Rt, globals: &Rc<Namespace>, src: &str) -> SResult<String> {
    use crate::py::ast::StmtKind;
    let file = Rc::new(SourceFile { name: "<run>".into(), text: src.to_string() });
    let body = crate::py::parser::parse_module(src).map_err(|e| crate::py::import::syntax_error_in(e, "<run>"))?;
    let fr = crate::py::interp::Frame::module(file, globals.clone());
    let (last, init) = match body.split_last() {
        Some((l, i)) => (Some(l), i),
        None => (None, &body[..]),
    };
    crate::py::interp::exec_block(rt, &fr, init)?;
    match last {
        Some(s) => match &s.kind {
            StmtKind::Expr(e) => {
                rt.py_tick()?;
                // The shown value is the line's too (a lazy QuerySet's query runs as it prints).
                crate::py::interp::line_frame(rt, &fr, s.line, || crate::py::interp::eval(rt, &fr, e).and_then(|v| v.to_str(rt)))
            }
            _ => {
                crate::py::interp::exec_block(rt, &fr, std::slice::from_ref(s))?;
                Ok(String::new())
            }
        },
        None => Ok(String::new()),
    }
}
