//! What a QuerySet asks for, built the way Django's `sql.Query` builds it: an alias map of
//! joins with reference counts, a `WhereNode` tree of resolved lookups, join promotion
//! (`INNER` vs `LEFT OUTER`) by votes, multi-valued relations that get a fresh join per
//! `filter()` call, `exclude()` across them as a `NOT EXISTS` subquery (`split_exclude`), and
//! joins trimmed when the column is already on the previous table.
//!
//! The algorithms follow `django/db/models/sql/query.py` (5.2) closely, so the SQL text —
//! aliases `T4`, `U0`, parentheses, join order — is the text Django sends.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use indexmap::IndexMap;

use super::expr::*;
use super::lookups;
use super::relations::*;
use crate::error::{err, ErrorKind, SResult, SandboxError};
use crate::schema::{FieldKind, Model};

pub(crate) fn field_error(msg: impl Into<String>) -> SandboxError {
    err(ErrorKind::FieldError, msg)
}

impl Query {
    pub fn new(model: &'static Model) -> Query {
        Query {
            model,
            alias_prefix: "T".into(),
            subq_aliases: vec!["T".into()],
            alias_map: IndexMap::new(),
            alias_refcount: HashMap::new(),
            table_map: HashMap::new(),
            external_aliases: IndexMap::new(),
            used_aliases: HashSet::new(),
            filter_is_sticky: false,
            where_: WhereNode::default(),
            annotations: IndexMap::new(),
            annotation_select_mask: None,
            select: vec![],
            values_select: vec![],
            selected: None,
            default_cols: true,
            default_ordering: true,
            standard_ordering: true,
            order_by: vec![],
            group_by: GroupBy::None,
            low_mark: 0,
            high_mark: None,
            distinct: false,
            select_related: SelectRelated::No,
            deferred: (vec![], true),
            subquery: false,
            lookup_joins: vec![],
            max_depth: 5,
            extra_select: vec![],
            combinator: None,
        }
    }

    /// `Query.chain()`: a copy ready for another operation.
    pub fn chain(&self) -> Query {
        let mut q = self.clone();
        q.chained_in_place();
        q
    }

    /// What `chain()` does to its copy, done to this query (a new one nobody else holds).
    pub fn chained_in_place(&mut self) {
        if !self.filter_is_sticky {
            self.used_aliases.clear();
        }
        self.filter_is_sticky = false;
    }

    pub fn base_table(&self) -> Option<String> {
        self.alias_map.keys().next().cloned()
    }

    pub fn is_sliced(&self) -> bool {
        self.low_mark != 0 || self.high_mark.is_some()
    }

    pub fn has_limit_one(&self) -> bool {
        matches!(self.high_mark, Some(h) if h - self.low_mark == 1)
    }

    pub fn is_empty(&self) -> bool {
        self.where_.children.iter().any(|c| matches!(c, WhereChild::Nothing))
    }

    pub fn set_empty(&mut self) {
        self.where_.add(WhereChild::Nothing, Connector::And);
    }

    pub fn set_limits(&mut self, low: Option<i64>, high: Option<i64>) {
        if let Some(h) = high {
            self.high_mark = Some(match self.high_mark {
                Some(hm) => hm.min(self.low_mark + h),
                None => self.low_mark + h,
            });
        }
        if let Some(l) = low {
            self.low_mark = match self.high_mark {
                Some(hm) => hm.min(self.low_mark + l),
                None => self.low_mark + l,
            };
        }
        if Some(self.low_mark) == self.high_mark {
            self.set_empty();
        }
    }

    pub fn clear_limits(&mut self) {
        self.low_mark = 0;
        self.high_mark = None;
    }

    /// The output kind of a one-column subquery.
    pub fn single_output_kind(&self) -> Option<FieldKind> {
        if self.select.len() == 1 {
            return self.select[0].output_kind();
        }
        let ann = self.annotation_select();
        if ann.len() == 1 {
            return ann.values().next().and_then(|e| e.output_kind());
        }
        None
    }

    // ------------------------------------------------------------ aliases

    pub fn table_alias(&mut self, table: &'static str, create: bool) -> (String, bool) {
        if let Some(list) = self.table_map.get(table) {
            if !create && !list.is_empty() {
                let a = list[0].clone();
                *self.alias_refcount.entry(a.clone()).or_insert(0) += 1;
                return (a, false);
            }
        }
        let alias = if self.table_map.get(table).is_some_and(|l| !l.is_empty()) {
            let a = format!("{}{}", self.alias_prefix, self.alias_map.len() + 1);
            self.table_map.get_mut(table).expect("checked").push(a.clone());
            a
        } else {
            self.table_map.insert(table, vec![table.to_string()]);
            table.to_string()
        };
        self.alias_refcount.insert(alias.clone(), 1);
        (alias, true)
    }

