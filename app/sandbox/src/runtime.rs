//! The per-session world every layer shares: the engine, the query log, the virtual clock,
//! and where we are in the learner's code (so each query can say which template line or
//! Python call caused it, which relation a lazy load followed, and whether it ran inside a
//! loop). Also the budgets that stop runaway work.
//!
//! `Rt` knows no layer above it. A layer keeps its per-session state here by type
//! ([`Rt::state`]: Django's imports and signals, the transaction, the cache backends) and
//! reaches the layers above through hooks installed once ([`Rt::hook`]: imports for `py/`,
//! `{% cache %}` and `{% url %}` for the templates, signals for the ORM). The one hook `Rt`
//! calls itself is the [`StatementHook`] around each statement (transactions and the write
//! lock, which live in `db/`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use std::any::Any;

use crate::clock;
use crate::engine::{engine_form, engine_placeholders, inline_params, Engine, EngineError, SqlValue, StmtCounters, StmtResult};
use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::profiler::{LineKey, Profiler};
use crate::source::SourceFile;

/// The relation a lazy load followed: what Django Debug Toolbar's N+1 advice needs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LazyLoad {
    /// The path from the queryset the rows came from (`author`, `author__profile`, `tags`).
    pub path: String,
    /// `forward` (FK), `reverse` (reverse FK) or `m2m`.
    pub kind: String,
    /// The model whose rows were loaded.
    pub model: String,
}

/// One SQL statement as the learner sees it in the log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueryRecord {
    /// The SQL as Django's `connection.queries` shows it: parameters inlined and quoted.
    pub sql: String,
    /// The SQL as sent to the engine, with `?` placeholders (the prepared-statement key).
    pub raw_sql: String,
    /// Each parameter, quoted as in `sql`.
    pub params: Vec<String>,
    pub ms: f64,
    pub rows: usize,
    pub counters: StmtCounters,
    /// What caused it: e.g. `template line 1: {{ a.author.username }}` or `views.py line 4: qs.count()`.
    pub origin: Option<String>,
    /// How many loops (template `{% for %}` or Python `for`) were running when it was sent.
    pub loop_depth: usize,
    /// Set when the query was a lazy load of a relation.
    pub lazy: Option<LazyLoad>,
}

/// Hard stop for one request: no page a learner writes needs this many queries, and an
/// accidental loop over 10,000 rows each firing a query would otherwise freeze the tab.
pub const MAX_QUERIES_PER_REQUEST: usize = 5_000;

/// Where a query came from.
#[derive(Clone)]
enum Origin {
    Label(Rc<str>),
    Py(Rc<SourceFile>, usize, usize),
}

/// The most nested Python calls the sandbox allows (each costs native stack; CPython's own
/// limit is 1000, but a runaway recursion only needs to be stopped with Python's message).
pub const MAX_CALL_DEPTH: usize = 160;

/// What runs around each statement, installed by the layer that owns transactions and the
/// write lock (`db/`); without one (unit tests of the ORM and templates) statements just run.
pub trait StatementHook {
    /// Before a query (not transaction control): Django refuses queries in a transaction
    /// that failed and was not rolled back.
    fn before_query(&self, rt: &Rt) -> SResult<()>;
    /// Before any statement reaches the engine, with its SQL as the engine will get it: waits
    /// for or takes SQLite's write lock on the virtual clock, or fails as SQLite would.
    fn before_statement(&self, rt: &Rt, sql: &str) -> SResult<()>;
}

/// The virtual clock's start: 2026-01-01 09:00:00 UTC, as the run-project contract says.
pub const CLOCK_START: f64 = 1_767_258_000.0;

