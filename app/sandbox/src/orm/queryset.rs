//! `QuerySet`, `Manager` and related managers, with Django's laziness: a queryset sends its
//! query when iterated, measured, tested for truth or printed, then keeps its rows; chained
//! calls copy the query (`_chain`); related managers filter on their instance and answer
//! from a prefetch when there is one.

use std::any::Any;
use std::rc::Rc;

use super::expr::*;
use super::fetch;
use super::model::{Instance, Manager, ModelClass, PrefetchSpec, QuerySetObj, RelatedManager, RowKind, MAX_GET_RESULTS, QS_METHODS};
use super::expr::{OrderItem, SelectRelated};
use crate::error::{err, exc, ErrorKind, SResult};
use crate::py::objects::NativeFn;
use crate::runtime::{LazyLoad, Rt};
use crate::schema::{self, Model, Relation};
use crate::value::{no_attr, HashKey, Kwargs, Object, Val};

/// Django's `REPR_OUTPUT_SIZE`.
const REPR_OUTPUT_SIZE: i64 = 20;

fn type_err(msg: impl Into<String>) -> crate::error::SandboxError {
    err(ErrorKind::TypeError, msg)
}

impl QuerySetObj {
    /// Evaluates (once) and returns the rows.
    pub fn fetch(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        if let Some(rows) = self.cache.borrow().as_ref() {
            return Ok(rows.clone());
        }
        let built = self.built.get().and_then(|k| rt.prof_line_of(k));
        let rows = Rc::new(rt.prof_built(built, || self.run(rt))?);
        *self.cache.borrow_mut() = Some(rows.clone());
        Ok(rows)
    }

    /// Runs the query (no caching), then prefetches.
    pub fn run(&self, rt: &Rt) -> SResult<Vec<Val>> {
        let go = || -> SResult<Vec<Val>> {
            let rows = match &self.rebound {
                Some((kept, value)) => fetch::run_rebound(rt, &self.query, &self.kind, kept, value, Some(&self.known))?,
                None => fetch::run_select(rt, &self.query, &self.kind, Some(&self.known))?,
            };
            if !self.path.is_empty() {
                for r in &rows {
                    if let Some(i) = r.as_obj::<Instance>() {
                        *i.path.borrow_mut() = self.path.clone();
                    }
                }
            }
            Ok(rows)
        };
        let rows = match &self.lazy {
            Some(l) => rt.lazy_load(l.clone(), go)?,
            None => go()?,
        };
        if !self.prefetch.is_empty() && !self.is_values() {
            rt.not_lazy(|| super::prefetch::prefetch_related_objects(rt, &rows, &self.prefetch))?;
        }
        Ok(rows)
    }

    fn derive(&self, f: impl FnOnce(&mut QuerySetObj) -> SResult<()>) -> SResult<Val> {
        let mut c = self.chain();
        f(&mut c)?;
        Ok(Val::obj(c))
    }

    fn check_not_sliced(&self, what: &str) -> SResult<()> {
        if self.query.is_sliced() {
            return Err(type_err(format!("Cannot {what} a query once a slice has been taken.")));
        }
        Ok(())
    }

    /// `filter()`/`exclude()`.
    pub fn filter_or_exclude(&self, rt: &Rt, negate: bool, args: Vec<Val>, kwargs: Kwargs) -> SResult<QuerySetObj> {
        if (!args.is_empty() || !kwargs.is_empty()) && self.query.is_sliced() {
            return Err(type_err("Cannot filter a query once a slice has been taken."));
        }
        let mut c = self.chain();
        let q = super::api::build_q(rt, args, kwargs)?;
        let q = if negate { q.negate() } else { q };
        c.query.add_q(rt, &q)?;
        Ok(c)
    }

    pub fn count(&self, rt: &Rt) -> SResult<i64> {
        if let Some(rows) = self.cache.borrow().as_ref() {
            return Ok(rows.len() as i64);
        }
        let (c, _) = super::aggregation::compile_aggregation(rt, &self.query, &[("__count".into(), Expression::Aggregate { func: "COUNT", arg: None, distinct: false, filter: None, default: None })])?;
        match c {
            None => Ok(0),
            Some(c) => {
                let r = c.run(rt)?;
                Ok(r.rows.first().and_then(|r| r.first()).and_then(|v| match v {
                    crate::engine::SqlValue::Int(i) => Some(*i),
                    _ => None,
                }).unwrap_or(0))
            }
        }
    }

    pub fn exists(&self, rt: &Rt) -> SResult<bool> {
        if let Some(rows) = self.cache.borrow().as_ref() {
            return Ok(!rows.is_empty());
        }
        let q = self.query.exists_query(true)?;
        match super::compiler::compile_select(rt, &q)? {
            None => Ok(false),
            Some(c) => Ok(!c.run(rt)?.rows.is_empty()),
        }
    }

    pub fn get(&self, rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        let mut clone = self.filter_or_exclude(rt, false, args, kwargs)?;
        if !clone.query.is_sliced() {
            clone.query.clear_ordering(true, false);
            clone.query.default_ordering = false;
        }
        clone.query.set_limits(None, Some(MAX_GET_RESULTS));
        let rows = clone.fetch(rt)?;
        got_one(self.model.name, &rows)
    }

    fn first_or_last(&self, rt: &Rt, last: bool) -> SResult<Val> {
        if last && self.query.is_sliced() {
            return Err(type_err("Cannot reverse a query once a slice has been taken."));
        }
        let qs = if self.ordered() {
            if last {
                let mut c = self.chain();
                c.query.standard_ordering = !c.query.standard_ordering;
                c
            } else {
                self.chain()
            }
        } else {
            self.check_aggregation_ordering(if last { "last" } else { "first" })?;
            let mut c = self.chain();
            c.query.clear_ordering(true, false);
            c.query.add_ordering(vec![OrderItem::Name(if last { "-pk".into() } else { "pk".into() })])?;
            c
        };
        // Only `first()` on an ordered queryset slices the queryset itself, which answers from
        // its result cache (a prefetched relation included). `last()` reverses and an unordered
        // queryset is re-ordered by pk: new querysets, so a query — after prefetch_related too.
        if !last && self.ordered() {
            if let Some(rows) = self.cache.borrow().as_ref() {
                return Ok(rows.first().cloned().unwrap_or(Val::None));
            }
        }
        let mut q = qs;
        q.query.set_limits(None, Some(1));
        let rows = q.run(rt)?;
        Ok(rows.into_iter().next().unwrap_or(Val::None))
    }

    fn check_aggregation_ordering(&self, method: &str) -> SResult<()> {
        if let super::expr::GroupBy::Exprs(g) = &self.query.group_by {
            if !g.iter().any(|e| e.target().is_some_and(|t| t.is_pk && t.table == self.model.table)) {
                return Err(type_err(format!("Cannot use QuerySet.{method}() on an unordered queryset performing aggregation. Add an ordering with order_by().")));
            }
        }
        Ok(())
    }

