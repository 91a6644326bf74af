//! What a QuerySet asks for ([`Query`]) and how Django would write it as SQL on SQLite
//! ([`Compiler`]): quoted `"table"."column"`, every column of the model, joins named and
//! aliased as Django names them, `%s` placeholders with parameters apart.

use crate::engine::SqlValue;
use crate::error::{err, ErrorKind, SResult};
use crate::schema::{Field, FieldKind, Model, Relation};
use crate::value::{DateTime, Val};

/// A filter tree, as `Q` objects build it.
#[derive(Clone, Debug)]
pub enum QNode {
    And(Vec<QNode>),
    Or(Vec<QNode>),
    Not(Box<QNode>),
    /// `title__icontains='x'`.
    Leaf(String, Val),
    /// `Exists(subquery)`, with `OuterRef` leaves inside the subquery.
    Exists(Box<Query>, bool),
}

impl QNode {
    pub fn and(self, other: QNode) -> QNode {
        match (self, other) {
            (QNode::And(mut a), QNode::And(b)) => {
                a.extend(b);
                QNode::And(a)
            }
            (QNode::And(mut a), b) => {
                a.push(b);
                QNode::And(a)
            }
            (a, b) => QNode::And(vec![a, b]),
        }
    }
    pub fn or(self, other: QNode) -> QNode {
        match (self, other) {
            (QNode::Or(mut a), b) => {
                a.push(b);
                QNode::Or(a)
            }
            (a, b) => QNode::Or(vec![a, b]),
        }
    }
    pub fn is_empty(&self) -> bool {
        matches!(self, QNode::And(v) if v.is_empty())
    }
}

/// An aggregate as `annotate()`/`aggregate()` take it.
#[derive(Clone, Debug)]
pub struct Aggregate {
    pub func: &'static str,
    pub path: String,
    pub distinct: bool,
    pub filter: Option<QNode>,
}

#[derive(Clone, Debug)]
pub struct PrefetchSpec {
    /// `tags` or `tags__articles`.
    pub lookup: String,
    pub queryset: Option<Box<Query>>,
    pub to_attr: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ValuesMode {
    Dicts(Vec<String>),
    Tuples(Vec<String>),
    Flat(String),
}

#[derive(Clone, Debug)]
pub struct Query {
    pub model: &'static Model,
    pub filter: QNode,
    /// `None`: the model's `Meta.ordering`; `Some(vec![])`: explicitly unordered.
    pub order_by: Option<Vec<String>>,
    pub low: i64,
    pub high: Option<i64>,
    pub select_related: Vec<String>,
    pub prefetch: Vec<PrefetchSpec>,
    pub annotations: Vec<(String, Aggregate)>,
    pub values: Option<ValuesMode>,
    pub only: Option<Vec<String>>,
    pub defer: Vec<String>,
    pub distinct: bool,
    /// `.none()`: no query is ever sent.
    pub empty: bool,
}

impl Query {
    pub fn new(model: &'static Model) -> Query {
        Query {
            model,
            filter: QNode::And(vec![]),
            order_by: None,
            low: 0,
            high: None,
            select_related: vec![],
            prefetch: vec![],
            annotations: vec![],
            values: None,
            only: None,
            defer: vec![],
            distinct: false,
            empty: false,
        }
    }

    pub fn is_sliced(&self) -> bool {
        self.low != 0 || self.high.is_some()
    }

    /// Applies `[start:stop]` on top of any existing slice, as Django's `set_limits` does.
    pub fn set_limits(&mut self, start: Option<i64>, stop: Option<i64>) {
        let (low, high) = (self.low, self.high);
        if let Some(stop) = stop {
            self.high = Some(match high {
                Some(h) => h.min(low + stop),
                None => low + stop,
            });
        }
        if let Some(start) = start {
            self.low = match high {
                Some(h) => h.min(low + start),
                None => low + start,
            };
        }
        if let Some(h) = self.high {
            if self.low > h {
                self.low = h;
            }
        }
    }

