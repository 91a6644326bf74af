//! The `django.db.models` names a learner's code uses to build queries — `Q`, `F`, `Count`
//! and the other aggregates, `Exists`, `OuterRef`, `Subquery`, `Value`, `Prefetch`, `Case`,
//! `When`, `Lower`/`Upper`/`Length`/`Coalesce` — as Python objects, and their conversion into
//! the ORM's `QTree` / `Expression`.

use std::any::Any;
use std::rc::Rc;

use super::expr::*;
use super::fields::require_output_field;
use super::model::{PrefetchSpec, QuerySetObj};
use crate::error::{err, ErrorKind, SResult};
use crate::py::objects::NativeFn;
use crate::runtime::Rt;
use crate::schema::Model;
use crate::value::{BinOp, HashKey, Kwargs, Object, Val};

/// A `Q` object.
pub struct QObj(pub QTree);

impl Object for QObj {
    fn type_name(&self) -> String {
        "Q".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        Ok(format!("<Q: {}>", self.0.describe(rt)))
    }
    fn binop(&self, _rt: &Rt, op: BinOp, other: &Val, reflected: bool) -> Option<SResult<Val>> {
        let conn = match op {
            BinOp::BitAnd => Connector::And,
            BinOp::BitOr => Connector::Or,
            BinOp::BitXor => Connector::Xor,
            _ => return None,
        };
        let other_tree = match condition_of(other) {
            Some(t) => t,
            None => return Some(Err(err(ErrorKind::TypeError, format!("unsupported operand type(s) for {}: 'Q' and '{}'", op.symbol(), other.type_name())))),
        };
        let (a, b) = if reflected { (other_tree, self.0.clone()) } else { (self.0.clone(), other_tree) };
        Some(Ok(Val::obj(QObj(a.combine(b, conn)))))
    }
    fn unary(&self, _rt: &Rt, op: char) -> Option<SResult<Val>> {
        (op == '~').then(|| Ok(Val::obj(QObj(self.0.clone().negate()))))
    }
    fn truthy(&self, _rt: &Rt) -> SResult<bool> {
        Ok(!self.0.is_empty())
    }
}

/// `F()`, aggregates, `Value()`, `OuterRef()`, `Exists()`, `Subquery()`, combinations.
pub struct ExprObj(pub Expression);

