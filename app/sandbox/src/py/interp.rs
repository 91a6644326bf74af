//! The tree-walking evaluator. Cross-cutting concerns live in a few hooks rather than in every
//! node: [`Rt::py_tick`] before each statement and loop iteration (the work budget), a call
//! depth counter (`RecursionError`), the current line (what a query's origin names), and
//! error positions attached where an error first surfaces.

use std::rc::Rc;

use super::ast::*;
use std::any::Any;

use super::builtins;
use super::classes::{error_from_raised, exception_matches, exception_value, SuperObj};
use super::import::{modules, syntax_error_in};
use super::methods::{call_method, format_value, getattr, setattr};
use super::ops::{binop, compare, too_big, unary, MAX_LIST, MAX_STR};
use crate::source::SourceFile;
use crate::value::{no_attr, Object};
use super::builtins::{levenshtein, BUILTIN_NAMES};
use super::objects::*;
use crate::error::{err, exc, ErrorKind, SResult, SandboxError, TraceFrame};
use crate::runtime::Rt;
use crate::value::{call_value, BinOp, Kwargs, PyDict, Val};

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
    line_frame(rt, fr, s.line, || exec_stmt_inner(rt, fr, s).map_err(|e| locate(e, fr, s.start)))
}

/// Runs `f` as line `line` of the frame's file in the per-line profile (when one is armed).
pub fn line_frame<T>(rt: &Rt, fr: &Frame, line: usize, f: impl FnOnce() -> T) -> T {
    let key = (Rc::as_ptr(&fr.file) as usize, line as u32);
    rt.prof_frame(key, || (fr.file.name.clone(), crate::profiler::line_text(&fr.file.text, line as u32)), f)
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
                    assign(rt, fr, target, src.get(i)?)?;
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
    Err(exc("NameError", format!("name '{name}' is not defined{}", name_hint(fr, name))))
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
                Val::Obj(ob) => match ob.call_method(rt, "__delitem__", vec![k], vec![]) {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind == ErrorKind::AttributeError => Err(err(ErrorKind::TypeError, format!("'{}' object does not support item deletion", o.type_name()))),
                    Err(e) => Err(e),
                },
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
                stamped(rt, fr, e.start, rt.with_py_origin(&fr.file, e.start, e.end, || o.getslice(rt, l, u, s)).map_err(|x| locate(x, fr, idx.start)))?
            } else {
                let k = eval(rt, fr, idx)?;
                stamped(rt, fr, e.start, rt.with_py_origin(&fr.file, e.start, e.end, || o.getitem(rt, &k)).map_err(|x| locate(x, fr, idx.start)))?
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

/// A call's or a subscript's result, told the line that produced it (the call at byte `at` of
/// the frame's file) while a profile is armed: a QuerySet keeps it (see `profiler.rs`).
fn stamped(rt: &Rt, fr: &Frame, at: usize, v: SResult<Val>) -> SResult<Val> {
    if let (true, Ok(Val::Obj(o))) = (rt.profiling(), &v) {
        // The line is counted only for a value that keeps it (a QuerySet).
        o.built_at(&|| {
            let line = fr.file.text.get(..at).map_or(0, |t| t.matches('\n').count()) + 1;
            (Rc::as_ptr(&fr.file) as usize, line as u32)
        });
    }
    v
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
            stamped(rt, fr, e.start, rt.with_py_origin(&fr.file, e.start, e.end, || call_method(rt, &target, name, a, k)).map_err(|x| locate(x, fr, *at)))
        }
        _ => {
            let f = eval(rt, fr, func)?;
            let (a, k) = eval_args(rt, fr, args)?;
            stamped(rt, fr, e.start, rt.with_py_origin(&fr.file, e.start, e.end, || call_value(rt, &f, a, k)).map_err(|x| locate(x, fr, func.start)))
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
        assign(rt, cf, &g.target, src.get(i)?)?;
        for cond in &g.ifs {
            if !eval(rt, cf, cond)?.truthy(rt)? {
                continue 'items;
            }
        }
        comp_level(rt, cf, gens, level + 1, None, body)?;
    }
    Ok(())
}

