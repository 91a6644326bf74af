//! The lab session the worker hosts: it answers [`protocol::Request`]s with
//! [`protocol::Response`]s. Everything the browser does goes through here, so native tests of
//! this module test what the learner gets.

use std::rc::Rc;

use protocol::{CacheCallInfo, CompareRun, CompareSide, ErrorInfo, GroupInfo, PlanInfo, ProjectSpec, QueryInfo, RenderReport, Request, Response, Step, StepReport, TestInfo};

use indexmap::IndexMap;

use crate::cache;
use crate::cases::render_once;
use crate::clock;
use crate::engine::{refuse_unsafe_sql, Engine, SqlValue};
use crate::error::{ErrorKind, SandboxError};
use crate::runtime::{engine_error, group_queries, Rt};
use crate::seed;
use crate::template::Template;
use crate::value::Val;

/// Time budget for one request, all queries included.
pub const REQUEST_BUDGET_MS: f64 = 2_000.0;
/// Budget for one statement.
pub const STATEMENT_BUDGET_MS: f64 = 1_000.0;
/// Budget for a test run (every test of the file together).
pub const TEST_BUDGET_MS: f64 = 8_000.0;
/// Most rows an SQL console answer carries back to the page.
const MAX_SQL_ROWS: usize = 200;

#[derive(Default)]
pub struct Lab {
    rt: Option<Rt>,
    project: Option<Rc<crate::django::project::Project>>,
    /// Why the last project did not load (repeated for the steps sent after it).
    load_error: Option<SandboxError>,
    /// Indexes the labs' migrations created in this database (undone when a lab drops them).
    applied_indexes: Vec<String>,
    /// The size the database was seeded with: articles, and tasks when overridden.
    size: (u32, Option<u32>),
    /// Growth charts measure on a scratch database, kept while the size repeats.
    scratch: Option<((u32, Option<u32>), Box<Lab>)>,
    /// Requests served since the database was seeded (the first one runs cold code).
    served: u32,
}

impl Lab {
    pub fn new() -> Lab {
        Lab::default()
    }

    /// Articles (and tasks, when overridden) the database was seeded with.
    pub fn size(&self) -> (u32, Option<u32>) {
        self.size
    }

    /// Handles one request; `send` may be called several times (progress, then the answer).
    pub fn handle(&mut self, req: Request, send: &mut dyn FnMut(Response)) {
        let id = req.id();
        let answer = match req {
            Request::Seed { articles, tasks, .. } => self.seed(id, articles, tasks, send),
            Request::Run { context, template, renders, clear_cache, .. } => self.run(id, &context, &template, renders, clear_cache),
            Request::Sql { sql, .. } => self.sql(id, &sql),
            Request::Project { project, .. } => self.load_project(id, project),
            Request::Step { step, .. } => self.step(id, step),
            Request::Check { check, .. } => Response::CheckResult { id, report: crate::exercise::check(self, &check) },
            Request::Compare { a, b, .. } => {
                let a = self.compare_side(a);
                let b = self.compare_side(b);
                Response::Compared { id, a, b }
            }
            Request::Explain { sql, .. } => self.explain(id, &sql),
            Request::Measure { run, articles, tasks, .. } => Response::Measured { id, side: self.measure(run, articles, tasks) },
            Request::CrashForTest { .. } => panic!("crash requested by the page (test hook)"),
        };
        send(answer);
    }

    fn seed(&mut self, id: u64, articles: u32, tasks: Option<u32>, send: &mut dyn FnMut(Response)) -> Response {
        let start = clock::monotonic_ms();
        let result = Engine::open_memory().and_then(|mut engine| {
            // Seeding is one long, trusted job: it gets a larger budget than a learner's statement.
            engine.budget_ms = 60_000.0;
            let size = seed::seed_with_tasks(&mut engine, articles, tasks, &mut |done, total| send(Response::Progress { id, done, total }))?;
            engine.budget_ms = STATEMENT_BUDGET_MS;
            Ok((engine, size))
        });
        match result {
            Ok((engine, size)) => {
                self.rt = Some(Rt::new(engine));
                self.project = None;
                self.applied_indexes.clear();
                self.size = (articles, tasks);
                self.served = 0;
                Response::Seeded {
                    id,
                    ms: clock::monotonic_ms() - start,
                    counts: vec![
                        ("users".into(), size.users as u64),
                        ("tags".into(), size.tags as u64),
                        ("articles".into(), size.articles as u64),
                        ("organizations".into(), size.organizations as u64),
                        ("tasks".into(), size.tasks as u64),
                    ],
                    schema_ms: size.schema_ms as f64,
                }
            }
            Err(e) => error_response(id, engine_error(e)),
        }
    }

