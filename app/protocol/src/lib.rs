//! The messages the page and the engine worker exchange, as JSON.
//!
//! Kept in a crate of its own with no dependency but serde, so the UI can speak to the
//! worker without linking the engine (the UI stays small; the engine stays in the worker).

use serde::{Deserialize, Serialize};

pub mod lesson;
pub mod diff;
pub mod progress;
pub mod share;
pub mod timeline;

/// Server processes a project lab can send requests to (`GET … on worker 2`).
pub const MAX_WORKERS: u8 = 2;

/// Page → worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    /// (Re)create the database and fill it with the deterministic sample data; `tasks`
    /// overrides the number of tasks (the indexes lab wants 100,000 of them).
    Seed {
        id: u64,
        articles: u32,
        #[serde(default)]
        tasks: Option<u32>,
    },
    /// Evaluate the context expressions and render the template `renders` times.
    Run { id: u64, context: Vec<(String, String)>, template: String, renders: u32, clear_cache: bool },
    /// Run raw SQL (DDL for indexes, `EXPLAIN QUERY PLAN`), guarded against SQL that crashes the engine.
    Sql { id: u64, sql: String },
    /// Install a lab's Django project (views, templates, tests, URLs, migrations): the session's
    /// Django state (imports, signal receivers, cache, clock) starts over; the data stays.
    Project { id: u64, project: ProjectSpec },
    /// One step against the installed project: a request, a shell line, the tests, the clock.
    Step { id: u64, step: Step },
    /// Judges an exercise by behaviour: the learner's version against the lesson's reference
    /// solution, on the current data and on a hidden, differently seeded and sized copy.
    Check { id: u64, check: CheckSpec },
    /// Runs a lab twice, A then B (a toggle off, then on), each from a fresh load, and reports
    /// both measured pages side by side with the query plan of each statement.
    Compare { id: u64, a: CompareRun, b: CompareRun },
    /// One point of a growth chart: the lab measured on a scratch database of this size (the
    /// learner's database and project are left alone).
    Measure {
        id: u64,
        run: CompareRun,
        articles: u32,
        #[serde(default)]
        tasks: Option<u32>,
    },
    /// The engine's plan for a statement of a query log, on the database as it is now.
    Explain { id: u64, sql: String },
    /// Makes the worker panic on purpose: the browser tests use it to prove the page recovers.
    CrashForTest { id: u64 },
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CompareRun {
    /// An expression lab: the page rendered once (empty cache).
    Expression { context: Vec<(String, String)>, template: String },
    /// A project lab: loaded afresh, then the steps; the last step is measured.
    Project { project: ProjectSpec, steps: Vec<Step> },
}

/// What one side of a comparison measured.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CompareSide {
    pub render: Option<RenderReport>,
    pub status: Option<u16>,
    pub error: Option<ErrorInfo>,
    /// One per distinct statement (similar queries once, with their count), in order.
    pub plans: Vec<PlanInfo>,
}

/// A statement of the measured page and the engine's plan for it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PlanInfo {
    /// The first such statement, parameters inlined.
    pub sql: String,
    /// How many statements of this shape the page sent.
    pub count: usize,
    /// `EXPLAIN QUERY PLAN`, one step a line, children indented (empty: not a SELECT).
    pub plan: String,
}

/// What an exercise's check runs. Both sides run the same way; the learner's passes when it
/// makes no error, stays within `max_queries` and shows what the reference shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckSpec {
    /// An expression lab: the page rendered once from the context.
    Expression {
        context: Vec<(String, String)>,
        template: String,
        reference_context: Vec<(String, String)>,
        reference_template: String,
        budget: Budget,
    },
    /// A project lab: the steps run on a freshly loaded project; the last request is judged.
    Project {
        project: ProjectSpec,
        reference: ProjectSpec,
        steps: Vec<Step>,
        budget: Budget,
        /// The lesson's starting files with the learner's `tests.py`: when given, the learner's
        /// tests must fail there and pass on `project`.
        #[serde(default)]
        tests_against: Option<ProjectSpec>,
    },
}

