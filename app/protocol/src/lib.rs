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
pub mod prose;

/// Server processes a project lab can send requests to (`GET … on worker 2`).
pub const MAX_WORKERS: u8 = 2;

/// Page → worker. Every request carries an id, and every answer names the id it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    /// (Re)create the learner's database and fill it with the deterministic sample data;
    /// `tasks` overrides the number of tasks (the indexes lab wants 100,000 of them).
    Seed {
        id: u64,
        articles: u32,
        #[serde(default)]
        tasks: Option<u32>,
    },
    /// Install the learner's project (views, templates, tests, URLs, migrations): the session's
    /// Django state (imports, signal receivers, cache, clock) starts over. With `fresh`, the
    /// data goes back to freshly seeded first (a timeline runs from a clean start). `lesson`
    /// names the lesson whose goals the step reports judge.
    Load {
        id: u64,
        project: ProjectSpec,
        #[serde(default)]
        fresh: bool,
        #[serde(default)]
        lesson: Option<String>,
    },
    /// One step against the installed project: a request, a shell line, the tests, the clock.
    Step { id: u64, step: Step },
    /// Run raw SQL (DDL for indexes, `EXPLAIN QUERY PLAN`), guarded against SQL that crashes the engine.
    Sql { id: u64, sql: String },
    /// Judges exercise `exercise` of `lesson` by behaviour: the learner's attempt against the
    /// lesson's reference solution, on fresh copies of the data they see and on a hidden,
    /// differently seeded and sized copy. The learner's session is not touched.
    Check { id: u64, lesson: String, exercise: usize, attempt: lesson::Attempt },
    /// Runs a lab twice, A then B (a toggle off, then on), each on a fresh copy of the data, and
    /// reports both measured pages side by side with the query plan of each statement.
    Compare { id: u64, a: LabRun, b: LabRun },
    /// One point of a growth chart: the lab measured on a fresh database of this size (the
    /// learner's database and project are left alone).
    Measure {
        id: u64,
        run: LabRun,
        articles: u32,
        #[serde(default)]
        tasks: Option<u32>,
    },
    /// The engine's plan for a statement of a query log, on the database as it is now.
    Explain { id: u64, sql: String },
    /// A digest of the learner's session (data, cache, clock, Django state): the browser tests
    /// prove with it that checks, comparisons and sweeps leave the session as it was.
    Fingerprint { id: u64 },
    /// Makes the worker panic on purpose: the browser tests use it to prove the page recovers.
    CrashForTest { id: u64 },
    /// Makes the worker busy for `ms` without answering (the browser tests' hung engine).
    StallForTest { id: u64, ms: u32 },
}

/// A lab to run on its own data: the project, then the steps; the last request is measured.
/// `{output}` in a GET's URL is replaced by the previous shell line's output, URL-encoded (a
/// keyset page has no number: a shell line prints the cursor that opens it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabRun {
    pub project: ProjectSpec,
    pub steps: Vec<Step>,
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

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CheckReport {
    pub passed: bool,
    /// One per data set: the visible data first, then the hidden variant (then the tests).
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

/// A lab's project, as `run-project` cases describe one (docs/contracts.md).
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
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
        /// Another method than GET, form data, headers, following redirects
        /// (`client.post(url, data, headers=…, follow=True)`); `None`: a plain GET.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        http: Option<HttpExtra>,
    },
    /// Moves the virtual clock the cache reads.
    Advance { seconds: f64 },
    /// Statements in `manage.py shell` (models imported, as Django 5.2's shell does, and
    /// `views.py`'s names), on `worker` (the last one a request went to when absent).
    Run {
        code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<u8>,
    },
    /// Runs the test file (`tests.py`).
    Test { file: String },
}

/// What a request sends beyond `GET url`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HttpExtra {
    /// GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS.
    pub method: String,
    /// The query string's items (GET, HEAD) or the form body's, a key repeated for a list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<(String, String)>,
    /// As the client's `headers=` argument: `("User-Agent", "mobile")`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub follow: bool,
}

/// The methods a request step may use.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl Step {
    /// `GET url` (anonymous, worker 1, after the previous step).
    pub fn get(url: impl Into<String>) -> Step {
        Step::Get { url: url.into(), user: None, worker: None, into_previous: None, http: None }
    }

    pub fn kind(&self) -> StepKind {
        match self {
            Step::Get { .. } => StepKind::Get,
            Step::Advance { .. } => StepKind::Advance,
            Step::Run { .. } => StepKind::Run,
            Step::Test { .. } => StepKind::Test,
        }
    }
}

