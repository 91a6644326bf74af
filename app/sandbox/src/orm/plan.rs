//! `QuerySet.explain()` and the plan's wording: SQLite's `EXPLAIN QUERY PLAN`, one row a line,
//! in SQLite's words where the lab's engine uses its own.

use crate::engine::SqlValue;
use crate::error::{err, exc, ErrorKind, SResult};
use crate::orm::compiler;
use crate::orm::queryset::QuerySetObj;
use crate::runtime::Rt;
use crate::value::{Kwargs, Val};

fn kwarg<'a>(kwargs: &'a Kwargs, name: &str) -> Option<&'a Val> {
    kwargs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// `qs.explain()`: SQLite's `EXPLAIN QUERY PLAN`, one row a line (`"2 0 0 SCAN tasks_task"`).
pub fn explain(rt: &Rt, qs: &QuerySetObj, kwargs: Kwargs) -> SResult<Val> {
    for (k, _) in &kwargs {
        if k != "format" {
            return Err(err(ErrorKind::ValueError, format!("Unknown options: {k}")));
        }
    }
    if let Some(f) = kwarg(&kwargs, "format") {
        if !f.is_none() {
            return Err(err(ErrorKind::ValueError, format!("{} is not a recognized format.", f.to_str(rt)?.to_uppercase())));
        }
    }
    let Some(c) = compiler::compile_select(rt, &qs.query)? else {
        return Err(exc("EmptyResultSet", ""));
    };
    let sql = format!("EXPLAIN QUERY PLAN {}", c.sql);
    let (esql, eparams) = match &c.engine {
        Some((e, p)) => (format!("EXPLAIN QUERY PLAN {e}"), p.clone()),
        None => (sql.clone(), c.params.clone()),
    };
    let r = rt.query_with(&sql, &c.params, &esql, &eparams)?;
    let lines: Vec<String> = r
        .rows
        .iter()
        .map(|row| row.iter().map(|v| match v {
            SqlValue::Text(s) => sqlite_plan_wording(s),
            SqlValue::Null => "None".into(),
            other => other.quoted(),
        }).collect::<Vec<_>>().join(" "))
        .collect();
    Ok(Val::str(lines.join("\n")))
}

/// The engine says `USE SORTER FOR ORDER BY` where SQLite says `USE TEMP B-TREE FOR ORDER BY`.
pub fn sqlite_plan_wording(detail: &str) -> String {
    match detail.strip_prefix("USE SORTER FOR ") {
        Some(rest) => format!("USE TEMP B-TREE FOR {rest}"),
        None => detail.to_string(),
    }
}