    pub fn ref_alias(&mut self, alias: &str) {
        *self.alias_refcount.entry(alias.to_string()).or_insert(0) += 1;
    }

    pub fn unref_alias(&mut self, alias: &str, amount: i64) {
        *self.alias_refcount.entry(alias.to_string()).or_insert(0) -= amount;
    }

    pub fn refcount(&self, alias: &str) -> i64 {
        self.alias_refcount.get(alias).copied().unwrap_or(0)
    }

    pub fn promote_joins(&mut self, aliases: Vec<String>) {
        let mut queue = aliases;
        while !queue.is_empty() {
            let alias = queue.remove(0);
            let Some(Table::Join(j)) = self.alias_map.get(&alias) else { continue };
            if j.join_type.is_none() {
                continue;
            }
            let parent_louter = self.alias_map.get(&j.parent_alias).and_then(|t| t.join_type()) == Some(JoinType::LOuter);
            let already = j.join_type == Some(JoinType::LOuter);
            if (j.nullable || parent_louter) && !already {
                if let Some(Table::Join(j)) = self.alias_map.get_mut(&alias) {
                    j.join_type = Some(JoinType::LOuter);
                }
                let children: Vec<String> = self
                    .alias_map
                    .iter()
                    .filter(|(a, t)| t.parent_alias() == Some(alias.as_str()) && !queue.contains(a))
                    .map(|(a, _)| a.clone())
                    .collect();
                queue.extend(children);
            }
        }
    }

    pub fn demote_joins(&mut self, aliases: Vec<String>) {
        let mut queue = aliases;
        while !queue.is_empty() {
            let alias = queue.remove(0);
            let parent = match self.alias_map.get_mut(&alias) {
                Some(Table::Join(j)) if j.join_type == Some(JoinType::LOuter) => {
                    j.join_type = Some(JoinType::Inner);
                    Some(j.parent_alias.clone())
                }
                _ => None,
            };
            if let Some(p) = parent {
                if self.alias_map.get(&p).and_then(|t| t.join_type()) == Some(JoinType::Inner) {
                    queue.push(p);
                }
            }
        }
    }

    pub fn reset_refcounts(&mut self, to: &HashMap<String, i64>) {
        let keys: Vec<String> = self.alias_refcount.keys().cloned().collect();
        for a in keys {
            let cur = self.refcount(&a);
            let want = to.get(&a).copied().unwrap_or(0);
            self.unref_alias(&a, cur - want);
        }
    }

    /// `change_aliases`: renames aliases everywhere in this query.
    pub fn change_aliases(&mut self, map: &[(String, String)]) {
        if map.is_empty() {
            return;
        }
        self.where_.relabel(map);
        if let GroupBy::Exprs(g) = &mut self.group_by {
            g.iter_mut().for_each(|e| e.relabel(map));
        }
        self.select.iter_mut().for_each(|e| e.relabel(map));
        for (_, e) in self.annotations.iter_mut() {
            e.relabel(map);
        }
        let rename = |a: &str| map.iter().find(|(o, _)| o == a).map(|(_, n)| n.clone());
        let mut new_map = IndexMap::new();
        for (alias, table) in std::mem::take(&mut self.alias_map) {
            let mut t = table.clone();
            let new_alias = rename(&alias).unwrap_or_else(|| alias.clone());
            match &mut t {
                Table::Base { alias: a, .. } => *a = new_alias.clone(),
                Table::Join(j) => {
                    j.alias = new_alias.clone();
                    if let Some(p) = rename(&j.parent_alias) {
                        j.parent_alias = p;
                    }
                }
            }
            if new_alias != alias {
                let rc = self.alias_refcount.remove(&alias).unwrap_or(0);
                self.alias_refcount.insert(new_alias.clone(), rc);
                if let Some(list) = self.table_map.get_mut(t.table_name()) {
                    if let Some(pos) = list.iter().position(|a| *a == alias) {
                        list[pos] = new_alias.clone();
                    }
                }
            }
            new_map.insert(new_alias, t);
        }
        self.alias_map = new_map;
        let ext = std::mem::take(&mut self.external_aliases);
        for (a, aliased) in ext {
            let changed = rename(&a);
            let is_changed = changed.is_some();
            self.external_aliases.insert(changed.unwrap_or(a), aliased || is_changed);
        }
    }

    /// Relabels references to an outer query's aliases inside this (sub)query.
    pub fn relabel_external(&mut self, map: &[(String, String)]) {
        self.where_.relabel(map);
        for (_, e) in self.annotations.iter_mut() {
            e.relabel(map);
        }
        let ext = std::mem::take(&mut self.external_aliases);
        for (a, aliased) in ext {
            match map.iter().find(|(o, _)| *o == a) {
                Some((_, n)) => {
                    self.external_aliases.insert(n.clone(), true);
                }
                None => {
                    self.external_aliases.insert(a, aliased);
                }
            }
        }
    }

