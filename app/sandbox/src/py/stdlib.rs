//! The standard-library modules views and tests reach for: `datetime`, `time` (on the lab's
//! virtual clock), `json`, `math`, `collections`, `functools`, `itertools`, `operator`,
//! `hashlib` and `typing`. `import` (in `import.rs`) asks here before it asks the host.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use crate::error::{err, ErrorKind, SResult};
use crate::py::args::bind;
use crate::py::objects::NativeFn;
use crate::runtime::Rt;
use crate::value::{call_value, no_attr, HashKey, Kwargs, Object, PyDict, Val};
use crate::py::collections::{DictKind, DictLike};
use crate::py::dates::{datetime_class, make_datetime, timedelta_class};
use crate::py::json::{json_loads, json_write, JsonOpts};

/// The names of the standard-library module `name`, or `None` when it is not one.
pub fn module_names(_rt: &Rt, name: &str) -> SResult<Option<Vec<(&'static str, Val)>>> {
    let exception = |n: &str| Val::obj(crate::py::objects::ExceptionClass(n.to_string()));
    Ok(Some(match name {
        "datetime" => vec![
            ("datetime", datetime_class()),
            ("timedelta", timedelta_class()),
            ("date", NativeFn::val("date", |rt, args, kwargs| {
                let a = bind("date", args, kwargs, &["year", "month", "day"], 3)?;
                make_datetime(rt, &[a[0].clone(), a[1].clone(), a[2].clone()])
            })),
        ],
        "time" => vec![
            ("time", NativeFn::val("time", |rt, _, _| Ok(Val::Float(rt.now_seconds())))),
            // The lab's clock is virtual: sleeping moves it at once (a transaction keeps
            // the database's write lock meanwhile, see `db::lock`).
            ("sleep", NativeFn::val("sleep", |rt, args, _| {
                let s = match args.first() {
                    Some(Val::Int(i)) => *i as f64,
                    Some(Val::Float(f)) => *f,
                    Some(Val::Bool(b)) => f64::from(u8::from(*b)),
                    Some(other) => return Err(err(ErrorKind::TypeError, format!("'{}' object cannot be interpreted as an integer or float", other.type_name()))),
                    None => return Err(err(ErrorKind::TypeError, "time.sleep() takes exactly one argument (0 given)")),
                };
                if s.is_nan() {
                    return Err(err(ErrorKind::ValueError, "Invalid value NaN (not a number)"));
                }
                if s < 0.0 {
                    return Err(err(ErrorKind::ValueError, "sleep length must be non-negative"));
                }
                rt.sleep(s)?;
                Ok(Val::None)
            })),
            ("perf_counter", NativeFn::val("perf_counter", |_, _, _| Ok(Val::Float(crate::clock::monotonic_ms() / 1000.0)))),
            ("monotonic", NativeFn::val("monotonic", |_, _, _| Ok(Val::Float(crate::clock::monotonic_ms() / 1000.0)))),
        ],
        "json" => vec![
            ("dumps", NativeFn::val("dumps", |rt, args, kwargs| {
                let a = bind("dumps", args, kwargs, &["obj", "skipkeys", "ensure_ascii", "check_circular", "allow_nan", "cls", "indent", "separators", "default", "sort_keys"], 1)?;
                let opts = JsonOpts {
                    indent: match &a[6] {
                        Some(Val::Int(i)) => Some(" ".repeat((*i).max(0) as usize)),
                        Some(Val::Str(s)) => Some(s.to_string()),
                        _ => None,
                    },
                    sort_keys: a[9].as_ref().map(|v| v.truthy(rt)).transpose()?.unwrap_or(false),
                    ensure_ascii: a[2].as_ref().map(|v| v.truthy(rt)).transpose()?.unwrap_or(true),
                    default: a[8].clone().filter(|v| !v.is_none()),
                    django: false,
                };
                let mut out = String::new();
                json_write(rt, a[0].as_ref().expect("required"), &opts, 0, &mut out)?;
                Ok(Val::str(out))
            })),
            ("loads", NativeFn::val("loads", |rt, args, _| {
                let s = args.first().ok_or_else(|| err(ErrorKind::TypeError, "loads() missing 1 required positional argument: 's'"))?.to_str(rt)?;
                json_loads(rt, &s)
            })),
            ("JSONDecodeError", exception("ValueError")),
        ],
        "math" => math_module(),
        "collections" => vec![
            ("defaultdict", NativeFn::val("defaultdict", |_, args, _| {
                let factory = args.first().cloned().filter(|v| !v.is_none());
                let d = match args.get(1) {
                    Some(Val::Dict(d)) => d.borrow().clone(),
                    _ => PyDict::new(),
                };
                Ok(Val::obj(DictLike { dict: Rc::new(RefCell::new(d)), kind: DictKind::Default(factory) }))
            })),
            ("Counter", NativeFn::val("Counter", |rt, args, _| {
                let c = DictLike { dict: Rc::new(RefCell::new(PyDict::new())), kind: DictKind::Counter };
                if let Some(src) = args.first() {
                    c.counter_update(rt, src)?;
                }
                Ok(Val::obj(c))
            })),
            ("OrderedDict", NativeFn::val("OrderedDict", |rt, args, kwargs| {
                crate::py::builtins::builtin(rt, "dict").map(|d| call_value(rt, &d, args, kwargs)).unwrap_or_else(|| Ok(Val::dict(PyDict::new())))
            })),
        ],
        "functools" => vec![
            ("wraps", NativeFn::val("wraps", |_, args, _| {
                let wrapped = args.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, "wraps() missing 1 required positional argument: 'wrapped'"))?;
                Ok(NativeFn::val("wraps.<decorator>", move |rt, a, _| {
                    let wrapper = a.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, "the decorator takes the wrapper"))?;
                    if let Val::Obj(o) = &wrapper {
                        let _ = o.setattr(rt, "__wrapped__", wrapped.clone());
                    }
                    Ok(wrapper)
                }))
            })),
            ("reduce", NativeFn::val("reduce", |rt, args, _| {
                if args.len() < 2 {
                    return Err(err(ErrorKind::TypeError, "reduce expected at least 2 arguments"));
                }
                let items = args[1].iterate(rt)?;
                let mut it = items.iter().cloned();
                let mut acc = match args.get(2) {
                    Some(init) => init.clone(),
                    None => it.next().ok_or_else(|| err(ErrorKind::TypeError, "reduce() of empty iterable with no initial value"))?,
                };
                for x in it {
                    acc = call_value(rt, &args[0], vec![acc, x], vec![])?;
                }
                Ok(acc)
            })),
            ("partial", NativeFn::val("partial", |_, args, kwargs| {
                let mut args = args.into_iter();
                let f = args.next().ok_or_else(|| err(ErrorKind::TypeError, "partial() needs a function"))?;
                let pre: Vec<Val> = args.collect();
                Ok(NativeFn::val("partial", move |rt, a, k| {
                    let mut all = pre.clone();
                    all.extend(a);
                    let mut kk = kwargs.clone();
                    kk.extend(k);
                    call_value(rt, &f, all, kk)
                }))
            })),
            ("lru_cache", NativeFn::val("lru_cache", memo_decorator)),
            ("cache", NativeFn::val("cache", memo_decorator)),
        ],
        "itertools" => vec![
            ("chain", NativeFn::val("chain", |rt, args, _| {
                let mut out = Vec::new();
                for a in &args {
                    out.extend(a.iterate(rt)?.iter().cloned());
                }
                Ok(Val::list(out))
            })),
            ("count", NativeFn::val("count", |_, args, kwargs| {
                let a = bind("count", args, kwargs, &["start", "step"], 0)?;
                let number = |v: Option<Val>, default: i64| match v {
                    None => Ok(Val::Int(default)),
                    Some(v @ (Val::Bool(_) | Val::Int(_) | Val::Float(_))) => Ok(v),
                    Some(_) => Err(err(ErrorKind::TypeError, "a number is required")),
                };
                let (start, step) = (number(a[0].clone(), 0)?, number(a[1].clone(), 1)?);
                Ok(Val::obj(crate::py::objects::CountObj { next: RefCell::new(start), step }))
            })),
            ("islice", NativeFn::val("islice", |rt, args, _| {
                if let Some(c) = args.first().and_then(|a| a.as_obj::<crate::py::objects::CountObj>()) {
                    return islice_count(rt, c, &args[1..]);
                }
                let items = args.first().ok_or_else(|| err(ErrorKind::TypeError, "islice expected 2 arguments"))?.iterate(rt)?;
                let n = |v: Option<&Val>| v.and_then(|x| x.as_int());
                let (start, stop, step) = match args.len() {
                    2 => (None, n(args.get(1)), None),
                    _ => (n(args.get(1)), n(args.get(2)), n(args.get(3))),
                };
                Ok(Val::list(crate::value::slice_vec(&items, start, stop, step)?))
            })),
            ("groupby", NativeFn::val("groupby", |rt, args, kwargs| {
                let a = bind("groupby", args, kwargs, &["iterable", "key"], 1)?;
                let items = a[0].as_ref().expect("required").iterate(rt)?;
                let key = a[1].clone().filter(|v| !v.is_none());
                let mut out: Vec<(Val, Vec<Val>)> = Vec::new();
                for x in items.iter() {
                    let k = match &key {
                        Some(f) => call_value(rt, f, vec![x.clone()], vec![])?,
                        None => x.clone(),
                    };
                    match out.last_mut() {
                        Some((lk, group)) if lk.py_eq(&k) => group.push(x.clone()),
                        _ => out.push((k, vec![x.clone()])),
                    }
                }
                Ok(Val::list(out.into_iter().map(|(k, g)| Val::tuple(vec![k, Val::list(g)])).collect()))
            })),
        ],
        "operator" => vec![
            ("attrgetter", NativeFn::val("attrgetter", |rt, args, _| {
                let names: Vec<String> = args.iter().map(|a| a.to_str(rt)).collect::<SResult<_>>()?;
                Ok(NativeFn::val("attrgetter", move |rt, a, _| {
                    let obj = a.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, "attrgetter expected 1 argument"))?;
                    let get = |n: &str| -> SResult<Val> {
                        let mut v = obj.clone();
                        for part in n.split('.') {
                            v = crate::py::methods::getattr(rt, &v, part)?;
                        }
                        Ok(v)
                    };
                    if names.len() == 1 {
                        get(&names[0])
                    } else {
                        Ok(Val::tuple(names.iter().map(|n| get(n)).collect::<SResult<_>>()?))
                    }
                }))
            })),
            ("itemgetter", NativeFn::val("itemgetter", |_, args, _| {
                Ok(NativeFn::val("itemgetter", move |rt, a, _| {
                    let obj = a.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, "itemgetter expected 1 argument"))?;
                    if args.len() == 1 {
                        obj.getitem(rt, &args[0])
                    } else {
                        Ok(Val::tuple(args.iter().map(|k| obj.getitem(rt, k)).collect::<SResult<_>>()?))
                    }
                }))
            })),
        ],
        "hashlib" => vec![("md5", NativeFn::val("md5", |rt, args, kwargs| {
            let data = match args.first() {
                Some(v) => v.to_str(rt)?,
                None => String::new(),
            };
            let _ = kwargs;
            Ok(Val::obj(Md5(RefCell::new(data.into_bytes()))))
        }))],
        "typing" => ["Any", "Optional", "List", "Dict", "Tuple", "Iterable", "Callable", "Union", "Sequence", "Set"]
            .iter()
            .map(|n| (*n, Val::obj(TypingAlias(n))))
            .collect(),
        _ => return Ok(None),
    }))
}