impl Object for ExprObj {
    fn type_name(&self) -> String {
        match &self.0 {
            Expression::Output { inner, wrapper: false, .. } => return ExprObj((**inner).clone()).type_name(),
            Expression::Output { .. } => "ExpressionWrapper",
            Expression::Cast(..) => "Cast",
            Expression::Condition(_) => "Q",
            Expression::F(_) => "F",
            Expression::Value(_) => "Value",
            Expression::Aggregate { func: "COUNT", .. } => "Count",
            Expression::Aggregate { func: "SUM", .. } => "Sum",
            Expression::Aggregate { func: "AVG", .. } => "Avg",
            Expression::Aggregate { func: "MAX", .. } => "Max",
            Expression::Aggregate { .. } => "Min",
            Expression::OuterRef(_) => "OuterRef",
            Expression::Exists(_) => "Exists",
            Expression::Subquery(_) => "Subquery",
            Expression::Combined(..) => "CombinedExpression",
            Expression::Func(..) => "Func",
            Expression::Case(..) => "Case",
            Expression::Not(_) => "Exists",
        }
        .into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        let shown = match &self.0 {
            Expression::Output { inner, wrapper: false, .. } => inner.as_ref(),
            e => e,
        };
        Ok(match shown {
            // Q's str(): `(AND: ('id', 1))`.
            Expression::Output { inner, wrapper: true, .. } if matches!(**inner, Expression::Condition(_)) => {
                let Expression::Condition(q) = &**inner else { unreachable!("matched above") };
                format!("ExpressionWrapper({})", q.describe(rt))
            }
            // Case.__repr__: `<Case: CASE WHEN <Q: …> THEN Value(1), ELSE Value(0)>`.
            Expression::Case(whens, default) => {
                let mut cases = Vec::new();
                for (cond, then) in whens {
                    cases.push(format!("WHEN {} THEN {}", QObj(cond.clone()).repr(rt)?, then.describe()));
                }
                format!("<Case: CASE {}, ELSE {}>", cases.join(", "), default.describe())
            }
            e => e.describe(),
        })
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        let e = self.0.clone();
        match name {
            "asc" | "desc" => {
                let desc = name == "desc";
                Ok(NativeFn::val(name, move |_, args, kwargs| {
                    let a = crate::py::args::bind(if desc { "desc" } else { "asc" }, args, kwargs, &["nulls_first", "nulls_last"], 0)?;
                    let set = |v: &Option<Val>| -> SResult<bool> {
                        match v {
                            None | Some(Val::None) => Ok(false),
                            Some(Val::Bool(true)) => Ok(true),
                            Some(_) => Err(err(ErrorKind::ValueError, "nulls_first and nulls_last values must be True or None.")),
                        }
                    };
                    let nulls = match (set(&a[0])?, set(&a[1])?) {
                        (true, true) => return Err(err(ErrorKind::ValueError, "nulls_first and nulls_last are mutually exclusive")),
                        (true, false) => Nulls::First,
                        (false, true) => Nulls::Last,
                        (false, false) => Nulls::Unset,
                    };
                    Ok(Val::obj(OrderByObj(e.clone(), desc, nulls)))
                }))
            }
            "name" => match &self.0 {
                Expression::F(n) | Expression::OuterRef(n) => Ok(Val::str(n)),
                _ => Err(crate::value::no_attr(&self.type_name(), name)),
            },
            _ => Err(crate::value::no_attr(&self.type_name(), name)),
        }
    }
    fn binop(&self, _rt: &Rt, op: BinOp, other: &Val, reflected: bool) -> Option<SResult<Val>> {
        if matches!(op, BinOp::BitAnd | BinOp::BitOr) {
            if matches!(self.0, Expression::Exists(_) | Expression::Not(_)) {
                let me = QTree::Cond(self.0.clone());
                let o = condition_of(other)?;
                let conn = if op == BinOp::BitAnd { Connector::And } else { Connector::Or };
                let (a, b) = if reflected { (o, me) } else { (me, o) };
                return Some(Ok(Val::obj(QObj(a.combine(b, conn)))));
            }
            return Some(Err(err(ErrorKind::NotSupported, "Use .bitand(), .bitor(), and .bitxor() for bitwise logical operations.")));
        }
        let aop = match op {
            BinOp::Add => ArithOp::Add,
            BinOp::Sub => ArithOp::Sub,
            BinOp::Mul => ArithOp::Mul,
            BinOp::Div => ArithOp::Div,
            BinOp::Mod => ArithOp::Mod,
            BinOp::Pow => ArithOp::Pow,
            _ => return None,
        };
        let o = match expression_of(other) {
            Some(e) => e,
            None => match other {
                Val::Int(_) | Val::Float(_) | Val::Bool(_) | Val::Str(_) | Val::SafeStr(_) | Val::DateTime(_) => Expression::Value(other.clone()),
                _ => return None,
            },
        };
        let (a, b) = if reflected { (o, self.0.clone()) } else { (self.0.clone(), o) };
        Some(Ok(Val::obj(ExprObj(Expression::Combined(Box::new(a), aop, Box::new(b))))))
    }
    fn unary(&self, _rt: &Rt, op: char) -> Option<SResult<Val>> {
        match (op, &self.0) {
            ('~', Expression::Exists(_)) => Some(Ok(Val::obj(ExprObj(Expression::Not(Box::new(self.0.clone())))))),
            ('~', Expression::Not(inner)) => Some(Ok(Val::obj(ExprObj((**inner).clone())))),
            ('-', _) => Some(Ok(Val::obj(ExprObj(Expression::Combined(Box::new(self.0.clone()), ArithOp::Mul, Box::new(Expression::Value(Val::Int(-1)))))))),
            _ => None,
        }
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Other(self.0.describe()))
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        Some(other.as_obj::<ExprObj>().is_some_and(|o| o.0.describe() == self.0.describe()))
    }
}

/// `F("x").desc()`.
pub struct OrderByObj(pub Expression, pub bool, pub Nulls);

impl Object for OrderByObj {
    fn type_name(&self) -> String {
        "OrderBy".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("OrderBy({}, descending={})", self.0.describe(), if self.1 { "True" } else { "False" }))
    }
}

