//! What a query selects and in which order (`impl Query`, continued from `sql.rs`):
//! annotations and their mask, `values()`, `only()`/`defer()`, `select_related()`, ordering,
//! `GROUP BY`, and the `EXISTS` form of a query.

use indexmap::IndexMap;
use super::expr::*;
use super::lookups;
use crate::error::SResult;
use crate::schema::{Field, FieldKind, Model};
use super::sql::field_error;

impl Query {
    pub fn annotation_select(&self) -> IndexMap<String, SqlExpr> {
        match &self.annotation_select_mask {
            None => self.annotations.clone(),
            Some(mask) => self.annotations.iter().filter(|(k, _)| mask.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }

    pub fn set_annotation_mask(&mut self, names: Option<Vec<String>>) {
        match names {
            None => self.annotation_select_mask = None,
            Some(n) => {
                if let Some(sel) = &mut self.selected {
                    sel.retain(|_, v| match v {
                        Selected::Annotation(a) => n.contains(a),
                        _ => true,
                    });
                    for name in &n {
                        sel.insert(name.clone(), Selected::Annotation(name.clone()));
                    }
                }
                self.annotation_select_mask = Some(n);
            }
        }
    }

    pub fn append_annotation_mask(&mut self, names: &[String]) {
        if let Some(mask) = &self.annotation_select_mask {
            let mut m = mask.clone();
            for n in names {
                if !m.contains(n) {
                    m.push(n.clone());
                }
            }
            self.set_annotation_mask(Some(m));
        }
    }

    pub fn add_annotation(&mut self, expr: SqlExpr, alias: &str, select: bool) {
        if select {
            self.append_annotation_mask(&[alias.to_string()]);
        } else {
            let mask: Vec<String> = self.annotation_select().keys().filter(|k| *k != alias).cloned().collect();
            self.set_annotation_mask(Some(mask));
        }
        self.annotations.shift_remove(alias);
        self.annotations.insert(alias.to_string(), expr);
    }

    pub fn clear_ordering(&mut self, force: bool, clear_default: bool) {
        if !force && self.is_sliced() {
            return;
        }
        self.order_by.clear();
        if clear_default {
            self.default_ordering = false;
        }
    }

    pub fn clear_select_clause(&mut self) {
        self.select.clear();
        self.default_cols = false;
        self.select_related = SelectRelated::No;
        self.set_annotation_mask(Some(vec![]));
        self.selected = None;
    }

    pub fn clear_select_fields(&mut self) {
        self.select.clear();
        self.values_select.clear();
        self.selected = None;
    }

    pub fn set_select(&mut self, cols: Vec<SqlExpr>) {
        self.default_cols = false;
        self.select = cols;
    }

    /// `add_fields`: selects field paths (joining as needed).
    pub fn add_fields(&mut self, names: &[String], allow_m2m: bool) -> SResult<()> {
        let alias = self.get_initial_alias();
        let opts = self.model;
        let mut cols = Vec::new();
        for name in names {
            let parts: Vec<String> = name.split("__").map(str::to_string).collect();
            let info = match self.setup_joins(&parts, opts, &alias, None, allow_m2m) {
                Ok(i) => i,
                Err(JoinErr::Multi { .. }) => return Err(field_error(format!("Invalid field name: '{name}'"))),
                Err(JoinErr::Err(e)) => {
                    if name.contains("__") {
                        return Err(e);
                    }
                    return Err(field_error(format!("Cannot resolve keyword '{name}' into field. Choices are: {}", self.field_choices(opts, true))));
                }
            };
            let (targets, final_alias, _) = self.trim_joins(info.targets.clone(), info.joins.clone(), &info.path);
            let mut e = SqlExpr::col(&final_alias, targets[0]);
            for t in &info.transforms {
                e = lookups::apply_transform(e, t)?;
            }
            cols.push(e);
        }
        if !cols.is_empty() {
            self.set_select(cols);
        }
        Ok(())
    }

    /// `set_values`: what `values()`/`values_list()` select.
    pub fn set_values(&mut self, fields: &[String]) -> SResult<()> {
        self.select_related = SelectRelated::No;
        self.deferred = (vec![], true);
        self.clear_select_fields();
        let mut selected: IndexMap<String, Selected> = IndexMap::new();
        let field_names: Vec<String>;
        if !fields.is_empty() {
            let mut names = Vec::new();
            let mut annotation_names = Vec::new();
            if self.annotations.is_empty() {
                names = fields.to_vec();
                for (i, f) in fields.iter().enumerate() {
                    selected.insert(f.clone(), Selected::Col(i));
                }
            } else {
                self.default_cols = false;
                let ann_sel = self.annotation_select();
                for f in fields {
                    if ann_sel.contains_key(f) {
                        annotation_names.push(f.clone());
                        selected.insert(f.clone(), Selected::Annotation(f.clone()));
                    } else if self.annotations.contains_key(f) {
                        return Err(field_error(format!("Cannot select the '{f}' alias. Use annotate() to promote it.")));
                    } else {
                        if !ann_sel.is_empty() {
                            let parts: Vec<String> = f.split("__").map(str::to_string).collect();
                            if let Err(JoinErr::Err(e)) = self.names_to_path(&parts, self.model, true, false) {
                                return Err(e);
                            }
                        }
                        selected.insert(f.clone(), Selected::Col(names.len()));
                        names.push(f.clone());
                    }
                }
            }
            self.set_annotation_mask(Some(annotation_names));
            field_names = names;
        } else {
            field_names = self.model.fields.iter().map(|f| f.attname().to_string()).collect();
        }
        match &self.group_by {
            GroupBy::All => {
                let all: Vec<String> = self.model.fields.iter().map(|f| f.attname().to_string()).collect();
                self.add_fields(&all, false)?;
                self.set_group_by(false);
                self.clear_select_fields();
            }
            GroupBy::Exprs(g) => {
                let g = g
                    .iter()
                    .map(|e| match e {
                        SqlExpr::Ref(name, inner) if !selected.contains_key(name) => self.annotations.get(name).cloned().unwrap_or((**inner).clone()),
                        other => other.clone(),
                    })
                    .collect();
                self.group_by = GroupBy::Exprs(g);
            }
            GroupBy::None => {}
        }
        self.values_select = field_names.clone();
        self.add_fields(&field_names, true)?;
        self.selected = if fields.is_empty() { None } else { Some(selected) };
        Ok(())
    }

    /// `set_group_by`: the minimal GROUP BY for `values(...).annotate(...)`.
    pub fn set_group_by(&mut self, allow_aliases: bool) {
        let mut group_by: Vec<SqlExpr> = self.select.clone();
        for (alias, ann) in self.annotation_select() {
            let cols = ann.group_by_cols();
            if cols.is_empty() {
                continue;
            }
            if allow_aliases && !ann.contains_aggregate() {
                group_by.push(SqlExpr::Ref(alias.clone(), Box::new(ann.clone())));
            } else {
                group_by.extend(cols);
            }
        }
        self.group_by = GroupBy::Exprs(group_by);
    }

    pub fn add_ordering(&mut self, items: Vec<OrderItem>) -> SResult<()> {
        for item in &items {
            if let OrderItem::Name(n) = item {
                if n == "?" {
                    continue;
                }
                let name = n.strip_prefix('-').unwrap_or(n);
                if self.annotations.contains_key(name) {
                    continue;
                }
                let parts: Vec<String> = name.split("__").map(str::to_string).collect();
                match self.names_to_path(&parts, self.model, true, false) {
                    Ok(_) => {}
                    Err(JoinErr::Err(e)) => return Err(e),
                    Err(JoinErr::Multi { .. }) => {}
                }
            }
            if let OrderItem::Expr(e, _, _) = item {
                if e.contains_aggregate() {
                    return Err(field_error(format!(
                        "Using an aggregate in order_by() without also including it in annotate() is not allowed: {}",
                        e.describe()
                    )));
                }
            }
        }
        if items.is_empty() {
            self.default_ordering = false;
        } else {
            self.order_by.extend(items);
        }
        Ok(())
    }

    pub fn add_select_related(&mut self, fields: &[String]) {
        let mut tree = match std::mem::replace(&mut self.select_related, SelectRelated::No) {
            SelectRelated::Fields(t) => t,
            _ => vec![],
        };
        for f in fields {
            let mut level = &mut tree;
            for part in f.split("__") {
                let pos = match level.iter().position(|(n, _)| n == part) {
                    Some(p) => p,
                    None => {
                        level.push((part.to_string(), SelectRelated::Fields(vec![])));
                        level.len() - 1
                    }
                };
                let SelectRelated::Fields(next) = &mut level[pos].1 else { unreachable!("built as fields") };
                level = next;
            }
        }
        self.select_related = SelectRelated::Fields(tree);
    }

    pub fn add_deferred_loading(&mut self, names: &[String]) {
        let (existing, defer) = self.deferred.clone();
        if defer {
            let mut e = existing;
            for n in names {
                if !e.contains(n) {
                    e.push(n.clone());
                }
            }
            self.deferred = (e, true);
        } else {
            let new_existing: Vec<String> = existing.iter().filter(|n| !names.contains(n)).cloned().collect();
            if !new_existing.is_empty() {
                self.deferred = (new_existing, false);
            } else {
                self.deferred = (vec![], true);
                let new_only: Vec<String> = names.iter().filter(|n| !existing.contains(n)).cloned().collect();
                if !new_only.is_empty() {
                    self.deferred = (new_only, true);
                }
            }
        }
    }

    pub fn add_immediate_loading(&mut self, names: &[String]) {
        let (existing, defer) = self.deferred.clone();
        let mut names: Vec<String> = names.iter().map(|n| if n == "pk" { "id".to_string() } else { n.clone() }).collect();
        names.dedup();
        if defer {
            self.deferred = (names.into_iter().filter(|n| !existing.contains(n)).collect(), false);
        } else {
            self.deferred = (names, false);
        }
    }

    /// Which fields of `model` are loaded (the select mask), for the main model (`prefix` "")
    /// or a related one (`prefix` "author").
    pub fn loaded_fields(&self, model: &'static Model, prefix: &str) -> Vec<&'static Field> {
        let (names, defer) = &self.deferred;
        let rel = |n: &str| -> Option<String> {
            if prefix.is_empty() {
                (!n.contains("__")).then(|| n.to_string())
            } else {
                n.strip_prefix(&format!("{prefix}__")).filter(|r| !r.contains("__")).map(str::to_string)
            }
        };
        let mine: Vec<String> = names.iter().filter_map(|n| rel(n)).collect();
        if names.is_empty() {
            return model.fields.iter().collect();
        }
        if *defer {
            model.fields.iter().filter(|f| f.kind == FieldKind::Auto || !mine.iter().any(|n| n == f.name || n == f.attname())).collect()
        } else {
            // `only()`: the listed fields plus the pk; a related model not mentioned loads in full.
            let mentions_related = !prefix.is_empty() && !mine.is_empty();
            if !prefix.is_empty() && !mentions_related {
                return model.fields.iter().collect();
            }
            // A relation named through one of its fields (`only("author__username")`) is in the
            // mask too: its key column is loaded.
            let through = |f: &Field| {
                let full = if prefix.is_empty() { f.name.to_string() } else { format!("{prefix}__{}", f.name) };
                f.is_relation() && names.iter().any(|n| n.starts_with(&format!("{full}__")))
            };
            model.fields.iter().filter(|f| f.kind == FieldKind::Auto || mine.iter().any(|n| n == f.name || n == f.attname()) || through(f)).collect()
        }
    }

    /// Whether the relation `field` (at `prefix`) is in the select mask of `only()`/`defer()`:
    /// named itself, or through one of its fields (`only("author__username")`).
    pub fn relation_in_mask(&self, prefix: &str, field: &Field) -> bool {
        let (names, defer) = &self.deferred;
        if names.is_empty() {
            return true;
        }
        let full = if prefix.is_empty() { field.name.to_string() } else { format!("{prefix}__{}", field.name) };
        let named = names.iter().any(|n| *n == full || (prefix.is_empty() && n == field.attname()));
        if *defer {
            !named
        } else {
            named || names.iter().any(|n| n.starts_with(&format!("{full}__")))
        }
    }

    /// `exists()`: the query for `qs.exists()`/`Exists(qs)`.
    pub fn exists_query(&self, limit: bool) -> SResult<Query> {
        let mut q = self.clone();
        if !(q.distinct && q.is_sliced()) {
            if q.group_by == GroupBy::All {
                let all: Vec<String> = self.model.fields.iter().map(|f| f.attname().to_string()).collect();
                q.add_fields(&all, false)?;
                q.set_group_by(false);
            }
            q.clear_select_clause();
        }
        // A union asks each of its queries for `1` too.
        if let Some(c) = q.combinator.as_mut().filter(|c| c.kind == "union") {
            for part in c.queries.iter_mut() {
                *part = part.exists_query(false)?;
            }
        }
        q.clear_ordering(true, true);
        if limit {
            q.set_limits(None, Some(1));
        }
        q.add_annotation(SqlExpr::Raw("1"), "a", true);
        Ok(q)
    }

    /// The most recent alias that joins `table` (for select_related reading).
    pub fn alias_for_path(&self, table: &str) -> Option<String> {
        self.table_map.get(table).and_then(|l| l.last().cloned())
    }
}
