//! The per-request world: the engine, the query log, the cache, and where we are in the
//! learner's code (so each query can say which template line or QuerySet call caused it).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use crate::cache::Cache;
use crate::clock;
use crate::engine::{inline_params, Engine, EngineError, SqlValue, StmtCounters, StmtResult};
use crate::error::{err, ErrorKind, SResult};

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
    /// What caused it: e.g. `template line 1: {{ a.author.username }}`.
    pub origin: Option<String>,
    /// How many `{% for %}` loops were running when it was sent (0 = not in a loop).
    pub loop_depth: usize,
}

/// Hard stop for one request: no page a learner writes needs this many queries, and an
/// accidental loop over 10,000 rows each firing a query would otherwise freeze the tab.
pub const MAX_QUERIES_PER_REQUEST: usize = 5_000;

pub struct Rt {
    pub engine: RefCell<Engine>,
    pub log: RefCell<Vec<QueryRecord>>,
    pub cache: RefCell<Cache>,
    origin: RefCell<Vec<String>>,
    loop_depth: Cell<usize>,
    /// Wall-clock budget for the whole request, in ms of [`clock::monotonic_ms`].
    deadline: Cell<f64>,
}

impl Rt {
    pub fn new(engine: Engine) -> Rt {
        Rt {
            engine: RefCell::new(engine),
            log: RefCell::new(Vec::new()),
            cache: RefCell::new(Cache::default()),
            origin: RefCell::new(Vec::new()),
            loop_depth: Cell::new(0),
            deadline: Cell::new(f64::INFINITY),
        }
    }

    /// Starts a request: empties the log and arms the request's time budget.
    pub fn begin_request(&self, budget_ms: f64) {
        self.log.borrow_mut().clear();
        self.deadline.set(clock::monotonic_ms() + budget_ms);
    }

    pub fn n_queries(&self) -> usize {
        self.log.borrow().len()
    }

    /// Runs one query the ORM built (`%s` placeholders, as Django writes them) and logs it.
    pub fn query(&self, sql: &str, params: &[SqlValue]) -> SResult<StmtResult> {
        if self.n_queries() >= MAX_QUERIES_PER_REQUEST {
            return Err(err(
                ErrorKind::Budget,
                format!("this request already sent {MAX_QUERIES_PER_REQUEST} queries; the sandbox stopped it"),
            ));
        }
        if clock::monotonic_ms() > self.deadline.get() {
            return Err(err(ErrorKind::Budget, "this request ran past the sandbox's time budget and was stopped"));
        }
        let raw_sql = sql.replace("%s", "?");
        let result = self.engine.borrow_mut().run(&raw_sql, params).map_err(engine_error)?;
        let shown = inline_params(sql, params);
        self.log.borrow_mut().push(QueryRecord {
            sql: shown,
            raw_sql,
            params: params.iter().map(SqlValue::quoted).collect(),
            ms: result.ms,
            rows: result.rows.len(),
            counters: result.counters,
            origin: self.origin.borrow().last().cloned(),
            loop_depth: self.loop_depth.get(),
        });
        Ok(result)
    }

    /// Runs `f` with `label` as the cause of any query it sends.
    pub fn with_origin<T>(&self, label: impl Into<String>, f: impl FnOnce() -> T) -> T {
        self.origin.borrow_mut().push(label.into());
        let out = f();
        self.origin.borrow_mut().pop();
        out
    }

    /// Runs `f` as the body of a template loop (queries inside are candidates for N+1).
    pub fn in_loop<T>(&self, f: impl FnOnce() -> T) -> T {
        self.loop_depth.set(self.loop_depth.get() + 1);
        let out = f();
        self.loop_depth.set(self.loop_depth.get() - 1);
        out
    }
}

pub fn engine_error(e: EngineError) -> crate::error::SandboxError {
    match e {
        EngineError::Budget { .. } => err(ErrorKind::Budget, e.to_string()),
        other => err(ErrorKind::DatabaseError, other.to_string()),
    }
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
        by_sql.entry(q.raw_sql.as_str()).or_insert_with(|| {
            order.push(q.raw_sql.clone());
            Vec::new()
        });
        by_sql.get_mut(q.raw_sql.as_str()).expect("just inserted").push(i);
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
            let in_loop = members.iter().filter(|&&m| log[m].loop_depth > 0).count();
            let n_plus_one = if in_loop >= 2 {
                let origin = log[members[0]].origin.clone();
                Some(n_plus_one_advice(members.len(), &sql, origin.as_deref()))
            } else {
                None
            };
            Some(QueryGroup { raw_sql: sql, members, duplicates, n_plus_one })
        })
        .collect()
}

/// "20 similar queries from `a.author` → `select_related("author")`".
fn n_plus_one_advice(n: usize, raw_sql: &str, origin: Option<&str>) -> String {
    let expr = origin
        .and_then(|o| o.split("{{").nth(1).or_else(|| o.split("{%").nth(1)))
        .map(|s| s.trim_end_matches("}}").trim_end_matches("%}").trim().to_string());
    let cause = expr.clone().unwrap_or_else(|| "a loop".into());
    // The relation is the attribute the loop touched: the second part of `a.author.username`.
    let relation = expr
        .as_deref()
        .and_then(|e| e.split('|').next())
        .map(|e| e.split_whitespace().last().unwrap_or(e))
        .and_then(|e| e.split('.').nth(1).map(str::to_string));
    let fix = match relation {
        Some(rel) if raw_sql.contains(" LIMIT 21") && !raw_sql.contains(" IN (") => {
            format!("select_related(\"{rel}\")")
        }
        Some(rel) => format!("prefetch_related(\"{rel}\")"),
        None => "select_related() / prefetch_related()".into(),
    };
    format!("{n} similar queries from `{cause}` → `{fix}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(sql: &str, p: &str, origin: &str, depth: usize) -> QueryRecord {
        QueryRecord {
            sql: sql.replace('?', p),
            raw_sql: sql.into(),
            params: vec![p.into()],
            ms: 0.0,
            rows: 1,
            counters: StmtCounters::default(),
            origin: Some(origin.into()),
            loop_depth: depth,
        }
    }

    #[test]
    fn similar_queries_in_a_loop_are_an_n_plus_one_with_the_fix() {
        let fk = "SELECT \"auth_user\".\"id\" FROM \"auth_user\" WHERE \"auth_user\".\"id\" = ? LIMIT 21";
        let log = vec![
            rec("SELECT 1", "", "articles", 0),
            rec(fk, "8", "template line 1: {{ a.author.username }}", 1),
            rec(fk, "15", "template line 1: {{ a.author.username }}", 1),
            rec(fk, "8", "template line 1: {{ a.author.username }}", 1),
        ];
        let groups = group_queries(&log);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].members, vec![1, 2, 3]);
        assert_eq!(groups[0].duplicates, 1);
        assert_eq!(
            groups[0].n_plus_one.as_deref(),
            Some("3 similar queries from `a.author.username` → `select_related(\"author\")`")
        );
    }

    #[test]
    fn similar_queries_outside_a_loop_are_not_n_plus_one() {
        let log = vec![rec("SELECT ?", "1", "x", 0), rec("SELECT ?", "2", "x", 0)];
        assert_eq!(group_queries(&log)[0].n_plus_one, None);
    }
}
