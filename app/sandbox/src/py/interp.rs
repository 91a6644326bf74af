//! The tree-walking evaluator. Cross-cutting concerns live in a few hooks rather than in every
//! node: [`Rt::py_tick`] before each statement and loop iteration (the work budget), a call
//! depth counter (`RecursionError`), the current line (what a query's origin names), and
//! error positions attached where an error first surfaces.

use std::rc::Rc;

use super::ast::*;
use super::builtins;
use super::objects::*;
use crate::error::{err, exc, ErrorKind, SResult, SandboxError, TraceFrame};
use crate::pyfmt::python_float_repr;
use crate::py::format::{format_spec, percent_format};
use crate::runtime::Rt;
use crate::value::{call_value, BinOp, Kwargs, PyDict, Val};
use crate::datetime::DateTime;

/// How a statement ended.
pub enum Flow {
    Normal,
    Break,
    Continue,
    Return(Val),
}

/// Where code runs: its file, module globals, function scope (if any), class body (if any).
#[derive(Clone)]
pub struct Frame {
    pub file: Rc<SourceFile>,
    pub globals: Rc<Namespace>,
    pub scope: Option<Rc<Scope>>,
    pub def: Option<Rc<FuncDef>>,
    pub class_ns: Option<Rc<Namespace>>,
    /// `Outer.method.` for nested definitions' qualified names.
    pub qual_prefix: String,
    /// The class the running method was defined in, for zero-argument `super()`.
    pub class_cell: Option<Rc<Class>>,
}

impl Frame {
    pub fn module(file: Rc<SourceFile>, globals: Rc<Namespace>) -> Frame {
        Frame { file, globals, scope: None, def: None, class_ns: None, qual_prefix: String::new(), class_cell: None }
    }
}

fn locate(e: SandboxError, fr: &Frame, offset: usize) -> SandboxError {
    if e.pos.is_some() || e.kind == ErrorKind::Budget && e.source_name.is_some() {
        return e;
    }
    e.at(&fr.file.text, offset).in_source(fr.file.name.clone())
}

// ---------------------------------------------------------------- modules and statements

/// Runs a module's statements in `globals`.
pub fn exec_module(rt: &Rt, file: Rc<SourceFile>, globals: Rc<Namespace>, body: &[Stmt]) -> SResult<()> {
    let fr = Frame::module(file, globals);
    match exec_block(rt, &fr, body)? {
        Flow::Normal => Ok(()),
        _ => Ok(()),
    }
}

pub fn exec_block(rt: &Rt, fr: &Frame, body: &[Stmt]) -> SResult<Flow> {
    for s in body {
        match exec_stmt(rt, fr, s)? {
            Flow::Normal => {}
            other => return Ok(other),
        }
    }
    Ok(Flow::Normal)
}

pub fn exec_stmt(rt: &Rt, fr: &Frame, s: &Stmt) -> SResult<Flow> {
    rt.py_tick().map_err(|e| locate(e, fr, s.start))?;
    rt.set_py_line(&fr.file, s.line);
    exec_stmt_inner(rt, fr, s).map_err(|e| locate(e, fr, s.start))
}

fn exec_stmt_inner(rt: &Rt, fr: &Frame, s: &Stmt) -> SResult<Flow> {
    match &s.kind {
        StmtKind::Expr(e) => {
            eval(rt, fr, e)?;
        }
        StmtKind::Assign { targets, value } => {
            let v = eval(rt, fr, value)?;
            for t in targets {
                assign(rt, fr, t, v.clone())?;
            }
        }
        StmtKind::AugAssign { target, op, value } => aug_assign(rt, fr, target, *op, value)?,
        StmtKind::AnnAssign { target, value } => {
            if let Some(v) = value {
                let v = eval(rt, fr, v)?;
                assign(rt, fr, target, v)?;
            }
        }
        StmtKind::Pass => {}
        StmtKind::Break => return Ok(Flow::Break),
        StmtKind::Continue => return Ok(Flow::Continue),
        StmtKind::Return(v) => {
            let v = match v {
                Some(e) => eval(rt, fr, e)?,
                None => Val::None,
            };
            return Ok(Flow::Return(v));
        }
        StmtKind::Raise { exc: e, cause } => {
            if let Some(c) = cause {
                eval(rt, fr, c)?;
            }
            return Err(match e {
                Some(e) => {
                    let v = eval(rt, fr, e)?;
                    locate(error_from_raised(rt, v), fr, e.start)
                }
                None => match rt.handling.borrow().last() {
                    Some(cur) => cur.clone(),
                    None => exc("RuntimeError", "No active exception to reraise"),
                },
            });
        }
        StmtKind::Global(_) | StmtKind::Nonlocal(_) => {}
        StmtKind::Del(targets) => {
            for t in targets {
                delete(rt, fr, t)?;
            }
        }
        StmtKind::Assert { test, msg } => {
            let rewrite = crate::py::host::host(rt).is_some_and(|h| h.rewrites_asserts(rt, &fr.file.name));
            if rewrite {
                return exec_rewritten_assert(rt, fr, test, msg.as_ref()).map(|()| Flow::Normal);
            }
            if !eval(rt, fr, test)?.truthy(rt)? {
                let m = match msg {
                    Some(m) => eval(rt, fr, m)?.to_str(rt)?,
                    None => String::new(),
                };
                return Err(locate(exc("AssertionError", m), fr, test.start));
            }
        }
        StmtKind::Import(names) => {
            for (dotted, alias, at) in names {
                let m = crate::py::import::import(rt, dotted).map_err(|e| locate(e, fr, *at))?;
                match alias {
                    Some(a) => store_name(fr, a, m),
                    None => {
                        // `import a.b` binds `a`.
                        let top = dotted.split('.').next().unwrap_or(dotted);
                        let v = crate::py::import::import(rt, top).map_err(|e| locate(e, fr, *at))?;
                        store_name(fr, top, v);
                    }
                }
            }
        }
        StmtKind::ImportFrom { module, level, names, module_at } => {
            if *level > 0 {
                return Err(locate(
                    exc("ImportError", "attempted relative import with no known parent package (write the full module path, e.g. `from articles.models import Article`)"),
                    fr,
                    *module_at,
                ));
            }
            let m = crate::py::import::import(rt, module).map_err(|e| locate(e, fr, *module_at))?;
            for (name, alias, at) in names {
                let v = match m.as_obj::<ModuleObj>().and_then(|mo| mo.ns.get(name)) {
                    Some(v) => v,
                    None => match crate::py::import::import(rt, &format!("{module}.{name}")) {
                        Ok(sub) => sub,
                        Err(_) => {
                            let e = exc("ImportError", format!("cannot import name '{name}' from '{module}' (unknown location)"));
                            return Err(locate(crate::py::import::hint_import(rt, e, module, name), fr, *at));
                        }
                    },
                };
                store_name(fr, alias.as_ref().unwrap_or(name), v);
            }
        }
        StmtKind::If { test, body, orelse } => {
            let branch = if eval(rt, fr, test)?.truthy(rt)? { body } else { orelse };
            return exec_block(rt, fr, branch);
        }
        StmtKind::While { test, body, orelse } => {
            loop {
                rt.py_tick()?;
                if !eval(rt, fr, test)?.truthy(rt)? {
                    return exec_block(rt, fr, orelse);
                }
                match exec_block(rt, fr, body)? {
                    Flow::Break => return Ok(Flow::Normal),
                    Flow::Return(v) => return Ok(Flow::Return(v)),
                    _ => {}
                }
            }
        }
        StmtKind::For { target, iter, body, orelse } => {
            let it = eval(rt, fr, iter)?;
            let src = IterSource::of(rt, &it)?;
            let r = rt.in_loop(|| -> SResult<Option<Flow>> {
                for i in 0..src.len() {
                    rt.py_tick()?;
                    assign(rt, fr, target, src.get(i))?;
                    match exec_block(rt, fr, body)? {
                        Flow::Break => return Ok(Some(Flow::Normal)),
                        Flow::Return(v) => return Ok(Some(Flow::Return(v))),
                        _ => {}
                    }
                }
                Ok(None)
            })?;
            if let Some(flow) = r {
                return Ok(flow);
            }
            return exec_block(rt, fr, orelse);
        }
        StmtKind::Try { body, handlers, orelse, finalbody } => return exec_try(rt, fr, body, handlers, orelse, finalbody),
        StmtKind::With { items, body } => return exec_with(rt, fr, items, body),
        StmtKind::FunctionDef(def) => {
            let f = make_function(rt, fr, def.clone())?;
            let mut v = f;
            for d in def.decorators.iter().rev() {
                let dec = eval(rt, fr, d)?;
                v = call_value(rt, &dec, vec![v], vec![]).map_err(|e| locate(e, fr, d.start))?;
            }
            store_name(fr, &def.name, v);
        }
        StmtKind::ClassDef(def) => {
            let c = make_class(rt, fr, def)?;
            let mut v = c;
            for d in def.decorators.iter().rev() {
                let dec = eval(rt, fr, d)?;
                v = call_value(rt, &dec, vec![v], vec![])?;
            }
            store_name(fr, &def.name, v);
        }
    }
    Ok(Flow::Normal)
}

