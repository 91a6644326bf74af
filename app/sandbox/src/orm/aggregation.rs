//! `aggregate()`: the SQL Django writes for aggregates over a query — over the rows directly,
//! or over a subquery when the query is sliced, distinct or already grouped — with the
//! annotations it refers to inlined or selected.

use indexmap::IndexMap;
use super::expr::*;
use super::expr::{GroupBy, Query, SelectRelated};
use crate::error::{err, ErrorKind, SResult};
use crate::runtime::Rt;
use super::compiler::*;

/// `Query.get_aggregation`: the query that computes `aggregates` over `q` (wrapped in a
/// subquery when `q` is sliced, distinct or already aggregated). Returns the compiled query
/// (`None` when it matches nothing) and the aliases in result order.
pub fn compile_aggregation(rt: &Rt, q: &Query, aggregates: &[(String, Expression)]) -> SResult<(Option<Compiled>, Vec<String>)> {
    let mut q = q.clone();
    let mask_before = q.annotation_select_mask.clone();
    let mut resolved: Vec<(String, SqlExpr)> = Vec::new();
    for (alias, e) in aggregates {
        let r = super::resolve::resolve_expression(rt, &mut q, e, true, None, true)?;
        if !r.contains_aggregate() {
            return Err(err(ErrorKind::TypeError, format!("{alias} is not an aggregate expression")));
        }
        q.append_annotation_mask(&[alias.clone()]);
        q.annotations.insert(alias.clone(), r.clone());
        resolved.push((alias.clone(), r));
    }
    for (alias, _) in &resolved {
        q.annotations.shift_remove(alias);
    }
    q.set_annotation_mask(mask_before);
    let (_, having) = q.where_.split_having(false);
    let has_existing = q.annotations.values().any(SqlExpr::contains_aggregate) || having.is_some();
    let names: Vec<String> = resolved.iter().map(|(a, _)| a.clone()).collect();
    let needs_subquery = matches!(q.group_by, GroupBy::Exprs(_)) || q.is_sliced() || has_existing || q.distinct || q.combinator.is_some();
    if needs_subquery {
        let mut inner = q.clone();
        inner.subquery = true;
        inner.select_related = SelectRelated::No;
        inner.set_annotation_mask(Some(q.annotation_select().keys().cloned().collect()));
        inner.clear_ordering(false, true);
        if !inner.distinct {
            if inner.default_cols && has_existing {
                let alias = inner.get_initial_alias();
                let pk = Target::of(inner.model, inner.model.pk_field());
                inner.group_by = GroupBy::Exprs(vec![SqlExpr::col(&alias, pk)]);
            }
            inner.default_cols = false;
            let mut mask: Vec<String> = Vec::new();
            if let GroupBy::Exprs(g) = &q.group_by {
                for e in g {
                    collect_refs(e, &mut mask);
                }
            }
            for (_, a) in &resolved {
                collect_refs(a, &mut mask);
            }
            for (alias, ann) in q.annotation_select() {
                if !ann.group_by_cols().is_empty() && !mask.contains(&alias) {
                    mask.push(alias);
                }
            }
            // Keep the annotations' own order.
            let ordered: Vec<String> = q.annotations.keys().filter(|k| mask.contains(k)).cloned().collect();
            inner.set_annotation_mask(Some(ordered));
        }
        let mut outer_exprs: Vec<(String, SqlExpr)> = Vec::new();
        let mut col_refs: Vec<(SqlExpr, String)> = Vec::new();
        for (alias, agg) in &resolved {
            let mut agg = agg.clone();
            replace_cols(&mut agg, &mut |col: &SqlExpr| {
                if let Some((_, a)) = col_refs.iter().find(|(c, _)| c == col) {
                    return SqlExpr::Ref(a.clone(), Box::new(col.clone()));
                }
                let a = format!("__col{}", col_refs.len() + 1);
                col_refs.push((col.clone(), a.clone()));
                inner.add_annotation(col.clone(), &a, true);
                SqlExpr::Ref(a, Box::new(col.clone()))
            });
            outer_exprs.push((alias.clone(), agg));
        }
        if q.combinator.is_some() && !col_refs.is_empty() {
            // Django names such a column `"__col1"` outside a compound statement that does not
            // select it (SQLite then reads the name as a string).
            return Err(err(
                ErrorKind::NotSupported,
                "aggregate() over the columns of a union(), intersection() or difference() is not available in the sandbox; count() is",
            ));
        }
        if inner.select.is_empty() && !inner.default_cols && inner.annotation_select_mask.as_ref().is_none_or(|m| m.is_empty()) {
            let alias = inner.get_initial_alias();
            let pk = Target::of(inner.model, inner.model.pk_field());
            inner.select = vec![SqlExpr::col(&alias, pk)];
        }
        let inner_c = match compile_select_query(rt, &inner, true, false) {
            Ok(c) => c,
            Err(CErr::Empty) => return Ok((None, names)),
            Err(CErr::Full) => return Err(err(ErrorKind::ValueError, "empty aggregation")),
            Err(CErr::Err(e)) => return Err(e),
        };
        let mut c = Compiler::new(rt, &inner);
        let mut sels = Vec::new();
        let mut params = Vec::new();
        for (_, e) in &outer_exprs {
            let (s, p) = match c.compile_expr(e) {
                Ok(x) => x,
                Err(CErr::Err(e)) => return Err(e),
                Err(_) => ("NULL".into(), vec![]),
            };
            sels.push(s);
            params.extend(p);
        }
        let inner_sql = strip_outer_parens(&inner_c.sql).to_string();
        let sql = format!("SELECT {} FROM ({inner_sql}) subquery", sels.join(", "));
        params.extend(inner_c.params.iter().cloned());
        // The engine runs Django's SQLite functions under their built-in names: the inner query
        // and the outer aggregates (a filter on `__hour`) each have an engine form.
        let engine = if inner_c.engine.is_some() || c.uses_django_functions {
            let mut ec = Compiler::new(rt, &inner);
            ec.engine_mode = true;
            let mut esels = Vec::new();
            let mut p = Vec::new();
            for (_, e) in &outer_exprs {
                match ec.compile_expr(e) {
                    Ok((s, ep)) => {
                        esels.push(s);
                        p.extend(ep);
                    }
                    Err(_) => esels.push("NULL".into()),
                }
            }
            let (esql, eparams) = inner_c.engine.clone().unwrap_or_else(|| (inner_c.sql.clone(), inner_c.params.clone()));
            p.extend(eparams);
            Some((format!("SELECT {} FROM ({}) subquery", esels.join(", "), strip_outer_parens(&esql)), p))
        } else {
            None
        };
        return Ok((Some(Compiled { sql, params, engine, klass_info: None, col_map: IndexMap::new(), n_cols: outer_exprs.len() }), names));
    }
    q.select.clear();
    q.selected = None;
    q.default_cols = false;
    let existing: Vec<(String, SqlExpr)> = q.annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut new_anns = IndexMap::new();
    for (alias, mut agg) in resolved {
        if !existing.is_empty() {
            inline_refs(&mut agg, &existing);
        }
        new_anns.insert(alias, agg);
    }
    q.annotations = new_anns;
    q.set_annotation_mask(Some(names.clone()));
    q.clear_ordering(true, true);
    q.clear_limits();
    q.select_related = SelectRelated::No;
    match compile_select_query(rt, &q, false, false) {
        Ok(c) => Ok((Some(c), names)),
        Err(CErr::Empty) => Ok((None, names)),
        Err(CErr::Full) => Err(err(ErrorKind::ValueError, "empty aggregation")),
        Err(CErr::Err(e)) => Err(e),
    }
}

