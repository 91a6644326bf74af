//! Resolving Python-side expressions (`F`, aggregates, `Q` inside aggregates, `OuterRef`,
//! `Exists`, `Subquery`, querysets used as values) against a query: columns with their join
//! aliases, subqueries relabelled `U0…` and tied to the outer query.

use std::collections::HashSet;

use super::expr::*;
use super::lookups;
use super::expr::{Query, Table};
use crate::engine::SqlValue;
use crate::error::{err, ErrorKind, SResult};
use crate::runtime::Rt;
use crate::schema::FieldKind;

pub fn resolve_filter_value(
    rt: &Rt,
    q: &mut Query,
    v: &FilterValue,
    reuse: Option<&mut HashSet<String>>,
    allow_joins: bool,
    summarize: bool,
) -> SResult<Resolved> {
    Ok(match v {
        FilterValue::Val(v) => Resolved::Val(v.clone()),
        FilterValue::Expr(e) => Resolved::Expr(resolve_expression(rt, q, e, allow_joins, reuse, summarize)?),
        FilterValue::Query(sub) => Resolved::Query(Box::new(resolve_subquery(rt, q, sub)?)),
    })
}

/// `Query.resolve_expression`: a queryset used inside another query.
pub fn resolve_subquery(rt: &Rt, outer: &mut Query, sub: &Query) -> SResult<Query> {
    let mut clone = sub.clone();
    clone.bump_prefix(outer, &[]);
    clone.subquery = true;
    // OuterRefs point at the outer query's columns; nested ones move out one level.
    resolve_outer_refs_in_where(rt, &mut clone.where_, outer)?;
    let keys: Vec<String> = clone.annotations.keys().cloned().collect();
    for k in keys {
        let mut e = clone.annotations.get(&k).cloned().expect("listed");
        resolve_outer_refs(rt, &mut e, outer)?;
        clone.annotations.insert(k, e);
    }
    for sel in clone.select.iter_mut() {
        resolve_outer_refs(rt, sel, outer)?;
    }
    for (alias, table) in &outer.alias_map {
        let aliased = match table {
            Table::Join(j) => j.join_field.related_table != alias.as_str() && j.table != alias.as_str(),
            Table::Base { table, alias: a } => *table != a.as_str(),
        };
        clone.external_aliases.insert(alias.clone(), aliased);
    }
    Ok(clone)
}

fn resolve_outer_refs_in_where(rt: &Rt, w: &mut WhereNode, outer: &mut Query) -> SResult<()> {
    for c in w.children.iter_mut() {
        match c {
            WhereChild::Node(n) => resolve_outer_refs_in_where(rt, n, outer)?,
            WhereChild::Lookup(l) => {
                resolve_outer_refs(rt, &mut l.lhs, outer)?;
                if let Rhs::Expr(e) = &mut l.rhs {
                    resolve_outer_refs(rt, e, outer)?;
                }
            }
            WhereChild::Expr(e) => resolve_outer_refs(rt, e, outer)?,
            WhereChild::Nothing => {}
        }
    }
    Ok(())
}

const OUTER: &str = "\u{0}outer:";

fn resolve_outer_refs(rt: &Rt, e: &mut SqlExpr, outer: &mut Query) -> SResult<()> {
    match e {
        SqlExpr::OuterRef(name) => {
            if let Some(rest) = name.strip_prefix(OUTER) {
                *e = SqlExpr::OuterRef(rest.to_string());
            } else {
                let n = name.clone();
                *e = outer.resolve_ref(&n, true, None, false)?;
            }
        }
        SqlExpr::Aggregate(a) => {
            if let Some(arg) = &mut a.arg {
                resolve_outer_refs(rt, arg, outer)?;
            }
            if let Some(f) = &mut a.filter {
                resolve_outer_refs_in_where(rt, f, outer)?;
            }
        }
        SqlExpr::Ref(_, inner)
        | SqlExpr::Extract(_, inner)
        | SqlExpr::CastDate(inner)
        | SqlExpr::CastTime(inner)
        | SqlExpr::Typed(inner, _)
        | SqlExpr::Cast(inner, _) => resolve_outer_refs(rt, inner, outer)?,
        SqlExpr::Condition(w) => resolve_outer_refs_in_where(rt, w, outer)?,
        SqlExpr::Combined(a, _, b) => {
            resolve_outer_refs(rt, a, outer)?;
            resolve_outer_refs(rt, b, outer)?;
        }
        SqlExpr::Func(_, args) => {
            for a in args.iter_mut() {
                resolve_outer_refs(rt, a, outer)?;
            }
        }
        SqlExpr::Exists(q, _) | SqlExpr::Subquery(q) => {
            // A subquery inside the subquery: its OuterRefs were moved one level out already.
            resolve_outer_refs_in_where(rt, &mut q.where_, outer)?;
        }
        _ => {}
    }
    Ok(())
}

