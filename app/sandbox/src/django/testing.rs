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
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::http::Response;
use super::project::{handle, RequestSpec};
use crate::db::transaction;
use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::orm::model::Instance as ModelInstance;
use crate::py::builtins::object_class;
use crate::py::args::bind;
use crate::py::objects::{BoundMethod, Class, ClassVal, Descriptor, DescriptorKind, Function, Instance, NativeClass};
use crate::py::objects::{Namespace, NativeFn};
use crate::runtime::Rt;
use crate::value::{call_value, no_attr, Kwargs, Object, Val};

/// What the test machinery keeps for the session.
#[derive(Default)]
pub struct TestState {
    /// Test files whose `assert` statements report as pytest rewrites them.
    pub rewrite_asserts: RefCell<Vec<String>>,
    /// Open `CaptureQueriesContext`s (which keep a request from resetting the query log).
    pub no_reset_queries: std::cell::Cell<usize>,
}

pub fn test_state(rt: &Rt) -> Rc<TestState> {
    rt.state::<TestState>()
}

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

/// `setUp`, `tearDown`, the `assert*` methods, `fail`, `skipTest` of the native TestCase.
fn testcase_method(_rt: &Rt, this: &Rc<Instance>, name: &str) -> Option<SResult<Val>> {
    let me = this.clone();
    let simple = |f: fn(&Rt, &Rc<Instance>, Vec<Val>, Kwargs) -> SResult<Val>| {
        let me = me.clone();
        Some(Ok(NativeFn::val(name, move |rt, a, k| f(rt, &me, a, k))))
    };
    match name {
        "setUp" | "tearDown" | "setUpClass" | "tearDownClass" | "setUpTestData" => Some(Ok(NativeFn::val(name, |_, _, _| Ok(Val::None)))),
        "assertEqual" | "assertEquals" => simple(|rt, _, a, k| {
            let a = bind("assertEqual", a, k, &["first", "second", "msg"], 2)?;
            assert_equal(rt, a[0].as_ref().expect("required"), a[1].as_ref().expect("required"), a[2].as_ref())
        }),
        "assertNotEqual" => simple(|rt, _, a, k| {
            let a = bind("assertNotEqual", a, k, &["first", "second", "msg"], 2)?;
            let (x, y) = (a[0].as_ref().expect("required"), a[1].as_ref().expect("required"));
            if !crate::py::ops::compare(rt, crate::py::ast::CmpOp::NotEq, x, y)? {
                return fail(rt, format!("{} == {}", safe_repr(rt, x), safe_repr(rt, y)), a[2].as_ref());
            }
            Ok(Val::None)
        }),
        "assertTrue" | "assertFalse" => {
            let want = name == "assertTrue";
            let me = me.clone();
            let _ = me;
            Some(Ok(NativeFn::val(name, move |rt, a, k| {
                let a = bind(if want { "assertTrue" } else { "assertFalse" }, a, k, &["expr", "msg"], 1)?;
                let v = a[0].as_ref().expect("required");
                if v.truthy(rt)? != want {
                    let std = format!("{} is not {}", safe_repr(rt, v), if want { "true" } else { "false" });
                    return fail(rt, std, a[1].as_ref());
                }
                Ok(Val::None)
            })))
        }
        "assertIs" | "assertIsNot" => {
            let want = name == "assertIs";
            Some(Ok(NativeFn::val(name, move |rt, a, k| {
                let a = bind(if want { "assertIs" } else { "assertIsNot" }, a, k, &["expr1", "expr2", "msg"], 2)?;
                let (x, y) = (a[0].as_ref().expect("required"), a[1].as_ref().expect("required"));
                let same = crate::py::ops::identical(x, y);
                if same != want {
                    let std = if want { format!("{} is not {}", safe_repr(rt, x), safe_repr(rt, y)) } else { format!("unexpectedly identical: {}", safe_repr(rt, x)) };
                    return fail(rt, std, a[2].as_ref());
                }
                Ok(Val::None)
            })))
        }
        "assertIsNone" | "assertIsNotNone" => {
            let want = name == "assertIsNone";
            Some(Ok(NativeFn::val(name, move |rt, a, k| {
                let a = bind(if want { "assertIsNone" } else { "assertIsNotNone" }, a, k, &["obj", "msg"], 1)?;
                let x = a[0].as_ref().expect("required");
                if x.is_none() != want {
                    let std = if want { format!("{} is not None", safe_repr(rt, x)) } else { "unexpectedly None".to_string() };
                    return fail(rt, std, a[1].as_ref());
                }
                Ok(Val::None)
            })))
        }
        "assertIn" | "assertNotIn" => {
            let want = name == "assertIn";
            Some(Ok(NativeFn::val(name, move |rt, a, k| {
                let a = bind(if want { "assertIn" } else { "assertNotIn" }, a, k, &["member", "container", "msg"], 2)?;
                let (m, c) = (a[0].as_ref().expect("required"), a[1].as_ref().expect("required"));
                if c.contains(rt, m)? != want {
                    let std = if want {
                        format!("{} not found in {}", safe_repr(rt, m), safe_repr(rt, c))
                    } else {
                        format!("{} unexpectedly found in {}", safe_repr(rt, m), safe_repr(rt, c))
                    };
                    return fail(rt, std, a[2].as_ref());
                }
                Ok(Val::None)
            })))
        }
        "assertIsInstance" | "assertNotIsInstance" => {
            let want = name == "assertIsInstance";
            Some(Ok(NativeFn::val(name, move |rt, a, k| {
                let a = bind(if want { "assertIsInstance" } else { "assertNotIsInstance" }, a, k, &["obj", "cls", "msg"], 2)?;
                let (o, c) = (a[0].as_ref().expect("required"), a[1].as_ref().expect("required"));
                if crate::py::builtins::isinstance(rt, o, c)? != want {
                    let std = if want {
                        format!("{} is not an instance of {}", safe_repr(rt, o), c.repr(rt)?)
                    } else {
                        format!("{} is an instance of {}", safe_repr(rt, o), c.repr(rt)?)
                    };
                    return fail(rt, std, a[2].as_ref());
                }
                Ok(Val::None)
            })))
        }
        "assertGreater" | "assertGreaterEqual" | "assertLess" | "assertLessEqual" => {
            let which: &'static str = match name {
                "assertGreater" => "assertGreater",
                "assertGreaterEqual" => "assertGreaterEqual",
                "assertLess" => "assertLess",
                _ => "assertLessEqual",
            };
            Some(Ok(NativeFn::val(which, move |rt, a, k| {
                use crate::py::ast::CmpOp;
                let a = bind(which, a, k, &["a", "b", "msg"], 2)?;
                let (x, y) = (a[0].as_ref().expect("required"), a[1].as_ref().expect("required"));
                let (op, words) = match which {
                    "assertGreater" => (CmpOp::Gt, "not greater than"),
                    "assertGreaterEqual" => (CmpOp::GtE, "not greater than or equal to"),
                    "assertLess" => (CmpOp::Lt, "not less than"),
                    _ => (CmpOp::LtE, "not less than or equal to"),
                };
                if !crate::py::ops::compare(rt, op, x, y)? {
                    return fail(rt, format!("{} {words} {}", safe_repr(rt, x), safe_repr(rt, y)), a[2].as_ref());
                }
                Ok(Val::None)
            })))
        }
        "assertAlmostEqual" => simple(|rt, _, a, k| {
            let a = bind("assertAlmostEqual", a, k, &["first", "second", "places", "msg", "delta"], 2)?;
            let (x, y) = (a[0].as_ref().expect("required"), a[1].as_ref().expect("required"));
            if x.py_eq(y) {
                return Ok(Val::None);
            }
            let diff = (x.as_f64().unwrap_or(f64::NAN) - y.as_f64().unwrap_or(f64::NAN)).abs();
            if let Some(d) = a[4].as_ref().and_then(|d| d.as_f64()) {
                if diff <= d {
                    return Ok(Val::None);
                }
                return fail(rt, format!("{} != {} within {} delta ({} difference)", safe_repr(rt, x), safe_repr(rt, y), crate::pyfmt::python_float_repr(d), crate::pyfmt::python_float_repr(diff)), a[3].as_ref());
            }
            let places = a[2].as_ref().and_then(|p| p.as_int()).unwrap_or(7);
            let scale = 10f64.powi(places as i32);
            if (diff * scale).round() == 0.0 {
                return Ok(Val::None);
            }
            fail(rt, format!("{} != {} within {places} places ({} difference)", safe_repr(rt, x), safe_repr(rt, y), crate::pyfmt::python_float_repr(diff)), a[3].as_ref())
        }),
        "assertCountEqual" => simple(|rt, _, a, k| {
            let a = bind("assertCountEqual", a, k, &["first", "second", "msg"], 2)?;
            let x = a[0].as_ref().expect("required").iterate(rt)?;
            let mut y: Vec<Val> = a[1].as_ref().expect("required").iterate(rt)?.as_ref().clone();
            let mut ok = x.len() == y.len();
            if ok {
                for item in x.iter() {
                    match y.iter().position(|v| v.py_eq(item)) {
                        Some(p) => {
                            y.remove(p);
                        }
                        None => {
                            ok = false;
                            break;
                        }
                    }
                }
            }
            if !ok {
                return fail(rt, "Element counts were not equal:".into(), a[2].as_ref());
            }
            Ok(Val::None)
        }),
        "assertListEqual" | "assertTupleEqual" | "assertDictEqual" | "assertSetEqual" | "assertSequenceEqual" | "assertMultiLineEqual" => simple(|rt, _, a, k| {
            let a = bind("assertEqual", a, k, &["first", "second", "msg"], 2)?;
            assert_equal(rt, a[0].as_ref().expect("required"), a[1].as_ref().expect("required"), a[2].as_ref())
        }),
        "assertQuerySetEqual" => simple(|rt, _, a, k| {
            let a = bind("assertQuerySetEqual", a, k, &["qs", "values", "transform", "ordered", "msg"], 2)?;
            let qs = a[0].as_ref().expect("required");
            let items = qs.iterate(rt)?;
            let items: Vec<Val> = match &a[2] {
                Some(t) if !t.is_none() => items.iter().map(|x| call_value(rt, t, vec![x.clone()], vec![])).collect::<SResult<_>>()?,
                _ => items.as_ref().clone(),
            };
            let values: Vec<Val> = a[1].as_ref().expect("required").iterate(rt)?.as_ref().clone();
            let ordered = match &a[3] {
                Some(v) => v.truthy(rt)?,
                None => true,
            };
            if !ordered {
                let mut rest = values.clone();
                let same = items.len() == rest.len()
                    && items.iter().all(|x| match rest.iter().position(|v| v.py_eq(x)) {
                        Some(p) => {
                            rest.remove(p);
                            true
                        }
                        None => false,
                    });
                if !same {
                    return fail(rt, "Element counts were not equal:".into(), a[4].as_ref());
                }
                return Ok(Val::None);
            }
            if values.len() > 1 {
                if let Some(q) = qs.as_obj::<crate::orm::model::QuerySetObj>() {
                    if !q.ordered() {
                        return Err(err(ErrorKind::ValueError, "Trying to compare non-ordered queryset against more than one ordered value."));
                    }
                }
            }
            assert_equal(rt, &Val::list(items), &Val::list(values), a[4].as_ref())
        }),
        "assertRaises" | "assertRaisesMessage" => {
            let with_message = name == "assertRaisesMessage";
            Some(Ok(NativeFn::val(name, move |rt, a, k| {
                let mut a = a.into_iter();
                let expected = a.next().ok_or_else(|| err(ErrorKind::TypeError, "assertRaises() missing 1 required positional argument: 'expected_exception'"))?;
                let message = if with_message { Some(a.next().ok_or_else(|| err(ErrorKind::TypeError, "assertRaisesMessage() missing 1 required positional argument: 'expected_message'"))?.to_str(rt)?) } else { None };
                let ctx = RaisesCtx { expected, pytest: false, matches: message, caught: Rc::new(RefCell::new(None)) };
                let rest: Vec<Val> = a.collect();
                if rest.is_empty() {
                    return Ok(Val::obj(ctx));
                }
                // Call form: assertRaises(Exc, func, *args, **kwargs).
                let mut rest = rest.into_iter();
                let f = rest.next().expect("checked");
                let r = call_value(rt, &f, rest.collect(), k);
                ctx.check(rt, r.err().as_ref()).map(|_| Val::None)
            })))
        }
        "assertNumQueries" => simple(|rt, _, a, k| {
            let mut a = a.into_iter();
            let num = a.next().ok_or_else(|| err(ErrorKind::TypeError, "assertNumQueries() missing 1 required positional argument: 'num'"))?;
            let num = num.as_int().ok_or_else(|| err(ErrorKind::TypeError, "assertNumQueries() takes a number of queries"))?;
            let mut k = k;
            k.retain(|(n, _)| n != "using");
            let ctx = CaptureQueries::new(Some(NumCheck::Unittest(num)));
            let rest: Vec<Val> = a.collect();
            if rest.is_empty() {
                return Ok(Val::obj(ctx));
            }
            let mut rest = rest.into_iter();
            let f = rest.next().expect("checked");
            ctx.enter(rt)?;
            let r = call_value(rt, &f, rest.collect(), k);
            let exited = ctx.exit(rt, r.as_ref().err());
            r?;
            exited.map(|_| Val::None)
        }),
        "assertContains" | "assertNotContains" => {
            let want = name == "assertContains";
            Some(Ok(NativeFn::val(name, move |rt, a, k| {
                let fname = if want { "assertContains" } else { "assertNotContains" };
                let names: &[&str] = if want { &["response", "text", "count", "status_code", "msg_prefix", "html"] } else { &["response", "text", "status_code", "msg_prefix", "html"] };
                let a = bind(fname, a, k, names, 2)?;
                let get = |n: &str| names.iter().position(|x| *x == n).and_then(|i| a[i].clone());
                let resp = a[0].clone().expect("required");
                let text = a[1].as_ref().expect("required").to_str(rt)?;
                let status = get("status_code").and_then(|v| v.as_int()).unwrap_or(200);
                let prefix = match get("msg_prefix") {
                    Some(v) if !v.to_str(rt)?.is_empty() => format!("{}: ", v.to_str(rt)?),
                    _ => String::new(),
                };
                let r = resp.as_obj::<Response>().ok_or_else(|| err(ErrorKind::TypeError, format!("{fname}() needs a response")))?;
                let code = r.status.get() as i64;
                assert_equal(rt, &Val::Int(code), &Val::Int(status), Some(&Val::str(format!("{prefix}Couldn't retrieve content: Response code was {code} (expected {status})"))))?;
                let content = r.content.borrow().clone();
                let real = if text.is_empty() { content.chars().count() + 1 } else { content.matches(text.as_str()).count() } as i64;
                let text_repr = crate::pyfmt::python_str_repr(&text);
                if want {
                    match get("count").filter(|v| !v.is_none()) {
                        Some(c) => {
                            let c = c.as_int().unwrap_or(0);
                            assert_equal(rt, &Val::Int(real), &Val::Int(c), Some(&Val::str(format!("{prefix}Found {real} instances of {text_repr} (expected {c}) in the following response\n{}", crate::pyfmt::python_str_repr(&content)))))?;
                        }
                        None => {
                            if real == 0 {
                                return fail(rt, "False is not true".into(), Some(&Val::str(format!("{prefix}Couldn't find {text_repr} in the following response\n{}", crate::pyfmt::python_str_repr(&content)))));
                            }
                        }
                    }
                } else {
                    assert_equal(rt, &Val::Int(real), &Val::Int(0), Some(&Val::str(format!("{prefix}{text_repr} unexpectedly found in the following response\n{}", crate::pyfmt::python_str_repr(&content)))))?;
                }
                Ok(Val::None)
            })))
        }
        "assertRedirects" => {
            let me = me.clone();
            Some(Ok(NativeFn::val("assertRedirects", move |rt, a, k| {
                let a = bind("assertRedirects", a, k, &["response", "expected_url", "status_code", "target_status_code", "msg_prefix", "fetch_redirect_response"], 2)?;
                let resp = a[0].clone().expect("required");
                let expected = a[1].as_ref().expect("required").to_str(rt)?;
                let status = a[2].as_ref().and_then(|v| v.as_int()).unwrap_or(302);
                let target = a[3].as_ref().and_then(|v| v.as_int()).unwrap_or(200);
                let prefix = match &a[4] {
                    Some(v) if !v.to_str(rt)?.is_empty() => format!("{}: ", v.to_str(rt)?),
                    _ => String::new(),
                };
                let fetch = match &a[5] {
                    Some(v) => v.truthy(rt)?,
                    None => true,
                };
                let r = resp.as_obj::<Response>().ok_or_else(|| err(ErrorKind::TypeError, "assertRedirects() needs a response"))?;
                let code = r.status.get() as i64;
                assert_equal(rt, &Val::Int(code), &Val::Int(status), Some(&Val::str(format!("{prefix}Response didn't redirect as expected: Response code was {code} (expected {status})"))))?;
                let url = r.header("Location").unwrap_or_default();
                if fetch {
                    let (path, _) = url.split_once('?').unwrap_or((&url, ""));
                    let client = me.get_attr("client").and_then(|c| c.as_obj::<ClientObj>().map(|c| c.user.get()));
                    let spec = RequestSpec { method: "GET".into(), url: url.clone(), session: client.flatten(), post: vec![] };
                    let rr = handle(rt, &spec)?;
                    let rcode = rr.as_obj::<Response>().map(|x| x.status.get() as i64).unwrap_or(0);
                    assert_equal(rt, &Val::Int(rcode), &Val::Int(target), Some(&Val::str(format!("{prefix}Couldn't retrieve redirection page '{path}': response code was {rcode} (expected {target})"))))?;
                }
                assert_equal(rt, &Val::str(&url), &Val::str(&expected), Some(&Val::str(format!("{prefix}Response redirected to '{url}', expected '{expected}'"))))?;
                Ok(Val::None)
            })))
        }
        "assertTemplateUsed" | "assertTemplateNotUsed" => {
            let want = name == "assertTemplateUsed";
            Some(Ok(NativeFn::val(name, move |rt, a, k| {
                let a = bind(if want { "assertTemplateUsed" } else { "assertTemplateNotUsed" }, a, k, &["response", "template_name", "msg_prefix", "count"], 1)?;
                let resp = a[0].clone().expect("required");
                let r = resp.as_obj::<Response>().ok_or_else(|| err(ErrorKind::NotSupported, "assertTemplateUsed() as a context manager is not supported; pass the response"))?;
                let tname = a[1].as_ref().map(|v| v.to_str(rt)).transpose()?.unwrap_or_default();
                let used = r.templates.borrow().clone();
                let prefix = match &a[2] {
                    Some(v) if !v.to_str(rt)?.is_empty() => format!("{}: ", v.to_str(rt)?),
                    _ => String::new(),
                };
                let found = used.contains(&tname);
                if want {
                    if used.is_empty() {
                        return fail(rt, "False is not true".into(), Some(&Val::str(format!("{prefix}No templates used to render the response"))));
                    }
                    if !found {
                        return fail(rt, "False is not true".into(), Some(&Val::str(format!("{prefix}Template '{tname}' was not a template used to render the response. Actual template(s) used: {}", used.join(", ")))));
                    }
                } else if found {
                    return fail(rt, "True is not false".into(), Some(&Val::str(format!("{prefix}Template '{tname}' was used unexpectedly in rendering the response"))));
                }
                Ok(Val::None)
            })))
        }
        "fail" => Some(Ok(NativeFn::val("fail", |rt, a, _| {
            let m = a.first().map(|v| v.to_str(rt)).transpose()?.unwrap_or_default();
            Err(exc("AssertionError", m))
        }))),
        "skipTest" => Some(Ok(NativeFn::val("skipTest", |rt, a, _| {
            let m = a.first().map(|v| v.to_str(rt)).transpose()?.unwrap_or_default();
            Err(exc("Skipped", m))
        }))),
        "id" => {
            let me = me.clone();
            Some(Ok(NativeFn::val("id", move |_, _, _| {
                let m = me.get_attr("_testMethodName").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                Ok(Val::str(format!("tests.{}.{m}", me.class.name)))
            })))
        }
        _ => None,
    }
}

