//! A lab session: one database with its sample data, one Django project loaded on it, and the
//! state a learner builds up by sending requests (the cache, the clock, signal receivers).
//!
//! The learner has one session. A check, a comparison, a growth-chart point and a claim each
//! run in a session of their own, made from a freshly seeded image of the data
//! ([`crate::images`]), so nothing they do reaches the learner's.

use std::hash::{Hash, Hasher};
use std::rc::Rc;

use protocol::{CacheCallInfo, ErrorInfo, GroupInfo, PlanInfo, ProjectSpec, QueryInfo, RenderReport, Step, StepKind, StepReport, TestInfo};

use crate::cache;
use crate::clock;
use crate::django::migrations;
use crate::django::project::Project;
use crate::django::steps::execute_with;
use crate::engine::{refuse_unsafe_sql, single_statement, Engine, SqlValue};
use crate::error::{ErrorKind, SandboxError};
use crate::runtime::{engine_error, group_queries, Rt};
use crate::django::caches::{caches, with_backend, Entries};

/// Time budget for one request, all queries included.
pub const REQUEST_BUDGET_MS: f64 = 2_000.0;
/// Budget for one statement.
pub const STATEMENT_BUDGET_MS: f64 = 1_000.0;
/// Budget for one migration's DDL (an index on the largest table).
pub const MIGRATION_BUDGET_MS: f64 = 30_000.0;
/// Budget for a test run (every test of the file together).
pub const TEST_BUDGET_MS: f64 = 8_000.0;
/// Most rows an SQL console answer carries back to the page.
pub const MAX_SQL_ROWS: usize = 200;

/// Articles, and tasks when the lab overrides their number.
pub type Size = (u32, Option<u32>);

/// A loaded project: what the page shows after `Load`.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub clock: String,
    /// Per migration: what `makemigrations` writes and `sqlmigrate` prints.
    pub migrations: Vec<(String, String)>,
}

pub struct Session {
    pub rt: Rt,
    pub size: Size,
    project: Option<Rc<Project>>,
    /// Why the last project did not load (repeated for the steps sent after it).
    load_error: Option<SandboxError>,
    /// Indexes the labs' migrations created in this database (undone when a lab drops them).
    applied_indexes: Vec<String>,
    /// Requests served since the session's data was created (the first one runs cold code).
    pub served: u32,
}

impl Session {
    pub fn new(engine: Engine, size: Size) -> Session {
        Session { rt: crate::django::host::runtime(engine), size, project: None, load_error: None, applied_indexes: Vec::new(), served: 0 }
    }

    pub fn project(&self) -> Option<&Rc<Project>> {
        self.project.as_ref()
    }

    /// Installs a project: Django's state starts over (imports, receivers, cache, clock),
    /// the migrations run, and `views.py` is imported.
    pub fn load(&mut self, spec: ProjectSpec) -> Result<Loaded, SandboxError> {
        let result = self.install(spec);
        if let Err(e) = &result {
            self.project = None;
            self.load_error = Some(e.clone());
        }
        result
    }

    fn install(&mut self, spec: ProjectSpec) -> Result<Loaded, SandboxError> {
        let rt = &self.rt;
        rt.reset_session();
        self.project = None;
        self.load_error = None;
        let project = Rc::new(Project::from_spec(spec)?);
        rt.begin_request(REQUEST_BUDGET_MS);
        // The database outlives a project: first undo the indexes an earlier version of the
        // lab added and this one does not, then add the missing ones.
        let wanted: Vec<String> = project.migrations.iter().filter_map(migrations::created_index).collect();
        for name in std::mem::take(&mut self.applied_indexes) {
            if wanted.contains(&name) {
                self.applied_indexes.push(name);
            } else {
                let _ = rt.engine.borrow_mut().execute_batch(&format!("DROP INDEX IF EXISTS \"{name}\""));
            }
        }
        // `migrate` is not a learner's statement: building an index on 100,000 rows may take
        // longer than one statement's budget.
        let budget = std::mem::replace(&mut rt.engine.borrow_mut().budget_ms, MIGRATION_BUDGET_MS);
        let applied = (|| {
            for m in &project.migrations {
                let index = migrations::created_index(m);
                if index.as_ref().is_some_and(|i| self.applied_indexes.contains(i)) {
                    continue;
                }
                migrations::apply(rt, m).map_err(|e| e.in_source("migrations"))?;
                if let Some(i) = index {
                    self.applied_indexes.push(i);
                }
            }
            Ok::<(), SandboxError>(())
        })();
        rt.engine.borrow_mut().budget_ms = budget;
        applied?;
        crate::django::project::load(rt, project.clone())?;
        let migrations = project.migrations.iter().filter_map(|m| migrations::text(m).ok()).map(|t| (t.python, t.sql)).collect();
        self.project = Some(project);
        Ok(Loaded { clock: crate::datetime::DateTime::from_unix_seconds(rt.now_seconds()).to_string(), migrations })
    }