/// `functools.lru_cache` / `functools.cache`: memoizes by the arguments' hash keys.
fn memo_decorator(_rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let wrap = |f: Val| {
        let memo: Rc<RefCell<std::collections::HashMap<HashKey, Val>>> = Rc::new(RefCell::new(Default::default()));
        NativeFn::val("lru_cache_wrapper", move |rt, a, k| {
            let key_vals: Vec<Val> = a.iter().cloned().chain(k.iter().flat_map(|(n, v)| [Val::str(n), v.clone()])).collect();
            let key = Val::tuple(key_vals).hash_key()?;
            if let Some(v) = memo.borrow().get(&key) {
                return Ok(v.clone());
            }
            let v = call_value(rt, &f, a, k)?;
            memo.borrow_mut().insert(key, v.clone());
            Ok(v)
        })
    };
    match args.into_iter().next() {
        Some(f @ Val::Obj(_)) => Ok(wrap(f)),
        _ => {
            let _ = kwargs;
            Ok(NativeFn::val("lru_cache.<decorator>", move |_, a, _| {
                let f = a.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, "the decorator takes a function"))?;
                Ok(wrap(f))
            }))
        }
    }
}

fn math_module() -> Vec<(&'static str, Val)> {
    fn f1(name: &'static str, f: fn(f64) -> f64) -> (&'static str, Val) {
        (name, NativeFn::val(name, move |_, args, _| {
            let x = args.first().and_then(|a| a.as_f64()).ok_or_else(|| err(ErrorKind::TypeError, "must be real number"))?;
            Ok(Val::Float(f(x)))
        }))
    }
    fn int_result(name: &'static str, f: fn(f64) -> f64) -> (&'static str, Val) {
        (name, NativeFn::val(name, move |_, args, _| match args.first() {
            Some(Val::Int(i)) => Ok(Val::Int(*i)),
            Some(v) => {
                let x = v.as_f64().ok_or_else(|| err(ErrorKind::TypeError, "must be real number"))?;
                if !x.is_finite() {
                    return Err(err(ErrorKind::ValueError, "cannot convert float infinity to integer"));
                }
                Ok(Val::Int(f(x) as i64))
            }
            None => Err(err(ErrorKind::TypeError, format!("{name}() takes exactly one argument (0 given)"))),
        }))
    }
    vec![
        int_result("ceil", f64::ceil),
        int_result("floor", f64::floor),
        int_result("trunc", f64::trunc),
        ("sqrt", NativeFn::val("sqrt", |_, args, _| {
            let x = args.first().and_then(|a| a.as_f64()).ok_or_else(|| err(ErrorKind::TypeError, "must be real number"))?;
            if x < 0.0 {
                return Err(err(ErrorKind::ValueError, "math domain error"));
            }
            Ok(Val::Float(x.sqrt()))
        })),
        f1("exp", f64::exp),
        f1("fabs", f64::abs),
        f1("log10", f64::log10),
        f1("log2", f64::log2),
        ("log", NativeFn::val("log", |_, args, _| {
            let x = args.first().and_then(|a| a.as_f64()).ok_or_else(|| err(ErrorKind::TypeError, "must be real number"))?;
            if x <= 0.0 {
                return Err(err(ErrorKind::ValueError, "math domain error"));
            }
            Ok(Val::Float(match args.get(1).and_then(|b| b.as_f64()) {
                Some(b) => x.ln() / b.ln(),
                None => x.ln(),
            }))
        })),
        ("isnan", NativeFn::val("isnan", |_, args, _| Ok(Val::Bool(args.first().and_then(|a| a.as_f64()).is_some_and(f64::is_nan))))),
        ("isinf", NativeFn::val("isinf", |_, args, _| Ok(Val::Bool(args.first().and_then(|a| a.as_f64()).is_some_and(f64::is_infinite))))),
        ("pi", Val::Float(std::f64::consts::PI)),
        ("e", Val::Float(std::f64::consts::E)),
        ("inf", Val::Float(f64::INFINITY)),
        ("nan", Val::Float(f64::NAN)),
    ]
}