/// `self.fail(self._formatMessage(msg, standardMsg))`.
fn fail(rt: &Rt, standard: String, msg: Option<&Val>) -> SResult<Val> {
    let m = match msg {
        Some(v) if !v.is_none() => format!("{standard} : {}", v.to_str(rt)?),
        _ => standard,
    };
    Err(exc("AssertionError", m))
}

/// unittest's `safe_repr`.
fn safe_repr(rt: &Rt, v: &Val) -> String {
    v.repr(rt).unwrap_or_else(|_| format!("<{} object>", v.type_name()))
}

const MAX_LENGTH: usize = 80;
const PLACEHOLDER_LEN: usize = 12;
const MIN_BEGIN_LEN: usize = 5;
const MIN_END_LEN: usize = 5;
const MIN_COMMON_LEN: usize = 5;
const MIN_DIFF_LEN: usize = MAX_LENGTH - (MIN_BEGIN_LEN + PLACEHOLDER_LEN + MIN_COMMON_LEN + PLACEHOLDER_LEN + MIN_END_LEN);

fn shorten(s: &[char], prefixlen: usize, suffixlen: usize) -> String {
    let skip = s.len() as isize - prefixlen as isize - suffixlen as isize;
    if skip > PLACEHOLDER_LEN as isize {
        let head: String = s[..prefixlen].iter().collect();
        let tail: String = s[s.len() - suffixlen..].iter().collect();
        return format!("{head}[{skip} chars]{tail}");
    }
    s.iter().collect()
}

