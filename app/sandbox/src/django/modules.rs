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

use crate::error::{err, exc, ErrorKind, SResult};
use crate::orm::model::ModelClass;
use crate::py::builtins::object_class;
use crate::py::args::bind;
use crate::py::objects::{Class, ClassVal, ExceptionClass, NativeClass};
use crate::py::objects::{Namespace, NativeFn};
use crate::runtime::Rt;
use crate::schema::{self, Model, MODELS};
use crate::value::{call_value, no_attr, Kwargs, Object, PyDict, Val};

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

/// Where a commonly misplaced name lives (`from django.http import render` fails: `render` is
/// in `django.shortcuts`): Django's names, then the sample app's models.
pub fn home_of(name: &str) -> Option<String> {
    if let Some((_, m)) = MODULE_HOMES.iter().find(|(n, _)| *n == name) {
        return Some(m.to_string());
    }
    MODELS.iter().find(|m| m.name == name).map(|m| m.module.to_string())
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

// ---------------------------------------------------------------- helpers for other modules

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

/// `django.views.generic`'s classes, written in Python (`generic_views.py`) and run by the
/// sandbox's interpreter once per session; its submodules (`.base`, `.list`, `.detail`) name
/// the same classes.
const GENERIC_VIEWS: &[&str] = &[
    "View", "ContextMixin", "TemplateResponseMixin", "TemplateView", "RedirectView", "MultipleObjectMixin", "BaseListView",
    "MultipleObjectTemplateResponseMixin", "ListView", "SingleObjectMixin", "BaseDetailView", "SingleObjectTemplateResponseMixin",
    "DetailView",
];

fn generic_views(rt: &Rt) -> SResult<Vec<(&'static str, Val)>> {
    source_module(rt, "django.views.generic (source)", "django/views/generic.py", include_str!("generic_views.py"), GENERIC_VIEWS)
}

/// A Django module the sandbox writes in Python: executed once per session, `names` taken
/// from it.
fn source_module(rt: &Rt, key: &str, file: &str, src: &str, names: &[&'static str]) -> SResult<Vec<(&'static str, Val)>> {
    let loaded = crate::py::import::modules(rt).borrow().get(key).cloned();
    let ns = match loaded.as_ref().and_then(|m| m.as_obj::<crate::py::objects::ModuleObj>().map(|m| m.ns.clone())) {
        Some(ns) => ns,
        None => crate::py::interp::exec_source_module(rt, key, file, src)?,
    };
    Ok(names.iter().filter_map(|n| ns.get(n).map(|v| (*n, v))).collect())
}

/// `django.utils.decorators.method_decorator`: a function decorator (`cache_page(60)`,
/// `never_cache`) on a method, or on a class's method named by `name` (`"dispatch"`).
const METHOD_DECORATOR: &str = r#"
def _multi_decorate(decorators, method):
    if isinstance(decorators, (list, tuple)):
        decorators = list(decorators)[::-1]
    else:
        decorators = [decorators]

    def _wrapper(self, *args, **kwargs):
        def bound_method(*a, **kw):
            return method(self, *a, **kw)
        for dec in decorators:
            bound_method = dec(bound_method)
        return bound_method(*args, **kwargs)

    return _wrapper


def method_decorator(decorator, name=""):
    def _dec(obj):
        if not isinstance(obj, type):
            return _multi_decorate(decorator, obj)
        if not (name and hasattr(obj, name)):
            raise ValueError(
                "The keyword argument `name` must be the name of a method of the decorated "
                "class: %s. Got '%s' instead." % (obj, name)
            )
        method = getattr(obj, name)
        if not callable(method):
            raise TypeError("Cannot decorate '%s' as it isn't a callable attribute of %s (%s)." % (name, obj, method))
        setattr(obj, name, _multi_decorate(decorator, method))
        return obj

    return _dec
"#;

/// `django.utils.deprecation.MiddlewareMixin`: a learner's old-style middleware
/// (`process_request` / `process_response`) runs through it exactly as in Django.
const MIDDLEWARE_MIXIN: &str = r#"
class MiddlewareMixin:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        if get_response is None:
            raise ValueError("get_response must be provided.")
        self.get_response = get_response
        super().__init__()

    def __call__(self, request):
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response
"#;

/// The names of Django's module `name` or of the sample app's (`articles.models`), for `import`.
pub fn module_names(rt: &Rt, name: &str) -> SResult<Option<Vec<(&'static str, Val)>>> {
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
            if name == "django.views" {
                v.extend(generic_views(rt)?.into_iter().filter(|(n, _)| *n == "View"));
            }
            if name == "django.template" {
                v.extend(exceptions(&["TemplateSyntaxError", "TemplateDoesNotExist", "VariableDoesNotExist"]));
                v.push(("Template", NativeFn::val("Template", template_ctor)));
                v.push(("Context", NativeFn::val("Context", |_rt, args, _| Ok(args.into_iter().next().unwrap_or_else(|| Val::dict(PyDict::new()))))));
            }
            v
        }
        "django.views.generic" | "django.views.generic.base" | "django.views.generic.list" | "django.views.generic.detail" => generic_views(rt)?,
        "django.utils.decorators" => source_module(rt, "django.utils.decorators (source)", "django/utils/decorators.py", METHOD_DECORATOR, &["method_decorator"])?,
        "django.utils.deprecation" => source_module(rt, "django.utils.deprecation (source)", "django/utils/deprecation.py", MIDDLEWARE_MIXIN, &["MiddlewareMixin"])?,
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
            ("models", crate::py::import::import(rt, "django.db.models")?),
            ("transaction", crate::py::import::import(rt, "django.db.transaction")?),
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
            v.extend(crate::orm::fields::FIELD_CLASSES.iter().map(|n| (*n, crate::orm::fields::field_class(n))));
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
            crate::orm::api::FUNCTIONS.iter().map(|n| (*n, model_api(n))).collect()
        }
        "django.db.models.signals" => ["pre_save", "post_save", "pre_delete", "post_delete", "m2m_changed", "pre_init", "post_init"]
            .iter()
            .map(|n| (*n, Val::obj(super::signals::SignalObj(n.to_string()))))
            .collect(),
        "django.db.transaction" => vec![
            ("atomic", crate::db::transaction::atomic_factory()),
            ("on_commit", NativeFn::val("on_commit", |rt, args, kwargs| {
                let a = bind("on_commit", args, kwargs, &["func", "using", "robust"], 1)?;
                crate::db::transaction::on_commit(rt, a[0].clone().expect("required"))?;
                Ok(Val::None)
            })),
            ("get_autocommit", NativeFn::val("get_autocommit", |rt, _, _| Ok(Val::Bool(!crate::db::transaction::state(rt).borrow().in_atomic_block)))),
            ("TransactionManagementError", exception("TransactionManagementError")),
        ],
        "django.dispatch" => vec![
            ("receiver", super::signals::receiver_decorator()),
            ("Signal", NativeFn::val("Signal", |rt, _, _| {
                Ok(Val::obj(super::signals::SignalObj(super::signals::new_signal_name(rt))))
            })),
        ],
        "django.core.cache" => vec![("cache", Val::obj(dc::CacheObj::new(rt))), ("caches", Val::obj(dc::CachesObj))],
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
            "ImproperlyConfigured", "SuspiciousOperation", "BadRequest", "EmptyResultSet",
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
            ("condition", super::handler::condition_factory("condition")),
            ("etag", super::handler::condition_factory("etag")),
            ("last_modified", super::handler::condition_factory("last_modified")),
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
        "django.utils" => vec![("timezone", crate::py::import::import(rt, "django.utils.timezone")?)],
        "django.utils.timezone" => vec![
            ("now", NativeFn::val("now", |rt, _, _| Ok(Val::DateTime(crate::py::dates::datetime_now(rt))))),
            ("localtime", NativeFn::val("localtime", |rt, args, _| Ok(args.into_iter().next().unwrap_or(Val::DateTime(crate::py::dates::datetime_now(rt)))))),
            ("is_aware", NativeFn::val("is_aware", |_, _, _| Ok(Val::Bool(false)))),
            ("is_naive", NativeFn::val("is_naive", |_, _, _| Ok(Val::Bool(true)))),
            ("timedelta", crate::py::dates::timedelta_class()),
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
            v.push(("models", crate::py::import::import(rt, "django.db.models")?));
            v.push(("settings", Val::obj(Settings)));
            v
        }
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
            "in_atomic_block" => Val::Bool(crate::db::transaction::state(rt).borrow().in_atomic_block),
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
            specs.push(crate::orm::model::PrefetchSpec { lookup: l.to_str(rt)?, queryset: None, to_attr: None });
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
                    let authed = crate::py::methods::getattr(rt, &user, "is_authenticated")?.truthy(rt)?;
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
    let s = crate::py::methods::call_type_method(rt, &Val::str(fmt), "format", pos, kws)?;
    Ok(Val::safe(s.to_str(rt)?))
}

