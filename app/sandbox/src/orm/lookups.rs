//! Lookups and transforms (`__icontains`, `__in`, `__isnull`, `__year`, `__day__lte`): which
//! ones a field offers, how the right-hand side is prepared (`get_prep_value`), and Django's
//! messages for the ones it does not offer.

use super::expr::*;
use super::expr::Resolved;
use super::expr::FinalField;
use crate::engine::SqlValue;
use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::runtime::Rt;
use crate::schema::{FieldKind, Model};
use crate::value::Val;
use crate::datetime::DateTime;

/// Django's built-in lookups, in `Field.class_lookups` order (the order suggestions use).
const FIELD_LOOKUPS: &[&str] = &[
    "exact", "iexact", "gt", "gte", "lt", "lte", "in", "contains", "icontains", "startswith", "istartswith", "endswith",
    "iendswith", "range", "isnull", "regex", "iregex",
];

/// Transforms a `DateTimeField` registers.
const DATETIME_TRANSFORMS: &[&str] =
    &["year", "iso_year", "month", "day", "week", "week_day", "iso_week_day", "quarter", "hour", "minute", "second", "date", "time"];

pub fn is_transform(kind: FieldKind, name: &str) -> bool {
    kind == FieldKind::DateTime && DATETIME_TRANSFORMS.contains(&name)
}

fn all_lookup_names(kind: Option<FieldKind>) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = FIELD_LOOKUPS.to_vec();
    if kind == Some(FieldKind::DateTime) {
        v.extend(DATETIME_TRANSFORMS.iter());
    }
    v
}

/// `try_transform`'s error, with difflib's "perhaps you meant" suggestions.
pub fn unsupported(ff: &FinalField, name: &str, lookups: &[String]) -> SandboxError {
    unsupported_for(ff.class_name(), ff.kind(), name, lookups)
}

fn unsupported_for(class: &str, kind: Option<FieldKind>, name: &str, lookups: &[String]) -> SandboxError {
    let names = all_lookup_names(kind);
    let matches = close_matches(name, &names);
    let suggestion = if matches.is_empty() { ".".to_string() } else { format!(", perhaps you meant {}?", matches.join(" or ")) };
    let unsupported = match lookups.iter().position(|l| l == name) {
        Some(i) => lookups[i..].join("__"),
        None => name.to_string(),
    };
    err(ErrorKind::FieldError, format!("Unsupported lookup '{unsupported}' for {class} or join on the field not permitted{suggestion}"))
}

/// `difflib.get_close_matches(word, possibilities)` (n=3, cutoff 0.6).
pub fn close_matches(word: &str, possibilities: &[&str]) -> Vec<String> {
    let mut scored: Vec<(f64, &str)> = possibilities
        .iter()
        .filter_map(|p| {
            let r = sequence_ratio(word, p);
            (r >= 0.6).then_some((r, *p))
        })
        .collect();
    scored.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then_with(|| b.1.cmp(a.1)));
    scored.into_iter().take(3).map(|(_, p)| p.to_string()).collect()
}

/// `SequenceMatcher(None, a, b).ratio()` (Ratcliff/Obershelp, without the junk heuristic).
pub fn sequence_ratio(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    fn matches(a: &[char], b: &[char]) -> usize {
        if a.is_empty() || b.is_empty() {
            return 0;
        }
        // Longest common block (earliest in a, then in b, as difflib picks it).
        let (mut best_i, mut best_j, mut best) = (0, 0, 0);
        let mut prev = vec![0usize; b.len() + 1];
        for i in 0..a.len() {
            let mut cur = vec![0usize; b.len() + 1];
            for j in 0..b.len() {
                if a[i] == b[j] {
                    cur[j + 1] = prev[j] + 1;
                    if cur[j + 1] > best {
                        best = cur[j + 1];
                        best_i = i + 1 - best;
                        best_j = j + 1 - best;
                    }
                }
            }
            prev = cur;
        }
        if best == 0 {
            return 0;
        }
        best + matches(&a[..best_i], &b[..best_j]) + matches(&a[best_i + best..], &b[best_j + best..])
    }
    2.0 * matches(&a, &b) as f64 / (a.len() + b.len()) as f64
}