    /// The ordering in force (explicit, or the model's default).
    pub fn effective_ordering(&self) -> Vec<String> {
        match &self.order_by {
            Some(o) => o.clone(),
            None => self.model.ordering.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Which concrete fields of the model are loaded (others are deferred).
    pub fn loaded_fields(&self) -> Vec<&'static Field> {
        let fields: Vec<&'static Field> = self.model.fields.iter().collect();
        if let Some(only) = &self.only {
            return fields
                .into_iter()
                .filter(|f| f.kind == FieldKind::Auto || only.iter().any(|o| o == f.name))
                .collect();
        }
        fields.into_iter().filter(|f| !self.defer.iter().any(|d| d == f.name)).collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    LeftOuter,
}

#[derive(Clone, Debug)]
struct Join {
    table: &'static str,
    alias: String,
    parent_alias: String,
    parent_column: &'static str,
    column: &'static str,
    kind: JoinKind,
    /// The relation path that made it, for reuse (`author`, `tags`, `tags__articles`).
    path: String,
}

/// What one selected column of a result row holds.
#[derive(Clone, Debug)]
pub enum SelectItem {
    /// A column of the main model or of a `select_related` model (by path, "" = main).
    Field { path: String, field: &'static Field },
    /// An annotation, by name.
    Annotation(String),
    /// A `values()` column, by its name in the result.
    Value(String),
    /// The extra column a prefetch selects to map rows back to their owners.
    PrefetchKey,
}

pub struct Compiled {
    /// The filter matches nothing: Django sends no query and answers empty / 0.
    pub always_empty: bool,
    pub sql: String,
    pub params: Vec<SqlValue>,
    pub select: Vec<SelectItem>,
}

pub struct Compiler<'q> {
    q: &'q Query,
    joins: Vec<Join>,
    params: Vec<SqlValue>,
    base_alias: String,
    alias_prefix: char,
    /// For subqueries: the outer query's base alias, for `OuterRef`.
    outer_alias: Option<String>,
    outer_model: Option<&'static Model>,
    /// Conditions on annotations, which go to HAVING.
    having: Vec<String>,
    /// Joins made for an aggregate are LEFT OUTER (Django promotes them so rows with no
    /// related row still count 0).
    outer_joins: bool,
    /// Checking a filter at `filter()` time, before any outer query exists for `OuterRef`.
    validating: bool,
    /// The filter matches nothing: the query need not be sent.
    always_empty: bool,
}

/// What a filter node compiles to.
enum Cond {
    Sql(String),
    /// Matches no row (an empty `__in`): Django's EmptyResultSet.
    Nothing,
    /// No condition at all (e.g. `~Q(id__in=[])`, or a condition moved to HAVING).
    Everything,
}

const MATCHES_NOTHING: &str = "\u{0}matches nothing";

pub fn qn(name: &str) -> String {
    format!("\"{name}\"")
}

impl<'q> Compiler<'q> {
    pub fn new(q: &'q Query) -> Compiler<'q> {
        Compiler {
            q,
            joins: vec![],
            params: vec![],
            base_alias: q.model.table.to_string(),
            alias_prefix: 'T',
            outer_alias: None,
            outer_model: None,
            having: vec![],
            outer_joins: false,
            validating: false,
            always_empty: false,
        }
    }

    /// A compiler that only checks names (OuterRef is resolved later, by the outer query).
    pub fn validator(q: &'q Query) -> Compiler<'q> {
        let mut c = Compiler::new(q);
        c.validating = true;
        c
    }

    /// `"table"` for a real table name, bare `T4`/`U0` for an alias (as Django quotes them).
    fn qa(&self, alias: &str) -> String {
        let is_table = alias == self.q.model.table || self.joins.iter().any(|j| j.alias == alias && j.alias == j.table);
        if is_table { qn(alias) } else { alias.to_string() }
    }

    fn col(&self, alias: &str, column: &str) -> String {
        format!("{}.{}", self.qa(alias), qn(column))
    }

    fn new_alias(&self, table: &'static str) -> String {
        let used = self.base_alias == table || self.joins.iter().any(|j| j.alias == table);
        match self.alias_prefix {
            // Django: the table's own name first time, then `T<len(alias_map) + 1>`.
            'T' if !used => table.to_string(),
            'T' => format!("T{}", self.joins.len() + 2),
            // Subqueries are relabelled U0 (base), U1, U2... in join order.
            p => format!("{p}{}", self.joins.len() + 1),
        }
    }

    fn join(&mut self, table: &'static str, parent_alias: &str, parent_column: &'static str, column: &'static str, kind: JoinKind, path: &str) -> String {
        if let Some(j) = self.joins.iter_mut().find(|j| j.path == path) {
            let _ = kind;
            return j.alias.clone();
        }
        let alias = self.new_alias(table);
        let kind = if self.outer_joins { JoinKind::LeftOuter } else { kind };
        self.joins.push(Join {
            table,
            alias: alias.clone(),
            parent_alias: parent_alias.to_string(),
            parent_column,
            column,
            kind,
            path: path.to_string(),
        });
        alias
    }

    /// Walks `a__b__c` from the base model: joins relations, and returns the alias and column
    /// the path ends on, the field there, and the lookup that is left (`exact` by default).
    fn resolve_path(&mut self, path: &str, allow_lookup: bool) -> SResult<(String, &'static str, Option<&'static Field>, String)> {
        let parts: Vec<&str> = path.split("__").collect();
        let mut model: &'static Model = self.q.model;
        let mut alias = self.base_alias.clone();
        let mut walked = String::new();
        let mut i = 0;
        // The column and field reached so far, when the path ends on a relation.
        let mut reached: Option<(String, &'static str, Option<&'static Field>)> = None;
        while i < parts.len() {
            let name = parts[i];
            if name.is_empty() {
                return Err(err(ErrorKind::FieldError, format!("Cannot resolve keyword '' into field. Choices are: {}", model.choice_names().join(", "))));
            }
            if i == 0 && self.q.annotations.iter().any(|(n, _)| n == name) {
                // An annotation: the caller repeats its expression; the alias stays empty.
                let lookup = parts[1..].join("__");
                return Ok((String::new(), "", None, if lookup.is_empty() { "exact".into() } else { lookup }));
            }
            if reached.is_some() {
                // After a relation: either a field of the target, or a lookup.
                if model.field(name).is_none() && model.relation(name).is_none() {
                    break;
                }
            }
            if !walked.is_empty() {
                walked.push_str("__");
            }
            walked.push_str(name);
            if let Some(rel) = model.relation(name) {
                let next_is_pk = parts.get(i + 1).is_some_and(|n| *n == "id" || *n == "pk");
                match rel {
                    Relation::Forward { field, to } => {
                        if next_is_pk || i + 1 == parts.len() || !is_field_or_relation(to, parts.get(i + 1).copied()) {
                            // `author=8`, `author__id=8`, `author__in=[..]`: the FK column, no join.
                            reached = Some((alias.clone(), field.column, Some(field)));
                            if next_is_pk {
                                i += 1;
                            }
                            i += 1;
                            model = to;
                            if next_is_pk || i == parts.len() || !is_field_or_relation(to, parts.get(i).copied()) {
                                break;
                            }
                            continue;
                        }
                        let kind = if field.null { JoinKind::LeftOuter } else { JoinKind::Inner };
                        alias = self.join(to.table, &alias, field.column, "id", kind, &walked);
                        model = to;
                        reached = Some((alias.clone(), "id", to.field("id")));
                    }
                    Relation::Reverse { from, field } => {
                        alias = self.join(from.table, &alias, "id", field.column, JoinKind::Inner, &walked);
                        model = from;
                        reached = Some((alias.clone(), "id", from.field("id")));
                    }
                    Relation::ManyToMany { .. } | Relation::ManyToManyReverse { .. } => {
                        // Through the join table: (column to this side, column to the other side).
                        let (m2m, near, far, target) = match rel {
                            Relation::ManyToMany { m2m, to } => (m2m, m2m.from_column, m2m.to_column, to),
                            Relation::ManyToManyReverse { m2m, from } => (m2m, m2m.to_column, m2m.from_column, from),
                            _ => unreachable!("matched above"),
                        };
                        let through = self.join(m2m.table, &alias, "id", near, JoinKind::Inner, &format!("{walked}+through"));
                        if next_is_pk || i + 1 == parts.len() || !is_field_or_relation(target, parts.get(i + 1).copied()) {
                            // `tags=3`, `tags__id=3`, `tags__in=[…]`: the through column, no second join.
                            reached = Some((through, far, target.field("id")));
                            if next_is_pk {
                                i += 1;
                            }
                            i += 1;
                            model = target;
                            break;
                        }
                        alias = self.join(target.table, &through, far, "id", JoinKind::Inner, &walked);
                        model = target;
                        reached = Some((alias.clone(), "id", target.field("id")));
                    }
                }
                i += 1;
                continue;
            }
            if let Some(field) = model.field(name).or_else(|| model.field_by_attname(name)) {
                reached = Some((alias.clone(), field.column, Some(field)));
                i += 1;
                break;
            }
            return Err(err(
                ErrorKind::FieldError,
                format!("Cannot resolve keyword '{name}' into field. Choices are: {}", self.choices_for(model, i == 0)),
            ));
        }
        let (alias, column, field) = reached.ok_or_else(|| err(ErrorKind::FieldError, format!("Cannot resolve keyword '{path}' into field")))?;
        let lookup = parts[i.min(parts.len())..].join("__");
        if !allow_lookup && !lookup.is_empty() {
            let bad = parts[i];
            return Err(err(
                ErrorKind::FieldError,
                format!("Cannot resolve keyword '{bad}' into field. Choices are: {}", self.choices_for(model, false)),
            ));
        }
        Ok((alias, column, field, if lookup.is_empty() { "exact".into() } else { lookup }))
    }

    fn choices_for(&self, model: &'static Model, with_annotations: bool) -> String {
        let mut names: Vec<String> = model.choice_names().into_iter().map(str::to_string).collect();
        if with_annotations {
            names.extend(self.q.annotations.iter().map(|(n, _)| n.clone()));
            names.sort();
        }
        names.join(", ")
    }

    /// Compiles one filter leaf into SQL (`"t"."c" = %s`).
    fn leaf_sql(&mut self, path: &str, value: &Val) -> SResult<String> {
        let (alias, column, field, lookup) = self.resolve_path(path, true)?;
        let lhs = if alias.is_empty() {
            // An annotation: Django repeats its expression (in HAVING).
            let (name, _) = column_annotation(path);
            let agg = self.q.annotations.iter().find(|(n, _)| *n == name).map(|(_, a)| a.clone()).expect("resolved above");
            self.aggregate_sql(&agg)?
        } else {
            self.col(&alias, column)
        };
        let kind = field.map(|f| f.kind);
        let field_desc = field.map(field_class).unwrap_or("IntegerField");
        let p = |v: &Val| to_sql_param(v, kind, path);
        let sql = match lookup.as_str() {
            "exact" if matches!(value, Val::None) => format!("{lhs} IS NULL"),
            "exact" => {
                if let Some(sub) = value.as_obj::<crate::orm::objects::OuterRefVal>() {
                    if self.validating {
                        return Ok(format!("{lhs} = (outer)"));
                    }
                    let outer = self.outer_alias.clone().ok_or_else(|| err(ErrorKind::ValueError, "This queryset contains a reference to an outer query and may only be used in a subquery."))?;
                    let model = self.outer_model.expect("set with outer_alias");
                    let f = model.field(&sub.0).ok_or_else(|| err(ErrorKind::FieldError, format!("Cannot resolve keyword '{}' into field. Choices are: {}", sub.0, model.choice_names().join(", "))))?;
                    format!("{lhs} = ({})", self.col_outer(&outer, f.column))
                } else {
                    self.params.push(p(value)?);
                    format!("{lhs} = %s")
                }
            }
            "iexact" | "contains" | "icontains" | "startswith" | "istartswith" | "endswith" | "iendswith" => {
                let s = match value {
                    Val::None if lookup == "iexact" => return Ok(format!("{lhs} IS NULL")),
                    v => like_text(v)?,
                };
                let esc = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                let pat = match lookup.as_str() {
                    "iexact" => esc,
                    "contains" | "icontains" => format!("%{esc}%"),
                    "startswith" | "istartswith" => format!("{esc}%"),
                    _ => format!("%{esc}"),
                };
                self.params.push(SqlValue::Text(pat));
                format!("{lhs} LIKE %s ESCAPE '\\'")
            }
            "gt" | "gte" | "lt" | "lte" => {
                if matches!(value, Val::None) {
                    return Err(err(ErrorKind::ValueError, format!("None cannot be used as a value for the '{lookup}' lookup")));
                }
                let op = match lookup.as_str() { "gt" => ">", "gte" => ">=", "lt" => "<", _ => "<=" };
                self.params.push(p(value)?);
                format!("{lhs} {op} %s")
            }
            "in" => {
                if let Some(qs) = value.as_obj::<crate::orm::objects::QuerySetObj>() {
                    let sub = self.subquery_sql(&qs.query)?;
                    return Ok(format!("{lhs} IN ({sub})"));
                }
                let items = match value {
                    Val::List(v) | Val::Tuple(v) => v.clone(),
                    other => return Err(err(ErrorKind::TypeError, format!("'in' lookup needs a list, a tuple or a QuerySet, not {}", other.type_name()))),
                };
                let items: Vec<&Val> = items.iter().filter(|v| !matches!(v, Val::None)).collect();
                if items.is_empty() {
                    // Django raises EmptyResultSet here: the condition matches nothing (see `Cond`).
                    return Ok(MATCHES_NOTHING.into());
                }
                let mut marks = Vec::new();
                // Django sends each distinct value once (it builds a set); a 10,000-item list must stay linear.
                let mut seen = std::collections::HashSet::new();
                for v in items {
                    let sv = p(v)?;
                    if seen.insert(sv.quoted()) {
                        self.params.push(sv);
                        marks.push("%s");
                    }
                }
                format!("{lhs} IN ({})", marks.join(", "))
            }
            "isnull" => {
                let b = value.as_int().ok_or_else(|| err(ErrorKind::ValueError, "The QuerySet value for an isnull lookup must be True or False."))?;
                if b != 0 { format!("{lhs} IS NULL") } else { format!("{lhs} IS NOT NULL") }
            }
            "range" => {
                let (a, b) = match value {
                    Val::List(v) | Val::Tuple(v) if v.len() == 2 => (v[0].clone(), v[1].clone()),
                    _ => return Err(err(ErrorKind::ValueError, "'range' lookup needs a pair: (low, high)")),
                };
                self.params.push(p(&a)?);
                self.params.push(p(&b)?);
                format!("{lhs} BETWEEN %s AND %s")
            }
            other => {
                return Err(err(
                    ErrorKind::FieldError,
                    format!("Unsupported lookup '{other}' for {field_desc} or join on the field not permitted."),
                ))
            }
        };
        Ok(sql)
    }

    fn col_outer(&self, alias: &str, column: &str) -> String {
        let a = if alias.starts_with('U') || alias.starts_with('T') && alias[1..].chars().all(|c| c.is_ascii_digit()) { alias.to_string() } else { qn(alias) };
        format!("{a}.{}", qn(column))
    }

    fn node_sql(&mut self, node: &QNode, having: &mut Vec<String>) -> SResult<Cond> {
        Ok(match node {
            QNode::Leaf(path, v) => {
                let is_annotation = self.q.annotations.iter().any(|(n, _)| Some(n.as_str()) == path.split("__").next());
                let sql = self.leaf_sql(path, v)?;
                if sql == MATCHES_NOTHING {
                    Cond::Nothing
                } else if is_annotation {
                    having.push(sql);
                    Cond::Everything
                } else {
                    Cond::Sql(sql)
                }
            }
            // As Django's WhereNode: an AND with an empty child matches nothing, an OR drops it;
            // a child with no condition vanishes from an AND and makes an OR match everything.
            QNode::And(children) | QNode::Or(children) => {
                let and = matches!(node, QNode::And(_));
                let mut parts = Vec::new();
                for c in children {
                    match self.node_sql(c, having)? {
                        Cond::Sql(s) => parts.push(s),
                        Cond::Nothing if and => return Ok(Cond::Nothing),
                        Cond::Everything if !and => return Ok(Cond::Everything),
                        _ => {}
                    }
                }
                match (parts.len(), and) {
                    (0, true) => Cond::Everything,
                    (0, false) => Cond::Nothing,
                    (1, _) => Cond::Sql(parts.pop().expect("one")),
                    _ => Cond::Sql(format!("({})", parts.join(if and { " AND " } else { " OR " }))),
                }
            }
            QNode::Not(inner) => match self.node_sql(inner, having)? {
                Cond::Sql(s) => {
                    let s = s.strip_prefix('(').and_then(|x| x.strip_suffix(')')).filter(|x| balanced(x)).map(str::to_string).unwrap_or(s);
                    Cond::Sql(format!("NOT ({s})"))
                }
                Cond::Nothing => Cond::Everything,
                Cond::Everything => Cond::Nothing,
            },
            QNode::Exists(sub, negated) => {
                let sql = self.exists_subquery(sub)?;
                Cond::Sql(if *negated { format!("NOT EXISTS({sql})") } else { format!("EXISTS({sql})") })
            }
        })
    }

    fn exists_subquery(&mut self, sub: &Query) -> SResult<String> {
        let mut inner = sub.clone();
        inner.order_by = Some(vec![]);
        let mut c = Compiler::new(&inner);
        c.alias_prefix = 'U';
        c.base_alias = "U0".into();
        c.outer_alias = Some(self.base_alias.clone());
        c.outer_model = Some(self.q.model);
        let where_ = c.where_sql()?;
        let mut sql = format!("SELECT 1 AS {} FROM {} U0{}", qn("a"), qn(inner.model.table), c.joins_sql());
        if let Some(w) = where_ {
            sql.push_str(&format!(" WHERE {w}"));
        }
        sql.push_str(" LIMIT 1");
        self.params.extend(c.params);
        Ok(sql)
    }

    fn subquery_sql(&mut self, sub: &Query) -> SResult<String> {
        let mut inner = sub.clone();
        if !inner.is_sliced() {
            inner.order_by = Some(vec![]);
        }
        let mut c = Compiler::new(&inner);
        c.alias_prefix = 'U';
        c.base_alias = "U0".into();
        let where_ = c.where_sql()?;
        let col = match &inner.values {
            Some(ValuesMode::Flat(f)) => f.clone(),
            Some(ValuesMode::Tuples(v)) | Some(ValuesMode::Dicts(v)) if v.len() == 1 => v[0].clone(),
            _ => "id".into(),
        };
        let (alias, column, _, _) = c.resolve_path(&col, false)?;
        let mut sql = format!("SELECT {} FROM {} U0{}", c.col(&alias, column), qn(inner.model.table), c.joins_sql());
        if let Some(w) = where_ {
            sql.push_str(&format!(" WHERE {w}"));
        }
        self.params.extend(c.params);
        Ok(sql)
    }

    /// The WHERE condition; `None` when there is none. Sets `always_empty` when the filter can
    /// match nothing, so the caller sends no query at all (as Django does on EmptyResultSet).
    fn where_sql(&mut self) -> SResult<Option<String>> {
        let mut having = Vec::new();
        let filter = self.q.filter.clone();
        let cond = self.node_sql(&filter, &mut having)?;
        self.having = having;
        Ok(match cond {
            Cond::Sql(s) => Some(s),
            Cond::Everything => None,
            Cond::Nothing => {
                self.always_empty = true;
                // Only reached by subqueries, which are embedded rather than skipped.
                Some("0 = 1".into())
            }
        })
    }

    fn joins_sql(&self) -> String {
        let mut s = String::new();
        for j in &self.joins {
            let kind = match j.kind {
                JoinKind::Inner => "INNER JOIN",
                JoinKind::LeftOuter => "LEFT OUTER JOIN",
            };
            let table = if j.alias == j.table { qn(j.table) } else { format!("{} {}", qn(j.table), j.alias) };
            s.push_str(&format!(
                " {kind} {table} ON ({} = {})",
                self.col(&j.parent_alias, j.parent_column),
                self.col(&j.alias, j.column)
            ));
        }
        s
    }

    fn aggregate_sql(&mut self, agg: &Aggregate) -> SResult<String> {
        let was = std::mem::replace(&mut self.outer_joins, true);
        let r = self.aggregate_sql_inner(agg);
        self.outer_joins = was;
        r
    }

    fn aggregate_sql_inner(&mut self, agg: &Aggregate) -> SResult<String> {
        let (alias, column, _, lookup) = if agg.path == "*" {
            (String::new(), "*", None, "exact".to_string())
        } else {
            self.resolve_path(&agg.path, false)?
        };
        let _ = lookup;
        let target = if column == "*" { "*".into() } else { self.col(&alias, column) };
        let distinct = if agg.distinct { "DISTINCT " } else { "" };
        let mut sql = format!("{}({distinct}{target})", agg.func);
        if let Some(f) = &agg.filter {
            let mut having = vec![];
            if let Cond::Sql(w) = self.node_sql(f, &mut having)? {
                let w = w.strip_prefix('(').and_then(|x| x.strip_suffix(')')).filter(|x| balanced(x)).map(str::to_string).unwrap_or(w);
                sql = format!("{sql} FILTER (WHERE {w})");
            }
        }
        if agg.func == "AVG" {
            // Django casts for FloatField output on SQLite only in some cases; keep the plain form.
        }
        Ok(sql)
    }

    /// SELECT for fetching rows (instances, values, or prefetch rows with a key column).
    pub fn compile_select(mut self, prefetch_key: Option<(String, String)>) -> SResult<Compiled> {
        let q = self.q;
        let mut cols: Vec<String> = Vec::new();
        let mut select: Vec<SelectItem> = Vec::new();
        if let Some((sql, alias)) = &prefetch_key {
            cols.push(format!("({sql}) AS {}", qn(alias)));
            select.push(SelectItem::PrefetchKey);
        }
        let where_ = self.where_sql()?;
        let base = self.base_alias.clone();
        let mut group_by: Vec<String> = Vec::new();
        match &q.values {
            None => {
                for f in q.loaded_fields() {
                    cols.push(self.col(&base, f.column));
                    group_by.push(self.col(&base, f.column));
                    select.push(SelectItem::Field { path: String::new(), field: f });
                }
                // select_related, in field order, depth first.
                let paths = expand_select_related(q.model, &q.select_related)?;
                for (path, field, nullable_chain) in paths {
                    let (parent_path, _) = split_last(&path);
                    let parent_alias = if parent_path.is_empty() { base.clone() } else {
                        self.joins.iter().find(|j| j.path == parent_path).map(|j| j.alias.clone()).unwrap_or(base.clone())
                    };
                    let FieldKind::ForeignKey(to) = field.kind else { continue };
                    let to = crate::schema::model(to).expect("schema is consistent");
                    let kind = if nullable_chain { JoinKind::LeftOuter } else { JoinKind::Inner };
                    let alias = self.join(to.table, &parent_alias, field.column, "id", kind, &path);
                    if let Some(j) = self.joins.iter_mut().find(|j| j.path == path) {
                        if nullable_chain {
                            j.kind = JoinKind::LeftOuter;
                        }
                    }
                    for f in to.fields {
                        cols.push(self.col(&alias, f.column));
                        group_by.push(self.col(&alias, f.column));
                        select.push(SelectItem::Field { path: path.clone(), field: f });
                    }
                }
                for (name, agg) in &q.annotations.clone() {
                    let s = self.aggregate_sql(agg)?;
                    cols.push(format!("{s} AS {}", qn(name)));
                    select.push(SelectItem::Annotation(name.clone()));
                }
            }
            Some(mode) => {
                let names: Vec<String> = match mode {
                    ValuesMode::Dicts(v) | ValuesMode::Tuples(v) => v.clone(),
                    ValuesMode::Flat(f) => vec![f.clone()],
                };
                let names = if names.is_empty() {
                    let mut n: Vec<String> = q.model.fields.iter().map(|f| if matches!(f.kind, FieldKind::ForeignKey(_)) { f.column.to_string() } else { f.name.to_string() }).collect();
                    n.extend(q.annotations.iter().map(|(a, _)| a.clone()));
                    n
                } else {
                    names
                };
                for name in names {
                    if let Some((_, agg)) = q.annotations.iter().find(|(n, _)| *n == name) {
                        let s = self.aggregate_sql(&agg.clone())?;
                        cols.push(format!("{s} AS {}", qn(&name)));
                    } else {
                        let (alias, column, _, _) = self.resolve_path(&name, false)?;
                        let c = self.col(&alias, column);
                        group_by.push(c.clone());
                        cols.push(format!("{c} AS {}", qn(&name)));
                    }
                    select.push(SelectItem::Value(name));
                }
            }
        }
        let order = self.order_sql(&select)?;
        let mut sql = String::from("SELECT ");
        if q.distinct {
            sql.push_str("DISTINCT ");
        }
        sql.push_str(&cols.join(", "));
        sql.push_str(&format!(" FROM {}{}", qn(q.model.table), self.joins_sql()));
        if let Some(w) = where_ {
            sql.push_str(&format!(" WHERE {w}"));
        }
        if !q.annotations.is_empty() {
            sql.push_str(&format!(" GROUP BY {}", group_by.join(", ")));
            if !self.having.is_empty() {
                let h = self.having.join(" AND ");
                sql.push_str(&format!(" HAVING {h}"));
            }
        }
        if !order.is_empty() {
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        sql.push_str(&limit_sql(q.low, q.high));
        Ok(Compiled { always_empty: self.always_empty, sql, params: self.params, select })
    }

    fn order_sql(&mut self, select: &[SelectItem]) -> SResult<Vec<String>> {
        let mut out = Vec::new();
        for term in self.q.effective_ordering() {
            let (desc, name) = match term.strip_prefix('-') {
                Some(n) => (true, n.to_string()),
                None => (false, term.trim_start_matches('+').to_string()),
            };
            let dir = if desc { "DESC" } else { "ASC" };
            if name == "?" {
                return Err(err(ErrorKind::NotSupported, "order_by('?') is random; the sandbox keeps results reproducible"));
            }
            // Ordering by a selected values()/annotation column is positional in Django.
            if let Some(pos) = select.iter().position(|s| matches!(s, SelectItem::Value(v) | SelectItem::Annotation(v) if *v == name)) {
                if self.q.values.is_some() || self.q.annotations.iter().any(|(n, _)| *n == name) {
                    out.push(format!("{} {dir}", pos + 1));
                    continue;
                }
            }
            let (alias, column, _, _) = self.resolve_path(&name, false)?;
            out.push(format!("{} {dir}", self.col(&alias, column)));
        }
        Ok(out)
    }

    pub fn compile_count(mut self) -> SResult<Compiled> {
        let where_ = self.where_sql()?;
        if self.q.is_sliced() || self.q.distinct || !self.q.annotations.is_empty() {
            // Django wraps sliced/distinct/grouped counts in a subquery.
            let mut inner = self.q.clone();
            inner.order_by = if inner.is_sliced() { inner.order_by } else { Some(vec![]) };
            let c = Compiler::new(&inner).compile_select(None)?;
            let sql = format!("SELECT COUNT(*) FROM ({}) subquery", c.sql);
            return Ok(Compiled { always_empty: c.always_empty, sql, params: c.params, select: vec![] });
        }
        let mut sql = format!("SELECT COUNT(*) AS {} FROM {}{}", qn("__count"), qn(self.q.model.table), self.joins_sql());
        if let Some(w) = where_ {
            sql.push_str(&format!(" WHERE {w}"));
        }
        Ok(Compiled { always_empty: self.always_empty, sql, params: self.params, select: vec![] })
    }

    pub fn compile_exists(mut self) -> SResult<Compiled> {
        let where_ = self.where_sql()?;
        let mut sql = format!("SELECT 1 AS {} FROM {}{}", qn("a"), qn(self.q.model.table), self.joins_sql());
        if let Some(w) = where_ {
            sql.push_str(&format!(" WHERE {w}"));
        }
        sql.push_str(" LIMIT 1");
        Ok(Compiled { always_empty: self.always_empty, sql, params: self.params, select: vec![] })
    }

    pub fn compile_aggregate(mut self, aggs: &[(String, Aggregate)]) -> SResult<Compiled> {
        let where_ = self.where_sql()?;
        let mut cols = Vec::new();
        for (name, agg) in aggs {
            let s = self.aggregate_sql(agg)?;
            cols.push(format!("{s} AS {}", qn(name)));
        }
        let mut sql = format!("SELECT {} FROM {}{}", cols.join(", "), qn(self.q.model.table), self.joins_sql());
        if let Some(w) = where_ {
            sql.push_str(&format!(" WHERE {w}"));
        }
        Ok(Compiled { always_empty: self.always_empty, sql, params: self.params, select: aggs.iter().map(|(n, _)| SelectItem::Annotation(n.clone())).collect() })
    }
}

fn column_annotation(path: &str) -> (String, String) {
    let mut it = path.splitn(2, "__");
    (it.next().unwrap_or("").to_string(), it.next().unwrap_or("exact").to_string())
}

fn is_field_or_relation(model: &'static Model, name: Option<&str>) -> bool {
    name.is_some_and(|n| model.field(n).is_some() || model.relation(n).is_some())
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

pub fn limit_sql(low: i64, high: Option<i64>) -> String {
    match (low, high) {
        (0, None) => String::new(),
        (0, Some(h)) => format!(" LIMIT {h}"),
        (l, Some(h)) => format!(" LIMIT {} OFFSET {l}", h - l),
        (l, None) => format!(" LIMIT -1 OFFSET {l}"),
    }
}

fn split_last(path: &str) -> (&str, &str) {
    match path.rfind("__") {
        Some(i) => (&path[..i], &path[i + 2..]),
        None => ("", path),
    }
}

/// `select_related('a__b', 'c')` → every FK hop in model field order, depth first,
/// with whether the chain to it is nullable (LEFT OUTER JOIN).
fn expand_select_related(model: &'static Model, paths: &[String]) -> SResult<Vec<(String, &'static Field, bool)>> {
    let mut out = Vec::new();
    walk_select_related(model, "", paths, false, &mut out)?;
    for p in paths {
        if !out.iter().any(|(path, _, _)| path == p) {
            // Find the first bad hop for Django's message.
            let mut m = model;
            for part in p.split("__") {
                match m.field(part).map(|f| f.kind) {
                    Some(FieldKind::ForeignKey(to)) => m = crate::schema::model(to).expect("schema"),
                    _ => {
                        let choices: Vec<&str> = m.fields.iter().filter(|f| matches!(f.kind, FieldKind::ForeignKey(_))).map(|f| f.name).collect();
                        let choices = if choices.is_empty() { "(none)".to_string() } else { choices.join(", ") };
                        let what = if m.relation(part).is_some() { "Non-relational field or reverse/many-to-many relation given in select_related" } else { "Invalid field name(s) given in select_related" };
                        return Err(err(ErrorKind::FieldError, format!("{what}: '{part}'. Choices are: {choices}")));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn walk_select_related(model: &'static Model, prefix: &str, paths: &[String], nullable: bool, out: &mut Vec<(String, &'static Field, bool)>) -> SResult<()> {
    for f in model.fields {
        let FieldKind::ForeignKey(to) = f.kind else { continue };
        let path = if prefix.is_empty() { f.name.to_string() } else { format!("{prefix}__{}", f.name) };
        let wanted = paths.iter().any(|p| *p == path || p.starts_with(&format!("{path}__")));
        if wanted {
            let chain_null = nullable || f.null;
            out.push((path.clone(), f, chain_null));
            walk_select_related(crate::schema::model(to).expect("schema"), &path, paths, chain_null, out)?;
        }
    }
    Ok(())
}

fn field_class(f: &Field) -> &'static str {
    match f.kind {
        FieldKind::Auto => "BigAutoField",
        FieldKind::Int => "IntegerField",
        FieldKind::Char => "CharField",
        FieldKind::Text => "TextField",
        FieldKind::Bool => "BooleanField",
        FieldKind::DateTime => "DateTimeField",
        FieldKind::ForeignKey(_) => "ForeignKey",
    }
}

fn like_text(v: &Val) -> SResult<String> {
    Ok(match v {
        Val::Str(s) | Val::SafeStr(s) => s.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Float(f) => f.to_string(),
        other => return Err(err(ErrorKind::TypeError, format!("expected a string, got {}", other.type_name()))),
    })
}

/// Converts a Python value to the parameter Django would send for a field of `kind`.
pub fn to_sql_param(v: &Val, kind: Option<FieldKind>, path: &str) -> SResult<SqlValue> {
    let bad = |what: &str| {
        err(ErrorKind::ValueError, format!("Field '{}' expected {what} but got {}.", path.split("__").next().unwrap_or(path), v.type_name()))
    };
    Ok(match (kind, v) {
        (_, Val::None) => SqlValue::Null,
        (Some(FieldKind::Auto | FieldKind::Int | FieldKind::ForeignKey(_)), Val::Obj(o)) => {
            SqlValue::Int(o.pk().ok_or_else(|| bad("a number"))?)
        }
        (Some(FieldKind::Auto | FieldKind::Int | FieldKind::ForeignKey(_)), Val::Str(s) | Val::SafeStr(s)) => {
            SqlValue::Int(s.trim().parse().map_err(|_| {
                err(ErrorKind::ValueError, format!("Field '{}' expected a number but got '{s}'.", path.split("__").next().unwrap_or(path)))
            })?)
        }
        (Some(FieldKind::Auto | FieldKind::Int | FieldKind::ForeignKey(_)), Val::Float(f)) => SqlValue::Int(*f as i64),
        (Some(FieldKind::DateTime), Val::Str(s) | Val::SafeStr(s)) => {
            let d = DateTime::parse(s).ok_or_else(|| {
                err(ErrorKind::ValueError, format!("“{s}” value has an invalid format. It must be in YYYY-MM-DD HH:MM[:ss[.uuuuuu]][TZ] format."))
            })?;
            SqlValue::Text(d.to_sql())
        }
        (Some(FieldKind::Char | FieldKind::Text), Val::Int(i)) => SqlValue::Text(i.to_string()),
        (_, Val::Bool(b)) => SqlValue::Int(*b as i64),
        (_, Val::Int(i)) => SqlValue::Int(*i),
        (_, Val::Float(f)) => SqlValue::Real(*f),
        (_, Val::Str(s) | Val::SafeStr(s)) => SqlValue::Text(s.to_string()),
        (_, Val::DateTime(d)) => SqlValue::Text(d.to_sql()),
        (_, Val::Obj(o)) => SqlValue::Int(o.pk().ok_or_else(|| bad("a value"))?),
        (_, other) => return Err(err(ErrorKind::TypeError, format!("cannot use a {} as a query parameter", other.type_name()))),
    })
}