/// `assert` in a test module, as pytest rewrites it: the operands of a comparison are kept so
/// the failure can say `assert 15 == 3`.
fn exec_rewritten_assert(rt: &Rt, fr: &Frame, test: &Expr, msg: Option<&Expr>) -> SResult<()> {
    use crate::py::asserts::{assert_message, AssertParts};
    let parts = match &test.kind {
        ExprKind::Compare(first, ops) if ops.len() == 1 => {
            let left = eval(rt, fr, first)?;
            let (op, right_e) = &ops[0];
            let right = eval(rt, fr, right_e)?;
            if compare(rt, *op, &left, &right)? {
                return Ok(());
            }
            AssertParts::Compare(left, op.symbol(), right)
        }
        ExprKind::Unary(UnaryOp::Not, inner) => {
            let v = eval(rt, fr, inner)?;
            if !v.truthy(rt)? {
                return Ok(());
            }
            AssertParts::Not(v)
        }
        _ => {
            let v = eval(rt, fr, test)?;
            if v.truthy(rt)? {
                return Ok(());
            }
            AssertParts::Value(v)
        }
    };
    let m = match msg {
        Some(m) => eval(rt, fr, m)?.to_str(rt)?,
        None => assert_message(rt, parts),
    };
    Err(locate(exc("AssertionError", m), fr, test.start))
}

fn exec_try(rt: &Rt, fr: &Frame, body: &[Stmt], handlers: &[Handler], orelse: &[Stmt], finalbody: &[Stmt]) -> SResult<Flow> {
    let result = match exec_block(rt, fr, body) {
        Ok(flow) => match flow {
            Flow::Normal => exec_block(rt, fr, orelse),
            other => Ok(other),
        },
        Err(e) if e.kind == ErrorKind::Budget => Err(e),
        Err(e) => {
            let mut handled = None;
            for h in handlers {
                let matches = match &h.typ {
                    None => true,
                    Some(t) => {
                        let cls = eval(rt, fr, t)?;
                        exception_matches(rt, &e, &cls)?
                    }
                };
                if matches {
                    handled = Some(h);
                    break;
                }
            }
            match handled {
                None => Err(e),
                Some(h) => {
                    if let Some(n) = &h.name {
                        store_name(fr, n, exception_value(rt, &e));
                    }
                    rt.handling.borrow_mut().push(e);
                    let r = exec_block(rt, fr, &h.body);
                    rt.handling.borrow_mut().pop();
                    if let Some(n) = &h.name {
                        // Python deletes the name after the handler.
                        delete_name(fr, n);
                    }
                    r
                }
            }
        }
    };
    if finalbody.is_empty() {
        return result;
    }
    match exec_block(rt, fr, finalbody)? {
        Flow::Normal => result,
        // `return`/`break` in finally overrides, as in Python.
        other => Ok(other),
    }
}

fn exec_with(rt: &Rt, fr: &Frame, items: &[(Expr, Option<Expr>)], body: &[Stmt]) -> SResult<Flow> {
    let Some(((e, target), rest)) = items.split_first() else {
        return exec_block(rt, fr, body);
    };
    let mgr = eval(rt, fr, e)?;
    let entered = match &mgr {
        Val::Obj(o) => o.enter(rt).map_err(|x| locate(x, fr, e.start))?,
        other => {
            return Err(locate(
                err(ErrorKind::TypeError, format!("'{}' object does not support the context manager protocol", other.type_name())),
                fr,
                e.start,
            ))
        }
    };
    let Val::Obj(o) = &mgr else { unreachable!("checked above") };
    let r = (|| {
        if let Some(t) = target {
            assign(rt, fr, t, entered)?;
        }
        exec_with(rt, fr, rest, body)
    })();
    match r {
        Ok(flow) => {
            o.exit(rt, None).map_err(|x| locate(x, fr, e.start))?;
            Ok(flow)
        }
        Err(x) => {
            let suppress = o.exit(rt, Some(&x))?;
            if suppress && x.kind != ErrorKind::Budget {
                Ok(Flow::Normal)
            } else {
                Err(x)
            }
        }
    }
}

