//! Running a SELECT and turning rows into values, as Django's iterables do: model instances
//! (with `select_related` objects cached on them and annotations as attributes), dicts,
//! tuples, flat values or named tuples.

use std::rc::Rc;

use super::compiler::{self, KlassInfo};
use super::expr::Expression;
use super::model::{Instance, RowKind};
use super::expr::Query;
use crate::engine::SqlValue;
use crate::error::SResult;
use crate::runtime::Rt;
use crate::schema::{FieldKind, Model};
use crate::value::Val;
use crate::datetime::DateTime;

/// A database value as the field of `kind` gives it back to Python.
pub fn from_db(v: &SqlValue, kind: Option<FieldKind>) -> Val {
    match (v, kind) {
        (SqlValue::Null, _) => Val::None,
        (SqlValue::Int(i), Some(FieldKind::Bool)) => Val::Bool(*i != 0),
        (SqlValue::Int(i), Some(FieldKind::Float)) => Val::Float(*i as f64),
        (SqlValue::Text(s), Some(FieldKind::Float)) => s.trim().parse::<f64>().map(Val::Float).unwrap_or_else(|_| Val::str(s)),
        (SqlValue::Int(i), _) => Val::Int(*i),
        (SqlValue::Real(f), Some(FieldKind::Int | FieldKind::Auto | FieldKind::ForeignKey(_))) if f.fract() == 0.0 => Val::Int(*f as i64),
        (SqlValue::Real(f), _) => Val::Float(*f),
        (SqlValue::Text(s), Some(FieldKind::DateTime)) => DateTime::parse(s).map(Val::DateTime).unwrap_or_else(|| Val::str(s)),
        (SqlValue::Text(s), Some(FieldKind::Date)) => DateTime::parse(s).map(|d| Val::obj(crate::py::dates::DateObj(d))).unwrap_or_else(|| Val::str(s)),
        (SqlValue::Text(s), Some(FieldKind::Bool)) => Val::Bool(s == "1" || s.eq_ignore_ascii_case("true")),
        (SqlValue::Text(s), _) => Val::str(s),
        (SqlValue::Blob(b), _) => Val::str(String::from_utf8_lossy(b)),
    }
}

/// An aggregate's result as its output field converts it.
pub fn aggregate_value(e: &Expression, v: &SqlValue, model: &'static Model) -> Val {
    match e {
        Expression::Output { field, .. } | Expression::Cast(_, field) => from_db(v, Some(field.kind)),
        Expression::Aggregate { func: "COUNT", .. } => Val::Int(match v {
            SqlValue::Int(i) => *i,
            SqlValue::Real(f) => *f as i64,
            _ => 0,
        }),
        Expression::Aggregate { func: "AVG", .. } => match v {
            SqlValue::Null => Val::None,
            SqlValue::Int(i) => Val::Float(*i as f64),
            SqlValue::Real(f) => Val::Float(*f),
            other => from_db(other, None),
        },
        Expression::Aggregate { arg: Some(a), .. } => {
            let kind = match a.as_ref() {
                Expression::F(path) => field_kind_for_path(model, path),
                _ => None,
            };
            let kind = match kind {
                Some(FieldKind::ForeignKey(_)) | Some(FieldKind::Auto) => Some(FieldKind::Int),
                k => k,
            };
            from_db(v, kind)
        }
        _ => from_db(v, None),
    }
}

fn field_kind_for_path(model: &'static Model, path: &str) -> Option<FieldKind> {
    let mut m = model;
    let parts: Vec<&str> = path.split("__").collect();
    for (i, part) in parts.iter().enumerate() {
        let name = if *part == "pk" { "id" } else { part };
        match super::relations::get_field(m, name) {
            Some(super::expr::GetField::Concrete(f)) if !f.is_relation() => return Some(f.kind),
            Some(super::expr::GetField::Concrete(f)) => {
                if i + 1 == parts.len() {
                    return Some(f.kind);
                }
                let FieldKind::ForeignKey(to) = f.kind else { return None };
                m = crate::schema::model(to)?;
            }
            Some(rel) => {
                let infos = super::relations::path_infos(m, &rel);
                m = infos.last()?.to_model?;
                if i + 1 == parts.len() {
                    return Some(FieldKind::Auto);
                }
            }
            None => return None,
        }
    }
    None
}