/// unittest's `_common_shorten_repr`.
fn common_shorten_repr(a: String, b: String) -> (String, String) {
    let (ac, bc): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let maxlen = ac.len().max(bc.len());
    if maxlen <= MAX_LENGTH {
        return (a, b);
    }
    let prefixlen = ac.iter().zip(bc.iter()).take_while(|(x, y)| x == y).count();
    let prefix = &ac[..prefixlen];
    let common_len = MAX_LENGTH as isize - (maxlen as isize - prefixlen as isize + MIN_BEGIN_LEN as isize + PLACEHOLDER_LEN as isize);
    if common_len > MIN_COMMON_LEN as isize {
        let p = shorten(prefix, MIN_BEGIN_LEN, common_len as usize);
        let ra: String = ac[prefixlen..].iter().collect();
        let rb: String = bc[prefixlen..].iter().collect();
        return (format!("{p}{ra}"), format!("{p}{rb}"));
    }
    let p = shorten(prefix, MIN_BEGIN_LEN, MIN_COMMON_LEN);
    (format!("{p}{}", shorten(&ac[prefixlen..], MIN_DIFF_LEN, MIN_END_LEN)), format!("{p}{}", shorten(&bc[prefixlen..], MIN_DIFF_LEN, MIN_END_LEN)))
}