/// `Prefetch(lookup, queryset=..., to_attr=...)`.
pub struct PrefetchObj(pub PrefetchSpec);

impl Object for PrefetchObj {
    fn type_name(&self) -> String {
        "Prefetch".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<Prefetch: {}>", self.0.lookup))
    }
}

/// `When(condition, then=value)`.
pub struct WhenObj(pub QTree, pub Expression);

impl Object for WhenObj {
    fn type_name(&self) -> String {
        "When".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The expression a value is, if it is one.
pub fn expression_of(v: &Val) -> Option<Expression> {
    if let Some(e) = v.as_obj::<ExprObj>() {
        return Some(e.0.clone());
    }
    None
}

/// A condition usable in `Q` combinations: a `Q`, or an `Exists`.
fn condition_of(v: &Val) -> Option<QTree> {
    if let Some(q) = v.as_obj::<QObj>() {
        return Some(q.0.clone());
    }
    match expression_of(v)? {
        e @ (Expression::Exists(_) | Expression::Not(_)) => Some(QTree::Cond(e)),
        _ => None,
    }
}

pub fn order_expression(v: &Val) -> Option<(Expression, bool, Nulls)> {
    if let Some(o) = v.as_obj::<OrderByObj>() {
        return Some((o.0.clone(), o.1, o.2));
    }
    expression_of(v).map(|e| (e, false, Nulls::Unset))
}

/// A filter keyword's value.
pub fn filter_value(v: Val) -> FilterValue {
    if let Some(qs) = v.as_obj::<QuerySetObj>() {
        return FilterValue::Query(Box::new(qs.query.clone()));
    }
    match expression_of(&v) {
        Some(e) => FilterValue::Expr(e),
        None => FilterValue::Val(v),
    }
}

/// `Q(*args, **kwargs)` / `filter(*args, **kwargs)`: positional conditions first, then the
/// keyword lookups sorted by name (as `Q.__init__` sorts them).
pub fn build_q(rt: &Rt, args: Vec<Val>, mut kwargs: Kwargs) -> SResult<QTree> {
    let mut children = Vec::new();
    for a in args {
        match condition_of(&a) {
            Some(t) => children.push(t),
            None => {
                if expression_of(&a).is_some() {
                    return Err(err(ErrorKind::TypeError, "Cannot filter against a non-conditional expression."));
                }
                // Anything else is a `(lookup, value)` pair, unpacked as Python would.
                let items: Vec<Val> = match &a {
                    Val::Tuple(_) | Val::List(_) => a.seq_items().expect("a sequence"),
                    Val::Str(s) | Val::SafeStr(s) => s.chars().map(|c| Val::str(c.to_string())).collect(),
                    other => return Err(err(ErrorKind::TypeError, format!("cannot unpack non-iterable {} object", other.type_name()))),
                };
                match items.len() {
                    2 => {
                        let key = items[0].as_str().map(str::to_string).ok_or_else(|| err(ErrorKind::TypeError, format!("keywords must be strings, not {}", items[0].type_name())))?;
                        let v = crate::value::resolve_lazy(rt, items[1].clone())?;
                        children.push(QTree::Leaf(Rc::from(key.as_str()), filter_value(v)));
                    }
                    n if n < 2 => return Err(err(ErrorKind::ValueError, format!("not enough values to unpack (expected 2, got {n})"))),
                    _ => return Err(err(ErrorKind::ValueError, "too many values to unpack (expected 2)")),
                }
            }
        }
    }
    kwargs.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in kwargs {
        let v = crate::value::resolve_lazy(rt, v)?;
        children.push(QTree::Leaf(Rc::from(k.as_str()), filter_value(v)));
    }
    Ok(QTree::and(children))
}

fn first_str(fname: &str, args: &[Val]) -> SResult<String> {
    args.first().and_then(|a| a.as_str()).map(str::to_string).ok_or_else(|| err(ErrorKind::TypeError, format!("{fname}() needs a field name as a string, e.g. {fname}('id')")))
}

fn kw(kwargs: &Kwargs, name: &str) -> Option<Val> {
    kwargs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn check_kwargs(fname: &str, kwargs: &Kwargs, allowed: &[&str]) -> SResult<()> {
    for (k, _) in kwargs {
        if !allowed.contains(&k.as_str()) {
            return Err(err(ErrorKind::TypeError, format!("{fname}.__init__() got an unexpected keyword argument '{k}'")));
        }
    }
    Ok(())
}

/// An expression argument: a field name string becomes `F(name)`.
fn arg_expr(v: &Val) -> SResult<Expression> {
    if let Some(s) = v.as_str() {
        return Ok(Expression::F(if s == "pk" { "pk".into() } else { s.to_string() }));
    }
    if let Some(e) = expression_of(v) {
        return Ok(e);
    }
    Ok(Expression::Value(v.clone()))
}

/// The `django.db.models` callables by name.
pub fn model_api(name: &'static str) -> Val {
    NativeFn::val(name, move |rt, args, kwargs| construct(rt, name, args, kwargs))
}

fn construct(rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    match name {
        "Q" => Ok(Val::obj(QObj(build_q(rt, args, kwargs)?))),
        "F" => {
            check_kwargs("F", &kwargs, &[])?;
            Ok(Val::obj(ExprObj(Expression::F(first_str("F", &args)?))))
        }
        "Value" => {
            check_kwargs("Value", &kwargs, &["output_field"])?;
            let mut args = args.into_iter();
            let v = args.next().ok_or_else(|| err(ErrorKind::TypeError, "Value.__init__() missing 1 required positional argument: 'value'"))?;
            let output = kw(&kwargs, "output_field").or_else(|| args.next());
            Ok(Val::obj(ExprObj(with_output_field(Expression::Value(v), output)?)))
        }
        "ExpressionWrapper" | "Cast" => {
            check_kwargs(name, &kwargs, &["output_field"])?;
            let (Some(e), Some(f)) = (args.first(), kw(&kwargs, "output_field").or_else(|| args.get(1).cloned())) else {
                let missing = if args.is_empty() { "2 required positional arguments: 'expression' and 'output_field'" } else { "1 required positional argument: 'output_field'" };
                return Err(err(ErrorKind::TypeError, format!("{name}.__init__() missing {missing}")));
            };
            let field = require_output_field(&f)?;
            Ok(Val::obj(ExprObj(if name == "Cast" {
                Expression::Cast(Box::new(arg_expr(e)?), field)
            } else {
                let inner = match e.as_obj::<QObj>() {
                    Some(q) => Expression::Condition(Box::new(q.0.clone())),
                    None => expression_of(e).ok_or_else(|| err(ErrorKind::TypeError, format!("ExpressionWrapper() takes an expression or a Q object, not {}", e.type_name())))?,
                };
                Expression::Output { inner: Box::new(inner), field, wrapper: true }
            })))
        }
        "OuterRef" => {
            let a = args.first().ok_or_else(|| err(ErrorKind::TypeError, "OuterRef() needs a field name"))?;
            Ok(Val::obj(ExprObj(match a.as_str() {
                Some(s) => Expression::OuterRef(s.to_string()),
                None => match expression_of(a) {
                    Some(Expression::OuterRef(inner)) => Expression::OuterRef(format!("\u{0}outer:{inner}")),
                    _ => return Err(err(ErrorKind::TypeError, "OuterRef() takes a field name or another OuterRef")),
                },
            })))
        }
        "Count" | "Sum" | "Avg" | "Max" | "Min" => {
            check_kwargs(name, &kwargs, &["distinct", "filter", "output_field", "default"])?;
            let func: &'static str = match name {
                "Count" => "COUNT",
                "Sum" => "SUM",
                "Avg" => "AVG",
                "Max" => "MAX",
                _ => "MIN",
            };
            let arg = args.first().ok_or_else(|| err(ErrorKind::TypeError, format!("{name}() needs a field name as a string, e.g. {name}('id')")))?;
            let arg = if arg.as_str() == Some("*") && name == "Count" { None } else { Some(Box::new(arg_expr(arg)?)) };
            let distinct = match kw(&kwargs, "distinct") {
                Some(v) => v.truthy(rt)?,
                None => false,
            };
            if distinct && name != "Count" {
                return Err(err(ErrorKind::TypeError, format!("{name} does not allow distinct.")));
            }
            let filter = match kw(&kwargs, "filter") {
                None | Some(Val::None) => None,
                Some(v) => Some(condition_of(&v).ok_or_else(|| err(ErrorKind::TypeError, "filter= takes a Q object"))?),
            };
            let default = match kw(&kwargs, "default") {
                None | Some(Val::None) => None,
                // Aggregate.__init__: an aggregate with a value for no rows takes no default.
                Some(_) if name == "Count" => return Err(err(ErrorKind::TypeError, "Count does not allow default.")),
                Some(v) => Some(Box::new(arg_value_expr(&v))),
            };
            let agg = Expression::Aggregate { func, arg, distinct, filter: filter.map(Box::new), default };
            Ok(Val::obj(ExprObj(with_output_field(agg, kw(&kwargs, "output_field"))?)))
        }
        "Exists" | "Subquery" => {
            let qs = args.first().and_then(|a| a.as_obj::<QuerySetObj>()).ok_or_else(|| err(ErrorKind::TypeError, format!("{name}() takes a QuerySet")))?;
            let q = Box::new(qs.query.clone());
            Ok(Val::obj(ExprObj(if name == "Exists" { Expression::Exists(q) } else { Expression::Subquery(q) })))
        }
        "Prefetch" => {
            check_kwargs("Prefetch", &kwargs, &["queryset", "to_attr"])?;
            let lookup = args.first().and_then(|a| a.as_str()).ok_or_else(|| err(ErrorKind::TypeError, "Prefetch() needs the lookup as a string: Prefetch('tags', queryset=...)"))?;
            let queryset = match kw(&kwargs, "queryset").or_else(|| args.get(1).cloned()) {
                None | Some(Val::None) => None,
                Some(v) => {
                    let qs = v.as_obj::<QuerySetObj>().ok_or_else(|| err(ErrorKind::ValueError, "Prefetch querysets cannot use raw(), values(), and values_list()."))?;
                    if qs.is_values() {
                        return Err(err(ErrorKind::ValueError, "Prefetch querysets cannot use raw(), values(), and values_list()."));
                    }
                    Some(Rc::new(qs.chain()))
                }
            };
            let to_attr = kw(&kwargs, "to_attr").or_else(|| args.get(2).cloned()).and_then(|v| v.as_str().map(str::to_string));
            Ok(Val::obj(PrefetchObj(PrefetchSpec { lookup: lookup.to_string(), queryset, to_attr })))
        }
        "When" => {
            let then = kw(&kwargs, "then").ok_or_else(|| err(ErrorKind::TypeError, "When() missing 'then'"))?;
            let cond_kwargs: Kwargs = kwargs.into_iter().filter(|(k, _)| k != "then").collect();
            let cond = build_q(rt, args, cond_kwargs)?;
            if cond.is_empty() {
                return Err(err(ErrorKind::TypeError, "When() supports a Q object, a boolean expression, or lookups as a condition."));
            }
            Ok(Val::obj(WhenObj(cond, arg_value_expr(&then))))
        }
        "Case" => {
            let mut whens = Vec::new();
            for a in &args {
                let w = a.as_obj::<WhenObj>().ok_or_else(|| err(ErrorKind::TypeError, "Positional arguments must all be When objects."))?;
                whens.push((w.0.clone(), w.1.clone()));
            }
            check_kwargs("Case", &kwargs, &["default", "output_field"])?;
            let default = kw(&kwargs, "default").map(|d| arg_value_expr(&d)).unwrap_or(Expression::Value(Val::None));
            Ok(Val::obj(ExprObj(with_output_field(Expression::Case(whens, Box::new(default)), kw(&kwargs, "output_field"))?)))
        }
        "Extract" | "ExtractYear" | "ExtractIsoYear" | "ExtractMonth" | "ExtractDay" | "ExtractWeek" | "ExtractWeekDay" | "ExtractIsoWeekDay"
        | "ExtractQuarter" | "ExtractHour" | "ExtractMinute" | "ExtractSecond" | "TruncDate" => {
            check_kwargs(name, &kwargs, &["lookup_name", "tzinfo"])?;
            if kw(&kwargs, "tzinfo").is_some_and(|t| !t.is_none()) {
                return Err(err(ErrorKind::NotSupported, format!("{name}(tzinfo=…) is not supported in the sandbox (USE_TZ = False)")));
            }
            let a = args.first().ok_or_else(|| err(ErrorKind::TypeError, format!("{name}.__init__() missing 1 required positional argument: 'expression'")))?;
            let func: &'static str = match name {
                "TruncDate" => function_sql_name(name).expect("listed in FUNCTIONS"),
                "Extract" => {
                    let lookup = match args.get(1).cloned().or_else(|| kw(&kwargs, "lookup_name")) {
                        Some(Val::None) | None => return Err(err(ErrorKind::ValueError, "lookup_name must be provided")),
                        Some(l) => l.to_str(rt)?,
                    };
                    extract_function(&lookup).ok_or_else(|| err(ErrorKind::ValueError, format!("Unsupported lookup '{lookup}' for Extract")))?
                }
                other => extract_function(&camel_to_snake(other.trim_start_matches("Extract"))).expect("the classes above"),
            };
            Ok(Val::obj(ExprObj(Expression::Func(func, vec![arg_expr(a)?]))))
        }
        "Greatest" | "Least" | "NullIf" | "Abs" | "Round" | "Substr" | "Left" | "Right" | "Replace" | "Trim" | "LTrim" | "RTrim" | "StrIndex" => {
            let allowed: &[&str] = match name {
                "Round" => &["precision", "output_field"],
                "Substr" => &["length", "output_field"],
                "Replace" => &["replacement", "output_field"],
                _ => &["output_field"],
            };
            check_kwargs(name, &kwargs, allowed)?;
            let mut exprs: Vec<Expression> = args.iter().map(arg_expr).collect::<SResult<_>>()?;
            let (min, max) = match name {
                "Greatest" | "Least" => (2, usize::MAX),
                "NullIf" | "Left" | "Right" | "StrIndex" => (2, 2),
                "Round" => (1, 2),
                "Substr" | "Replace" => (2, 3),
                _ => (1, 1),
            };
            if exprs.len() < min || exprs.len() > max {
                return Err(err(
                    if matches!(name, "Greatest" | "Least") { ErrorKind::ValueError } else { ErrorKind::TypeError },
                    if matches!(name, "Greatest" | "Least") {
                        format!("{name} must take at least two expressions")
                    } else {
                        format!("'{name}' takes {} but {} were given", if min == max { format!("exactly {min} arguments") } else { format!("{min} to {max} arguments") }, exprs.len())
                    },
                ));
            }
            // A position or a length given as a number must be positive.
            let positive = |v: Option<&Val>, what: &str, msg_dot: bool| -> SResult<()> {
                match v {
                    Some(Val::Int(n)) if *n < 1 => Err(err(ErrorKind::ValueError, format!("'{what}' must be greater than 0{}", if msg_dot { "." } else { "" }))),
                    _ => Ok(()),
                }
            };
            // The arguments Django's classes fill in or rearrange.
            match name {
                "Round" if exprs.len() == 1 => {
                    exprs.push(kw(&kwargs, "precision").map(|p| arg_value_expr(&p)).unwrap_or(Expression::Value(Val::Int(0))));
                }
                "Substr" => {
                    positive(args.get(1), "pos", false)?;
                    if let Some(l) = kw(&kwargs, "length").filter(|l| !l.is_none()) {
                        exprs.push(arg_value_expr(&l));
                    }
                }
                // Left/Right are SUBSTR on SQLite: from 1, or from -length.
                "Left" | "Right" => {
                    positive(args.get(1), "length", true)?;
                    let length = exprs.pop().expect("two arguments");
                    let start = if name == "Left" {
                        Expression::Value(Val::Int(1))
                    } else {
                        Expression::Combined(Box::new(length.clone()), ArithOp::Mul, Box::new(Expression::Value(Val::Int(-1))))
                    };
                    exprs.push(start);
                    exprs.push(length);
                }
                "Replace" if exprs.len() == 2 => {
                    exprs.push(kw(&kwargs, "replacement").map(|r| arg_value_expr(&r)).unwrap_or(Expression::Value(Val::str(""))));
                }
                _ => {}
            }
            let func = function_sql_name(if matches!(name, "Left" | "Right") { "Substr" } else { name }).expect("listed in FUNCTIONS");
            Ok(Val::obj(ExprObj(with_output_field(Expression::Func(func, exprs), kw(&kwargs, "output_field"))?)))
        }
        "Lower" | "Upper" | "Length" => {
            let a = args.first().ok_or_else(|| err(ErrorKind::TypeError, format!("{name}() takes one expression")))?;
            let f = function_sql_name(name).expect("listed in FUNCTIONS");
            check_kwargs(name, &kwargs, &["output_field"])?;
            Ok(Val::obj(ExprObj(with_output_field(Expression::Func(f, vec![arg_expr(a)?]), kw(&kwargs, "output_field"))?)))
        }
        "Trunc" | "TruncYear" | "TruncQuarter" | "TruncMonth" | "TruncWeek" | "TruncDay" | "TruncHour" | "TruncMinute" | "TruncSecond" => {
            let a = args.first().ok_or_else(|| err(ErrorKind::TypeError, format!("{name}() takes an expression")))?;
            let kind = match name.strip_prefix("Trunc").filter(|k| !k.is_empty()) {
                Some(k) => k.to_lowercase(),
                None => match args.get(1).cloned().or_else(|| kw(&kwargs, "kind")) {
                    Some(k) => k.to_str(rt)?,
                    None => return Err(err(ErrorKind::TypeError, "Trunc.__init__() missing 1 required positional argument: 'kind'")),
                },
            };
            if kw(&kwargs, "output_field").is_some() || kw(&kwargs, "tzinfo").is_some_and(|t| !t.is_none()) {
                return Err(err(ErrorKind::NotSupported, format!("{name}(output_field=…/tzinfo=…) is not supported in the sandbox")));
            }
            let func = trunc_function(&kind).ok_or_else(|| err(ErrorKind::ValueError, format!("Cannot truncate to '{kind}'")))?;
            Ok(Val::obj(ExprObj(Expression::Func(func, vec![arg_expr(a)?]))))
        }
        "Concat" => {
            if args.len() < 2 {
                return Err(err(ErrorKind::ValueError, "Concat must take at least two expressions"));
            }
            // `Concat(a, b, c)` is `ConcatPair(a, ConcatPair(b, c))`.
            let exprs: Vec<Expression> = args.iter().map(arg_expr).collect::<SResult<_>>()?;
            let mut it = exprs.into_iter().rev();
            let mut acc = it.next().expect("two or more");
            for e in it {
                acc = Expression::Func("CONCATPAIR", vec![e, acc]);
            }
            check_kwargs(name, &kwargs, &["output_field"])?;
            Ok(Val::obj(ExprObj(with_output_field(acc, kw(&kwargs, "output_field"))?)))
        }
        "Coalesce" => {
            if args.len() < 2 {
                return Err(err(ErrorKind::ValueError, "Coalesce must take at least two expressions"));
            }
            check_kwargs(name, &kwargs, &["output_field"])?;
            let e = Expression::Func("COALESCE", args.iter().map(arg_expr).collect::<SResult<_>>()?);
            Ok(Val::obj(ExprObj(with_output_field(e, kw(&kwargs, "output_field"))?)))
        }
        other => Err(err(ErrorKind::NameError, format!("name '{other}' is not defined"))),
    }
}

/// The internal name of `Extract(…, lookup_name)` (a datetime transform, compiled as
/// `created_at__year` is).
fn extract_function(lookup: &str) -> Option<&'static str> {
    Some(match lookup {
        "year" => "EXTRACT_year",
        "iso_year" => "EXTRACT_iso_year",
        "month" => "EXTRACT_month",
        "day" => "EXTRACT_day",
        "week" => "EXTRACT_week",
        "week_day" => "EXTRACT_week_day",
        "iso_week_day" => "EXTRACT_iso_week_day",
        "quarter" => "EXTRACT_quarter",
        "hour" => "EXTRACT_hour",
        "minute" => "EXTRACT_minute",
        "second" => "EXTRACT_second",
        _ => return None,
    })
}