    pub fn aggregate(&self, rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        if self.is_values() && false {
            return Err(type_err("aggregate() after values()"));
        }
        let mut aggs: Vec<(String, Expression)> = Vec::new();
        for a in args {
            let e = super::api::expression_of(&a).ok_or_else(|| type_err(format!("QuerySet.aggregate() received non-expression(s): {}.", a.repr(rt).unwrap_or_default())))?;
            let alias = e.default_alias().ok_or_else(|| type_err("Complex aggregates require an alias"))?;
            aggs.push((alias, e));
        }
        for (k, v) in kwargs {
            let e = super::api::expression_of(&v).ok_or_else(|| type_err(format!("QuerySet.aggregate() received non-expression(s): {}.", v.repr(rt).unwrap_or_default())))?;
            aggs.push((k, e));
        }
        // Query.get_aggregation: nothing to compute, no query.
        if aggs.is_empty() {
            return Ok(Val::str_dict(Vec::<(String, Val)>::new()));
        }
        let (c, _) = super::aggregation::compile_aggregation(rt, &self.query, &aggs)?;
        let row = match c {
            None => aggs.iter().map(|(_, e)| empty_result_set_value(rt, e)).collect::<SResult<_>>()?,
            Some(c) => c.run(rt)?.rows.into_iter().next().unwrap_or_default(),
        };
        let mut pairs = Vec::new();
        for ((name, e), v) in aggs.iter().zip(row) {
            pairs.push((name.clone(), fetch::aggregate_value(e, &v, self.model)));
        }
        Ok(Val::str_dict(pairs))
    }

    fn annotate(&self, rt: &Rt, args: Vec<Val>, kwargs: Kwargs, select: bool) -> SResult<QuerySetObj> {
        let method = if select { "annotate" } else { "alias" };
        let mut anns: Vec<(String, Expression)> = Vec::new();
        for a in &args {
            let e = super::api::expression_of(a).ok_or_else(|| type_err(format!("QuerySet.{method}() received non-expression(s): {}.", a.repr(rt).unwrap_or_default())))?;
            let alias = e.default_alias().ok_or_else(|| type_err("Complex annotations require an alias"))?;
            if kwargs.iter().any(|(k, _)| *k == alias) {
                return Err(err(ErrorKind::ValueError, format!("The named annotation '{alias}' conflicts with the default name for another annotation.")));
            }
            anns.push((alias, e));
        }
        for (k, v) in &kwargs {
            let e = super::api::expression_of(v).ok_or_else(|| type_err(format!("QuerySet.{method}() received non-expression(s): {}.", v.repr(rt).unwrap_or_default())))?;
            anns.push((k.clone(), e));
        }
        let mut c = self.chain();
        let names: Vec<String> = match &c.kind {
            RowKind::Models => self.model.choice_names().into_iter().map(str::to_string).collect(),
            other => other.field_names(),
        };
        for (alias, e) in &anns {
            if names.contains(alias) {
                return Err(err(ErrorKind::ValueError, format!("The annotation '{alias}' conflicts with a field on the model.")));
            }
            let resolved = super::resolve::resolve_expression(rt, &mut c.query, e, true, None, false)?;
            c.query.add_annotation(resolved, alias, select);
        }
        if anns.iter().any(|(a, _)| c.query.annotations.get(a).is_some_and(|e| e.contains_aggregate())) {
            match &c.kind {
                RowKind::Models => c.query.group_by = super::expr::GroupBy::All,
                _ => c.query.set_group_by(true),
            }
        }
        if let RowKind::Dicts(f) | RowKind::Tuples(f) | RowKind::Named(f) = &mut c.kind {
            // values().annotate(): the annotation joins the selected names.
            for (a, _) in &anns {
                if select && !f.contains(a) {
                    f.push(a.clone());
                }
            }
        }
        Ok(c)
    }

    fn values(&self, rt: &Rt, args: Vec<Val>, kwargs: Kwargs, list: bool) -> SResult<QuerySetObj> {
        let mut fields: Vec<String> = Vec::new();
        for a in &args {
            match a.as_str() {
                Some(s) => fields.push(s.to_string()),
                None => {
                    if list {
                        return Err(type_err("values_list() only takes field names (as strings) in the sandbox"));
                    }
                    return Err(type_err(format!("values() takes field names as strings, not {}", a.type_name())));
                }
            }
        }
        let mut flat = false;
        let mut named = false;
        let mut exprs: Kwargs = Vec::new();
        for (k, v) in kwargs {
            match (list, k.as_str()) {
                (true, "flat") => flat = v.truthy(rt)?,
                (true, "named") => named = v.truthy(rt)?,
                (true, other) => return Err(type_err(format!("Unexpected keyword arguments to values_list: {{'{other}'}}"))),
                (false, _) => exprs.push((k, v)),
            }
        }
        if flat && named {
            return Err(type_err("'flat' and 'named' can't be used together."));
        }
        if flat && fields.len() > 1 {
            return Err(type_err("'flat' is not valid when values_list is called with more than one field."));
        }
        let mut c = if exprs.is_empty() { self.chain() } else { self.annotate(rt, vec![], exprs.clone(), true)? };
        for (k, _) in &exprs {
            fields.push(k.clone());
        }
        c.query.set_values(&fields)?;
        let names = if fields.is_empty() {
            let mut n: Vec<String> = self.model.fields.iter().map(|f| f.attname().to_string()).collect();
            n.extend(c.query.annotation_select().keys().cloned());
            n
        } else {
            fields.clone()
        };
        c.kind = if !list {
            RowKind::Dicts(names)
        } else if flat {
            RowKind::Flat(names.into_iter().next().unwrap_or_else(|| "id".into()))
        } else if named {
            RowKind::Named(names)
        } else {
            RowKind::Tuples(names)
        };
        Ok(c)
    }

    /// `str(qs.query)`: the SQL Django would send (parameters inlined).
    pub fn sql_text(&self, rt: &Rt) -> SResult<String> {
        match super::compiler::compile_select(rt, &self.query)? {
            // Query.__str__ is `sql % params`: each parameter as Python's str() prints it, not
            // quoted (so it is not SQL one could run; connection.queries quotes them).
            Some(c) => Ok(crate::engine::python_percent(&c.sql, &c.params)),
            None => Err(exc("EmptyResultSet", "")),
        }
    }
}

fn str_args(method: &str, args: &[Val]) -> SResult<Vec<String>> {
    args.iter()
        .map(|a| a.as_str().map(str::to_string).ok_or_else(|| type_err(format!("{method}() arguments must be field names as strings, not {}", a.type_name()))))
        .collect()
}

fn no_kwargs(method: &str, kwargs: &Kwargs) -> SResult<()> {
    match kwargs.first() {
        Some((k, _)) => Err(type_err(format!("{method}() got an unexpected keyword argument '{k}'"))),
        None => Ok(()),
    }
}