/// `assertEqual` with unittest's type-specific messages.
fn assert_equal(rt: &Rt, first: &Val, second: &Val, msg: Option<&Val>) -> SResult<Val> {
    if crate::py::ops::compare(rt, crate::py::ast::CmpOp::Eq, first, second)? {
        return Ok(Val::None);
    }
    let same_type = first.type_name() == second.type_name();
    let (a, b) = common_shorten_repr(safe_repr(rt, first), safe_repr(rt, second));
    let standard = match (first, second) {
        (Val::List(_), Val::List(_)) => format!("Lists differ: {a} != {b}"),
        (Val::Tuple(_), Val::Tuple(_)) => format!("Tuples differ: {a} != {b}"),
        (Val::Set(x), Val::Set(y)) if same_type => {
            let (x, y) = (x.borrow(), y.borrow());
            let only_first = x.keys().iter().any(|k| !y.contains(k).unwrap_or(false));
            if only_first {
                "Items in the first set but not the second:".to_string()
            } else {
                "Items in the second set but not the first:".to_string()
            }
        }
        _ => format!("{a} != {b}"),
    };
    // Multi-line messages (lists, strings) put the custom message after the diff; only the
    // first line is reported anyway.
    let long = matches!((first, second), (Val::Str(_), Val::Str(_)) | (Val::List(_), Val::List(_)) | (Val::Tuple(_), Val::Tuple(_)) | (Val::Dict(_), Val::Dict(_)) | (Val::Set(_), Val::Set(_)));
    if long && same_type {
        return Err(exc("AssertionError", format!("{standard}\n")).with_message_suffix(rt, msg));
    }
    fail(rt, standard, msg)
}