    fn run(&mut self, id: u64, context: &[(String, String)], template: &str, renders: u32, clear_cache: bool) -> Response {
        let Some(rt) = self.rt.as_ref() else {
            return not_seeded(id);
        };
        if clear_cache {
            rt.cache.borrow_mut().clear();
        }
        let template = match Template::parse(template) {
            Ok(t) => t,
            Err(e) => return error_response(id, e.in_source("template")),
        };
        let mut reports = Vec::new();
        for _ in 0..renders.clamp(1, 10) {
            let before = rt.cache.borrow().snapshot();
            rt.begin_request(REQUEST_BUDGET_MS);
            let start = clock::monotonic_ms();
            let out = render_once(rt, context, &template);
            let request_ms = clock::monotonic_ms() - start;
            let output = match out {
                Ok(o) => o,
                Err(e) => return error_response(id, e),
            };
            let mut r = report(rt, output, request_ms);
            self.time_repeats(&mut r, before, &mut |rt| {
                rt.begin_request(REQUEST_BUDGET_MS);
                render_once(rt, context, &template).is_ok()
            });
            reports.push(r);
        }
        self.served += 1;
        Response::Result { id, renders: reports }
    }

    /// Honest timing of a read-only page (every statement a SELECT): runs it again, each time
    /// from the cache state it started in, and reports the median. A page that writes runs once
    /// and is marked cold when it is the first request since the engine loaded.
    fn time_repeats(&self, r: &mut RenderReport, before: IndexMap<String, (Val, cache::Expiry)>, again: &mut dyn FnMut(&Rt) -> bool) {
        const MAX_RUNS: usize = 5;
        const REPEAT_BUDGET_MS: f64 = 60.0;
        let first = r.request_ms;
        r.timing = protocol::Timing::single(first, self.served == 0);
        let Some(rt) = self.rt.as_ref() else { return };
        let read_only = r.queries.iter().all(|q| q.sql.trim_start().starts_with("SELECT"));
        if !read_only {
            return;
        }
        let after = rt.cache.borrow().snapshot();
        // (request ms, ms inside the engine) of each run, the shown one first.
        let mut runs = vec![(first, r.sql_ms)];
        let started = clock::monotonic_ms();
        while runs.len() < MAX_RUNS && clock::monotonic_ms() - started < REPEAT_BUDGET_MS {
            rt.cache.borrow_mut().restore(before.clone());
            let t0 = clock::monotonic_ms();
            if !again(rt) {
                break;
            }
            runs.push((clock::monotonic_ms() - t0, sql_ms(&rt.log.borrow())));
        }
        rt.cache.borrow_mut().restore(after);
        let n = runs.len();
        let mut sorted = runs;
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        // The median run (the upper one of an even count) gives both times, so the SQL time is
        // never from a cold run while the request time is from warm ones.
        let (median, median_sql) = sorted[n / 2];
        r.request_ms = median;
        r.sql_ms = median_sql;
        r.timing = protocol::Timing {
            runs: n as u32,
            first_ms: first,
            min_ms: sorted[0].0,
            max_ms: sorted[n - 1].0,
            // Cold: the first run stands out from the warm ones, not just noise.
            cold: n > 1 && first > 3.0 * median && first - median > 5.0,
        };
    }