    /// `bump_prefix`: moves this query's aliases to the next free letter so they cannot clash
    /// with the outer query's (`U0`, `U1`, …); aliases in `exclude` keep their names. The outer
    /// query learns the letters used (its `subq_aliases`), as in Django.
    pub fn bump_prefix(&mut self, outer: &mut Query, exclude: &[String]) {
        if self.alias_prefix != outer.alias_prefix {
            return;
        }
        let mut candidates = prefix_candidates(&self.alias_prefix);
        let prefix = loop {
            match candidates.next() {
                Some(p) if self.subq_aliases.contains(&p) => continue,
                Some(p) => break p,
                None => break format!("{}Z", self.alias_prefix),
            }
        };
        self.alias_prefix = prefix.clone();
        if !self.subq_aliases.contains(&prefix) {
            self.subq_aliases.push(prefix.clone());
        }
        for t in &self.subq_aliases {
            if !outer.subq_aliases.contains(t) {
                outer.subq_aliases.push(t.clone());
            }
        }
        let map: Vec<(String, String)> = self
            .alias_map
            .keys()
            .enumerate()
            .filter(|(_, a)| !exclude.contains(a))
            .map(|(i, a)| (a.clone(), format!("{prefix}{i}")))
            .collect();
        self.change_aliases(&map);
    }

    pub fn get_initial_alias(&mut self) -> String {
        if let Some(a) = self.base_table() {
            self.ref_alias(&a);
            return a;
        }
        let (alias, _) = self.table_alias(self.model.table, true);
        self.alias_map.insert(alias.clone(), Table::Base { table: self.model.table, alias: alias.clone() });
        alias
    }

    pub fn count_active_tables(&self) -> usize {
        self.alias_refcount.values().filter(|c| **c > 0).count()
    }

    /// `Query.join`: reuses an equal join (among `reuse`, or any when `None`), else adds one.
    pub fn join(&mut self, mut join: Join, reuse: Option<&HashSet<String>>) -> String {
        let reuse_aliases: Vec<String> = self
            .alias_map
            .iter()
            .filter(|(a, t)| reuse.is_none_or(|r| r.contains(*a)) && t.same_join(&join))
            .map(|(a, _)| a.clone())
            .collect();
        if let Some(last) = reuse_aliases.last() {
            let alias = last.clone();
            self.ref_alias(&alias);
            return alias;
        }
        let (alias, _) = self.table_alias(join.table, true);
        if join.join_type.is_some() {
            let parent_louter = self.alias_map.get(&join.parent_alias).and_then(|t| t.join_type()) == Some(JoinType::LOuter);
            join.join_type = Some(if parent_louter || join.nullable { JoinType::LOuter } else { JoinType::Inner });
        }
        join.alias = alias.clone();
        self.alias_map.insert(alias.clone(), Table::Join(join));
        alias
    }

    // ------------------------------------------------------------ paths and joins

    /// The names Django lists after "Choices are:".
    pub fn field_choices(&self, model: &'static Model, with_annotations: bool) -> String {
        let mut names: Vec<String> = model.choice_names().into_iter().map(str::to_string).collect();
        if with_annotations {
            names.extend(self.annotation_select().keys().cloned());
        }
        names.sort();
        names.dedup();
        names.join(", ")
    }

