//! The test runner behind a `{"test": "tests.py"}` step, as pytest with pytest-django runs a
//! Django project's tests:
//!
//! - `django.test.TestCase` classes: a class-level `atomic()` (`BEGIN`), `setUpTestData` once
//!   with its attributes copied afresh for each test (Django's `TestData`), each test in its
//!   own savepoint rolled back afterwards; `TransactionTestCase` empties the tables after each
//!   test; `SimpleTestCase` refuses queries;
//! - pytest functions and `Test*` classes, with pytest-django's fixtures (`client`, `rf`, `db`,
//!   `django_user_model`, `django_assert_num_queries`, …) and `@pytest.mark.django_db`;
//! - the assertion messages of `unittest`, Django (`assertNumQueries`, `assertContains`,
//!   `assertRedirects`, …), pytest's rewritten `assert` and pytest-django.
//!
//! Results: `Class.method` or the function name, `pass`/`fail`/`error`/`skip`, and the first
//! line of `ExceptionType: message`.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use super::test_asserts::{testcase_method, CaptureQueries, NumCheck, RaisesCtx};
use super::test_client::{test_state, ClientObj, RequestFactoryObj};
use crate::db::transaction;
use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::py::builtins::object_class;
use crate::py::args::bind;
use crate::py::objects::{BoundMethod, Class, ClassVal, Descriptor, DescriptorKind, Function, Instance, NativeClass};
use crate::py::objects::{Namespace, NativeFn};
use crate::runtime::Rt;
use crate::value::{call_value, no_attr, Kwargs, Object, Val};

#[derive(Debug, Clone)]
pub struct TestResult {
    pub name: String,
    pub outcome: &'static str,
    /// The first line of `ExceptionType: message`.
    pub message: String,
    /// The whole message (a failed `assertNumQueries` lists the captured queries).
    pub detail: String,
}

const DB_BLOCKED: &str = "Database access not allowed, use the \"django_db\" mark, or the \"db\" or \"transactional_db\" fixtures to enable it.";

// ---------------------------------------------------------------- module names

pub fn module_names(module: &str) -> Vec<(&'static str, Val)> {
    match module {
        "django.test" => vec![
            ("TestCase", Val::obj(ClassVal(test_class("TestCase")))),
            ("TransactionTestCase", Val::obj(ClassVal(test_class("TransactionTestCase")))),
            ("SimpleTestCase", Val::obj(ClassVal(test_class("SimpleTestCase")))),
            ("Client", NativeFn::val("Client", |_, _, _| Ok(Val::obj(ClientObj::new())))),
            ("RequestFactory", NativeFn::val("RequestFactory", |_, _, _| Ok(Val::obj(RequestFactoryObj)))),
        ],
        "django.test.utils" => vec![("CaptureQueriesContext", NativeFn::val("CaptureQueriesContext", |_, _, _| Ok(Val::obj(CaptureQueries::new(None)))))],
        "pytest" => vec![
            ("fixture", NativeFn::val("fixture", fixture_decorator)),
            ("mark", Val::obj(MarkObj(None))),
            ("raises", NativeFn::val("raises", |rt, args, kwargs| {
                let a = bind("raises", args, kwargs, &["expected_exception", "match"], 1)?;
                let m = match &a[1] {
                    Some(v) if !v.is_none() => Some(v.to_str(rt)?),
                    _ => None,
                };
                Ok(Val::obj(RaisesCtx { expected: a[0].clone().expect("required"), pytest: true, matches: m, caught: Rc::new(RefCell::new(None)) }))
            })),
            ("fail", NativeFn::val("fail", |rt, args, kwargs| {
                let a = bind("fail", args, kwargs, &["reason", "pytrace"], 0)?;
                let msg = a[0].as_ref().map(|v| v.to_str(rt)).transpose()?.unwrap_or_default();
                Err(exc("Failed", msg))
            })),
            ("skip", NativeFn::val("skip", |rt, args, kwargs| {
                let a = bind("skip", args, kwargs, &["reason", "allow_module_level"], 0)?;
                let msg = a[0].as_ref().map(|v| v.to_str(rt)).transpose()?.unwrap_or_default();
                Err(exc("Skipped", msg))
            })),
        ],
        _ => vec![],
    }
}