pub struct Rt {
    pub engine: RefCell<Engine>,
    pub log: RefCell<Vec<QueryRecord>>,
    origin: RefCell<Vec<Origin>>,
    loop_depth: Cell<usize>,
    /// Wall-clock budget for the running request, in ms of [`clock::monotonic_ms`].
    deadline: Cell<f64>,
    budget_ms: Cell<f64>,
    /// Statements and loop iterations since the request started.
    steps: Cell<u64>,
    /// Nested Python calls.
    depth: Cell<usize>,
    /// Exceptions being handled (`raise` with no argument re-raises the innermost).
    pub handling: RefCell<Vec<SandboxError>>,
    stdout: RefCell<String>,
    /// The Python statement running: (file, line).
    line: RefCell<Option<(Rc<SourceFile>, usize)>>,
    /// Seconds since the Unix epoch on the lab's virtual clock (what the cache reads).
    clock_s: Cell<f64>,
    /// Seconds `time.sleep` moved the clock since the step began.
    slept_s: Cell<f64>,
    lazy: RefCell<Option<LazyLoad>>,
    /// Warnings to show beside the output (`CacheKeyWarning`, …).
    pub warnings: RefCell<Vec<String>>,
    /// The layers' per-session state by type (see [`Rt::state`]); a new session empties it.
    states: RefCell<Vec<Rc<dyn Any>>>,
    /// The layers' hooks by type (see [`Rt::hook`]); installed once, kept across sessions.
    hooks: RefCell<Vec<Box<dyn Any>>>,
    statement_hook: RefCell<Option<Rc<dyn StatementHook>>>,
    /// What the layers above reset when a request begins (the cache panel's call log).
    request_hooks: RefCell<Vec<Rc<dyn Fn(&Rt)>>>,
    /// `connection.queries_log`: (sql, seconds), recorded only while a debug cursor is
    /// forced (`CaptureQueriesContext`, `assertNumQueries`), as with `DEBUG = False`.
    pub queries_log: RefCell<std::collections::VecDeque<(String, f64)>>,
    pub force_debug_cursor: Cell<usize>,
    /// When set, every query raises this exception (class, message): pytest-django's blocked
    /// database, `SimpleTestCase`.
    pub db_blocked: RefCell<Option<(&'static str, String)>>,
    /// Effects outside the database a request had (an e-mail sent): a request with any is not
    /// run again to time it.
    pub side_effects: Cell<u64>,
    /// Milliseconds the last request through the handler spent in its view (with the template
    /// it rendered); none when no view ran (a 404, a page from the cache).
    pub view_ms: Cell<Option<f64>>,
    /// The templates the current step rendered (a page, its includes, an extended parent),
    /// one entry per template in the order first rendered: renders, milliseconds, queries.
    pub templates: RefCell<Vec<protocol::TemplateTime>>,
    /// The per-line profile of the running step, when armed (see `profiler.rs`).
    prof: RefCell<Profiler>,
    profiling: Cell<bool>,
}

impl Rt {
    pub fn new(engine: Engine) -> Rt {
        Rt {
            engine: RefCell::new(engine),
            log: RefCell::new(Vec::new()),
            origin: RefCell::new(Vec::new()),
            loop_depth: Cell::new(0),
            deadline: Cell::new(f64::INFINITY),
            budget_ms: Cell::new(f64::INFINITY),
            steps: Cell::new(0),
            depth: Cell::new(0),
            handling: RefCell::new(Vec::new()),
            stdout: RefCell::new(String::new()),
            line: RefCell::new(None),
            clock_s: Cell::new(CLOCK_START),
            slept_s: Cell::new(0.0),
            lazy: RefCell::new(None),
            warnings: RefCell::new(Vec::new()),
            states: RefCell::new(Vec::new()),
            hooks: RefCell::new(Vec::new()),
            statement_hook: RefCell::new(None),
            request_hooks: RefCell::new(Vec::new()),
            queries_log: RefCell::new(std::collections::VecDeque::new()),
            force_debug_cursor: Cell::new(0),
            db_blocked: RefCell::new(None),
            side_effects: Cell::new(0),
            view_ms: Cell::new(None),
            templates: RefCell::new(Vec::new()),
            prof: RefCell::new(Default::default()),
            profiling: Cell::new(false),
        }
    }