trait WithSuffix {
    fn with_message_suffix(self, rt: &Rt, msg: Option<&Val>) -> Self;
}

impl WithSuffix for SandboxError {
    fn with_message_suffix(mut self, rt: &Rt, msg: Option<&Val>) -> Self {
        if let Some(m) = msg.filter(|m| !m.is_none()) {
            self.message.push_str(&format!(" : {}", m.to_str(rt).unwrap_or_default()));
        }
        self
    }
}

// ---------------------------------------------------------------- assertRaises / pytest.raises

struct RaisesCtx {
    expected: Val,
    pytest: bool,
    matches: Option<String>,
    caught: Rc<RefCell<Option<Val>>>,
}

impl RaisesCtx {
    fn expected_name(&self, rt: &Rt) -> String {
        match &self.expected {
            Val::Tuple(t) => t.iter().map(|c| class_display(rt, c, false)).collect::<Vec<_>>().join(", "),
            c => class_display(rt, c, false),
        }
    }

    /// The exception left the block (or not): Ok(true) to suppress it.
    fn check(&self, rt: &Rt, error: Option<&SandboxError>) -> SResult<bool> {
        match error {
            None => {
                if self.pytest {
                    let shown = match &self.expected {
                        Val::Tuple(t) => format!("({})", t.iter().map(|c| class_display(rt, c, true)).collect::<Vec<_>>().join(", ")),
                        c => class_display(rt, c, true),
                    };
                    Err(exc("Failed", format!("DID NOT RAISE {shown}")))
                } else {
                    Err(exc("AssertionError", format!("{} not raised", self.expected_name(rt))))
                }
            }
            Some(e) if e.kind == ErrorKind::Budget => Ok(false),
            Some(e) => {
                if !crate::py::classes::exception_matches(rt, e, &self.expected)? {
                    return Ok(false);
                }
                if let Some(m) = &self.matches {
                    let text = e.message.clone();
                    if self.pytest {
                        // pytest: re.search(match, str(exc)); the sandbox has no regexes, so
                        // a plain substring stands in (exact for literal patterns).
                        if !text.contains(m.as_str()) {
                            return Err(exc("AssertionError", format!("Regex pattern did not match.\n Expected regex: {}\n Actual message: {}", crate::pyfmt::python_str_repr(m), crate::pyfmt::python_str_repr(&text))));
                        }
                    } else if !text.contains(m.as_str()) {
                        return Err(exc("AssertionError", format!("{} not found in {}", crate::pyfmt::python_str_repr(m), crate::pyfmt::python_str_repr(&text))));
                    }
                }
                *self.caught.borrow_mut() = Some(crate::py::classes::exception_value(rt, e));
                Ok(true)
            }
        }
    }
}

