//! The Django objects a learner touches: model classes, managers, querysets, instances,
//! `Q`, `Prefetch`, aggregates, paginators. Laziness lives here: a queryset sends its query
//! when iterated, measured, tested for truth or printed, then keeps its rows; a forward
//! relation is fetched on first access and cached on the instance, unless `select_related`
//! or `prefetch_related` already put it there.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::query::{Aggregate, Compiled, Compiler, PrefetchSpec, QNode, Query, SelectItem, ValuesMode};
use crate::engine::{inline_params, SqlValue};
use crate::error::{err, ErrorKind, SResult};
use crate::runtime::Rt;
use crate::schema::{self, Field, FieldKind, Model, Relation};
use crate::value::{no_attr, DateTime, Object, Val};

/// Django's `MAX_GET_RESULTS`: `.get()` fetches up to 21 rows to report "more than 20".
const MAX_GET_RESULTS: i64 = 21;
/// Django's `REPR_OUTPUT_SIZE`.
const REPR_OUTPUT_SIZE: i64 = 20;

// ---------------------------------------------------------------- model class

pub struct ModelClass(pub &'static Model);

impl Object for ModelClass {
    fn type_name(&self) -> String {
        "ModelBase".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "objects" => Ok(Val::obj(QuerySetObj::new(Query::new(self.0)).as_manager(None))),
            _ => Err(err(ErrorKind::AttributeError, format!("type object '{}' has no attribute '{name}'", self.0.name))),
        }
    }
    fn to_str(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<class '{}'>", self.0.name))
    }
}

// ---------------------------------------------------------------- queryset

/// Who owns a related manager, so `.all()` can answer from a prefetch.
#[derive(Clone)]
pub struct RelatedOwner {
    pub instance: Rc<Instance>,
    pub name: String,
    pub relation: Relation,
}

pub struct QuerySetObj {
    pub query: Query,
    cache: RefCell<Option<Rc<Vec<Val>>>>,
    /// `Some` for `Article.objects` and related managers: not iterable, but proxies QuerySet methods.
    manager: Option<Option<RelatedOwner>>,
}

impl QuerySetObj {
    pub fn new(query: Query) -> QuerySetObj {
        QuerySetObj { query, cache: RefCell::new(None), manager: None }
    }
    fn as_manager(mut self, owner: Option<RelatedOwner>) -> QuerySetObj {
        self.manager = Some(owner);
        self
    }
    fn with_cache(query: Query, rows: Rc<Vec<Val>>) -> QuerySetObj {
        QuerySetObj { query, cache: RefCell::new(Some(rows)), manager: None }
    }
    fn derive(&self, f: impl FnOnce(&mut Query) -> SResult<()>) -> SResult<Val> {
        let mut q = self.query.clone();
        f(&mut q)?;
        Ok(Val::obj(QuerySetObj::new(q)))
    }
    fn owner(&self) -> Option<&RelatedOwner> {
        self.manager.as_ref().and_then(|m| m.as_ref())
    }
    /// The rows a prefetch left on the owning instance, if any.
    fn prefetched(&self) -> Option<Rc<Vec<Val>>> {
        let o = self.owner()?;
        o.instance.prefetched.borrow().get(&o.name).cloned()
    }
    fn check_not_sliced(&self, what: &str) -> SResult<()> {
        if self.query.is_sliced() {
            return Err(err(ErrorKind::TypeError, format!("Cannot {what} a query once a slice has been taken.")));
        }
        Ok(())
    }

    /// Evaluates (once) and returns the rows.
    pub fn fetch(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        if let Some(rows) = self.cache.borrow().as_ref() {
            return Ok(rows.clone());
        }
        if self.manager.is_some() {
            return Err(err(ErrorKind::TypeError, "'Manager' object is not iterable (call .all() first)"));
        }
        let rows = Rc::new(run_select(rt, &self.query)?);
        *self.cache.borrow_mut() = Some(rows.clone());
        Ok(rows)
    }

    fn count(&self, rt: &Rt) -> SResult<Val> {
        if let Some(rows) = self.cache.borrow().as_ref() {
            return Ok(Val::Int(rows.len() as i64));
        }
        if let Some(rows) = self.prefetched() {
            return Ok(Val::Int(rows.len() as i64));
        }
        if self.query.empty {
            return Ok(Val::Int(0));
        }
        let c = match self.through_only() {
            Some(sql) => sql_count_through(sql),
            None => Compiler::new(&self.query).compile_count()?,
        };
        if c.always_empty {
            return Ok(Val::Int(0));
        }
        let r = rt.query(&c.sql, &c.params)?;
        Ok(Val::Int(r.rows.first().and_then(|r| r.first()).and_then(sql_int).unwrap_or(0)))
    }

    fn exists(&self, rt: &Rt) -> SResult<Val> {
        if let Some(rows) = self.cache.borrow().as_ref() {
            return Ok(Val::Bool(!rows.is_empty()));
        }
        if let Some(rows) = self.prefetched() {
            return Ok(Val::Bool(!rows.is_empty()));
        }
        if self.query.empty {
            return Ok(Val::Bool(false));
        }
        let c = match self.through_only() {
            Some(sql) => sql_exists_through(sql),
            None => {
                let mut q = self.query.clone();
                q.order_by = Some(vec![]);
                if !q.is_sliced() {
                    q.high = None;
                }
                Compiler::new(&q).compile_exists()?
            }
        };
        if c.always_empty {
            return Ok(Val::Bool(false));
        }
        let r = rt.query(&c.sql, &c.params)?;
        Ok(Val::Bool(!r.rows.is_empty()))
    }

    /// Django counts `a.tags` on the through table alone when the target's manager is a
    /// plain one and nothing else filters: (through table, owner column, owner pk).
    fn through_only(&self) -> Option<(&'static str, &'static str, i64)> {
        let o = self.owner()?;
        match o.relation {
            Relation::ManyToMany { m2m, to } if to.custom_methods.is_empty() => {
                let QNode::And(children) = &self.query.filter else { return None };
                if children.len() != 1 {
                    return None;
                }
                Some((m2m.table, m2m.from_column, o.instance.pk_value()?))
            }
            Relation::ManyToManyReverse { m2m, from } if from.custom_methods.is_empty() => {
                let QNode::And(children) = &self.query.filter else { return None };
                if children.len() != 1 {
                    return None;
                }
                Some((m2m.table, m2m.to_column, o.instance.pk_value()?))
            }
            _ => None,
        }
    }