    /// Starts a request: empties the log and arms the request's time budget.
    pub fn begin_request(&self, budget_ms: f64) {
        self.log.borrow_mut().clear();
        self.arm_budget(budget_ms);
        self.stdout.borrow_mut().clear();
        self.warnings.borrow_mut().clear();
        self.handling.borrow_mut().clear();
        self.depth.set(0);
        let hooks = self.request_hooks.borrow().clone();
        for hook in hooks {
            hook(self);
        }
    }

    /// Runs `hook` at every [`Rt::begin_request`].
    pub fn on_begin_request(&self, hook: Rc<dyn Fn(&Rt)>) {
        self.request_hooks.borrow_mut().push(hook);
    }

    // ------------------------------------------------------------ the layers' state and hooks

    /// The session's `T` (made with `T::default()` on first use): how a layer above keeps
    /// its state here without `Rt` knowing its type. State with interior mutability
    /// (`RefCell<…>`) is changed through the shared `Rc`.
    pub fn state<T: Default + 'static>(&self) -> Rc<T> {
        if let Some(found) = self.states.borrow().iter().find(|s| s.is::<T>()) {
            return found.clone().downcast::<T>().unwrap_or_else(|_| unreachable!("checked with is::<T>()"));
        }
        let made = Rc::new(T::default());
        self.states.borrow_mut().push(made.clone());
        made
    }