/// `IsoWeekDay` → `iso_week_day`.
fn camel_to_snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// An expression given an `output_field=` (None: as it is).
fn with_output_field(e: Expression, output: Option<Val>) -> SResult<Expression> {
    Ok(match output {
        None | Some(Val::None) => e,
        Some(f) => Expression::Output { inner: Box::new(e), field: require_output_field(&f)?, wrapper: false },
    })
}

/// The truncation of a datetime to `kind` (Django's `django_datetime_trunc`), as the name of
/// the function the compiler writes.
pub fn trunc_function(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "year" => "TRUNC_year",
        "quarter" => "TRUNC_quarter",
        "month" => "TRUNC_month",
        "week" => "TRUNC_week",
        "day" => "TRUNC_day",
        "hour" => "TRUNC_hour",
        "minute" => "TRUNC_minute",
        "second" => "TRUNC_second",
        _ => return None,
    })
}

/// `then=`/`default=` values: a string is a value here, not a field name.
fn arg_value_expr(v: &Val) -> Expression {
    expression_of(v).unwrap_or_else(|| Expression::Value(v.clone()))
}

pub const MODEL_API: &[&str] = &[
    "Q", "F", "Value", "OuterRef", "Count", "Sum", "Avg", "Max", "Min", "Exists", "Subquery", "Prefetch", "When", "Case", "Lower",
    "Upper", "Length", "Coalesce", "ExpressionWrapper",
];