/// What a `for` loop walks: a range or an `itertools.count()` lazily, anything else as a list
/// of its items.
pub enum IterSource {
    Range(i64, i64, usize),
    Items(Rc<Vec<Val>>),
    /// An `itertools.count()`, endless: the loop ends by `break` or by the work budget.
    Count(Val),
}

impl IterSource {
    pub fn of(rt: &Rt, v: &Val) -> SResult<IterSource> {
        if let Some(r) = v.as_obj::<RangeObj>() {
            return Ok(IterSource::Range(r.start, r.step, r.len()));
        }
        if v.as_obj::<super::objects::CountObj>().is_some() {
            return Ok(IterSource::Count(v.clone()));
        }
        Ok(IterSource::Items(v.iterate(rt)?))
    }
    pub fn len(&self) -> usize {
        match self {
            IterSource::Range(_, _, n) => *n,
            IterSource::Items(v) => v.len(),
            IterSource::Count(_) => usize::MAX,
        }
    }
    pub fn get(&self, i: usize) -> SResult<Val> {
        Ok(match self {
            IterSource::Range(start, step, _) => Val::Int(start + step * i as i64),
            IterSource::Items(v) => v[i].clone(),
            IterSource::Count(c) => c.as_obj::<super::objects::CountObj>().expect("a count").advance()?,
        })
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

// ---------------------------------------------------------------- operators

impl Object for Function {
    fn type_name(&self) -> String {
        "function".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn is_callable(&self) -> bool {
        true
    }
    fn call(&self, rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        super::interp::call_function(rt, self, args, kwargs)
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "__name__" => Ok(Val::str(&*self.def.name)),
            "__qualname__" => Ok(Val::str(&self.qualname)),
            "__doc__" => Ok(Val::None),
            "__module__" => Ok(Val::str(self.file.name.trim_end_matches(".py"))),
            _ => self.attrs.borrow().get(name).cloned().ok_or_else(|| no_attr("function", name)),
        }
    }
    fn setattr(&self, _rt: &Rt, name: &str, value: Val) -> SResult<()> {
        self.attrs.borrow_mut().insert(name.to_string(), value);
        Ok(())
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<function {}>", self.qualname))
    }
}

/// `. Did you mean: 'x'?` for a misspelt name, as Python 3.11 suggests.
pub fn name_hint(fr: &Frame, name: &str) -> String {
    let mut candidates: Vec<String> = fr.globals.vars.borrow().keys().map(|k| k.to_string()).collect();
    if let Some(s) = &fr.scope {
        let mut cur = Some(s.clone());
        while let Some(sc) = cur {
            candidates.extend(sc.vars.borrow().keys().map(|k| k.to_string()));
            cur = sc.parent.clone();
        }
    }
    candidates.extend(BUILTIN_NAMES.iter().map(|s| s.to_string()));
    let best = candidates
        .iter()
        .filter(|c| c.as_str() != name)
        .map(|c| (levenshtein(c, name), c))
        .filter(|(d, c)| *d <= 2.min((c.len() + name.len()) / 4 + 1) && *d > 0)
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!(". Did you mean: '{c}'?"),
        None => String::new(),
    }
}

/// Executes `src` as the module `name` (`views`), registering it for `import`.
pub fn exec_source_module(rt: &Rt, name: &str, filename: &str, src: &str) -> SResult<Rc<Namespace>> {
    let file = Rc::new(SourceFile { name: filename.to_string(), text: src.to_string() });
    let body = crate::py::parser::parse_module(src).map_err(|e| syntax_error_in(e, filename))?;
    let ns = Namespace::new();
    ns.set("__name__", Val::str(name));
    ns.set("__file__", Val::str(filename));
    let module = Val::obj(ModuleObj { name: name.to_string(), ns: ns.clone() });
    modules(rt).borrow_mut().insert(name.to_string(), module);
    if let Err(e) = crate::py::interp::exec_module(rt, file, ns.clone(), &body) {
        modules(rt).borrow_mut().remove(name);
        return Err(e);
    }
    Ok(ns)
}
