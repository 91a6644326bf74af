//! The lab session the worker hosts: it answers [`protocol::Request`]s with
//! [`protocol::Response`]s. Everything the browser does goes through here, so native tests of
//! this module test what the learner gets.

use protocol::{ErrorInfo, GroupInfo, QueryInfo, RenderReport, Request, Response};

use crate::cases::render_once;
use crate::clock;
use crate::engine::{refuse_unsafe_sql, Engine, SqlValue};
use crate::error::{ErrorKind, SandboxError};
use crate::runtime::{engine_error, group_queries, Rt};
use crate::seed;
use crate::template::Template;

/// Time budget for one request, all queries included.
pub const REQUEST_BUDGET_MS: f64 = 2_000.0;
/// Budget for one statement.
pub const STATEMENT_BUDGET_MS: f64 = 1_000.0;
/// Most rows an SQL console answer carries back to the page.
const MAX_SQL_ROWS: usize = 200;

#[derive(Default)]
pub struct Lab {
    rt: Option<Rt>,
}

impl Lab {
    pub fn new() -> Lab {
        Lab::default()
    }

    /// Handles one request; `send` may be called several times (progress, then the answer).
    pub fn handle(&mut self, req: Request, send: &mut dyn FnMut(Response)) {
        let id = req.id();
        let answer = match req {
            Request::Seed { articles, .. } => self.seed(id, articles, send),
            Request::Run { context, template, renders, clear_cache, .. } => self.run(id, &context, &template, renders, clear_cache),
            Request::Sql { sql, .. } => self.sql(id, &sql),
            Request::CrashForTest { .. } => panic!("crash requested by the page (test hook)"),
        };
        send(answer);
    }

    fn seed(&mut self, id: u64, articles: u32, send: &mut dyn FnMut(Response)) -> Response {
        let start = clock::monotonic_ms();
        let result = Engine::open_memory().and_then(|mut engine| {
            // Seeding is one long, trusted job: it gets a larger budget than a learner's statement.
            engine.budget_ms = 60_000.0;
            let size = seed::seed(&mut engine, articles, &mut |done, total| send(Response::Progress { id, done, total }))?;
            engine.budget_ms = STATEMENT_BUDGET_MS;
            Ok((engine, size))
        });
        match result {
            Ok((engine, size)) => {
                self.rt = Some(Rt::new(engine));
                Response::Seeded {
                    id,
                    ms: clock::monotonic_ms() - start,
                    counts: vec![
                        ("users".into(), size.users as u64),
                        ("tags".into(), size.tags as u64),
                        ("articles".into(), size.articles as u64),
                        ("organizations".into(), size.organizations as u64),
                        ("tasks".into(), size.tasks as u64),
                        ("schema_ms".into(), size.schema_ms as u64),
                    ],
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
            rt.begin_request(REQUEST_BUDGET_MS);
            let start = clock::monotonic_ms();
            let out = render_once(rt, context, &template);
            let request_ms = clock::monotonic_ms() - start;
            let output = match out {
                Ok(o) => o,
                Err(e) => return error_response(id, e),
            };
            reports.push(report(rt, output, request_ms));
        }
        Response::Result { id, renders: reports }
    }

    fn sql(&mut self, id: u64, sql: &str) -> Response {
        let Some(rt) = self.rt.as_ref() else {
            return not_seeded(id);
        };
        if let Err(e) = refuse_unsafe_sql(sql) {
            return error_response(id, engine_error(e));
        }
        let trimmed = sql.trim().trim_end_matches(';');
        if trimmed.contains(';') {
            return error_response(id, SandboxError::new(ErrorKind::DatabaseError, "one statement at a time, please"));
        }
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

fn show_sql_value(v: &SqlValue) -> String {
    match v {
        SqlValue::Null => "NULL".into(),
        SqlValue::Text(s) => s.clone(),
        other => other.quoted(),
    }
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
    RenderReport {
        n_queries: log.len(),
        request_ms,
        sql_ms: log.iter().map(|q| q.ms).sum(),
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
    Response::Error {
        id,
        error: ErrorInfo {
            kind: e.kind.python_name().to_string(),
            message: e.message.clone(),
            source: e.source_name.clone(),
            line: e.pos.map(|p| p.line),
            col: e.pos.map(|p| p.col),
            excerpt: e.excerpt.clone(),
        },
    }
}