/// Calls a QuerySet method on `qs`.
/// `datetimes()` / `dates()`: the truncation annotated with the plain field,
/// `values_list(flat=True)`, distinct, not null, ordered by the truncated value — the chain
/// Django builds.
fn truncated_values(rt: &Rt, qs: &QuerySetObj, field: &str, func: &'static str, alias: &str, order: &str) -> SResult<Val> {
    let expr = |e: Expression| Val::obj(super::api::ExprObj(e));
    let annotated = qs.annotate(
        rt,
        vec![],
        vec![(alias.into(), expr(Expression::Func(func, vec![Expression::F(field.to_string())]))), ("plain_field".into(), expr(Expression::F(field.to_string())))],
        true,
    )?;
    let flat = call_qs_method(rt, &annotated, "values_list", vec![Val::str(alias)], vec![("flat".into(), Val::Bool(true))])?;
    let step = |v: &Val, name: &str, args: Vec<Val>, kwargs: Kwargs| -> SResult<Val> {
        let q = v.as_obj::<QuerySetObj>().expect("a queryset");
        call_qs_method(rt, q, name, args, kwargs)
    };
    let distinct = step(&flat, "distinct", vec![], vec![])?;
    let not_null = step(&distinct, "filter", vec![], vec![("plain_field__isnull".into(), Val::Bool(false))])?;
    let by = if order == "DESC" { format!("-{alias}") } else { alias.to_string() };
    step(&not_null, "order_by", vec![Val::str(by)], vec![])
}

