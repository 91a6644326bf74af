//! The trees a query is made of, as data: SQL-side expressions — what `F()`, aggregates,
//! `Exists()`, lookups and `Q` trees become once a query has resolved them against its joins
//! (Django's `Col`, `Ref`, `Lookup`, `WhereNode`) — the Python-side objects before resolution
//! (`Expression`, `QTree`), and the `Query` itself with its joins (a subquery is an expression
//! holding a `Query`, so the two live together). What builds and changes them is in
//! `sql.rs` (the query), `resolve.rs` and `lookups.rs`.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use indexmap::IndexMap;

use crate::error::SandboxError;
use crate::engine::SqlValue;
use crate::schema::{Field, FieldKind, ManyToMany, Model};
use crate::value::Val;
use super::fields::OutputField;

/// A column's owner and type: what a `Col` points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// The table the column belongs to.
    pub table: &'static str,
    pub column: &'static str,
    pub kind: FieldKind,
    pub null: bool,
    pub is_pk: bool,
    /// The model field's name (`author`), or the column for through tables.
    pub name: &'static str,
    /// The model field, when the column belongs to a model (not a through table).
    pub field: Option<&'static Field>,
}

impl Target {
    pub fn of(model: &'static Model, f: &'static Field) -> Target {
        Target { table: model.table, column: f.column, kind: f.kind, null: f.null, is_pk: f.kind == FieldKind::Auto, name: f.name, field: Some(f) }
    }
    pub fn through(table: &'static str, column: &'static str, to: &'static str) -> Target {
        Target { table, column, kind: FieldKind::ForeignKey(to), null: false, is_pk: false, name: column, field: None }
    }
    pub fn through_pk(table: &'static str) -> Target {
        Target { table, column: "id", kind: FieldKind::Auto, null: false, is_pk: true, name: "id", field: None }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl ArithOp {
    pub fn sql(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%%",
            ArithOp::Pow => "^",
        }
    }
}

/// An aggregate function as Django writes it on SQLite.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateSql {
    /// `COUNT`, `SUM`, `AVG`, `MAX`, `MIN`.
    pub func: &'static str,
    /// `None` for `COUNT(*)`.
    pub arg: Option<Box<SqlExpr>>,
    pub distinct: bool,
    pub filter: Option<Box<WhereNode>>,
    /// The Python name (`Count`) and the field it reads, for output conversion.
    pub output: FieldKind,
}