thread_local! {
    static TEST_CLASSES: RefCell<std::collections::HashMap<&'static str, Rc<Class>>> = RefCell::new(Default::default());
}

/// The native `SimpleTestCase` → `TransactionTestCase` → `TestCase` classes.
fn test_class(name: &'static str) -> Rc<Class> {
    if let Some(c) = TEST_CLASSES.with(|m| m.borrow().get(name).cloned()) {
        return c;
    }
    let base = match name {
        "TestCase" => test_class("TransactionTestCase"),
        "TransactionTestCase" => test_class("SimpleTestCase"),
        _ => object_class(),
    };
    let c = Class::new_native(name, name, vec![base], NativeClass { name, method: testcase_method, init: None });
    TEST_CLASSES.with(|m| m.borrow_mut().insert(name, c.clone()));
    c
}

fn is_test_class(c: &Rc<Class>) -> bool {
    c.mro().iter().any(|k| k.native.is_some() && k.name == "SimpleTestCase")
}

fn test_kind(c: &Rc<Class>) -> &'static str {
    for k in c.mro() {
        if k.native.is_some() {
            match k.name.as_str() {
                "TestCase" => return "TestCase",
                "TransactionTestCase" => return "TransactionTestCase",
                "SimpleTestCase" => return "SimpleTestCase",
                _ => {}
            }
        }
    }
    "SimpleTestCase"
}

// ---------------------------------------------------------------- running a file

/// What pytest collected.
enum Item {
    Method { class: Rc<Class>, method: String },
    Function { name: String, func: Val, class: Option<Rc<Class>>, params: Vec<(String, Val)>, id: String },
}

/// Runs every test of `src` (the file `file`) and returns the results sorted by name.
pub fn run_tests(rt: &Rt, file: &str, src: &str) -> SResult<Vec<TestResult>> {
    let base = file.rsplit('/').next().unwrap_or(file);
    let mod_name = base.strip_suffix(".py").unwrap_or(base).to_string();
    test_state(rt).rewrite_asserts.borrow_mut().push(file.to_string());
    // Collection imports the module with the database blocked, as pytest-django does.
    rt.db_blocked.replace(Some(("RuntimeError", DB_BLOCKED.to_string())));
    let loaded = crate::py::interp::exec_source_module(rt, &mod_name, file, src);
    rt.db_blocked.replace(None);
    let ns = loaded?;
    let mut results = Vec::new();
    let items = collect(rt, &ns)?;
    // unittest classes run class by class, pytest items in file order.
    let mut i = 0;
    while i < items.len() {
        if let Item::Method { class, .. } = &items[i] {
            let class = class.clone();
            let mut methods = Vec::new();
            while i < items.len() {
                match &items[i] {
                    Item::Method { class: c, method } if Rc::ptr_eq(c, &class) => methods.push(method.clone()),
                    _ => break,
                }
                i += 1;
            }
            results.extend(run_unittest_class(rt, &class, &methods));
            continue;
        }
        if let Item::Function { name, func, class, params, id } = &items[i] {
            results.push(run_pytest_item(rt, &ns, name, func, class.as_ref(), params, id));
        }
        i += 1;
    }
    test_state(rt).rewrite_asserts.borrow_mut().retain(|f| f != file);
    results.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(results)
}

fn collect(rt: &Rt, ns: &Rc<Namespace>) -> SResult<Vec<Item>> {
    let mut items = Vec::new();
    let vars: Vec<(Rc<str>, Val)> = ns.vars.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (name, v) in vars {
        if let Some(c) = v.as_obj::<ClassVal>() {
            let c = c.0.clone();
            if c.native.is_some() {
                continue;
            }
            if is_test_class(&c) {
                // unittest's loader: methods named test*, sorted.
                let mut names: Vec<String> = Vec::new();
                for k in c.mro() {
                    for (n, val) in k.ns.vars.borrow().iter() {
                        if n.starts_with("test") && val.as_obj::<Function>().is_some() && !names.iter().any(|x| x == &**n) {
                            names.push(n.to_string());
                        }
                    }
                }
                names.sort();
                for m in names {
                    items.push(Item::Method { class: c.clone(), method: m });
                }
            } else if name.starts_with("Test") && c.lookup("__init__").is_none() {
                for (n, val) in c.ns.vars.borrow().iter() {
                    if n.starts_with("test") && val.as_obj::<Function>().is_some() {
                        push_parametrized(rt, &mut items, &format!("{name}.{n}"), val.clone(), Some(c.clone()))?;
                    }
                }
            }
            continue;
        }
        if name.starts_with("test") {
            if let Some(f) = v.as_obj::<Function>() {
                if f.attrs.borrow().get("_pytest_fixture").is_none() {
                    push_parametrized(rt, &mut items, &name, v.clone(), None)?;
                }
            }
        }
    }
    Ok(items)
}