    /// Installs a hook (a value of any `Clone` type, usually `Rc<dyn Trait>`), replacing one
    /// of the same type: how a layer above lends its services to the layers below.
    pub fn install_hook<T: Clone + 'static>(&self, hook: T) {
        let mut hooks = self.hooks.borrow_mut();
        hooks.retain(|h| !h.is::<T>());
        hooks.push(Box::new(hook));
    }

    /// The installed hook of type `T`, if any.
    pub fn hook<T: Clone + 'static>(&self) -> Option<T> {
        self.hooks.borrow().iter().find_map(|h| h.downcast_ref::<T>().cloned())
    }

    /// Installs what runs around each statement (see [`StatementHook`]).
    pub fn set_statement_hook(&self, hook: Rc<dyn StatementHook>) {
        *self.statement_hook.borrow_mut() = Some(hook);
    }

    /// Starts a new session on the same database (a run-project case): every layer's state
    /// (Django's, the transaction's, the caches) and the clock are as on a fresh start.
    pub fn reset_session(&self) {
        self.states.borrow_mut().clear();
        self.clock_s.set(CLOCK_START);
        self.queries_log.borrow_mut().clear();
        self.force_debug_cursor.set(0);
        *self.db_blocked.borrow_mut() = None;
        self.log.borrow_mut().clear();
        self.warnings.borrow_mut().clear();
        self.handling.borrow_mut().clear();
        self.origin.borrow_mut().clear();
        self.loop_depth.set(0);
        self.depth.set(0);
        *self.lazy.borrow_mut() = None;
    }

    /// Runs `f` leaving no trace: its queries, captured queries and printed output are
    /// dropped and the clock is put back (the stale-page check renders a page a second time
    /// this way; the layers above put back what they keep themselves).
    pub fn without_trace<T>(&self, f: impl FnOnce() -> T) -> T {
        let log_len = self.log.borrow().len();
        let ql_len = self.queries_log.borrow().len();
        let out_len = self.stdout.borrow().len();
        let clock = self.clock_s.get();
        let out = f();
        self.clock_s.set(clock);
        self.log.borrow_mut().truncate(log_len);
        self.queries_log.borrow_mut().truncate(ql_len);
        self.stdout.borrow_mut().truncate(out_len);
        out
    }

    /// Re-arms the time budget without touching the log (each test of a test run gets one).
    pub fn arm_budget(&self, budget_ms: f64) {
        self.budget_ms.set(budget_ms);
        self.deadline.set(clock::monotonic_ms() + budget_ms);
        self.steps.set(0);
    }

    pub fn n_queries(&self) -> usize {
        self.log.borrow().len()
    }

    // ------------------------------------------------------------ the virtual clock

    pub fn now_seconds(&self) -> f64 {
        self.clock_s.get()
    }

    pub fn set_clock(&self, s: f64) {
        self.clock_s.set(s);
    }

    /// Moves the virtual clock; refuses negative or absurd steps.
    pub fn advance_clock(&self, seconds: f64) -> SResult<()> {
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(err(ErrorKind::ValueError, format!("the clock only moves forward: advance by 0 or more seconds, not {seconds}")));
        }
        if self.clock_s.get() + seconds > 253_402_300_799.0 {
            return Err(exc("OverflowError", "date value out of range (the clock cannot pass the year 9999)"));
        }
        self.clock_s.set(self.clock_s.get() + seconds);
        Ok(())
    }

    /// `time.sleep(seconds)`: the virtual clock moves at once.
    pub fn sleep(&self, seconds: f64) -> SResult<()> {
        self.advance_clock(seconds)?;
        self.slept_s.set(self.slept_s.get() + seconds);
        Ok(())
    }

    /// Seconds slept since [`Rt::reset_slept`] (a step's report says how long it slept).
    pub fn slept_seconds(&self) -> f64 {
        self.slept_s.get()
    }

    pub fn reset_slept(&self) {
        self.slept_s.set(0.0);
    }

    // ------------------------------------------------------------ queries

    /// Runs one query the ORM built (`%s` placeholders, as Django writes them) and logs it.
    pub fn query(&self, sql: &str, params: &[SqlValue]) -> SResult<StmtResult> {
        self.query_with(sql, params, sql, params)
    }

    /// Runs `engine_sql` but logs `shown_sql`: for the few spots where the SQL Django sends
    /// relies on functions Django registers in SQLite (`django_datetime_extract`), which the
    /// engine runs in an equivalent built-in form. Same rows either way.
    pub fn query_with(&self, shown_sql: &str, shown_params: &[SqlValue], engine_sql: &str, engine_params: &[SqlValue]) -> SResult<StmtResult> {
        if let Some(hook) = self.statement_hook() {
            hook.before_query(self)?;
        }
        self.run_logged(shown_sql, shown_params, engine_sql, engine_params)
    }

    /// Transaction control (`BEGIN`, `SAVEPOINT "…"`, `COMMIT`): logged like any query, as
    /// Django's debug cursor logs them, and allowed in a broken transaction.
    pub fn query_tx(&self, sql: &str) -> SResult<()> {
        self.run_logged(sql, &[], sql, &[]).map(|_| ())
    }

    fn run_logged(&self, shown_sql: &str, shown_params: &[SqlValue], engine_sql: &str, engine_params: &[SqlValue]) -> SResult<StmtResult> {
        if self.n_queries() >= MAX_QUERIES_PER_REQUEST {
            return Err(err(ErrorKind::Budget, format!("this request already sent {MAX_QUERIES_PER_REQUEST} queries; the sandbox stopped it")));
        }
        // One reading of the clock for both (in the browser each costs a call out to JS).
        let started = clock::monotonic_ms();
        if started > self.deadline.get() {
            return Err(self.budget_error());
        }
        if let Some((class, msg)) = self.db_blocked.borrow().as_ref() {
            return Err(exc(class, msg.clone()));
        }
        // `BEGIN IMMEDIATE`/`EXCLUSIVE` is logged as sent but reaches the engine as `BEGIN`
        // (see `engine::engine_form`).
        let raw_sql = engine_placeholders(engine_form(engine_sql));
        // The write lock another server process may hold (waits move the virtual clock).
        if let Some(hook) = self.statement_hook() {
            if let Err(e) = hook.before_statement(self, engine_sql) {
                let failed = StmtResult { rows: vec![], ms: 0.0, counters: StmtCounters::default(), changes: 0 };
                self.record(shown_sql, shown_params, &failed);
                return Err(e);
            }
        }
        let result = match self.engine.borrow_mut().run(&raw_sql, engine_params) {
            Ok(r) => r,
            Err(e) => {
                // Django's debug cursor logs a statement even when it fails.
                let failed = StmtResult { rows: vec![], ms: clock::monotonic_ms() - started, counters: StmtCounters::default(), changes: 0 };
                self.record(shown_sql, shown_params, &failed);
                return Err(engine_error(e));
            }
        };
        self.record(shown_sql, shown_params, &result);
        Ok(result)
    }

    fn statement_hook(&self) -> Option<Rc<dyn StatementHook>> {
        self.statement_hook.borrow().clone()
    }

    fn record(&self, shown_sql: &str, shown_params: &[SqlValue], result: &StmtResult) {
        let origin = self.current_origin();
        self.prof_query(result.counters.rows_read);
        let sql = inline_params(shown_sql, shown_params);
        if self.force_debug_cursor.get() > 0 {
            let mut ql = self.queries_log.borrow_mut();
            // Django's `deque(maxlen=9000)`: a long session drops its oldest in O(1).
            if ql.len() >= 9000 {
                ql.pop_front();
            }
            ql.push_back((sql.clone(), result.ms / 1000.0));
        }
        self.log.borrow_mut().push(QueryRecord {
            sql,
            raw_sql: engine_placeholders(shown_sql),
            params: shown_params.iter().map(SqlValue::quoted).collect(),
            ms: result.ms,
            rows: result.rows.len(),
            counters: result.counters,
            origin,
            loop_depth: self.loop_depth.get(),
            lazy: self.lazy.borrow().clone(),
        });
    }

    fn current_origin(&self) -> Option<String> {
        let o = self.origin.borrow();
        match o.last() {
            Some(Origin::Label(s)) => Some(s.to_string()),
            Some(Origin::Py(file, start, end)) => {
                let text = file.text.get(*start..*end).unwrap_or("");
                let line = file.text[..(*start).min(file.text.len())].matches('\n').count() + 1;
                let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let shown: String = one_line.chars().take(100).collect();
                Some(if file.name.is_empty() { shown } else { format!("{} line {line}: {shown}", file.name) })
            }
            None => None,
        }
    }

    /// Runs `f` with `label` as the cause of any query it sends.
    pub fn with_origin<T>(&self, label: impl Into<String>, f: impl FnOnce() -> T) -> T {
        self.with_origin_rc(Rc::from(label.into()), f)
    }

    /// [`Rt::with_origin`] with a label made once (a template tag's), not per call.
    pub fn with_origin_rc<T>(&self, label: Rc<str>, f: impl FnOnce() -> T) -> T {
        self.origin.borrow_mut().push(Origin::Label(label));
        let out = f();
        self.origin.borrow_mut().pop();
        out
    }

    /// Runs `f` with the Python expression `file[start..end]` as the cause of its queries.
    pub fn with_py_origin<T>(&self, file: &Rc<SourceFile>, start: usize, end: usize, f: impl FnOnce() -> T) -> T {
        self.origin.borrow_mut().push(Origin::Py(file.clone(), start, end));
        let out = f();
        self.origin.borrow_mut().pop();
        out
    }

    /// Runs `f` as the body of a loop (queries inside are candidates for N+1).
    pub fn in_loop<T>(&self, f: impl FnOnce() -> T) -> T {
        self.loop_depth.set(self.loop_depth.get() + 1);
        let out = f();
        self.loop_depth.set(self.loop_depth.get() - 1);
        out
    }

    /// Runs `f` as the lazy load of a relation: its queries carry `what`.
    pub fn lazy_load<T>(&self, what: LazyLoad, f: impl FnOnce() -> T) -> T {
        let prev = self.lazy.replace(Some(what));
        let out = f();
        *self.lazy.borrow_mut() = prev;
        out
    }

    /// Runs `f` outside any lazy load (a prefetch's own queries are not lazy loads).
    pub fn not_lazy<T>(&self, f: impl FnOnce() -> T) -> T {
        let prev = self.lazy.replace(None);
        let out = f();
        *self.lazy.borrow_mut() = prev;
        out
    }

    // ------------------------------------------------------------ the per-line profile (profiler.rs)

    /// Arms the profiler for the run about to start.
    pub fn profile_begin(&self) {
        *self.prof.borrow_mut() = Profiler::default();
        self.profiling.set(true);
    }

    /// Disarms it and returns the lines that ran, in the order they first ran.
    pub fn profile_take(&self) -> Vec<protocol::LineProfile> {
        self.profiling.set(false);
        std::mem::take(&mut *self.prof.borrow_mut()).into_lines()
    }

    pub fn profiling(&self) -> bool {
        self.profiling.get()
    }

    /// Runs `f` as a frame of line `key` (a statement, a template tag, a middleware layer)
    /// when a profile is armed; `describe` gives the file's name and the line's text the first
    /// time the line runs.
    pub fn prof_frame<T>(&self, key: LineKey, describe: impl Fn() -> (String, String), f: impl FnOnce() -> T) -> T {
        if !self.profiling.get() {
            return f();
        }
        self.prof_open(key, &describe);
        let out = f();
        self.prof_close();
        out
    }

    fn prof_open(&self, key: LineKey, describe: &dyn Fn() -> (String, String)) {
        self.prof.borrow_mut().enter(key, describe, clock::monotonic_ms(), self.steps.get());
    }

    fn prof_close(&self) {
        self.prof.borrow_mut().leave(clock::monotonic_ms(), self.steps.get());
    }

    fn prof_query(&self, rows_read: u64) {
        if self.profiling.get() {
            self.prof.borrow_mut().query(rows_read);
        }
    }

    /// The profile's line for `key` if it has run (what a QuerySet built there remembers).
    pub fn prof_line_of(&self, key: LineKey) -> Option<usize> {
        self.prof.borrow().line_of(key)
    }

    /// Runs `f` (a QuerySet's evaluation) with `built` as the line that built the QuerySet.
    pub fn prof_built<T>(&self, built: Option<usize>, f: impl FnOnce() -> T) -> T {
        if !self.profiling.get() || built.is_none() {
            return f();
        }
        let prev = self.prof.borrow_mut().set_built(built);
        let out = f();
        self.prof.borrow_mut().set_built(prev);
        out
    }

    // ------------------------------------------------------------ the Python interpreter's hooks

    /// Called before each statement and loop iteration: the request's work budget.
    pub fn py_tick(&self) -> SResult<()> {
        let n = self.steps.get() + 1;
        self.steps.set(n);
        if n & 1023 == 0 && clock::monotonic_ms() > self.deadline.get() {
            return Err(self.budget_error());
        }
        Ok(())
    }

    fn budget_error(&self) -> SandboxError {
        let b = self.budget_ms.get();
        let what = if b.is_finite() { format!("{:.0} s", b / 1000.0) } else { "its time budget".into() };
        let mut e = exc("Stopped", format!("stopped after {what}: the code ran past the sandbox's time budget (an endless loop?)"));
        e.kind = ErrorKind::Budget;
        e
    }

    pub fn py_enter(&self) -> SResult<()> {
        let d = self.depth.get() + 1;
        if d > MAX_CALL_DEPTH {
            let mut e = exc("RecursionError", "maximum recursion depth exceeded");
            e.kind = ErrorKind::Budget;
            return Err(e);
        }
        self.depth.set(d);
        Ok(())
    }

    pub fn py_leave(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }

    pub fn set_py_line(&self, file: &Rc<SourceFile>, line: usize) {
        let mut cur = self.line.borrow_mut();
        match cur.as_mut() {
            Some((f, l)) if Rc::ptr_eq(f, file) => *l = line,
            _ => *cur = Some((file.clone(), line)),
        }
    }

    /// `print()` output, captured for the shell panel.
    pub fn print(&self, s: &str) {
        let mut out = self.stdout.borrow_mut();
        if out.len() < 1_000_000 {
            out.push_str(s);
        }
    }

    pub fn take_stdout(&self) -> String {
        std::mem::take(&mut *self.stdout.borrow_mut())
    }
}

