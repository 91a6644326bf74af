//! `import`: the modules a lab's code can import — the parts of Django the labs use
//! (`django.shortcuts`, `django.db.models`, `django.core.cache`, `django.test`, …), the sample
//! app's `models` modules, the project's own `views`, and the standard-library modules views
//! and tests reach for (`datetime`, `json`, `time`, `collections`, `functools`, …).
//!
//! Each module is a namespace built on first import and kept for the session, so
//! `from django.core.cache import cache` twice gives the same object, as in Python.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::orm::instance::{Instance, ModelClass};
use crate::py::builtins::{bind, object_class, sort_values};
use crate::py::objects::{Class, ClassVal, ExceptionClass, ModuleObj, NativeClass, TypeObj};
use crate::py::{Namespace, NativeFn, SourceFile};
use crate::runtime::Rt;
use crate::schema::{self, Model, MODELS};
use crate::value::{call_value, no_attr, DateTime, HashKey, Kwargs, Object, PyDict, Val};

// ---------------------------------------------------------------- import

/// `import name` / `from name import …`: the module object.
pub fn import(rt: &Rt, name: &str) -> SResult<Val> {
    if let Some(m) = rt.django.borrow().modules.get(name) {
        return Ok(m.clone());
    }
    let names = match module_names(rt, name)? {
        Some(n) => n,
        None => return Err(not_found(name)),
    };
    let ns = Namespace::new();
    for (k, v) in names {
        ns.set(k, v);
    }
    let m = Val::obj(ModuleObj { name: name.to_string(), ns });
    rt.django.borrow_mut().modules.insert(name.to_string(), m.clone());
    // A submodule is an attribute of its package (`import django.db` then `django.db.models`).
    if let Some((parent, child)) = name.rsplit_once('.') {
        if let Ok(p) = import(rt, parent) {
            if let Some(pm) = p.as_obj::<ModuleObj>() {
                if pm.ns.get(child).is_none() {
                    pm.ns.set(child, m.clone());
                }
            }
        }
    }
    Ok(m)
}

fn not_found(name: &str) -> SandboxError {
    let top = name.split('.').next().unwrap_or(name);
    if UNSUPPORTED_STDLIB.contains(&top) {
        return err(
            ErrorKind::NotSupported,
            format!("the sandbox does not provide the module '{top}' (labs can use datetime, time, json, math, collections, functools, itertools, operator, hashlib, typing)"),
        );
    }
    exc("ModuleNotFoundError", format!("No module named '{name}'"))
}

const UNSUPPORTED_STDLIB: &[&str] = &[
    "os", "sys", "re", "random", "subprocess", "threading", "asyncio", "socket", "pathlib", "io", "logging", "decimal", "uuid",
    "string", "copy", "pickle", "sqlite3", "unittest", "urllib", "http", "csv", "statistics", "enum", "dataclasses", "inspect",
    "contextlib", "warnings", "traceback", "shutil", "tempfile", "glob", "requests",
];

/// Adds a hint to `cannot import name` for names that live in another module.
pub fn hint_import(mut e: SandboxError, module: &str, name: &str) -> SandboxError {
    if module == "views" {
        e.message = format!("cannot import name '{name}' from 'views' (views.py)");
        return e;
    }
    let home = MODULE_HOMES.iter().find(|(n, _)| *n == name).map(|(_, m)| *m);
    if let Some(home) = home {
        if home != module {
            e.message.push_str(&format!(" — `{name}` is in `{home}`: from {home} import {name}"));
        }
    } else if let Some(m) = MODELS.iter().find(|m| m.name == name) {
        e.message.push_str(&format!(" — `{name}` is in `{}`: from {} import {name}", m.module, m.module));
    }
    e
}

/// Where a commonly misplaced name lives.
const MODULE_HOMES: &[(&str, &str)] = &[
    ("render", "django.shortcuts"),
    ("get_object_or_404", "django.shortcuts"),
    ("redirect", "django.shortcuts"),
    ("HttpResponse", "django.http"),
    ("JsonResponse", "django.http"),
    ("Http404", "django.http"),
    ("reverse", "django.urls"),
    ("cache", "django.core.cache"),
    ("cache_page", "django.views.decorators.cache"),
    ("Paginator", "django.core.paginator"),
    ("Count", "django.db.models"),
    ("Q", "django.db.models"),
    ("F", "django.db.models"),
    ("Prefetch", "django.db.models"),
    ("transaction", "django.db"),
    ("post_save", "django.db.models.signals"),
    ("receiver", "django.dispatch"),
    ("TestCase", "django.test"),
    ("User", "django.contrib.auth.models"),
    ("timezone", "django.utils"),
];

/// Executes `src` as the module `name` (`views`), registering it for `import`.
pub fn exec_source_module(rt: &Rt, name: &str, filename: &str, src: &str) -> SResult<Rc<Namespace>> {
    let file = Rc::new(SourceFile { name: filename.to_string(), text: src.to_string() });
    let body = crate::py::parser::parse_module(src).map_err(|e| syntax_error_in(e, filename))?;
    let ns = Namespace::new();
    ns.set("__name__", Val::str(name));
    ns.set("__file__", Val::str(filename));
    let module = Val::obj(ModuleObj { name: name.to_string(), ns: ns.clone() });
    rt.django.borrow_mut().modules.insert(name.to_string(), module);
    if let Err(e) = crate::py::exec_module(rt, file, ns.clone(), &body) {
        rt.django.borrow_mut().modules.remove(name);
        return Err(e);
    }
    Ok(ns)
}

/// Python's `str(SyntaxError)`: `message (file, line N)`.
pub fn syntax_error_in(e: SandboxError, filename: &str) -> SandboxError {
    if e.kind != ErrorKind::SyntaxError {
        return e.in_source(filename.to_string());
    }
    let mut e = e.in_source(filename.to_string());
    if let Some(p) = e.pos {
        if !e.message.ends_with(')') || !e.message.contains(", line ") {
            e.message = format!("{} ({filename}, line {})", e.message, p.line);
        }
    }
    e
}