/// Wraps `lhs` in the transform `name` (`__day` → `Extract('day')`).
pub fn apply_transform(lhs: SqlExpr, name: &str) -> SResult<SqlExpr> {
    let kind = lhs.output_kind();
    match (kind, name) {
        (Some(FieldKind::DateTime), "date") => Ok(SqlExpr::CastDate(Box::new(lhs))),
        (Some(FieldKind::DateTime), "time") => Ok(SqlExpr::CastTime(Box::new(lhs))),
        (Some(FieldKind::DateTime), n) if DATETIME_TRANSFORMS.contains(&n) => {
            let n: &'static str = DATETIME_TRANSFORMS.iter().find(|t| **t == n).copied().expect("checked");
            Ok(SqlExpr::Extract(n, Box::new(lhs)))
        }
        _ => {
            let class = kind.map(super::expr::kind_class).unwrap_or("Field");
            Err(unsupported_for(class, kind, name, &[name.to_string()]))
        }
    }
}

/// `build_lookup`: transforms, then the lookup, with the right-hand side prepared.
pub fn build_lookup(rt: &Rt, lookups: &[String], lhs: SqlExpr, rhs: Resolved, ff: &FinalField) -> SResult<WhereChild> {
    let names: Vec<String> = if lookups.is_empty() { vec!["exact".into()] } else { lookups.to_vec() };
    let (transforms, last) = names.split_at(names.len() - 1);
    let mut lhs = lhs;
    let mut related = ff.is_relation() && transforms.is_empty();
    for t in transforms {
        if related {
            return Err(unsupported(ff, t, &names));
        }
        let before = lhs.clone();
        lhs = apply_transform(lhs, t).map_err(|_| {
            let kind = lhs_kind(&before, ff);
            unsupported_for(class_of(&before, ff), kind, t, &names)
        })?;
        related = false;
    }
    let mut name = last[0].as_str();
    if !FIELD_LOOKUPS.contains(&name) {
        // Not a lookup: maybe a transform, compared with `exact`.
        let kind = lhs_kind(&lhs, ff);
        if related || kind.is_none_or(|k| !is_transform(k, name)) {
            return Err(unsupported_for(class_of(&lhs, ff), kind, name, &names));
        }
        lhs = apply_transform(lhs, name)?;
        related = false;
        name = "exact";
    }
    let name: &'static str = FIELD_LOOKUPS.iter().find(|l| **l == name).copied().expect("checked");
    let kind = lhs_kind(&lhs, ff);
    // `created_at__year=2024` compares with the year's bounds, as Django's YearLookup does.
    if let SqlExpr::Extract(part @ ("year" | "iso_year"), inner) = &lhs {
        if *part == "year" && matches!(name, "exact" | "gt" | "gte" | "lt" | "lte") {
            if let Resolved::Val(v) = &rhs {
                if let Some(y) = year_value(v)? {
                    return Ok(year_lookup(name, (**inner).clone(), y));
                }
            }
        }
    }
    // `__date` compares with DateField's prepared value ('2024-01-07'), not a datetime's.
    let date_lhs = matches!(lhs, SqlExpr::CastDate(_));
    let prep = |rt: &Rt, v: &Val, kind: Option<FieldKind>, related: bool, ff: &FinalField| {
        if date_lhs { to_db_date(rt, v) } else { prep_value(rt, v, kind, related, ff) }
    };
    let rhs = match rhs {
        Resolved::Val(Val::None) => {
            if name == "isnull" || name == "in" {
                return Err(err(ErrorKind::ValueError, if name == "isnull" { "The QuerySet value for an isnull lookup must be True or False." } else { "Cannot use None as a query value" }));
            }
            if name != "exact" && name != "iexact" {
                return Err(err(ErrorKind::ValueError, "Cannot use None as a query value"));
            }
            return Ok(WhereChild::Lookup(Lookup { name: "isnull", lhs, rhs: Rhs::Bool(true) }));
        }
        other => other,
    };
    let rhs = match (name, rhs) {
        ("isnull", Resolved::Val(v)) => match v {
            Val::Bool(b) => Rhs::Bool(b),
            _ => return Err(err(ErrorKind::ValueError, "The QuerySet value for an isnull lookup must be True or False.")),
        },
        ("in", Resolved::Val(v)) => {
            let items = match &v {
                Val::List(_) | Val::Tuple(_) | Val::Set(_) | Val::Dict(_) => v.iterate(rt)?,
                Val::Obj(o) if !o.as_any().is::<super::model::Instance>() => v.iterate(rt)?,
                Val::Str(_) | Val::SafeStr(_) => v.iterate(rt)?,
                other => {
                    return Err(err(ErrorKind::TypeError, format!("'{}' object is not iterable", other.type_name())));
                }
            };
            let mut out: Vec<SqlValue> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for it in items.iter() {
                if it.is_none() {
                    continue;
                }
                let p = prep(rt, it, kind, related, ff)?;
                // OrderedSet: each distinct value once, in order.
                if seen.insert(p.quoted()) {
                    out.push(p);
                }
            }
            Rhs::Values(out)
        }
        ("range", Resolved::Val(v)) => {
            let items = v.iterate(rt)?;
            if items.len() != 2 {
                return Err(err(ErrorKind::ValueError, format!("not enough values to unpack (expected 2, got {})", items.len())));
            }
            Rhs::Values(vec![prep(rt, &items[0], kind, related, ff)?, prep(rt, &items[1], kind, related, ff)?])
        }
        ("iexact" | "contains" | "icontains" | "startswith" | "istartswith" | "endswith" | "iendswith", Resolved::Val(v)) => {
            let s = match prep(rt, &v, kind, related, ff)? {
                SqlValue::Text(s) => s,
                SqlValue::Int(i) => i.to_string(),
                SqlValue::Real(f) => crate::pyfmt::python_float_repr(f),
                other => other.quoted(),
            };
            let esc = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            Rhs::Value(SqlValue::Text(match name {
                "iexact" => esc,
                "contains" | "icontains" => format!("%{esc}%"),
                "startswith" | "istartswith" => format!("{esc}%"),
                _ => format!("%{esc}"),
            }))
        }
        ("regex" | "iregex", Resolved::Val(v)) => Rhs::Value(prep(rt, &v, Some(FieldKind::Char), false, ff)?),
        (_, Resolved::Val(v)) => Rhs::Value(prep(rt, &v, kind, related, ff)?),
        (_, Resolved::Expr(e)) => Rhs::Expr(e),
        ("in", Resolved::Query(mut q)) => {
            // In.get_prep_lookup: the subquery's order is dropped (kept when it is sliced).
            q.clear_ordering(false, true);
            if q.selected.is_none() && q.select.is_empty() {
                q.clear_select_clause();
                q.add_fields(&["pk".to_string()], true)?;
            }
            Rhs::Expr(SqlExpr::Subquery(q))
        }
        ("exact", Resolved::Query(mut q)) => {
            if !q.has_limit_one() {
                return Err(err(ErrorKind::ValueError, "The QuerySet value for an exact lookup must be limited to one result using slicing."));
            }
            if q.selected.is_none() && q.select.is_empty() {
                q.clear_select_clause();
                q.add_fields(&["pk".to_string()], true)?;
            }
            Rhs::Expr(SqlExpr::Subquery(q))
        }
        (_, Resolved::Query(q)) => Rhs::Expr(SqlExpr::Subquery(q)),
    };
    // Exact.as_sql: a boolean column compared with a bool is the column itself (`WHERE
    // "auth_user"."is_staff"`, `WHERE NOT "auth_user"."is_staff"`). BooleanField prepares
    // 1/0/'true'/… to a bool, so those take the shortcut too.
    let rhs = match (name, kind, rhs) {
        ("exact", Some(FieldKind::Bool), Rhs::Value(SqlValue::Int(b @ (0 | 1)))) => Rhs::Bool(b == 1),
        (_, _, rhs) => rhs,
    };
    Ok(WhereChild::Lookup(Lookup { name, lhs, rhs }))
}