    fn first_or_last(&self, rt: &Rt, last: bool) -> SResult<Val> {
        if let Some(rows) = self.cache.borrow().as_ref() {
            return Ok(if last { rows.last() } else { rows.first() }.cloned().unwrap_or(Val::None));
        }
        if let Some(rows) = self.prefetched() {
            if self.query.order_by.is_none() {
                return Ok(if last { rows.last() } else { rows.first() }.cloned().unwrap_or(Val::None));
            }
        }
        let mut q = self.query.clone();
        let mut ordering = q.effective_ordering();
        if ordering.is_empty() {
            ordering = vec!["pk".into()];
        }
        if ordering.iter().any(|o| o == "pk" || o == "-pk") {
            ordering = ordering.iter().map(|o| o.replace("pk", "id")).collect();
        }
        if last {
            ordering = ordering.iter().map(|o| match o.strip_prefix('-') { Some(x) => x.to_string(), None => format!("-{o}") }).collect();
        }
        if last && q.is_sliced() {
            return Err(err(ErrorKind::TypeError, "Cannot reverse a query once a slice has been taken."));
        }
        q.order_by = Some(ordering);
        q.set_limits(None, Some(1));
        let rows = run_select(rt, &q)?;
        Ok(rows.into_iter().next().unwrap_or(Val::None))
    }

    fn get(&self, rt: &Rt, args: Vec<Val>, kwargs: Vec<(String, Val)>) -> SResult<Val> {
        let mut q = self.query.clone();
        add_filter(&mut q, args, kwargs, false)?;
        if !q.is_sliced() {
            q.order_by = Some(vec![]);
            q.set_limits(None, Some(MAX_GET_RESULTS));
        }
        let rows = run_select(rt, &q)?;
        match rows.len() {
            1 => Ok(rows.into_iter().next().expect("one")),
            0 => Err(err(ErrorKind::DoesNotExist, format!("{} matching query does not exist.", self.query.model.name))),
            n => {
                let more = if n as i64 >= MAX_GET_RESULTS { format!("more than {}", MAX_GET_RESULTS - 1) } else { n.to_string() };
                Err(err(ErrorKind::MultipleObjectsReturned, format!("get() returned more than one {} -- it returned {more}!", self.query.model.name)))
            }
        }
    }

    fn aggregate(&self, rt: &Rt, args: Vec<Val>, kwargs: Vec<(String, Val)>) -> SResult<Val> {
        let mut aggs = Vec::new();
        for a in args {
            let agg = a.as_obj::<AggObj>().ok_or_else(|| err(ErrorKind::TypeError, "Complex aggregates require an alias"))?;
            aggs.push((format!("{}__{}", agg.0.path, agg.0.func.to_lowercase()), agg.0.clone()));
        }
        for (k, v) in kwargs {
            let agg = v.as_obj::<AggObj>().ok_or_else(|| err(ErrorKind::TypeError, format!("{k} is not an aggregate expression")))?;
            aggs.push((k, agg.0.clone()));
        }
        let mut q = self.query.clone();
        q.order_by = Some(vec![]);
        let c = Compiler::new(&q).compile_aggregate(&aggs)?;
        // On an empty filter Django sends nothing: counts are 0, other aggregates None.
        let row = if c.always_empty {
            aggs.iter().map(|(_, a)| if a.func == "COUNT" { SqlValue::Int(0) } else { SqlValue::Null }).collect()
        } else {
            rt.query(&c.sql, &c.params)?.rows.into_iter().next().unwrap_or_default()
        };
        let mut out = Vec::new();
        for ((name, agg), v) in aggs.iter().zip(row) {
            out.push((Rc::from(name.as_str()), aggregate_value(&q, agg, &v)));
        }
        Ok(Val::Dict(Rc::new(out)))
    }
}

fn sql_count_through((table, column, pk): (&'static str, &'static str, i64)) -> Compiled {
    Compiled {
        always_empty: false,
        sql: format!("SELECT COUNT(*) AS \"__count\" FROM \"{table}\" WHERE \"{table}\".\"{column}\" = %s"),
        params: vec![SqlValue::Int(pk)],
        select: vec![],
    }
}

fn sql_exists_through((table, column, pk): (&'static str, &'static str, i64)) -> Compiled {
    Compiled {
        always_empty: false,
        sql: format!("SELECT 1 AS \"a\" FROM \"{table}\" WHERE \"{table}\".\"{column}\" = %s LIMIT 1"),
        params: vec![SqlValue::Int(pk)],
        select: vec![],
    }
}

fn sql_int(v: &SqlValue) -> Option<i64> {
    match v {
        SqlValue::Int(i) => Some(*i),
        SqlValue::Real(f) => Some(*f as i64),
        _ => None,
    }
}

fn kw_bool(kwargs: &[(String, Val)], name: &str) -> bool {
    kwargs.iter().any(|(k, v)| k == name && matches!(v, Val::Bool(true) | Val::Int(1)))
}

fn str_args(method: &str, args: &[Val]) -> SResult<Vec<String>> {
    args.iter()
        .map(|a| {
            a.as_str().map(str::to_string).ok_or_else(|| {
                err(ErrorKind::TypeError, format!("{method}() arguments must be field names as strings, not {}", a.type_name()))
            })
        })
        .collect()
}

fn no_kwargs(method: &str, kwargs: &[(String, Val)]) -> SResult<()> {
    match kwargs.first() {
        Some((k, _)) => Err(err(ErrorKind::TypeError, format!("{method}() got an unexpected keyword argument '{k}'"))),
        None => Ok(()),
    }
}

/// `filter(*args, **kwargs)`: positional `Q`s first, then keyword lookups sorted by name (as `Q` does).
pub fn build_q(args: Vec<Val>, mut kwargs: Vec<(String, Val)>) -> SResult<QNode> {
    let mut children = Vec::new();
    for a in args {
        if let Some(q) = a.as_obj::<QObj>() {
            children.push(q.0.clone());
        } else if let Some(e) = a.as_obj::<ExistsObj>() {
            children.push(QNode::Exists(Box::new(e.0.clone()), e.1));
        } else {
            return Err(err(ErrorKind::TypeError, format!("Cannot filter against a non-conditional expression ({}).", a.type_name())));
        }
    }
    kwargs.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in kwargs {
        children.push(QNode::Leaf(k, v));
    }
    Ok(if children.len() == 1 { children.pop().expect("one") } else { QNode::And(children) })
}

fn add_filter(q: &mut Query, args: Vec<Val>, kwargs: Vec<(String, Val)>, negate: bool) -> SResult<()> {
    if args.is_empty() && kwargs.is_empty() {
        return Ok(());
    }
    let node = build_q(args, kwargs)?;
    // Check the names now, as Django does when filter() is called, not when the query runs.
    Compiler::validator(&Query { filter: node.clone(), ..q.clone() }).compile_count()?;
    let node = if negate { QNode::Not(Box::new(node)) } else { node };
    q.filter = std::mem::replace(&mut q.filter, QNode::And(vec![])).and(node);
    Ok(())
}