/// One item per `@pytest.mark.parametrize` combination (ids as pytest makes them).
fn push_parametrized(rt: &Rt, items: &mut Vec<Item>, name: &str, func: Val, class: Option<Rc<Class>>) -> SResult<()> {
    let marks = marks_of(&func, class.as_ref());
    let mut combos: Vec<(Vec<(String, Val)>, Vec<String>)> = vec![(vec![], vec![])];
    for m in marks.iter().filter(|m| m.name == "parametrize").rev() {
        let names_v = m.args.first().cloned().unwrap_or(Val::None);
        let names: Vec<String> = match &names_v {
            Val::Str(s) => s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
            other => other.iterate(rt)?.iter().map(|x| x.to_str(rt)).collect::<SResult<_>>()?,
        };
        let values = m.args.get(1).cloned().unwrap_or(Val::list(vec![])).iterate(rt)?;
        let mut next = Vec::new();
        for (params, ids) in &combos {
            for (vi, v) in values.iter().enumerate() {
                let vals: Vec<Val> = if names.len() == 1 { vec![v.clone()] } else { v.iterate(rt)?.as_ref().clone() };
                let mut p = params.clone();
                let mut id_parts = ids.clone();
                for (ni, n) in names.iter().enumerate() {
                    let val = vals.get(ni).cloned().unwrap_or(Val::None);
                    id_parts.push(param_id(&val, n, vi));
                    p.push((n.clone(), val));
                }
                next.push((p, id_parts));
            }
        }
        combos = next;
    }
    for (params, ids) in combos {
        let id = if ids.is_empty() { String::new() } else { format!("[{}]", ids.join("-")) };
        items.push(Item::Function { name: format!("{name}{id}"), func: func.clone(), class: class.clone(), params, id });
    }
    Ok(())
}

fn param_id(v: &Val, name: &str, index: usize) -> String {
    match v {
        Val::Int(i) => i.to_string(),
        Val::Float(f) => crate::pyfmt::python_float_repr(*f),
        Val::Bool(b) => (if *b { "True" } else { "False" }).into(),
        Val::None => "None".into(),
        Val::Str(s) if s.is_ascii() => s.to_string(),
        _ => format!("{name}{index}"),
    }
}

// ---------------------------------------------------------------- outcomes

fn outcome_of(e: &SandboxError, in_call: bool) -> (&'static str, String) {
    let message = e.one_line().lines().next().unwrap_or("").to_string();
    OUTCOME_DETAIL.with(|d| *d.borrow_mut() = e.one_line());
    if e.is_a("Skipped") {
        return ("skip", message);
    }
    if in_call && (e.is_a("AssertionError") || e.is_a("Failed")) {
        return ("fail", message);
    }
    ("error", message)
}

thread_local! {
    /// The full text of the last outcome computed (picked up by `result`).
    static OUTCOME_DETAIL: RefCell<String> = const { RefCell::new(String::new()) };
}

fn pass(name: &str) -> TestResult {
    TestResult { name: name.to_string(), outcome: "pass", message: String::new(), detail: String::new() }
}

/// A result for a non-passing outcome; `detail` is the full text of that outcome's error.
fn result(name: &str, outcome: &'static str, message: String) -> TestResult {
    let detail = OUTCOME_DETAIL.with(|d| std::mem::take(&mut *d.borrow_mut()));
    let detail = if detail.is_empty() { message.clone() } else { detail };
    TestResult { name: name.to_string(), outcome, message, detail }
}

// ---------------------------------------------------------------- unittest classes