fn lhs_kind(lhs: &SqlExpr, ff: &FinalField) -> Option<FieldKind> {
    match lhs {
        SqlExpr::Col { target, .. } => match ff {
            FinalField::Annotation(_) => Some(target.kind),
            _ if ff.is_relation() => ff.kind().or(Some(target.kind)),
            _ => Some(target.kind),
        },
        other => other.output_kind().or_else(|| ff.kind()),
    }
}

fn class_of(lhs: &SqlExpr, ff: &FinalField) -> &'static str {
    match lhs {
        SqlExpr::Col { .. } => ff.class_name(),
        SqlExpr::Extract(..) => "IntegerField",
        SqlExpr::CastDate(_) => "DateField",
        SqlExpr::CastTime(_) => "TimeField",
        other => other.output_kind().map(super::expr::kind_class).unwrap_or("Field"),
    }
}

fn year_value(v: &Val) -> SResult<Option<i64>> {
    Ok(match v {
        Val::Int(i) => Some(*i),
        Val::Bool(b) => Some(*b as i64),
        Val::Str(s) | Val::SafeStr(s) => Some(s.trim().parse().map_err(|_| err(ErrorKind::ValueError, format!("Field 'None' expected a number but got '{s}'.")))?),
        Val::Float(f) => Some(*f as i64),
        _ => None,
    })
}