/// What the judged page may cost: queries, rows fetched, rows the database read.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Budget {
    pub max_queries: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows_read: Option<u64>,
    /// At most this many seconds spent waiting for the database's write lock (the
    /// transactions lab: a request that overlaps another's transaction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CheckReport {
    pub passed: bool,
    /// One per data set: the visible data first, then the hidden variant.
    pub runs: Vec<CheckRun>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CheckRun {
    /// `the data you see (200 articles)` / `a hidden copy (137 articles, other rows)`.
    pub data: String,
    pub passed: bool,
    /// The learner's queries on the judged page, and the reference's.
    pub queries: usize,
    pub reference_queries: usize,
    /// What is missing, in a sentence ("41 queries, the goal is at most 2; …").
    pub message: String,
}

/// A lab's project, as `run-project` cases describe one (shared/sample_app/README.md).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProjectSpec {
    /// `views.py`, `tests.py`, `templates/<path>`, …, in tab order.
    pub files: Vec<(String, String)>,
    /// `[route, view function, "namespace:name"]`.
    pub urls: Vec<(String, String, Option<String>)>,
    #[serde(default)]
    pub migrations: Vec<Migration>,
}

/// What `makemigrations` + `migrate` would apply (the index lab).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_index: Option<IndexSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_index: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_index: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexSpec {
    pub fields: Vec<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// `client.get(url)`, anonymous or after `force_login(username)`; `worker` is the server
    /// process that answers (1 when absent): each has its own local-memory cache.
    Get {
        url: String,
        user: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<u8>,
        /// Starts this many seconds after the previous request started, while that one may
        /// still be running (its transaction holding the database's write lock): the
        /// transactions lab's two overlapping requests. `None`: after the previous step ended.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        into_previous: Option<f64>,
    },
    /// Moves the virtual clock the cache reads.
    Advance { seconds: f64 },
    /// Statements in `views.py`'s namespace, as in `manage.py shell`.
    Run { code: String },
    /// Runs the test file (`tests.py`).
    Test { file: String },
}

impl Request {
    pub fn id(&self) -> u64 {
        match self {
            Request::Seed { id, .. }
            | Request::Run { id, .. }
            | Request::Sql { id, .. }
            | Request::Project { id, .. }
            | Request::Step { id, .. }
            | Request::Check { id, .. }
            | Request::Compare { id, .. }
            | Request::Measure { id, .. }
            | Request::Explain { id, .. }
            | Request::CrashForTest { id } => *id,
        }
    }
}