pub fn call_qs_method(rt: &Rt, qs: &QuerySetObj, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    if let Some(c) = &qs.query.combinator {
        // `_not_support_combined_queries`.
        let refused = matches!(
            name,
            "filter" | "exclude" | "annotate" | "alias" | "select_related" | "prefetch_related" | "distinct" | "only" | "defer" | "update" | "delete" | "contains"
        );
        if refused {
            return Err(exc("NotSupportedError", format!("Calling QuerySet.{name}() after {}() is not supported.", c.kind)));
        }
        if name == "get" && !(args.is_empty() && kwargs.is_empty()) {
            return Err(exc("NotSupportedError", format!("Calling QuerySet.get(...) with filters after {}() is not supported.", c.kind)));
        }
    }
    match name {
        "union" | "intersection" | "difference" => set_operation(rt, qs, name, args, kwargs),
        "all" => {
            no_kwargs(name, &kwargs)?;
            // The same query: a statement kept for it still fits.
            let mut c = qs.chain();
            c.rebound = qs.rebound.clone();
            Ok(Val::obj(c))
        }
        "filter" | "exclude" => Ok(Val::obj(qs.filter_or_exclude(rt, name == "exclude", args, kwargs)?)),
        "get" => qs.get(rt, args, kwargs),
        "first" | "last" => {
            no_kwargs(name, &kwargs)?;
            qs.first_or_last(rt, name == "last")
        }
        "count" => Ok(Val::Int(qs.count(rt)?)),
        "exists" => Ok(Val::Bool(qs.exists(rt)?)),
        "none" => qs.derive(|q| {
            q.query.set_empty();
            Ok(())
        }),
        "order_by" => {
            qs.check_not_sliced("reorder")?;
            let mut items = Vec::new();
            for a in &args {
                match a {
                    Val::Str(s) | Val::SafeStr(s) => items.push(OrderItem::Name(s.to_string())),
                    other => match super::api::order_expression(other) {
                        Some((e, desc, nulls)) => items.push(OrderItem::Expr(e, desc, nulls)),
                        None => return Err(err(ErrorKind::FieldError, format!("Invalid order_by arguments: [{}]", other.repr(rt)?))),
                    },
                }
            }
            qs.derive(|q| {
                q.query.clear_ordering(true, false);
                q.query.add_ordering(items)
            })
        }
        "reverse" => {
            if qs.query.is_sliced() {
                return Err(type_err("Cannot reverse a query once a slice has been taken."));
            }
            qs.derive(|q| {
                q.query.standard_ordering = !q.query.standard_ordering;
                Ok(())
            })
        }
        "distinct" => {
            if !args.is_empty() {
                return Err(exc("NotSupportedError", "DISTINCT ON fields is not supported by this database backend"));
            }
            if qs.query.is_sliced() {
                return Err(type_err("Cannot create distinct fields once a slice has been taken."));
            }
            qs.derive(|q| {
                q.query.distinct = true;
                Ok(())
            })
        }
        "select_related" => {
            if qs.is_values() {
                return Err(type_err("Cannot call select_related() after .values() or .values_list()"));
            }
            if args.len() == 1 && args[0].is_none() {
                return qs.derive(|q| {
                    q.query.select_related = SelectRelated::No;
                    Ok(())
                });
            }
            let names = str_args(name, &args)?;
            qs.derive(|q| {
                if names.is_empty() {
                    q.query.select_related = SelectRelated::All;
                } else {
                    q.query.add_select_related(&names);
                }
                Ok(())
            })
        }
        "prefetch_related" => {
            if args.len() == 1 && args[0].is_none() {
                return qs.derive(|q| {
                    q.prefetch.clear();
                    Ok(())
                });
            }
            let mut specs = Vec::new();
            for a in &args {
                if let Some(s) = a.as_str() {
                    specs.push(PrefetchSpec { lookup: s.to_string(), queryset: None, to_attr: None });
                } else if let Some(p) = a.as_obj::<super::api::PrefetchObj>() {
                    specs.push(p.0.clone());
                } else {
                    return Err(type_err(format!("prefetch_related() takes lookups as strings or Prefetch objects, not {}", a.type_name())));
                }
            }
            qs.derive(|q| {
                q.prefetch.extend(specs);
                Ok(())
            })
        }
        "annotate" | "alias" => Ok(Val::obj(qs.annotate(rt, args, kwargs, name == "annotate")?)),
        "aggregate" => qs.aggregate(rt, args, kwargs),
        "values" | "values_list" => Ok(Val::obj(qs.values(rt, args, kwargs, name == "values_list")?)),
        "only" | "defer" => {
            if qs.is_values() {
                return Err(type_err(format!("Cannot call {name}() after .values() or .values_list()")));
            }
            if args.len() == 1 && args[0].is_none() {
                if name == "only" {
                    return Err(type_err("Cannot pass None as an argument to only()."));
                }
                return qs.derive(|q| {
                    q.query.deferred = (vec![], true);
                    Ok(())
                });
            }
            let names = str_args(name, &args)?;
            for n in &names {
                let head = n.split("__").next().unwrap_or(n);
                if head != "pk" && super::relations::get_field(qs.model, head).is_none() {
                    return Err(exc("FieldDoesNotExist", format!("{} has no field named '{head}'", qs.model.name)));
                }
            }
            qs.derive(|q| {
                if name == "only" {
                    q.query.add_immediate_loading(&names);
                } else {
                    q.query.add_deferred_loading(&names);
                }
                Ok(())
            })
        }
        "datetimes" => {
            // Django: annotate a Trunc and the plain field, values_list(flat), distinct, not
            // null, ordered by the truncated value.
            let a = crate::py::args::bind("datetimes", args, kwargs, &["field_name", "kind", "order", "tzinfo"], 2)?;
            let field = a[0].as_ref().expect("required").to_str(rt)?;
            let kind = a[1].as_ref().expect("required").to_str(rt)?;
            let Some(func) = super::api::trunc_function(&kind) else {
                return Err(err(ErrorKind::ValueError, "'kind' must be one of 'year', 'month', 'week', 'day', 'hour', 'minute', or 'second'."));
            };
            let order = match &a[2] {
                Some(v) => v.to_str(rt)?,
                None => "ASC".into(),
            };
            if order != "ASC" && order != "DESC" {
                return Err(err(ErrorKind::ValueError, "'order' must be either 'ASC' or 'DESC'."));
            }
            if a[3].as_ref().is_some_and(|t| !t.is_none()) {
                return Err(err(ErrorKind::NotSupported, "datetimes(tzinfo=…): the sandbox's projects have USE_TZ = False"));
            }
            truncated_values(rt, qs, &field, func, "datetimefield", &order)
        }
        "dates" => {
            let a = crate::py::args::bind("dates", args, kwargs, &["field_name", "kind", "order"], 2)?;
            let field = a[0].as_ref().expect("required").to_str(rt)?;
            let kind = a[1].as_ref().expect("required").to_str(rt)?;
            let func = match kind.as_str() {
                "year" => "TRUNC_DATE_year",
                "month" => "TRUNC_DATE_month",
                "week" => "TRUNC_DATE_week",
                "day" => "TRUNC_DATE_day",
                _ => return Err(err(ErrorKind::ValueError, "'kind' must be one of 'year', 'month', 'week', or 'day'.")),
            };
            let order = match &a[2] {
                Some(v) => v.to_str(rt)?,
                None => "ASC".into(),
            };
            if order != "ASC" && order != "DESC" {
                return Err(err(ErrorKind::ValueError, "'order' must be either 'ASC' or 'DESC'."));
            }
            truncated_values(rt, qs, &field, func, "datefield", &order)
        }
        "iterator" => {
            // Django 5.2: without a chunk size there is no prefetching; with one, each chunk
            // of rows gets its own prefetch queries.
            let a = crate::py::args::bind("iterator", args, kwargs, &["chunk_size"], 0)?;
            let chunk = match &a[0] {
                None | Some(Val::None) => None,
                Some(v) => Some(v.as_int().ok_or_else(|| type_err(format!("'<=' not supported between instances of '{}' and 'int'", v.type_name())))?),
            };
            match chunk {
                None if !qs.prefetch.is_empty() => return Err(err(ErrorKind::ValueError, "chunk_size must be provided when using QuerySet.iterator() after prefetch_related().")),
                Some(n) if n <= 0 => return Err(err(ErrorKind::ValueError, "Chunk size must be strictly positive.")),
                _ => {}
            }
            if qs.prefetch.is_empty() || qs.is_values() {
                return Ok(Val::list(qs.run(rt)?));
            }
            let mut plain = qs.chain();
            plain.prefetch.clear();
            let rows = plain.run(rt)?;
            let n = chunk.expect("checked above") as usize;
            for part in rows.chunks(n) {
                rt.not_lazy(|| super::prefetch::prefetch_related_objects(rt, part, &qs.prefetch))?;
            }
            Ok(Val::list(rows))
        }
        "explain" => super::plan::explain(rt, qs, kwargs),
        "update" => super::write::queryset_update(rt, qs, args, kwargs),
        "delete" => super::write::queryset_delete(rt, qs),
        "create" => {
            if !args.is_empty() {
                return Err(type_err(format!("QuerySet.create() takes 1 positional argument but {} were given", args.len() + 1)));
            }
            super::write::create(rt, qs.model, kwargs)
        }
        "bulk_create" => super::write::bulk_create(rt, qs.model, args, kwargs),
        "bulk_update" => super::write::bulk_update(rt, qs, args, kwargs),
        "get_or_create" => super::write::get_or_create(rt, qs, kwargs),
        "update_or_create" => super::write::update_or_create(rt, qs, kwargs),
        "in_bulk" => in_bulk(rt, qs, args, kwargs),
        "latest" | "earliest" => {
            let names = str_args(name, &args)?;
            if names.is_empty() {
                return Err(err(ErrorKind::ValueError, "earliest() and latest() require either fields as positional arguments or 'get_latest_by' in the model's Meta."));
            }
            if qs.query.is_sliced() {
                return Err(type_err("Cannot change a query once a slice has been taken."));
            }
            let mut c = qs.chain();
            if name == "latest" {
                c.query.standard_ordering = !c.query.standard_ordering;
            }
            c.query.set_limits(None, Some(1));
            c.query.clear_ordering(true, true);
            c.query.add_ordering(names.into_iter().map(OrderItem::Name).collect())?;
            c.get(rt, vec![], vec![])
        }
        "contains" => {
            let obj = args.first().ok_or_else(|| type_err("contains() missing 1 required positional argument: 'obj'"))?;
            if qs.is_values() {
                return Err(type_err("Cannot call QuerySet.contains() after .values() or .values_list()."));
            }
            let inst = obj.as_obj::<Instance>().filter(|i| i.model.name == qs.model.name).ok_or_else(|| type_err(format!("'obj' must be a model instance.")))?;
            let pk = inst.pk_value().ok_or_else(|| err(ErrorKind::ValueError, "QuerySet.contains() cannot be used on unsaved objects."))?;
            if let Some(rows) = qs.cache.borrow().as_ref() {
                return Ok(Val::Bool(rows.iter().any(|r| r.py_eq(obj))));
            }
            let f = qs.filter_or_exclude(rt, false, vec![], vec![("pk".into(), Val::Int(pk))])?;
            Ok(Val::Bool(f.exists(rt)?))
        }
        "using" | "select_for_update" => Ok(Val::obj(qs.chain())),
        _ => {
            if let Some(m) = super::api::custom_qs_method(rt, qs.model, name)? {
                let mut a = vec![Val::obj(qs.chain())];
                a.extend(args);
                return crate::value::call_value(rt, &m, a, kwargs);
            }
            let owner = match qs.lazy.as_ref().map(|l| l.kind.as_str()) {
                Some("m2m") => "ManyRelatedManager".to_string(),
                Some(_) => "RelatedManager".to_string(),
                None => queryset_class_name(qs.model),
            };
            Err(no_attr(&owner, name))
        }
    }
}