/// The names of a `run-cases` context expression (README: the models, `Prefetch`, `Count`,
/// `Q`, `Exists`, `OuterRef`, `Paginator`, and the rest of `django.db.models`' expressions).
/// A fresh namespace each time, so a walrus in one case cannot leak into the next.
pub fn shell_namespace(rt: &Rt) -> SResult<Rc<Namespace>> {
    let ns = Namespace::new();
    for m in MODELS.iter().filter(|m| !m.name.contains('_')) {
        ns.set(m.name, model_val(m));
    }
    for n in crate::orm::api::MODEL_API {
        ns.set(n, crate::orm::api::model_api(n));
    }
    for (n, v) in super::paginator::module_names() {
        ns.set(n, v);
    }
    let _ = rt;
    Ok(ns)
}

/// `manage.py shell` in a lab: Django 5.2's shell imports every installed app's models, and
/// the lab's shell also has the names of `views.py` (its functions, its imports), which take
/// precedence. Assignments stay in this namespace, not in the views module.
pub fn manage_shell_namespace(views: Option<&Rc<Namespace>>) -> Rc<Namespace> {
    let ns = Namespace::new();
    for m in MODELS.iter().filter(|m| !m.name.contains('_')) {
        ns.set(m.name, model_val(m));
    }
    if let Some(v) = views {
        for (k, x) in v.vars.borrow().iter() {
            if !k.starts_with("__") {
                ns.set(k, x.clone());
            }
        }
    }
    ns.set("__name__", Val::str("__main__"));
    ns
}

// ---------------------------------------------------------------- helpers for other modules

/// The class name `except`/`isinstance` should match for native class-like values.
pub fn exception_class_name(cls: &Val) -> Option<String> {
    if let Some(t) = cls.as_obj::<TypeObj>() {
        if crate::error::is_builtin_exception(t.name) {
            return Some(t.name.to_string());
        }
    }
    None
}

/// `type(v)` for the sandbox's own objects.
pub fn type_of_object(v: &Val) -> Option<Val> {
    if let Some(i) = v.as_obj::<Instance>() {
        return Some(Val::obj(ModelClass(i.model)));
    }
    if let Some(t) = v.as_obj::<crate::py::builtins::TimeDelta>() {
        let _ = t;
        return Some(timedelta_class());
    }
    None
}

/// `datetime.datetime`.
pub fn datetime_class() -> Val {
    Val::obj(DateTimeClass)
}

fn timedelta_class() -> Val {
    Val::obj(TypeObj { name: "timedelta", ctor: timedelta_ctor })
}

/// The class name a class-like value stands for in `isinstance` checks.
pub fn class_name_of(cls: &Val) -> Option<String> {
    if let Some(m) = cls.as_obj::<ModelClass>() {
        return Some(m.0.name.to_string());
    }
    if cls.as_obj::<DateTimeClass>().is_some() {
        return Some("datetime".into());
    }
    if let Some(t) = cls.as_obj::<TypeObj>() {
        return Some(t.name.to_string());
    }
    None
}

/// The custom QuerySet class of a model (`ArticleQuerySet`), executed once per session; its
/// namespace holds the methods (`published`).
pub fn queryset_namespace(rt: &Rt, model: &'static Model, src: &'static str) -> SResult<Option<Rc<Namespace>>> {
    if let Some(ns) = rt.django.borrow().qs_classes.get(model.name) {
        return Ok(Some(ns.clone()));
    }
    let file = Rc::new(SourceFile { name: format!("{}/models.py", model.app_label), text: src.to_string() });
    let body = crate::py::parser::parse_module(src)?;
    let globals = Namespace::new();
    globals.set("models", import(rt, "django.db.models")?);
    for m in MODELS {
        globals.set(m.name, Val::obj(ModelClass(m)));
    }
    crate::py::exec_module(rt, file, globals.clone(), &body)?;
    let class_ns = globals.vars.borrow().values().find_map(|v| v.as_obj::<ClassVal>().map(|c| c.0.ns.clone()));
    if let Some(ns) = &class_ns {
        rt.django.borrow_mut().qs_classes.insert(model.name, ns.clone());
    }
    Ok(class_ns)
}

fn native_class(name: &'static str) -> Val {
    thread_local! {
        static CLASSES: RefCell<std::collections::HashMap<&'static str, Rc<Class>>> = RefCell::new(Default::default());
    }
    let c = CLASSES.with(|m| {
        m.borrow_mut()
            .entry(name)
            .or_insert_with(|| Class::new_native(name, name, vec![object_class()], NativeClass { name, method: |_, _, _| None, init: None }))
            .clone()
    });
    Val::obj(ClassVal(c))
}

fn exception(name: &str) -> Val {
    Val::obj(ExceptionClass(name.to_string()))
}

fn model_val(m: &'static Model) -> Val {
    Val::obj(ModelClass(m))
}

fn kw<'a>(kwargs: &'a Kwargs, name: &str) -> Option<&'a Val> {
    kwargs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

// ---------------------------------------------------------------- the module table