/// The class attributes `setUpTestData` set (re-copied for every test, as `TestData` does).
fn run_unittest_class(rt: &Rt, class: &Rc<Class>, methods: &[String]) -> Vec<TestResult> {
    let kind = test_kind(class);
    let qual = class.name.clone();
    let names: Vec<String> = methods.iter().map(|m| format!("{qual}.{m}")).collect();
    let fail_all = |e: &SandboxError| names.iter().map(|n| result(&n.clone(), "error", outcome_of(e, false).1)).collect::<Vec<_>>();
    let class_val = Val::obj(ClassVal(class.clone()));
    // setUpClass (the learner's, which may call super()), then the class-level atomic.
    rt.arm_budget(super::project::STEP_BUDGET_MS);
    if let Some(f) = class.lookup("setUpClass") {
        if let Err(e) = call_classmethod(rt, &f, &class_val) {
            return fail_all(&e);
        }
    }
    let class_atomic = kind == "TestCase";
    let mut test_data: Vec<(String, Val)> = Vec::new();
    if class_atomic {
        if let Err(e) = transaction::enter(rt, true) {
            return fail_all(&e);
        }
        if let Some(f) = class.lookup("setUpTestData") {
            let before: Vec<(Rc<str>, Val)> = class.ns.vars.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            if let Err(e) = call_classmethod(rt, &f, &class_val) {
                rollback_atomic(rt);
                return fail_all(&e);
            }
            for (k, v) in class.ns.vars.borrow().iter() {
                let unchanged = before.iter().any(|(bk, bv)| bk == k && crate::py::ops::identical(bv, v));
                if !unchanged {
                    test_data.push((k.to_string(), v.clone()));
                }
            }
        }
    }
    let mut results = Vec::new();
    for (m, name) in methods.iter().zip(names.iter()) {
        rt.arm_budget(super::project::STEP_BUDGET_MS);
        results.push(run_one_method(rt, class, kind, m, name, &test_data));
    }
    if class_atomic {
        rollback_atomic(rt);
    }
    if let Some(f) = class.lookup("tearDownClass") {
        let _ = call_classmethod(rt, &f, &class_val);
    }
    results
}

fn call_classmethod(rt: &Rt, f: &Val, class_val: &Val) -> SResult<Val> {
    match f.as_obj::<Descriptor>() {
        Some(d) if d.kind == DescriptorKind::Class => call_value(rt, &d.func, vec![class_val.clone()], vec![]),
        Some(d) => call_value(rt, &d.func, vec![], vec![]),
        None => call_value(rt, f, vec![class_val.clone()], vec![]),
    }
}

fn rollback_atomic(rt: &Rt) {
    set_rollback(rt);
    let _ = transaction::exit(rt, false);
}

fn set_rollback(rt: &Rt) {
    if crate::db::transaction::state(rt).borrow().in_atomic_block {
        crate::db::transaction::state(rt).borrow_mut().needs_rollback = true;
    }
}

fn run_one_method(rt: &Rt, class: &Rc<Class>, kind: &str, method: &str, name: &str, test_data: &[(String, Val)]) -> TestResult {
    let inst = Instance::new(class.clone());
    let me = Val::Obj(inst.clone());
    super::mail::reset_outbox(rt);
    inst.set_attr("client", Val::obj(ClientObj::new()));
    inst.set_attr("_testMethodName", Val::str(method));
    // Django's TestData: each test sees its own deep copy of setUpTestData's attributes.
    for (k, v) in test_data {
        let copy = match v {
            Val::Obj(_) | Val::List(_) | Val::Dict(_) => crate::py::pickle::pickle_copy(rt, v).unwrap_or_else(|_| v.clone()),
            other => other.clone(),
        };
        inst.set_attr(k, copy);
    }
    let atomic = kind == "TestCase";
    let blocked = kind == "SimpleTestCase";
    if atomic {
        if let Err(e) = transaction::enter(rt, true) {
            let (_, m) = outcome_of(&e, false);
            return result(&name.to_string(), "error", m);
        }
    }
    if blocked {
        rt.db_blocked.replace(Some(("DatabaseOperationForbidden", format!(
            "Database queries to 'default' are not allowed in SimpleTestCase subclasses. Either subclass TestCase or TransactionTestCase to ensure proper test isolation or add 'default' to tests.{}.databases to silence this failure.",
            class.name
        ))));
    }
    let call = |n: &str| -> SResult<()> {
        let f = crate::py::classes::instance_getattr(rt, &inst, n)?;
        call_value(rt, &f, vec![], vec![]).map(|_| ())
    };
    let mut res = pass(name);
    let record = |e: SandboxError, in_call: bool, r: &mut TestResult| {
        if r.outcome == "pass" {
            let (o, m) = outcome_of(&e, in_call);
            *r = result(name, o, m);
        }
    };
    match call("setUp") {
        Err(e) => record(e, false, &mut res),
        Ok(()) => {
            if let Err(e) = call(method) {
                record(e, true, &mut res);
            }
            if let Err(e) = call("tearDown") {
                record(e, false, &mut res);
            }
        }
    }
    drop(me);
    rt.db_blocked.replace(None);
    if atomic {
        rollback_atomic(rt);
    } else if kind == "TransactionTestCase" {
        // _fixture_teardown: flush every table.
        if let Err(e) = flush_tables(rt) {
            record(e, false, &mut res);
        }
    }
    res
}