pub fn engine_error(e: EngineError) -> SandboxError {
    match e {
        EngineError::Budget { .. } => {
            let mut x = exc("Stopped", e.to_string());
            x.kind = ErrorKind::Budget;
            x
        }
        EngineError::Sql(msg) => db_error(&msg),
        other => exc("OperationalError", other.to_string()),
    }
}

/// Maps the engine's message to the exception Django's SQLite backend raises.
pub fn db_error(msg: &str) -> SandboxError {
    let lower = msg.to_ascii_lowercase();
    if lower.contains("unique constraint") || lower.contains("not null constraint") || lower.contains("foreign key constraint") || lower.contains("check constraint") {
        // SQLite's own wording, as Django passes it on: "UNIQUE constraint failed: articles_tag.slug".
        return exc("IntegrityError", sqlite_constraint_text(msg));
    }
    // turso tells where it failed ("Parse error: no such table: x"); SQLite's text is the rest.
    exc("OperationalError", msg.strip_prefix("Parse error: ").unwrap_or(msg).to_string())
}

fn sqlite_constraint_text(msg: &str) -> String {
    // turso prefixes its own words; keep SQLite's "X constraint failed: t.c".
    for kind in ["UNIQUE", "NOT NULL", "FOREIGN KEY", "CHECK"] {
        if let Some(i) = msg.find(&format!("{kind} constraint failed")) {
            return msg[i..].trim().to_string();
        }
    }
    msg.to_string()
}

