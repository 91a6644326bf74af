//! The messages the page and the engine worker exchange, as JSON.
//!
//! Kept in a crate of its own with no dependency but serde, so the UI can speak to the
//! worker without linking the engine (the UI stays small; the engine stays in the worker).

use serde::{Deserialize, Serialize};

pub mod lesson;

/// Page → worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    /// (Re)create the database and fill it with the deterministic sample data.
    Seed { id: u64, articles: u32 },
    /// Evaluate the context expressions and render the template `renders` times.
    Run { id: u64, context: Vec<(String, String)>, template: String, renders: u32, clear_cache: bool },
    /// Run raw SQL (DDL for indexes, `EXPLAIN QUERY PLAN`), guarded against SQL that crashes the engine.
    Sql { id: u64, sql: String },
    /// Makes the worker panic on purpose: the browser tests use it to prove the page recovers.
    CrashForTest { id: u64 },
}

impl Request {
    pub fn id(&self) -> u64 {
        match self {
            Request::Seed { id, .. } | Request::Run { id, .. } | Request::Sql { id, .. } | Request::CrashForTest { id } => *id,
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
    Seeded { id: u64, ms: f64, counts: Vec<(String, u64)> },
    Result { id: u64, renders: Vec<RenderReport> },
    SqlResult { id: u64, columns: Vec<String>, rows: Vec<Vec<String>>, query: QueryInfo },
    /// The learner's input could not run: a message pointing at the problem.
    Error { id: u64, error: ErrorInfo },
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderReport {
    pub n_queries: usize,
    /// The whole request (expressions + template + queries), like an `X-Request-Duration-Ms` header.
    pub request_ms: f64,
    /// Time spent inside the engine.
    pub sql_ms: f64,
    pub output: String,
    pub queries: Vec<QueryInfo>,
    pub groups: Vec<GroupInfo>,
}