/// `YearExact`/`YearGt`/…: a BETWEEN or comparison with the year's first and last instants.
fn year_lookup(name: &'static str, col: SqlExpr, year: i64) -> WhereChild {
    let start = SqlValue::Text(format!("{year:04}-01-01 00:00:00"));
    let end = SqlValue::Text(format!("{year:04}-12-31 23:59:59.999999"));
    let (lname, rhs) = match name {
        "exact" => ("range", Rhs::Values(vec![start, end])),
        "gt" => ("gt", Rhs::Value(end)),
        "gte" => ("gte", Rhs::Value(start)),
        "lt" => ("lt", Rhs::Value(start)),
        _ => ("lte", Rhs::Value(end)),
    };
    WhereChild::Lookup(Lookup { name: lname, lhs: col, rhs })
}

/// `get_prep_value` + `get_db_prep_value` of the field the lookup compares: what Django sends.
pub fn prep_value(rt: &Rt, v: &Val, kind: Option<FieldKind>, related: bool, ff: &FinalField) -> SResult<SqlValue> {
    let field_name = match ff {
        FinalField::Field(_, f) if !related => f.name,
        // Related lookups compare the target's pk.
        _ => "id",
    };
    if let Val::Obj(o) = v {
        if let Some(inst) = o.as_any().downcast_ref::<super::model::Instance>() {
            if related || matches!(kind, Some(FieldKind::Auto | FieldKind::ForeignKey(_))) {
                return match inst.pk_value() {
                    Some(pk) => Ok(SqlValue::Int(pk)),
                    None => Err(err(ErrorKind::ValueError, "Model instances passed to related filters must be saved.")),
                };
            }
        }
    }
    to_db(rt, v, kind, field_name)
}