    fn sql(&mut self, id: u64, sql: &str) -> Response {
        let Some(rt) = self.rt.as_ref() else {
            return not_seeded(id);
        };
        let trimmed = match one_statement(sql) {
            Ok(s) => s,
            Err(e) => return error_response(id, e),
        };
        let mut engine = rt.engine.borrow_mut();
        match engine.run(trimmed, &[]) {
            Ok(r) => Response::SqlResult {
                id,
                columns: engine.columns(trimmed),
                rows: r.rows.iter().take(MAX_SQL_ROWS).map(|row| row.iter().map(show_sql_value).collect()).collect(),
                query: QueryInfo {
                    sql: trimmed.to_string(),
                    params: vec![],
                    ms: r.ms,
                    rows: r.rows.len(),
                    rows_read: r.counters.rows_read,
                    fullscan_steps: r.counters.fullscan_steps,
                    sorts: r.counters.sorts,
                    vm_steps: r.counters.vm_steps,
                    origin: None,
                    group: None,
                    duplicate: false,
                },
            },
            Err(e) => error_response(id, engine_error(e)),
        }
    }
}

impl Lab {
    /// Installs a project: Django's state starts over (imports, receivers, cache, clock),
    /// the migrations run, and `views.py` is imported.
    fn load_project(&mut self, id: u64, spec: ProjectSpec) -> Response {
        let Some(rt) = self.rt.as_ref() else {
            return not_seeded(id);
        };
        rt.reset_session();
        self.project = None;
        self.load_error = None;
        // The indexes a models.py declares are migrations too (checked as Django checks them;
        // on an error the database keeps the indexes it has).
        let mut all_migrations = spec.migrations.clone();
        for (name, src) in spec.files.iter().filter(|(n, _)| crate::django::models_file::is_models_file(n)) {
            match crate::django::models_file::migrations(name, src, &all_migrations) {
                Ok(ms) => all_migrations.extend(ms),
                Err(e) => {
                    self.load_error = Some(e.clone());
                    return error_response(id, e);
                }
            }
        }
        let spec = ProjectSpec { migrations: all_migrations, ..spec };
        let files: indexmap::IndexMap<String, String> = spec.files.into_iter().collect();
        let project = match crate::django::project::Project::new(files, &spec.urls) {
            Ok(p) => Rc::new(p),
            Err(e) => {
                self.load_error = Some(e.clone());
                return error_response(id, e);
            }
        };
        rt.begin_request(REQUEST_BUDGET_MS);
        // The browser's database outlives a project: first undo the indexes an earlier
        // version of the lab added and this one does not, then add the missing ones.
        let created = |m: &protocol::Migration| crate::django::modules::created_index(&serde_json::to_value(m).unwrap_or_default());
        let wanted: Vec<String> = spec.migrations.iter().filter_map(created).collect();
        for name in std::mem::take(&mut self.applied_indexes) {
            if wanted.contains(&name) {
                self.applied_indexes.push(name);
            } else {
                let _ = rt.engine.borrow_mut().execute_batch(&format!("DROP INDEX IF EXISTS \"{name}\""));
            }
        }
        for m in &spec.migrations {
            let index = created(m);
            if index.as_ref().is_some_and(|i| self.applied_indexes.contains(i)) {
                continue;
            }
            let json = serde_json::to_value(m).unwrap_or_default();
            if let Err(e) = crate::django::modules::apply_migration(rt, &json) {
                let e = e.in_source("migrations");
                self.load_error = Some(e.clone());
                return error_response(id, e);
            }
            if let Some(i) = index {
                self.applied_indexes.push(i);
            }
        }
        if let Err(e) = crate::django::project::load(rt, project.clone()) {
            self.load_error = Some(e.clone());
            return error_response(id, e);
        }
        self.project = Some(project);
        let migrations = spec
            .migrations
            .iter()
            .filter_map(|m| crate::django::modules::migration_text(&serde_json::to_value(m).unwrap_or_default()).ok())
            .map(|t| (t.python, t.sql))
            .collect();
        Response::ProjectLoaded { id, clock: crate::value::DateTime::from_unix_seconds(rt.now_seconds()).to_string(), migrations }
    }