/// `union()`, `intersection()`, `difference()`: `_combinator_query` — a copy of this query,
/// its ordering and limits cleared, holding every query combined. An empty queryset (`none()`)
/// drops out of a union, and is the answer of an intersection it takes part in or of a
/// difference it starts.
fn set_operation(rt: &Rt, qs: &QuerySetObj, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let kind: &'static str = match name {
        "union" => "union",
        "intersection" => "intersection",
        _ => "difference",
    };
    let mut all = false;
    for (k, v) in &kwargs {
        if kind == "union" && k == "all" {
            all = v.truthy(rt)?;
        } else {
            return Err(type_err(format!("QuerySet.{kind}() got an unexpected keyword argument '{k}'")));
        }
    }
    let mut others: Vec<&QuerySetObj> = Vec::new();
    for a in &args {
        others.push(a.as_obj::<QuerySetObj>().ok_or_else(|| err(ErrorKind::AttributeError, format!("'{}' object has no attribute 'query'", a.type_name())))?);
    }
    let combine = |first: &QuerySetObj, rest: &[&QuerySetObj]| -> Val {
        let mut clone = first.chain();
        clone.query.clear_ordering(true, true);
        clone.query.clear_limits();
        let mut queries = vec![first.query.clone()];
        queries.extend(rest.iter().map(|q| q.query.clone()));
        clone.query.combinator = Some(Box::new(Combinator { kind, all, queries }));
        Val::obj(clone)
    };
    let empty = |q: &QuerySetObj| q.query.is_empty();
    Ok(match kind {
        "union" if empty(qs) => {
            let rest: Vec<&QuerySetObj> = others.into_iter().filter(|q| !empty(q)).collect();
            match rest.as_slice() {
                [] => Val::obj(qs.chain()),
                [one] => Val::obj(one.chain()),
                [first, more @ ..] => combine(first, more),
            }
        }
        "intersection" if empty(qs) => Val::obj(qs.chain()),
        "intersection" if others.iter().any(|q| empty(q)) => Val::obj(others.into_iter().find(|q| empty(q)).expect("found").chain()),
        "difference" if empty(qs) => Val::obj(qs.chain()),
        _ => combine(qs, &others),
    })
}

/// `empty_result_set_value`: what an aggregate is when the query can match no row (no query
/// is sent): `0` for `Count`, the `default=` of the others (their `Coalesce`), else NULL.
fn empty_result_set_value(rt: &Rt, e: &Expression) -> SResult<crate::engine::SqlValue> {
    Ok(match e {
        Expression::Aggregate { func: "COUNT", .. } => crate::engine::SqlValue::Int(0),
        Expression::Aggregate { default: Some(d), .. } => match d.as_ref() {
            Expression::Value(v) => super::lookups::plain(rt, v)?,
            _ => crate::engine::SqlValue::Null,
        },
        Expression::Output { inner, .. } => empty_result_set_value(rt, inner)?,
        _ => crate::engine::SqlValue::Null,
    })
}

fn in_bulk(rt: &Rt, qs: &QuerySetObj, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    if qs.query.is_sliced() {
        return Err(type_err("Cannot use 'limit' or 'offset' with in_bulk()."));
    }
    if qs.is_values() {
        return Err(type_err("in_bulk() cannot be used with values() or values_list()."));
    }
    let a = crate::py::args::bind("in_bulk", args, kwargs, &["id_list", "field_name"], 0)?;
    let field_name = a[1].as_ref().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "pk".into());
    if field_name != "pk" {
        let unique = qs.model.field(&field_name).is_some_and(|f| f.unique || f.kind == crate::schema::FieldKind::Auto);
        if !unique {
            return Err(err(ErrorKind::ValueError, format!("in_bulk()'s field_name must be a unique field but '{field_name}' isn't.")));
        }
    }
    let rows = match &a[0] {
        Some(ids) if !ids.is_none() => {
            let items = ids.iterate(rt)?;
            if items.is_empty() {
                return Ok(Val::dict(crate::value::PyDict::new()));
            }
            let mut out = Vec::new();
            for chunk in items.chunks(999) {
                let f = qs.filter_or_exclude(rt, false, vec![], vec![(format!("{field_name}__in"), Val::tuple(chunk.to_vec()))])?;
                out.extend(f.fetch(rt)?.iter().cloned());
            }
            out
        }
        _ => qs.chain().fetch(rt)?.as_ref().clone(),
    };
    let mut d = crate::value::PyDict::new();
    for r in rows {
        let k = crate::py::methods::getattr(rt, &r, &field_name)?;
        d.set(k, r)?;
    }
    Ok(Val::dict(d))
}

/// The manager class of a model: `ManagerFromArticleQuerySet` for `ArticleQuerySet.as_manager()`.
pub fn manager_class_name(model: &Model) -> String {
    match queryset_class_name(model).as_str() {
        "QuerySet" => "Manager".into(),
        qs => format!("ManagerFrom{qs}"),
    }
}

/// The QuerySet class of a model: its custom one (`ArticleQuerySet`, from `as_manager()`), or
/// `QuerySet`.
pub fn queryset_class_name(model: &Model) -> String {
    model
        .queryset_source
        .and_then(|src| src.strip_prefix("class "))
        .and_then(|rest| rest.split(|c: char| !c.is_alphanumeric() && c != '_').next())
        .unwrap_or("QuerySet")
        .to_string()
}

