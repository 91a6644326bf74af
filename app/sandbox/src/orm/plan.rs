//! `QuerySet.explain()` and the plan's wording: SQLite's `EXPLAIN QUERY PLAN`, one row a line,
//! in SQLite's words where the lab's engine uses its own.

use crate::engine::SqlValue;
use crate::error::{err, exc, ErrorKind, SResult};
use crate::orm::compiler;
use crate::orm::model::QuerySetObj;
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
    let details: Vec<String> = r.rows.iter().map(|row| match row.last() {
        Some(SqlValue::Text(s)) => sqlite_plan_wording(s),
        _ => String::new(),
    }).collect();
    let sort_needed = !one_row_lookups(&details, &c.sql);
    let lines: Vec<String> = r
        .rows
        .iter()
        .zip(&details)
        .filter(|(_, detail)| sort_needed || !detail.starts_with("USE TEMP B-TREE FOR ORDER BY"))
        .map(|(row, _)| row.iter().map(|v| match v {
            SqlValue::Text(s) => sqlite_plan_wording(s),
            SqlValue::Null => "None".into(),
            other => other.quoted(),
        }).collect::<Vec<_>>().join(" "))
        .collect();
    Ok(Val::str(lines.join("\n")))
}

/// Whether every table of the plan is read by a lookup that finds at most one row: the
/// primary key or a unique index, every one of its columns compared with `=` in `sql`.
/// SQLite then knows the rows come out in any order asked for and plans no sort; the engine
/// still reports one.
fn one_row_lookups(details: &[String], sql: &str) -> bool {
    let equal = |col: &str| sql.contains(&format!("\"{col}\" = "));
    let mut searches = 0;
    for d in details {
        if d.starts_with("USE TEMP B-TREE") {
            continue;
        }
        let Some(rest) = d.strip_prefix("SEARCH ") else { return false };
        let one_row = if rest.ends_with(" USING INTEGER PRIMARY KEY (rowid=?)") {
            equal("id")
        } else if let Some((index, cols)) = rest.split_once(" USING INDEX ").and_then(|(_, r)| r.split_once(" (")) {
            let cols: Vec<&str> = cols.trim_end_matches(')').split(" AND ").map(|c| c.trim_end_matches("=?")).collect();
            // Autoindexes are the single-column UNIQUE constraints; Django names the
            // multi-column unique indexes `…_uniq`.
            let unique = (index.starts_with("sqlite_autoindex_") && cols.len() == 1) || index.ends_with("_uniq");
            unique && cols.iter().all(|c| equal(c))
        } else {
            false
        };
        if !one_row {
            return false;
        }
        searches += 1;
    }
    searches > 0
}

#[cfg(test)]
mod tests {
    use super::one_row_lookups;

    #[test]
    fn a_unique_lookup_needs_no_sort_and_an_in_list_does() {
        let plan = ["SEARCH articles_article USING INDEX sqlite_autoindex_articles_article_1 (slug=?)".to_string(), "USE TEMP B-TREE FOR ORDER BY".to_string()];
        assert!(one_row_lookups(&plan, r#"SELECT … WHERE "articles_article"."slug" = 'a' ORDER BY …"#));
        assert!(!one_row_lookups(&plan, r#"SELECT … WHERE "articles_article"."slug" IN ('a', 'b') ORDER BY …"#));
        let scan = ["SCAN tasks_task".to_string(), "USE TEMP B-TREE FOR ORDER BY".to_string()];
        assert!(!one_row_lookups(&scan, r#"SELECT … WHERE "tasks_task"."id" = 1"#));
        let fk = ["SEARCH tasks_task USING INDEX tasks_task_organization_id_50c2ed4a (organization_id=?)".to_string()];
        assert!(!one_row_lookups(&fk, r#"SELECT … WHERE "tasks_task"."organization_id" = 1"#));
    }
}

/// The engine says `USE SORTER FOR ORDER BY` where SQLite says `USE TEMP B-TREE FOR ORDER BY`.
pub fn sqlite_plan_wording(detail: &str) -> String {
    match detail.strip_prefix("USE SORTER FOR ") {
        Some(rest) => format!("USE TEMP B-TREE FOR {rest}"),
        None => detail.to_string(),
    }
}