/// `django.db.models.functions`.
pub const FUNCTIONS: &[&str] = &[
    "Lower", "Upper", "Length", "Coalesce", "Concat", "Trunc", "TruncYear", "TruncQuarter", "TruncMonth", "TruncWeek", "TruncDay",
    "TruncHour", "TruncMinute", "TruncSecond", "Cast", "Extract", "ExtractYear", "ExtractIsoYear", "ExtractMonth", "ExtractDay",
    "ExtractWeek", "ExtractWeekDay", "ExtractIsoWeekDay", "ExtractQuarter", "ExtractHour", "ExtractMinute", "ExtractSecond", "TruncDate",
    "Greatest", "Least", "NullIf", "Abs", "Round", "Substr", "Left", "Right", "Replace", "Trim", "LTrim", "RTrim", "StrIndex",
];

/// A custom QuerySet method of the model's manager (`Article.objects.published`), written in
/// Python in the schema: the function, when the model has one by that name.
pub fn custom_qs_method(rt: &Rt, model: &'static Model, name: &str) -> SResult<Option<Val>> {
    let Some(src) = model.queryset_source else { return Ok(None) };
    if super::model::QS_METHODS.contains(&name) || name.starts_with('_') {
        return Ok(None);
    }
    let ns = queryset_namespace(rt, model, src)?;
    Ok(ns.and_then(|class_ns| class_ns.get(name)))
}