    /// Why there is no project to send a step to.
    pub fn no_project(&self) -> SandboxError {
        match &self.load_error {
            Some(e) => e.clone(),
            None => SandboxError::new(ErrorKind::NotSupported, "no project is loaded: open a lab first"),
        }
    }

    /// One step against the loaded project, reported as the page shows it.
    pub fn step(&mut self, step: Step) -> Result<StepReport, SandboxError> {
        let Some(project) = self.project.clone() else { return Err(self.no_project()) };
        let rt = &self.rt;
        let kind = step.kind();
        let (request, label, budget) = match step {
            Step::Get { url, user, worker, into_previous, http } => {
                let method = http.as_ref().map(|h| h.method.clone()).unwrap_or_else(|| "GET".into());
                let mut label = match &user {
                    Some(u) => format!("{method} {url} (as {u})"),
                    None => format!("{method} {url}"),
                };
                let worker = worker.filter(|w| (1..=protocol::MAX_WORKERS).contains(w));
                if let Some(w) = worker {
                    label += &format!(" on worker {w}");
                }
                let into_previous = into_previous.filter(|s| s.is_finite() && (0.0..=protocol::timeline::MAX_INTO_PREVIOUS_SECONDS).contains(s));
                if let Some(s) = into_previous {
                    label += &format!(", {} s into the previous", protocol::short_seconds(s));
                }
                (Step::Get { url, user, worker, into_previous, http }, label, REQUEST_BUDGET_MS)
            }
            Step::Advance { seconds } => (Step::Advance { seconds }, format!("clock +{} s", protocol::short_seconds(seconds)), REQUEST_BUDGET_MS),
            Step::Run { code, worker } => {
                let worker = worker.filter(|w| (1..=protocol::MAX_WORKERS).contains(w));
                let mut label = code.lines().next().unwrap_or("").to_string();
                if let Some(w) = worker {
                    label += &format!(" (on worker {w})");
                }
                (Step::Run { code, worker }, label, REQUEST_BUDGET_MS)
            }
            Step::Test { file } => (Step::Test { file: file.clone() }, format!("test {file}"), TEST_BUDGET_MS),
        };
        let into_previous = match &request {
            Step::Get { into_previous, .. } => *into_previous,
            _ => None,
        };
        let cache_before = with_backend(rt, |b| b.snapshot());
        let clock_before = rt.now_seconds();
        let effects_before = rt.side_effects.get();
        let start = clock::monotonic_ms();
        let out = execute_with(rt, &project, &request, budget, true);
        // A request's time is its own (the stale check's replay is not the learner's cost).
        let request_ms = out.request_ms.unwrap_or_else(|| clock::monotonic_ms() - start);
        let shown = out.body.clone().or_else(|| out.output.clone()).unwrap_or_default();
        let mut render = report(rt, shown, request_ms);
        if kind == StepKind::Advance {
            render = RenderReport::default();
        }
        let stdout = rt.take_stdout();
        let warnings = rt.warnings.borrow().clone();
        let calls: Vec<CacheCallInfo> = with_backend(rt, |b| b.calls().to_vec()).iter().map(|c| CacheCallInfo { op: c.op.clone(), key: c.key.clone(), hit: c.hit, layer: cache::layer_of(&c.key) }).collect();
        if kind == StepKind::Get {
            if out.error.is_none() && into_previous.is_none() && self.rt.side_effects.get() == effects_before {
                // A read-only page is timed over several runs from the same state; one with
                // effects runs once and is marked when it ran cold.
                let clock_after = rt.now_seconds();
                let again = request.clone();
                self.time_repeats(&mut render, cache_before, &mut |rt| {
                    rt.set_clock(clock_before);
                    execute_with(rt, &project, &again, budget, false).error.is_none()
                });
                self.rt.set_clock(clock_after);
            } else {
                render.timing = protocol::Timing::single(request_ms, self.served == 0);
            }
            self.served += 1;
        }
        let rt = &self.rt;
        let mut status = out.status;
        let error = out.error.map(|e| {
            // A view that raised is a 500 in the browser (Django's debug page would show it).
            if kind == StepKind::Get {
                status = Some(500);
            }
            error_info(e)
        });
        let worker = caches(rt).borrow().worker();
        Ok(StepReport {
            kind,
            worker,
            label,
            status,
            headers: out.headers,
            render,
            stdout,
            tests: out
                .tests
                .unwrap_or_default()
                .into_iter()
                .map(|t| TestInfo { name: t.name, outcome: test_outcome(t.outcome), message: t.message, detail: t.detail })
                .collect(),
            warnings,
            error,
            clock: crate::datetime::DateTime::from_unix_seconds(rt.now_seconds()).to_string(),
            cache: out.cache,
            cache_calls: calls,
            cache_keys: {
                let now = rt.now_seconds();
                with_backend(rt, |b| b.keys(now)).into_iter().map(|(k, exp)| (k, exp.map(|e| e - now))).collect()
            },
            span: span_report(rt, out.span, into_previous),
            goals: vec![],
            first_run: (kind == StepKind::Get).then_some(protocol::FirstRun { request_ms, view_ms: out.view_ms }),
            templates: out.templates,
            lines: out.lines,
        })
    }

