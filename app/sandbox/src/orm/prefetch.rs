//! `prefetch_related_objects`: one query per relation level for all instances, results
//! distributed onto each instance (`_prefetched_objects_cache`, or a list on `to_attr`),
//! following `django/db/models/query.py` and the related descriptors' prefetchers.

use std::collections::HashMap;
use std::rc::Rc;

use super::model::Instance;
use super::model::{PrefetchSpec, QuerySetObj};
use crate::error::{err, ErrorKind, SResult};
use super::expr::{Connector, FilterValue, QTree};
use crate::runtime::Rt;
use crate::schema::Relation;
use crate::value::Val;

/// One normalized lookup: the full path, its querysets per level, and `to_attr`.
#[derive(Clone)]
struct Lookup {
    through: String,
    /// Where results go (the path, with `to_attr` replacing the last part).
    to: String,
    queryset: Option<Rc<QuerySetObj>>,
    to_attr: Option<String>,
}

impl Lookup {
    fn from_spec(s: &PrefetchSpec, prefix: Option<&str>) -> Lookup {
        let through = match prefix {
            Some(p) => format!("{p}__{}", s.lookup),
            None => s.lookup.clone(),
        };
        let to = match &s.to_attr {
            Some(a) => match through.rsplit_once("__") {
                Some((head, _)) => format!("{head}__{a}"),
                None => a.clone(),
            },
            None => through.clone(),
        };
        Lookup { through, to, queryset: s.queryset.clone(), to_attr: s.to_attr.clone() }
    }
    fn current_to(&self, level: usize) -> String {
        self.to.split("__").take(level + 1).collect::<Vec<_>>().join("__")
    }
    /// (to_attr for this level, whether it is a user's `to_attr`).
    fn current_to_attr(&self, level: usize) -> (String, bool) {
        let parts: Vec<&str> = self.to.split("__").collect();
        let name = parts.get(level).copied().unwrap_or("").to_string();
        let leaf = level + 1 == self.through.split("__").count();
        (name, leaf && self.to_attr.is_some())
    }
    fn current_queryset(&self, level: usize) -> Option<Rc<QuerySetObj>> {
        if level + 1 == self.through.split("__").count() {
            self.queryset.clone()
        } else {
            None
        }
    }
}

pub fn prefetch_related_objects(rt: &Rt, instances: &[Val], specs: &[PrefetchSpec]) -> SResult<()> {
    if instances.is_empty() {
        return Ok(());
    }
    for s in specs {
        if let Some(qs) = &s.queryset {
            if qs.is_values() {
                return Err(err(ErrorKind::ValueError, "Prefetch querysets cannot use raw(), values(), and values_list()."));
            }
        }
    }
    let mut done: HashMap<String, Vec<Val>> = HashMap::new();
    let mut all: Vec<Lookup> = specs.iter().rev().map(|s| Lookup::from_spec(s, None)).collect();
    let mut auto: Vec<String> = Vec::new();
    while let Some(lookup) = all.pop() {
        if done.contains_key(&lookup.to) {
            if lookup.queryset.is_some() {
                return Err(err(
                    ErrorKind::ValueError,
                    format!("'{}' lookup was already seen with a different queryset. You may need to adjust the ordering of your lookups.", lookup.to),
                ));
            }
            continue;
        }
        let mut obj_list: Vec<Val> = instances.to_vec();
        let through_attrs: Vec<String> = lookup.through.split("__").map(str::to_string).collect();
        for (level, attr) in through_attrs.iter().enumerate() {
            if obj_list.is_empty() {
                break;
            }
            let prefetch_to = lookup.current_to(level);
            if let Some(objs) = done.get(&prefetch_to) {
                obj_list = objs.clone();
                continue;
            }
            let Some(first) = obj_list[0].as_obj::<Instance>().map(|i| i.rc()) else { break };
            let (to_attr, _) = lookup.current_to_attr(level);
            let model = first.model;
            let rel = model.relation(attr);
            let is_attr = rel.is_some() || first.extra.borrow().contains_key(attr.as_str());
            if !is_attr {
                return Err(err(
                    ErrorKind::AttributeError,
                    format!("Cannot find '{attr}' on {} object, '{}' is an invalid parameter to prefetch_related()", model.name, lookup.through),
                ));
            }
            let Some(rel) = rel else {
                if level == through_attrs.len() - 1 {
                    return Err(err(
                        ErrorKind::ValueError,
                        format!("'{}' does not resolve to an item that supports prefetching - this is an invalid parameter to prefetch_related().", lookup.through),
                    ));
                }
                obj_list = follow(rt, &obj_list, attr)?;
                continue;
            };
            let to_fetch: Vec<Val> = obj_list
                .iter()
                .filter(|o| o.as_obj::<Instance>().is_some_and(|i| !is_fetched(i, &rel, attr, &to_attr)))
                .cloned()
                .collect();
            if to_fetch.is_empty() {
                obj_list = follow(rt, &obj_list, attr)?;
                continue;
            }
            let (objs, additional) = prefetch_one_level(rt, &to_fetch, &rel, attr, &lookup, level)?;
            let is_auto = auto.contains(&lookup.to);
            if !(done.contains_key(&prefetch_to) && is_auto) {
                done.insert(prefetch_to.clone(), objs.clone());
                let new: Vec<Lookup> = additional.iter().rev().map(|s| Lookup::from_spec(s, Some(&prefetch_to))).collect();
                auto.extend(new.iter().map(|l| l.to.clone()));
                all.extend(new);
            }
            obj_list = objs;
        }
    }
    Ok(())
}