/// `Expression.resolve_expression(query, allow_joins, reuse, summarize)`.
pub fn resolve_expression(
    rt: &Rt,
    q: &mut Query,
    e: &Expression,
    allow_joins: bool,
    reuse: Option<&mut HashSet<String>>,
    summarize: bool,
) -> SResult<SqlExpr> {
    Ok(match e {
        Expression::F(name) => {
            let mut r = reuse;
            q.resolve_ref(name, allow_joins, r.as_deref_mut(), summarize)?
        }
        // Value._resolve_output_field: a bool is a BooleanField (SQLite gives back 0/1).
        Expression::Value(v @ crate::value::Val::Bool(_)) => SqlExpr::Typed(Box::new(SqlExpr::Value(lookups::plain(rt, v)?)), FieldKind::Bool),
        Expression::Value(v) => SqlExpr::Value(lookups::plain(rt, v)?),
        Expression::OuterRef(name) => SqlExpr::OuterRef(name.clone()),
        Expression::Combined(a, op, b) => {
            let mut reuse = reuse;
            let l = resolve_expression(rt, q, a, allow_joins, reuse.as_deref_mut(), summarize)?;
            let r = resolve_expression(rt, q, b, allow_joins, reuse.as_deref_mut(), summarize)?;
            SqlExpr::Combined(Box::new(l), *op, Box::new(r))
        }
        Expression::Aggregate { func, arg, distinct, filter, default } => {
            let mut reuse = reuse;
            if summarize {
                // aggregate() over an annotation refers to it by name.
                if let Some(a) = arg {
                    if let Expression::F(name) = a.as_ref() {
                        if let Some(ann) = q.annotations.get(name) {
                            if ann.contains_aggregate() {
                                return Err(err(
                                    ErrorKind::FieldError,
                                    format!("Cannot compute {}('{name}'): '{name}' is an aggregate", agg_name(func)),
                                ));
                            }
                        }
                    }
                }
            }
            let arg_sql = match arg {
                None => None,
                Some(a) => {
                    let r = resolve_expression(rt, q, a, allow_joins, reuse.as_deref_mut(), summarize)?;
                    if r.contains_aggregate() && !summarize {
                        return Err(err(
                            ErrorKind::FieldError,
                            format!("Cannot compute {}('{}'): '{}' is an aggregate", agg_name(func), a.describe(), a.describe()),
                        ));
                    }
                    Some(Box::new(r))
                }
            };
            let filter_sql = match filter {
                None => None,
                Some(qt) => {
                    // Q as an expression (Q.resolve_expression): existing joins are reused, new ones
                    // promoted to LEFT OUTER so they filter no rows; no split_exclude subqueries.
                    let (clause, joins) = q.add_q_inner(rt, qt, reuse.as_deref_mut(), false, false, allow_joins, false, summarize)?;
                    q.promote_joins(joins);
                    Some(Box::new(clause))
                }
            };
            let output = match *func {
                "COUNT" => FieldKind::Int,
                "AVG" => FieldKind::Int,
                _ => arg_sql.as_ref().and_then(|a| a.output_kind()).unwrap_or(FieldKind::Int),
            };
            let output = match (*func, output) {
                ("SUM" | "MAX" | "MIN", FieldKind::ForeignKey(_) | FieldKind::Auto) => FieldKind::Int,
                (_, o) => o,
            };
            let agg = SqlExpr::Aggregate(AggregateSql { func, arg: arg_sql, distinct: *distinct, filter: filter_sql, output });
            match default {
                None => agg,
                // Aggregate.resolve_expression: `Coalesce(aggregate, default)`, the default a
                // value of the aggregate's type.
                Some(d) => {
                    // Avg's output field is a FloatField.
                    let kind = if *func == "AVG" { FieldKind::Float } else { output };
                    let d = match d.as_ref() {
                        Expression::Value(v) => SqlExpr::Value(lookups::to_db(rt, v, Some(kind), "None")?),
                        other => resolve_expression(rt, q, other, allow_joins, reuse.as_deref_mut(), summarize)?,
                    };
                    SqlExpr::Typed(Box::new(SqlExpr::Func("COALESCE", vec![agg, d])), kind)
                }
            }
        }
        Expression::Exists(sub) => {
            let exists = sub.exists_query(true)?;
            SqlExpr::Exists(Box::new(resolve_subquery(rt, q, &exists)?), false)
        }
        Expression::Subquery(sub) => SqlExpr::Subquery(Box::new(resolve_subquery(rt, q, sub)?)),
        Expression::Func(name, args) => {
            let mut reuse = reuse;
            let mut out = Vec::new();
            for a in args {
                out.push(resolve_expression(rt, q, a, allow_joins, reuse.as_deref_mut(), summarize)?);
            }
            if let Some(kind) = name.strip_prefix("EXTRACT_") {
                // Extract.resolve_expression: only dates, datetimes (and times, durations).
                if !matches!(out[0].output_kind(), Some(FieldKind::DateTime | FieldKind::Date)) {
                    return Err(err(ErrorKind::ValueError, "Extract input expression must be DateField, DateTimeField, TimeField, or DurationField."));
                }
                return lookups::apply_transform(out.remove(0), kind);
            }
            if *name == "TRUNCDATE" {
                if out[0].output_kind() != Some(FieldKind::DateTime) {
                    return Err(err(ErrorKind::ValueError, "Cannot truncate DateField '…' to DateTimeField. "));
                }
                return Ok(SqlExpr::Typed(Box::new(SqlExpr::CastDate(Box::new(out.remove(0)))), FieldKind::Date));
            }
            if name.starts_with("TRUNC_") {
                // TruncBase.resolve_expression: only date and time fields truncate.
                if let Some(t) = out[0].target() {
                    if t.kind != FieldKind::DateTime {
                        return Err(err(ErrorKind::TypeError, format!("'{}' isn't a DateField, TimeField, or DateTimeField.", t.name)));
                    }
                }
            }
            SqlExpr::Func(name, out)
        }
        Expression::Case(whens, default) => {
            let mut reuse = reuse;
            let mut out = Vec::new();
            for (cond, val) in whens {
                let (clause, joins) = q.add_q_inner(rt, cond, reuse.as_deref_mut(), false, false, allow_joins, false, summarize)?;
                q.promote_joins(joins);
                out.push((clause, resolve_expression(rt, q, val, allow_joins, reuse.as_deref_mut(), summarize)?));
            }
            let default = resolve_expression(rt, q, default, allow_joins, reuse.as_deref_mut(), summarize)?;
            // Case._resolve_output_field: the type its results share (a NULL default has none).
            let kinds: Vec<Option<FieldKind>> = out
                .iter()
                .map(|(_, v)| v)
                .chain(std::iter::once(&default))
                .filter(|v| !matches!(v, SqlExpr::Value(crate::engine::SqlValue::Null)))
                .map(SqlExpr::output_kind)
                .collect();
            let case = SqlExpr::Case(out, Box::new(default));
            if !kinds.is_empty() && kinds.iter().all(|k| *k == Some(FieldKind::Bool)) {
                SqlExpr::Typed(Box::new(case), FieldKind::Bool)
            } else {
                case
            }
        }
        Expression::Output { inner, field, wrapper } => {
            let sql = match inner.as_ref() {
                // Value.as_sql: the value prepared by its output field (`Value("5",
                // output_field=IntegerField())` is `5`).
                Expression::Value(v) if !*wrapper => SqlExpr::Value(lookups::to_db(rt, v, Some(field.kind), "None")?),
                other => resolve_expression(rt, q, other, allow_joins, reuse, summarize)?,
            };
            SqlExpr::Typed(Box::new(untyped(sql)), field.kind)
        }
        Expression::Cast(inner, field) => {
            let e = untyped(resolve_expression(rt, q, inner, allow_joins, reuse, summarize)?);
            // Cast.as_sqlite: dates and datetimes through SQLite's date functions (a CAST to
            // TEXT would keep whatever the column holds).
            let sql = match field.db_type.as_str() {
                "date" => SqlExpr::Func("date", vec![e]),
                "datetime" => SqlExpr::Func("strftime", vec![SqlExpr::Value(crate::engine::SqlValue::Text("%Y-%m-%d %H:%M:%f".into())), e]),
                t => SqlExpr::Cast(Box::new(e), t.to_string()),
            };
            SqlExpr::Typed(Box::new(sql), field.kind)
        }
        Expression::Condition(cond) => {
            let mut reuse = reuse;
            let (clause, joins) = q.add_q_inner(rt, cond, reuse.as_deref_mut(), false, false, allow_joins, false, summarize)?;
            q.promote_joins(joins);
            SqlExpr::Typed(Box::new(SqlExpr::Condition(Box::new(clause))), FieldKind::Bool)
        }
        Expression::Not(inner) => match resolve_expression(rt, q, inner, allow_joins, reuse, summarize)? {
            SqlExpr::Exists(sub, neg) => SqlExpr::Exists(sub, !neg),
            other => {
                return Err(err(ErrorKind::TypeError, format!("only conditions can be negated with ~, not {other:?}")));
            }
        },
    })
}