/// `flush`: what a `TransactionTestCase` leaves behind (empty tables).
fn flush_tables(rt: &Rt) -> SResult<()> {
    let mut tables: Vec<&str> = Vec::new();
    for m in crate::schema::MODELS {
        tables.push(m.table);
        for mm in m.m2m {
            tables.push(mm.table);
        }
    }
    tables.extend(["auth_user_groups", "auth_user_user_permissions"]);
    for t in tables {
        let _ = rt.engine.borrow_mut().run(&format!("DELETE FROM \"{t}\""), &[]);
    }
    Ok(())
}

// ---------------------------------------------------------------- assertRaises / pytest.raises

// ---------------------------------------------------------------- capturing queries

// ---------------------------------------------------------------- the test client

// ---------------------------------------------------------------- pytest

/// `@pytest.fixture` (with or without arguments).
fn fixture_decorator(_rt: &Rt, args: Vec<Val>, _kwargs: Kwargs) -> SResult<Val> {
    fn mark(f: Val) -> SResult<Val> {
        match f.as_obj::<Function>() {
            Some(func) => {
                func.attrs.borrow_mut().insert("_pytest_fixture".into(), Val::Bool(true));
                Ok(f)
            }
            None => Err(err(ErrorKind::TypeError, "@pytest.fixture decorates a function")),
        }
    }
    match args.into_iter().next() {
        Some(f) if f.as_obj::<Function>().is_some() => mark(f),
        _ => Ok(NativeFn::val("fixture.<decorator>", |_, a, _| mark(a.into_iter().next().unwrap_or(Val::None)))),
    }
}

/// A pytest mark as applied to a test.
#[derive(Clone)]
struct Mark {
    name: String,
    args: Vec<Val>,
    kwargs: Kwargs,
}

/// `pytest.mark` and `pytest.mark.<name>` (a decorator, or called with arguments first).
struct MarkObj(Option<Mark>);

impl Object for MarkObj {
    fn type_name(&self) -> String {
        if self.0.is_some() { "MarkDecorator" } else { "MarkGenerator" }.into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match &self.0 {
            None => Ok(Val::obj(MarkObj(Some(Mark { name: name.to_string(), args: vec![], kwargs: vec![] })))),
            Some(_) => Err(no_attr("MarkDecorator", name)),
        }
    }
    fn is_callable(&self) -> bool {
        self.0.is_some()
    }
    fn call(&self, _rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        let Some(m) = &self.0 else { return Err(err(ErrorKind::TypeError, "'MarkGenerator' object is not callable")) };
        // `@pytest.mark.django_db` on a function or class: record the mark on it.
        if args.len() == 1 && kwargs.is_empty() && m.args.is_empty() {
            let target = &args[0];
            let applies = target.as_obj::<Function>().is_some() || target.as_obj::<ClassVal>().is_some();
            if applies {
                add_mark(target, m.clone());
                return Ok(target.clone());
            }
        }
        let mut nm = m.clone();
        nm.args.extend(args);
        nm.kwargs.extend(kwargs);
        Ok(Val::obj(MarkObj(Some(nm))))
    }
}