    /// The SQL console: one statement, guarded; at most [`MAX_SQL_ROWS`] rows back.
    pub fn sql(&mut self, sql: &str) -> Result<(Vec<String>, Vec<Vec<String>>, QueryInfo), SandboxError> {
        let trimmed = one_statement(sql)?;
        let mut engine = self.rt.engine.borrow_mut();
        let r = engine.run(trimmed, &[]).map_err(engine_error)?;
        let query = QueryInfo {
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
        };
        Ok((engine.columns(trimmed), r.rows.iter().take(MAX_SQL_ROWS).map(|row| row.iter().map(show_sql_value).collect()).collect(), query))
    }

    /// The Explain button of a query log: the statement's plan on the database as it is now.
    pub fn explain(&mut self, sql: &str) -> Result<String, SandboxError> {
        let sql = one_statement(sql)?;
        Ok(if sql.contains("django_") {
            "(no plan: this statement calls a function Django registers in SQLite (django_datetime_extract, …), which the lab's engine runs under another name; run qs.explain() in the shell instead)".to_string()
        } else {
            plan_text(&mut self.rt.engine.borrow_mut(), sql)
        })
    }

    /// The engine's plan for each distinct statement of a page (similar statements once).
    pub fn plans(&self, render: &RenderReport) -> Vec<PlanInfo> {
        const MAX_PLANS: usize = 20;
        let mut out: Vec<(Option<usize>, PlanInfo)> = Vec::new();
        for q in &render.queries {
            if let Some(seen) = out.iter_mut().find(|(g, p)| if q.group.is_some() { *g == q.group } else { p.sql == q.sql }) {
                seen.1.count += 1;
                continue;
            }
            if out.len() == MAX_PLANS {
                continue;
            }
            let plan = if q.sql.trim_start().starts_with("SELECT") { plan_text(&mut self.rt.engine.borrow_mut(), &q.sql) } else { String::new() };
            out.push((q.group, PlanInfo { sql: q.sql.clone(), count: 1, plan }));
        }
        out.into_iter().map(|(_, p)| p).collect()
    }