/// Django's `_resolve_output_field`, asked when a selected expression's converters are built:
/// the class of the field an expression gives, with Django's errors for types that do not
/// combine. An explicit `output_field` (`Typed`) answers without looking inside.
pub fn output_class(e: &SqlExpr) -> SResult<Option<&'static str>> {
    Ok(match e {
        SqlExpr::Typed(_, k) => Some(k.class_name()),
        // Value._resolve_output_field.
        SqlExpr::Value(v) => match v {
            SqlValue::Null => None,
            SqlValue::Int(_) => Some("IntegerField"),
            SqlValue::Real(_) => Some("FloatField"),
            SqlValue::Text(_) => Some("CharField"),
            SqlValue::Blob(_) => Some("BinaryField"),
        },
        SqlExpr::Ref(_, e) => output_class(e)?,
        SqlExpr::Combined(a, op, b) => combined_class(*op, output_class(a)?, output_class(b)?)?,
        SqlExpr::Func(name, args) if matches!(*name, "COALESCE" | "CONCATPAIR" | "LOWER" | "UPPER" | "GREATEST" | "LEAST" | "NULLIF" | "REPLACE") => {
            let mut sources = Vec::new();
            for a in args {
                sources.push(output_class(a)?);
            }
            mixed_types(sources)?
        }
        SqlExpr::Case(whens, default) => {
            let mut sources = Vec::new();
            for (_, v) in whens {
                sources.push(output_class(v)?);
            }
            sources.push(output_class(default)?);
            mixed_types(sources)?
        }
        // The sample app's CharField subclasses, and auth's AutoField primary key.
        SqlExpr::Col { target, .. } => Some(match (target.kind, target.column) {
            (FieldKind::Char, "slug") => "SlugField",
            (FieldKind::Char, "email") => "EmailField",
            (FieldKind::Auto, _) if target.table == "auth_user" => "AutoField",
            (k, _) => field_class(k),
        }),
        other => other.output_kind().map(field_class),
    })
}