impl Object for QuerySetObj {
    fn built_at(&self, line: &dyn Fn() -> crate::profiler::LineKey) {
        if self.built.get().is_none() {
            self.built.set(Some(line()));
        }
    }
    fn type_name(&self) -> String {
        queryset_class_name(self.model)
    }
    fn class_names(&self) -> Vec<String> {
        let own = queryset_class_name(self.model);
        let mut v = vec![own.clone()];
        if own != "QuerySet" {
            v.push("QuerySet".into());
        }
        v.push("object".into());
        v
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "model" => return Ok(Val::obj(ModelClass(self.model))),
            "ordered" => return Ok(Val::Bool(self.ordered())),
            "query" => return Ok(Val::obj(QueryText(self.clone()))),
            "db" => return Ok(Val::str("default")),
            _ => {}
        }
        if QS_METHODS.contains(&name) || super::api::custom_qs_method(rt, self.model, name)?.is_some() {
            let me = self.clone();
            let n = name.to_string();
            let alters = matches!(name, "update" | "delete" | "create" | "bulk_create" | "get_or_create" | "update_or_create" | "bulk_update");
            let f = move |rt: &Rt, args: Vec<Val>, kwargs: Kwargs| call_qs_method(rt, &me, &n, args, kwargs);
            return Ok(if alters { NativeFn::altering(name, f) } else { NativeFn::val(name, f) });
        }
        Err(no_attr(&queryset_class_name(self.model), name))
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        // Methods on an evaluated queryset share its cache (count(), exists(), first()).
        call_qs_method(rt, self, name, args, kwargs)
    }
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        match name {
            "all" | "count" | "exists" | "first" | "last" | "none" | "distinct" | "reverse" => self.call_method(rt, name, vec![], vec![]).map(Some),
            _ if name.chars().all(|c| c.is_ascii_digit()) => Ok(None),
            _ if super::api::custom_qs_method(rt, self.model, name)?.is_some() => self.call_method(rt, name, vec![], vec![]).map(Some),
            "model" | "ordered" | "query" | "db" => self.getattr(rt, name).map(Some),
            _ => Ok(None),
        }
    }
    fn iterate(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        self.fetch(rt)
    }
    fn len(&self, rt: &Rt) -> SResult<usize> {
        Ok(self.fetch(rt)?.len())
    }
    fn truthy(&self, rt: &Rt) -> SResult<bool> {
        Ok(!self.fetch(rt)?.is_empty())
    }
    fn contains(&self, rt: &Rt, item: &Val) -> SResult<bool> {
        Ok(self.fetch(rt)?.iter().any(|x| x.py_eq(item)))
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        // Django's repr fetches 21 rows with a query of its own unless the rows are cached.
        let (rows, more) = match self.cache.borrow().as_ref() {
            Some(rows) => (rows.iter().take(REPR_OUTPUT_SIZE as usize).cloned().collect::<Vec<_>>(), rows.len() as i64 > REPR_OUTPUT_SIZE),
            None => {
                let mut c = self.chain();
                c.query.set_limits(None, Some(REPR_OUTPUT_SIZE + 1));
                let rows = c.run(rt)?;
                let more = rows.len() as i64 > REPR_OUTPUT_SIZE;
                (rows.into_iter().take(REPR_OUTPUT_SIZE as usize).collect(), more)
            }
        };
        let mut items: Vec<String> = rows.iter().map(|r| r.repr(rt)).collect::<SResult<_>>()?;
        if more {
            items.push("'...(remaining elements truncated)...'".into());
        }
        Ok(format!("<{} [{}]>", queryset_class_name(self.model), items.join(", ")))
    }
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        if let Some(s) = key.as_obj::<crate::value::SliceVal>() {
            return self.getslice(rt, s.0, s.1, s.2);
        }
        let i = match key {
            Val::Int(i) => *i,
            Val::Bool(b) => *b as i64,
            other => return Err(type_err(format!("QuerySet indices must be integers or slices, not {}.", other.type_name()))),
        };
        if i < 0 {
            return Err(err(ErrorKind::ValueError, "Negative indexing is not supported."));
        }
        if let Some(rows) = self.cache.borrow().as_ref() {
            return rows.get(i as usize).cloned().ok_or_else(|| exc("IndexError", "list index out of range"));
        }
        let mut c = self.chain();
        c.query.set_limits(Some(i), Some(i + 1));
        c.run(rt)?.into_iter().next().ok_or_else(|| exc("IndexError", "list index out of range"))
    }
    fn getslice(&self, rt: &Rt, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> SResult<Val> {
        if start.is_some_and(|s| s < 0) || stop.is_some_and(|s| s < 0) {
            return Err(err(ErrorKind::ValueError, "Negative indexing is not supported."));
        }
        if let Some(rows) = self.cache.borrow().as_ref() {
            return Val::list(rows.as_ref().clone()).getslice(rt, start, stop, step);
        }
        let mut c = self.chain();
        c.query.set_limits(start, stop);
        match step {
            None | Some(1) => Ok(Val::obj(c)),
            Some(s) if s > 0 => {
                // A step evaluates the slice into a list, as Django does.
                let rows = c.run(rt)?;
                Val::list(rows).getslice(rt, None, None, Some(s))
            }
            Some(_) => Err(err(ErrorKind::ValueError, "Negative indexing is not supported.")),
        }
    }
    fn binop(&self, rt: &Rt, op: crate::value::BinOp, other: &Val, _reflected: bool) -> Option<SResult<Val>> {
        let o = other.as_obj::<QuerySetObj>()?;
        match op {
            crate::value::BinOp::BitOr | crate::value::BinOp::BitAnd => Some(super::combine::combine(rt, self, o, op == crate::value::BinOp::BitOr).map(Val::obj)),
            _ => None,
        }
    }
    fn pickle(&self, rt: &Rt) -> Option<SResult<Val>> {
        // Pickling a queryset evaluates it (QuerySet.__getstate__ fetches the rows).
        Some(self.fetch(rt).and_then(|rows| {
            let copy = self.clone();
            let items: SResult<Vec<Val>> = rows.iter().map(|r| crate::py::pickle::pickle_copy(rt, r)).collect();
            *copy.cache.borrow_mut() = Some(Rc::new(items?));
            Ok(Val::obj(copy))
        }))
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Ident(self as *const Self as *const u8 as usize))
    }
}

/// `qs.query`: prints as the SQL.
pub struct QueryText(QuerySetObj);

impl Object for QueryText {
    fn type_name(&self) -> String {
        "Query".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn to_str(&self, rt: &Rt) -> SResult<String> {
        self.0.sql_text(rt)
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<django.db.models.sql.query.Query object at 0x{:x}>", self as *const Self as usize))
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "model" => Ok(Val::obj(ModelClass(self.0.model))),
            "combinator" => Ok(self.0.query.combinator.as_ref().map(|c| Val::str(c.kind)).unwrap_or(Val::None)),
            "is_sliced" => Ok(Val::Bool(self.0.query.is_sliced())),
            _ => Err(no_attr("Query", name)),
        }
    }
}

// ---------------------------------------------------------------- managers

impl Object for Manager {
    fn type_name(&self) -> String {
        manager_class_name(self.model)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "model" => Ok(Val::obj(ModelClass(self.model))),
            "get_queryset" => {
                let m = self.model;
                Ok(NativeFn::val(name, move |_, _, _| Ok(Val::obj(QuerySetObj::for_model(m)))))
            }
            _ => QuerySetObj::for_model(self.model).getattr(rt, name).map_err(|_| no_attr(&manager_class_name(self.model), name)),
        }
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        if name == "get_queryset" {
            return Ok(Val::obj(QuerySetObj::for_model(self.model)));
        }
        if name == "raw" {
            return Ok(Val::obj(super::raw::RawQuerySetObj::new(rt, self.model, args, kwargs)?));
        }
        let qs = QuerySetObj::for_model(self.model);
        if QS_METHODS.contains(&name) || super::api::custom_qs_method(rt, self.model, name)?.is_some() {
            return call_qs_method(rt, &qs, name, args, kwargs);
        }
        Err(no_attr(&manager_class_name(self.model), name))
    }
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        match name {
            "all" | "count" | "exists" | "first" | "last" | "none" => self.call_method(rt, name, vec![], vec![]).map(Some),
            _ if super::api::custom_qs_method(rt, self.model, name)?.is_some() => self.call_method(rt, name, vec![], vec![]).map(Some),
            _ => Ok(None),
        }
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        Err(type_err("'Manager' object is not iterable"))
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<django.db.models.manager.Manager object>"))
    }
    fn to_str(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("{}.{}.objects", self.model.app_label, self.model.name))
    }
}