/// A group of queries with the same SQL shape, as Django Debug Toolbar groups them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueryGroup {
    /// The SQL with `?` placeholders.
    pub raw_sql: String,
    /// Indexes into the log.
    pub members: Vec<usize>,
    /// Same SQL and same parameters: the same rows fetched again.
    pub duplicates: usize,
    /// Set when the group looks like an N+1: the advice Django offers.
    pub n_plus_one: Option<String>,
}

/// Groups similar queries (same SQL, other params) and flags duplicates and N+1 patterns.
pub fn group_queries(log: &[QueryRecord]) -> Vec<QueryGroup> {
    let mut order: Vec<String> = Vec::new();
    let mut by_sql: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, q) in log.iter().enumerate() {
        by_sql
            .entry(q.raw_sql.as_str())
            .or_insert_with(|| {
                order.push(q.raw_sql.clone());
                Vec::new()
            })
            .push(i);
    }
    order
        .into_iter()
        .filter_map(|sql| {
            let members = by_sql.remove(sql.as_str())?;
            if members.len() < 2 {
                return None;
            }
            let mut seen: HashMap<&[String], usize> = HashMap::new();
            for &m in &members {
                *seen.entry(log[m].params.as_slice()).or_default() += 1;
            }
            let duplicates = seen.values().filter(|&&c| c > 1).map(|c| c - 1).sum();
            // An N+1 is lazy loads of a relation, one per row of a loop: SELECTs that followed a
            // relation. Writes in a loop (a test's setup) and querysets built per iteration are
            // similar queries, not this pattern.
            let lazy: Vec<&QueryRecord> = members.iter().map(|&m| &log[m]).filter(|q| q.loop_depth > 0 && q.lazy.is_some() && q.raw_sql.trim_start().starts_with("SELECT")).collect();
            let n_plus_one = (lazy.len() >= 2).then(|| n_plus_one_advice(members.len(), &lazy));
            Some(QueryGroup { raw_sql: sql, members, duplicates, n_plus_one })
        })
        .collect()
}

