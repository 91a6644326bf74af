//! What a test asserts: the assertion methods of `unittest` and Django's `TestCase`
//! (`assertEqual` with unittest's shortened reprs, `assertNumQueries`, `assertContains`,
//! `assertRedirects`, …), `assertRaises`/`pytest.raises` and `CaptureQueriesContext`, with
//! their own messages.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::http::Response;
use super::test_client::{capture_begin, capture_end, client_request, ClientObj, ClientRequest};
use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::py::args::bind;
use crate::py::objects::Instance;
use crate::py::objects::NativeFn;
use crate::runtime::Rt;
use crate::value::{call_value, no_attr, Kwargs, Object, Val};

/// `setUp`, `tearDown`, the `assert*` methods, `fail`, `skipTest` of the native TestCase.
pub(crate) fn testcase_method(_rt: &Rt, this: &Rc<Instance>, name: &str) -> Option<SResult<Val>> {
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
        "captureOnCommitCallbacks" => simple(|rt, _, a, k| {
            let a = bind("captureOnCommitCallbacks", a, k, &["using", "execute"], 0)?;
            let execute = a[1].as_ref().map(|v| v.truthy(rt)).transpose()?.unwrap_or(false);
            Ok(Val::obj(CaptureOnCommit { callbacks: Val::list(vec![]), execute, start: Cell::new(0) }))
        }),
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
                let chain = r.redirect_chain.borrow().clone();
                let url = if let Some(chain) = chain {
                    // A response that followed its redirects: judged by its chain.
                    if chain.is_empty() {
                        return Err(exc("AssertionError", format!("False is not true : {prefix}Response didn't redirect as expected: Response code was {code} (expected {status})")));
                    }
                    let first = chain[0].1 as i64;
                    assert_equal(rt, &Val::Int(first), &Val::Int(status), Some(&Val::str(format!("{prefix}Initial response didn't redirect as expected: Response code was {first} (expected {status})"))))?;
                    assert_equal(rt, &Val::Int(code), &Val::Int(target), Some(&Val::str(format!("{prefix}Response didn't redirect as expected: Final Response code was {code} (expected {target})"))))?;
                    chain.last().expect("not empty").0.clone()
                } else {
                    assert_equal(rt, &Val::Int(code), &Val::Int(status), Some(&Val::str(format!("{prefix}Response didn't redirect as expected: Response code was {code} (expected {status})"))))?;
                    let url = r.header("Location").unwrap_or_default();
                    if fetch {
                        let (path, _) = url.split_once('?').unwrap_or((&url, ""));
                        let client = me.get_attr("client").and_then(|c| c.as_obj::<ClientObj>().map(|c| c.user.get()));
                        let sent = ClientRequest { method: "GET".into(), path: url.clone(), session: client.flatten(), ..Default::default() };
                        let (rr, _) = client_request(rt, &sent)?;
                        let rcode = rr.as_obj::<Response>().map(|x| x.status.get() as i64).unwrap_or(0);
                        assert_equal(rt, &Val::Int(rcode), &Val::Int(target), Some(&Val::str(format!("{prefix}Couldn't retrieve redirection page '{path}': response code was {rcode} (expected {target})"))))?;
                    }
                    url
                };
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
pub(crate) fn fail(rt: &Rt, standard: String, msg: Option<&Val>) -> SResult<Val> {
    let m = match msg {
        Some(v) if !v.is_none() => format!("{standard} : {}", v.to_str(rt)?),
        _ => standard,
    };
    Err(exc("AssertionError", m))
}

/// unittest's `safe_repr`.
pub(crate) fn safe_repr(rt: &Rt, v: &Val) -> String {
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
pub(crate) fn assert_equal(rt: &Rt, first: &Val, second: &Val, msg: Option<&Val>) -> SResult<Val> {
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

impl WithSuffix for SandboxError {
    fn with_message_suffix(mut self, rt: &Rt, msg: Option<&Val>) -> Self {
        if let Some(m) = msg.filter(|m| !m.is_none()) {
            self.message.push_str(&format!(" : {}", m.to_str(rt).unwrap_or_default()));
        }
        self
    }
}

pub(crate) struct RaisesCtx {
    pub(crate) expected: Val,
    pub(crate) pytest: bool,
    pub(crate) matches: Option<String>,
    pub(crate) caught: Rc<RefCell<Option<Val>>>,
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

/// `with self.captureOnCommitCallbacks(execute=False) as callbacks:` — the `on_commit`
/// callbacks registered inside the block (the test's transaction never commits), run at the
/// block's end when `execute`, including those they register in turn.
pub(crate) struct CaptureOnCommit {
    callbacks: Val,
    execute: bool,
    start: Cell<usize>,
}

impl Object for CaptureOnCommit {
    fn type_name(&self) -> String {
        "_GeneratorContextManager".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn enter(&self, rt: &Rt) -> SResult<Val> {
        self.start.set(crate::db::transaction::state(rt).borrow().run_on_commit.len());
        Ok(self.callbacks.clone())
    }
    fn exit(&self, rt: &Rt, _error: Option<&SandboxError>) -> SResult<bool> {
        let Val::List(list) = &self.callbacks else { return Ok(false) };
        let mut start = self.start.get();
        loop {
            let pending: Vec<Val> = crate::db::transaction::state(rt).borrow().run_on_commit.iter().skip(start).map(|(_, f)| f.clone()).collect();
            let count = start + pending.len();
            for f in pending {
                list.borrow_mut().push(f.clone());
                if self.execute {
                    call_value(rt, &f, vec![], vec![])?;
                }
            }
            if count == crate::db::transaction::state(rt).borrow().run_on_commit.len() {
                break;
            }
            start = count;
        }
        Ok(false)
    }
}

/// What `with self.assertRaises(X) as cm:` binds: `cm.exception` / `excinfo.value`.
pub(crate) struct RaisesInfo(Rc<RefCell<Option<Val>>>);

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

pub(crate) enum NumCheck {
    Unittest(i64),
    PytestDjango { num: i64, exact: bool, info: Option<String> },
}

/// `CaptureQueriesContext(connection)`, `assertNumQueries(n)` and pytest-django's
/// `django_assert_num_queries(n)`.
pub(crate) struct CaptureQueries {
    check: Option<NumCheck>,
    start: Cell<usize>,
    captured: Rc<RefCell<Option<Vec<(String, f64)>>>>,
}

impl CaptureQueries {
    pub(crate) fn new(check: Option<NumCheck>) -> CaptureQueries {
        CaptureQueries { check, start: Cell::new(0), captured: Rc::new(RefCell::new(None)) }
    }
}

pub(crate) fn live_queries(rt: &Rt, start: usize) -> Vec<(String, f64)> {
    rt.queries_log.borrow().iter().skip(start).cloned().collect()
}

impl Object for CaptureQueries {
    fn type_name(&self) -> String {
        "CaptureQueriesContext".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn enter(&self, rt: &Rt) -> SResult<Val> {
        capture_begin(rt);
        self.start.set(rt.queries_log.borrow().len());
        *self.captured.borrow_mut() = None;
        Ok(Val::obj(CaptureView { start: self.start.get(), captured: self.captured.clone() }))
    }
    fn exit(&self, rt: &Rt, error: Option<&SandboxError>) -> SResult<bool> {
        capture_end(rt);
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
pub(crate) struct CaptureView {
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

pub(crate) trait WithSuffix {
    fn with_message_suffix(self, rt: &Rt, msg: Option<&Val>) -> Self;
}