impl RelatedManager {
    /// `ManyRelatedManager` for many-to-many relations, `RelatedManager` for reverse FKs.
    fn class_name(&self) -> &'static str {
        match self.relation {
            Relation::ManyToMany { .. } | Relation::ManyToManyReverse { .. } => "ManyRelatedManager",
            _ => "RelatedManager",
        }
    }

    fn target(&self) -> &'static Model {
        self.relation.target()
    }

    /// The rows a prefetch left on the owning instance, if any.
    pub fn prefetched(&self) -> Option<Rc<Vec<Val>>> {
        self.owner.prefetched.borrow().get(&self.name).cloned()
    }

    fn path(&self) -> String {
        let p = self.owner.path.borrow();
        if p.is_empty() { self.name.clone() } else { format!("{p}__{}", self.name) }
    }

    /// `get_queryset()`: the prefetch, else the target's queryset filtered on the owner.
    pub fn get_queryset(&self, rt: &Rt) -> SResult<QuerySetObj> {
        let pk = self.owner.pk_value().ok_or_else(|| {
            err(ErrorKind::ValueError, format!("'{}' instance needs to have a primary key value before this relationship can be used.", self.owner.model.name))
        })?;
        let target = self.target();
        let mut qs = QuerySetObj::for_model(target);
        let kind = match self.relation {
            Relation::Reverse { .. } => "reverse",
            _ => "m2m",
        };
        qs.lazy = Some(LazyLoad { path: self.path(), kind: kind.into(), model: target.name.into() });
        qs.path = self.path();
        // A prefetch stored the filtered queryset with its rows: chaining it (`filter()`)
        // still filters on the owner, and queries again.
        let prefetched = self.prefetched();
        let mut filtered = match self.rel_filtered_again(rt, &qs, pk) {
            Some(again) => again,
            None => self.rel_filtered(rt, qs, pk)?,
        };
        if let Some(rows) = prefetched {
            if let Some(order) = self.owner.prefetched_order.borrow().get(&self.name) {
                filtered.query.order_by = order.clone();
                filtered.rebound = None;
            }
            *filtered.cache.borrow_mut() = Some(rows);
        }
        Ok(filtered)
    }

    /// The owner-filtered queryset from this relation's first one, with this owner's id put in
    /// the one place the first owner's id was: `filter()` resolves the same names and joins
    /// for every owner, so only its value differs (an N+1 loop asks once per row). The first
    /// time it is built (and kept when the id is found exactly once in its WHERE tree); `None`
    /// when it cannot be reused or building failed (the caller's `rel_filtered` then reports).
    fn rel_filtered_again(&self, rt: &Rt, qs: &QuerySetObj, pk: i64) -> Option<QuerySetObj> {
        let cache = rt.state::<RelFilters>();
        let owner = self.owner.model as *const Model as usize;
        let known = cache.0.borrow().get(&owner).and_then(|by_name| by_name.get(self.name.as_str()).cloned());
        let Some(found) = known else {
            let first = self.rel_filtered(rt, qs.clone(), pk).ok()?;
            let mut at = Vec::new();
            let reusable = (count_id(&first.query.where_, pk, &mut vec![], &mut at) == 1).then(|| Rc::new(RelFilter { first: first.clone(), pk, at, statement: Default::default() }));
            cache.0.borrow_mut().entry(owner).or_default().insert(self.name.clone(), reusable);
            return Some(first);
        };
        let kept = found?;
        let mut again = kept.first.clone();
        *id_at(&mut again.query.where_, &kept.at)? = crate::engine::SqlValue::Int(pk);
        // Its statement: the first owner's, compiled once, with this id as the parameter that was
        // the first's (only when the first's id is exactly one parameter and nothing is rewritten
        // for the engine; else every owner's queryset compiles its own).
        let statement = kept.statement.get_or_init(|| {
            let c = super::compiler::compile_select(rt, &kept.first.query).ok()??;
            super::compiler::Rebound::of(c, &crate::engine::SqlValue::Int(kept.pk)).map(Rc::new)
        });
        again.rebound = statement.clone().map(|s| (s, crate::engine::SqlValue::Int(pk)));
        again.lazy = qs.lazy.clone();
        again.path = qs.path.clone();
        for k in again.known.iter_mut() {
            *k = (k.0, pk, Val::Obj(self.owner.clone()));
        }
        Some(again)
    }

    fn rel_filtered(&self, rt: &Rt, mut qs: QuerySetObj, pk: i64) -> SResult<QuerySetObj> {
        match self.relation {
            Relation::Reverse { field, .. } => {
                let mut c = qs.filter_or_exclude(rt, false, vec![], vec![(field.name.to_string(), Val::Obj(self.owner.clone()))])?;
                c.known = vec![(field.name, pk, Val::Obj(self.owner.clone()))];
                Ok(c)
            }
            Relation::ManyToMany { m2m, .. } => {
                qs.sticky = true;
                qs.filter_or_exclude(rt, false, vec![], vec![(format!("{}__id", m2m.related_name), Val::Int(pk))]).map(|mut c| {
                    c.sticky = false;
                    c
                })
            }
            Relation::ManyToManyReverse { m2m, .. } => {
                qs.sticky = true;
                qs.filter_or_exclude(rt, false, vec![], vec![(format!("{}__id", m2m.name), Val::Int(pk))]).map(|mut c| {
                    c.sticky = false;
                    c
                })
            }
            Relation::Forward { .. } => unreachable!("forward relations are objects, not managers"),
        }
    }

}

impl Object for RelatedManager {
    fn type_name(&self) -> String {
        self.class_name().into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        let me = RelatedManager { owner: self.owner.clone(), name: self.name.clone(), relation: self.relation };
        let n = name.to_string();
        if matches!(name, "model") {
            return Ok(Val::obj(ModelClass(self.target())));
        }
        if QS_METHODS.contains(&name) || matches!(name, "add" | "remove" | "clear" | "set") || super::api::custom_qs_method(rt, self.target(), name)?.is_some() {
            let me = Rc::new(me);
            let f = move |rt: &Rt, args: Vec<Val>, kwargs: Kwargs| me.call_method(rt, &n, args, kwargs);
            return Ok(if matches!(name, "add" | "remove" | "clear" | "set" | "create" | "update" | "delete") { NativeFn::altering(name, f) } else { NativeFn::val(name, f) });
        }
        Err(no_attr(self.class_name(), name))
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        match name {
            "count" | "exists" if self.prefetched().is_none() => {
                if let Some(ct) = self.constrained_target_rt(rt) {
                    return if name == "count" { Ok(Val::Int(ct.count(rt)?)) } else { Ok(Val::Bool(ct.exists(rt)?)) };
                }
                let qs = self.get_queryset(rt)?;
                call_qs_method(rt, &qs, name, args, kwargs)
            }
            "add" | "remove" | "clear" | "set" | "create" | "get_or_create" | "update_or_create" => super::write::related_write(rt, self, name, args, kwargs),
            "all" if self.prefetched().is_some() => Ok(Val::obj(self.get_queryset(rt)?)),
            // `get_queryset()` made a new QuerySet: `all()`'s copy of it (`chain()`) is that one,
            // chained in place (its statement kept for it stays valid).
            "all" if args.is_empty() && kwargs.is_empty() => {
                let mut qs = self.get_queryset(rt)?;
                debug_assert!(!qs.sticky, "a related manager's queryset is not sticky");
                qs.query.chained_in_place();
                Ok(Val::obj(qs))
            }
            _ => {
                let qs = self.get_queryset(rt)?;
                call_qs_method(rt, &qs, name, args, kwargs)
            }
        }
    }
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        match name {
            "all" | "count" | "exists" | "first" | "last" | "none" => self.call_method(rt, name, vec![], vec![]).map(Some),
            _ if super::api::custom_qs_method(rt, self.target(), name)?.is_some() => self.call_method(rt, name, vec![], vec![]).map(Some),
            // `do_not_call_in_templates`: other names are invalid variables.
            _ => Ok(None),
        }
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        Err(type_err("'RelatedManager' object is not iterable"))
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok("<django.db.models.fields.related_descriptors.RelatedManager object>".into())
    }
    fn to_str(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("{}.{}.None", self.target().app_label, self.target().name))
    }
}