/// The custom QuerySet classes of the session, executed once, by model name.
#[derive(Default)]
struct CustomQuerySets(std::cell::RefCell<std::collections::HashMap<&'static str, Rc<crate::py::objects::Namespace>>>);

/// The custom QuerySet class of a model (`ArticleQuerySet`), executed once per session; its
/// namespace holds the methods (`published`).
pub fn queryset_namespace(rt: &Rt, model: &'static Model, src: &'static str) -> SResult<Option<Rc<crate::py::objects::Namespace>>> {
    let classes = rt.state::<CustomQuerySets>();
    if let Some(ns) = classes.0.borrow().get(model.name) {
        return Ok(Some(ns.clone()));
    }
    let file = Rc::new(crate::source::SourceFile { name: format!("{}/models.py", model.app_label), text: src.to_string() });
    let body = crate::py::parser::parse_module(src)?;
    let globals = crate::py::objects::Namespace::new();
    globals.set("models", crate::py::import::import(rt, "django.db.models")?);
    for m in crate::schema::MODELS {
        globals.set(m.name, Val::obj(crate::orm::model::ModelClass(m)));
    }
    crate::py::interp::exec_module(rt, file, globals.clone(), &body)?;
    let class_ns = globals.vars.borrow().values().find_map(|v| v.as_obj::<crate::py::objects::ClassVal>().map(|c| c.0.ns.clone()));
    if let Some(ns) = &class_ns {
        classes.0.borrow_mut().insert(model.name, ns.clone());
    }
    Ok(class_ns)
}