/// `typing.Optional[...]` and friends: annotations only.
struct TypingAlias(&'static str);

impl Object for TypingAlias {
    fn type_name(&self) -> String {
        "_SpecialForm".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getitem(&self, _rt: &Rt, _key: &Val) -> SResult<Val> {
        Ok(Val::obj(TypingAlias(self.0)))
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("typing.{}", self.0))
    }
}

/// `hashlib.md5(data)`.
struct Md5(RefCell<Vec<u8>>);

impl Object for Md5 {
    fn type_name(&self) -> String {
        "md5".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        let data = self.0.borrow().clone();
        match name {
            "hexdigest" => Ok(NativeFn::val("hexdigest", move |_, _, _| Ok(Val::str(crate::md5::hex(&data))))),
            _ => Err(no_attr("md5", name)),
        }
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        if name == "update" {
            let s = args.first().map(|a| a.to_str(rt)).transpose()?.unwrap_or_default();
            self.0.borrow_mut().extend_from_slice(s.as_bytes());
            return Ok(Val::None);
        }
        let f = self.getattr(rt, name)?;
        call_value(rt, &f, args, kwargs)
    }
}

/// `islice(count(…), [start,] stop[, step])`: the values it yields, taking from the counter as
/// many values as CPython's islice does once read to the end (up to `stop`, or `start` if later).
/// The bounds are checked as CPython's `islice_new` checks them, with its messages.
fn islice_count(rt: &Rt, c: &crate::py::objects::CountObj, bounds: &[Val]) -> SResult<Val> {
    if bounds.is_empty() || bounds.len() > 3 {
        let (which, n) = if bounds.is_empty() { ("at least", 2) } else { ("at most", 4) };
        return Err(err(ErrorKind::TypeError, format!("islice expected {which} {n} arguments, got {}", bounds.len() + 1)));
    }
    // CPython reads each bound as a size; anything that is not an integer reads as -1.
    let size = |v: &Val| match v {
        Val::Int(i) => *i,
        Val::Bool(b) => *b as i64,
        _ => -1,
    };
    let bad_stop = || err(ErrorKind::ValueError, "Stop argument for islice() must be None or an integer: 0 <= x <= sys.maxsize.");
    let stop_of = |v: &Val| match v {
        Val::None => Ok(-1),
        v if size(v) == -1 => Err(bad_stop()),
        v => Ok(size(v)),
    };
    let (start, stop) = match bounds {
        [stop] => (0, stop_of(stop)?),
        [start, stop, ..] => (if start.is_none() { 0 } else { size(start) }, stop_of(stop)?),
        [] => unreachable!("checked above"),
    };
    if start < 0 || stop < -1 {
        return Err(err(ErrorKind::ValueError, "Indices for islice() must be None or an integer: 0 <= x <= sys.maxsize."));
    }
    let step = match bounds.get(2) {
        Some(v) if !v.is_none() => size(v),
        _ => 1,
    };
    if step < 1 {
        return Err(err(ErrorKind::ValueError, "Step for islice() must be a positive integer or None."));
    }
    if stop == -1 {
        return Err(crate::py::objects::CountObj::endless());
    }
    let (start, stop, step) = (start as usize, stop as usize, step as usize);
    let taken = stop.max(start);
    if taken > crate::py::ops::MAX_LIST {
        return Err(err(ErrorKind::Budget, format!("islice() of {taken} values is more than the sandbox keeps in one list")));
    }
    let mut out = Vec::new();
    for i in 0..taken {
        rt.py_tick()?;
        let v = c.advance()?;
        if i >= start && i < stop && (i - start) % step == 0 {
            out.push(v);
        }
    }
    Ok(Val::list(out))
}