/// Runs a SELECT for `q` and builds the rows. `known` are related objects the rows' foreign
/// keys point at and that need no query (a reverse manager's owner).
pub fn run_select(rt: &Rt, q: &Query, kind: &RowKind, known: Option<&[(&'static str, i64, Val)]>) -> SResult<Vec<Val>> {
    let Some(c) = compiler::compile_select(rt, q)? else { return Ok(vec![]) };
    let r = c.run(rt)?;
    rows_of(rt, q, kind, &c, &r.rows, known)
}

/// [`run_select`] through a statement already compiled for `q` but one parameter, which is
/// `value` here.
pub fn run_rebound(rt: &Rt, q: &Query, kind: &RowKind, kept: &compiler::Rebound, value: &SqlValue, known: Option<&[(&'static str, i64, Val)]>) -> SResult<Vec<Val>> {
    let r = kept.run(rt, value)?;
    rows_of(rt, q, kind, &kept.compiled, &r.rows, known)
}

fn rows_of(rt: &Rt, q: &Query, kind: &RowKind, c: &compiler::Compiled, rows: &[Vec<SqlValue>], known: Option<&[(&'static str, i64, Val)]>) -> SResult<Vec<Val>> {
    let rows = build_rows(q, kind, c, rows, known)?;
    // ModelIterable reads each row's foreign key to attach a known parent: a deferred key
    // (`.only(...)` on a related manager) is loaded first, one query per row, as in Django.
    if let (Some(known), RowKind::Models) = (known, kind) {
        for v in &rows {
            let Some(inst) = v.as_obj::<super::model::Instance>() else { continue };
            for (field, pk, obj) in known {
                if inst.fk_cache.borrow().contains_key(field) {
                    continue;
                }
                let Some(f) = inst.model.field(field) else { continue };
                if inst.get_loaded(field).is_none() && inst.pk_value().is_some() {
                    if inst.load_deferred(rt, f)?.as_int() == Some(*pk) {
                        inst.fk_cache.borrow_mut().insert(field, obj.clone());
                    }
                }
            }
        }
    }
    Ok(rows)
}

pub fn build_rows(q: &Query, kind: &RowKind, c: &compiler::Compiled, rows: &[Vec<SqlValue>], known: Option<&[(&'static str, i64, Val)]>) -> SResult<Vec<Val>> {
    let mut out = Vec::with_capacity(rows.len());
    match kind {
        RowKind::Models => {
            let Some(ki) = &c.klass_info else { return Ok(vec![]) };
            let annotations: Vec<(String, usize, Option<FieldKind>)> = c
                .col_map
                .iter()
                .map(|(name, idx)| (name.clone(), *idx, q.annotations.get(name).and_then(|e| e.output_kind())))
                .collect();
            for row in rows {
                let inst = build_instance(ki, row);
                if let Some(inst) = inst {
                    for (name, idx, k) in &annotations {
                        if let Some(v) = row.get(*idx) {
                            inst.extra.borrow_mut().insert(name.clone(), from_db(v, *k));
                        }
                    }
                    if let Some(known) = known {
                        for (field, pk, obj) in known {
                            if inst.get_loaded(field).and_then(|v| v.as_int()) == Some(*pk) {
                                inst.fk_cache.borrow_mut().insert(field, obj.clone());
                            }
                        }
                    }
                    out.push(Val::Obj(inst));
                }
            }
        }
        _ => {
            let names = kind.field_names();
            let kinds: Vec<Option<FieldKind>> = names
                .iter()
                .map(|n| match q.annotations.get(n) {
                    Some(e) => e.output_kind(),
                    None => field_kind_for_path(q.model, n),
                })
                .collect();
            let idx: Vec<usize> = names.iter().enumerate().map(|(i, n)| c.col_map.get(n).copied().unwrap_or(i)).collect();
            for row in rows {
                let vals: Vec<Val> = idx.iter().zip(kinds.iter()).map(|(i, k)| row.get(*i).map(|v| from_db(v, *k)).unwrap_or(Val::None)).collect();
                out.push(match kind {
                    RowKind::Dicts(_) => Val::str_dict(names.iter().cloned().zip(vals).collect::<Vec<_>>()),
                    RowKind::Tuples(_) => Val::tuple(vals),
                    RowKind::Named(_) => Val::obj(NamedRow { names: names.clone(), values: vals }),
                    RowKind::Flat(_) => vals.into_iter().next().unwrap_or(Val::None),
                    RowKind::Models => unreachable!("handled above"),
                });
            }
        }
    }
    Ok(out)
}

/// One instance from its columns, with its `select_related` objects (None when the LEFT JOIN
/// found nothing).
fn build_instance(ki: &KlassInfo, row: &[SqlValue]) -> Option<Rc<Instance>> {
    let pk_idx = ki.fields.iter().find(|(_, f)| f.kind == FieldKind::Auto).map(|(i, _)| *i);
    if let Some(i) = pk_idx {
        if matches!(row.get(i), Some(SqlValue::Null) | None) {
            return None;
        }
    }
    let inst = Instance::new(ki.model);
    for (idx, f) in &ki.fields {
        let v = row.get(*idx).map(|v| from_db(v, Some(f.kind))).unwrap_or(Val::None);
        inst.set_value(f.name, v);
    }
    *inst.path.borrow_mut() = ki.path.clone();
    for (field, rki) in &ki.related {
        let related = build_instance(rki, row).map(|i| Val::Obj(i)).unwrap_or(Val::None);
        inst.fk_cache.borrow_mut().insert(field.name, related);
    }
    Some(inst)
}

/// `values_list(named=True)` rows.
pub struct NamedRow {
    pub names: Vec<String>,
    pub values: Vec<Val>,
}

impl crate::value::Object for NamedRow {
    fn type_name(&self) -> String {
        "Row".into()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match self.names.iter().position(|n| n == name) {
            Some(i) => Ok(self.values[i].clone()),
            None => Err(crate::value::no_attr("Row", name)),
        }
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        Ok(Rc::new(self.values.clone()))
    }
    fn len(&self, _rt: &Rt) -> SResult<usize> {
        Ok(self.values.len())
    }
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        Val::tuple(self.values.clone()).getitem(rt, key)
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        let parts: Vec<String> = self.names.iter().zip(self.values.iter()).map(|(n, v)| Ok(format!("{n}={}", v.repr(rt)?))).collect::<SResult<_>>()?;
        Ok(format!("Row({})", parts.join(", ")))
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        Some(match other {
            Val::Tuple(t) => t.len() == self.values.len() && t.iter().zip(self.values.iter()).all(|(a, b)| a.py_eq(b)),
            _ => false,
        })
    }
    fn pickle(&self, _rt: &Rt) -> Option<SResult<Val>> {
        Some(Ok(Val::obj(NamedRow { names: self.names.clone(), values: self.values.clone() })))
    }
}