/// Converts a Python value to what Django stores for a field of `kind`, with Django's
/// messages for values the field refuses.
pub fn to_db(rt: &Rt, v: &Val, kind: Option<FieldKind>, field_name: &str) -> SResult<SqlValue> {
    let expected_number = |got: String| err(ErrorKind::ValueError, format!("Field '{field_name}' expected a number but got {got}."));
    Ok(match (kind, v) {
        (_, Val::None) => SqlValue::Null,
        (Some(FieldKind::Auto | FieldKind::Int | FieldKind::ForeignKey(_)), v) => match v {
            Val::Int(i) => SqlValue::Int(*i),
            Val::Bool(b) => SqlValue::Int(*b as i64),
            Val::Float(f) => SqlValue::Int(f.trunc() as i64),
            Val::Str(s) | Val::SafeStr(s) => match crate::pyfmt::parse_py_int(s) {
                Some(i) => SqlValue::Int(i),
                None => return Err(expected_number(crate::pyfmt::python_str_repr(s))),
            },
            Val::Obj(o) => match o.pk() {
                Some(pk) => SqlValue::Int(pk),
                None => return Err(expected_number(v.repr(rt)?)),
            },
            other => return Err(expected_number(other.repr(rt)?)),
        },
        // FloatField.get_prep_value: float(value).
        (Some(FieldKind::Float), v) => match v {
            Val::Float(f) => SqlValue::Real(*f),
            Val::Int(i) => SqlValue::Real(*i as f64),
            Val::Bool(b) => SqlValue::Real(*b as i64 as f64),
            Val::Str(s) | Val::SafeStr(s) => match s.trim().replace('_', "").parse::<f64>() {
                Ok(f) if !s.trim().is_empty() => SqlValue::Real(f),
                _ => return Err(expected_number(crate::pyfmt::python_str_repr(s))),
            },
            other => return Err(expected_number(other.repr(rt)?)),
        },
        (Some(FieldKind::Char | FieldKind::Text), v) => SqlValue::Text(match v {
            Val::Str(s) | Val::SafeStr(s) => s.to_string(),
            other => other.to_str(rt)?,
        }),
        (Some(FieldKind::Bool), v) => match v {
            Val::Bool(b) => SqlValue::Int(*b as i64),
            Val::Int(0) => SqlValue::Int(0),
            Val::Int(1) => SqlValue::Int(1),
            Val::Str(s) | Val::SafeStr(s) if matches!(&**s, "t" | "True" | "1") => SqlValue::Int(1),
            Val::Str(s) | Val::SafeStr(s) if matches!(&**s, "f" | "False" | "0") => SqlValue::Int(0),
            other => {
                return Err(exc("ValidationError", format!("['“{}” value must be either True or False.']", other.to_str(rt)?)))
            }
        },
        (Some(FieldKind::Date), v) => match v.as_obj::<crate::py::dates::DateObj>() {
            Some(d) => SqlValue::Text(d.iso()),
            None => match v {
                Val::DateTime(d) => SqlValue::Text(format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)),
                other => plain(rt, other)?,
            },
        },
        (Some(FieldKind::DateTime), v) => match v {
            Val::DateTime(d) => SqlValue::Text(d.to_sql()),
            Val::Str(s) | Val::SafeStr(s) => match DateTime::parse(s) {
                Some(d) => SqlValue::Text(d.to_sql()),
                None => {
                    return Err(exc(
                        "ValidationError",
                        format!("['“{s}” value has an invalid format. It must be in YYYY-MM-DD HH:MM[:ss[.uuuuuu]][TZ] format.']"),
                    ))
                }
            },
            other => {
                return Err(err(ErrorKind::TypeError, format!("expected string or bytes-like object, got '{}'", other.type_name())))
            }
        },
        (None, v) => plain(rt, v)?,
    })
}