/// What kind of step a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    #[default]
    Get,
    Run,
    Test,
    Advance,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Get => "get",
            StepKind::Run => "run",
            StepKind::Test => "test",
            StepKind::Advance => "advance",
        }
    }
}

impl Request {
    pub fn id(&self) -> u64 {
        match self {
            Request::Seed { id, .. }
            | Request::Load { id, .. }
            | Request::Step { id, .. }
            | Request::Sql { id, .. }
            | Request::Check { id, .. }
            | Request::Compare { id, .. }
            | Request::Measure { id, .. }
            | Request::Explain { id, .. }
            | Request::Fingerprint { id }
            | Request::CrashForTest { id }
            | Request::StallForTest { id, .. } => *id,
        }
    }
}

/// Worker → page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    /// The worker is loaded and waiting.
    Ready,
    /// A long job (seeding, a check, a sweep point) is under way: `done` of `total`.
    Progress { id: u64, done: u32, total: u32 },
    Seeded {
        id: u64,
        ms: f64,
        counts: Vec<(String, u64)>,
        schema_ms: f64,
        /// Loaded from the database shipped with the app, not seeded.
        #[serde(default)]
        built_in: bool,
    },
    SqlResult { id: u64, columns: Vec<String>, rows: Vec<Vec<String>>, query: QueryInfo },
    /// The project is installed (its `views.py` imported); `clock` is the virtual time;
    /// `migrations` is, per migration, what `makemigrations` writes and `sqlmigrate` prints.
    Loaded {
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
    Fingerprinted { id: u64, digest: String },
    /// A request with nothing to report is over (a test hook).
    Done { id: u64 },
    /// The engine panicked; the worker is unusable and must be replaced.
    Panic { message: String },
}

impl Response {
    /// The request this answers (none for `Ready` and `Panic`, which answer nothing).
    pub fn id(&self) -> Option<u64> {
        match self {
            Response::Ready | Response::Panic { .. } => None,
            Response::Progress { id, .. }
            | Response::Seeded { id, .. }
            | Response::SqlResult { id, .. }
            | Response::Loaded { id, .. }
            | Response::StepResult { id, .. }
            | Response::Error { id, .. }
            | Response::CheckResult { id, .. }
            | Response::Compared { id, .. }
            | Response::Measured { id, .. }
            | Response::Explained { id, .. }
            | Response::Fingerprinted { id, .. }
            | Response::Done { id } => Some(*id),
        }
    }

    /// A final answer (not a progress report).
    pub fn is_final(&self) -> bool {
        !matches!(self, Response::Progress { .. } | Response::Ready)
    }
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
    pub kind: StepKind,
    /// The server process the step ran in (1 or 2).
    #[serde(default = "first_worker")]
    pub worker: u8,
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
    /// A request that read the cache: which layer answered (or missed) and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheOutcome>,
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
    /// For a request that is the one an exercise judges: whether it meets the goal's budget
    /// (the same judgement as the check's, on this request alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<GoalLine>,
    /// A request's first run: its whole time, and the part inside the view (with the template
    /// it rendered; none when no view ran: a 404, a page the cache answered). The headers
    /// shown are this run's, so a duration a middleware wrote fits between the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_run: Option<FirstRun>,
    /// The templates that run rendered, one entry per template in the order first rendered
    /// (a page, its includes, the parent it extends): how many times, the time and the queries
    /// sent while it rendered (an include's are also in the page that includes it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<TemplateTime>,
    /// The per-line profile of the first run: every line of the project's Python that ran
    /// and every template line whose tags ran (a request, a shell line or the tests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<LineProfile>,
}

/// See [`StepReport::templates`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateTime {
    pub name: String,
    pub renders: usize,
    pub ms: f64,
    pub queries: usize,
}

/// The [`LineProfile::file`] of the middleware chain: line N is `MIDDLEWARE[N-1]`, the line
/// after the last is the view (each layer's time with calls holds the layers inside it).
pub const MIDDLEWARE_FILE: &str = "MIDDLEWARE";

/// One line of a per-line profile ([`StepReport::lines`]). Times are milliseconds of one
/// run; hits, queries, rows read and Python steps are deterministic (two runs of the same code
/// on the same data give the same numbers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineProfile {
    /// The project file (`views.py`, `templates/articles/front.html`).
    pub file: String,
    /// 1-based.
    pub line: u32,
    /// The line's source text, trimmed.
    pub code: String,
    /// How many times it ran (a Python statement, a template tag on that line).
    pub hits: u64,
    /// Time with everything it called (a line calling itself counts once).
    pub total_ms: f64,
    /// Time in the line itself: its total minus the lines it called.
    pub self_ms: f64,
    /// Queries sent while it ran, including by the lines it called.
    pub queries: usize,
    /// Queries the line sent itself.
    pub self_queries: usize,
    /// Queries of a QuerySet this line built, sent later by another line (a lazy QuerySet
    /// evaluated by the template's `{% for %}`).
    pub lazy_queries: usize,
    /// Rows the engine read for the line's own queries.
    pub rows_read: u64,
    /// Python steps (statements and loop turns) with everything it called.
    pub steps: u64,
}