    pub fn names_to_path(&self, names: &[String], opts: &'static Model, allow_many: bool, fail_on_missing: bool) -> Result<NamesToPath, JoinErr> {
        let mut path: Vec<PathInfo> = Vec::new();
        let mut names_with_path: Vec<(String, Vec<PathInfo>)> = Vec::new();
        let mut opts = opts;
        let mut final_field = FinalField::Field(opts, opts.pk_field());
        let mut targets: Vec<Target> = vec![];
        let mut pos: isize = -1;
        for (i, raw) in names.iter().enumerate() {
            pos = i as isize;
            let name = if raw == "pk" { "id" } else { raw.as_str() };
            let found = get_field(opts, name);
            match found {
                Some(GetField::Concrete(f)) if !f.is_relation() => {
                    final_field = FinalField::Field(opts, f);
                    targets = vec![Target::of(opts, f)];
                    if fail_on_missing && i + 1 != names.len() {
                        return Err(JoinErr::Err(field_error(format!(
                            "Cannot resolve keyword '{}' into field. Join on '{}' not permitted.",
                            names[i + 1], raw
                        ))));
                    }
                    break;
                }
                Some(rel) => {
                    let infos = path_infos(opts, &rel);
                    if !allow_many {
                        for (inner, p) in infos.iter().enumerate() {
                            if p.m2m {
                                let mut cur = (raw.clone(), Vec::new());
                                cur.1.extend(infos[..=inner].iter().cloned());
                                names_with_path.push(cur);
                                return Err(JoinErr::Multi { names_with_path });
                            }
                        }
                    }
                    let last = infos.last().expect("a relation has a path").clone();
                    final_field = match rel {
                        GetField::Concrete(f) => FinalField::Field(opts, f),
                        GetField::M2M(m2m, to) => FinalField::Through(Target::through(m2m.table, m2m.to_column, to.name)),
                        GetField::M2MReverse(m2m, from) => FinalField::Through(Target::through(m2m.table, m2m.from_column, from.name)),
                        GetField::Reverse(from, _) => FinalField::Relation(from),
                    };
                    opts = last.to_model.expect("relations end on a model");
                    targets = last.target_fields.clone();
                    path.extend(infos.iter().cloned());
                    names_with_path.push((raw.clone(), infos));
                }
                None => {
                    if i == 0 && self.annotation_select().contains_key(name) {
                        let kind = self.annotations.get(name).and_then(|e| e.output_kind());
                        final_field = FinalField::Annotation(kind);
                        targets = vec![];
                        break;
                    }
                    pos -= 1;
                    if pos == -1 || fail_on_missing {
                        let mut available: Vec<String> = opts.choice_names().into_iter().map(str::to_string).collect();
                        available.extend(self.annotation_select().keys().cloned());
                        available.sort();
                        available.dedup();
                        return Err(JoinErr::Err(field_error(format!(
                            "Cannot resolve keyword '{raw}' into field. Choices are: {}",
                            available.join(", ")
                        ))));
                    }
                    break;
                }
            }
        }
        let rest = names[((pos + 1) as usize).min(names.len())..].to_vec();
        Ok(NamesToPath { path, final_field, targets, rest, names_with_path, opts })
    }

    pub fn setup_joins(&mut self, names: &[String], opts: &'static Model, alias: &str, can_reuse: Option<&HashSet<String>>, allow_many: bool) -> Result<JoinInfo, JoinErr> {
        let mut joins = vec![alias.to_string()];
        let mut resolved = None;
        let mut last_err = None;
        for pivot in (1..=names.len()).rev() {
            match self.names_to_path(&names[..pivot], opts, allow_many, true) {
                Ok(r) => {
                    resolved = Some((r, names[pivot..].to_vec()));
                    break;
                }
                Err(JoinErr::Multi { names_with_path }) => return Err(JoinErr::Multi { names_with_path }),
                Err(JoinErr::Err(e)) => {
                    if pivot == 1 {
                        return Err(JoinErr::Err(e));
                    }
                    last_err = Some(e);
                }
            }
        }
        let (ntp, transforms) = match resolved {
            Some(r) => r,
            None => return Err(JoinErr::Err(last_err.unwrap_or_else(|| field_error("Cannot resolve an empty field path")))),
        };
        // Transforms must exist on the final field (checked when the column is built).
        if !transforms.is_empty() {
            if let Some(k) = ntp.final_field.kind() {
                for t in &transforms {
                    if !lookups::is_transform(k, t) {
                        if let Some(e) = last_err {
                            if !matches!(ntp.final_field, FinalField::Annotation(_)) && !ntp.final_field.is_relation() {
                                return Err(JoinErr::Err(e));
                            }
                        }
                        return Err(JoinErr::Err(lookups::unsupported(&ntp.final_field, t, &transforms)));
                    }
                }
            }
        }
        let mut alias = alias.to_string();
        for p in &ntp.path {
            let nullable = if p.direct { p.nullable } else { true };
            let join = Join {
                table: p.to_table,
                parent_alias: alias.clone(),
                alias: String::new(),
                join_type: Some(JoinType::Inner),
                join_cols: p.join_cols,
                join_field: p.join_field.clone(),
                nullable,
            };
            let reuse = if p.m2m { can_reuse } else { None };
            alias = self.join(join, reuse);
            joins.push(alias.clone());
        }
        Ok(JoinInfo { final_field: ntp.final_field, targets: ntp.targets, opts: ntp.opts, joins, path: ntp.path, transforms })
    }

    /// `trim_joins`: drops trailing direct joins whose column is already on the previous table.
    pub fn trim_joins(&mut self, targets: Vec<Target>, joins: Vec<String>, path: &[PathInfo]) -> (Vec<Target>, String, Vec<String>) {
        let mut joins = joins;
        let mut targets = targets;
        for info in path.iter().rev() {
            if joins.len() == 1 || !info.direct {
                break;
            }
            let join_targets: Vec<&str> = info.foreign_targets.iter().map(|t| t.column).collect();
            if !targets.iter().all(|t| join_targets.contains(&t.column)) {
                break;
            }
            targets = targets
                .iter()
                .map(|t| {
                    let i = info.foreign_targets.iter().position(|f| f.column == t.column).expect("subset checked");
                    info.local_targets[i]
                })
                .collect();
            let popped = joins.pop().expect("len > 1");
            self.unref_alias(&popped, 1);
        }
        let last = joins.last().cloned().unwrap_or_default();
        (targets, last, joins)
    }