fn is_fetched(i: &Instance, rel: &Relation, attr: &str, to_attr: &str) -> bool {
    match rel {
        Relation::Forward { .. } => i.fk_cache.borrow().contains_key(attr),
        _ => i.prefetched.borrow().contains_key(to_attr) || i.extra.borrow().contains_key(to_attr),
    }
}

/// Steps over a relation that needs no query (already fetched), to the next level's objects.
fn follow(rt: &Rt, objs: &[Val], attr: &str) -> SResult<Vec<Val>> {
    let mut out = Vec::new();
    for o in objs {
        let Some(i) = o.as_obj::<Instance>() else { continue };
        if let Some(rows) = i.prefetched.borrow().get(attr) {
            out.extend(rows.iter().cloned());
            continue;
        }
        let v = match i.attr(rt, attr) {
            Ok(v) => v,
            Err(e) if e.kind == ErrorKind::DoesNotExist => continue,
            Err(e) => return Err(e),
        };
        match v {
            Val::None => {}
            Val::List(l) => out.extend(l.borrow().iter().cloned()),
            other => out.push(other),
        }
    }
    Ok(out)
}

/// One relation for a list of instances: the query, then each instance's share.
fn prefetch_one_level(rt: &Rt, instances: &[Val], rel: &Relation, attr: &str, lookup: &Lookup, level: usize) -> SResult<(Vec<Val>, Vec<PrefetchSpec>)> {
    let insts: Vec<Rc<Instance>> = instances.iter().filter_map(|v| v.as_obj::<Instance>().map(|i| i.rc())).collect();
    let target = rel.target();
    let given = lookup.current_queryset(level);
    let mut qs: QuerySetObj = match &given {
        Some(q) => q.chain(),
        None => QuerySetObj::for_model(target),
    };
    let additional = std::mem::take(&mut qs.prefetch);
    let (to_attr, as_attr) = lookup.current_to_attr(level);
    if as_attr {
        if let Some(m) = insts.first().map(|i| i.model) {
            if m.field(&to_attr).is_some() || m.relation(&to_attr).is_some() {
                return Err(err(ErrorKind::ValueError, format!("to_attr={to_attr} conflicts with a field on the {} model.", m.name)));
            }
        }
    }
    let path_of = |i: &Instance| {
        let p = i.path.borrow();
        if p.is_empty() { attr.to_string() } else { format!("{p}__{attr}") }
    };
    match *rel {
        Relation::Forward { field, to } => {
            // Django 5.2: `TupleIn(ColPairs(...), list(instances_dict))`, which SQLite (no tuple
            // lookups) writes as `(pk = a OR pk = b …)` in first-seen order, without NULLs;
            // no values at all is an empty result without a query.
            let mut ids: Vec<i64> = Vec::new();
            for i in &insts {
                // The key of each row (a deferred one is loaded first, a query per row).
                if i.get_loaded(field.name).is_none() && i.pk_value().is_some() {
                    i.load_deferred(rt, field)?;
                }
                if let Some(id) = i.get_loaded(field.name).and_then(|v| v.as_int()) {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
            let rows = if ids.is_empty() {
                Vec::new()
            } else {
                let target_pk = to.pk_field().name;
                let cond = QTree::Node {
                    connector: Connector::Or,
                    negated: false,
                    children: ids.iter().map(|id| QTree::Leaf(Rc::from(target_pk), FilterValue::Val(Val::Int(*id)))).collect(),
                };
                let cond = if ids.len() == 1 { cond.children_single() } else { cond };
                let mut f = qs.chain();
                f.query.add_q(rt, &cond)?;
                f.query.clear_ordering(false, true);
                let mut rows = f.run(rt)?;
                if given.is_none() {
                    // The rows come back in the order SQLite reads them, and a nested prefetch
                    // (`author__articles`) writes the next IN list in that order.
                    order_as_sqlite_reads_pk_or_chain(&mut rows, &ids);
                }
                rows
            };
            let by_pk: HashMap<i64, Val> = rows.iter().filter_map(|r| r.pk_of().map(|pk| (pk, r.clone()))).collect();
            for i in &insts {
                let v = i.get_loaded(field.name).and_then(|v| v.as_int()).and_then(|id| by_pk.get(&id).cloned()).unwrap_or(Val::None);
                if let Some(ri) = v.as_obj::<Instance>() {
                    *ri.path.borrow_mut() = path_of(i);
                }
                if as_attr {
                    i.extra.borrow_mut().insert(to_attr.clone(), v);
                } else {
                    i.fk_cache.borrow_mut().insert(field.name, v);
                }
            }
            Ok((rows, additional))
        }
        Relation::Reverse { field, .. } => {
            let values = Val::list(insts.iter().map(|i| Val::Obj(i.clone())).collect());
            let f = qs.filter_or_exclude(rt, false, vec![], vec![(format!("{}__in", field.name), values)])?;
            let rows = f.run(rt)?;
            let by_owner: HashMap<i64, Rc<Instance>> = insts.iter().filter_map(|i| i.pk_value().map(|pk| (pk, i.clone()))).collect();
            let mut groups: HashMap<i64, Vec<Val>> = HashMap::new();
            for r in &rows {
                if let Some(ri) = r.as_obj::<Instance>() {
                    if let Some(owner_pk) = ri.get_loaded(field.name).and_then(|v| v.as_int()) {
                        if let Some(owner) = by_owner.get(&owner_pk) {
                            ri.fk_cache.borrow_mut().entry(field.name).or_insert_with(|| Val::Obj(owner.clone()));
                        }
                        groups.entry(owner_pk).or_default().push(r.clone());
                    }
                }
            }
            store(&insts, &groups, &to_attr, as_attr, attr, &path_of, given.as_ref().map(|_| qs.query.order_by.clone()));
            Ok((rows, additional))
        }
        Relation::ManyToMany { m2m, .. } | Relation::ManyToManyReverse { m2m, .. } => {
            let (query_field, near_col) = match *rel {
                Relation::ManyToMany { m2m, .. } => (m2m.related_name, m2m.from_column),
                _ => (m2m.name, m2m.to_column),
            };
            let values = Val::list(insts.iter().map(|i| Val::Obj(i.clone())).collect());
            let mut f = qs.filter_or_exclude(rt, false, vec![], vec![(format!("{query_field}__in"), values)])?;
            let alias = format!("_prefetch_related_val_{near_col}");
            f.query.extra_select.push((alias.clone(), format!("\"{}\".\"{near_col}\"", m2m.table)));
            let rows = f.run(rt)?;
            let mut groups: HashMap<i64, Vec<Val>> = HashMap::new();
            for r in &rows {
                if let Some(ri) = r.as_obj::<Instance>() {
                    let key = ri.extra.borrow_mut().shift_remove(&alias).and_then(|v| v.as_int());
                    if let Some(k) = key {
                        groups.entry(k).or_default().push(r.clone());
                    }
                }
            }
            store(&insts, &groups, &to_attr, as_attr, attr, &path_of, given.as_ref().map(|_| qs.query.order_by.clone()));
            Ok((rows, additional))
        }
    }
}

/// SQLite (3.40, the version Django runs on here) reads `pk = a OR pk = b …` either as
/// `pk IN (…)`, in ascending pk order, or term by term ("MULTI-INDEX OR"), in the order the
/// terms are written; its planner's cost estimate picks one by the number of terms alone (no
/// table statistics: Django never runs ANALYZE). Measured with EXPLAIN QUERY PLAN for 1–997
/// terms: term by term for 11–16, 18 and 36 or more.
fn sqlite_reads_or_chain_term_by_term(terms: usize) -> bool {
    (11..=16).contains(&terms) || terms == 18 || terms >= 36
}

/// Puts the rows of a `pk = a OR pk = b …` query (`ids`, first seen first) in SQLite's order.
fn order_as_sqlite_reads_pk_or_chain(rows: &mut [Val], ids: &[i64]) {
    if sqlite_reads_or_chain_term_by_term(ids.len()) {
        let at: HashMap<i64, usize> = ids.iter().enumerate().map(|(k, id)| (*id, k)).collect();
        rows.sort_by_key(|r| r.pk_of().and_then(|pk| at.get(&pk).copied()).unwrap_or(usize::MAX));
    } else {
        rows.sort_by_key(|r| r.pk_of().unwrap_or(i64::MAX));
    }
}

fn store(insts: &[Rc<Instance>], groups: &HashMap<i64, Vec<Val>>, to_attr: &str, as_attr: bool, cache_name: &str, path_of: &dyn Fn(&Instance) -> String, order: Option<Vec<super::expr::OrderItem>>) {
    for i in insts {
        let vals = i.pk_value().and_then(|pk| groups.get(&pk).cloned()).unwrap_or_default();
        let p = path_of(i);
        for v in &vals {
            if let Some(ri) = v.as_obj::<Instance>() {
                *ri.path.borrow_mut() = p.clone();
            }
        }
        if as_attr {
            i.extra.borrow_mut().insert(to_attr.to_string(), Val::list(vals));
        } else {
            i.prefetched.borrow_mut().insert(cache_name.to_string(), Rc::new(vals));
            match &order {
                Some(o) => i.prefetched_order.borrow_mut().insert(cache_name.to_string(), o.clone()),
                None => i.prefetched_order.borrow_mut().remove(cache_name),
            };
        }
    }
}

trait PkOf {
    fn pk_of(&self) -> Option<i64>;
}

impl PkOf for Val {
    fn pk_of(&self) -> Option<i64> {
        self.as_obj::<Instance>().and_then(|i| i.pk_value())
    }
}