    fn step(&mut self, id: u64, step: Step) -> Response {
        use crate::django::project::{execute_with, StepKind};
        let Some(rt) = self.rt.as_ref() else {
            return not_seeded(id);
        };
        let Some(project) = self.project.clone() else {
            return match &self.load_error {
                Some(e) => error_response(id, e.clone()),
                None => error_response(id, SandboxError::new(ErrorKind::NotSupported, "no project is loaded: open a lab first")),
            };
        };
        let (kind, label, budget) = match step {
            Step::Get { url, user, worker, into_previous } => {
                let mut label = match &user {
                    Some(u) => format!("GET {url} (as {u})"),
                    None => format!("GET {url}"),
                };
                let worker = worker.filter(|w| (1..=protocol::MAX_WORKERS).contains(w));
                if let Some(w) = worker {
                    label += &format!(" on worker {w}");
                }
                let into_previous = into_previous.filter(|s| s.is_finite() && (0.0..=protocol::timeline::MAX_INTO_PREVIOUS_SECONDS).contains(s));
                if let Some(s) = into_previous {
                    label += &format!(", {} s into the previous", protocol::short_seconds(s));
                }
                (StepKind::Get { url, user, worker, into_previous }, label, REQUEST_BUDGET_MS)
            }
            Step::Advance { seconds } => (StepKind::Advance(seconds), format!("clock +{seconds} s"), REQUEST_BUDGET_MS),
            Step::Run { code } => {
                let label = code.lines().next().unwrap_or("").to_string();
                (StepKind::Run(code), label, REQUEST_BUDGET_MS)
            }
            Step::Test { file } => (StepKind::Test(file.clone()), format!("test {file}"), TEST_BUDGET_MS),
        };
        let into_previous = match &kind {
            StepKind::Get { into_previous, .. } => *into_previous,
            _ => None,
        };
        let kind_name = match &kind {
            StepKind::Get { .. } => "get",
            StepKind::Advance(_) => "advance",
            StepKind::Run(_) => "run",
            StepKind::Test(_) => "test",
        };
        let start = clock::monotonic_ms();
        let out = execute_with(rt, &project, &kind, budget, true);
        // A request's time is its own (the stale check's replay is not the learner's cost).
        let request_ms = out.request_ms.unwrap_or_else(|| clock::monotonic_ms() - start);
        let shown = out.body.clone().or_else(|| out.output.clone()).unwrap_or_default();
        let mut render = report(rt, shown, request_ms);
        if kind_name == "advance" {
            render = RenderReport::default();
        }
        if kind_name == "get" {
            // A request with effects (a save, a cache fill) runs once; say when it ran cold.
            render.timing = protocol::Timing::single(request_ms, self.served == 0);
            self.served += 1;
        }
        let mut status = out.status;
        let error = out.error.map(|e| {
            // A view that raised is a 500 in the browser (Django's debug page would show it).
            if kind_name == "get" {
                status = Some(500);
            }
            error_info(e)
        });
        Response::StepResult {
            id,
            report: StepReport {
                kind: kind_name.into(),
                label,
                status,
                headers: out.headers,
                render,
                stdout: rt.take_stdout(),
                tests: out
                    .tests
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| TestInfo { name: t.name, outcome: t.outcome.into(), message: t.message, detail: t.detail })
                    .collect(),
                warnings: rt.warnings.borrow().clone(),
                error,
                clock: crate::value::DateTime::from_unix_seconds(rt.now_seconds()).to_string(),
                cache_state: out.cache_state.map(str::to_string),
                cache_calls: rt.cache.borrow().calls.iter().map(|c| CacheCallInfo { op: c.op.clone(), key: c.key.clone(), hit: c.hit }).collect(),
                cache_keys: {
                    let now = rt.now_seconds();
                    rt.cache.borrow().keys(now).into_iter().map(|(k, exp)| (k, exp.map(|e| e - now))).collect()
                },
                span: span_report(rt, out.span, into_previous),
            },
        }
    }
}

/// The step's place on the virtual clock, when it took time there or overlapped a request.
fn span_report(rt: &Rt, (start, end): (f64, f64), into_previous: Option<f64>) -> Option<protocol::Span> {
    let d = rt.django.borrow();
    let l = &d.dblock;
    if into_previous.is_none() && end <= start {
        return None;
    }
    let at = |t: f64| crate::value::DateTime::from_unix_seconds(t).to_string();
    Some(protocol::Span { started: at(start), finished: at(end), elapsed_s: end - start, waited_s: l.waited_s, slept_s: l.slept_s, into_previous, note: l.note.clone() })
}