    /// A digest of everything a learner's later requests could notice: every row of every
    /// table, the schema, the cache of each worker (keys, values, expiry), the clock, the
    /// loaded project. Checks and comparisons must leave it unchanged.
    pub fn fingerprint(&self) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let rt = &self.rt;
        let mut engine = rt.engine.borrow_mut();
        let tables = engine.run("SELECT type, name, sql FROM sqlite_schema ORDER BY name", &[]).map(|r| r.rows).unwrap_or_default();
        for row in &tables {
            format!("{row:?}").hash(&mut h);
            if let (Some(SqlValue::Text(kind)), Some(SqlValue::Text(name))) = (row.first(), row.get(1)) {
                if kind == "table" && !name.starts_with("sqlite_") {
                    let rows = engine.run(&format!("SELECT * FROM \"{name}\" ORDER BY rowid"), &[]).map(|r| r.rows).unwrap_or_default();
                    format!("{rows:?}").hash(&mut h);
                }
            }
        }
        drop(engine);
        let now = rt.now_seconds();
        now.to_bits().hash(&mut h);
        caches(rt).borrow().fingerprint().hash(&mut h);
        if let Some(p) = &self.project {
            format!("{:?}", p.files).hash(&mut h);
        }
        format!("{:016x}", h.finish())
    }

    /// Honest timing of a read-only page (every statement a SELECT): runs it again, each time
    /// from the cache state it started in, and reports the median. A page that writes runs once
    /// and is marked cold when it is the first request since the engine loaded.
    pub fn time_repeats(&self, r: &mut RenderReport, before: Entries, again: &mut dyn FnMut(&Rt) -> bool) {
        const MAX_RUNS: usize = 5;
        const REPEAT_BUDGET_MS: f64 = 60.0;
        let first = r.request_ms;
        r.timing = protocol::Timing::single(first, self.served == 0);
        let rt = &self.rt;
        let read_only = r.queries.iter().all(|q| q.sql.trim_start().starts_with("SELECT"));
        if !read_only {
            return;
        }
        let after = with_backend(rt, |b| b.snapshot());
        // (request ms, ms inside the engine) of each run, the shown one first.
        let mut runs = vec![(first, r.sql_ms)];
        let started = clock::monotonic_ms();
        while runs.len() < MAX_RUNS && clock::monotonic_ms() - started < REPEAT_BUDGET_MS {
            with_backend(rt, |b| b.restore(before.clone()));
            let t0 = clock::monotonic_ms();
            if !again(rt) {
                break;
            }
            runs.push((clock::monotonic_ms() - t0, sql_ms(&rt.log.borrow())));
        }
        with_backend(rt, |b| b.restore(after));
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
}

fn test_outcome(o: &str) -> protocol::TestOutcome {
    match o {
        "pass" => protocol::TestOutcome::Pass,
        "fail" => protocol::TestOutcome::Fail,
        "skip" => protocol::TestOutcome::Skip,
        _ => protocol::TestOutcome::Error,
    }
}

/// The step's place on the virtual clock, when it took time there or overlapped a request.
fn span_report(rt: &Rt, (start, end): (f64, f64), into_previous: Option<f64>) -> Option<protocol::Span> {
    let st = crate::db::lock::lock(rt);
    let l = st.borrow();
    if into_previous.is_none() && end <= start {
        return None;
    }
    let at = |t: f64| crate::datetime::DateTime::from_unix_seconds(t).to_string();
    Some(protocol::Span { started: at(start), finished: at(end), elapsed_s: end - start, waited_s: l.waited_s, slept_s: rt.slept_seconds(), into_previous, note: l.note.clone() })
}


/// `EXPLAIN QUERY PLAN` of a logged statement, one step a line, each child indented under
/// its parent, in SQLite's words.
pub fn plan_text(engine: &mut Engine, sql: &str) -> String {
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
            Some(SqlValue::Text(t)) => crate::orm::plan::sqlite_plan_wording(t),
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
    single_statement(sql).ok_or_else(|| SandboxError::new(ErrorKind::DatabaseError, "one statement at a time, please"))
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

/// Time a request's statements spent inside the engine (`sum()` of nothing would be -0.0).
fn sql_ms(log: &[crate::runtime::QueryRecord]) -> f64 {
    log.iter().fold(0.0, |a, q| a + q.ms)
}

/// The query log of the step that just ran, grouped and measured.
pub fn report(rt: &Rt, output: String, request_ms: f64) -> RenderReport {
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
        .map(|(i, q)| format!("unbounded: {} fetched by query #{} (a SELECT without LIMIT); paginate or slice it", protocol::count(q.rows, "row", "rows"), i + 1))
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