fn add_mark(target: &Val, m: Mark) {
    let store = Val::obj(MarkHolder(m));
    if let Some(f) = target.as_obj::<Function>() {
        let mut attrs = f.attrs.borrow_mut();
        let list = attrs.entry("pytestmark".into()).or_insert_with(|| Val::list(vec![]));
        if let Val::List(l) = list {
            l.borrow_mut().push(store);
        }
    } else if let Some(c) = target.as_obj::<ClassVal>() {
        let cur = c.0.ns.get("pytestmark").unwrap_or_else(|| Val::list(vec![]));
        if let Val::List(l) = &cur {
            l.borrow_mut().push(store);
        }
        c.0.ns.set("pytestmark", cur);
    }
}

struct MarkHolder(Mark);

impl Object for MarkHolder {
    fn type_name(&self) -> String {
        "Mark".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn marks_of(func: &Val, class: Option<&Rc<Class>>) -> Vec<Mark> {
    let mut out = Vec::new();
    let mut take = |v: Option<Val>| {
        if let Some(Val::List(l)) = v {
            for m in l.borrow().iter() {
                if let Some(h) = m.as_obj::<MarkHolder>() {
                    out.push(h.0.clone());
                } else if let Some(mo) = m.as_obj::<MarkObj>() {
                    if let Some(mm) = &mo.0 {
                        out.push(mm.clone());
                    }
                }
            }
        }
    };
    if let Some(f) = func.as_obj::<Function>() {
        take(f.attrs.borrow().get("pytestmark").cloned());
    }
    if let Some(c) = class {
        take(c.ns.get("pytestmark"));
    }
    out
}

/// Runs one pytest item: fixtures, then the function, inside pytest-django's test case.
fn run_pytest_item(rt: &Rt, ns: &Rc<Namespace>, name: &str, func: &Val, class: Option<&Rc<Class>>, params: &[(String, Val)], _id: &str) -> TestResult {
    rt.arm_budget(super::project::STEP_BUDGET_MS);
    let marks = marks_of(func, class);
    if let Some(skip) = marks.iter().find(|m| m.name == "skip") {
        let reason = skip.kwargs.iter().find(|(k, _)| k == "reason").map(|(_, v)| v.clone()).or_else(|| skip.args.first().cloned());
        let reason = reason.and_then(|r| r.to_str(rt).ok()).unwrap_or_else(|| "unconditional skip".into());
        let message = format!("Skipped: {reason}");
        return TestResult { name: name.to_string(), outcome: "skip", detail: message.clone(), message };
    }
    let Some(f) = func.as_obj::<Function>() else { return pass(name) };
    let def = f.def.clone();
    let mut wanted: Vec<String> = def.params.args.iter().map(|p| p.name.to_string()).collect();
    if class.is_some() && !wanted.is_empty() {
        wanted.remove(0); // self
    }
    // Which fixtures are needed, transitively (for db access).
    let db_mark = marks.iter().find(|m| m.name == "django_db");
    let mut transactional = db_mark.is_some_and(|m| m.kwargs.iter().any(|(k, v)| k == "transaction" && matches!(v, Val::Bool(true))));
    let mut all_fixtures = Vec::new();
    collect_fixture_names(ns, &wanted, &mut all_fixtures);
    if all_fixtures.iter().any(|n| n == "transactional_db") {
        transactional = true;
    }
    let db = db_mark.is_some() || all_fixtures.iter().any(|n| n == "db" || n == "transactional_db");
    if db && !transactional {
        if let Err(e) = transaction::enter(rt, true) {
            return result(&name.to_string(), "error", outcome_of(&e, false).1);
        }
    }
    if !db {
        rt.db_blocked.replace(Some(("RuntimeError", DB_BLOCKED.to_string())));
    }
    let result = (|| -> TestResult {
        let mut cache: Vec<(String, Val)> = params.to_vec();
        let mut args = Vec::new();
        for w in &wanted {
            match fixture_value(rt, ns, w, &mut cache, 0) {
                Ok(v) => args.push(v),
                Err(e) => {
                    let (o, m) = outcome_of(&e, false);
                    return result(&name.to_string(), if o == "skip" { "skip" } else { "error" }, m);
                }
            }
        }
        if let Some(c) = class {
            let inst = Val::Obj(Instance::new(c.clone()));
            args.insert(0, inst);
        }
        match call_value(rt, func, args, vec![]) {
            Ok(_) => pass(name),
            Err(e) => {
                let (o, m) = outcome_of(&e, true);
                result(&name.to_string(), o, m)
            }
        }
    })();
    rt.db_blocked.replace(None);
    if db && !transactional {
        rollback_atomic(rt);
    } else if transactional {
        let _ = flush_tables(rt);
    }
    result
}

const BUILTIN_FIXTURES: &[&str] = &[
    "client", "rf", "db", "transactional_db", "django_user_model", "django_username_field", "django_assert_num_queries",
    "django_assert_max_num_queries", "settings", "admin_user", "admin_client",
];

fn collect_fixture_names(ns: &Rc<Namespace>, names: &[String], out: &mut Vec<String>) {
    for n in names {
        if out.contains(n) {
            continue;
        }
        out.push(n.clone());
        if let Some(f) = ns.get(n).and_then(|v| v.as_obj::<Function>().map(|f| f.def.clone())) {
            let deps: Vec<String> = f.params.args.iter().map(|p| p.name.to_string()).collect();
            collect_fixture_names(ns, &deps, out);
        }
    }
}

fn fixture_value(rt: &Rt, ns: &Rc<Namespace>, name: &str, cache: &mut Vec<(String, Val)>, depth: usize) -> SResult<Val> {
    if let Some((_, v)) = cache.iter().find(|(n, _)| n == name) {
        return Ok(v.clone());
    }
    if depth > 30 {
        return Err(exc("RecursionError", format!("fixture '{name}' depends on itself")));
    }
    // A module fixture overrides a built-in one with the same name.
    let user_fixture = ns.get(name).filter(|v| v.as_obj::<Function>().is_some_and(|f| f.attrs.borrow().contains_key("_pytest_fixture")));
    let v = if let Some(f) = user_fixture {
        let def = f.as_obj::<Function>().expect("checked").def.clone();
        let mut args = Vec::new();
        for p in &def.params.args {
            args.push(fixture_value(rt, ns, &p.name, cache, depth + 1)?);
        }
        call_value(rt, &f, args, vec![])?
    } else {
        match name {
            "client" => Val::obj(ClientObj::new()),
            "rf" => Val::obj(RequestFactoryObj),
            "db" | "transactional_db" | "settings" => Val::None,
            "django_user_model" => Val::obj(crate::orm::model::ModelClass(&crate::schema::USER)),
            "django_username_field" => Val::str("username"),
            "django_assert_num_queries" | "django_assert_max_num_queries" => {
                let exact = name == "django_assert_num_queries";
                NativeFn::val(name, move |rt, a, k| {
                    let a = bind("django_assert_num_queries", a, k, &["num", "connection", "info"], 1)?;
                    let num = a[0].as_ref().and_then(|v| v.as_int()).ok_or_else(|| err(ErrorKind::TypeError, "the number of queries must be an integer"))?;
                    let info = a[2].as_ref().filter(|v| !v.is_none()).map(|v| v.to_str(rt)).transpose()?;
                    Ok(Val::obj(CaptureQueries::new(Some(NumCheck::PytestDjango { num, exact, info }))))
                })
            }
            other => {
                let mut available: Vec<String> = BUILTIN_FIXTURES.iter().map(|s| s.to_string()).collect();
                for (k, v) in ns.vars.borrow().iter() {
                    if v.as_obj::<Function>().is_some_and(|f| f.attrs.borrow().contains_key("_pytest_fixture")) {
                        available.push(k.to_string());
                    }
                }
                available.sort();
                return Err(exc("FixtureLookupError", format!("fixture '{other}' not found (available: {})", available.join(", "))));
            }
        }
    };
    cache.push((name.to_string(), v.clone()));
    Ok(v)
}

#[allow(dead_code)]
fn bound(func: Val, receiver: Val) -> Val {
    Val::obj(BoundMethod { func, receiver })
}
