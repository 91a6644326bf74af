//! Writes as Django 5.2 sends them: `save()` (UPDATE, then INSERT when nothing was updated),
//! `create`, `get_or_create`, `update_or_create`, `bulk_create`, `bulk_update`,
//! `QuerySet.update` (with a `pk IN (subquery)` when it filters across relations),
//! deletion through Django's `Collector` (fast deletes, cascades, SET_NULL updates, in its
//! order), many-to-many `add/remove/set/clear`, the signals each sends, and `explain()`.

use std::rc::Rc;

use super::compiler;
use super::expr::*;
use super::model::RowKind;
use super::model::{field_default, Instance};
use super::lookups::to_db;
use super::model::{QuerySetObj, RelatedManager};
use super::expr::Query;
use crate::db::transaction;
use super::events;
use crate::engine::SqlValue;
use crate::error::{err, exc, ErrorKind, SResult};
use crate::py::pyset::IntSet;
use crate::runtime::Rt;
use crate::schema::{self, Field, FieldKind, Model, OnDelete, Relation, MODELS};
use crate::value::{Kwargs, Val};

fn kwarg(kwargs: &Kwargs, name: &str) -> Option<Val> {
    kwargs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn instance_val(i: &Rc<Instance>) -> Val {
    Val::Obj(i.clone())
}

/// The value Django stores for `field` of `inst` (`get_db_prep_save`).
fn db_value(rt: &Rt, inst: &Instance, f: &'static Field) -> SResult<SqlValue> {
    let v = inst.get_loaded(f.name).unwrap_or(Val::None);
    to_db(rt, &v, Some(f.kind), f.name)
}

fn qn(s: &str) -> String {
    format!("\"{s}\"")
}

// ---------------------------------------------------------------- save

pub fn save(rt: &Rt, inst: &Rc<Instance>, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    if !args.is_empty() {
        return Err(err(ErrorKind::TypeError, "Model.save() takes 1 positional argument but more were given"));
    }
    let force_insert = match kwarg(&kwargs, "force_insert") {
        Some(v) => v.truthy(rt)?,
        None => false,
    };
    let force_update = match kwarg(&kwargs, "force_update") {
        Some(v) => v.truthy(rt)?,
        None => false,
    };
    for (k, _) in &kwargs {
        if !matches!(k.as_str(), "force_insert" | "force_update" | "update_fields" | "using") {
            return Err(err(ErrorKind::TypeError, format!("Model.save() got an unexpected keyword argument '{k}'")));
        }
    }
    if force_insert && force_update {
        return Err(err(ErrorKind::ValueError, "Cannot force both insert and updating in model saving."));
    }
    let update_fields: Option<Vec<String>> = match kwarg(&kwargs, "update_fields") {
        None | Some(Val::None) => None,
        Some(v) => Some(v.iterate(rt)?.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect()),
    };
    let model = inst.model;
    if let Some(uf) = &update_fields {
        if uf.is_empty() {
            return Ok(Val::None);
        }
        let bad: Vec<&String> = uf.iter().filter(|n| !model.fields.iter().any(|f| f.name == n.as_str() || f.attname() == n.as_str())).collect();
        if !bad.is_empty() {
            return Err(err(
                ErrorKind::ValueError,
                format!("The following fields do not exist in this model, are m2m fields, or are non-concrete fields: {}", bad.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
            ));
        }
    }
    // `_prepare_related_fields_for_save`.
    for f in model.fields.iter().filter(|f| f.is_relation()) {
        if let Some(Val::Obj(o)) = inst.fk_cache.borrow().get(f.name).cloned() {
            if let Some(rel) = o.as_any().downcast_ref::<Instance>() {
                match rel.pk_value() {
                    None => return Err(err(ErrorKind::ValueError, format!("save() prohibited to prevent data loss due to unsaved related object '{}'.", f.name))),
                    Some(pk) => {
                        if inst.get_loaded(f.name).and_then(|v| v.as_int()) != Some(pk) {
                            inst.set_value(f.name, Val::Int(pk));
                        }
                    }
                }
            }
        }
    }
    let uf_val = update_fields.as_ref().map(|u| crate::value::Val::set_of(u.iter().map(Val::str).collect()).unwrap_or(Val::None)).unwrap_or(Val::None);
    events::send(rt, "pre_save", model, vec![("instance".into(), instance_val(inst)), ("raw".into(), Val::Bool(false)), ("using".into(), Val::str("default")), ("update_fields".into(), uf_val.clone())])?;
    let updated = transaction::mark_for_rollback_on_error(rt, || save_table(rt, inst, force_insert, force_update, update_fields.as_deref()))?;
    inst.adding.set(false);
    events::send(
        rt,
        "post_save",
        model,
        vec![
            ("instance".into(), instance_val(inst)),
            ("created".into(), Val::Bool(!updated)),
            ("update_fields".into(), uf_val),
            ("raw".into(), Val::Bool(false)),
            ("using".into(), Val::str("default")),
        ],
    )?;
    Ok(Val::None)
}

/// `_save_table`: whether an UPDATE matched (else it inserted).
fn save_table(rt: &Rt, inst: &Rc<Instance>, force_insert: bool, force_update: bool, update_fields: Option<&[String]>) -> SResult<bool> {
    let model = inst.model;
    let pk = inst.get_loaded("id").unwrap_or(Val::None);
    let pk_set = !pk.is_none();
    if !pk_set && (force_update || update_fields.is_some()) {
        return Err(err(ErrorKind::ValueError, "Cannot force an update in save() with no primary key."));
    }
    let mut updated = false;
    if pk_set && !force_insert {
        let non_pks: Vec<&'static Field> = model
            .fields
            .iter()
            .filter(|f| f.kind != FieldKind::Auto)
            .filter(|f| update_fields.is_none_or(|u| u.iter().any(|n| n == f.name || n == f.attname())))
            .collect();
        let mut q = QuerySetObj::for_model(model).query;
        q.add_q(rt, &QTree::Leaf(Rc::from("pk"), FilterValue::Val(pk.clone())))?;
        if non_pks.is_empty() {
            updated = update_fields.is_some() || exists(rt, &q)?;
        } else {
            let mut values = Vec::new();
            for f in &non_pks {
                let v = db_value(rt, inst, f)?;
                values.push(match v {
                    SqlValue::Null => (f.column, "NULL".to_string(), vec![]),
                    v => (f.column, "%s".to_string(), vec![v]),
                });
            }
            let n = match compiler::compile_update(rt, &q, &values)? {
                Some((sql, params)) => rt.query(&sql, &params)?.changes,
                None => 0,
            };
            updated = n > 0;
        }
        if force_update && !updated {
            return Err(exc("DatabaseError", "Forced update did not affect any rows."));
        }
        if update_fields.is_some() && !updated {
            return Err(exc("DatabaseError", "Save with update_fields did not affect any rows."));
        }
    }
    if !updated {
        let fields: Vec<&'static Field> = model.fields.iter().filter(|f| pk_set || f.kind != FieldKind::Auto).collect();
        let mut row = Vec::new();
        for f in &fields {
            row.push(db_value(rt, inst, f)?);
        }
        let (sql, params) = compiler::compile_insert(model, &fields, &[row], true);
        let r = rt.query(&sql, &params)?;
        if let Some(id) = r.rows.first().and_then(|r| r.first()) {
            inst.set_value("id", super::fetch::from_db(id, Some(FieldKind::Auto)));
        }
    }
    Ok(updated)
}

fn exists(rt: &Rt, q: &Query) -> SResult<bool> {
    let e = q.exists_query(true)?;
    match compiler::compile_select(rt, &e)? {
        Some(c) => Ok(!c.run(rt)?.rows.is_empty()),
        None => Ok(false),
    }
}

pub fn create(rt: &Rt, model: &'static Model, kwargs: Kwargs) -> SResult<Val> {
    let obj = Instance::construct(rt, model, vec![], kwargs)?;
    let inst = obj.as_obj::<Instance>().expect("constructed").rc();
    save(rt, &inst, vec![], vec![("force_insert".into(), Val::Bool(true))])?;
    Ok(obj)
}

/// `_extract_model_params`: lookups without `__` plus `defaults`.
fn model_params(rt: &Rt, model: &'static Model, defaults: Option<Val>, kwargs: &Kwargs) -> SResult<Kwargs> {
    let mut params: Kwargs = kwargs.iter().filter(|(k, _)| !k.contains("__")).cloned().collect();
    if let Some(Val::Dict(d)) = defaults {
        for (k, v) in d.borrow().items() {
            let k = k.as_str().unwrap_or("").to_string();
            params.retain(|(n, _)| *n != k);
            params.push((k, v));
        }
    }
    let mut invalid = Vec::new();
    for (k, _) in &params {
        let ok = k == "pk" || model.fields.iter().any(|f| f.name == k || f.attname() == k);
        if !ok {
            invalid.push(k.clone());
        }
    }
    if !invalid.is_empty() {
        return Err(err(ErrorKind::FieldError, format!("Invalid field name(s) for model {}: '{}'.", model.name, invalid.join("', '"))));
    }
    // Callable defaults are called.
    let mut out = Vec::new();
    for (k, v) in params {
        let v = match &v {
            Val::Obj(o) if o.is_callable() => crate::value::call_value(rt, &v, vec![], vec![])?,
            _ => v,
        };
        out.push((k, v));
    }
    Ok(out)
}

pub fn get_or_create(rt: &Rt, qs: &QuerySetObj, kwargs: Kwargs) -> SResult<Val> {
    let defaults = kwarg(&kwargs, "defaults");
    let lookup: Kwargs = kwargs.into_iter().filter(|(k, _)| k != "defaults").collect();
    match qs.get(rt, vec![], lookup.clone()) {
        Ok(obj) => Ok(Val::tuple(vec![obj, Val::Bool(false)])),
        Err(e) if e.kind == ErrorKind::DoesNotExist => {
            let params = model_params(rt, qs.model, defaults, &lookup)?;
            let created = transaction::atomic(rt, true, || create(rt, qs.model, params));
            match created {
                Ok(obj) => Ok(Val::tuple(vec![obj, Val::Bool(true)])),
                Err(e) if e.is_a("IntegrityError") => match qs.get(rt, vec![], lookup) {
                    Ok(obj) => Ok(Val::tuple(vec![obj, Val::Bool(false)])),
                    Err(e2) if e2.kind == ErrorKind::DoesNotExist => Err(e),
                    Err(e2) => Err(e2),
                },
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

pub fn update_or_create(rt: &Rt, qs: &QuerySetObj, kwargs: Kwargs) -> SResult<Val> {
    let defaults = kwarg(&kwargs, "defaults");
    let create_defaults = kwarg(&kwargs, "create_defaults");
    let lookup: Kwargs = kwargs.into_iter().filter(|(k, _)| k != "defaults" && k != "create_defaults").collect();
    transaction::atomic(rt, true, || {
        let mut goc_kwargs = lookup.clone();
        if let Some(d) = create_defaults.clone().or_else(|| defaults.clone()) {
            goc_kwargs.push(("defaults".into(), d));
        }
        let r = get_or_create(rt, qs, goc_kwargs)?;
        let items = r.seq_items().expect("a tuple");
        if matches!(items[1], Val::Bool(true)) {
            return Ok(r);
        }
        let obj = items[0].clone();
        let inst = obj.as_obj::<Instance>().expect("an instance").rc();
        let mut names = Vec::new();
        if let Some(Val::Dict(d)) = &defaults {
            for (k, v) in d.borrow().items() {
                let k = k.as_str().unwrap_or("").to_string();
                let v = match &v {
                    Val::Obj(o) if o.is_callable() => crate::value::call_value(rt, &v, vec![], vec![])?,
                    _ => v,
                };
                inst.set_attr(rt, &k, v)?;
                names.push(Val::str(&k));
            }
        }
        let concrete = names.iter().all(|n| qs.model.fields.iter().any(|f| f.kind != FieldKind::Auto && (Some(f.name) == n.as_str() || Some(f.attname()) == n.as_str())));
        if concrete {
            save(rt, &inst, vec![], vec![("update_fields".into(), Val::list(names))])?;
        } else {
            save(rt, &inst, vec![], vec![])?;
        }
        Ok(Val::tuple(vec![obj, Val::Bool(false)]))
    })
}

/// SQLite's `bulk_batch_size`: 500 rows for one field, else 999 parameters' worth.
fn batch_size_for(n_fields: usize) -> usize {
    if n_fields <= 1 {
        500
    } else {
        (999 / n_fields).max(1)
    }
}

pub fn bulk_create(rt: &Rt, model: &'static Model, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let a = crate::py::args::bind("bulk_create", args, kwargs, &["objs", "batch_size", "ignore_conflicts", "update_conflicts", "update_fields", "unique_fields"], 1)?;
    let objs_val = a[0].clone().expect("required");
    let batch_size = a[1].as_ref().and_then(|v| v.as_int());
    if batch_size.is_some_and(|b| b <= 0) {
        return Err(err(ErrorKind::ValueError, "Batch size must be a positive integer."));
    }
    let ignore = match &a[2] {
        Some(v) => v.truthy(rt)?,
        None => false,
    };
    let objs: Vec<Rc<Instance>> = objs_val
        .iterate(rt)?
        .iter()
        .map(|o| o.as_obj::<Instance>().filter(|i| i.model.name == model.name).map(|i| i.rc()).ok_or_else(|| err(ErrorKind::TypeError, format!("bulk_create() expects {} instances", model.name))))
        .collect::<SResult<_>>()?;
    if objs.is_empty() {
        return Ok(Val::list(vec![]));
    }
    for o in &objs {
        for f in model.fields.iter().filter(|f| f.is_relation()) {
            if let Some(Val::Obj(r)) = o.fk_cache.borrow().get(f.name).cloned() {
                if let Some(ri) = r.as_any().downcast_ref::<Instance>() {
                    match ri.pk_value() {
                        None => return Err(err(ErrorKind::ValueError, format!("bulk_create() prohibited to prevent data loss due to unsaved related object '{}'.", f.name))),
                        Some(pk) => o.set_value(f.name, Val::Int(pk)),
                    }
                }
            }
        }
    }
    transaction::atomic(rt, false, || {
        let (with_pk, without_pk): (Vec<Rc<Instance>>, Vec<Rc<Instance>>) = objs.iter().cloned().partition(|o| o.pk_value().is_some());
        for (group, include_pk) in [(with_pk, true), (without_pk, false)] {
            if group.is_empty() {
                continue;
            }
            let fields: Vec<&'static Field> = model.fields.iter().filter(|f| include_pk || f.kind != FieldKind::Auto).collect();
            let max = batch_size_for(fields.len());
            let bs = batch_size.map(|b| (b as usize).min(max)).unwrap_or(max);
            for chunk in group.chunks(bs) {
                let mut rows = Vec::new();
                for o in chunk {
                    rows.push(fields.iter().map(|f| db_value(rt, o, f)).collect::<SResult<Vec<_>>>()?);
                }
                let (mut sql, params) = compiler::compile_insert(model, &fields, &rows, !ignore);
                if ignore {
                    sql = sql.replacen("INSERT INTO", "INSERT OR IGNORE INTO", 1);
                }
                let r = rt.query(&sql, &params)?;
                if !ignore {
                    for (o, row) in chunk.iter().zip(r.rows.iter()) {
                        if let Some(id) = row.first() {
                            o.set_value("id", super::fetch::from_db(id, Some(FieldKind::Auto)));
                        }
                        o.adding.set(false);
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(Val::list(objs.into_iter().map(|i| Val::Obj(i)).collect()))
}

pub fn bulk_update(rt: &Rt, qs: &QuerySetObj, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let a = crate::py::args::bind("bulk_update", args, kwargs, &["objs", "fields", "batch_size"], 2)?;
    let model = qs.model;
    let batch = a[2].as_ref().and_then(|v| v.as_int());
    if batch.is_some_and(|b| b <= 0) {
        return Err(err(ErrorKind::ValueError, "Batch size must be a positive integer."));
    }
    let names: Vec<String> = a[1].as_ref().expect("required").iterate(rt)?.iter().map(|v| v.as_str().unwrap_or("").to_string()).collect();
    if names.is_empty() {
        return Err(err(ErrorKind::ValueError, "Field names must be given to bulk_update()."));
    }
    let objs: Vec<Rc<Instance>> = a[0].as_ref().expect("required").iterate(rt)?.iter().filter_map(|o| o.as_obj::<Instance>().map(|i| i.rc())).collect();
    if objs.iter().any(|o| o.pk_value().is_none()) {
        return Err(err(ErrorKind::ValueError, "All bulk_update() objects must have a primary key set."));
    }
    let mut fields = Vec::new();
    for n in &names {
        match model.fields.iter().find(|f| f.name == n.as_str()) {
            Some(f) if f.kind == FieldKind::Auto => return Err(err(ErrorKind::ValueError, "bulk_update() cannot be used with primary key fields.")),
            Some(f) => fields.push(f),
            None if model.m2m.iter().any(|m| m.name == n.as_str()) => return Err(err(ErrorKind::ValueError, "bulk_update() can only be used with concrete fields.")),
            None => return Err(exc("FieldDoesNotExist", format!("{} has no field named '{n}'", model.name))),
        }
    }
    if objs.is_empty() {
        return Ok(Val::Int(0));
    }
    let max = batch_size_for(2 + fields.len());
    let bs = batch.map(|b| (b as usize).min(max)).unwrap_or(max);
    transaction::atomic(rt, false, || {
        let mut total = 0;
        for chunk in objs.chunks(bs) {
            let pks: Vec<Val> = chunk.iter().map(|o| Val::Int(o.pk_value().expect("checked"))).collect();
            let mut q = QuerySetObj::for_model(model).query;
            q.add_q(rt, &QTree::Leaf(Rc::from("pk__in"), FilterValue::Val(Val::list(pks))))?;
            let alias = q.get_initial_alias();
            let pk_target = Target::of(model, model.pk_field());
            let mut values = Vec::new();
            for f in &fields {
                let mut sql = String::from("CASE");
                let mut params = Vec::new();
                for o in chunk {
                    params.push(SqlValue::Int(o.pk_value().expect("checked")));
                    let v = db_value(rt, o, f)?;
                    let col = format!("{}.{}", qn(&alias), qn(pk_target.column));
                    match v {
                        SqlValue::Null => sql.push_str(&format!(" WHEN ({col} = %s) THEN NULL")),
                        v => {
                            sql.push_str(&format!(" WHEN ({col} = %s) THEN %s"));
                            params.push(v);
                        }
                    }
                }
                sql.push_str(" ELSE NULL END");
                values.push((f.column, sql, params));
            }
            if let Some((sql, params)) = compiler::compile_update(rt, &q, &values)? {
                total += rt.query(&sql, &params)?.changes;
            }
        }
        Ok(Val::Int(total))
    })
}

// ---------------------------------------------------------------- QuerySet.update

pub fn queryset_update(rt: &Rt, qs: &QuerySetObj, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    if !args.is_empty() {
        return Err(err(ErrorKind::TypeError, format!("QuerySet.update() takes 1 positional argument but {} were given", args.len() + 1)));
    }
    if qs.query.is_sliced() {
        return Err(err(ErrorKind::TypeError, "Cannot update a query once a slice has been taken."));
    }
    if kwargs.is_empty() {
        return Err(err(ErrorKind::TypeError, "update() missing keyword arguments"));
    }
    let model = qs.model;
    let mut q = qs.query.chain();
    // Values to set, in the order given.
    let mut sets: Vec<(&'static Field, Val)> = Vec::new();
    for (k, v) in kwargs {
        let name = if k == "pk" { "id".to_string() } else { k.clone() };
        let f = match model.fields.iter().find(|f| f.name == name || f.attname() == name) {
            Some(f) => f,
            None => {
                if model.relation(&name).is_some() {
                    return Err(err(ErrorKind::FieldError, format!("Cannot update model field <{}: {name}> (only non-relations and foreign keys permitted).", if model.m2m.iter().any(|m| m.name == name) { "django.db.models.fields.related.ManyToManyField" } else { "ManyToOneRel" })));
                }
                return Err(exc("FieldDoesNotExist", format!("{} has no field named '{name}'", model.name)));
            }
        };
        sets.push((f, v));
    }
    // Filters across relations: the rows are picked by a `pk IN (subquery)`.
    let mut probe = q.clone();
    probe.get_initial_alias();
    if probe.count_active_tables() > 1 {
        let mut inner = q.chain();
        inner.select_related = super::expr::SelectRelated::No;
        inner.clear_ordering(true, true);
        inner.annotations.clear();
        inner.annotation_select_mask = None;
        inner.add_fields(&["pk".to_string()], true)?;
        let mut outer = Query::new(model);
        outer.add_q(rt, &QTree::Leaf(Rc::from("pk__in"), FilterValue::Query(Box::new(inner))))?;
        q = outer;
    }
    q.annotations.clear();
    let mut values = Vec::new();
    for (f, v) in &sets {
        if let Some(e) = super::api::expression_of(v) {
            let resolved = super::resolve::resolve_expression(rt, &mut q, &e, false, None, false)?;
            if resolved.contains_aggregate() {
                return Err(err(ErrorKind::FieldError, format!("Aggregate functions are not allowed in this query ({}={}).", f.name, e.describe())));
            }
            let (sql, params) = compiler::compile_update_expr(rt, &q, &resolved)?;
            values.push((f.column, sql, params));
            continue;
        }
        let p = super::lookups::prep_value(rt, v, Some(f.kind), f.is_relation(), &super::expr::FinalField::Field(model, f))?;
        values.push(match p {
            SqlValue::Null => (f.column, "NULL".to_string(), vec![]),
            p => (f.column, "%s".to_string(), vec![p]),
        });
    }
    *qs.cache.borrow_mut() = None;
    let n = transaction::mark_for_rollback_on_error(rt, || match compiler::compile_update(rt, &q, &values)? {
        Some((sql, params)) => Ok(rt.query(&sql, &params)?.changes),
        None => Ok(0),
    })?;
    Ok(Val::Int(n))
}

// ---------------------------------------------------------------- deletion

/// Django's `Collector`.
#[derive(Default)]
struct Collector {
    /// Model → instances, in first-seen order.
    data: Vec<(&'static Model, Vec<Rc<Instance>>)>,
    /// Querysets deleted without loading (`_raw_delete`).
    fast_deletes: Vec<(&'static Model, Query)>,
    /// (model, column, querysets) set to NULL.
    field_updates: Vec<(&'static Model, &'static Field, Vec<Query>)>,
    /// model → models it must be deleted after.
    dependencies: Vec<(&'static str, &'static str)>,
    /// Hidden many-to-many tables emptied for a user (auth's groups and permissions).
    hidden_fast: Vec<(&'static str, &'static str, Vec<i64>)>,
}

/// The relations whose rows go when a `model` row goes: reverse FKs of every model
/// (including the many-to-many through tables).
fn candidate_relations(model: &'static Model) -> Vec<(&'static Model, &'static Field)> {
    let mut out = Vec::new();
    // Django orders them by app registry: auth (the hidden tables), articles, orgs, tasks.
    let order: [&'static Model; 7] = [&schema::USER, &schema::TAG, &schema::ARTICLE, &schema::ARTICLE_TAGS, &schema::ORGANIZATION, &schema::MEMBERSHIP, &schema::TASK];
    for m in order {
        for f in m.fields {
            if f.kind == FieldKind::ForeignKey(model.name) {
                out.push((m, f));
            }
        }
    }
    out
}

fn has_delete_listeners(rt: &Rt, model: &'static Model) -> bool {
    events::has_listeners(rt, "pre_delete", model) || events::has_listeners(rt, "post_delete", model)
}

impl Collector {
    fn can_fast_delete_model(&self, rt: &Rt, model: &'static Model, from_field: Option<&'static Field>) -> bool {
        if from_field.is_some_and(|f| f.on_delete != OnDelete::Cascade) {
            return false;
        }
        if has_delete_listeners(rt, model) {
            return false;
        }
        // Every relation pointing at it must be DO_NOTHING (none in the sample app are).
        candidate_relations(model).is_empty() && model.hidden_m2m.is_empty()
    }

    fn add(&mut self, model: &'static Model, objs: Vec<Rc<Instance>>, source: Option<&'static Model>, nullable: bool) -> Vec<Rc<Instance>> {
        if objs.is_empty() {
            return vec![];
        }
        let pos = match self.data.iter().position(|(m, _)| m.name == model.name) {
            Some(p) => p,
            None => {
                self.data.push((model, vec![]));
                self.data.len() - 1
            }
        };
        let mut new = Vec::new();
        for o in objs {
            let dup = self.data[pos].1.iter().any(|x| x.pk_value() == o.pk_value()) || new.iter().any(|x: &Rc<Instance>| x.pk_value() == o.pk_value());
            if !dup {
                new.push(o);
            }
        }
        self.data[pos].1.extend(new.iter().cloned());
        if let (Some(src), false) = (source, nullable) {
            if !self.dependencies.contains(&(src.name, model.name)) {
                self.dependencies.push((src.name, model.name));
            }
        }
        new
    }

    /// `collect()` for loaded instances.
    fn collect(&mut self, rt: &Rt, model: &'static Model, objs: Vec<Rc<Instance>>, source: Option<&'static Model>, nullable: bool) -> SResult<()> {
        let new = self.add(model, objs, source, nullable);
        if new.is_empty() {
            return Ok(());
        }
        let pks: Vec<Val> = new.iter().map(|o| Val::Obj(o.clone())).collect();
        let mut model_fast: Vec<(&'static Model, Vec<&'static Field>)> = Vec::new();
        for (rel_model, field) in candidate_relations(model) {
            if self.can_fast_delete_model(rt, rel_model, Some(field)) {
                match model_fast.iter_mut().find(|(m, _)| m.name == rel_model.name) {
                    Some((_, fs)) => fs.push(field),
                    None => model_fast.push((rel_model, vec![field])),
                }
                continue;
            }
            let sub = related_objects(rt, rel_model, &[field], &pks)?;
            match field.on_delete {
                OnDelete::SetNull => match self.field_updates.iter_mut().find(|(m, f, _)| m.name == rel_model.name && f.name == field.name) {
                    Some((_, _, qs)) => qs.push(sub),
                    None => self.field_updates.push((rel_model, field, vec![sub])),
                },
                OnDelete::Cascade | OnDelete::Protect => {
                    let mut q = sub.clone();
                    if !has_delete_listeners(rt, rel_model) {
                        // `sub_objs.only(*referenced_fields)`: the pk is enough.
                        let referenced: Vec<String> = if candidate_relations(rel_model).is_empty() { vec![] } else { vec!["id".into()] };
                        q.add_immediate_loading(&referenced);
                    }
                    let rows = super::fetch::run_select(rt, &q, &RowKind::Models, None)?;
                    if rows.is_empty() {
                        continue;
                    }
                    if field.on_delete == OnDelete::Protect {
                        return Err(exc("ProtectedError", format!("Cannot delete some instances of model '{}' because they are referenced through protected foreign keys: '{}.{}'.", model.name, rel_model.name, field.name)));
                    }
                    let insts: Vec<Rc<Instance>> = rows.iter().filter_map(|r| r.as_obj::<Instance>().map(|i| i.rc())).collect();
                    self.collect(rt, rel_model, insts, Some(model), field.null)?;
                }
            }
        }
        for (rel_model, fields) in model_fast {
            let q = related_objects(rt, rel_model, &fields, &pks)?;
            self.fast_deletes.push((rel_model, q));
        }
        if !model.hidden_m2m.is_empty() {
            let ids: Vec<i64> = new.iter().filter_map(|o| o.pk_value()).collect();
            for (table, column) in model.hidden_m2m {
                self.hidden_fast.push((table, column, ids.clone()));
            }
        }
        Ok(())
    }

    fn sort(&mut self) {
        let mut sorted: Vec<(&'static Model, Vec<Rc<Instance>>)> = Vec::new();
        let models: Vec<&'static Model> = self.data.iter().map(|(m, _)| *m).collect();
        while sorted.len() < models.len() {
            let mut found = false;
            for m in &models {
                if sorted.iter().any(|(s, _)| s.name == m.name) {
                    continue;
                }
                let deps: Vec<&str> = self.dependencies.iter().filter(|(a, _)| *a == m.name).map(|(_, b)| *b).collect();
                if deps.iter().all(|d| sorted.iter().any(|(s, _)| s.name == *d)) {
                    let objs = self.data.iter().find(|(x, _)| x.name == m.name).map(|(_, o)| o.clone()).unwrap_or_default();
                    sorted.push((m, objs));
                    found = true;
                }
            }
            if !found {
                return;
            }
        }
        self.data = sorted;
    }

    fn delete(mut self, rt: &Rt) -> SResult<(i64, Vec<(String, i64)>)> {
        for (_, objs) in self.data.iter_mut() {
            objs.sort_by_key(|o| o.pk_value());
        }
        self.sort();
        let mut counter: Vec<(String, i64)> = Vec::new();
        let bump = |counter: &mut Vec<(String, i64)>, label: String, n: i64| {
            if n == 0 {
                return;
            }
            match counter.iter_mut().find(|(l, _)| *l == label) {
                Some((_, c)) => *c += n,
                None => counter.push((label, n)),
            }
        };
        if self.data.len() == 1 && self.data[0].1.len() == 1 && self.fast_deletes.is_empty() && self.field_updates.is_empty() && self.hidden_fast.is_empty() {
            let (model, objs) = &self.data[0];
            if self.can_fast_delete_model(rt, model, None) {
                let inst = objs[0].clone();
                let model = *model;
                let n = transaction::mark_for_rollback_on_error(rt, || delete_batch(rt, model, &[inst.pk_value().unwrap_or(0)]))?;
                inst.set_value("id", Val::None);
                return Ok((n, vec![(label(model), n)]));
            }
        }
        let data = std::mem::take(&mut self.data);
        let fast = std::mem::take(&mut self.fast_deletes);
        let hidden = std::mem::take(&mut self.hidden_fast);
        let updates = std::mem::take(&mut self.field_updates);
        transaction::atomic(rt, false, || {
            for (model, objs) in &data {
                if model.name == "Article_tags" {
                    continue;
                }
                for o in objs {
                    events::send(rt, "pre_delete", model, vec![("instance".into(), Val::Obj(o.clone())), ("using".into(), Val::str("default")), ("origin".into(), Val::Obj(o.clone()))])?;
                }
            }
            let mut fast_iter = fast.iter();
            // Fast deletes in the order they were collected; auth's hidden tables come where
            // Django collects them (right after the user's own cascades).
            let mut hidden_done = hidden.is_empty();
            for (model, q) in fast_iter.by_ref() {
                if !hidden_done && matches!(model.name, "Membership" | "Task") {
                    for (table, column, ids) in &hidden {
                        hidden_delete(rt, table, column, ids)?;
                    }
                    hidden_done = true;
                }
                if let Some((sql, params)) = compiler::compile_delete(rt, q)? {
                    let n = rt.query(&sql, &params)?.changes;
                    bump(&mut counter, label(model), n);
                }
            }
            if !hidden_done {
                for (table, column, ids) in &hidden {
                    hidden_delete(rt, table, column, ids)?;
                }
            }
            for (model, field, qs) in &updates {
                for q in qs {
                    if let Some((sql, params)) = compiler::compile_update(rt, q, &[(field.column, "NULL".into(), vec![])])? {
                        rt.query(&sql, &params)?;
                    }
                }
                let _ = model;
            }
            let mut data = data.clone();
            for (_, objs) in data.iter_mut() {
                objs.reverse();
            }
            for (model, objs) in &data {
                let pks: Vec<i64> = objs.iter().filter_map(|o| o.pk_value()).collect();
                let n = delete_batch(rt, model, &pks)?;
                bump(&mut counter, label(model), n);
                if model.name != "Article_tags" {
                    for o in objs {
                        events::send(rt, "post_delete", model, vec![("instance".into(), Val::Obj(o.clone())), ("using".into(), Val::str("default")), ("origin".into(), Val::Obj(o.clone()))])?;
                    }
                }
            }
            for (_, objs) in &data {
                for o in objs {
                    o.set_value("id", Val::None);
                }
            }
            Ok(())
        })?;
        let total = counter.iter().map(|(_, n)| n).sum();
        Ok((total, counter))
    }
}

fn label(m: &Model) -> String {
    format!("{}.{}", m.app_label, m.name)
}

fn hidden_delete(rt: &Rt, table: &str, column: &str, ids: &[i64]) -> SResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let sql = format!("DELETE FROM {} WHERE {}.{} IN ({})", qn(table), qn(table), qn(column), vec!["%s"; ids.len()].join(", "));
    let params: Vec<SqlValue> = ids.iter().map(|i| SqlValue::Int(*i)).collect();
    rt.query(&sql, &params)?;
    Ok(())
}

/// `related_objects`: `Model._base_manager.filter(Q(f1__in=objs) | Q(f2__in=objs))`.
fn related_objects(rt: &Rt, model: &'static Model, fields: &[&'static Field], objs: &[Val]) -> SResult<Query> {
    let mut q = QuerySetObj::for_model(model).query;
    let children: Vec<QTree> = fields.iter().map(|f| QTree::Leaf(Rc::from(format!("{}__in", f.name).as_str()), FilterValue::Val(Val::list(objs.to_vec())))).collect();
    q.add_q(rt, &QTree::Node { connector: Connector::Or, negated: false, children })?;
    Ok(q)
}

/// `DeleteQuery.delete_batch`: `DELETE FROM "t" WHERE "t"."id" IN (...)`.
fn delete_batch(rt: &Rt, model: &'static Model, pks: &[i64]) -> SResult<i64> {
    let mut total = 0;
    for chunk in pks.chunks(100) {
        let mut q = Query::new(model);
        q.add_q(rt, &QTree::Leaf(Rc::from("id__in"), FilterValue::Val(Val::list(chunk.iter().map(|i| Val::Int(*i)).collect()))))?;
        if let Some((sql, params)) = compiler::compile_delete(rt, &q)? {
            total += rt.query(&sql, &params)?.changes;
        }
    }
    Ok(total)
}

fn deleted_result(total: i64, counter: Vec<(String, i64)>) -> Val {
    Val::tuple(vec![Val::Int(total), Val::str_dict(counter.into_iter().map(|(k, v)| (k, Val::Int(v))).collect::<Vec<_>>())])
}

pub fn delete_instance(rt: &Rt, inst: &Rc<Instance>, _args: Vec<Val>, _kwargs: Kwargs) -> SResult<Val> {
    if inst.pk_value().is_none() {
        return Err(err(ErrorKind::ValueError, format!("{} object can't be deleted because its id attribute is set to None.", inst.model.name)));
    }
    let mut c = Collector::default();
    c.collect(rt, inst.model, vec![inst.clone()], None, false)?;
    let (total, counter) = c.delete(rt)?;
    Ok(deleted_result(total, counter))
}

pub fn queryset_delete(rt: &Rt, qs: &QuerySetObj) -> SResult<Val> {
    if qs.query.is_sliced() {
        return Err(err(ErrorKind::TypeError, "Cannot use 'limit' or 'offset' with delete()."));
    }
    if qs.is_values() {
        return Err(err(ErrorKind::TypeError, "Cannot call delete() after .values() or .values_list()"));
    }
    let model = qs.model;
    let mut q = qs.query.chain();
    q.select_related = super::expr::SelectRelated::No;
    q.clear_ordering(true, true);
    *qs.cache.borrow_mut() = None;
    let mut c = Collector::default();
    if c.can_fast_delete_model(rt, model, None) {
        let (total, counter) = transaction::atomic(rt, false, || {
            let n = match raw_delete(rt, &q)? {
                Some(n) => n,
                None => 0,
            };
            Ok((n, if n > 0 { vec![(label(model), n)] } else { vec![] }))
        })?;
        return Ok(deleted_result(total, counter));
    }
    let rows = super::fetch::run_select(rt, &q, &RowKind::Models, None)?;
    let insts: Vec<Rc<Instance>> = rows.iter().filter_map(|r| r.as_obj::<Instance>().map(|i| i.rc())).collect();
    c.collect(rt, model, insts, None, false)?;
    let (total, counter) = c.delete(rt)?;
    Ok(deleted_result(total, counter))
}

/// `_raw_delete`: DELETE with the queryset's WHERE (a `pk IN (subquery)` when it joins).
fn raw_delete(rt: &Rt, q: &Query) -> SResult<Option<i64>> {
    let mut probe = q.clone();
    probe.get_initial_alias();
    let q = if probe.count_active_tables() > 1 {
        let mut inner = q.chain();
        inner.clear_select_clause();
        let alias = inner.get_initial_alias();
        inner.select = vec![SqlExpr::col(&alias, Target::of(q.model, q.model.pk_field()))];
        let mut outer = Query::new(q.model);
        outer.add_q(rt, &QTree::Leaf(Rc::from("pk__in"), FilterValue::Query(Box::new(inner))))?;
        outer
    } else {
        q.clone()
    };
    match compiler::compile_delete(rt, &q)? {
        Some((sql, params)) => Ok(Some(rt.query(&sql, &params)?.changes)),
        None => Ok(None),
    }
}

// ---------------------------------------------------------------- related managers' writes

pub fn related_write(rt: &Rt, rm: &RelatedManager, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let owner = rm.owner.clone();
    let owner_pk = owner.pk_value().ok_or_else(|| {
        err(ErrorKind::ValueError, format!("\"{}\" needs to have a value for field \"id\" before this many-to-many relationship can be used.", owner.display_for_error()))
    })?;
    match rm.relation {
        Relation::Reverse { from, field } => {
            let clear_cache = || {
                owner.prefetched.borrow_mut().remove(&rm.name);
            };
            match name {
                "create" | "get_or_create" | "update_or_create" => {
                    let mut kw = kwargs;
                    kw.push((field.name.to_string(), Val::Obj(owner.clone())));
                    clear_cache();
                    match name {
                        "create" => create(rt, from, kw),
                        "get_or_create" => get_or_create(rt, &QuerySetObj::for_model(from), kw),
                        _ => update_or_create(rt, &QuerySetObj::for_model(from), kw),
                    }
                }
                "add" => {
                    clear_cache();
                    let bulk = kwarg(&kwargs, "bulk").map(|v| v.truthy(rt)).transpose()?.unwrap_or(true);
                    let mut pks = Vec::new();
                    for o in &args {
                        let i = o.as_obj::<Instance>().filter(|i| i.model.name == from.name).ok_or_else(|| err(ErrorKind::TypeError, format!("'{}' instance expected, got {}", from.name, o.repr(rt).unwrap_or_default())))?;
                        i.assign_field(rt, field, Val::Obj(owner.clone()))?;
                        if bulk {
                            if i.adding.get() || i.pk_value().is_none() {
                                return Err(err(ErrorKind::ValueError, format!("{} instance isn't saved. Use bulk=False or save the object first.", o.repr(rt)?)));
                            }
                            pks.push(Val::Int(i.pk_value().expect("checked")));
                        } else {
                            save(rt, &i.rc(), vec![], vec![])?;
                        }
                    }
                    if bulk && !pks.is_empty() {
                        let qs = QuerySetObj::for_model(from).filter_or_exclude(rt, false, vec![], vec![("pk__in".into(), Val::list(pks))])?;
                        queryset_update(rt, &qs, vec![], vec![(field.name.to_string(), Val::Obj(owner.clone()))])?;
                    }
                    Ok(Val::None)
                }
                "remove" | "clear" | "set" => {
                    if !field.null {
                        return Err(err(ErrorKind::AttributeError, format!("'RelatedManager' object has no attribute '{name}'")));
                    }
                    clear_cache();
                    let qs = rm.get_queryset(rt)?;
                    match name {
                        "clear" => {
                            queryset_update(rt, &qs, vec![], vec![(field.name.to_string(), Val::None)])?;
                        }
                        "remove" => {
                            let pks: Vec<Val> = args.iter().filter_map(|o| o.as_obj::<Instance>().and_then(|i| i.pk_value()).map(Val::Int)).collect();
                            let f = qs.filter_or_exclude(rt, false, vec![], vec![("pk__in".into(), Val::list(pks))])?;
                            queryset_update(rt, &f, vec![], vec![(field.name.to_string(), Val::None)])?;
                        }
                        _ => {
                            let objs = args.first().map(|a| a.iterate(rt)).transpose()?.unwrap_or_default();
                            transaction::atomic(rt, false, || {
                                queryset_update(rt, &qs, vec![], vec![(field.name.to_string(), Val::None)])?;
                                related_write(rt, rm, "add", objs.as_ref().clone(), vec![])
                            })?;
                        }
                    }
                    Ok(Val::None)
                }
                _ => Err(err(ErrorKind::AttributeError, format!("'RelatedManager' object has no attribute '{name}'"))),
            }
        }
        Relation::ManyToMany { m2m, to } | Relation::ManyToManyReverse { m2m, from: to } => {
            let forward = matches!(rm.relation, Relation::ManyToMany { .. });
            let through = schema::through_model(m2m.table).ok_or_else(|| err(ErrorKind::NotSupported, "unknown through table"))?;
            let (source, target) = if forward { ("article", "tag") } else { ("tag", "article") };
            M2m { rt, rm, owner_pk, through, source, target, target_model: to, reverse: !forward }.call(name, args, kwargs)
        }
        Relation::Forward { .. } => unreachable!("forward relations are not managers"),
    }
}

struct M2m<'a> {
    rt: &'a Rt,
    rm: &'a RelatedManager,
    owner_pk: i64,
    through: &'static Model,
    source: &'static str,
    target: &'static str,
    target_model: &'static Model,
    reverse: bool,
}

impl M2m<'_> {
    fn clear_prefetch(&self) {
        self.rm.owner.prefetched.borrow_mut().remove(&self.rm.name);
    }

    fn send(&self, action: &str, pk_set: Val) -> SResult<()> {
        events::send(
            self.rt,
            "m2m_changed",
            self.through,
            vec![
                ("instance".into(), Val::Obj(self.rm.owner.clone())),
                ("action".into(), Val::str(action)),
                ("reverse".into(), Val::Bool(self.reverse)),
                ("model".into(), Val::obj(super::model::ModelClass(self.target_model))),
                ("pk_set".into(), pk_set),
                ("using".into(), Val::str("default")),
            ],
        )
    }

    fn target_ids(&self, objs: &[Val]) -> SResult<IntSet> {
        let mut s = IntSet::new();
        for o in objs {
            if let Some(i) = o.as_obj::<Instance>() {
                if i.model.name != self.target_model.name {
                    return Err(err(ErrorKind::TypeError, format!("'{}' instance expected, got {}", self.target_model.name, o.repr(self.rt)?)));
                }
                let id = i.pk_value().ok_or_else(|| err(ErrorKind::ValueError, format!("Cannot add \"{}\": the value for field \"{}\" is None", o.repr(self.rt).unwrap_or_default(), self.target)))?;
                s.add(id);
            } else {
                let id = match to_db(self.rt, o, Some(FieldKind::Int), "id")? {
                    SqlValue::Int(i) => i,
                    _ => return Err(err(ErrorKind::TypeError, "expected an id")),
                };
                s.add(id);
            }
        }
        Ok(s)
    }

    fn ids_set_val(ids: &IntSet) -> SResult<Val> {
        Val::set_of(ids.items().into_iter().map(Val::Int).collect())
    }

    fn add(&self, objs: &[Val]) -> SResult<()> {
        self.clear_prefetch();
        transaction::atomic(self.rt, false, || self.add_items(objs))
    }

    fn add_items(&self, objs: &[Val]) -> SResult<()> {
        if objs.is_empty() {
            return Ok(());
        }
        let rt = self.rt;
        let ids = self.target_ids(objs)?;
        let must_send = events::has_listeners(rt, "m2m_changed", self.through);
        let insert = |ids: &IntSet, ignore: bool| -> SResult<()> {
            if ids.is_empty() {
                return Ok(());
            }
            let fields: Vec<&'static Field> = self.through.fields.iter().filter(|f| f.kind != FieldKind::Auto).collect();
            let (src_first, _) = (fields[0].name == self.source, ());
            let rows: Vec<Vec<SqlValue>> = ids
                .items()
                .into_iter()
                .map(|t| if src_first { vec![SqlValue::Int(self.owner_pk), SqlValue::Int(t)] } else { vec![SqlValue::Int(t), SqlValue::Int(self.owner_pk)] })
                .collect();
            for chunk in rows.chunks(batch_size_for(2)) {
                let (mut sql, params) = compiler::compile_insert(self.through, &fields, chunk, false);
                if ignore {
                    sql = sql.replacen("INSERT INTO", "INSERT OR IGNORE INTO", 1);
                }
                rt.query(&sql, &params)?;
            }
            Ok(())
        };
        if !must_send {
            return insert(&ids, true);
        }
        // Which of them are missing: `values_list(target, flat=True).filter(source=…, target__in=…)`.
        let mut qs = QuerySetObj::for_model(self.through);
        qs = qs.filter_or_exclude(rt, false, vec![], vec![(self.source.into(), Val::Int(self.owner_pk)), (format!("{}__in", self.target), Self::ids_set_val(&ids)?)])?;
        let mut vl = qs.chain();
        vl.query.set_values(&[self.target.to_string()])?;
        vl.kind = RowKind::Flat(self.target.to_string());
        let existing: Vec<i64> = vl.run(rt)?.iter().filter_map(|v| v.as_int()).collect();
        let missing = ids.difference(&existing);
        transaction::atomic(rt, false, || {
            self.send("pre_add", Self::ids_set_val(&missing)?)?;
            insert(&missing, true)?;
            self.send("post_add", Self::ids_set_val(&missing)?)
        })
    }

    fn remove(&self, objs: &[Val]) -> SResult<()> {
        self.clear_prefetch();
        let rt = self.rt;
        if objs.is_empty() {
            return Ok(());
        }
        let ids = self.target_ids(objs)?;
        transaction::atomic(rt, false, || {
            self.send("pre_remove", Self::ids_set_val(&ids)?)?;
            let q = self.remove_query(Some(Self::ids_set_val(&ids)?))?;
            let qs = QuerySetObj { query: q, ..QuerySetObj::for_model(self.through) };
            queryset_delete(rt, &qs)?;
            self.send("post_remove", Self::ids_set_val(&ids)?)
        })
    }

    fn remove_query(&self, ids: Option<Val>) -> SResult<Query> {
        let mut kwargs: Kwargs = vec![(self.source.into(), Val::Int(self.owner_pk))];
        if let Some(ids) = ids {
            kwargs.push((format!("{}__in", self.target), ids));
        }
        Ok(QuerySetObj::for_model(self.through).filter_or_exclude(self.rt, false, vec![], kwargs)?.query)
    }

    fn clear(&self) -> SResult<()> {
        let rt = self.rt;
        transaction::atomic(rt, false, || {
            self.send("pre_clear", Val::None)?;
            self.clear_prefetch();
            let q = self.remove_query(None)?;
            let qs = QuerySetObj { query: q, ..QuerySetObj::for_model(self.through) };
            queryset_delete(rt, &qs)?;
            self.send("post_clear", Val::None)
        })
    }

    fn set(&self, objs: Vec<Val>, clear: bool) -> SResult<()> {
        let rt = self.rt;
        transaction::atomic(rt, false, || {
            if clear {
                self.clear()?;
                return self.add(&objs);
            }
            let mut current = self.rm.get_queryset(rt)?;
            current.rebound = None;
            current.query.set_values(&["id".to_string()])?;
            current.kind = RowKind::Flat("id".into());
            let mut old = IntSet::from_iter(current.run(rt)?.iter().filter_map(|v| v.as_int()));
            let mut new_objs = Vec::new();
            for o in &objs {
                let id = match o.as_obj::<Instance>() {
                    Some(i) => i.pk_value(),
                    None => o.as_int(),
                };
                match id {
                    Some(i) if old.contains(i) => old = old.difference(&[i]),
                    _ => new_objs.push(o.clone()),
                }
            }
            let old_vals: Vec<Val> = old.items().into_iter().map(Val::Int).collect();
            self.remove(&old_vals)?;
            self.add(&new_objs)
        })
    }

    fn call(&self, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        let rt = self.rt;
        match name {
            "add" => self.add(&args).map(|_| Val::None),
            "remove" => self.remove(&args).map(|_| Val::None),
            "clear" => self.clear().map(|_| Val::None),
            "set" => {
                let objs = args.first().ok_or_else(|| err(ErrorKind::TypeError, "set() missing 1 required positional argument: 'objs'"))?.iterate(rt)?;
                let clear = kwarg(&kwargs, "clear").map(|v| v.truthy(rt)).transpose()?.unwrap_or(false);
                self.set(objs.as_ref().clone(), clear).map(|_| Val::None)
            }
            "create" => {
                let obj = create(rt, self.target_model, kwargs)?;
                self.add(std::slice::from_ref(&obj))?;
                Ok(obj)
            }
            "get_or_create" | "update_or_create" => {
                let qs = QuerySetObj::for_model(self.target_model);
                let r = if name == "get_or_create" { get_or_create(rt, &qs, kwargs)? } else { update_or_create(rt, &qs, kwargs)? };
                let items = r.seq_items().expect("a pair");
                if matches!(items[1], Val::Bool(true)) {
                    self.add(&items[..1])?;
                }
                Ok(r)
            }
            _ => Err(err(ErrorKind::AttributeError, format!("'ManyRelatedManager' object has no attribute '{name}'"))),
        }
    }
}

#[allow(dead_code)]
fn model_by_name(name: &str) -> Option<&'static Model> {
    MODELS.iter().copied().find(|m| m.name == name)
}

#[allow(dead_code)]
fn default_of(rt: &Rt, f: &'static Field) -> Val {
    field_default(rt, f)
}