fn module_names(rt: &Rt, name: &str) -> SResult<Option<Vec<(&'static str, Val)>>> {
    use super::cache as dc;
    use super::http;
    use crate::orm::api::{model_api, MODEL_API};
    let exceptions = |names: &[&'static str]| names.iter().map(|n| (*n, exception(n))).collect::<Vec<_>>();
    Ok(Some(match name {
        "django" | "django.contrib" | "django.views" | "django.views.decorators" | "django.core" | "django.template" => {
            let mut v = vec![];
            if name == "django" {
                v.push(("VERSION", Val::tuple(vec![Val::Int(5), Val::Int(2), Val::Int(0), Val::str("final"), Val::Int(0)])));
            }
            if name == "django.template" {
                v.extend(exceptions(&["TemplateSyntaxError", "TemplateDoesNotExist", "VariableDoesNotExist"]));
                v.push(("Template", NativeFn::val("Template", template_ctor)));
                v.push(("Context", NativeFn::val("Context", |_rt, args, _| Ok(args.into_iter().next().unwrap_or_else(|| Val::dict(PyDict::new()))))));
            }
            v
        }
        "django.shortcuts" => vec![
            ("render", super::project::render_fn()),
            ("get_object_or_404", super::project::get_object_or_404_fn(false)),
            ("get_list_or_404", super::project::get_object_or_404_fn(true)),
            ("redirect", super::project::redirect_fn()),
        ],
        "django.http" => {
            let mut v: Vec<(&'static str, Val)> = http::RESPONSE_CLASSES.iter().map(|n| (*n, http::response_class(n))).collect();
            v.extend(exceptions(&["Http404"]));
            v.push(("QueryDict", NativeFn::val("QueryDict", |rt, args, _| {
                let s = match args.first() {
                    Some(Val::None) | None => String::new(),
                    Some(v) => v.to_str(rt)?,
                };
                Ok(Val::obj(http::QueryDict::parse(&s)))
            })));
            v
        }
        "django.urls" => vec![
            ("reverse", super::project::reverse_fn()),
            ("reverse_lazy", super::project::reverse_fn()),
            ("resolve", super::project::resolve_fn()),
            ("NoReverseMatch", exception("NoReverseMatch")),
            ("Resolver404", exception("Resolver404")),
        ],
        "django.db" => vec![
            ("models", import(rt, "django.db.models")?),
            ("transaction", import(rt, "django.db.transaction")?),
            ("connection", Val::obj(Connection)),
            ("connections", Val::obj(Connections)),
            ("reset_queries", NativeFn::val("reset_queries", |rt, _, _| {
                rt.queries_log.borrow_mut().clear();
                Ok(Val::None)
            })),
            ("Error", exception("Error")),
            ("InterfaceError", exception("InterfaceError")),
            ("DatabaseError", exception("DatabaseError")),
            ("DataError", exception("DataError")),
            ("OperationalError", exception("OperationalError")),
            ("IntegrityError", exception("IntegrityError")),
            ("InternalError", exception("InternalError")),
            ("ProgrammingError", exception("ProgrammingError")),
            ("NotSupportedError", exception("NotSupportedError")),
        ],
        "django.db.models" => {
            let mut v: Vec<(&'static str, Val)> = MODEL_API.iter().map(|n| (*n, model_api(n))).collect();
            v.push(("Model", native_class("Model")));
            v.push(("QuerySet", native_class("QuerySet")));
            v.push(("Manager", native_class("Manager")));
            v.push(("TextChoices", native_class("TextChoices")));
            v.push(("CASCADE", Val::str("CASCADE")));
            v.push(("SET_NULL", Val::str("SET_NULL")));
            v.push(("PROTECT", Val::str("PROTECT")));
            v.push(("prefetch_related_objects", NativeFn::val("prefetch_related_objects", prefetch_related_objects_fn)));
            v.extend(exceptions(&["ObjectDoesNotExist", "FieldDoesNotExist", "ProtectedError", "RestrictedError"]));
            v
        }
        "django.db.models.functions" => {
            ["Lower", "Upper", "Length", "Coalesce", "Concat"].iter().map(|n| (*n, model_api(n))).collect()
        }
        "django.db.models.signals" => ["pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed", "pre_init", "post_init"]
            .iter()
            .map(|n| (*n, Val::obj(super::signals::SignalObj(n.to_string()))))
            .collect(),
        "django.db.transaction" => vec![
            ("atomic", super::transaction::atomic_factory()),
            ("on_commit", NativeFn::val("on_commit", |rt, args, kwargs| {
                let a = bind("on_commit", args, kwargs, &["func", "using", "robust"], 1)?;
                super::transaction::on_commit(rt, a[0].clone().expect("required"))?;
                Ok(Val::None)
            })),
            ("get_autocommit", NativeFn::val("get_autocommit", |rt, _, _| Ok(Val::Bool(!rt.django.borrow().tx.in_atomic_block)))),
            ("TransactionManagementError", exception("TransactionManagementError")),
        ],
        "django.dispatch" => vec![
            ("receiver", super::signals::receiver_decorator()),
            ("Signal", NativeFn::val("Signal", |rt, _, _| {
                let n = {
                    let mut d = rt.django.borrow_mut();
                    d.signal_counter += 1;
                    d.signal_counter
                };
                Ok(Val::obj(super::signals::SignalObj(format!("signal{n}"))))
            })),
        ],
        "django.core.cache" => vec![("cache", Val::obj(dc::CacheObj)), ("caches", Val::obj(dc::CachesObj))],
        "django.core.cache.utils" => vec![("make_template_fragment_key", NativeFn::val("make_template_fragment_key", |rt, args, kwargs| {
            let a = bind("make_template_fragment_key", args, kwargs, &["fragment_name", "vary_on"], 1)?;
            let name = a[0].as_ref().expect("required").to_str(rt)?;
            let vary: Vec<String> = match &a[1] {
                None | Some(Val::None) => vec![],
                Some(v) => v.iterate(rt)?.iter().map(|x| x.to_str(rt)).collect::<SResult<_>>()?,
            };
            Ok(Val::str(crate::template::make_template_fragment_key(&name, &vary)))
        }))],
        "django.core.paginator" => super::paginator::module_names(),
        "django.core.mail" => super::mail::module_names(),
        "django.core.exceptions" => exceptions(&[
            "ObjectDoesNotExist", "MultipleObjectsReturned", "FieldError", "FieldDoesNotExist", "ValidationError", "PermissionDenied",
            "ImproperlyConfigured", "SuspiciousOperation", "EmptyResultSet",
        ]),
        "django.views.decorators.cache" => vec![
            ("cache_page", dc::cache_page_factory()),
            ("never_cache", dc::response_decorator("never_cache", vec![], vec![])),
            ("cache_control", dc::cache_control_factory()),
        ],
        "django.views.decorators.vary" => vec![
            ("vary_on_headers", dc::vary_on_headers_factory()),
            ("vary_on_cookie", dc::response_decorator("vary_on_cookie", vec!["Cookie".into()], vec![])),
        ],
        "django.views.decorators.http" => vec![
            ("require_http_methods", NativeFn::val("require_http_methods", |rt, args, kwargs| {
                let a = bind("require_http_methods", args, kwargs, &["request_method_list"], 1)?;
                let methods: Vec<String> = a[0].as_ref().expect("required").iterate(rt)?.iter().map(|m| m.to_str(rt)).collect::<SResult<_>>()?;
                Ok(require_methods(methods))
            })),
            ("require_GET", require_methods(vec!["GET".into()])),
            ("require_POST", require_methods(vec!["POST".into()])),
            ("require_safe", require_methods(vec!["GET".into(), "HEAD".into()])),
        ],
        "django.contrib.auth" => vec![("get_user_model", NativeFn::val("get_user_model", |_, _, _| Ok(model_val(&schema::USER))))],
        "django.contrib.auth.models" => vec![
            ("User", model_val(&schema::USER)),
            ("AnonymousUser", NativeFn::val("AnonymousUser", |_, _, _| Ok(Val::obj(http::AnonymousUser)))),
        ],
        "django.contrib.auth.decorators" => vec![("login_required", NativeFn::val("login_required", login_required))],
        "django.template.loader" => vec![
            ("render_to_string", NativeFn::val("render_to_string", |rt, args, kwargs| {
                let a = bind("render_to_string", args, kwargs, &["template_name", "context", "request", "using"], 1)?;
                let name = a[0].as_ref().expect("required").to_str(rt)?;
                Ok(Val::safe(super::project::render_to_string(rt, &name, a[1].as_ref())?.0))
            })),
            ("get_template", NativeFn::val("get_template", |rt, args, kwargs| {
                let a = bind("get_template", args, kwargs, &["template_name", "using"], 1)?;
                let name = a[0].as_ref().expect("required").to_str(rt)?;
                super::project::current(rt)?.template(&name)?;
                Ok(Val::obj(LoadedTemplate(name)))
            })),
        ],
        "django.utils" => vec![("timezone", import(rt, "django.utils.timezone")?)],
        "django.utils.timezone" => vec![
            ("now", NativeFn::val("now", |rt, _, _| Ok(Val::DateTime(crate::py::interp::datetime_now(rt))))),
            ("localtime", NativeFn::val("localtime", |rt, args, _| Ok(args.into_iter().next().unwrap_or(Val::DateTime(crate::py::interp::datetime_now(rt)))))),
            ("is_aware", NativeFn::val("is_aware", |_, _, _| Ok(Val::Bool(false)))),
            ("is_naive", NativeFn::val("is_naive", |_, _, _| Ok(Val::Bool(true)))),
            ("timedelta", timedelta_class()),
        ],
        "django.utils.html" => vec![
            ("escape", NativeFn::val("escape", |rt, args, _| {
                let s = args.first().map(|a| a.to_str(rt)).transpose()?.unwrap_or_default();
                Ok(Val::safe(crate::template::escape(&s)))
            })),
            ("format_html", NativeFn::val("format_html", format_html)),
        ],
        "django.utils.safestring" => vec![("mark_safe", NativeFn::val("mark_safe", |rt, args, _| {
            let s = args.first().map(|a| a.to_str(rt)).transpose()?.unwrap_or_default();
            Ok(Val::safe(s))
        }))],
        "django.conf" => vec![("settings", Val::obj(Settings))],
        "django.test" => super::testing::module_names("django.test"),
        "django.test.utils" => super::testing::module_names("django.test.utils"),
        "pytest" => super::testing::module_names("pytest"),
        "views" => return Ok(None),
        "articles" | "orgs" | "tasks" => vec![],
        "articles.models" | "orgs.models" | "tasks.models" => {
            let app = name.split('.').next().expect("app");
            let mut v: Vec<(&'static str, Val)> = MODELS.iter().filter(|m| m.app_label == app && !m.name.contains('_')).map(|m| (m.name, model_val(m))).collect();
            v.push(("models", import(rt, "django.db.models")?));
            v.push(("settings", Val::obj(Settings)));
            v
        }
        // ------------------------------------------------------------ standard library
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
            // the database's write lock meanwhile, see `dblock`).
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
                crate::django::dblock::sleep(rt, s)?;
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
            ("islice", NativeFn::val("islice", |rt, args, _| {
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
                            v = crate::py::interp::getattr(rt, &v, part)?;
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

// ---------------------------------------------------------------- pieces of the modules above

/// `django.db.connection`: `queries` (only while a debug cursor is forced, as with `DEBUG =
/// False`), `vendor`, `in_atomic_block`.
struct Connection;

impl Object for Connection {
    fn type_name(&self) -> String {
        "DatabaseWrapper".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        Ok(match name {
            "queries" => Val::list(
                rt.queries_log
                    .borrow()
                    .iter()
                    .map(|(sql, secs)| Val::str_dict([("sql", Val::str(sql)), ("time", Val::str(format!("{secs:.3}")))]))
                    .collect(),
            ),
            "vendor" => Val::str("sqlite"),
            "alias" => Val::str("default"),
            "in_atomic_block" => Val::Bool(rt.django.borrow().tx.in_atomic_block),
            "force_debug_cursor" => Val::Bool(rt.force_debug_cursor.get() > 0),
            "cursor" => return Err(err(ErrorKind::NotSupported, "raw cursors are not available in the sandbox: use the ORM, or the SQL console")),
            _ => return Err(no_attr("DatabaseWrapper", name)),
        })
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok("<DatabaseWrapper vendor='sqlite' alias='default'>".into())
    }
}

struct Connections;

impl Object for Connections {
    fn type_name(&self) -> String {
        "ConnectionHandler".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getitem(&self, _rt: &Rt, key: &Val) -> SResult<Val> {
        match key.as_str() {
            Some("default") => Ok(Val::obj(Connection)),
            _ => Err(exc("ConnectionDoesNotExist", format!("The connection '{}' doesn't exist.", key.as_str().unwrap_or("?")))),
        }
    }
}

/// `django.conf.settings`, as the run-project contract sets it.
struct Settings;

impl Object for Settings {
    fn type_name(&self) -> String {
        "Settings".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        let strs = |v: &[&str]| Val::list(v.iter().map(Val::str).collect());
        Ok(match name {
            "DEBUG" | "USE_TZ" | "USE_I18N" | "APPEND_SLASH" => Val::Bool(name == "APPEND_SLASH"),
            "TIME_ZONE" => Val::str("UTC"),
            "AUTH_USER_MODEL" => Val::str("auth.User"),
            "LOGIN_URL" => Val::str("/accounts/login/"),
            "ROOT_URLCONF" => Val::str("urls"),
            "SESSION_ENGINE" => Val::str("django.contrib.sessions.backends.signed_cookies"),
            "CACHE_MIDDLEWARE_SECONDS" => Val::Int(600),
            "CACHE_MIDDLEWARE_KEY_PREFIX" => Val::str(""),
            "DEFAULT_AUTO_FIELD" => Val::str("django.db.models.BigAutoField"),
            "MIDDLEWARE" => strs(&["django.contrib.sessions.middleware.SessionMiddleware", "django.contrib.auth.middleware.AuthenticationMiddleware"]),
            "INSTALLED_APPS" => strs(&["django.contrib.contenttypes", "django.contrib.auth", "articles", "orgs", "tasks"]),
            "CACHES" => Val::str_dict([(
                "default",
                Val::str_dict([("BACKEND", Val::str("django.core.cache.backends.locmem.LocMemCache")), ("LOCATION", Val::str("run-project"))]),
            )]),
            _ => return Err(no_attr("Settings", name)),
        })
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok("<Settings \"project.settings\">".into())
    }
}

/// What `get_template(name)` returns: `render(context=None, request=None)`.
struct LoadedTemplate(String);

impl Object for LoadedTemplate {
    fn type_name(&self) -> String {
        "Template".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        let n = self.0.clone();
        match name {
            "render" => Ok(NativeFn::val("render", move |rt, args, kwargs| {
                let a = bind("render", args, kwargs, &["context", "request"], 0)?;
                Ok(Val::safe(super::project::render_to_string(rt, &n, a[0].as_ref())?.0))
            })),
            _ => Err(no_attr("Template", name)),
        }
    }
}

/// `django.template.Template(source)`: compiled now, rendered with `.render(Context(dict))`.
fn template_ctor(rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let a = bind("Template", args, kwargs, &["template_string", "origin", "name", "engine"], 1)?;
    let src = a[0].as_ref().expect("required").to_str(rt)?;
    let t = Rc::new(crate::template::Template::parse(&src)?);
    Ok(Val::obj(InlineTemplate(t)))
}

struct InlineTemplate(Rc<crate::template::Template>);

impl Object for InlineTemplate {
    fn type_name(&self) -> String {
        "Template".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        let t = self.0.clone();
        match name {
            "render" => Ok(NativeFn::val("render", move |rt, args, _| {
                let mut ctx = crate::template::Context::new();
                if let Some(Val::Dict(d)) = args.first() {
                    for (k, v) in d.borrow().items() {
                        ctx.set(&k.to_str(rt)?, v);
                    }
                }
                Ok(Val::safe(t.render(rt, &mut ctx)?))
            })),
            _ => Err(no_attr("Template", name)),
        }
    }
}

fn prefetch_related_objects_fn(rt: &Rt, args: Vec<Val>, _kwargs: Kwargs) -> SResult<Val> {
    let mut it = args.into_iter();
    let instances = it.next().ok_or_else(|| err(ErrorKind::TypeError, "prefetch_related_objects() missing 1 required positional argument: 'model_instances'"))?;
    let items = instances.iterate(rt)?;
    let mut specs = Vec::new();
    for l in it {
        if let Some(p) = l.as_obj::<crate::orm::api::PrefetchObj>() {
            specs.push(p.0.clone());
        } else {
            specs.push(crate::orm::queryset::PrefetchSpec { lookup: l.to_str(rt)?, queryset: None, to_attr: None });
        }
    }
    crate::orm::prefetch::prefetch_related_objects(rt, &items, &specs)?;
    Ok(Val::None)
}

/// `require_http_methods([...])` and friends.
fn require_methods(methods: Vec<String>) -> Val {
    NativeFn::val("require_http_methods.<decorator>", move |_, args, _| {
        let view = args.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, "the decorator takes a view function"))?;
        let methods = methods.clone();
        Ok(NativeFn::val("inner", move |rt, a, k| {
            let method = a.first().and_then(|r| r.as_obj::<super::http::Request>()).map(|r| r.method.clone()).unwrap_or_default();
            if !methods.contains(&method) {
                let r = super::http::Response::new(String::new(), 405, "text/html; charset=utf-8", "HttpResponseNotAllowed");
                r.set_header("Allow", &methods.join(", "));
                return Ok(Val::obj(r));
            }
            call_value(rt, &view, a, k)
        }))
    })
}

/// `@login_required`: an anonymous user is redirected to `LOGIN_URL?next=<path>`.
fn login_required(_rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let login_url = kw(&kwargs, "login_url").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "/accounts/login/".into());
    let make = move |view: Val| {
        let login_url = login_url.clone();
        NativeFn::val("login_required.<wrapper>", move |rt, a, k| {
            let redirect_to = match a.first().and_then(|r| r.as_obj::<super::http::Request>()) {
                Some(req) => {
                    let user = req.user(rt)?;
                    let authed = crate::py::interp::getattr(rt, &user, "is_authenticated")?.truthy(rt)?;
                    (!authed).then(|| super::http::url_encode_safe(&req.get_full_path(), "/"))
                }
                None => None,
            };
            if let Some(next) = redirect_to {
                let r = super::http::Response::new(String::new(), 302, "text/html; charset=utf-8", "HttpResponseRedirect");
                r.set_header("Location", &format!("{login_url}?next={next}"));
                return Ok(Val::obj(r));
            }
            call_value(rt, &view, a, k)
        })
    };
    match args.into_iter().next() {
        Some(view) => Ok(make(view)),
        None => Ok(NativeFn::val("login_required.<decorator>", move |_, a, _| {
            let view = a.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, "the decorator takes a view function"))?;
            Ok(make(view))
        })),
    }
}

/// `format_html(format_string, *args, **kwargs)`: arguments escaped, the format string not.
fn format_html(rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let mut it = args.into_iter();
    let fmt = it.next().ok_or_else(|| err(ErrorKind::TypeError, "format_html() missing 1 required positional argument: 'format_string'"))?.to_str(rt)?;
    let esc = |v: Val| -> SResult<Val> {
        Ok(match v {
            Val::SafeStr(_) => v,
            other => Val::str(crate::template::escape(&other.to_str(rt)?)),
        })
    };
    let pos: Vec<Val> = it.map(esc).collect::<SResult<_>>()?;
    let kws: Kwargs = kwargs.into_iter().map(|(k, v)| Ok((k, esc(v)?))).collect::<SResult<_>>()?;
    let s = crate::py::builtins::call_type_method(rt, &Val::str(fmt), "format", pos, kws)?;
    Ok(Val::safe(s.to_str(rt)?))
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
            "hexdigest" => Ok(NativeFn::val("hexdigest", move |_, _, _| Ok(Val::str(crate::template::md5_hex(&data))))),
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

// ---------------------------------------------------------------- defaultdict and Counter

enum DictKind {
    Default(Option<Val>),
    Counter,
}

/// `collections.defaultdict` / `collections.Counter`: a dict with a rule for missing keys.
struct DictLike {
    dict: crate::value::DictRef,
    kind: DictKind,
}

impl DictLike {
    fn counter_update(&self, rt: &Rt, src: &Val) -> SResult<()> {
        match src {
            Val::Dict(d) => {
                for (k, v) in d.borrow().items() {
                    let cur = self.dict.borrow().get(&k)?.unwrap_or(Val::Int(0));
                    let n = crate::py::interp::binop(rt, crate::value::BinOp::Add, &cur, &v)?;
                    self.dict.borrow_mut().set(k, n)?;
                }
            }
            other => {
                for x in other.iterate(rt)?.iter() {
                    let cur = self.dict.borrow().get(x)?.and_then(|v| v.as_int()).unwrap_or(0);
                    self.dict.borrow_mut().set(x.clone(), Val::Int(cur + 1))?;
                }
            }
        }
        Ok(())
    }
}

impl Object for DictLike {
    fn type_name(&self) -> String {
        match self.kind {
            DictKind::Default(_) => "defaultdict",
            DictKind::Counter => "Counter",
        }
        .into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn class_names(&self) -> Vec<String> {
        vec![self.type_name(), "dict".into(), "object".into()]
    }
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        if let Some(v) = self.dict.borrow().get(key)? {
            return Ok(v);
        }
        match &self.kind {
            DictKind::Counter => Ok(Val::Int(0)),
            DictKind::Default(None) => Err(crate::value::key_error(rt, key)),
            DictKind::Default(Some(f)) => {
                let v = call_value(rt, f, vec![], vec![])?;
                self.dict.borrow_mut().set(key.clone(), v.clone())?;
                Ok(v)
            }
        }
    }
    fn setitem(&self, _rt: &Rt, key: &Val, value: Val) -> SResult<()> {
        self.dict.borrow_mut().set(key.clone(), value)
    }
    fn contains(&self, _rt: &Rt, item: &Val) -> SResult<bool> {
        self.dict.borrow().contains(item)
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        Ok(Rc::new(self.dict.borrow().keys()))
    }
    fn len(&self, _rt: &Rt) -> SResult<usize> {
        Ok(self.dict.borrow().len())
    }
    fn truthy(&self, _rt: &Rt) -> SResult<bool> {
        Ok(!self.dict.borrow().is_empty())
    }
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        // Django looks a name up as a key first; `items` on a defaultdict is a key lookup
        // that creates an entry (the classic template gotcha).
        let key = Val::str(name);
        if self.dict.borrow().contains(&key)? {
            return self.getitem(rt, &key).map(Some);
        }
        match &self.kind {
            DictKind::Default(Some(_)) => self.getitem(rt, &key).map(Some),
            _ => crate::py::builtins::type_attr(rt, &Val::Dict(self.dict.clone()), name).and_then(|m| call_value(rt, &m, vec![], vec![])).map(Some),
        }
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        match (&self.kind, name) {
            (DictKind::Counter, "most_common") => {
                let items = self.dict.borrow().items();
                let pairs: Vec<Val> = items.into_iter().map(|(k, v)| Val::tuple(vec![k, v])).collect();
                let key = NativeFn::val("count", |rt, a, _| a[0].getitem(rt, &Val::Int(1)));
                let mut sorted = sort_values(rt, pairs, Some(&key), true)?;
                if let Some(n) = args.first().and_then(|a| a.as_int()) {
                    sorted.truncate(n.max(0) as usize);
                }
                Ok(Val::list(sorted))
            }
            (DictKind::Counter, "update") => {
                if let Some(src) = args.first() {
                    self.counter_update(rt, src)?;
                }
                Ok(Val::None)
            }
            (DictKind::Counter, "total") => {
                let mut t = 0;
                for v in self.dict.borrow().values() {
                    t += v.as_int().unwrap_or(0);
                }
                Ok(Val::Int(t))
            }
            _ => crate::py::builtins::call_type_method(rt, &Val::Dict(self.dict.clone()), name, args, kwargs),
        }
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        if name == "default_factory" {
            if let DictKind::Default(f) = &self.kind {
                return Ok(f.clone().unwrap_or(Val::None));
            }
        }
        let me = Val::Dict(self.dict.clone());
        let _ = crate::py::builtins::type_attr(rt, &me, name)?;
        // A bound method that dispatches through call_method (Counter's extra methods too).
        let name = name.to_string();
        let dict = self.dict.clone();
        let counter = matches!(self.kind, DictKind::Counter);
        Ok(NativeFn::val(name.clone(), move |rt, a, k| {
            let tmp = DictLike { dict: dict.clone(), kind: if counter { DictKind::Counter } else { DictKind::Default(None) } };
            tmp.call_method(rt, &name, a, k)
        }))
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        let inner = Val::Dict(self.dict.clone()).repr(rt)?;
        Ok(match &self.kind {
            DictKind::Counter if self.dict.borrow().is_empty() => "Counter()".into(),
            DictKind::Counter => format!("Counter({inner})"),
            DictKind::Default(f) => format!("defaultdict({}, {inner})", f.as_ref().map(|f| f.repr(rt)).transpose()?.unwrap_or_else(|| "None".into())),
        })
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        let me = Val::Dict(self.dict.clone());
        match other {
            Val::Dict(_) => Some(me.py_eq(other)),
            Val::Obj(o) => o.as_any().downcast_ref::<DictLike>().map(|d| me.py_eq(&Val::Dict(d.dict.clone()))),
            _ => Some(false),
        }
    }
}

// ---------------------------------------------------------------- datetime

/// `datetime.datetime` as a class value.
pub struct DateTimeClass;

fn make_datetime(rt: &Rt, parts: &[Option<Val>]) -> SResult<Val> {
    let _ = rt;
    let mut n = [1970i64, 1, 1, 0, 0, 0, 0];
    for (i, p) in parts.iter().enumerate().take(7) {
        if let Some(v) = p {
            n[i] = v.as_int().ok_or_else(|| err(ErrorKind::TypeError, format!("'{}' object cannot be interpreted as an integer", v.type_name())))?;
        }
    }
    if !(1..=9999).contains(&n[0]) {
        return Err(err(ErrorKind::ValueError, format!("year {} is out of range", n[0])));
    }
    if !(1..=12).contains(&n[1]) {
        return Err(err(ErrorKind::ValueError, "month must be in 1..12"));
    }
    if n[2] < 1 || n[2] > crate::value::days_in_month(n[0] as i32, n[1] as u32) as i64 {
        return Err(err(ErrorKind::ValueError, "day is out of range for month"));
    }
    if !(0..24).contains(&n[3]) {
        return Err(err(ErrorKind::ValueError, "hour must be in 0..23"));
    }
    if !(0..60).contains(&n[4]) {
        return Err(err(ErrorKind::ValueError, "minute must be in 0..59"));
    }
    if !(0..60).contains(&n[5]) {
        return Err(err(ErrorKind::ValueError, "second must be in 0..59"));
    }
    if !(0..1_000_000).contains(&n[6]) {
        return Err(err(ErrorKind::ValueError, "microsecond must be in 0..999999"));
    }
    Ok(Val::DateTime(DateTime {
        year: n[0] as i32,
        month: n[1] as u32,
        day: n[2] as u32,
        hour: n[3] as u32,
        minute: n[4] as u32,
        second: n[5] as u32,
        micro: n[6] as u32,
    }))
}

impl Object for DateTimeClass {
    fn type_name(&self) -> String {
        "type".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn is_callable(&self) -> bool {
        true
    }
    fn call(&self, rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        let a = bind("datetime", args, kwargs, &["year", "month", "day", "hour", "minute", "second", "microsecond", "tzinfo"], 3)?;
        if a[7].as_ref().is_some_and(|v| !v.is_none()) {
            return Err(err(ErrorKind::NotSupported, "the labs use naive datetimes (USE_TZ = False): leave out tzinfo"));
        }
        make_datetime(rt, &a[..7])
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        Ok(match name {
            "now" | "today" | "utcnow" => NativeFn::val(name, |rt, _, _| Ok(Val::DateTime(crate::py::interp::datetime_now(rt)))),
            "fromisoformat" => NativeFn::val("fromisoformat", |rt, args, _| {
                let s = args.first().map(|a| a.to_str(rt)).transpose()?.unwrap_or_default();
                DateTime::parse(&s).map(Val::DateTime).ok_or_else(|| err(ErrorKind::ValueError, format!("Invalid isoformat string: {}", crate::pyfmt::python_str_repr(&s))))
            }),
            "fromtimestamp" => NativeFn::val("fromtimestamp", |_, args, _| {
                let s = args.first().and_then(|a| a.as_f64()).ok_or_else(|| err(ErrorKind::TypeError, "fromtimestamp() takes a number"))?;
                Ok(Val::DateTime(DateTime::from_unix_seconds(s)))
            }),
            "min" => Val::DateTime(DateTime { year: 1, month: 1, day: 1, hour: 0, minute: 0, second: 0, micro: 0 }),
            "max" => Val::DateTime(DateTime { year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59, micro: 999_999 }),
            "__name__" => Val::str("datetime"),
            _ => return Err(err(ErrorKind::AttributeError, format!("type object 'datetime.datetime' has no attribute '{name}'"))),
        })
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok("<class 'datetime.datetime'>".into())
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        Some(other.as_obj::<DateTimeClass>().is_some())
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Other("type:datetime".into()))
    }
}

fn timedelta_ctor(_rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let a = bind("timedelta", args, kwargs, &["days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks"], 0)?;
    let unit = [86_400_000_000f64, 1_000_000.0, 1.0, 1000.0, 60_000_000.0, 3_600_000_000.0, 604_800_000_000.0];
    let mut us = 0f64;
    for (i, v) in a.iter().enumerate() {
        if let Some(v) = v {
            let x = v.as_f64().ok_or_else(|| err(ErrorKind::TypeError, format!("unsupported type for timedelta component: {}", v.type_name())))?;
            us += x * unit[i];
        }
    }
    Ok(crate::py::builtins::timedelta_val(us.round() as i64))
}

// ---------------------------------------------------------------- JSON

pub struct JsonOpts {
    pub indent: Option<String>,
    pub sort_keys: bool,
    pub ensure_ascii: bool,
    pub default: Option<Val>,
    /// DjangoJSONEncoder: datetimes as ISO strings.
    pub django: bool,
}

/// `json.dumps(v, cls=DjangoJSONEncoder)`, as `JsonResponse` writes its body.
pub fn json_dumps(rt: &Rt, v: &Val) -> SResult<String> {
    let mut out = String::new();
    json_write(rt, v, &JsonOpts { indent: None, sort_keys: false, ensure_ascii: true, default: None, django: true }, 0, &mut out)?;
    Ok(out)
}

fn json_str(s: &str, ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04x}", u));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_write(rt: &Rt, v: &Val, o: &JsonOpts, level: usize, out: &mut String) -> SResult<()> {
    if level > 200 {
        return Err(err(ErrorKind::ValueError, "Circular reference detected"));
    }
    let (sep, nl) = match &o.indent {
        Some(ind) => (",".to_string(), Some(ind.clone())),
        None => (", ".to_string(), None),
    };
    let open = |out: &mut String, c: char, lvl: usize| {
        out.push(c);
        if let Some(ind) = &nl {
            out.push('\n');
            out.push_str(&ind.repeat(lvl));
        }
    };
    let close = |out: &mut String, c: char, lvl: usize| {
        if let Some(ind) = &nl {
            out.push('\n');
            out.push_str(&ind.repeat(lvl));
        }
        out.push(c);
    };
    let between = |out: &mut String, lvl: usize| {
        out.push_str(&sep);
        if let Some(ind) = &nl {
            out.push('\n');
            out.push_str(&ind.repeat(lvl));
        }
    };
    match v {
        Val::None => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Int(i) => out.push_str(&i.to_string()),
        Val::Float(f) if f.is_nan() => out.push_str("NaN"),
        Val::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" }),
        Val::Float(f) => out.push_str(&crate::pyfmt::python_float_repr(*f)),
        Val::Str(s) | Val::SafeStr(s) => json_str(s, o.ensure_ascii, out),
        Val::DateTime(d) if o.django => {
            let mut s = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", d.year, d.month, d.day, d.hour, d.minute, d.second);
            if d.micro != 0 {
                s.push_str(&format!(".{:03}", d.micro / 1000));
            }
            json_str(&s, o.ensure_ascii, out);
        }
        Val::List(_) | Val::Tuple(_) => {
            let items = v.seq_items().expect("a sequence");
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            open(out, '[', level + 1);
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    between(out, level + 1);
                }
                json_write(rt, x, o, level + 1, out)?;
            }
            close(out, ']', level);
        }
        Val::Dict(d) => {
            let mut items = d.borrow().items();
            if items.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            let key_text = |k: &Val| -> SResult<String> {
                Ok(match k {
                    Val::Str(s) | Val::SafeStr(s) => s.to_string(),
                    Val::Int(i) => i.to_string(),
                    Val::Bool(b) => (if *b { "true" } else { "false" }).into(),
                    Val::None => "null".into(),
                    Val::Float(f) => crate::pyfmt::python_float_repr(*f),
                    other => return Err(err(ErrorKind::TypeError, format!("keys must be str, int, float, bool or None, not {}", other.type_name()))),
                })
            };
            if o.sort_keys {
                let mut keyed: Vec<(String, Val)> = items.iter().map(|(k, v)| Ok((key_text(k)?, v.clone()))).collect::<SResult<_>>()?;
                keyed.sort_by(|a, b| a.0.cmp(&b.0));
                items = keyed.into_iter().map(|(k, v)| (Val::str(k), v)).collect();
            }
            open(out, '{', level + 1);
            for (i, (k, x)) in items.iter().enumerate() {
                if i > 0 {
                    between(out, level + 1);
                }
                json_str(&key_text(k)?, o.ensure_ascii, out);
                out.push_str(": ");
                json_write(rt, x, o, level + 1, out)?;
            }
            close(out, '}', level);
        }
        other => {
            if let Some(f) = &o.default {
                let converted = call_value(rt, f, vec![other.clone()], vec![])?;
                return json_write(rt, &converted, o, level + 1, out);
            }
            if let Some(d) = other.as_obj::<DictLike>() {
                return json_write(rt, &Val::Dict(d.dict.clone()), o, level, out);
            }
            return Err(err(ErrorKind::TypeError, format!("Object of type {} is not JSON serializable", other.type_name())));
        }
    }
    Ok(())
}

/// `json.loads(s)`: objects keep their key order.
pub fn json_loads(_rt: &Rt, s: &str) -> SResult<Val> {
    let mut p = JsonParser { s: s.as_bytes(), i: 0, text: s };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.error("Extra data"));
    }
    Ok(v)
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
    text: &'a str,
}

impl JsonParser<'_> {
    fn error(&self, what: &str) -> SandboxError {
        let before = &self.text[..self.i.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
        exc("JSONDecodeError", format!("{what}: line {line} column {col} (char {})", before.chars().count()))
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn lit(&mut self, word: &str, v: Val) -> SResult<Val> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.error("Expecting value"))
        }
    }
    fn value(&mut self, depth: usize) -> SResult<Val> {
        if depth > 500 {
            return Err(self.error("Nesting too deep"));
        }
        match self.s.get(self.i) {
            None => Err(self.error("Expecting value")),
            Some(b'n') => self.lit("null", Val::None),
            Some(b't') => self.lit("true", Val::Bool(true)),
            Some(b'f') => self.lit("false", Val::Bool(false)),
            Some(b'N') => self.lit("NaN", Val::Float(f64::NAN)),
            Some(b'I') => self.lit("Infinity", Val::Float(f64::INFINITY)),
            Some(b'"') => Ok(Val::str(self.string()?)),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Val::list(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Val::list(items));
                        }
                        _ => return Err(self.error("Expecting ',' delimiter")),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut d = PyDict::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Val::dict(d));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.error("Expecting property name enclosed in double quotes"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(self.error("Expecting ':' delimiter"));
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    d.set_str(&k, v);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Val::dict(d));
                        }
                        _ => return Err(self.error("Expecting ',' delimiter")),
                    }
                }
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                if self.s[self.i] == b'-' {
                    self.i += 1;
                    if self.s[self.i..].starts_with(b"Infinity") {
                        self.i += 8;
                        return Ok(Val::Float(f64::NEG_INFINITY));
                    }
                }
                let mut float = false;
                while self.i < self.s.len() && (self.s[self.i].is_ascii_digit() || matches!(self.s[self.i], b'.' | b'e' | b'E' | b'+' | b'-')) {
                    if matches!(self.s[self.i], b'.' | b'e' | b'E') {
                        float = true;
                    }
                    self.i += 1;
                }
                let t = &self.text[start..self.i];
                if float {
                    t.parse::<f64>().map(Val::Float).map_err(|_| self.error("Expecting value"))
                } else {
                    t.parse::<i64>().map(Val::Int).map_err(|_| self.error("Expecting value"))
                }
            }
            Some(_) => Err(self.error("Expecting value")),
        }
    }
    fn string(&mut self) -> SResult<String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(&c) = self.s.get(self.i) else { return Err(self.error("Unterminated string starting at")) };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let e = *self.s.get(self.i + 1).ok_or_else(|| self.error("Unterminated string starting at"))?;
                    self.i += 2;
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'/' => out.push('/'),
                        b'\\' => out.push('\\'),
                        b'"' => out.push('"'),
                        b'u' => {
                            let hex = self.text.get(self.i..self.i + 4).ok_or_else(|| self.error("Invalid \\uXXXX escape"))?;
                            let mut code = u32::from_str_radix(hex, 16).map_err(|_| self.error("Invalid \\uXXXX escape"))?;
                            self.i += 4;
                            if (0xd800..0xdc00).contains(&code) && self.s[self.i..].starts_with(b"\\u") {
                                if let Some(lo) = self.text.get(self.i + 2..self.i + 6).and_then(|h| u32::from_str_radix(h, 16).ok()) {
                                    if (0xdc00..0xe000).contains(&lo) {
                                        code = 0x10000 + ((code - 0xd800) << 10) + (lo - 0xdc00);
                                        self.i += 6;
                                    }
                                }
                            }
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        _ => return Err(self.error("Invalid \\escape")),
                    }
                }
                _ => {
                    let rest = &self.text[self.i..];
                    let ch = rest.chars().next().expect("not at end");
                    if (ch as u32) < 0x20 {
                        return Err(self.error("Invalid control character at"));
                    }
                    out.push(ch);
                    self.i += ch.len_utf8();
                }
            }
        }
    }
}