    /// `resolve_ref`: an `F("path")` as a column (joining as needed), or an annotation.
    pub fn resolve_ref(&mut self, name: &str, allow_joins: bool, reuse: Option<&mut HashSet<String>>, summarize: bool) -> SResult<SqlExpr> {
        if let Some(ann) = self.annotations.get(name).cloned() {
            if summarize {
                if !self.annotation_select().contains_key(name) {
                    return Err(field_error(format!("Cannot aggregate over the '{name}' alias. Use annotate() to promote it.")));
                }
                return Ok(SqlExpr::Ref(name.to_string(), Box::new(ann)));
            }
            return Ok(ann);
        }
        let parts: Vec<String> = name.split("__").map(str::to_string).collect();
        if let Some(ann) = self.annotations.get(&parts[0]).cloned() {
            let mut e = ann;
            for t in &parts[1..] {
                e = lookups::apply_transform(e, t)?;
            }
            return Ok(e);
        }
        let alias = self.get_initial_alias();
        let reuse_set = reuse.as_ref().map(|r| (**r).clone());
        let info = match self.setup_joins(&parts, self.model, &alias, reuse_set.as_ref(), true) {
            Ok(i) => i,
            Err(JoinErr::Err(e)) => return Err(e),
            Err(JoinErr::Multi { .. }) => return Err(field_error("Invalid field name")),
        };
        let (targets, final_alias, join_list) = self.trim_joins(info.targets.clone(), info.joins.clone(), &info.path);
        if !allow_joins && join_list.len() > 1 {
            return Err(field_error("Joined field references are not permitted in this query"));
        }
        if targets.len() != 1 {
            return Err(field_error("Referencing multicolumn fields with F() objects isn't supported"));
        }
        if let Some(r) = reuse {
            r.extend(join_list);
        }
        let mut e = SqlExpr::col(&final_alias, targets[0]);
        for t in &info.transforms {
            e = lookups::apply_transform(e, t)?;
        }
        Ok(e)
    }

    /// `solve_lookup_type`: (lookup names, field parts, annotation it refers to).
    pub fn solve_lookup_type(&self, lookup: &str) -> SResult<(Vec<String>, Vec<String>, Option<SqlExpr>)> {
        let split: Vec<String> = lookup.split("__").map(str::to_string).collect();
        if !self.annotations.is_empty() {
            // refs_expression: the longest prefix that names an annotation.
            for n in (1..=split.len()).rev() {
                let prefix = split[..n].join("__");
                if let Some(ann) = self.annotations.get(&prefix) {
                    return Ok((split[n..].to_vec(), vec![], Some(ann.clone())));
                }
            }
        }
        let ntp = match self.names_to_path(&split, self.model, true, false) {
            Ok(n) => n,
            Err(JoinErr::Err(e)) => return Err(e),
            Err(JoinErr::Multi { .. }) => unreachable!("allow_many"),
        };
        let field_parts = split[..split.len() - ntp.rest.len()].to_vec();
        if ntp.rest.len() > 1 && field_parts.is_empty() {
            return Err(field_error(format!("Invalid lookup \"{lookup}\" for model {}\".", self.model.name)));
        }
        Ok((ntp.rest, field_parts, None))
    }

    // ------------------------------------------------------------ filters