impl Lab {
    /// One side of an A/B comparison: a fresh load (project) or an empty cache (expression),
    /// the steps, and the last one measured with the plan of each distinct statement.
    fn compare_side(&mut self, run: CompareRun) -> CompareSide {
        let answer = match run {
            CompareRun::Project { project, steps } => match self.load_project(0, project) {
                Response::ProjectLoaded { .. } => steps.into_iter().map(|s| self.step(0, s)).last(),
                other => Some(other),
            },
            CompareRun::Expression { context, template } => Some(self.run(0, &context, &template, 1, true)),
        };
        let (render, status, error) = match answer {
            Some(Response::StepResult { report, .. }) => (report.render, report.status, report.error),
            Some(Response::Result { mut renders, .. }) => (renders.pop().unwrap_or_default(), None, None),
            Some(Response::Error { error, .. }) => return CompareSide { error: Some(error), ..Default::default() },
            _ => return CompareSide { error: Some(error_info(SandboxError::new(ErrorKind::NotSupported, "nothing to compare: the lab sent no request"))), ..Default::default() },
        };
        let plans = self.plans(&render);
        CompareSide { render: Some(render), status, error, plans }
    }

    /// The Explain button of a query log: the statement's plan on the database as it is now.
    fn explain(&mut self, id: u64, sql: &str) -> Response {
        let Some(rt) = self.rt.as_ref() else {
            return not_seeded(id);
        };
        let sql = match one_statement(sql) {
            Ok(s) => s,
            Err(e) => return error_response(id, e),
        };
        let plan = if sql.contains("django_") {
            "(no plan: this statement calls a function Django registers in SQLite (django_datetime_extract, …), which the lab's engine runs under another name; run qs.explain() in the shell instead)".to_string()
        } else {
            plan_text(&mut rt.engine.borrow_mut(), sql)
        };
        Response::Explained { id, plan }
    }

    /// One growth-chart point: `run` on a scratch database of `articles` (and `tasks`).
    fn measure(&mut self, run: CompareRun, articles: u32, tasks: Option<u32>) -> CompareSide {
        let size = (articles, tasks);
        let mut lab = match self.scratch.take() {
            Some((s, lab)) if s == size => lab,
            _ => {
                let mut lab = Box::new(Lab::new());
                let mut failed = None;
                lab.handle(Request::Seed { id: 0, articles, tasks }, &mut |r| {
                    if let Response::Error { error, .. } = r {
                        failed = Some(error)
                    }
                });
                if let Some(error) = failed {
                    return CompareSide { error: Some(error), ..Default::default() };
                }
                lab
            }
        };
        let mut side = lab.compare_side(run);
        side.plans.clear();
        self.scratch = Some((size, lab));
        side
    }

    /// The engine's plan for each distinct statement of a page (similar statements once).
    fn plans(&self, render: &RenderReport) -> Vec<PlanInfo> {
        const MAX_PLANS: usize = 20;
        let Some(rt) = self.rt.as_ref() else { return vec![] };
        let mut out: Vec<(Option<usize>, PlanInfo)> = Vec::new();
        for q in &render.queries {
            if let Some(seen) = out.iter_mut().find(|(g, p)| if q.group.is_some() { *g == q.group } else { p.sql == q.sql }) {
                seen.1.count += 1;
                continue;
            }
            if out.len() == MAX_PLANS {
                continue;
            }
            let plan = if q.sql.trim_start().starts_with("SELECT") { plan_text(&mut rt.engine.borrow_mut(), &q.sql) } else { String::new() };
            out.push((q.group, PlanInfo { sql: q.sql.clone(), count: 1, plan }));
        }
        out.into_iter().map(|(_, p)| p).collect()
    }
}

/// `EXPLAIN QUERY PLAN` of a logged statement, one step a line, each child indented under
/// its parent, in SQLite's words.
fn plan_text(engine: &mut Engine, sql: &str) -> String {
    let rows = match engine.run(&format!("EXPLAIN QUERY PLAN {sql}"), &[]) {
        Ok(r) => r.rows,
        Err(e) => return format!("(no plan: {e})"),
    };
    let int = |v: &SqlValue| if let SqlValue::Int(i) = v { *i } else { 0 };
    let mut depth: Vec<(i64, usize)> = Vec::new();
    let mut lines = Vec::new();
    for row in &rows {
        let (id, parent) = (row.first().map(int).unwrap_or(0), row.get(1).map(int).unwrap_or(0));
        let d = depth.iter().find(|(i, _)| *i == parent).map_or(0, |(_, d)| d + 1);
        depth.push((id, d));
        let detail = match row.get(3) {
            Some(SqlValue::Text(t)) => crate::orm::write::sqlite_plan_wording(t),
            _ => String::new(),
        };
        lines.push(format!("{}{detail}", "  ".repeat(d)));
    }
    lines.join("\n")
}

