//! `qs1 | qs2` and `qs1 & qs2`: Django's `QuerySet.__or__`/`__and__` and `Query.combine` —
//! the right-hand joins are merged into the left query (reused for OR, added again for AND),
//! join types re-voted, and the right WHERE tree relabelled and attached with the connector.

use std::collections::HashSet;

use super::expr::Connector;
use super::model::QuerySetObj;
use super::expr::{JoinType, Query, Table};
use crate::error::{err, ErrorKind, SResult};
use crate::runtime::Rt;
use crate::value::Val;

fn type_err(msg: impl Into<String>) -> crate::error::SandboxError {
    err(ErrorKind::TypeError, msg)
}

/// `QuerySet.__or__` (`or_ = true`) or `QuerySet.__and__`.
pub fn combine(rt: &Rt, lhs: &QuerySetObj, rhs: &QuerySetObj, or_: bool) -> SResult<QuerySetObj> {
    // _check_operator_queryset.
    if lhs.query.combinator.is_some() || rhs.query.combinator.is_some() {
        return Err(type_err(format!("Cannot use {} operator with combined queryset.", if or_ { "|" } else { "&" })));
    }
    // _merge_sanity_check: values() querysets must select the same names.
    if lhs.is_values() {
        let same = |a: &[String], b: &[String]| {
            let (x, y): (HashSet<&String>, HashSet<&String>) = (a.iter().collect(), b.iter().collect());
            x == y
        };
        let la: Vec<String> = lhs.query.annotation_select().keys().cloned().collect();
        let ra: Vec<String> = rhs.query.annotation_select().keys().cloned().collect();
        if !same(&lhs.query.values_select, &rhs.query.values_select) || !same(&la, &ra) {
            return Err(type_err("Merging 'QuerySet' classes must involve the same values in each case."));
        }
    }
    if or_ {
        // An empty side (`none()`) is the other side unchanged.
        if lhs.query.is_empty() {
            return Ok(rhs.chain());
        }
        if rhs.query.is_empty() {
            return Ok(lhs.chain());
        }
    } else {
        if rhs.query.is_empty() {
            return Ok(rhs.chain());
        }
        if lhs.query.is_empty() {
            return Ok(lhs.chain());
        }
    }
    if lhs.model.name != rhs.model.name {
        return Err(type_err("Cannot combine queries on two different base models."));
    }
    // `|` on a sliced queryset filters by its primary keys instead (`pk__in=qs.values("pk")`).
    let left = if or_ && lhs.query.is_sliced() { pk_in(rt, lhs)? } else { lhs.chain() };
    let right = if or_ && rhs.query.is_sliced() { pk_in(rt, rhs)? } else { rhs.clone() };
    let mut combined = left;
    for k in &right.known {
        if !combined.known.iter().any(|x| x.0 == k.0 && x.1 == k.1) {
            combined.known.push(k.clone());
        }
    }
    combine_queries(&mut combined.query, &right.query, if or_ { Connector::Or } else { Connector::And })?;
    Ok(combined)
}

/// `Model._base_manager.filter(pk__in=qs.values("pk"))`.
fn pk_in(rt: &Rt, qs: &QuerySetObj) -> SResult<QuerySetObj> {
    let values = crate::value::Object::call_method(qs, rt, "values", vec![Val::str("pk")], vec![])?;
    QuerySetObj::for_model(qs.model).filter_or_exclude(rt, false, vec![], vec![("pk__in".into(), values)])
}

/// `Query.combine(rhs, connector)`.
pub fn combine_queries(q: &mut Query, rhs: &Query, connector: Connector) -> SResult<()> {
    if q.model.name != rhs.model.name {
        return Err(type_err("Cannot combine queries on two different base models."));
    }
    if q.is_sliced() {
        return Err(type_err("Cannot combine queries once a slice has been taken."));
    }
    if q.distinct != rhs.distinct {
        return Err(type_err("Cannot combine a unique query with a non-unique query."));
    }
    let initial_alias = q.get_initial_alias();
    let mut rhs = rhs.clone();
    rhs.bump_prefix(q, &[initial_alias]);
    let conjunction = connector == Connector::And;
    let mut reuse: HashSet<String> = if conjunction { HashSet::new() } else { q.alias_map.keys().cloned().collect() };
    let mut votes: Vec<String> = q.alias_map.iter().filter(|(_, t)| t.join_type() == Some(JoinType::Inner)).map(|(a, _)| a.clone()).collect();
    let mut rhs_votes: Vec<String> = Vec::new();
    let mut change_map: Vec<(String, String)> = Vec::new();
    let rhs_tables: Vec<String> = rhs.alias_map.keys().skip(1).cloned().collect();
    for alias in rhs_tables {
        let Some(Table::Join(join)) = rhs.alias_map.get(&alias).cloned() else { continue };
        let mut join = join;
        if let Some((_, n)) = change_map.iter().find(|(o, _)| *o == join.parent_alias) {
            join.parent_alias = n.clone();
        }
        let inner = join.join_type == Some(JoinType::Inner);
        let new_alias = q.join(join, Some(&reuse));
        if inner && !rhs_votes.contains(&new_alias) {
            rhs_votes.push(new_alias.clone());
        }
        reuse.remove(&new_alias);
        if alias != new_alias {
            change_map.push((alias.clone(), new_alias.clone()));
        }
        if rhs.refcount(&alias) == 0 {
            q.unref_alias(&new_alias, 1);
        }
    }
    votes.extend(rhs_votes);
    q.vote_join_types(connector, 2, &votes);
    for t in &rhs.subq_aliases {
        if !q.subq_aliases.contains(t) {
            q.subq_aliases.push(t.clone());
        }
    }
    let mut w = rhs.where_.clone();
    w.relabel(&change_map);
    q.where_.add(super::expr::WhereChild::Node(w), connector);
    if !rhs.select.is_empty() {
        let mut sel = rhs.select.clone();
        sel.iter_mut().for_each(|e| e.relabel(&change_map));
        q.set_select(sel);
    } else {
        q.select.clear();
    }
    if connector == Connector::Or && !q.extra_select.is_empty() && !rhs.extra_select.is_empty() {
        return Err(err(ErrorKind::ValueError, "When merging querysets using 'or', you cannot have extra(select=...) on both sides."));
    }
    for e in &rhs.extra_select {
        if !q.extra_select.iter().any(|x| x.0 == e.0) {
            q.extra_select.push(e.clone());
        }
    }
    if !rhs.order_by.is_empty() {
        q.order_by = rhs.order_by.clone();
    }
    Ok(())
}