/// An expression after resolution: SQL with parameters apart.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlExpr {
    Col { alias: String, target: Target },
    /// A parameter (`%s`).
    Value(SqlValue),
    /// Literal SQL with no parameters (`1`, `*`).
    Raw(&'static str),
    /// An `extra(select=...)` column: raw SQL, parenthesized.
    Extra(String),
    Aggregate(AggregateSql),
    /// A reference to a selected alias (`"n"`): annotations used in ORDER BY / GROUP BY.
    Ref(String, Box<SqlExpr>),
    Combined(Box<SqlExpr>, ArithOp, Box<SqlExpr>),
    /// `EXISTS(...)`; `true` = negated (`~Exists(...)`).
    Exists(Box<Query>, bool),
    /// `(SELECT ...)`.
    Subquery(Box<Query>),
    /// `OuterRef("pk")` inside a subquery, until the outer query resolves it.
    OuterRef(String),
    /// `created_at__day`: Django's `Extract` on SQLite (`django_datetime_extract`).
    Extract(&'static str, Box<SqlExpr>),
    /// `created_at__date`: `django_datetime_cast_date`.
    CastDate(Box<SqlExpr>),
    /// `created_at__time`: `django_datetime_cast_time`.
    CastTime(Box<SqlExpr>),
    /// A function call (`LOWER`, `COALESCE`, `LENGTH`, …).
    Func(&'static str, Vec<SqlExpr>),
    /// `CAST(… AS type)`.
    Cast(Box<SqlExpr>, String),
    /// A condition as a value (`ExpressionWrapper(Q(…))`).
    Condition(Box<WhereNode>),
    /// `CASE WHEN … THEN … ELSE … END`.
    Case(Vec<(WhereNode, SqlExpr)>, Box<SqlExpr>),
    /// An expression whose type the SQL does not carry (`Value(True)`, a `Case` of booleans):
    /// written as the inner one, read back as `FieldKind` (SQLite returns booleans as 0/1).
    Typed(Box<SqlExpr>, FieldKind),
}

impl SqlExpr {
    pub fn col(alias: &str, target: Target) -> SqlExpr {
        SqlExpr::Col { alias: alias.to_string(), target }
    }

    pub fn contains_aggregate(&self) -> bool {
        match self {
            SqlExpr::Aggregate(_) => true,
            SqlExpr::Ref(_, e) => e.contains_aggregate(),
            SqlExpr::Combined(a, _, b) => a.contains_aggregate() || b.contains_aggregate(),
            SqlExpr::Extract(_, e) | SqlExpr::CastDate(e) | SqlExpr::CastTime(e) => e.contains_aggregate(),
            SqlExpr::Func(_, args) => args.iter().any(SqlExpr::contains_aggregate),
            SqlExpr::Case(whens, default) => default.contains_aggregate() || whens.iter().any(|(c, v)| c.contains_aggregate() || v.contains_aggregate()),
            SqlExpr::Typed(e, _) | SqlExpr::Cast(e, _) => e.contains_aggregate(),
            SqlExpr::Condition(w) => w.contains_aggregate(),
            _ => false,
        }
    }

    /// The columns an expression reads (for GROUP BY).
    pub fn group_by_cols(&self) -> Vec<SqlExpr> {
        match self {
            SqlExpr::Col { .. } => vec![self.clone()],
            SqlExpr::Aggregate(_) => vec![],
            SqlExpr::Value(_) | SqlExpr::Raw(_) => vec![],
            SqlExpr::Typed(e, _) if matches!(**e, SqlExpr::Value(_)) || e.contains_aggregate() => e.group_by_cols(),
            SqlExpr::Ref(_, e) => e.group_by_cols(),
            SqlExpr::Combined(a, _, b) => {
                if self.contains_aggregate() {
                    let mut v = a.group_by_cols();
                    v.extend(b.group_by_cols());
                    v
                } else {
                    vec![self.clone()]
                }
            }
            SqlExpr::Exists(sub, _) | SqlExpr::Subquery(sub) => subquery_group_by_cols(self, sub),
            _ if !self.contains_aggregate() => vec![self.clone()],
            SqlExpr::Func(_, args) => args.iter().flat_map(SqlExpr::group_by_cols).collect(),
            SqlExpr::Typed(e, _) | SqlExpr::Cast(e, _) => e.group_by_cols(),
            _ => vec![],
        }
    }

    /// Renames table aliases (`change_aliases`).
    pub fn relabel(&mut self, map: &[(String, String)]) {
        match self {
            SqlExpr::Col { alias, .. } => {
                if let Some((_, new)) = map.iter().find(|(old, _)| old == alias) {
                    *alias = new.clone();
                }
            }
            SqlExpr::Aggregate(a) => {
                if let Some(arg) = &mut a.arg {
                    arg.relabel(map);
                }
                if let Some(f) = &mut a.filter {
                    f.relabel(map);
                }
            }
            SqlExpr::Ref(_, e) | SqlExpr::Extract(_, e) | SqlExpr::CastDate(e) | SqlExpr::CastTime(e) | SqlExpr::Typed(e, _) | SqlExpr::Cast(e, _) => {
                e.relabel(map)
            }
            SqlExpr::Condition(w) => w.relabel(map),
            SqlExpr::Combined(a, _, b) => {
                a.relabel(map);
                b.relabel(map);
            }
            SqlExpr::Func(_, args) => args.iter_mut().for_each(|a| a.relabel(map)),
            SqlExpr::Case(whens, default) => {
                for (c, v) in whens.iter_mut() {
                    c.relabel(map);
                    v.relabel(map);
                }
                default.relabel(map);
            }
            // Subqueries keep their own aliases; references to this query's aliases inside
            // them were resolved to columns already.
            SqlExpr::Exists(q, _) | SqlExpr::Subquery(q) => q.relabel_external(map),
            _ => {}
        }
    }

    /// The output type, for converting results and choosing lookups.
    pub fn output_kind(&self) -> Option<FieldKind> {
        match self {
            SqlExpr::Col { target, .. } => Some(target.kind),
            SqlExpr::Aggregate(a) => Some(a.output),
            SqlExpr::Ref(_, e) => e.output_kind(),
            SqlExpr::Extract(..) => Some(FieldKind::Int),
            SqlExpr::CastDate(_) => Some(FieldKind::DateTime),
            // The numeric rules of `_connector_combinations`: a float on either side makes a float.
            SqlExpr::Combined(a, _, b) => {
                let side = |e: &SqlExpr| match e {
                    SqlExpr::Value(SqlValue::Real(_)) => Some(FieldKind::Float),
                    e => e.output_kind(),
                };
                match (side(a), side(b)) {
                    (Some(FieldKind::Float), Some(FieldKind::Auto | FieldKind::Int | FieldKind::Float) | None)
                    | (Some(FieldKind::Auto | FieldKind::Int) | None, Some(FieldKind::Float)) => Some(FieldKind::Float),
                    (l, _) => l,
                }
            }
            SqlExpr::Exists(..) => Some(FieldKind::Bool),
            SqlExpr::Typed(_, k) => Some(*k),
            SqlExpr::Subquery(q) => q.single_output_kind(),
            SqlExpr::Func(name, args) => match *name {
                "LENGTH" | "INSTR" => Some(FieldKind::Int),
                // SQLite's ROUND gives a REAL, an integer column's too.
                "ROUND" => Some(FieldKind::Float),
                n if n.starts_with("TRUNC_DATE_") => Some(FieldKind::Date),
                _ => args.first().and_then(|a| a.output_kind()),
            },
            _ => None,
        }
    }

    pub fn target(&self) -> Option<&Target> {
        match self {
            SqlExpr::Col { target, .. } => Some(target),
            SqlExpr::Ref(_, e) => e.target(),
            _ => None,
        }
    }
}

/// The right-hand side of a lookup, prepared.
#[derive(Clone, Debug, PartialEq)]
pub enum Rhs {
    Value(SqlValue),
    /// `__in` lists and `__range` pairs.
    Values(Vec<SqlValue>),
    Expr(SqlExpr),
    Bool(bool),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Lookup {
    pub name: &'static str,
    pub lhs: SqlExpr,
    pub rhs: Rhs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connector {
    And,
    Or,
    Xor,
}

impl Connector {
    pub fn sql(self) -> &'static str {
        match self {
            Connector::And => "AND",
            Connector::Or => "OR",
            Connector::Xor => "XOR",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum WhereChild {
    Node(WhereNode),
    Lookup(Lookup),
    /// A boolean expression used as a condition (`Exists(...)`).
    Expr(SqlExpr),
    /// Matches nothing (`.none()`, an empty `__in`): Django's `NothingNode`.
    Nothing,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WhereNode {
    pub connector: Connector,
    pub negated: bool,
    pub children: Vec<WhereChild>,
}

impl Default for WhereNode {
    fn default() -> Self {
        WhereNode { connector: Connector::And, negated: false, children: vec![] }
    }
}

impl WhereNode {
    pub fn new(connector: Connector, negated: bool) -> WhereNode {
        WhereNode { connector, negated, children: vec![] }
    }

    /// `tree.Node.add`: squashes a same-connector, non-negated child into this node.
    pub fn add(&mut self, child: WhereChild, connector: Connector) {
        if self.connector != connector {
            // tree.Node.add: the old node becomes the first child; `negated` stays on both.
            let negated = self.negated;
            let old = std::mem::replace(self, WhereNode::new(connector, negated));
            self.children = vec![WhereChild::Node(old), child];
            return;
        }
        match child {
            WhereChild::Node(n) if !n.negated && (n.connector == connector || n.children.len() == 1) => {
                self.children.extend(n.children);
            }
            other => self.children.push(other),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    pub fn contains_aggregate(&self) -> bool {
        self.children.iter().any(|c| match c {
            WhereChild::Node(n) => n.contains_aggregate(),
            WhereChild::Lookup(l) => l.lhs.contains_aggregate() || matches!(&l.rhs, Rhs::Expr(e) if e.contains_aggregate()),
            WhereChild::Expr(e) => e.contains_aggregate(),
            WhereChild::Nothing => false,
        })
    }

    pub fn relabel(&mut self, map: &[(String, String)]) {
        for c in self.children.iter_mut() {
            match c {
                WhereChild::Node(n) => n.relabel(map),
                WhereChild::Lookup(l) => {
                    l.lhs.relabel(map);
                    if let Rhs::Expr(e) = &mut l.rhs {
                        e.relabel(map);
                    }
                }
                WhereChild::Expr(e) => e.relabel(map),
                WhereChild::Nothing => {}
            }
        }
    }

    /// `split_having_qualify`: the part for WHERE and the part for HAVING.
    pub fn split_having(&self, must_group_by: bool) -> (Option<WhereNode>, Option<WhereNode>) {
        if !self.contains_aggregate() {
            return (Some(self.clone()), None);
        }
        let in_negated_or = self.negated || self.connector == Connector::Or;
        if in_negated_or && !must_group_by {
            return (None, Some(self.clone()));
        }
        if self.connector != Connector::And || self.negated {
            return (None, Some(self.clone()));
        }
        let mut where_parts = Vec::new();
        let mut having_parts = Vec::new();
        for c in &self.children {
            let (w, h) = match c {
                WhereChild::Node(n) => n.split_having(must_group_by),
                other => {
                    let agg = match other {
                        WhereChild::Lookup(l) => l.lhs.contains_aggregate() || matches!(&l.rhs, Rhs::Expr(e) if e.contains_aggregate()),
                        WhereChild::Expr(e) => e.contains_aggregate(),
                        _ => false,
                    };
                    let node = WhereNode { connector: Connector::And, negated: false, children: vec![other.clone()] };
                    if agg {
                        (None, Some(node))
                    } else {
                        (Some(node), None)
                    }
                }
            };
            if let Some(w) = w {
                where_parts.extend(flatten_and(w));
            }
            if let Some(h) = h {
                having_parts.extend(flatten_and(h));
            }
        }
        let w = (!where_parts.is_empty()).then(|| WhereNode { connector: Connector::And, negated: false, children: where_parts });
        let h = (!having_parts.is_empty()).then(|| WhereNode { connector: Connector::And, negated: false, children: having_parts });
        (w, h)
    }
}

fn flatten_and(n: WhereNode) -> Vec<WhereChild> {
    if n.connector == Connector::And && !n.negated {
        n.children
    } else {
        vec![WhereChild::Node(n)]
    }
}

// ---------------------------------------------------------------- before resolution

/// What `F()`, `Value()`, aggregates, `OuterRef`, `Exists`, `Subquery` evaluate to in Python,
/// before a query resolves them against its joins.
#[derive(Clone, Debug)]
pub enum Expression {
    F(String),
    Value(Val),
    /// `default`: the value for no rows (Django wraps the aggregate in `Coalesce`).
    Aggregate { func: &'static str, arg: Option<Box<Expression>>, distinct: bool, filter: Option<Box<QTree>>, default: Option<Box<Expression>> },
    OuterRef(String),
    Exists(Box<Query>),
    Subquery(Box<Query>),
    Combined(Box<Expression>, ArithOp, Box<Expression>),
    Func(&'static str, Vec<Expression>),
    Case(Vec<(QTree, Expression)>, Box<Expression>),
    /// `~Exists(...)` and other negated conditions.
    Not(Box<Expression>),
    /// `output_field=` given to an expression (`wrapper: false`: `Value`, `Case`, an aggregate,
    /// a function) or an `ExpressionWrapper` (`wrapper: true`): the inner SQL, read back as the
    /// field says.
    Output { inner: Box<Expression>, field: OutputField, wrapper: bool },
    /// `Cast(expression, output_field)`.
    Cast(Box<Expression>, OutputField),
    /// A `Q` used as a value (`ExpressionWrapper(Q(...), output_field=BooleanField())`).
    Condition(Box<QTree>),
}

impl Expression {
    pub fn contains_aggregate(&self) -> bool {
        match self {
            Expression::Aggregate { .. } => true,
            Expression::Combined(a, _, b) => a.contains_aggregate() || b.contains_aggregate(),
            Expression::Func(_, args) => args.iter().any(Expression::contains_aggregate),
            Expression::Not(e) | Expression::Output { inner: e, .. } | Expression::Cast(e, _) => e.contains_aggregate(),
            _ => false,
        }
    }

    /// Django's default alias for `annotate(Count("tags"))`: `tags__count`.
    pub fn default_alias(&self) -> Option<String> {
        match self {
            Expression::Output { inner, wrapper: false, .. } => inner.default_alias(),
            Expression::Aggregate { func, arg: Some(a), .. } => match a.as_ref() {
                Expression::F(name) => Some(format!("{name}__{}", func.to_lowercase())),
                _ => None,
            },
            _ => None,
        }
    }

    /// The `repr()` Django prints (`Count(F(tags))`).
    pub fn describe(&self) -> String {
        match self {
            Expression::F(n) => format!("F({n})"),
            Expression::Value(v) => format!("Value({})", v.scalar_repr().unwrap_or_else(|| format!("{v:?}"))),
            Expression::Aggregate { func, arg, distinct, filter, .. } => {
                let name = match *func {
                    "COUNT" => "Count",
                    "SUM" => "Sum",
                    "AVG" => "Avg",
                    "MAX" => "Max",
                    _ => "Min",
                };
                let a = arg.as_ref().map(|a| a.describe()).unwrap_or_else(|| "'*'".into());
                let mut s = format!("{name}({a}");
                if *distinct {
                    s.push_str(", distinct=True");
                }
                if filter.is_some() {
                    s.push_str(", filter=(...)");
                }
                s.push(')');
                s
            }
            Expression::OuterRef(n) => format!("OuterRef({n})"),
            Expression::Exists(_) => "Exists(<Query>)".into(),
            Expression::Subquery(_) => "Subquery(<Query>)".into(),
            Expression::Combined(a, op, b) => format!("{} {} {}", a.describe(), op.sql().replace("%%", "%"), b.describe()),
            Expression::Func(n, args) => format!("{}({})", function_class(n), args.iter().map(|a| a.describe()).collect::<Vec<_>>().join(", ")),
            Expression::Case(..) => "Case(...)".into(),
            Expression::Not(e) => format!("~{}", e.describe()),
            Expression::Output { inner, wrapper: false, .. } => inner.describe(),
            Expression::Output { inner, .. } => format!("ExpressionWrapper({})", inner.describe()),
            Expression::Cast(e, _) => format!("Cast({})", e.describe()),
            Expression::Condition(_) => "<Q>".into(),
        }
    }
}

/// The functions the compiler knows by a name of its own: (the class a learner writes, that
/// name). `Left`/`Right` are built as `Substr`; `Extract*`/`Trunc*` carry their kind in the name.
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("Lower", "LOWER"),
    ("Upper", "UPPER"),
    ("Length", "LENGTH"),
    ("Coalesce", "COALESCE"),
    ("ConcatPair", "CONCATPAIR"),
    ("Greatest", "GREATEST"),
    ("Least", "LEAST"),
    ("NullIf", "NULLIF"),
    ("Abs", "ABS"),
    ("Round", "ROUND"),
    ("Substr", "SUBSTR"),
    ("Replace", "REPLACE"),
    ("Trim", "TRIM"),
    ("LTrim", "LTRIM"),
    ("RTrim", "RTRIM"),
    ("StrIndex", "INSTR"),
    ("TruncDate", "TRUNCDATE"),
];

/// The compiler's name for a function class of [`FUNCTIONS`].
pub fn function_sql_name(class: &str) -> Option<&'static str> {
    FUNCTIONS.iter().find(|(c, _)| *c == class).map(|(_, n)| *n)
}

/// The class a learner wrote for a function the compiler knows by its own name (for repr).
fn function_class(name: &str) -> String {
    if let Some((class, _)) = FUNCTIONS.iter().find(|(_, n)| *n == name) {
        return class.to_string();
    }
    if let Some(kind) = name.strip_prefix("EXTRACT_") {
        let camel: String = kind.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect();
        return format!("Extract{camel}");
    }
    if let Some(kind) = name.strip_prefix("TRUNC_") {
        return format!("Trunc{}", kind[..1].to_uppercase() + &kind[1..]);
    }
    name.to_string()
}

/// The value side of a filter keyword before resolution.
#[derive(Clone, Debug)]
pub enum FilterValue {
    Val(Val),
    Expr(Expression),
    /// A queryset (`__in=qs`, `author=qs`).
    Query(Box<Query>),
}

/// A `Q` object: a tree of keyword lookups and conditional expressions.
#[derive(Clone, Debug)]
pub enum QTree {
    Node { connector: Connector, negated: bool, children: Vec<QTree> },
    Leaf(Rc<str>, FilterValue),
    Cond(Expression),
}

impl QTree {
    pub fn and(children: Vec<QTree>) -> QTree {
        QTree::Node { connector: Connector::And, negated: false, children }
    }

    /// `Q._combine`: an empty side gives the other; same connector flattens.
    pub fn combine(self, other: QTree, conn: Connector) -> QTree {
        if self.is_empty() {
            return other;
        }
        if other.is_empty() {
            return self;
        }
        let mut node = QTree::Node { connector: conn, negated: false, children: vec![] };
        node.add(self, conn);
        node.add(other, conn);
        node
    }

    fn add(&mut self, child: QTree, conn: Connector) {
        let QTree::Node { connector, children, .. } = self else { return };
        match child {
            QTree::Node { connector: c, negated: false, children: grand } if c == conn || grand.len() == 1 => {
                let _ = connector;
                children.extend(grand)
            }
            other => children.push(other),
        }
    }

    pub fn negate(self) -> QTree {
        match self {
            QTree::Node { connector, negated, children } => {
                // `~Q(...)` wraps: Django's `Q.__invert__` copies and flips `negated`.
                QTree::Node { connector, negated: !negated, children }
            }
            leaf => QTree::Node { connector: Connector::And, negated: true, children: vec![leaf] },
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, QTree::Node { children, .. } if children.is_empty())
    }

    /// A one-child, non-negated node as its child.
    pub fn children_single(self) -> QTree {
        match self {
            QTree::Node { negated: false, mut children, .. } if children.len() == 1 => children.pop().expect("one child"),
            other => other,
        }
    }

    /// Django's `repr(Q)`: `(AND: ('a', 1), ('b', 2))`, `(NOT (AND: ...))`.
    pub fn describe(&self, rt: &crate::runtime::Rt) -> String {
        match self {
            QTree::Node { connector, negated, children } => {
                let inner: Vec<String> = children.iter().map(|c| c.describe(rt)).collect();
                let body = format!("({}: {})", connector.sql(), inner.join(", "));
                if *negated {
                    format!("(NOT {body})")
                } else {
                    body
                }
            }
            QTree::Leaf(k, v) => {
                let vs = match v {
                    FilterValue::Val(v) => v.repr(rt).unwrap_or_default(),
                    FilterValue::Expr(e) => e.describe(),
                    FilterValue::Query(_) => "<QuerySet>".into(),
                };
                format!("('{k}', {vs})")
            }
            QTree::Cond(e) => e.describe(),
        }
    }
}

/// Subquery's `get_group_by_cols` (`Query.get_group_by_cols(wrapper)`): a subquery groups by
/// the outer columns it refers to, or by itself when one of them is reached through a join
/// (an `OuterRef("a__b")`, possibly multivalued); one that refers to nothing outside adds
/// nothing to GROUP BY. The outer query's base alias is the first of `external_aliases`.
fn subquery_group_by_cols(wrapper: &SqlExpr, sub: &Query) -> Vec<SqlExpr> {
    let mut cols: Vec<SqlExpr> = Vec::new();
    let mut collect = |c: &SqlExpr| {
        if let SqlExpr::Col { alias, .. } = c {
            if sub.external_aliases.contains_key(alias) && !sub.alias_map.contains_key(alias) && !cols.contains(c) {
                cols.push(c.clone());
            }
        }
    };
    walk_where_cols(&sub.where_, &mut collect);
    for a in sub.annotations.values() {
        walk_cols(a, &mut collect);
    }
    let base = sub.external_aliases.keys().next();
    if cols.iter().any(|c| matches!(c, SqlExpr::Col { alias, .. } if Some(alias) != base)) {
        vec![wrapper.clone()]
    } else {
        cols
    }
}

/// Every column of an expression, nested subqueries' included (`Query._gen_cols` with
/// `include_external`).
pub(crate) fn walk_cols(e: &SqlExpr, f: &mut dyn FnMut(&SqlExpr)) {
    match e {
        SqlExpr::Col { .. } => f(e),
        SqlExpr::Aggregate(a) => {
            if let Some(x) = &a.arg {
                walk_cols(x, f);
            }
            if let Some(w) = &a.filter {
                walk_where_cols(w, f);
            }
        }
        SqlExpr::Ref(_, x) | SqlExpr::Extract(_, x) | SqlExpr::CastDate(x) | SqlExpr::CastTime(x) | SqlExpr::Typed(x, _) | SqlExpr::Cast(x, _) => {
            walk_cols(x, f)
        }
        SqlExpr::Condition(w) => walk_where_cols(w, f),
        SqlExpr::Combined(a, _, b) => {
            walk_cols(a, f);
            walk_cols(b, f);
        }
        SqlExpr::Func(_, args) => args.iter().for_each(|a| walk_cols(a, f)),
        SqlExpr::Exists(q, _) | SqlExpr::Subquery(q) => {
            walk_where_cols(&q.where_, f);
            for a in q.annotations.values() {
                walk_cols(a, f);
            }
        }
        _ => {}
    }
}

pub(crate) fn walk_where_cols(w: &WhereNode, f: &mut dyn FnMut(&SqlExpr)) {
    for c in &w.children {
        match c {
            WhereChild::Node(n) => walk_where_cols(n, f),
            WhereChild::Lookup(l) => {
                walk_cols(&l.lhs, f);
                if let Rhs::Expr(e) = &l.rhs {
                    walk_cols(e, f);
                }
            }
            WhereChild::Expr(e) => walk_cols(e, f),
            WhereChild::Nothing => {}
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinType {
    Inner,
    LOuter,
}

impl JoinType {
    pub fn sql(self) -> &'static str {
        match self {
            JoinType::Inner => "INNER JOIN",
            JoinType::LOuter => "LEFT OUTER JOIN",
        }
    }
}

/// Which relation a join follows (two joins are the same join when this and the parent match).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinField {
    pub id: String,
    /// The table of the model on the far side (for external-alias quoting).
    pub related_table: &'static str,
}

#[derive(Clone, Debug)]
pub struct Join {
    pub table: &'static str,
    pub parent_alias: String,
    pub alias: String,
    pub join_type: Option<JoinType>,
    /// (column on the parent, column on this table).
    pub join_cols: (&'static str, &'static str),
    pub join_field: JoinField,
    pub nullable: bool,
}

#[derive(Clone, Debug)]
pub enum Table {
    Base { table: &'static str, alias: String },
    Join(Join),
}

impl Table {
    pub fn table_name(&self) -> &'static str {
        match self {
            Table::Base { table, .. } => table,
            Table::Join(j) => j.table,
        }
    }
    pub fn join_type(&self) -> Option<JoinType> {
        match self {
            Table::Base { .. } => None,
            Table::Join(j) => j.join_type,
        }
    }
    pub fn parent_alias(&self) -> Option<&str> {
        match self {
            Table::Base { .. } => None,
            Table::Join(j) => Some(&j.parent_alias),
        }
    }
    pub(crate) fn same_join(&self, other: &Join) -> bool {
        match self {
            Table::Join(j) => j.table == other.table && j.parent_alias == other.parent_alias && j.join_field == other.join_field,
            Table::Base { .. } => false,
        }
    }
}

/// One step of a relation path (`PathInfo`).
#[derive(Clone, Debug)]
pub struct PathInfo {
    pub to_table: &'static str,
    pub to_model: Option<&'static Model>,
    pub join_cols: (&'static str, &'static str),
    pub join_field: JoinField,
    /// The join follows a foreign key declared on this side.
    pub direct: bool,
    /// Multi-valued (reverse FK or many-to-many).
    pub m2m: bool,
    pub nullable: bool,
    /// The columns on the far side the join points at (the FK's target), and the matching
    /// columns on this side (for trimming).
    pub foreign_targets: Vec<Target>,
    pub local_targets: Vec<Target>,
    /// The target fields after this step (what a filter ending here compares).
    pub target_fields: Vec<Target>,
}

/// The field a path ends on.
#[derive(Clone, Debug)]
pub enum FinalField {
    Field(&'static Model, &'static Field),
    /// A relation seen from the other side, or a many-to-many (relational, not a column).
    Relation(&'static Model),
    /// A through table's foreign key.
    Through(Target),
    Annotation(Option<FieldKind>),
}

impl FinalField {
    pub fn is_relation(&self) -> bool {
        match self {
            FinalField::Field(_, f) => f.is_relation(),
            FinalField::Relation(_) | FinalField::Through(_) => true,
            FinalField::Annotation(_) => false,
        }
    }
    pub fn kind(&self) -> Option<FieldKind> {
        match self {
            FinalField::Field(_, f) => Some(f.kind),
            FinalField::Relation(m) => Some(FieldKind::ForeignKey(m.name)),
            FinalField::Through(t) => Some(t.kind),
            FinalField::Annotation(k) => *k,
        }
    }
    /// The Django field class name for messages.
    pub fn class_name(&self) -> &'static str {
        match self {
            FinalField::Field(_, f) => f.class_name(),
            FinalField::Relation(_) => "ForeignObjectRel",
            FinalField::Through(_) => "ForeignKey",
            FinalField::Annotation(Some(k)) => kind_class(*k),
            FinalField::Annotation(None) => "Field",
        }
    }
}

pub fn kind_class(k: FieldKind) -> &'static str {
    k.class_name()
}

pub struct NamesToPath {
    pub path: Vec<PathInfo>,
    pub final_field: FinalField,
    pub targets: Vec<Target>,
    /// The names not resolved (lookups and transforms).
    pub rest: Vec<String>,
    pub names_with_path: Vec<(String, Vec<PathInfo>)>,
    pub opts: &'static Model,
}

pub struct JoinInfo {
    pub final_field: FinalField,
    pub targets: Vec<Target>,
    pub opts: &'static Model,
    pub joins: Vec<String>,
    pub path: Vec<PathInfo>,
    pub transforms: Vec<String>,
}

/// `setup_joins` failure: an ordinary error, or Django's `MultiJoin` (a multi-valued relation
/// where only single-valued ones are allowed), which `build_filter` turns into `split_exclude`.
pub enum JoinErr {
    Multi { names_with_path: Vec<(String, Vec<PathInfo>)> },
    Err(SandboxError),
}

impl From<SandboxError> for JoinErr {
    fn from(e: SandboxError) -> Self {
        JoinErr::Err(e)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum GroupBy {
    None,
    /// Group by every selected column (`annotate()` with an aggregate on a full model).
    All,
    Exprs(Vec<SqlExpr>),
}

/// `select_related`: nothing, everything (depth 5), or a tree of relation names.
#[derive(Clone, Debug, PartialEq)]
pub enum SelectRelated {
    No,
    All,
    Fields(Vec<(String, SelectRelated)>),
}

/// What `selected` maps a values() name to.
#[derive(Clone, Debug, PartialEq)]
pub enum Selected {
    Col(usize),
    Annotation(String),
}

/// An `order_by()` item: a field path (with `-`), or an expression.
#[derive(Clone, Debug)]
pub enum OrderItem {
    Name(String),
    /// An expression, descending or not, with where its NULLs go.
    Expr(Expression, bool, Nulls),
}

/// `nulls_first=True` / `nulls_last=True` of an expression's `asc()`/`desc()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Nulls {
    #[default]
    Unset,
    First,
    Last,
}

impl Nulls {
    /// `OrderBy.reverse_ordering`: a reversed query puts its NULLs at the other end.
    pub fn reversed(self) -> Nulls {
        match self {
            Nulls::Unset => Nulls::Unset,
            Nulls::First => Nulls::Last,
            Nulls::Last => Nulls::First,
        }
    }

    /// What SQLite (3.30 and later) appends to the ordering term.
    pub fn sql(self) -> &'static str {
        match self {
            Nulls::Unset => "",
            Nulls::First => " NULLS FIRST",
            Nulls::Last => " NULLS LAST",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Query {
    pub model: &'static Model,
    pub alias_prefix: String,
    pub subq_aliases: Vec<String>,
    pub alias_map: IndexMap<String, Table>,
    pub alias_refcount: HashMap<String, i64>,
    pub table_map: HashMap<&'static str, Vec<String>>,
    pub external_aliases: IndexMap<String, bool>,
    pub used_aliases: HashSet<String>,
    pub filter_is_sticky: bool,
    pub where_: WhereNode,
    pub annotations: IndexMap<String, SqlExpr>,
    pub annotation_select_mask: Option<Vec<String>>,
    pub select: Vec<SqlExpr>,
    pub values_select: Vec<String>,
    pub selected: Option<IndexMap<String, Selected>>,
    pub default_cols: bool,
    pub default_ordering: bool,
    pub standard_ordering: bool,
    pub order_by: Vec<OrderItem>,
    pub group_by: GroupBy,
    pub low_mark: i64,
    pub high_mark: Option<i64>,
    pub distinct: bool,
    pub select_related: SelectRelated,
    /// `(names, defer)`: deferred names, or (defer=false) the only names loaded.
    pub deferred: (Vec<String>, bool),
    pub subquery: bool,
    pub lookup_joins: Vec<String>,
    pub max_depth: usize,
    /// `extra(select=...)`: raw columns selected first (`_prefetch_related_val_article_id`).
    pub extra_select: Vec<(String, String)>,
    /// `union()`, `intersection()`, `difference()`: the queries combined (this query keeps
    /// only its select list, ordering and limits).
    pub combinator: Option<Box<Combinator>>,
}

/// The compound statement of `qs1.union(qs2, …)` and its kin.
#[derive(Clone, Debug)]
pub struct Combinator {
    /// `union`, `intersection` or `difference` (the method's name, as messages say it).
    pub kind: &'static str,
    /// `union(…, all=True)`.
    pub all: bool,
    pub queries: Vec<Query>,
}

impl Combinator {
    /// SQLite's set operator.
    pub fn sql(&self) -> &'static str {
        match (self.kind, self.all) {
            ("union", true) => "UNION ALL",
            ("union", false) => "UNION",
            ("intersection", _) => "INTERSECT",
            _ => "EXCEPT",
        }
    }
}

impl PartialEq for Query {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

/// What a name on a model is (`Options.get_field`).
#[derive(Clone, Copy)]
pub enum GetField {
    Concrete(&'static Field),
    M2M(&'static ManyToMany, &'static Model),
    M2MReverse(&'static ManyToMany, &'static Model),
    /// A reverse foreign key: (the model holding the FK, the FK).
    Reverse(&'static Model, &'static Field),
}

/// A filter's right-hand side after resolution.
#[derive(Clone, Debug)]
pub enum Resolved {
    Val(Val),
    Expr(SqlExpr),
    Query(Box<Query>),
}