/// DateField.get_prep_value + adapt_datefield_value: a date (a datetime gives its date) as
/// `YYYY-MM-DD`, with DateField's messages for strings it cannot read.
pub fn to_db_date(rt: &Rt, v: &Val) -> SResult<SqlValue> {
    match v {
        Val::DateTime(d) => Ok(SqlValue::Text(d.to_sql().chars().take(10).collect())),
        Val::Str(s) | Val::SafeStr(s) => {
            let parts: Vec<&str> = s.split('-').collect();
            let digits = |p: &str, n: std::ops::RangeInclusive<usize>| n.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
            if parts.len() == 3 && digits(parts[0], 4..=4) && digits(parts[1], 1..=2) && digits(parts[2], 1..=2) {
                let (y, m, d): (i32, u32, u32) = (parts[0].parse().unwrap_or(0), parts[1].parse().unwrap_or(0), parts[2].parse().unwrap_or(0));
                if (1..=12).contains(&m) && d >= 1 && d <= crate::datetime::days_in_month(y, m) && y >= 1 {
                    return Ok(SqlValue::Text(format!("{y:04}-{m:02}-{d:02}")));
                }
                return Err(exc("ValidationError", format!("['“{s}” value has the correct format (YYYY-MM-DD) but it is an invalid date.']")));
            }
            Err(exc("ValidationError", format!("['“{s}” value has an invalid date format. It must be in YYYY-MM-DD format.']")))
        }
        Val::None => Ok(SqlValue::Null),
        other => Err(err(ErrorKind::TypeError, format!("fromisoformat: argument must be str, not {}", other.type_name()))).map(|x: SqlValue| {
            let _ = rt;
            x
        }),
    }
}

/// A parameter with no field to convert for (annotations, `Value()`).
pub fn plain(rt: &Rt, v: &Val) -> SResult<SqlValue> {
    Ok(match v {
        Val::None => SqlValue::Null,
        Val::Bool(b) => SqlValue::Int(*b as i64),
        Val::Int(i) => SqlValue::Int(*i),
        Val::Float(f) => SqlValue::Real(*f),
        Val::Str(s) | Val::SafeStr(s) => SqlValue::Text(s.to_string()),
        Val::DateTime(d) => SqlValue::Text(d.to_sql()),
        Val::Obj(o) => match o.pk() {
            Some(pk) => SqlValue::Int(pk),
            None => return Err(err(ErrorKind::TypeError, format!("Error binding parameter: type '{}' is not supported", v.type_name()))),
        },
        other => return Err(err(ErrorKind::TypeError, format!("Error binding parameter: type '{}' is not supported", other.type_name()))),
    }
    .clone())
    .map(|x| {
        let _ = rt;
        x
    })
}

/// `check_related_objects`: an instance (or queryset) of the wrong model is refused.
pub fn check_related_objects(ff: &FinalField, value: &Resolved, opts: &'static Model) -> SResult<()> {
    if !ff.is_relation() {
        return Ok(());
    }
    let check = |v: &Val| -> SResult<()> {
        if let Some(inst) = v.as_obj::<super::model::Instance>() {
            if inst.model.name != opts.name && !reverse_compatible(ff, inst.model) {
                return Err(err(ErrorKind::ValueError, format!("Cannot query \"{}\": Must be \"{}\" instance.", inst.display_for_error(), opts.name)));
            }
        }
        Ok(())
    };
    match value {
        Resolved::Val(v @ Val::Obj(_)) => check(v),
        Resolved::Val(Val::List(l)) => l.borrow().iter().try_for_each(check),
        Resolved::Val(Val::Tuple(t)) => t.iter().try_for_each(check),
        Resolved::Query(q) => {
            if q.selected.is_none() && q.select.is_empty() && q.model.name != opts.name {
                return Err(err(ErrorKind::ValueError, format!("Cannot use QuerySet for \"{}\": Use a QuerySet for \"{}\".", q.model.name, opts.name)));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn reverse_compatible(ff: &FinalField, model: &'static Model) -> bool {
    matches!(ff, FinalField::Relation(m) if m.name == model.name)
}