fn field_class(k: FieldKind) -> &'static str {
    match k {
        // A foreign key's column reads as its target's primary key (`ForeignKey.get_col`).
        FieldKind::ForeignKey("User") => "AutoField",
        FieldKind::ForeignKey(_) => "BigAutoField",
        k => k.class_name(),
    }
}

/// `Expression._resolve_output_field`: every source's field must be an instance of the first
/// one's class (sources without a type are skipped).
fn mixed_types(sources: Vec<Option<&'static str>>) -> SResult<Option<&'static str>> {
    let mut it = sources.into_iter().flatten();
    let Some(first) = it.next() else { return Ok(None) };
    for s in it {
        let instance = first == s
            || (s == "IntegerField" && matches!(first, "AutoField" | "BigAutoField"))
            // AutoFieldMeta counts a BigAutoField as an AutoField.
            || (s == "AutoField" && first == "BigAutoField")
            || (s == "CharField" && matches!(first, "SlugField" | "EmailField"));
        if !instance {
            return Err(err(ErrorKind::FieldError, format!("Expression contains mixed types: {first}, {s}. You must set output_field.")));
        }
    }
    Ok(Some(first))
}

/// `CombinedExpression._resolve_output_field` over the numeric rules of Django's
/// `_connector_combinations` (dates and times are left to the engine).
fn combined_class(op: ArithOp, l: Option<&'static str>, r: Option<&'static str>) -> SResult<Option<&'static str>> {
    let int = |c: &str| matches!(c, "IntegerField" | "AutoField" | "BigAutoField");
    let num = |c: &str| int(c) || c == "FloatField";
    Ok(Some(match (l, r) {
        (Some(a), _) | (_, Some(a)) if a.starts_with("Date") => return Ok(Some(a)),
        (Some(a), Some(b)) if int(a) && int(b) => "IntegerField",
        (Some("FloatField"), Some("FloatField")) => "FloatField",
        (Some(a), Some(b)) if op != ArithOp::Pow && num(a) && num(b) => "FloatField",
        (Some(a), None) | (None, Some(a)) if num(a) => if int(a) { "IntegerField" } else { a },
        (None, None) => return Ok(None),
        (a, b) => {
            return Err(err(
                ErrorKind::FieldError,
                format!(
                    "Cannot infer type of '{}' expression involving these types: {}, {}. You must set output_field.",
                    op.sql(),
                    a.unwrap_or("NoneType"),
                    b.unwrap_or("NoneType")
                ),
            ));
        }
    }))
}

/// An expression without the type a wrapper gave it (the outer `output_field` wins).
fn untyped(e: SqlExpr) -> SqlExpr {
    match e {
        SqlExpr::Typed(inner, _) => *inner,
        other => other,
    }
}

fn agg_name(func: &str) -> &'static str {
    match func {
        "COUNT" => "Count",
        "SUM" => "Sum",
        "AVG" => "Avg",
        "MAX" => "Max",
        _ => "Min",
    }
}