impl RelatedManager {
    fn constrained_target_rt(&self, rt: &Rt) -> Option<QuerySetObj> {
        let (m2m, target, source_field) = match self.relation {
            Relation::ManyToMany { m2m, to } => (m2m, to, "article"),
            Relation::ManyToManyReverse { m2m, from } => (m2m, from, "tag"),
            _ => return None,
        };
        if target.queryset_source.is_some() {
            return None;
        }
        let through = schema::through_model(m2m.table)?;
        let mut q = QuerySetObj::for_model(through);
        q.lazy = Some(LazyLoad { path: self.path(), kind: "m2m".into(), model: target.name.into() });
        let pk = self.owner.pk_value()?;
        q.query.add_q(rt, &QTree::Leaf(Rc::from(source_field), FilterValue::Val(Val::Int(pk)))).ok()?;
        Some(q)
    }
}

/// `Model.objects.get(pk=id)` as a forward FK's lazy load sends it:
/// `SELECT … WHERE "t"."id" = %s LIMIT 21`.
pub fn get_by_pk(rt: &Rt, model: &'static Model, id: &Val) -> SResult<Val> {
    if let Val::Int(pk) = id {
        if let Some(found) = get_by_pk_again(rt, model, *pk)? {
            return Ok(found);
        }
    }
    let qs = QuerySetObj::for_model(model);
    qs.get(rt, vec![], vec![("id".into(), id.clone())])
}

/// `get()`'s answer from the rows it fetched: the one row, or Django's two errors.
fn got_one(name: &str, rows: &[Val]) -> SResult<Val> {
    match rows.len() {
        1 => Ok(rows[0].clone()),
        0 => Err(exc(&format!("{name}.DoesNotExist"), format!("{name} matching query does not exist."))),
        n => {
            let more = if n as i64 >= MAX_GET_RESULTS { format!("more than {}", MAX_GET_RESULTS - 1) } else { n.to_string() };
            Err(exc(&format!("{name}.MultipleObjectsReturned"), format!("get() returned more than one {name} -- it returned {more}!")))
        }
    }
}

/// Per owner model (by address) and relation name: a related manager's first owner-filtered
/// queryset and where its owner's id sits in the WHERE tree (`RelatedManager::rel_filtered_again`);
/// looked up by the name as it is, without building a key per call.
#[derive(Default)]
struct RelFilters(std::cell::RefCell<std::collections::HashMap<usize, std::collections::HashMap<String, Option<Rc<RelFilter>>>>>);

/// A relation's first owner-filtered queryset, its owner's id, where that id sits in the WHERE
/// tree, and (once a second owner asks) its compiled statement if that can be rebound.
struct RelFilter {
    first: QuerySetObj,
    pk: i64,
    at: Vec<usize>,
    statement: std::cell::OnceCell<Option<Rc<super::compiler::Rebound>>>,
}

/// How many lookups in `node` compare with the value `id`; `at` gets the child indices of the
/// first.
fn count_id(node: &super::expr::WhereNode, id: i64, path: &mut Vec<usize>, at: &mut Vec<usize>) -> usize {
    use super::expr::{Rhs, WhereChild};
    let mut n = 0;
    for (i, child) in node.children.iter().enumerate() {
        path.push(i);
        n += match child {
            WhereChild::Node(inner) => count_id(inner, id, path, at),
            WhereChild::Lookup(l) => match &l.rhs {
                Rhs::Value(crate::engine::SqlValue::Int(v)) if *v == id => {
                    if at.is_empty() {
                        at.clone_from(path);
                    }
                    1
                }
                // The id in a list, or any expression (which may hold it), counts as a second
                // place: such a tree is not reused.
                Rhs::Values(vs) if vs.contains(&crate::engine::SqlValue::Int(id)) => 2,
                Rhs::Expr(_) => 2,
                _ => 0,
            },
            WhereChild::Expr(_) => 2,
            WhereChild::Nothing => 0,
        };
        path.pop();
    }
    n
}

/// The compared value of the lookup at child indices `at` (found by `count_id`).
fn id_at<'a>(node: &'a mut super::expr::WhereNode, at: &[usize]) -> Option<&'a mut crate::engine::SqlValue> {
    use super::expr::{Rhs, WhereChild};
    let (first, rest) = at.split_first()?;
    match node.children.get_mut(*first)? {
        WhereChild::Node(inner) => id_at(inner, rest),
        WhereChild::Lookup(l) if rest.is_empty() => match &mut l.rhs {
            Rhs::Value(v) => Some(v),
            _ => None,
        },
        _ => None,
    }
}

/// [`get_by_pk`]'s statement per model (by address: a project's own models are new ones),
/// compiled once per session: every lazy load of a foreign key sends the same SQL with another
/// id, so the next ones only swap the parameter instead of building and compiling the query
/// again (the N+1 page's twenty author loads).
#[derive(Default)]
struct PkSelects(std::cell::RefCell<std::collections::HashMap<usize, Option<Rc<(Query, super::compiler::Rebound)>>>>);

/// The row with primary key `pk` through the compiled statement, or `get()`'s error; `None`
/// when this model's statement cannot be reused (then the caller takes `get()`'s path).
fn get_by_pk_again(rt: &Rt, model: &'static Model, pk: i64) -> SResult<Option<Val>> {
    let cache = rt.state::<PkSelects>();
    let key = model as *const Model as usize;
    if !cache.0.borrow().contains_key(&key) {
        let qs = QuerySetObj::for_model(model);
        let mut q = qs.filter_or_exclude(rt, false, vec![], vec![("id".into(), Val::Int(pk))])?.query;
        q.clear_ordering(true, false);
        q.default_ordering = false;
        q.set_limits(None, Some(MAX_GET_RESULTS));
        // Reusable when the id is the statement's one parameter and nothing is rewritten for
        // the engine.
        let reusable = super::compiler::compile_select(rt, &q)?
            .filter(|c| c.params.len() == 1)
            .and_then(|c| super::compiler::Rebound::of(c, &crate::engine::SqlValue::Int(pk)));
        cache.0.borrow_mut().insert(key, reusable.map(|c| Rc::new((q, c))));
    }
    let Some(found) = cache.0.borrow().get(&key).cloned().flatten() else { return Ok(None) };
    let (q, kept) = &*found;
    let r = kept.run(rt, &crate::engine::SqlValue::Int(pk))?;
    let rows = fetch::build_rows(q, &RowKind::Models, &kept.compiled, &r.rows, None)?;
    got_one(model.name, &rows).map(Some)
}