/// A class as `assertRaises` (`IntegrityError`) or pytest (`<class '…IntegrityError'>`) shows it.
fn class_display(rt: &Rt, c: &Val, pytest: bool) -> String {
    let name = crate::py::methods::getattr(rt, c, "__name__").and_then(|n| n.to_str(rt)).unwrap_or_else(|_| c.type_name());
    if !pytest {
        return name;
    }
    c.repr(rt).unwrap_or(name)
}

impl Object for RaisesCtx {
    fn type_name(&self) -> String {
        if self.pytest { "RaisesContext" } else { "_AssertRaisesContext" }.into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn enter(&self, _rt: &Rt) -> SResult<Val> {
        Ok(Val::obj(RaisesInfo(self.caught.clone())))
    }
    fn exit(&self, rt: &Rt, error: Option<&SandboxError>) -> SResult<bool> {
        let r = self.check(rt, error)?;
        Ok(r)
    }
}

/// What `with self.assertRaises(X) as cm:` binds: `cm.exception` / `excinfo.value`.
struct RaisesInfo(Rc<RefCell<Option<Val>>>);

impl Object for RaisesInfo {
    fn type_name(&self) -> String {
        "ExceptionInfo".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        let v = self.0.borrow().clone();
        match name {
            "exception" | "value" => v.ok_or_else(|| err(ErrorKind::AttributeError, "the block has not raised yet")),
            "type" => match (v, crate::py::builtins::builtin(rt, "type")) {
                (Some(x), Some(t)) => call_value(rt, &t, vec![x], vec![]),
                _ => Ok(Val::None),
            },
            _ => Err(no_attr("ExceptionInfo", name)),
        }
    }
}

// ---------------------------------------------------------------- capturing queries

enum NumCheck {
    Unittest(i64),
    PytestDjango { num: i64, exact: bool, info: Option<String> },
}

/// `CaptureQueriesContext(connection)`, `assertNumQueries(n)` and pytest-django's
/// `django_assert_num_queries(n)`.
struct CaptureQueries {
    check: Option<NumCheck>,
    start: Cell<usize>,
    captured: Rc<RefCell<Option<Vec<(String, f64)>>>>,
}

impl CaptureQueries {
    fn new(check: Option<NumCheck>) -> CaptureQueries {
        CaptureQueries { check, start: Cell::new(0), captured: Rc::new(RefCell::new(None)) }
    }
}

fn live_queries(rt: &Rt, start: usize) -> Vec<(String, f64)> {
    let log = rt.queries_log.borrow();
    log[start.min(log.len())..].to_vec()
}

impl Object for CaptureQueries {
    fn type_name(&self) -> String {
        "CaptureQueriesContext".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn enter(&self, rt: &Rt) -> SResult<Val> {
        rt.force_debug_cursor.set(rt.force_debug_cursor.get() + 1);
        test_state(rt).no_reset_queries.set(test_state(rt).no_reset_queries.get() + 1);
        self.start.set(rt.queries_log.borrow().len());
        *self.captured.borrow_mut() = None;
        Ok(Val::obj(CaptureView { start: self.start.get(), captured: self.captured.clone() }))
    }
    fn exit(&self, rt: &Rt, error: Option<&SandboxError>) -> SResult<bool> {
        rt.force_debug_cursor.set(rt.force_debug_cursor.get().saturating_sub(1));
        let st = test_state(rt);
        st.no_reset_queries.set(st.no_reset_queries.get().saturating_sub(1));
        let captured = live_queries(rt, self.start.get());
        *self.captured.borrow_mut() = Some(captured.clone());
        if error.is_some() {
            return Ok(false);
        }
        let n = captured.len() as i64;
        match &self.check {
            None => {}
            Some(NumCheck::Unittest(num)) => {
                if n != *num {
                    let listed: Vec<String> = captured.iter().enumerate().map(|(i, (sql, _))| format!("{}. {sql}", i + 1)).collect();
                    return Err(exc("AssertionError", format!("{n} != {num} : {n} queries executed, {num} expected\nCaptured queries were:\n{}", listed.join("\n"))));
                }
            }
            Some(NumCheck::PytestDjango { num, exact, info }) => {
                if (*exact && n != *num) || (!*exact && n > *num) {
                    let done = if n == 1 { "1 was".to_string() } else { format!("{n} were") };
                    let mut msg = format!("Expected to perform {num} queries {}but {done} done", if *exact { "" } else { "or less " });
                    if let Some(i) = info {
                        msg.push('\n');
                        msg.push_str(i);
                    }
                    msg.push_str(" (add -v option to show queries)");
                    return Err(exc("Failed", msg));
                }
            }
        }
        Ok(false)
    }
}

/// What `with CaptureQueriesContext(connection) as ctx:` binds: `captured_queries`, `len()`.
struct CaptureView {
    start: usize,
    captured: Rc<RefCell<Option<Vec<(String, f64)>>>>,
}

impl CaptureView {
    fn queries(&self, rt: &Rt) -> Vec<(String, f64)> {
        match self.captured.borrow().as_ref() {
            Some(q) => q.clone(),
            None => live_queries(rt, self.start),
        }
    }
}

impl Object for CaptureView {
    fn type_name(&self) -> String {
        "CaptureQueriesContext".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        let q = self.queries(rt);
        match name {
            "captured_queries" => Ok(Val::list(q.iter().map(|(s, t)| Val::str_dict([("sql", Val::str(s)), ("time", Val::str(format!("{t:.3}")))])).collect())),
            "initial_queries" => Ok(Val::Int(self.start as i64)),
            "final_queries" => Ok(Val::Int((self.start + q.len()) as i64)),
            _ => Err(no_attr("CaptureQueriesContext", name)),
        }
    }
    fn len(&self, rt: &Rt) -> SResult<usize> {
        Ok(self.queries(rt).len())
    }
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        self.getattr(rt, "captured_queries")?.getitem(rt, key)
    }
    fn iterate(&self, rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        self.getattr(rt, "captured_queries")?.iterate(rt)
    }
}

// ---------------------------------------------------------------- the test client

/// `django.test.Client`: requests through the project's handler; `force_login` sets the
/// session user (and updates `last_login`, as `login()` does).
pub struct ClientObj {
    /// The logged-in user and when the session was made (shared with the client's bound
    /// methods, `self.client.get` passed as a callable).
    pub user: Rc<Cell<Option<(i64, i64)>>>,
}

impl ClientObj {
    pub fn new() -> ClientObj {
        ClientObj { user: Rc::new(Cell::new(None)) }
    }
}

impl Default for ClientObj {
    fn default() -> Self {
        ClientObj::new()
    }
}

fn encode_data(rt: &Rt, data: Option<&Val>) -> SResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    if let Some(Val::Dict(d)) = data {
        for (k, v) in d.borrow().items() {
            let key = k.to_str(rt)?;
            match &v {
                Val::List(_) | Val::Tuple(_) => {
                    for x in v.iterate(rt)?.iter() {
                        out.push((key.clone(), x.to_str(rt)?));
                    }
                }
                other => out.push((key, other.to_str(rt)?)),
            }
        }
    }
    Ok(out)
}