impl Object for QuerySetObj {
    fn type_name(&self) -> String {
        match &self.manager {
            Some(Some(_)) => "RelatedManager".into(),
            Some(None) => "Manager".into(),
            None => "QuerySet".into(),
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        if is_qs_method(name) || self.query.model.custom_methods.contains(&name) {
            return Ok(Val::obj(BoundMethod { name: name.to_string() }));
        }
        match name {
            "model" => Ok(Val::obj(ModelClass(self.query.model))),
            "ordered" => Ok(Val::Bool(!self.query.effective_ordering().is_empty())),
            "query" => Ok(Val::str(self.sql_text()?)),
            _ => Err(no_attr(&self.type_name(), name)),
        }
    }

    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        match name {
            "all" | "count" | "exists" | "first" | "last" | "none" | "distinct" | "published" | "reverse" => {
                self.call_method(rt, name, vec![], vec![]).map(Some)
            }
            _ if name.chars().all(|c| c.is_ascii_digit()) => {
                let i: i64 = name.parse().unwrap_or(0);
                self.getitem(rt, &Val::Int(i)).map(Some)
            }
            _ => match self.getattr(rt, name) {
                Ok(Val::Obj(o)) if o.as_any().is::<BoundMethod>() => Ok(None),
                Ok(v) => Ok(Some(v)),
                Err(e) if e.kind == ErrorKind::AttributeError => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Vec<(String, Val)>) -> SResult<Val> {
        let model = self.query.model;
        match name {
            "all" => {
                no_kwargs(name, &kwargs)?;
                if let Some(rows) = self.prefetched() {
                    return Ok(Val::obj(QuerySetObj::with_cache(self.query.clone(), rows)));
                }
                self.derive(|_| Ok(()))
            }
            "filter" | "exclude" => {
                self.check_not_sliced("filter")?;
                self.derive(|q| add_filter(q, args, kwargs, name == "exclude"))
            }
            "get" => self.get(rt, args, kwargs),
            "first" | "last" => {
                no_kwargs(name, &kwargs)?;
                self.first_or_last(rt, name == "last")
            }
            "count" => self.count(rt),
            "exists" => self.exists(rt),
            "none" => self.derive(|q| {
                q.empty = true;
                Ok(())
            }),
            "order_by" => {
                self.check_not_sliced("reorder")?;
                let names = str_args(name, &args)?;
                let probe = Query { order_by: Some(names.clone()), ..self.query.clone() };
                Compiler::new(&probe).compile_select(None)?;
                self.derive(|q| {
                    q.order_by = Some(names);
                    Ok(())
                })
            }
            "reverse" => self.derive(|q| {
                let o = q.effective_ordering();
                q.order_by = Some(o.iter().map(|o| match o.strip_prefix('-') { Some(x) => x.to_string(), None => format!("-{o}") }).collect());
                Ok(())
            }),
            "select_related" => {
                let names = str_args(name, &args)?;
                let probe = Query { select_related: names.clone(), ..self.query.clone() };
                Compiler::new(&probe).compile_select(None)?;
                self.derive(|q| {
                    for n in names {
                        if !q.select_related.contains(&n) {
                            q.select_related.push(n);
                        }
                    }
                    Ok(())
                })
            }
            "prefetch_related" => {
                let mut specs = Vec::new();
                for a in &args {
                    if let Some(s) = a.as_str() {
                        specs.push(PrefetchSpec { lookup: s.to_string(), queryset: None, to_attr: None });
                    } else if let Some(p) = a.as_obj::<PrefetchObj>() {
                        specs.push(p.0.clone());
                    } else {
                        return Err(err(ErrorKind::TypeError, format!("prefetch_related() takes lookups as strings or Prefetch objects, not {}", a.type_name())));
                    }
                }
                for s in &specs {
                    check_prefetch_lookup(model, &s.lookup)?;
                }
                self.derive(|q| {
                    q.prefetch.extend(specs);
                    Ok(())
                })
            }
            "annotate" | "alias" => {
                let mut anns = Vec::new();
                for a in &args {
                    let agg = a.as_obj::<AggObj>().ok_or_else(|| err(ErrorKind::TypeError, "Complex annotations require an alias"))?;
                    anns.push((format!("{}__{}", agg.0.path, agg.0.func.to_lowercase()), agg.0.clone()));
                }
                for (k, v) in &kwargs {
                    let agg = v.as_obj::<AggObj>().ok_or_else(|| {
                        err(ErrorKind::TypeError, format!("QuerySet.annotate() received non-expression(s): {}.", v.type_name()))
                    })?;
                    if model.field(k).is_some() || model.relation(k).is_some() {
                        return Err(err(ErrorKind::ValueError, format!("The annotation '{k}' conflicts with a field on the model.")));
                    }
                    anns.push((k.clone(), agg.0.clone()));
                }
                let probe = Query { annotations: [self.query.annotations.clone(), anns.clone()].concat(), ..self.query.clone() };
                Compiler::new(&probe).compile_select(None)?;
                self.derive(|q| {
                    q.annotations.extend(anns);
                    Ok(())
                })
            }
            "aggregate" => self.aggregate(rt, args, kwargs),
            "values" | "values_list" => {
                let names = str_args(name, &args)?;
                let flat = kw_bool(&kwargs, "flat");
                if flat && names.len() > 1 {
                    return Err(err(ErrorKind::TypeError, "'flat' is not valid when values_list is called with more than one field."));
                }
                let mode = match (name, flat) {
                    ("values", _) => ValuesMode::Dicts(names),
                    (_, true) => ValuesMode::Flat(names.first().cloned().unwrap_or_else(|| "id".into())),
                    _ => ValuesMode::Tuples(names),
                };
                let probe = Query { values: Some(mode.clone()), ..self.query.clone() };
                Compiler::new(&probe).compile_select(None)?;
                self.derive(|q| {
                    q.values = Some(mode);
                    Ok(())
                })
            }
            "only" | "defer" => {
                let names = str_args(name, &args)?;
                for n in &names {
                    if model.field(n).is_none() {
                        return Err(err(ErrorKind::FieldError, format!("{} has no field named '{n}'", model.name)));
                    }
                }
                self.derive(|q| {
                    if name == "only" {
                        q.only = Some(names);
                        q.defer.clear();
                    } else {
                        q.defer.extend(names);
                    }
                    Ok(())
                })
            }
            "distinct" => self.derive(|q| {
                q.distinct = true;
                Ok(())
            }),
            "published" if model.custom_methods.contains(&"published") => {
                self.derive(|q| add_filter(q, vec![], vec![("status".into(), Val::str("published"))], false))
            }
            "iterator" => Ok(Val::List(self.fetch(rt)?)),
            "explain" => Err(err(ErrorKind::NotSupported, "use the EXPLAIN panel of the lesson to see the plan")),
            "update" | "delete" | "create" | "bulk_create" | "get_or_create" | "update_or_create" | "add" | "remove" | "clear" | "set" => {
                Err(err(ErrorKind::NotSupported, format!("{name}() writes data; the lab's QuerySet box is read-only")))
            }
            _ => Err(no_attr(&self.type_name(), name)),
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
    fn to_str(&self, rt: &Rt) -> SResult<String> {
        if self.manager.is_some() {
            return Ok(format!("{}.{}.None", self.query.model.name.to_lowercase(), self.type_name()));
        }
        // Django's repr fetches 21 rows with a query of its own unless the rows are cached.
        let (rows, more) = match self.cache.borrow().as_ref() {
            Some(rows) => (rows.iter().take(REPR_OUTPUT_SIZE as usize).cloned().collect::<Vec<_>>(), rows.len() as i64 > REPR_OUTPUT_SIZE),
            None => {
                let mut q = self.query.clone();
                q.set_limits(None, Some(REPR_OUTPUT_SIZE + 1));
                let rows = run_select(rt, &q)?;
                let more = rows.len() as i64 > REPR_OUTPUT_SIZE;
                (rows.into_iter().take(REPR_OUTPUT_SIZE as usize).collect(), more)
            }
        };
        let mut items: Vec<String> = rows.iter().map(|r| r.repr(rt)).collect::<SResult<_>>()?;
        if more {
            items.push("'...(remaining elements truncated)...'".into());
        }
        Ok(format!("<QuerySet [{}]>", items.join(", ")))
    }

    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        let i = key.as_int().ok_or_else(|| {
            err(ErrorKind::TypeError, format!("QuerySet indices must be integers or slices, not {}.", key.type_name()))
        })?;
        if i < 0 {
            return Err(err(ErrorKind::ValueError, "Negative indexing is not supported."));
        }
        if let Some(rows) = self.cache.borrow().as_ref() {
            return rows.get(i as usize).cloned().ok_or_else(|| err(ErrorKind::ValueError, "IndexError: list index out of range"));
        }
        let mut q = self.query.clone();
        q.set_limits(Some(i), Some(i + 1));
        run_select(rt, &q)?.into_iter().next().ok_or_else(|| err(ErrorKind::ValueError, "IndexError: list index out of range"))
    }

    fn getslice(&self, rt: &Rt, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> SResult<Val> {
        if start.is_some_and(|s| s < 0) || stop.is_some_and(|s| s < 0) {
            return Err(err(ErrorKind::ValueError, "Negative indexing is not supported."));
        }
        if let Some(rows) = self.cache.borrow().as_ref() {
            return Val::List(rows.clone()).getslice(rt, start, stop, step);
        }
        if self.manager.is_some() {
            return Err(err(ErrorKind::TypeError, format!("'{}' object is not subscriptable", self.type_name())));
        }
        let mut q = self.query.clone();
        q.set_limits(start, stop);
        match step {
            None | Some(1) => Ok(Val::obj(QuerySetObj::new(q))),
            Some(s) if s > 0 => {
                // A step evaluates the slice into a list, as Django does.
                let rows = run_select(rt, &q)?;
                Val::list(rows).getslice(rt, None, None, Some(s))
            }
            Some(_) => Err(err(ErrorKind::ValueError, "Negative indexing is not supported.")),
        }
    }
}

impl QuerySetObj {
    /// `str(qs.query)`: the SQL Django would send (parameters inlined).
    pub fn sql_text(&self) -> SResult<String> {
        let c = Compiler::new(&self.query).compile_select(None)?;
        Ok(inline_params(&c.sql, &c.params))
    }
}

fn is_qs_method(name: &str) -> bool {
    matches!(
        name,
        "all" | "filter" | "exclude" | "get" | "first" | "last" | "count" | "exists" | "none" | "order_by" | "reverse"
            | "select_related" | "prefetch_related" | "annotate" | "alias" | "aggregate" | "values" | "values_list"
            | "only" | "defer" | "distinct" | "iterator" | "explain" | "update" | "delete" | "create" | "bulk_create"
            | "get_or_create" | "update_or_create" | "add" | "remove" | "clear" | "set"
    )
}

fn check_prefetch_lookup(model: &'static Model, lookup: &str) -> SResult<()> {
    let mut m = model;
    for part in lookup.split("__") {
        match m.relation(part) {
            Some(rel) => m = rel.target(),
            None => {
                return Err(err(
                    ErrorKind::AttributeError,
                    format!("Cannot find '{part}' on {} object, '{lookup}' is an invalid parameter to prefetch_related()", m.name),
                ))
            }
        }
    }
    Ok(())
}

/// A method looked up but not called yet (`qs.count` in Python, before `()`).
pub struct BoundMethod {
    pub name: String,
}

impl Object for BoundMethod {
    fn type_name(&self) -> String {
        "method".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn to_str(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<bound method {}>", self.name))
    }
}

// ---------------------------------------------------------------- running a SELECT

fn sql_to_val(v: &SqlValue, kind: FieldKind) -> Val {
    match (v, kind) {
        (SqlValue::Null, _) => Val::None,
        (SqlValue::Int(i), FieldKind::Bool) => Val::Bool(*i != 0),
        (SqlValue::Int(i), _) => Val::Int(*i),
        (SqlValue::Real(f), _) => Val::Float(*f),
        (SqlValue::Text(s), FieldKind::DateTime) => DateTime::parse(s).map(Val::DateTime).unwrap_or_else(|| Val::str(s)),
        (SqlValue::Text(s), _) => Val::str(s),
        (SqlValue::Blob(b), _) => Val::str(String::from_utf8_lossy(b)),
    }
}

fn plain_sql_val(v: &SqlValue) -> Val {
    match v {
        SqlValue::Null => Val::None,
        SqlValue::Int(i) => Val::Int(*i),
        SqlValue::Real(f) => Val::Float(*f),
        SqlValue::Text(s) => DateTime::parse(s).filter(|_| s.len() >= 19).map(Val::DateTime).unwrap_or_else(|| Val::str(s)),
        SqlValue::Blob(b) => Val::str(String::from_utf8_lossy(b)),
    }
}

/// Converts an aggregate's raw result as Django's output field would.
fn aggregate_value(q: &Query, agg: &Aggregate, v: &SqlValue) -> Val {
    match agg.func {
        "COUNT" => Val::Int(sql_int(v).unwrap_or(0)),
        "AVG" => match v {
            SqlValue::Null => Val::None,
            SqlValue::Int(i) => Val::Float(*i as f64),
            other => plain_sql_val(other),
        },
        _ => {
            let kind = field_for_path(q.model, &agg.path).map(|f| f.kind);
            match kind {
                Some(k) => sql_to_val(v, k),
                None => plain_sql_val(v),
            }
        }
    }
}

fn field_for_path(model: &'static Model, path: &str) -> Option<&'static Field> {
    let mut m = model;
    let parts: Vec<&str> = path.split("__").collect();
    for (i, part) in parts.iter().enumerate() {
        if let Some(rel) = m.relation(part) {
            if i + 1 == parts.len() {
                return match rel {
                    Relation::Forward { field, .. } => Some(field),
                    other => other.target().field("id"),
                };
            }
            m = rel.target();
        } else {
            return m.field(part);
        }
    }
    None
}

/// Runs a SELECT for `q` and builds instances (or values rows), then runs its prefetches.
pub fn run_select(rt: &Rt, q: &Query) -> SResult<Vec<Val>> {
    if q.empty || q.high.is_some_and(|h| h <= q.low) {
        return Ok(vec![]);
    }
    let c = Compiler::new(q).compile_select(None)?;
    if c.always_empty {
        return Ok(vec![]);
    }
    let r = rt.query(&c.sql, &c.params)?;
    let rows = build_rows(q, &c.select, &r.rows, None)?;
    if !q.prefetch.is_empty() && q.values.is_none() {
        prefetch_related_objects(rt, &rows, &q.prefetch)?;
    }
    Ok(rows)
}

/// Turns result rows into values: instances (with select_related objects cached on them),
/// dicts, tuples or flat values.
fn build_rows(q: &Query, select: &[SelectItem], rows: &[Vec<SqlValue>], mut keys: Option<&mut Vec<SqlValue>>) -> SResult<Vec<Val>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(mode) = &q.values {
            let mut items = Vec::new();
            for (item, v) in select.iter().zip(row) {
                if let SelectItem::Value(name) = item {
                    let val = match q.annotations.iter().find(|(n, _)| n == name) {
                        Some((_, agg)) => aggregate_value(q, agg, v),
                        None => match field_for_path(q.model, name) {
                            Some(f) => sql_to_val(v, f.kind),
                            None => plain_sql_val(v),
                        },
                    };
                    items.push((Rc::<str>::from(name.as_str()), val));
                }
            }
            out.push(match mode {
                ValuesMode::Dicts(_) => Val::Dict(Rc::new(items)),
                ValuesMode::Tuples(_) => Val::Tuple(Rc::new(items.into_iter().map(|(_, v)| v).collect())),
                ValuesMode::Flat(_) => items.into_iter().next().map(|(_, v)| v).unwrap_or(Val::None),
            });
            continue;
        }
        let mut by_path: Vec<(String, Rc<Instance>)> = Vec::new();
        let main = Instance::new(q.model, q.loaded_fields());
        by_path.push((String::new(), main.clone()));
        for (item, v) in select.iter().zip(row) {
            match item {
                SelectItem::PrefetchKey => {
                    if let Some(k) = keys.as_deref_mut() {
                        k.push(v.clone());
                    }
                }
                SelectItem::Field { path, field } => {
                    let inst = match by_path.iter().find(|(p, _)| p == path) {
                        Some((_, i)) => i.clone(),
                        None => {
                            let target = target_model(q.model, path);
                            let i = Instance::new(target, target.fields.iter().collect());
                            by_path.push((path.clone(), i.clone()));
                            i
                        }
                    };
                    inst.set_field(field.name, sql_to_val(v, field.kind));
                }
                SelectItem::Annotation(name) => {
                    let agg = q.annotations.iter().find(|(n, _)| n == name).map(|(_, a)| a);
                    let val = match agg {
                        Some(a) => aggregate_value(q, a, v),
                        None => plain_sql_val(v),
                    };
                    main.extra.borrow_mut().push((name.clone(), val));
                }
                SelectItem::Value(_) => {}
            }
        }
        // Attach select_related objects to their parents; a LEFT OUTER JOIN miss is None.
        for (path, inst) in by_path.iter().skip(1) {
            let (parent_path, name) = match path.rfind("__") {
                Some(i) => (&path[..i], &path[i + 2..]),
                None => ("", path.as_str()),
            };
            if let Some((_, parent)) = by_path.iter().find(|(p, _)| p == parent_path) {
                let v = if inst.pk_value().is_some() { Val::Obj(inst.clone()) } else { Val::None };
                parent.fk_cache.borrow_mut().insert(name.to_string(), v);
            }
        }
        out.push(Val::Obj(main));
    }
    Ok(out)
}

fn target_model(model: &'static Model, path: &str) -> &'static Model {
    let mut m = model;
    for part in path.split("__") {
        if let Some(rel) = m.relation(part) {
            m = rel.target();
        }
    }
    m
}

// ---------------------------------------------------------------- prefetch

/// Django's `prefetch_related_objects`: one query per relation level, rows mapped back by key.
pub fn prefetch_related_objects(rt: &Rt, instances: &[Val], specs: &[PrefetchSpec]) -> SResult<()> {
    for spec in specs {
        let parts: Vec<&str> = spec.lookup.split("__").collect();
        let mut level: Vec<Rc<Instance>> = instances.iter().filter_map(val_instance).collect();
        for (depth, part) in parts.iter().enumerate() {
            let last = depth + 1 == parts.len();
            let Some(first) = level.first() else { break };
            let model = first.model;
            let rel = model.relation(part).ok_or_else(|| {
                err(ErrorKind::AttributeError, format!("Cannot find '{part}' on {} object, '{}' is an invalid parameter to prefetch_related()", model.name, spec.lookup))
            })?;
            let to_attr = if last { spec.to_attr.clone() } else { None };
            let cache_name = to_attr.clone().unwrap_or_else(|| part.to_string());
            // Instances already prefetched for this name (an earlier lookup) are not fetched again.
            let need: Vec<Rc<Instance>> = level.iter().filter(|i| !i.has_prefetched(&cache_name, &rel)).cloned().collect();
            if !need.is_empty() {
                let custom = if last { spec.queryset.as_deref() } else { None };
                prefetch_one(rt, &need, part, rel, custom, &cache_name, to_attr.is_some())?;
            }
            let mut next = Vec::new();
            for inst in &level {
                for v in inst.related_values(&cache_name, &rel).iter() {
                    if let Some(i) = val_instance(v) {
                        next.push(i);
                    }
                }
            }
            level = next;
        }
    }
    Ok(())
}

fn rc_instance(o: &Rc<dyn Object>) -> Option<Rc<Instance>> {
    o.as_any().downcast_ref::<Instance>().map(Instance::self_rc)
}

pub fn val_instance(v: &Val) -> Option<Rc<Instance>> {
    match v {
        Val::Obj(o) => rc_instance(o),
        _ => None,
    }
}

fn prefetch_one(rt: &Rt, owners: &[Rc<Instance>], name: &str, rel: Relation, custom: Option<&Query>, cache_name: &str, to_attr: bool) -> SResult<()> {
    let target = rel.target();
    let mut q = custom.cloned().unwrap_or_else(|| Query::new(target));
    if q.model.name != target.name {
        return Err(err(ErrorKind::ValueError, format!("Prefetch querysets cannot use raw(), values(), and values_list(); and the queryset must be of {} (got {}).", target.name, q.model.name)));
    }
    match rel {
        Relation::Forward { field, .. } => {
            let mut ids: Vec<i64> = owners.iter().filter_map(|o| o.get_loaded(field.name).and_then(|v| v.as_int())).collect();
            // Django collects the keys in a set: small ints come out sorted.
            ids.sort_unstable();
            ids.dedup();
            let mut map: HashMap<i64, Val> = HashMap::new();
            if !ids.is_empty() {
                q.filter = q.filter.and(QNode::Leaf("id__in".into(), Val::list(ids.into_iter().map(Val::Int).collect())));
                for v in run_select(rt, &q)? {
                    if let Some(pk) = val_instance(&v).and_then(|i| i.pk_value()) {
                        map.insert(pk, v);
                    }
                }
            }
            for o in owners {
                let v = o.get_loaded(field.name).and_then(|v| v.as_int()).and_then(|id| map.get(&id).cloned()).unwrap_or(Val::None);
                if to_attr {
                    o.extra.borrow_mut().push((cache_name.to_string(), v));
                } else {
                    o.fk_cache.borrow_mut().insert(name.to_string(), v);
                }
            }
            return Ok(());
        }
        Relation::Reverse { field, .. } => {
            let ids = owner_pks(owners);
            q.filter = q.filter.and(QNode::Leaf(format!("{}__in", field.name), Val::list(ids.into_iter().map(Val::Int).collect())));
            let rows = run_select(rt, &q)?;
            let mut groups: HashMap<i64, Vec<Val>> = HashMap::new();
            for v in rows {
                if let Some(k) = val_instance(&v).and_then(|i| i.get_loaded(field.name)).and_then(|k| k.as_int()) {
                    groups.entry(k).or_default().push(v);
                }
            }
            assign_groups(owners, groups, cache_name, to_attr);
        }
        Relation::ManyToMany { m2m, .. } | Relation::ManyToManyReverse { m2m, .. } => {
            let (query_name, key_col) = match rel {
                Relation::ManyToMany { .. } => (m2m.related_name, m2m.from_column),
                _ => (m2m.name, m2m.to_column),
            };
            let ids = owner_pks(owners);
            q.filter = q.filter.and(QNode::Leaf(format!("{query_name}__in"), Val::list(ids.into_iter().map(Val::Int).collect())));
            let key_sql = format!("\"{}\".\"{key_col}\"", m2m.table);
            let key_alias = format!("_prefetch_related_val_{key_col}");
            let c = Compiler::new(&q).compile_select(Some((key_sql, key_alias)))?;
            let result_rows = if c.always_empty { vec![] } else { rt.query(&c.sql, &c.params)?.rows };
            let mut keys = Vec::new();
            let rows = build_rows(&q, &c.select, &result_rows, Some(&mut keys))?;
            if !q.prefetch.is_empty() {
                prefetch_related_objects(rt, &rows, &q.prefetch)?;
            }
            let mut groups: HashMap<i64, Vec<Val>> = HashMap::new();
            for (k, v) in keys.iter().zip(rows) {
                if let Some(k) = sql_int(k) {
                    groups.entry(k).or_default().push(v);
                }
            }
            assign_groups(owners, groups, cache_name, to_attr);
        }
    }
    Ok(())
}

fn owner_pks(owners: &[Rc<Instance>]) -> Vec<i64> {
    let mut seen = Vec::new();
    for o in owners {
        if let Some(pk) = o.pk_value() {
            if !seen.contains(&pk) {
                seen.push(pk);
            }
        }
    }
    seen
}

fn assign_groups(owners: &[Rc<Instance>], mut groups: HashMap<i64, Vec<Val>>, cache_name: &str, to_attr: bool) {
    for o in owners {
        let rows = o.pk_value().and_then(|pk| groups.remove(&pk)).unwrap_or_default();
        let rows = Rc::new(rows);
        if to_attr {
            o.extra.borrow_mut().push((cache_name.to_string(), Val::List(rows)));
        } else {
            o.prefetched.borrow_mut().insert(cache_name.to_string(), rows);
        }
    }
}

// ---------------------------------------------------------------- instance

pub struct Instance {
    pub model: &'static Model,
    /// Field name → value; a field missing here is deferred (`only`/`defer`).
    values: RefCell<Vec<(&'static str, Val)>>,
    /// Forward relations already fetched (or set by select_related / prefetch).
    pub fk_cache: RefCell<HashMap<String, Val>>,
    /// Many-valued relations filled by prefetch_related.
    pub prefetched: RefCell<HashMap<String, Rc<Vec<Val>>>>,
    /// Annotations and `to_attr` lists.
    pub extra: RefCell<Vec<(String, Val)>>,
    /// The Rc this instance lives in, so lazy loads can hand out `Rc<Instance>`.
    me: std::rc::Weak<Instance>,
}

impl Instance {
    fn new(model: &'static Model, loaded: Vec<&'static Field>) -> Rc<Instance> {
        Rc::new_cyclic(|me| Instance {
            me: me.clone(),
            model,
            values: RefCell::new(loaded.iter().map(|f| (f.name, Val::None)).collect()),
            fk_cache: RefCell::new(HashMap::new()),
            prefetched: RefCell::new(HashMap::new()),
            extra: RefCell::new(Vec::new()),
        })
    }
    fn set_field(&self, name: &'static str, v: Val) {
        let mut vals = self.values.borrow_mut();
        match vals.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = v,
            None => vals.push((name, v)),
        }
    }
    pub fn get_loaded(&self, name: &str) -> Option<Val> {
        self.values.borrow().iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
    }
    pub fn pk_value(&self) -> Option<i64> {
        self.get_loaded("id").and_then(|v| v.as_int())
    }
    fn has_prefetched(&self, cache_name: &str, rel: &Relation) -> bool {
        match rel {
            Relation::Forward { .. } => self.fk_cache.borrow().contains_key(cache_name) || self.extra.borrow().iter().any(|(n, _)| n == cache_name),
            _ => self.prefetched.borrow().contains_key(cache_name) || self.extra.borrow().iter().any(|(n, _)| n == cache_name),
        }
    }
    fn related_values(&self, cache_name: &str, rel: &Relation) -> Rc<Vec<Val>> {
        if let Some((_, v)) = self.extra.borrow().iter().find(|(n, _)| n == cache_name) {
            return match v {
                Val::List(l) => l.clone(),
                Val::None => Rc::new(vec![]),
                other => Rc::new(vec![other.clone()]),
            };
        }
        match rel {
            Relation::Forward { .. } => Rc::new(self.fk_cache.borrow().get(cache_name).cloned().filter(|v| !matches!(v, Val::None)).into_iter().collect()),
            _ => self.prefetched.borrow().get(cache_name).cloned().unwrap_or_default(),
        }
    }

    /// A deferred field: one query for this instance, as Django's `refresh_from_db(fields=[…])`.
    fn load_deferred(self: &Rc<Self>, rt: &Rt, field: &'static Field) -> SResult<Val> {
        let pk = self.pk_value().ok_or_else(|| err(ErrorKind::ValueError, "instance has no primary key"))?;
        let mut q = Query::new(self.model);
        q.only = Some(vec![field.name.to_string()]);
        q.order_by = Some(vec![]);
        q.filter = QNode::Leaf("id".into(), Val::Int(pk));
        q.set_limits(None, Some(MAX_GET_RESULTS));
        let c = Compiler::new(&q).compile_select(None)?;
        let r = rt.query(&c.sql, &c.params)?;
        let v = r.rows.first().and_then(|row| row.last()).map(|v| sql_to_val(v, field.kind)).unwrap_or(Val::None);
        self.set_field(field.name, v.clone());
        Ok(v)
    }

    fn attr(self: &Rc<Self>, rt: &Rt, name: &str) -> SResult<Val> {
        if let Some((_, v)) = self.extra.borrow().iter().find(|(n, _)| n == name) {
            return Ok(v.clone());
        }
        let model = self.model;
        if name == "pk" {
            return Ok(self.get_loaded("id").unwrap_or(Val::None));
        }
        if let Some(field) = model.field(name) {
            if let FieldKind::ForeignKey(to) = field.kind {
                if let Some(v) = self.fk_cache.borrow().get(name) {
                    return Ok(v.clone());
                }
                let id = match self.get_loaded(field.name) {
                    Some(v) => v,
                    None => self.load_deferred(rt, field)?,
                };
                let v = match id.as_int() {
                    None => Val::None,
                    Some(id) => {
                        let to = schema::model(to).expect("schema is consistent");
                        let mut q = Query::new(to);
                        q.order_by = Some(vec![]);
                        q.filter = QNode::Leaf("id".into(), Val::Int(id));
                        q.set_limits(None, Some(MAX_GET_RESULTS));
                        run_select(rt, &q)?.into_iter().next().ok_or_else(|| {
                            err(ErrorKind::DoesNotExist, format!("{} matching query does not exist.", to.name))
                        })?
                    }
                };
                self.fk_cache.borrow_mut().insert(name.to_string(), v.clone());
                return Ok(v);
            }
            return match self.get_loaded(name) {
                Some(v) => Ok(v),
                None => self.load_deferred(rt, field),
            };
        }
        if let Some(field) = model.field_by_attname(name) {
            return match self.get_loaded(field.name) {
                Some(v) => Ok(v),
                None => self.load_deferred(rt, field),
            };
        }
        if let Some(rel) = model.relation(name) {
            return Ok(Val::obj(related_manager(self.clone(), name, rel)?));
        }
        if let Some(field) = name.strip_prefix("get_").and_then(|n| n.strip_suffix("_display")).and_then(|n| model.field(n)) {
            if !field.choices.is_empty() {
                return Ok(Val::obj(DisplayMethod(self.clone(), field)));
            }
        }
        Err(no_attr(model.name, name))
    }
}

fn related_manager(owner: Rc<Instance>, name: &str, rel: Relation) -> SResult<QuerySetObj> {
    let target = rel.target();
    let pk = owner.pk_value().ok_or_else(|| {
        err(ErrorKind::ValueError, format!("'{}' instance needs to have a primary key value before this relationship can be used.", owner.model.name))
    })?;
    let mut q = Query::new(target);
    let core = match rel {
        Relation::Reverse { field, .. } => QNode::Leaf(field.name.into(), Val::Int(pk)),
        Relation::ManyToMany { m2m, .. } => QNode::Leaf(format!("{}__id", m2m.related_name), Val::Int(pk)),
        Relation::ManyToManyReverse { m2m, .. } => QNode::Leaf(format!("{}__id", m2m.name), Val::Int(pk)),
        Relation::Forward { .. } => unreachable!("forward relations are objects, not managers"),
    };
    q.filter = QNode::And(vec![core]);
    Ok(QuerySetObj::new(q).as_manager(Some(RelatedOwner { instance: owner, name: name.to_string(), relation: rel })))
}

impl Object for Instance {
    fn type_name(&self) -> String {
        self.model.name.to_string()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        self.self_rc().attr(rt, name)
    }
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        match self.self_rc().attr(rt, name) {
            Ok(Val::Obj(o)) if o.as_any().is::<DisplayMethod>() => o.call(rt, vec![], vec![]).map(Some),
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind == ErrorKind::AttributeError => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Vec<(String, Val)>) -> SResult<Val> {
        match self.self_rc().attr(rt, name)? {
            Val::Obj(o) if o.as_any().is::<DisplayMethod>() => o.call(rt, args, kwargs),
            other => Err(err(ErrorKind::TypeError, format!("'{}' object is not callable", other.type_name()))),
        }
    }
    fn to_str(&self, rt: &Rt) -> SResult<String> {
        match self.model.str_field {
            Some(f) => self.self_rc().attr(rt, f)?.to_str(rt),
            None => Ok(format!("{} object ({})", self.model.name, self.pk_value().map(|p| p.to_string()).unwrap_or("None".into()))),
        }
    }
    fn pk(&self) -> Option<i64> {
        self.pk_value()
    }
}

impl Instance {
    /// Instances always live in an `Rc`; methods that cache need it back.
    fn self_rc(&self) -> Rc<Instance> {
        self.me.upgrade().expect("an Instance is only reached through its Rc")
    }
}

struct DisplayMethod(Rc<Instance>, &'static Field);

impl Object for DisplayMethod {
    fn type_name(&self) -> String {
        "method".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn call(&self, _rt: &Rt, _args: Vec<Val>, _kwargs: Vec<(String, Val)>) -> SResult<Val> {
        let v = self.0.get_loaded(self.1.name).unwrap_or(Val::None);
        let s = v.as_str().unwrap_or_default().to_string();
        Ok(Val::str(self.1.choices.iter().find(|(k, _)| *k == s).map(|(_, l)| l.to_string()).unwrap_or(s)))
    }
}

// ---------------------------------------------------------------- Q, Prefetch, aggregates, Exists

pub struct QObj(pub QNode);

impl Object for QObj {
    fn type_name(&self) -> String {
        "Q".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn to_str(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("(Q: {:?})", self.0))
    }
}

pub struct PrefetchObj(pub PrefetchSpec);

impl Object for PrefetchObj {
    fn type_name(&self) -> String {
        "Prefetch".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub struct AggObj(pub Aggregate);

impl Object for AggObj {
    fn type_name(&self) -> String {
        self.0.func.to_string()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub struct OuterRefVal(pub String);

impl Object for OuterRefVal {
    fn type_name(&self) -> String {
        "OuterRef".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub struct ExistsObj(pub Query, pub bool);

impl Object for ExistsObj {
    fn type_name(&self) -> String {
        "Exists".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

// ---------------------------------------------------------------- Paginator

pub struct PaginatorObj {
    qs: Val,
    per_page: i64,
    orphans: i64,
    count: RefCell<Option<i64>>,
}

impl PaginatorObj {
    pub fn new(qs: Val, per_page: i64, orphans: i64) -> SResult<PaginatorObj> {
        if per_page <= 0 {
            return Err(err(ErrorKind::ValueError, "per_page must be a positive integer"));
        }
        Ok(PaginatorObj { qs, per_page, orphans, count: RefCell::new(None) })
    }
    fn count(&self, rt: &Rt) -> SResult<i64> {
        if let Some(c) = *self.count.borrow() {
            return Ok(c);
        }
        let c = match self.qs.as_obj::<QuerySetObj>() {
            Some(qs) => qs.count(rt)?.as_int().unwrap_or(0),
            None => self.qs.len(rt)? as i64,
        };
        *self.count.borrow_mut() = Some(c);
        Ok(c)
    }
    fn num_pages(&self, rt: &Rt) -> SResult<i64> {
        let c = self.count(rt)?;
        if c == 0 {
            return Ok(1);
        }
        let hits = (c - self.orphans).max(1);
        Ok((hits + self.per_page - 1) / self.per_page)
    }
    fn page(self: &Rc<Self>, rt: &Rt, number: &Val) -> SResult<Val> {
        let n = match number {
            Val::Int(i) => *i,
            Val::Str(s) => s.trim().parse().map_err(|_| err(ErrorKind::ValueError, "PageNotAnInteger: That page number is not an integer"))?,
            Val::Float(f) if f.fract() == 0.0 => *f as i64,
            _ => return Err(err(ErrorKind::ValueError, "PageNotAnInteger: That page number is not an integer")),
        };
        if n < 1 {
            return Err(err(ErrorKind::ValueError, "EmptyPage: That page number is less than 1"));
        }
        let pages = self.num_pages(rt)?;
        if n > pages && !(n == 1) {
            return Err(err(ErrorKind::ValueError, "EmptyPage: That page contains no results"));
        }
        let bottom = (n - 1) * self.per_page;
        let mut top = bottom + self.per_page;
        if top + self.orphans >= self.count(rt)? {
            top = self.count(rt)?;
        }
        let object_list = self.qs.getslice(rt, Some(bottom), Some(top), None)?;
        Ok(Val::obj(PageObj { number: n, object_list, paginator: self.clone() }))
    }
}

pub struct PaginatorHandle(pub Rc<PaginatorObj>);

impl Object for PaginatorHandle {
    fn type_name(&self) -> String {
        "Paginator".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "count" => Ok(Val::Int(self.0.count(rt)?)),
            "num_pages" => Ok(Val::Int(self.0.num_pages(rt)?)),
            "per_page" => Ok(Val::Int(self.0.per_page)),
            "page_range" => Ok(Val::list((1..=self.0.num_pages(rt)?.min(10_000)).map(Val::Int).collect())),
            "object_list" => Ok(self.0.qs.clone()),
            "page" | "get_page" => Ok(Val::obj(BoundMethod { name: name.into() })),
            _ => Err(no_attr("Paginator", name)),
        }
    }
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        match name {
            "page" | "get_page" => Ok(None),
            _ => match self.getattr(rt, name) {
                Ok(v) => Ok(Some(v)),
                Err(e) if e.kind == ErrorKind::AttributeError => Ok(None),
                Err(e) => Err(e),
            },
        }
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, _kwargs: Vec<(String, Val)>) -> SResult<Val> {
        match name {
            "page" => self.0.page(rt, args.first().unwrap_or(&Val::Int(1))),
            "get_page" => {
                let pages = self.0.num_pages(rt)?;
                let n = args.first().and_then(|a| match a {
                    Val::Int(i) => Some(*i),
                    Val::Str(s) => s.trim().parse().ok(),
                    _ => None,
                });
                let n = match n {
                    None => 1,
                    Some(n) if n < 1 => 1,
                    Some(n) if n > pages => pages,
                    Some(n) => n,
                };
                self.0.page(rt, &Val::Int(n))
            }
            _ => Err(no_attr("Paginator", name)),
        }
    }
}

pub struct PageObj {
    number: i64,
    object_list: Val,
    paginator: Rc<PaginatorObj>,
}

impl Object for PageObj {
    fn type_name(&self) -> String {
        "Page".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        let pages = || self.paginator.num_pages(rt);
        Ok(match name {
            "number" => Val::Int(self.number),
            "object_list" => self.object_list.clone(),
            "paginator" => Val::obj(PaginatorHandle(self.paginator.clone())),
            "has_next" => Val::Bool(self.number < pages()?),
            "has_previous" => Val::Bool(self.number > 1),
            "has_other_pages" => Val::Bool(self.number > 1 || self.number < pages()?),
            "next_page_number" => {
                if self.number >= pages()? {
                    return Err(err(ErrorKind::ValueError, "EmptyPage: That page contains no results"));
                }
                Val::Int(self.number + 1)
            }
            "previous_page_number" => {
                if self.number <= 1 {
                    return Err(err(ErrorKind::ValueError, "EmptyPage: That page number is less than 1"));
                }
                Val::Int(self.number - 1)
            }
            "start_index" => {
                if self.paginator.count(rt)? == 0 {
                    Val::Int(0)
                } else {
                    Val::Int(self.paginator.per_page * (self.number - 1) + 1)
                }
            }
            "end_index" => {
                if self.number == pages()? {
                    Val::Int(self.paginator.count(rt)?)
                } else {
                    Val::Int(self.number * self.paginator.per_page)
                }
            }
            _ => return Err(no_attr("Page", name)),
        })
    }
    fn call_method(&self, rt: &Rt, name: &str, _args: Vec<Val>, _kwargs: Vec<(String, Val)>) -> SResult<Val> {
        self.getattr(rt, name)
    }
    fn iterate(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        self.object_list.iterate(rt)
    }
    fn len(&self, rt: &Rt) -> SResult<usize> {
        self.object_list.len(rt)
    }
    fn to_str(&self, rt: &Rt) -> SResult<String> {
        Ok(format!("<Page {} of {}>", self.number, self.paginator.num_pages(rt)?))
    }
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        Val::List(self.object_list.iterate(rt)?).getitem(rt, key)
    }
}