fn collect_refs(e: &SqlExpr, out: &mut Vec<String>) {
    match e {
        SqlExpr::Ref(n, inner) => {
            if !out.contains(n) {
                out.push(n.clone());
            }
            collect_refs(inner, out);
        }
        SqlExpr::Aggregate(a) => {
            if let Some(x) = &a.arg {
                collect_refs(x, out);
            }
        }
        SqlExpr::Combined(a, _, b) => {
            collect_refs(a, out);
            collect_refs(b, out);
        }
        SqlExpr::Func(_, args) => args.iter().for_each(|a| collect_refs(a, out)),
        SqlExpr::Typed(x, _) | SqlExpr::Cast(x, _) => collect_refs(x, out),
        _ => {}
    }
}

/// Replaces every column (not inside a Ref) by `f(col)`.
fn replace_cols(e: &mut SqlExpr, f: &mut dyn FnMut(&SqlExpr) -> SqlExpr) {
    match e {
        SqlExpr::Col { .. } | SqlExpr::Extract(..) | SqlExpr::CastDate(_) | SqlExpr::CastTime(_) => *e = f(e),
        SqlExpr::Aggregate(a) => {
            if let Some(x) = &mut a.arg {
                replace_cols(x, f);
            }
            // The filter's columns too (an aggregate's source expressions end with its filter).
            if let Some(w) = &mut a.filter {
                replace_cols_where(w, f);
            }
        }
        SqlExpr::Combined(a, _, b) => {
            replace_cols(a, f);
            replace_cols(b, f);
        }
        SqlExpr::Func(_, args) => args.iter_mut().for_each(|a| replace_cols(a, f)),
        SqlExpr::Typed(x, _) | SqlExpr::Cast(x, _) => replace_cols(x, f),
        SqlExpr::Condition(w) => replace_cols_where(w, f),
        _ => {}
    }
}

fn replace_cols_where(w: &mut WhereNode, f: &mut dyn FnMut(&SqlExpr) -> SqlExpr) {
    for c in w.children.iter_mut() {
        match c {
            WhereChild::Node(n) => replace_cols_where(n, f),
            WhereChild::Lookup(l) => {
                replace_bare_cols(&mut l.lhs, f);
                if let Rhs::Expr(e) = &mut l.rhs {
                    replace_bare_cols(e, f);
                }
            }
            WhereChild::Expr(e) => replace_bare_cols(e, f),
            WhereChild::Nothing => {}
        }
    }
}

/// As [`replace_cols`], but a transform stays outside and only its column moves
/// (`django_datetime_extract('hour', "__col2", …)`), as `_gen_cols` yields it.
fn replace_bare_cols(e: &mut SqlExpr, f: &mut dyn FnMut(&SqlExpr) -> SqlExpr) {
    match e {
        SqlExpr::Extract(_, inner) | SqlExpr::CastDate(inner) | SqlExpr::CastTime(inner) => replace_bare_cols(inner, f),
        other => replace_cols(other, f),
    }
}

fn inline_refs(e: &mut SqlExpr, anns: &[(String, SqlExpr)]) {
    match e {
        SqlExpr::Ref(n, _) => {
            if let Some((_, a)) = anns.iter().find(|(k, _)| k == n) {
                *e = a.clone();
            }
        }
        SqlExpr::Aggregate(a) => {
            if let Some(x) = &mut a.arg {
                inline_refs(x, anns);
            }
        }
        SqlExpr::Combined(a, _, b) => {
            inline_refs(a, anns);
            inline_refs(b, anns);
        }
        _ => {}
    }
}