/// "20 similar queries from `a.author.username` → `select_related("author")`": the fix comes
/// from the relations the lazy loads followed (their paths from the queryset and their kinds).
/// A group of one SQL shape can follow several relations to one table (`assigned_to`,
/// `created_by`): each is named, each cause and each path once, in the order they came.
fn n_plus_one_advice(n: usize, lazy: &[&QueryRecord]) -> String {
    let mut causes: Vec<String> = Vec::new();
    let (mut joins, mut prefetches): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for q in lazy {
        let cause = q
            .origin
            .as_deref()
            .map(|o| {
                let expr = o.split_once(": ").map(|(_, e)| e).unwrap_or(o);
                expr.trim().trim_start_matches("{{").trim_start_matches("{%").trim_end_matches("}}").trim_end_matches("%}").trim().to_string()
            })
            .unwrap_or_else(|| "a loop".into());
        if !causes.contains(&cause) {
            causes.push(cause);
        }
        if let Some(l) = &q.lazy {
            let list = if l.kind == "forward" { &mut joins } else { &mut prefetches };
            let path = format!("\"{}\"", l.path);
            if !list.contains(&path) {
                list.push(path);
            }
        }
    }
    let mut fixes = Vec::new();
    if !joins.is_empty() {
        fixes.push(format!("`select_related({})`", joins.join(", ")));
    }
    if !prefetches.is_empty() {
        fixes.push(format!("`prefetch_related({})`", prefetches.join(", ")));
    }
    let causes: Vec<String> = causes.iter().map(|c| format!("`{c}`")).collect();
    format!("{n} similar queries from {} → {}", causes.join(", "), fixes.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(sql: &str, p: &str, origin: &str, depth: usize, lazy: Option<(&str, &str)>) -> QueryRecord {
        QueryRecord {
            sql: sql.replace('?', p),
            raw_sql: sql.into(),
            params: vec![p.into()],
            ms: 0.0,
            rows: 1,
            counters: StmtCounters::default(),
            origin: Some(origin.into()),
            loop_depth: depth,
            lazy: lazy.map(|(path, kind)| LazyLoad { path: path.into(), kind: kind.into(), model: "User".into() }),
        }
    }

    #[test]
    fn similar_lazy_loads_in_a_loop_get_the_fix_for_their_relation() {
        let fk = "SELECT \"auth_user\".\"id\" FROM \"auth_user\" WHERE \"auth_user\".\"id\" = ? LIMIT 21";
        let o = "template line 1: {{ a.author.profile.bio }}";
        let log = vec![
            rec("SELECT 1", "", "articles", 0, None),
            rec(fk, "8", o, 1, Some(("author__profile", "forward"))),
            rec(fk, "15", o, 1, Some(("author__profile", "forward"))),
            rec(fk, "8", o, 1, Some(("author__profile", "forward"))),
        ];
        let groups = group_queries(&log);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].members, vec![1, 2, 3]);
        assert_eq!(groups[0].duplicates, 1);
        assert_eq!(
            groups[0].n_plus_one.as_deref(),
            Some("3 similar queries from `a.author.profile.bio` → `select_related(\"author__profile\")`")
        );
    }

    #[test]
    fn similar_queries_outside_a_loop_are_not_n_plus_one() {
        let log = vec![rec("SELECT ?", "1", "x", 0, None), rec("SELECT ?", "2", "x", 0, None)];
        assert_eq!(group_queries(&log)[0].n_plus_one, None);
    }

    #[test]
    fn one_shape_reached_through_two_relations_names_both_and_writes_are_never_n_plus_one() {
        let fk = "SELECT \"auth_user\".\"id\" FROM \"auth_user\" WHERE \"auth_user\".\"id\" = ? LIMIT 21";
        let log = vec![
            rec(fk, "1", "template line 3: {{ t.assigned_to.username }}", 1, Some(("assigned_to", "forward"))),
            rec(fk, "2", "template line 3: {{ t.created_by.username }}", 1, Some(("created_by", "forward"))),
            rec(fk, "3", "template line 3: {{ t.assigned_to.username }}", 1, Some(("assigned_to", "forward"))),
        ];
        assert_eq!(
            group_queries(&log)[0].n_plus_one.as_deref(),
            Some("3 similar queries from `t.assigned_to.username`, `t.created_by.username` → `select_related(\"assigned_to\", \"created_by\")`")
        );
        let insert = "INSERT INTO \"tasks_task\" (\"title\") VALUES (?)";
        let setup = vec![rec(insert, "'a'", "tests.py line 9: Task.objects.create(...)", 1, None), rec(insert, "'b'", "tests.py line 9: Task.objects.create(...)", 1, None)];
        assert_eq!(group_queries(&setup)[0].n_plus_one, None);
    }
}