impl Object for ClientObj {
    fn type_name(&self) -> String {
        "Client".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        match name {
            "get" | "post" | "head" | "delete" | "put" | "patch" => {
                let a = bind(name, args, kwargs.into_iter().filter(|(k, _)| !k.starts_with("HTTP_") && k != "headers" && k != "content_type" && k != "secure").collect(), &["path", "data", "follow"], 1)?;
                let path = a[0].as_ref().expect("required").to_str(rt)?;
                let data = encode_data(rt, a[1].as_ref())?;
                let follow = a[2].as_ref().map(|v| v.truthy(rt)).transpose()?.unwrap_or(false);
                let method = name.to_uppercase();
                let (url, post) = if method == "GET" || method == "HEAD" || method == "DELETE" {
                    let qs: Vec<String> = data.iter().map(|(k, v)| format!("{}={}", super::http::url_encode(k), super::http::url_encode(v))).collect();
                    let url = if qs.is_empty() { path.clone() } else if path.contains('?') { format!("{path}&{}", qs.join("&")) } else { format!("{path}?{}", qs.join("&")) };
                    (url, vec![])
                } else {
                    (path.clone(), data)
                };
                if test_state(rt).no_reset_queries.get() == 0 {
                    rt.queries_log.borrow_mut().clear();
                }
                let mut resp = handle(rt, &RequestSpec { method: method.clone(), url, session: self.user.get(), post })?;
                let mut hops = 0;
                while follow && hops < 10 {
                    let Some(r) = resp.as_obj::<Response>() else { break };
                    let code = r.status.get();
                    let Some(loc) = r.header("Location").filter(|_| (300..400).contains(&code)) else { break };
                    resp = handle(rt, &RequestSpec { method: "GET".into(), url: loc, session: self.user.get(), post: vec![] })?;
                    hops += 1;
                }
                Ok(resp)
            }
            "force_login" => {
                let a = bind("force_login", args, kwargs, &["user", "backend"], 1)?;
                let user = a[0].clone().expect("required");
                let inst = user.as_obj::<ModelInstance>().filter(|i| i.model.name == "User").ok_or_else(|| err(ErrorKind::TypeError, "force_login() takes a User instance"))?.rc();
                let now = crate::py::dates::datetime_now(rt);
                inst.set_value("last_login", Val::DateTime(now));
                crate::orm::write::save(rt, &inst, vec![], vec![("update_fields".into(), Val::list(vec![Val::str("last_login")]))])?;
                self.user.set(inst.pk_value().map(|id| (id, rt.now_seconds().floor() as i64)));
                Ok(Val::None)
            }
            "logout" => {
                self.user.set(None);
                Ok(Val::None)
            }
            "login" => Err(err(ErrorKind::NotSupported, "client.login() checks a password, which the sandbox's users do not have: use client.force_login(user)")),
            _ => Err(no_attr("Client", name)),
        }
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "get" | "post" | "head" | "delete" | "put" | "patch" | "force_login" | "logout" | "login" => {
                // A bound method: `self.assertNumQueries(2, self.client.get, url)` calls it later.
                let me = ClientObj { user: self.user.clone() };
                let method = name.to_string();
                Ok(NativeFn::val(format!("Client.{name}"), move |rt, args, kwargs| me.call_method(rt, &method, args, kwargs)))
            }
            _ => Err(no_attr("Client", name)),
        }
    }
}

/// `RequestFactory` / pytest-django's `rf`: bare requests (no middleware, so no `user`).
struct RequestFactoryObj;

impl Object for RequestFactoryObj {
    fn type_name(&self) -> String {
        "RequestFactory".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        match name {
            "get" | "post" => {
                let a = bind(name, args, kwargs, &["path", "data"], 1)?;
                let path = a[0].as_ref().expect("required").to_str(rt)?;
                let data = encode_data(rt, a[1].as_ref())?;
                let (url, post) = if name == "get" && !data.is_empty() {
                    let qs: Vec<String> = data.iter().map(|(k, v)| format!("{}={}", super::http::url_encode(k), super::http::url_encode(v))).collect();
                    (format!("{path}?{}", qs.join("&")), vec![])
                } else {
                    (path, data)
                };
                let req = super::http::Request::new(&name.to_uppercase(), &url, vec![], None, post);
                req.no_user.set(true);
                Ok(Val::obj(req))
            }
            _ => Err(no_attr("RequestFactory", name)),
        }
    }
}

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