/// SQL the page sends (the console, an Explain button): never what would crash the engine,
/// and one statement at a time.
fn one_statement(sql: &str) -> Result<&str, SandboxError> {
    refuse_unsafe_sql(sql).map_err(engine_error)?;
    let trimmed = sql.trim().trim_end_matches(';');
    if trimmed.contains(';') {
        return Err(SandboxError::new(ErrorKind::DatabaseError, "one statement at a time, please"));
    }
    Ok(trimmed)
}

fn show_sql_value(v: &SqlValue) -> String {
    match v {
        SqlValue::Null => "NULL".into(),
        SqlValue::Text(s) => s.clone(),
        other => other.quoted(),
    }
}

/// Rows from which a list query without `LIMIT` is flagged as unbounded.
pub const UNBOUNDED_ROWS: usize = 100;

/// A row-returning SELECT with no `LIMIT` of its own (a prefetch's `IN (…)` is bounded by the
/// page it serves, so it is not flagged).
fn is_unbounded_list(sql: &str) -> bool {
    let s = sql.trim_start();
    s.starts_with("SELECT") && !s.contains(" LIMIT ") && !s.contains(" IN (") && !s.starts_with("SELECT COUNT(")
}

fn group_digits(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Time a request's statements spent inside the engine (`sum()` of nothing would be -0.0).
fn sql_ms(log: &[crate::runtime::QueryRecord]) -> f64 {
    log.iter().fold(0.0, |a, q| a + q.ms)
}

fn report(rt: &Rt, output: String, request_ms: f64) -> RenderReport {
    let log = rt.log.borrow();
    let groups = group_queries(&log);
    let mut queries: Vec<QueryInfo> = log
        .iter()
        .map(|q| QueryInfo {
            sql: q.sql.clone(),
            params: q.params.clone(),
            ms: q.ms,
            rows: q.rows,
            rows_read: q.counters.rows_read,
            fullscan_steps: q.counters.fullscan_steps,
            sorts: q.counters.sorts,
            vm_steps: q.counters.vm_steps,
            origin: q.origin.clone(),
            group: None,
            duplicate: false,
        })
        .collect();
    for (gi, g) in groups.iter().enumerate() {
        let mut seen: Vec<&[String]> = Vec::new();
        for &m in &g.members {
            queries[m].group = Some(gi);
            let params = log[m].params.as_slice();
            queries[m].duplicate = seen.contains(&params);
            seen.push(params);
        }
    }
    let unbounded = queries
        .iter()
        .enumerate()
        .filter(|(_, q)| q.rows >= UNBOUNDED_ROWS && is_unbounded_list(&q.sql))
        .map(|(i, q)| format!("unbounded: {} rows fetched by query #{} (a SELECT without LIMIT); paginate or slice it", group_digits(q.rows), i + 1))
        .collect();
    RenderReport {
        unbounded,
        timing: protocol::Timing::single(request_ms, false),
        n_queries: log.len(),
        request_ms,
        sql_ms: sql_ms(&log),
        output,
        queries,
        groups: groups
            .iter()
            .map(|g| GroupInfo { sql: g.raw_sql.clone(), count: g.members.len(), duplicates: g.duplicates, n_plus_one: g.n_plus_one.clone() })
            .collect(),
    }
}

fn not_seeded(id: u64) -> Response {
    error_response(id, SandboxError::new(ErrorKind::DatabaseError, "the database is not loaded yet"))
}

pub fn error_response(id: u64, e: SandboxError) -> Response {
    Response::Error { id, error: error_info(e) }
}

/// The page's view of an error: the exception class, the message, where, the caret.
pub fn error_info(e: SandboxError) -> ErrorInfo {
    ErrorInfo {
        kind: e.python_name().to_string(),
        message: e.message.clone(),
        source: e.source_name.clone(),
        line: e.pos.map(|p| p.line),
        col: e.pos.map(|p| p.col),
        excerpt: e.excerpt.clone(),
    }
}