/// Worker → page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    /// The worker is loaded and waiting.
    Ready,
    Progress { id: u64, done: u32, total: u32 },
    Seeded { id: u64, ms: f64, counts: Vec<(String, u64)>, schema_ms: f64 },
    Result { id: u64, renders: Vec<RenderReport> },
    SqlResult { id: u64, columns: Vec<String>, rows: Vec<Vec<String>>, query: QueryInfo },
    /// The project is installed (its `views.py` imported); `clock` is the virtual time;
    /// `migrations` is, per migration, what `makemigrations` writes and `sqlmigrate` prints.
    ProjectLoaded {
        id: u64,
        clock: String,
        #[serde(default)]
        migrations: Vec<(String, String)>,
    },
    StepResult { id: u64, report: StepReport },
    /// The learner's input could not run: a message pointing at the problem.
    Error { id: u64, error: ErrorInfo },
    CheckResult { id: u64, report: CheckReport },
    Compared { id: u64, a: CompareSide, b: CompareSide },
    Measured { id: u64, side: CompareSide },
    /// `EXPLAIN QUERY PLAN`, one step a line, children indented, in SQLite's words.
    Explained { id: u64, plan: String },
    /// The engine panicked; the worker is unusable and must be replaced.
    Panic { message: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// `FieldError`, `SyntaxError`, `TemplateSyntaxError`, …
    pub kind: String,
    pub message: String,
    /// e.g. `context "articles"` or `template`.
    pub source: Option<String>,
    pub line: Option<usize>,
    pub col: Option<usize>,
    /// The source line with a caret under the column.
    pub excerpt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryInfo {
    pub sql: String,
    pub params: Vec<String>,
    pub ms: f64,
    pub rows: usize,
    pub rows_read: u64,
    pub fullscan_steps: u64,
    pub sorts: u64,
    pub vm_steps: u64,
    pub origin: Option<String>,
    /// Index of the similar-query group this query belongs to, if any.
    pub group: Option<usize>,
    /// Same SQL and same parameters as an earlier query of this request.
    pub duplicate: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupInfo {
    pub sql: String,
    pub count: usize,
    pub duplicates: usize,
    pub n_plus_one: Option<String>,
}

/// What one project step did.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StepReport {
    /// `get`, `run`, `test` or `advance`.
    pub kind: String,
    /// The request line or the code, as the history shows it.
    pub label: String,
    pub status: Option<u16>,
    /// Response headers worth showing (`Cache-Control`, `Expires`, `Vary`, `Location`).
    pub headers: Vec<(String, String)>,
    /// Queries, timings and the response body (or the shell's output) of the step.
    pub render: RenderReport,
    /// `print()` output of a shell line or of the tests.
    pub stdout: String,
    pub tests: Vec<TestInfo>,
    /// Warnings Django would emit (`CacheKeyWarning`, `UnorderedObjectListWarning`).
    pub warnings: Vec<String>,
    pub error: Option<ErrorInfo>,
    /// The virtual clock after the step (`2026-01-01 09:00:00`).
    pub clock: String,
    /// A request that read the cache: `hit`, `miss` or `stale`.
    #[serde(default)]
    pub cache_state: Option<String>,
    /// The cache calls of the step (`get`/`set`/…, key, hit or miss for reads).
    #[serde(default)]
    pub cache_calls: Vec<CacheCallInfo>,
    /// The live cache entries after the step, with the seconds each has left (`None`: never expires).
    #[serde(default)]
    pub cache_keys: Vec<(String, Option<f64>)>,
    /// Where the step sat on the lab's clock, when it took time there (`time.sleep`, a wait
    /// for the database's write lock) or overlapped the previous request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
}

/// Seconds as a learner writes them: `2`, `1.5`, `0.25` (to the millisecond).
pub fn short_seconds(s: f64) -> String {
    let t = format!("{s:.3}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A step's place on the virtual clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Clock at the start and at the end (`2026-01-01 09:00:01`).
    pub started: String,
    pub finished: String,
    /// Seconds from start to end, of which `waited_s` waiting for the write lock and
    /// `slept_s` in `time.sleep`.
    pub elapsed_s: f64,
    pub waited_s: f64,
    pub slept_s: f64,
    /// Seconds after the previous request's start, when the step overlapped it.
    pub into_previous: Option<f64>,
    /// Whose transaction held the lock, what happened (`waited 2 s`, `gave up after 5 s`).
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheCallInfo {
    pub op: String,
    pub key: String,
    pub hit: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestInfo {
    /// `Class.method` or the function name.
    pub name: String,
    /// `pass`, `fail`, `error` or `skip`.
    pub outcome: String,
    /// The first line of `ExceptionType: message`.
    pub message: String,
    /// The whole message (`assertNumQueries` lists the captured queries).
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RenderReport {
    pub n_queries: usize,
    /// The whole request (expressions + template + queries), like an `X-Request-Duration-Ms` header.
    pub request_ms: f64,
    /// Time spent inside the engine.
    pub sql_ms: f64,
    pub output: String,
    pub queries: Vec<QueryInfo>,
    pub groups: Vec<GroupInfo>,
    /// Queries that fetched many rows with no `LIMIT` (a list that grows with the table):
    /// `unbounded: 10,000 rows fetched by query #1; paginate or slice it`.
    #[serde(default)]
    pub unbounded: Vec<String>,
    /// How `request_ms` was measured: one run, or the median of repeated warm runs.
    #[serde(default)]
    pub timing: Timing,
}

/// Honest timings. The first run after the engine loads runs cold code (compiled on first use)
/// and can take 20x a warm run; a learner comparing "before" (run first) with "after" would see
/// a flattering gap. A read-only page is therefore run several times in the same state and
/// `request_ms` is the median; a request with effects runs once and is marked when it is the
/// first since the engine loaded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Timing {
    /// Runs measured (1: a single run).
    pub runs: u32,
    /// The first run's time (the one whose queries are shown).
    pub first_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// The first run was cold: much slower than the others, or the first since the engine loaded.
    pub cold: bool,
}

impl Timing {
    /// One run of `ms`.
    pub fn single(ms: f64, cold: bool) -> Timing {
        Timing { runs: 1, first_ms: ms, min_ms: ms, max_ms: ms, cold }
    }
}