/// Whether an `except <cls>` clause catches `e`.
pub fn exception_matches(rt: &Rt, e: &SandboxError, cls: &Val) -> SResult<bool> {
    if let Val::Tuple(items) = cls {
        for c in items.iter() {
            if exception_matches(rt, e, c)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    let names = match crate::value::carried(e) {
        Some(Val::Obj(o)) => o.class_names(),
        _ => crate::error::exception_parents(&e.exc),
    };
    if let Some(c) = cls.as_obj::<ExceptionClass>() {
        return Ok(names.iter().any(|n| *n == c.0));
    }
    if let Some(c) = cls.as_obj::<ClassVal>() {
        if let Some(v) = crate::value::carried(e) {
            if let Some(i) = v.as_obj::<Instance>() {
                return Ok(i.class.is_subclass_of(&c.0));
            }
        }
        return Ok(names.iter().any(|n| *n == c.0.qualname));
    }
    if let Some(t) = cls.as_obj::<TypeObj>() {
        if crate::error::is_builtin_exception(t.name) {
            return Ok(names.iter().any(|n| *n == t.name));
        }
    }
    let _ = rt;
    Err(err(ErrorKind::TypeError, "catching classes that do not inherit from BaseException is not allowed"))
}

/// The value `except … as e` binds.
pub fn exception_value(rt: &Rt, e: &SandboxError) -> Val {
    if let Some(v) = crate::value::carried(e) {
        return v.clone();
    }
    let _ = rt;
    let args = if e.message.is_empty() { vec![] } else { vec![Val::str(&e.message)] };
    Val::obj(ExceptionObj { class: e.exc.to_string(), args, message: e.message.clone() })
}

// ---------------------------------------------------------------- names

fn store_name(fr: &Frame, name: &str, v: Val) {
    if let Some(ns) = &fr.class_ns {
        ns.set(name, v);
        return;
    }
    if let (Some(scope), Some(def)) = (&fr.scope, &fr.def) {
        if def.globals.iter().any(|g| &**g == name) {
            fr.globals.set(name, v);
            return;
        }
        if def.nonlocals.iter().any(|g| &**g == name) {
            if let Some(target) = scope.parent.as_ref().and_then(|p| p.find(name)) {
                target.vars.borrow_mut().insert(Rc::from(name), v);
                return;
            }
        }
        scope.vars.borrow_mut().insert(Rc::from(name), v);
        return;
    }
    if let Some(scope) = &fr.scope {
        scope.vars.borrow_mut().insert(Rc::from(name), v);
        return;
    }
    fr.globals.set(name, v);
}

fn delete_name(fr: &Frame, name: &str) -> bool {
    if let Some(ns) = &fr.class_ns {
        return ns.remove(name).is_some();
    }
    if let Some(scope) = &fr.scope {
        if scope.vars.borrow_mut().remove(name).is_some() {
            return true;
        }
        if fr.def.is_some() {
            return false;
        }
    }
    fr.globals.remove(name).is_some()
}

pub fn load_name(rt: &Rt, fr: &Frame, name: &str) -> SResult<Val> {
    if let Some(ns) = &fr.class_ns {
        if let Some(v) = ns.get(name) {
            return Ok(v);
        }
    }
    if let Some(scope) = &fr.scope {
        let is_global = fr.def.as_ref().is_some_and(|d| d.globals.iter().any(|g| &**g == name));
        if !is_global {
            if let Some(v) = scope.vars.borrow().get(name) {
                return Ok(v.clone());
            }
            if let Some(def) = &fr.def {
                if def.locals.iter().any(|l| &**l == name) {
                    return Err(exc("UnboundLocalError", format!("cannot access local variable '{name}' where it is not associated with a value")));
                }
            }
            let mut cur = scope.parent.clone();
            while let Some(s) = cur {
                if let Some(v) = s.vars.borrow().get(name) {
                    return Ok(v.clone());
                }
                cur = s.parent.clone();
            }
        }
    }
    if let Some(v) = fr.globals.get(name) {
        return Ok(v);
    }
    if let Some(v) = builtins::builtin(rt, name) {
        return Ok(v);
    }
    Err(exc("NameError", format!("name '{name}' is not defined{}", builtins::name_hint(fr, name))))
}

// ---------------------------------------------------------------- assignment

pub fn assign(rt: &Rt, fr: &Frame, target: &Expr, v: Val) -> SResult<()> {
    match &target.kind {
        ExprKind::Name(n) => {
            store_name(fr, n, v);
            Ok(())
        }
        ExprKind::Attr(obj, name, at) => {
            let o = eval(rt, fr, obj)?;
            setattr(rt, &o, name, v).map_err(|e| locate(e, fr, *at))
        }
        ExprKind::Subscript(obj, idx) => {
            let o = eval(rt, fr, obj)?;
            let k = eval(rt, fr, idx)?;
            if let ExprKind::Slice { .. } = idx.kind {
                return Err(locate(err(ErrorKind::NotSupported, "slice assignment is not supported in the sandbox"), fr, idx.start));
            }
            o.setitem(rt, &k, v).map_err(|e| locate(e, fr, idx.start))
        }
        ExprKind::Tuple(items) | ExprKind::List(items) => unpack(rt, fr, items, v, target.start),
        ExprKind::Starred(_) => Err(locate(err(ErrorKind::SyntaxError, "starred assignment target must be in a list or tuple"), fr, target.start)),
        _ => Err(locate(err(ErrorKind::SyntaxError, "cannot assign to expression"), fr, target.start)),
    }
}

fn unpack(rt: &Rt, fr: &Frame, targets: &[Expr], v: Val, at: usize) -> SResult<()> {
    let items = match &v {
        Val::Str(_) | Val::SafeStr(_) | Val::List(_) | Val::Tuple(_) | Val::Dict(_) | Val::Set(_) | Val::Obj(_) => v.iterate(rt),
        other => Err(err(ErrorKind::TypeError, format!("cannot unpack non-iterable {} object", other.type_name()))),
    }
    .map_err(|e| locate(e, fr, at))?;
    let star = targets.iter().position(|t| matches!(t.kind, ExprKind::Starred(_)));
    match star {
        None => {
            if items.len() < targets.len() {
                return Err(locate(
                    err(ErrorKind::ValueError, format!("not enough values to unpack (expected {}, got {})", targets.len(), items.len())),
                    fr,
                    at,
                ));
            }
            if items.len() > targets.len() {
                return Err(locate(err(ErrorKind::ValueError, format!("too many values to unpack (expected {})", targets.len())), fr, at));
            }
            for (t, x) in targets.iter().zip(items.iter()) {
                assign(rt, fr, t, x.clone())?;
            }
        }
        Some(si) => {
            let after = targets.len() - si - 1;
            if items.len() < targets.len() - 1 {
                return Err(locate(
                    err(
                        ErrorKind::ValueError,
                        format!("not enough values to unpack (expected at least {}, got {})", targets.len() - 1, items.len()),
                    ),
                    fr,
                    at,
                ));
            }
            for (t, x) in targets[..si].iter().zip(items.iter()) {
                assign(rt, fr, t, x.clone())?;
            }
            let mid = items[si..items.len() - after].to_vec();
            let ExprKind::Starred(inner) = &targets[si].kind else { unreachable!("found above") };
            assign(rt, fr, inner, Val::list(mid))?;
            for (t, x) in targets[si + 1..].iter().zip(items[items.len() - after..].iter()) {
                assign(rt, fr, t, x.clone())?;
            }
        }
    }
    Ok(())
}

fn aug_assign(rt: &Rt, fr: &Frame, target: &Expr, op: BinOp, value: &Expr) -> SResult<()> {
    match &target.kind {
        ExprKind::Name(n) => {
            let cur = load_name(rt, fr, n).map_err(|e| locate(e, fr, target.start))?;
            let rhs = eval(rt, fr, value)?;
            let v = inplace_op(rt, op, cur, &rhs).map_err(|e| locate(e, fr, target.start))?;
            store_name(fr, n, v);
        }
        ExprKind::Attr(obj, name, at) => {
            let o = eval(rt, fr, obj)?;
            let cur = getattr(rt, &o, name).map_err(|e| locate(e, fr, *at))?;
            let rhs = eval(rt, fr, value)?;
            let v = inplace_op(rt, op, cur, &rhs).map_err(|e| locate(e, fr, target.start))?;
            setattr(rt, &o, name, v).map_err(|e| locate(e, fr, *at))?;
        }
        ExprKind::Subscript(obj, idx) => {
            let o = eval(rt, fr, obj)?;
            let k = eval(rt, fr, idx)?;
            let cur = o.getitem(rt, &k).map_err(|e| locate(e, fr, idx.start))?;
            let rhs = eval(rt, fr, value)?;
            let v = inplace_op(rt, op, cur, &rhs).map_err(|e| locate(e, fr, target.start))?;
            o.setitem(rt, &k, v).map_err(|e| locate(e, fr, idx.start))?;
        }
        _ => return Err(locate(err(ErrorKind::SyntaxError, "illegal expression for augmented assignment"), fr, target.start)),
    }
    Ok(())
}

/// `x += y`: lists extend in place (so other names see it), everything else rebinds.
fn inplace_op(rt: &Rt, op: BinOp, cur: Val, rhs: &Val) -> SResult<Val> {
    if op == BinOp::Add {
        if let Val::List(l) = &cur {
            let extra = rhs.iterate(rt)?;
            let mut l2 = l.borrow_mut();
            if l2.len() + extra.len() > MAX_LIST {
                return Err(too_big());
            }
            l2.extend(extra.iter().cloned());
            drop(l2);
            return Ok(cur);
        }
    }
    if op == BinOp::BitOr {
        if let (Val::Dict(d), Val::Dict(o)) = (&cur, rhs) {
            let items = o.borrow().items();
            for (k, v) in items {
                d.borrow_mut().set(k, v)?;
            }
            return Ok(cur);
        }
    }
    binop(rt, op, &cur, rhs)
}

fn delete(rt: &Rt, fr: &Frame, target: &Expr) -> SResult<()> {
    match &target.kind {
        ExprKind::Name(n) => {
            if !delete_name(fr, n) {
                return Err(locate(exc("NameError", format!("name '{n}' is not defined")), fr, target.start));
            }
            Ok(())
        }
        ExprKind::Subscript(obj, idx) => {
            let o = eval(rt, fr, obj)?;
            let k = eval(rt, fr, idx)?;
            match &o {
                Val::Dict(d) => {
                    if d.borrow_mut().remove(&k)?.is_none() {
                        return Err(locate(crate::value::key_error(rt, &k), fr, idx.start));
                    }
                    Ok(())
                }
                Val::List(l) => {
                    let i = k.as_int().ok_or_else(|| err(ErrorKind::TypeError, "list indices must be integers or slices"))?;
                    let mut l = l.borrow_mut();
                    let idx = if i < 0 { l.len() as i64 + i } else { i };
                    if idx < 0 || idx as usize >= l.len() {
                        return Err(exc("IndexError", "list assignment index out of range"));
                    }
                    l.remove(idx as usize);
                    Ok(())
                }
                other => Err(err(ErrorKind::TypeError, format!("'{}' object does not support item deletion", other.type_name()))),
            }
        }
        ExprKind::Attr(obj, name, _) => {
            let o = eval(rt, fr, obj)?;
            if let Some(i) = o.as_obj::<Instance>() {
                if i.attrs.borrow_mut().shift_remove(&**name).is_some() {
                    return Ok(());
                }
            }
            Err(err(ErrorKind::AttributeError, format!("'{}' object has no attribute '{name}'", o.type_name())))
        }
        ExprKind::Tuple(items) | ExprKind::List(items) => items.iter().try_for_each(|t| delete(rt, fr, t)),
        _ => Err(err(ErrorKind::SyntaxError, "cannot delete expression")),
    }
}

// ---------------------------------------------------------------- definitions

fn make_function(rt: &Rt, fr: &Frame, def: Rc<FuncDef>) -> SResult<Val> {
    let mut defaults = Vec::new();
    for p in &def.params.args {
        if let Some(d) = &p.default {
            defaults.push(eval(rt, fr, d)?);
        }
    }
    let mut kwdefaults = Vec::new();
    for p in &def.params.kwonly {
        if let Some(d) = &p.default {
            kwdefaults.push((p.name.clone(), eval(rt, fr, d)?));
        }
    }
    let qualname = format!("{}{}", fr.qual_prefix, def.name);
    // A function defined in a function closes over its scope; at module or class level over nothing.
    let closure = if fr.class_ns.is_some() { None } else { fr.scope.clone() };
    Ok(Val::Obj(Rc::new(Function {
        def,
        file: fr.file.clone(),
        globals: fr.globals.clone(),
        closure,
        defaults,
        kwdefaults,
        qualname,
        attrs: Default::default(),
    })))
}

fn make_class(rt: &Rt, fr: &Frame, def: &ClassDef) -> SResult<Val> {
    let mut bases = Vec::new();
    for b in &def.bases {
        let v = eval(rt, fr, b)?;
        bases.push(builtins::class_of_base(rt, &v).map_err(|e| locate(e, fr, b.start))?);
    }
    if bases.is_empty() {
        bases.push(builtins::object_class());
    }
    let ns = Namespace::new();
    let qualname = format!("{}{}", fr.qual_prefix, def.name);
    let body_frame = Frame {
        file: fr.file.clone(),
        globals: fr.globals.clone(),
        scope: fr.scope.clone(),
        def: None,
        class_ns: Some(ns.clone()),
        qual_prefix: format!("{qualname}."),
        class_cell: None,
    };
    ns.set("__module__", Val::str(fr.file.name.trim_end_matches(".py")));
    ns.set("__qualname__", Val::str(&qualname));
    exec_block(rt, &body_frame, &def.body)?;
    let class = Rc::new(Class { name: def.name.to_string(), qualname, bases, ns, native: None });
    // Methods remember their class, for zero-argument super().
    for (_, v) in class.ns.vars.borrow().iter() {
        let f = match v.as_obj::<Descriptor>() {
            Some(d) => d.func.clone(),
            None => v.clone(),
        };
        if let Some(func) = f.as_obj::<Function>() {
            func.attrs.borrow_mut().insert("__class_cell__".into(), Val::obj(ClassVal(class.clone())));
        }
    }
    Ok(Val::obj(ClassVal(class)))
}

/// Creates an instance of a Python class and runs its `__init__`.
pub fn instantiate(rt: &Rt, class: &Rc<Class>, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let inst = Instance::new(class.clone());
    let v = Val::Obj(inst.clone());
    if let Some(init) = class.lookup("__init__") {
        let r = call_value(rt, &init, [vec![v.clone()], args].concat(), kwargs)?;
        if !r.is_none() {
            return Err(err(ErrorKind::TypeError, format!("__init__() should return None, not '{}'", r.type_name())));
        }
        return Ok(v);
    }
    match class.native_base().and_then(|n| n.init) {
        Some(init) => init(rt, &inst, args, kwargs)?,
        None => {
            if !args.is_empty() || !kwargs.is_empty() {
                return Err(err(ErrorKind::TypeError, format!("{}() takes no arguments", class.name)));
            }
        }
    }
    Ok(v)
}

pub fn instance_getattr(rt: &Rt, inst: &Rc<Instance>, name: &str) -> SResult<Val> {
    let me = Val::Obj(inst.clone());
    match name {
        "__class__" => return Ok(Val::obj(ClassVal(inst.class.clone()))),
        "__dict__" => {
            let d = PyDict::from_pairs(inst.attrs.borrow().iter().map(|(k, v)| (Val::Str(k.clone()), v.clone())))?;
            return Ok(Val::dict(d));
        }
        _ => {}
    }
    let class_attr = inst.class.lookup(name);
    if let Some(v) = &class_attr {
        if let Some(d) = v.as_obj::<Descriptor>() {
            if d.kind == DescriptorKind::Property {
                return call_value(rt, &d.func, vec![me], vec![]);
            }
        }
    }
    if let Some(v) = inst.get_attr(name) {
        return Ok(v);
    }
    if let Some(v) = class_attr {
        return Ok(bind_class_attr(v, &me, &inst.class));
    }
    if let Some(native) = inst.class.native_base() {
        if let Some(r) = (native.method)(rt, inst, name) {
            return r;
        }
    }
    if let Some(ga) = inst.class.lookup("__getattr__") {
        return call_value(rt, &ga, vec![me, Val::str(name)], vec![]);
    }
    Err(err(ErrorKind::AttributeError, format!("'{}' object has no attribute '{name}'", inst.class.name)))
}

fn bind_class_attr(v: Val, receiver: &Val, class: &Rc<Class>) -> Val {
    match &v {
        Val::Obj(o) => {
            if o.as_any().is::<Function>() {
                return Val::obj(BoundMethod { func: v.clone(), receiver: receiver.clone() });
            }
            if let Some(d) = o.as_any().downcast_ref::<Descriptor>() {
                return match d.kind {
                    DescriptorKind::Static => d.func.clone(),
                    DescriptorKind::Class => Val::obj(BoundMethod { func: d.func.clone(), receiver: Val::obj(ClassVal(class.clone())) }),
                    DescriptorKind::Property => v.clone(),
                };
            }
            v
        }
        _ => v,
    }
}

/// `super()` inside a method: the rest of the MRO after the method's class.
pub struct SuperObj {
    pub after: Rc<Class>,
    pub receiver: Rc<Instance>,
}

impl crate::value::Object for SuperObj {
    fn type_name(&self) -> String {
        "super".into()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        let mro = self.receiver.class.mro();
        let pos = mro.iter().position(|c| Rc::ptr_eq(c, &self.after)).map(|p| p + 1).unwrap_or(mro.len());
        let me = Val::Obj(self.receiver.clone());
        for c in &mro[pos..] {
            if let Some(v) = c.ns.get(name) {
                return Ok(bind_class_attr(v, &me, &self.receiver.class));
            }
            if let Some(native) = &c.native {
                if name == "__init__" {
                    if let Some(init) = native.init {
                        let inst = self.receiver.clone();
                        return Ok(NativeFn::val("__init__", move |rt, args, kwargs| {
                            init(rt, &inst, args, kwargs)?;
                            Ok(Val::None)
                        }));
                    }
                    return Ok(NativeFn::val("__init__", |_, _, _| Ok(Val::None)));
                }
                if let Some(r) = (native.method)(rt, &self.receiver, name) {
                    return r;
                }
            }
        }
        Err(err(ErrorKind::AttributeError, format!("'super' object has no attribute '{name}'")))
    }
}

// ---------------------------------------------------------------- calls


pub fn call_function(rt: &Rt, f: &Function, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let scope = Scope::new(f.closure.clone());
    bind_params(rt, f, &scope, args, kwargs)?;
    rt.py_enter()?;
    let class_cell = f.attrs.borrow().get("__class_cell__").and_then(|c| c.as_obj::<ClassVal>().map(|c| c.0.clone()));
    let fr = Frame {
        file: f.file.clone(),
        globals: f.globals.clone(),
        scope: Some(scope),
        def: Some(f.def.clone()),
        class_ns: None,
        qual_prefix: format!("{}.<locals>.", f.qualname),
        class_cell,
    };
    let r = exec_block(rt, &fr, &f.def.body);
    rt.py_leave();
    match r {
        Ok(Flow::Return(v)) => Ok(v),
        Ok(_) => Ok(Val::None),
        Err(mut e) => {
            e.traceback.insert(
                0,
                TraceFrame { file: f.file.name.clone(), line: e.pos.map(|p| p.line).unwrap_or(f.def.line), func: f.qualname.clone(), text: String::new() },
            );
            Err(e)
        }
    }
}

fn bind_params(rt: &Rt, f: &Function, scope: &Rc<Scope>, args: Vec<Val>, kwargs: Kwargs) -> SResult<()> {
    let p = &f.def.params;
    let name = &f.qualname;
    let mut vars = scope.vars.borrow_mut();
    let npos = p.args.len();
    let mut extra = Vec::new();
    for (i, a) in args.into_iter().enumerate() {
        if i < npos {
            vars.insert(p.args[i].name.clone(), a);
        } else {
            extra.push(a);
        }
    }
    if !extra.is_empty() {
        match &p.vararg {
            Some(v) => {
                vars.insert(v.clone(), Val::tuple(extra));
            }
            None => {
                let given = npos + extra.len();
                let required = p.args.iter().filter(|a| a.default.is_none()).count();
                let takes = if required == npos {
                    format!("{npos} positional argument{}", if npos == 1 { "" } else { "s" })
                } else {
                    format!("from {required} to {npos} positional arguments")
                };
                let was = if given == 1 { "was" } else { "were" };
                return Err(err(ErrorKind::TypeError, format!("{name}() takes {takes} but {given} {was} given")));
            }
        }
    } else if let Some(v) = &p.vararg {
        vars.insert(v.clone(), Val::tuple(vec![]));
    }
    let mut kw_extra = PyDict::new();
    for (k, v) in kwargs {
        let is_param = p.args.iter().chain(p.kwonly.iter()).any(|a| *a.name == *k);
        if is_param {
            if vars.contains_key(k.as_str()) {
                return Err(err(ErrorKind::TypeError, format!("{name}() got multiple values for argument '{k}'")));
            }
            vars.insert(Rc::from(k.as_str()), v);
        } else if p.kwarg.is_some() {
            kw_extra.set(Val::str(&k), v)?;
        } else {
            return Err(err(ErrorKind::TypeError, format!("{name}() got an unexpected keyword argument '{k}'")));
        }
    }
    if let Some(kw) = &p.kwarg {
        vars.insert(kw.clone(), Val::dict(kw_extra));
    }
    // Defaults fill the last positional parameters.
    let first_default = npos - f.defaults.len();
    let mut missing = Vec::new();
    for (i, a) in p.args.iter().enumerate() {
        if !vars.contains_key(&*a.name) {
            if i >= first_default {
                vars.insert(a.name.clone(), f.defaults[i - first_default].clone());
            } else {
                missing.push(format!("'{}'", a.name));
            }
        }
    }
    if !missing.is_empty() {
        return Err(err(ErrorKind::TypeError, format!("{name}() missing {} required positional argument{}: {}", missing.len(), if missing.len() == 1 { "" } else { "s" }, join_and(&missing))));
    }
    let mut missing_kw = Vec::new();
    for a in &p.kwonly {
        if !vars.contains_key(&*a.name) {
            match f.kwdefaults.iter().find(|(n, _)| *n == a.name) {
                Some((_, d)) => {
                    vars.insert(a.name.clone(), d.clone());
                }
                None => missing_kw.push(format!("'{}'", a.name)),
            }
        }
    }
    if !missing_kw.is_empty() {
        return Err(err(ErrorKind::TypeError, format!("{name}() missing {} required keyword-only argument{}: {}", missing_kw.len(), if missing_kw.len() == 1 { "" } else { "s" }, join_and(&missing_kw))));
    }
    let _ = rt;
    Ok(())
}

fn join_and(items: &[String]) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        2 => format!("{} and {}", items[0], items[1]),
        n => format!("{}, and {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

fn eval_args(rt: &Rt, fr: &Frame, args: &[Arg]) -> SResult<(Vec<Val>, Kwargs)> {
    let mut pos = Vec::with_capacity(args.len());
    let mut kw: Kwargs = Vec::new();
    for a in args {
        match a {
            Arg::Pos(e) => pos.push(eval(rt, fr, e)?),
            Arg::Star(e) => {
                let v = eval(rt, fr, e)?;
                let items = v.iterate(rt).map_err(|_| {
                    locate(err(ErrorKind::TypeError, format!("Value after * must be an iterable, not {}", v.type_name())), fr, e.start)
                })?;
                pos.extend(items.iter().cloned());
            }
            Arg::Kw(k, e) => kw.push((k.to_string(), eval(rt, fr, e)?)),
            Arg::StarStar(e) => {
                let v = eval(rt, fr, e)?;
                let Val::Dict(d) = &v else {
                    return Err(locate(err(ErrorKind::TypeError, format!("argument after ** must be a mapping, not {}", v.type_name())), fr, e.start));
                };
                for (k, val) in d.borrow().items() {
                    let ks = k.as_str().ok_or_else(|| err(ErrorKind::TypeError, "keywords must be strings"))?.to_string();
                    if kw.iter().any(|(n, _)| *n == ks) {
                        return Err(locate(err(ErrorKind::TypeError, format!("got multiple values for keyword argument '{ks}'")), fr, e.start));
                    }
                    kw.push((ks, val));
                }
            }
        }
    }
    Ok((pos, kw))
}

// ---------------------------------------------------------------- expressions

pub fn eval(rt: &Rt, fr: &Frame, e: &Expr) -> SResult<Val> {
    eval_inner(rt, fr, e).map_err(|x| locate(x, fr, e.start))
}

fn eval_inner(rt: &Rt, fr: &Frame, e: &Expr) -> SResult<Val> {
    Ok(match &e.kind {
        ExprKind::Name(n) => load_name(rt, fr, n)?,
        ExprKind::Const(c) => match c {
            Const::None => Val::None,
            Const::Bool(b) => Val::Bool(*b),
            Const::Int(i) => Val::Int(*i),
            Const::Float(f) => Val::Float(*f),
            Const::Str(s) => Val::Str(s.clone()),
            Const::Ellipsis => Val::None,
        },
        ExprKind::FString(parts) => Val::str(fstring(rt, fr, parts)?),
        ExprKind::List(items) => Val::list(eval_items(rt, fr, items)?),
        ExprKind::Tuple(items) => Val::tuple(eval_items(rt, fr, items)?),
        ExprKind::Set(items) => Val::set_of(eval_items(rt, fr, items)?)?,
        ExprKind::Dict(items) => {
            let mut d = PyDict::new();
            for (k, v) in items {
                match k {
                    Some(k) => {
                        let kv = eval(rt, fr, k)?;
                        let vv = eval(rt, fr, v)?;
                        d.set(kv, vv).map_err(|x| locate(x, fr, k.start))?;
                    }
                    None => {
                        let other = eval(rt, fr, v)?;
                        let Val::Dict(o) = &other else {
                            return Err(err(ErrorKind::TypeError, format!("'{}' object is not a mapping", other.type_name())));
                        };
                        for (k, v) in o.borrow().items() {
                            d.set(k, v)?;
                        }
                    }
                }
            }
            Val::dict(d)
        }
        ExprKind::Starred(_) => return Err(err(ErrorKind::SyntaxError, "can't use starred expression here")),
        ExprKind::Attr(obj, name, at) => {
            let o = eval(rt, fr, obj)?;
            getattr(rt, &o, name).map_err(|x| locate(x, fr, *at))?
        }
        ExprKind::Call { func, args } => eval_call(rt, fr, e, func, args)?,
        ExprKind::Subscript(obj, idx) => {
            let o = eval(rt, fr, obj)?;
                    if let ExprKind::Slice { lower, upper, step } = &idx.kind {
                let b = |x: &Option<Box<Expr>>| -> SResult<Option<i64>> {
                    match x {
                        None => Ok(None),
                        Some(x) => match eval(rt, fr, x)? {
                            Val::None => Ok(None),
                            Val::Int(i) => Ok(Some(i)),
                            Val::Bool(b) => Ok(Some(b as i64)),
                            other => Err(locate(
                                err(ErrorKind::TypeError, format!("slice indices must be integers or None or have an __index__ method, not {}", other.type_name())),
                                fr,
                                x.start,
                            )),
                        },
                    }
                };
                let (l, u, s) = (b(lower)?, b(upper)?, b(step)?);
                rt.with_py_origin(&fr.file, e.start, e.end, || o.getslice(rt, l, u, s)).map_err(|x| locate(x, fr, idx.start))?
            } else {
                let k = eval(rt, fr, idx)?;
                rt.with_py_origin(&fr.file, e.start, e.end, || o.getitem(rt, &k)).map_err(|x| locate(x, fr, idx.start))?
            }
        }
        ExprKind::Slice { .. } => return Err(err(ErrorKind::SyntaxError, "a slice is only valid inside [ ]")),
        ExprKind::BinOp(op, l, r) => {
            let a = eval(rt, fr, l)?;
            let b = eval(rt, fr, r)?;
            binop(rt, *op, &a, &b)?
        }
        ExprKind::Unary(op, inner) => {
            let v = eval(rt, fr, inner)?;
            unary(rt, *op, v)?
        }
        ExprKind::BoolOp(is_and, items) => {
            let mut last = Val::None;
            for (i, x) in items.iter().enumerate() {
                last = eval(rt, fr, x)?;
                let t = last.truthy(rt)?;
                if i + 1 < items.len() && (t != *is_and) {
                    return Ok(last);
                }
            }
            last
        }
        ExprKind::Compare(first, ops) => {
            let mut left = eval(rt, fr, first)?;
            for (op, re) in ops {
                let right = eval(rt, fr, re)?;
                if !compare(rt, *op, &left, &right).map_err(|x| locate(x, fr, re.start))? {
                    return Ok(Val::Bool(false));
                }
                left = right;
            }
            Val::Bool(true)
        }
        ExprKind::IfExp { test, body, orelse } => {
            if eval(rt, fr, test)?.truthy(rt)? {
                eval(rt, fr, body)?
            } else {
                eval(rt, fr, orelse)?
            }
        }
        ExprKind::Lambda(def) => make_function(rt, fr, def.clone())?,
        ExprKind::ListComp(elt, gens) | ExprKind::GenExp(elt, gens) => {
            let mut out = Vec::new();
            comprehension(rt, fr, gens, &mut |rt, cf| {
                out.push(eval(rt, cf, elt)?);
                if out.len() > MAX_LIST {
                    return Err(too_big());
                }
                Ok(())
            })?;
            Val::list(out)
        }
        ExprKind::SetComp(elt, gens) => {
            let mut out = Vec::new();
            comprehension(rt, fr, gens, &mut |rt, cf| {
                out.push(eval(rt, cf, elt)?);
                Ok(())
            })?;
            Val::set_of(out)?
        }
        ExprKind::DictComp(k, v, gens) => {
            let mut d = PyDict::new();
            comprehension(rt, fr, gens, &mut |rt, cf| {
                let kv = eval(rt, cf, k)?;
                let vv = eval(rt, cf, v)?;
                d.set(kv, vv)
            })?;
            Val::dict(d)
        }
        ExprKind::NamedExpr(name, v) => {
            let val = eval(rt, fr, v)?;
            store_name(fr, name, val.clone());
            val
        }
    })
}

fn eval_items(rt: &Rt, fr: &Frame, items: &[Expr]) -> SResult<Vec<Val>> {
    let mut out = Vec::with_capacity(items.len());
    for i in items {
        if let ExprKind::Starred(inner) = &i.kind {
            let v = eval(rt, fr, inner)?;
            out.extend(v.iterate(rt)?.iter().cloned());
        } else {
            out.push(eval(rt, fr, i)?);
        }
    }
    Ok(out)
}

fn eval_call(rt: &Rt, fr: &Frame, e: &Expr, func: &Expr, args: &[Arg]) -> SResult<Val> {
    // Zero-argument super(): the method's class and its first argument.
    if let ExprKind::Name(n) = &func.kind {
        if &**n == "super" && args.is_empty() && fr.globals.get("super").is_none() {
            return make_super(fr);
        }
    }
    match &func.kind {
        ExprKind::Attr(obj, name, at) => {
            let target = eval(rt, fr, obj)?;
            let (a, k) = eval_args(rt, fr, args)?;
            rt.with_py_origin(&fr.file, e.start, e.end, || call_method(rt, &target, name, a, k)).map_err(|x| locate(x, fr, *at))
        }
        _ => {
            let f = eval(rt, fr, func)?;
            let (a, k) = eval_args(rt, fr, args)?;
            rt.with_py_origin(&fr.file, e.start, e.end, || call_value(rt, &f, a, k)).map_err(|x| locate(x, fr, func.start))
        }
    }
}

fn make_super(fr: &Frame) -> SResult<Val> {
    let class = fr.class_cell.clone();
    let receiver = fr.def.as_ref().and_then(|d| d.params.args.first()).and_then(|p| fr.scope.as_ref().and_then(|s| s.vars.borrow().get(&*p.name).cloned()));
    match (class, receiver) {
        (Some(after), Some(Val::Obj(o))) => match o.as_any().downcast_ref::<Instance>() {
            Some(i) => Ok(Val::obj(SuperObj { after, receiver: i.rc() })),
            None => Err(exc("RuntimeError", "super(): the first argument is not an instance of a Python class")),
        },
        _ => Err(exc("RuntimeError", "super(): no arguments")),
    }
}

/// `obj.name(*args)`: objects answer directly; built-in types through their methods.
pub fn call_method(rt: &Rt, target: &Val, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    match target {
        Val::Obj(o) => o.call_method(rt, name, args, kwargs),
        other => builtins::call_type_method(rt, other, name, args, kwargs),
    }
}

pub fn getattr(rt: &Rt, v: &Val, name: &str) -> SResult<Val> {
    match v {
        Val::Obj(o) => o.getattr(rt, name),
        other => builtins::type_attr(rt, other, name),
    }
}

pub fn setattr(rt: &Rt, v: &Val, name: &str, value: Val) -> SResult<()> {
    match v {
        Val::Obj(o) => o.setattr(rt, name, value),
        other => Err(err(
            ErrorKind::AttributeError,
            format!("'{}' object has no attribute '{name}'", other.type_name()),
        )),
    }
}

fn comprehension(rt: &Rt, fr: &Frame, gens: &[Comprehension], body: &mut dyn FnMut(&Rt, &Frame) -> SResult<()>) -> SResult<()> {
    // The first iterable is evaluated in the enclosing scope; the loop variables live in their own.
    let scope = Scope::new(fr.scope.clone());
    let cf = Frame { scope: Some(scope), def: None, class_ns: None, ..fr.clone() };
    let first = eval(rt, fr, &gens[0].iter)?;
    rt.in_loop(|| comp_level(rt, &cf, gens, 0, Some(first), body))
}

fn comp_level(rt: &Rt, cf: &Frame, gens: &[Comprehension], level: usize, first: Option<Val>, body: &mut dyn FnMut(&Rt, &Frame) -> SResult<()>) -> SResult<()> {
    let Some(g) = gens.get(level) else {
        return body(rt, cf);
    };
    let it = match first {
        Some(v) => v,
        None => eval(rt, cf, &g.iter)?,
    };
    let src = IterSource::of(rt, &it)?;
    'items: for i in 0..src.len() {
        rt.py_tick()?;
        assign(rt, cf, &g.target, src.get(i))?;
        for cond in &g.ifs {
            if !eval(rt, cf, cond)?.truthy(rt)? {
                continue 'items;
            }
        }
        comp_level(rt, cf, gens, level + 1, None, body)?;
    }
    Ok(())
}

/// What a `for` loop walks: a range lazily, anything else as a list of its items.
pub enum IterSource {
    Range(i64, i64, usize),
    Items(Rc<Vec<Val>>),
}

impl IterSource {
    pub fn of(rt: &Rt, v: &Val) -> SResult<IterSource> {
        if let Some(r) = v.as_obj::<RangeObj>() {
            return Ok(IterSource::Range(r.start, r.step, r.len()));
        }
        Ok(IterSource::Items(v.iterate(rt)?))
    }
    pub fn len(&self) -> usize {
        match self {
            IterSource::Range(_, _, n) => *n,
            IterSource::Items(v) => v.len(),
        }
    }
    pub fn get(&self, i: usize) -> Val {
        match self {
            IterSource::Range(start, step, _) => Val::Int(start + step * i as i64),
            IterSource::Items(v) => v[i].clone(),
        }
    }
}

fn fstring(rt: &Rt, fr: &Frame, parts: &[FPart]) -> SResult<String> {
    let mut out = String::new();
    for p in parts {
        match p {
            FPart::Lit(s) => out.push_str(s),
            FPart::Expr { expr, conv, spec, debug_text } => {
                let v = eval(rt, fr, expr)?;
                if let Some(t) = debug_text {
                    out.push_str(t);
                }
                let v = match conv {
                    Some('r') | Some('a') => Val::str(v.repr(rt)?),
                    Some('s') => Val::str(v.to_str(rt)?),
                    _ => v,
                };
                let spec_text = fstring(rt, fr, spec)?;
                out.push_str(&format_value(rt, &v, &spec_text)?);
            }
        }
        if out.len() > MAX_STR {
            return Err(too_big());
        }
    }
    Ok(out)
}

/// `format(v, spec)`, with datetimes taking strftime specs as Python's do.
pub fn format_value(rt: &Rt, v: &Val, spec: &str) -> SResult<String> {
    if let Val::DateTime(d) = v {
        if spec.is_empty() {
            return Ok(d.to_string());
        }
        return Ok(builtins::strftime(d, spec));
    }
    format_spec(rt, v, spec)
}

// ---------------------------------------------------------------- operators

/// Longest list or string the sandbox builds (a runaway `append` or `s += s` stops here).
pub const MAX_LIST: usize = 5_000_000;
pub const MAX_STR: usize = 50_000_000;

fn too_big() -> SandboxError {
    exc("MemoryError", "the value grew too large for the sandbox")
}

fn overflow() -> SandboxError {
    exc("OverflowError", "integer result too large for the sandbox (64-bit integers)")
}

pub fn unary(rt: &Rt, op: UnaryOp, v: Val) -> SResult<Val> {
    Ok(match (op, &v) {
        (UnaryOp::Not, _) => Val::Bool(!v.truthy(rt)?),
        (UnaryOp::Neg, Val::Int(i)) => Val::Int(i.checked_neg().ok_or_else(overflow)?),
        (UnaryOp::Neg, Val::Bool(b)) => Val::Int(-(*b as i64)),
        (UnaryOp::Neg, Val::Float(f)) => Val::Float(-f),
        (UnaryOp::Pos, Val::Int(_) | Val::Float(_)) => v.clone(),
        (UnaryOp::Pos, Val::Bool(b)) => Val::Int(*b as i64),
        (UnaryOp::Invert, Val::Int(i)) => Val::Int(!i),
        (UnaryOp::Invert, Val::Bool(b)) => Val::Int(!(*b as i64)),
        (_, Val::Obj(o)) => {
            let c = match op {
                UnaryOp::Neg => '-',
                UnaryOp::Pos => '+',
                _ => '~',
            };
            match o.unary(rt, c) {
                Some(r) => r?,
                None => return Err(bad_unary(op, &v)),
            }
        }
        _ => return Err(bad_unary(op, &v)),
    })
}

fn bad_unary(op: UnaryOp, v: &Val) -> SandboxError {
    let sym = match op {
        UnaryOp::Neg => "-",
        UnaryOp::Pos => "+",
        UnaryOp::Invert => "~",
        UnaryOp::Not => "not",
    };
    err(ErrorKind::TypeError, format!("bad operand type for unary {sym}: '{}'", v.type_name()))
}

fn int_of(v: &Val) -> Option<i64> {
    match v {
        Val::Int(i) => Some(*i),
        Val::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

pub fn binop(rt: &Rt, op: BinOp, a: &Val, b: &Val) -> SResult<Val> {
    if let Val::Obj(o) = a {
        if let Some(r) = o.binop(rt, op, b, false) {
            return r;
        }
    }
    if let Val::Obj(o) = b {
        if let Some(r) = o.binop(rt, op, a, true) {
            return r;
        }
    }
    if let (Some(x), Some(y)) = (int_of(a), int_of(b)) {
        return int_binop(op, x, y, a, b);
    }
    if let (Some(x), Some(y)) = (num_of(a), num_of(b)) {
        return float_binop(op, x, y, a, b);
    }
    Ok(match (op, a, b) {
        (BinOp::Add, Val::Str(x) | Val::SafeStr(x), Val::Str(y) | Val::SafeStr(y)) => {
            if x.len() + y.len() > MAX_STR {
                return Err(too_big());
            }
            let s = format!("{x}{y}");
            if matches!((a, b), (Val::SafeStr(_), Val::SafeStr(_))) {
                Val::safe(s)
            } else {
                Val::str(s)
            }
        }
        (BinOp::Mul, Val::Str(s) | Val::SafeStr(s), n) | (BinOp::Mul, n, Val::Str(s) | Val::SafeStr(s)) if int_of(n).is_some() => {
            let k = int_of(n).unwrap_or(0).max(0) as usize;
            if s.len().saturating_mul(k) > MAX_STR {
                return Err(too_big());
            }
            Val::str(s.repeat(k))
        }
        (BinOp::Add, Val::List(x), Val::List(y)) => {
            let mut v = x.borrow().clone();
            v.extend(y.borrow().iter().cloned());
            if v.len() > MAX_LIST {
                return Err(too_big());
            }
            Val::list(v)
        }
        (BinOp::Add, Val::Tuple(x), Val::Tuple(y)) => Val::tuple(x.iter().chain(y.iter()).cloned().collect()),
        (BinOp::Mul, Val::List(_) | Val::Tuple(_), n) | (BinOp::Mul, n, Val::List(_) | Val::Tuple(_)) if int_of(n).is_some() => {
            let (seq, k) = if int_of(b).is_some() { (a, int_of(b).unwrap_or(0)) } else { (b, int_of(a).unwrap_or(0)) };
            let items = seq.seq_items().unwrap_or_default();
            let k = k.max(0) as usize;
            if items.len().saturating_mul(k) > MAX_LIST {
                return Err(too_big());
            }
            let mut v = Vec::with_capacity(items.len() * k);
            for _ in 0..k {
                v.extend(items.iter().cloned());
            }
            if matches!(seq, Val::List(_)) {
                Val::list(v)
            } else {
                Val::tuple(v)
            }
        }
        (BinOp::Mod, Val::Str(s) | Val::SafeStr(s), args) => Val::str(percent_string(rt, s, args)?),
        (BinOp::BitOr, Val::Dict(x), Val::Dict(y)) => {
            let mut d = x.borrow().clone();
            for (k, v) in y.borrow().items() {
                d.set(k, v)?;
            }
            Val::dict(d)
        }
        (BinOp::BitOr | BinOp::BitAnd | BinOp::Sub | BinOp::BitXor, Val::Set(x), Val::Set(y)) => {
            let (x, y) = (x.borrow(), y.borrow());
            let xs = x.keys();
            let ys = y.keys();
            let out: Vec<Val> = match op {
                BinOp::BitOr => xs.iter().chain(ys.iter()).cloned().collect(),
                BinOp::BitAnd => xs.into_iter().filter(|k| y.contains(k).unwrap_or(false)).collect(),
                BinOp::Sub => xs.into_iter().filter(|k| !y.contains(k).unwrap_or(false)).collect(),
                _ => xs
                    .iter()
                    .filter(|k| !y.contains(k).unwrap_or(false))
                    .chain(ys.iter().filter(|k| !x.contains(k).unwrap_or(false)))
                    .cloned()
                    .collect(),
            };
            Val::set_of(out)?
        }
        (BinOp::Sub, Val::DateTime(x), Val::DateTime(y)) => builtins::timedelta_val(x.to_micros() - y.to_micros()),
        _ => {
            if let Some(r) = builtins::datetime_binop(op, a, b) {
                return r;
            }
            return Err(err(
                ErrorKind::TypeError,
                format!("unsupported operand type(s) for {}: '{}' and '{}'", op.symbol(), a.type_name(), b.type_name()),
            ));
        }
    })
}

fn num_of(v: &Val) -> Option<f64> {
    match v {
        Val::Int(i) => Some(*i as f64),
        Val::Bool(b) => Some(*b as i64 as f64),
        Val::Float(f) => Some(*f),
        _ => None,
    }
}

fn int_binop(op: BinOp, x: i64, y: i64, a: &Val, b: &Val) -> SResult<Val> {
    let zero = || exc("ZeroDivisionError", if op == BinOp::Mod { "integer modulo by zero" } else { "integer division or modulo by zero" });
    Ok(match op {
        BinOp::Add => Val::Int(x.checked_add(y).ok_or_else(overflow)?),
        BinOp::Sub => Val::Int(x.checked_sub(y).ok_or_else(overflow)?),
        BinOp::Mul => Val::Int(x.checked_mul(y).ok_or_else(overflow)?),
        BinOp::Div => {
            if y == 0 {
                return Err(exc("ZeroDivisionError", "division by zero"));
            }
            Val::Float(x as f64 / y as f64)
        }
        BinOp::FloorDiv => {
            if y == 0 {
                return Err(zero());
            }
            Val::Int(x.checked_div_euclid(y).map(|_| floor_div(x, y)).ok_or_else(overflow)?)
        }
        BinOp::Mod => {
            if y == 0 {
                return Err(zero());
            }
            Val::Int(x - y * floor_div(x, y))
        }
        BinOp::Pow => {
            if y < 0 {
                Val::Float((x as f64).powf(y as f64))
            } else {
                let e = u32::try_from(y).map_err(|_| overflow())?;
                Val::Int(x.checked_pow(e).ok_or_else(overflow)?)
            }
        }
        BinOp::LShift => {
            if y < 0 {
                return Err(err(ErrorKind::ValueError, "negative shift count"));
            }
            if y >= 63 || (x != 0 && x.unsigned_abs().leading_zeros() as i64 <= y) {
                return Err(overflow());
            }
            Val::Int(x << y)
        }
        BinOp::RShift => {
            if y < 0 {
                return Err(err(ErrorKind::ValueError, "negative shift count"));
            }
            Val::Int(x >> y.min(63))
        }
        BinOp::BitOr => {
            if matches!((a, b), (Val::Bool(_), Val::Bool(_))) {
                Val::Bool((x | y) != 0)
            } else {
                Val::Int(x | y)
            }
        }
        BinOp::BitAnd => {
            if matches!((a, b), (Val::Bool(_), Val::Bool(_))) {
                Val::Bool((x & y) != 0)
            } else {
                Val::Int(x & y)
            }
        }
        BinOp::BitXor => {
            if matches!((a, b), (Val::Bool(_), Val::Bool(_))) {
                Val::Bool((x ^ y) != 0)
            } else {
                Val::Int(x ^ y)
            }
        }
        BinOp::MatMul => return Err(err(ErrorKind::TypeError, "unsupported operand type(s) for @: 'int' and 'int'")),
    })
}

fn floor_div(x: i64, y: i64) -> i64 {
    let q = x / y;
    if (x % y != 0) && ((x < 0) != (y < 0)) {
        q - 1
    } else {
        q
    }
}

fn float_binop(op: BinOp, x: f64, y: f64, a: &Val, b: &Val) -> SResult<Val> {
    Ok(Val::Float(match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => {
            if y == 0.0 {
                return Err(exc("ZeroDivisionError", "float division by zero"));
            }
            x / y
        }
        BinOp::FloorDiv => {
            if y == 0.0 {
                return Err(exc("ZeroDivisionError", "float floor division by zero"));
            }
            (x / y).floor()
        }
        BinOp::Mod => {
            if y == 0.0 {
                return Err(exc("ZeroDivisionError", "float modulo"));
            }
            let r = x % y;
            if r != 0.0 && ((r < 0.0) != (y < 0.0)) {
                r + y
            } else {
                r
            }
        }
        BinOp::Pow => x.powf(y),
        _ => {
            return Err(err(
                ErrorKind::TypeError,
                format!("unsupported operand type(s) for {}: '{}' and '{}'", op.symbol(), a.type_name(), b.type_name()),
            ))
        }
    }))
}

/// `"fmt" % args`.
fn percent_string(rt: &Rt, fmt: &str, args: &Val) -> SResult<String> {
    let (items, mapping): (Vec<Val>, Option<Val>) = match args {
        Val::Tuple(t) => (t.as_ref().clone(), None),
        Val::Dict(_) => (vec![args.clone()], Some(args.clone())),
        other => (vec![other.clone()], None),
    };
    let mut out = String::new();
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    let mut next = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'%') {
            out.push('%');
            i += 2;
            continue;
        }
        let mut j = i + 1;
        let mut key = None;
        if chars.get(j) == Some(&'(') {
            let close = chars[j..].iter().position(|&c| c == ')').map(|p| p + j).ok_or_else(|| err(ErrorKind::ValueError, "incomplete format key"))?;
            key = Some(chars[j + 1..close].iter().collect::<String>());
            j = close + 1;
        }
        let spec_start = j;
        while j < chars.len() && !chars[j].is_ascii_alphabetic() {
            j += 1;
        }
        if j >= chars.len() {
            return Err(err(ErrorKind::ValueError, "incomplete format"));
        }
        let spec: String = chars[spec_start..=j].iter().collect();
        let value = match &key {
            Some(k) => match &mapping {
                Some(Val::Dict(d)) => d.borrow().get_str(k).ok_or_else(|| exc("KeyError", format!("'{k}'")))?,
                _ => return Err(err(ErrorKind::TypeError, "format requires a mapping")),
            },
            None => {
                let v = items.get(next).cloned().ok_or_else(|| err(ErrorKind::TypeError, "not enough arguments for format string"))?;
                next += 1;
                v
            }
        };
        match percent_format(rt, &spec, &value)? {
            Some(s) => out.push_str(&s),
            None => {
                return Err(err(
                    ErrorKind::TypeError,
                    format!("%{} format: a number is required, not {}", chars[j], value.type_name()),
                ))
            }
        }
        i = j + 1;
    }
    if mapping.is_none() && next < items.len() {
        return Err(err(ErrorKind::TypeError, "not all arguments converted during string formatting"));
    }
    Ok(out)
}

pub fn compare(rt: &Rt, op: CmpOp, a: &Val, b: &Val) -> SResult<bool> {
    Ok(match op {
        CmpOp::Eq => a.py_eq(b),
        CmpOp::NotEq => !a.py_eq(b),
        CmpOp::Is => identical(a, b),
        CmpOp::IsNot => !identical(a, b),
        CmpOp::In => b.contains(rt, a)?,
        CmpOp::NotIn => !b.contains(rt, a)?,
        CmpOp::Lt => a.py_lt_checked(b, "<")?.is_lt(),
        CmpOp::LtE => a.py_lt_checked(b, "<=")?.is_le(),
        CmpOp::Gt => a.py_lt_checked(b, ">")?.is_gt(),
        CmpOp::GtE => a.py_lt_checked(b, ">=")?.is_ge(),
    })
}

/// Python's `is`: identity for objects and containers; value for None/bools/ints (CPython
/// caches small ints, and the labs never rely on the difference).
pub fn identical(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::None, Val::None) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Str(x) | Val::SafeStr(x), Val::Str(y) | Val::SafeStr(y)) => Rc::ptr_eq(x, y) || x == y,
        (Val::List(x), Val::List(y)) => Rc::ptr_eq(x, y),
        (Val::Dict(x), Val::Dict(y)) | (Val::Set(x), Val::Set(y)) => Rc::ptr_eq(x, y),
        (Val::Tuple(x), Val::Tuple(y)) => Rc::ptr_eq(x, y),
        (Val::Obj(x), Val::Obj(y)) => {
            std::ptr::eq(Rc::as_ptr(x) as *const u8, Rc::as_ptr(y) as *const u8) || x.eq_val(b) == Some(true) && x.type_name() == "type"
        }
        (Val::DateTime(x), Val::DateTime(y)) => x == y,
        _ => false,
    }
}

/// `repr()` of a float for messages.
pub fn float_text(f: f64) -> String {
    python_float_repr(f)
}

pub fn datetime_now(rt: &Rt) -> DateTime {
    DateTime::from_unix_seconds(rt.now_seconds())
}