    /// `add_q`: adds a `Q` tree to the WHERE clause, then demotes joins that were INNER before.
    pub fn add_q(&mut self, rt: &crate::runtime::Rt, q: &QTree) -> SResult<()> {
        let existing_inner: Vec<String> =
            self.alias_map.iter().filter(|(_, t)| t.join_type() == Some(JoinType::Inner)).map(|(a, _)| a.clone()).collect();
        let mut can_reuse = std::mem::take(&mut self.used_aliases);
        let r = self.add_q_inner(rt, q, Some(&mut can_reuse), false, false, true, true, false);
        self.used_aliases = can_reuse;
        let (clause, _) = r?;
        if !clause.is_empty() {
            self.where_.add(WhereChild::Node(clause), Connector::And);
        }
        self.demote_joins(existing_inner);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add_q_inner(
        &mut self,
        rt: &crate::runtime::Rt,
        q: &QTree,
        mut used_aliases: Option<&mut HashSet<String>>,
        branch_negated: bool,
        current_negated: bool,
        allow_joins: bool,
        split_subq: bool,
        summarize: bool,
    ) -> SResult<(WhereNode, Vec<String>)> {
        let (connector, negated, children): (Connector, bool, Vec<&QTree>) = match q {
            QTree::Node { connector, negated, children } => (*connector, *negated, children.iter().collect()),
            leaf => (Connector::And, false, vec![leaf]),
        };
        let current_negated = current_negated ^ negated;
        let branch_negated = branch_negated || negated;
        let mut target = WhereNode::new(connector, negated);
        let mut promoter = JoinPromoter::new(connector, children.len(), current_negated);
        for child in children {
            let (clause, needed_inner) = self.build_filter(rt, child, branch_negated, current_negated, used_aliases.as_deref_mut(), allow_joins, split_subq, summarize)?;
            promoter.add_votes(&needed_inner);
            if let Some(c) = clause {
                if !(matches!(&c, WhereChild::Node(n) if n.children.is_empty() && !n.negated)) {
                    target.add(c, connector);
                }
            }
        }
        let needed_inner = promoter.update_join_types(self);
        Ok((target, needed_inner))
    }

    /// `build_filter` for one child of a `Q` tree: the clause and the joins that must be INNER.
    #[allow(clippy::too_many_arguments)]
    pub fn build_filter(
        &mut self,
        rt: &crate::runtime::Rt,
        filter: &QTree,
        branch_negated: bool,
        current_negated: bool,
        mut can_reuse: Option<&mut HashSet<String>>,
        allow_joins: bool,
        split_subq: bool,
        summarize: bool,
    ) -> SResult<(Option<WhereChild>, Vec<String>)> {
        let (arg, value) = match filter {
            QTree::Node { .. } => {
                let (node, inner) = self.add_q_inner(rt, filter, can_reuse, branch_negated, current_negated, allow_joins, split_subq, summarize)?;
                return Ok((Some(WhereChild::Node(node)), inner));
            }
            QTree::Cond(expr) => {
                let cond = super::resolve::resolve_expression(rt, self, expr, allow_joins, can_reuse.as_deref_mut(), summarize)?;
                return Ok((Some(WhereChild::Node(WhereNode { connector: Connector::And, negated: false, children: vec![WhereChild::Expr(cond)] })), vec![]));
            }
            QTree::Leaf(arg, value) => (arg.to_string(), value),
        };
        if arg.is_empty() {
            return Err(field_error(format!("Cannot parse keyword query '{arg}'")));
        }
        let (lookups_, parts, reffed) = self.solve_lookup_type(&arg)?;
        if !allow_joins && parts.len() > 1 {
            return Err(field_error("Joined field references are not permitted in this query"));
        }
        let pre_joins = self.alias_refcount.clone();
        let resolved_value = super::resolve::resolve_filter_value(rt, self, value, can_reuse.as_deref_mut(), allow_joins, summarize)?;
        let mut used_joins: Vec<String> =
            self.alias_refcount.iter().filter(|(k, v)| **v > pre_joins.get(*k).copied().unwrap_or(0)).map(|(k, _)| k.clone()).collect();
        if let Some(expr) = reffed {
            let cond = lookups::build_lookup(rt, &lookups_, expr, resolved_value, &FinalField::Annotation(None))?;
            return Ok((Some(WhereChild::Node(WhereNode { connector: Connector::And, negated: false, children: vec![cond] })), vec![]));
        }
        let opts = self.model;
        let alias = self.get_initial_alias();
        let allow_many = !branch_negated || !split_subq;
        let reuse_snapshot = can_reuse.as_ref().map(|r| (**r).clone());
        let info = match self.setup_joins(&parts, opts, &alias, reuse_snapshot.as_ref(), allow_many) {
            Ok(i) => i,
            Err(JoinErr::Err(e)) => return Err(e),
            Err(JoinErr::Multi { names_with_path }) => {
                return self.split_exclude(rt, &arg, value, can_reuse, names_with_path);
            }
        };
        lookups::check_related_objects(&info.final_field, &resolved_value, info.opts)?;
        self.lookup_joins = info.joins.clone();
        for j in &info.joins {
            if !used_joins.contains(j) {
                used_joins.push(j.clone());
            }
        }
        let (targets, alias, join_list) = self.trim_joins(info.targets.clone(), info.joins.clone(), &info.path);
        if let Some(r) = can_reuse.as_deref_mut() {
            r.extend(join_list.iter().cloned());
        }
        let col = SqlExpr::col(&alias, targets[0]);
        let cond = lookups::build_lookup(rt, &lookups_, col, resolved_value.clone(), &info.final_field)?;
        let (lookup_type, rhs_true, rhs_false, rhs_none) = match &cond {
            WhereChild::Lookup(l) => (l.name, l.rhs == Rhs::Bool(true), l.rhs == Rhs::Bool(false), false),
            _ => ("", false, false, false),
        };
        let mut clause = WhereNode { connector: Connector::And, negated: false, children: vec![cond] };
        let mut require_outer = lookup_type == "isnull" && rhs_true && !current_negated;
        if current_negated && (lookup_type != "isnull" || rhs_false) && !rhs_none {
            require_outer = true;
            if lookup_type != "isnull" {
                let last_louter = self.alias_map.get(join_list.last().expect("at least the base")).and_then(|t| t.join_type()) == Some(JoinType::LOuter);
                if targets[0].null || last_louter {
                    let col = SqlExpr::col(&alias, targets[0]);
                    clause.children.push(WhereChild::Lookup(Lookup { name: "isnull", lhs: col, rhs: Rhs::Bool(false) }));
                }
                if let super::expr::Resolved::Expr(SqlExpr::Col { target, .. }) = &resolved_value {
                    if target.null {
                        if let super::expr::Resolved::Expr(e) = &resolved_value {
                            clause.children.push(WhereChild::Lookup(Lookup { name: "isnull", lhs: e.clone(), rhs: Rhs::Bool(false) }));
                        }
                    }
                }
            }
        }
        Ok((Some(WhereChild::Node(clause)), if require_outer { vec![] } else { used_joins }))
    }

    /// `split_exclude`: `exclude(tags__name="x")` as `NOT EXISTS(SELECT 1 … WHERE … AND
    /// U1.article_id = (articles_article.id))`.
    fn split_exclude(
        &mut self,
        rt: &crate::runtime::Rt,
        arg: &str,
        value: &FilterValue,
        can_reuse: Option<&mut HashSet<String>>,
        names_with_path: Vec<(String, Vec<PathInfo>)>,
    ) -> SResult<(Option<WhereChild>, Vec<String>)> {
        let mut inner = Query::new(self.model);
        let value = match value {
            FilterValue::Expr(Expression::F(name)) => FilterValue::Expr(Expression::OuterRef(name.clone())),
            FilterValue::Expr(Expression::OuterRef(name)) => FilterValue::Expr(Expression::OuterRef(format!("\u{0}outer:{name}"))),
            other => other.clone(),
        };
        inner.add_q(rt, &QTree::Leaf(Rc::from(arg), value))?;
        inner.clear_ordering(true, true);
        let (trimmed_prefix, contains_louter) = inner.trim_start(&names_with_path);
        let col = inner.select[0].clone();
        let SqlExpr::Col { alias: col_alias, target } = &col else { return Err(field_error("split_exclude: the subquery must select a column")) };
        let reused = can_reuse.as_ref().is_some_and(|r| r.contains(col_alias));
        if reused {
            // The outer query already joins this table: tie the subquery to that row.
            let alias = col_alias.clone();
            inner.bump_prefix(self, &[]);
            let sel = inner.select[0].clone();
            let SqlExpr::Col { alias: new_alias, .. } = &sel else { unreachable!("a column") };
            let pk = pk_target_of_table(target.table);
            inner.where_.add(
                WhereChild::Lookup(Lookup { name: "exact", lhs: SqlExpr::col(new_alias, pk), rhs: Rhs::Expr(SqlExpr::col(&alias, pk)) }),
                Connector::And,
            );
            inner.external_aliases.insert(alias, true);
        } else {
            inner.where_.add(
                WhereChild::Lookup(Lookup { name: "exact", lhs: col.clone(), rhs: Rhs::Expr(SqlExpr::OuterRef(trimmed_prefix.clone())) }),
                Connector::And,
            );
        }
        let exists = Expression::Exists(Box::new(inner));
        let (cond, needed_inner) = self.build_filter(rt, &QTree::Cond(exists), false, false, None, true, true, false)?;
        let Some(WhereChild::Node(mut cond)) = cond else { return Err(field_error("split_exclude failed")) };
        if contains_louter {
            let mut reuse = can_reuse.map(|r| r.clone()).unwrap_or_default();
            let (or_null, _) = self.build_filter(
                rt,
                &QTree::Leaf(Rc::from(format!("{trimmed_prefix}__isnull").as_str()), FilterValue::Val(crate::value::Val::Bool(true))),
                true,
                true,
                Some(&mut reuse),
                true,
                true,
                false,
            )?;
            if let Some(c) = or_null {
                cond.add(c, Connector::Or);
            }
        }
        Ok((Some(WhereChild::Node(cond)), needed_inner))
    }

    /// `trim_start`: drops the leading joins of a `split_exclude` subquery up to the first
    /// multi-valued step, and selects the column the outer query is compared with.
    fn trim_start(&mut self, names_with_path: &[(String, Vec<PathInfo>)]) -> (String, bool) {
        let all_paths: Vec<PathInfo> = names_with_path.iter().flat_map(|(_, p)| p.iter().cloned()).collect();
        let mut contains_louter = false;
        let base = self.base_table().unwrap_or_default();
        let lookup_tables: Vec<String> = self.alias_map.keys().filter(|t| self.lookup_joins.contains(t) || **t == base).cloned().collect();
        let mut trimmed_paths = 0;
        let mut path = all_paths[0].clone();
        for (i, p) in all_paths.iter().enumerate() {
            trimmed_paths = i;
            path = p.clone();
            if p.m2m {
                break;
            }
            if self.alias_map.get(&lookup_tables[i + 1]).and_then(|t| t.join_type()) == Some(JoinType::LOuter) {
                contains_louter = true;
            }
            let a = lookup_tables[i].clone();
            self.unref_alias(&a, 1);
        }
        // The join's field seen from the other side: the column the subquery selects.
        let mut paths_in_prefix = trimmed_paths as isize;
        let mut prefix: Vec<String> = Vec::new();
        for (name, p) in names_with_path {
            if paths_in_prefix - (p.len() as isize) < 0 {
                break;
            }
            prefix.push(name.clone());
            paths_in_prefix -= p.len() as isize;
        }
        // `join_field.foreign_related_fields[0].name`: the outer model's field the relation points at.
        prefix.push(path.join_cols.0.to_string().replace("_id", "").to_string());
        let outer_field = outer_field_name(&path);
        prefix.pop();
        prefix.push(outer_field);
        let trimmed_prefix = prefix.join("__");
        let first_join_alias = lookup_tables[trimmed_paths + 1].clone();
        let first_join_louter = self.alias_map.get(&first_join_alias).and_then(|t| t.join_type()) == Some(JoinType::LOuter);
        let (select_target, select_alias) = if !first_join_louter {
            let a = lookup_tables[trimmed_paths].clone();
            self.unref_alias(&a, 1);
            // The reverse join's column on the joined table (`U1.article_id`).
            (join_rhs_target(&path), first_join_alias)
        } else {
            (join_lhs_target(&path, self), lookup_tables[trimmed_paths].clone())
        };
        // The first table still referenced becomes the FROM table.
        let first = self.alias_map.iter().find(|(a, _)| self.refcount(a) > 0).map(|(a, t)| (a.clone(), t.table_name()));
        if let Some((a, table)) = first {
            self.alias_map.insert(a.clone(), Table::Base { table, alias: a });
        }
        self.select = vec![SqlExpr::col(&select_alias, select_target)];
        self.default_cols = false;
        (trimmed_prefix, contains_louter)
    }

}

/// Django's `prefix_gen`: the next letter, the letters after it, then every pair `AA`…`ZZ`.
fn prefix_candidates(current: &str) -> impl Iterator<Item = String> {
    let first = current.chars().next().map(|c| ((c as u8).saturating_add(1)) as char).unwrap_or('U');
    let alphabet: Vec<char> = ('A'..='Z').collect();
    let start = alphabet.iter().position(|c| *c == first).unwrap_or(0);
    let singles: Vec<String> = std::iter::once(first.to_string()).collect();
    let pairs: Vec<String> = alphabet[start..].iter().map(|a| a.to_string()).collect();
    let rest: Vec<String> = alphabet.iter().flat_map(|a| alphabet.iter().map(move |b| format!("{a}{b}"))).collect();
    singles.into_iter().chain(pairs).chain(rest).take(400)
}

/// `JoinPromoter`: votes on which joins may stay INNER.
struct JoinPromoter {
    effective_connector: Connector,
    num_children: usize,
    votes: IndexMap<String, usize>,
}

impl JoinPromoter {
    fn new(connector: Connector, num_children: usize, negated: bool) -> JoinPromoter {
        let effective_connector = if negated {
            match connector {
                Connector::And => Connector::Or,
                _ => Connector::And,
            }
        } else {
            connector
        };
        JoinPromoter { effective_connector, num_children, votes: IndexMap::new() }
    }

    fn add_votes(&mut self, votes: &[String]) {
        for v in votes {
            *self.votes.entry(v.clone()).or_insert(0) += 1;
        }
    }

    fn update_join_types(&self, q: &mut Query) -> Vec<String> {
        let mut to_promote = Vec::new();
        let mut to_demote = Vec::new();
        for (table, votes) in &self.votes {
            if self.effective_connector == Connector::Or && *votes < self.num_children {
                to_promote.push(table.clone());
            }
            if self.effective_connector == Connector::And || (self.effective_connector == Connector::Or && *votes == self.num_children) {
                to_demote.push(table.clone());
            }
        }
        q.promote_joins(to_promote);
        q.demote_joins(to_demote.clone());
        to_demote
    }
}

impl Query {
    /// `JoinPromoter(connector, num_children, False)` with `votes`, then `update_join_types`.
    pub fn vote_join_types(&mut self, connector: Connector, num_children: usize, votes: &[String]) -> Vec<String> {
        let mut p = JoinPromoter::new(connector, num_children, false);
        p.add_votes(votes);
        p.update_join_types(self)
    }
}