/// See [`StepReport::first_run`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct FirstRun {
    pub request_ms: f64,
    pub view_ms: Option<f64>,
}

fn first_worker() -> u8 {
    1
}

/// One exercise's budget judged on one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoalLine {
    /// The exercise (0-based, in the lesson's order).
    pub exercise: usize,
    pub met: bool,
    /// What was measured against what the goal allows ("143 rows fetched, the goal is at most 20").
    pub message: String,
}

/// The cache layers a request can read: the whole page (`cache_page`), a template fragment
/// (`{% cache %}`), a value (`cache.get`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheLayer {
    Page,
    Fragment,
    Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheState {
    Hit,
    Miss,
    /// The cache answered, but the page computed now (without the cache) would differ.
    Stale,
}

/// What the cache did for a request: the outermost layer it read, and how that went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheOutcome {
    pub layer: CacheLayer,
    pub state: CacheState,
}

impl CacheOutcome {
    /// The badge: `HIT`/`MISS`/`STALE` for the page cache, `FRAGMENT HIT`, `VALUE MISS`, ….
    pub fn badge(&self) -> String {
        let state = match self.state {
            CacheState::Hit => "HIT",
            CacheState::Miss => "MISS",
            CacheState::Stale => "STALE",
        };
        match self.layer {
            CacheLayer::Page => state.to_string(),
            CacheLayer::Fragment => format!("FRAGMENT {state}"),
            CacheLayer::Value => format!("VALUE {state}"),
        }
    }

    /// The same in lower case, as the browser tests and claims name it (`fragment hit`).
    pub fn name(&self) -> String {
        self.badge().to_lowercase()
    }

    /// One sentence for the response panel.
    pub fn sentence(&self) -> &'static str {
        match (self.layer, self.state) {
            (CacheLayer::Page, CacheState::Hit) => "Cache hit: the whole response came from the page cache; the view did not run.",
            (CacheLayer::Page, CacheState::Miss) => "Page cache miss: the view ran, and its response was stored.",
            (CacheLayer::Page, CacheState::Stale) => "Stale: the page cache answered, but the data changed since it was stored — the page computed now would differ.",
            (CacheLayer::Fragment, CacheState::Hit) => "Fragment hit: a {% cache %} fragment came from the cache; the view and the rest of the template ran.",
            (CacheLayer::Fragment, CacheState::Miss) => "Fragment miss: the {% cache %} fragment was rendered and stored.",
            (CacheLayer::Fragment, CacheState::Stale) => "Stale: a {% cache %} fragment came from the cache, but the data changed since — the page computed now would differ.",
            (CacheLayer::Value, CacheState::Hit) => "Value hit: the view read a value from the cache (cache.get); the view and the template ran.",
            (CacheLayer::Value, CacheState::Miss) => "Value miss: the view computed a value and stored it (cache.set).",
            (CacheLayer::Value, CacheState::Stale) => "Stale: the view read a value from the cache, but the data changed since — the page computed now would differ.",
        }
    }
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
    /// Which layer the key belongs to (Django names page, header and fragment keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<CacheLayer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestInfo {
    /// `Class.method` or the function name.
    pub name: String,
    pub outcome: TestOutcome,
    /// The first line of `ExceptionType: message`.
    pub message: String,
    /// The whole message (`assertNumQueries` lists the captured queries).
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    Pass,
    Fail,
    Error,
    Skip,
}

impl TestOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            TestOutcome::Pass => "pass",
            TestOutcome::Fail => "fail",
            TestOutcome::Error => "error",
            TestOutcome::Skip => "skip",
        }
    }
}

/// Percent-encoding as `encodeURIComponent` does it: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
pub fn encode_uri_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

/// `1 query`, `2 queries`; `1 row`, `20 rows`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", group_digits(n as u64), if n == 1 { one } else { many })
}

/// `10,000`.
pub fn group_digits(n: u64) -> String {
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

/// A time the browser's clock can measure: `0.42 ms`, and `< 0.1 ms` below its resolution
/// (a page without cross-origin isolation reads time in steps of 0.1 ms).
pub fn short_ms(ms: f64) -> String {
    if ms < 0.1 {
        "< 0.1 ms".into()
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
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
