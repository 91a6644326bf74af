//! A lab's small Django project — `views.py`, templates, `tests.py`, URL routes — and the
//! request cycle that serves it: URL resolution, `SessionMiddleware` and
//! `AuthenticationMiddleware` in Django's order, the view (with its decorators), Django's
//! 404 page, `render()`, `get_object_or_404()`, `redirect()`, `reverse()`.
//!
//! Also the headless `run-project` contract (`docs/contracts.md`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::http::{not_found_page, Request, Response};
use super::urls::{Route, UrlConf};
use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::orm::instance::Instance;
use crate::source::SourceFile;
use crate::py::objects::{Namespace, NativeFn};
use crate::runtime::Rt;
use crate::template::{Context, Template};
use crate::value::{call_value, Kwargs, Val};

pub struct Project {
    pub files: IndexMap<String, String>,
    pub urls: UrlConf,
    /// The migrations to apply: the lab's (or the case's), then those the `models.py` files
    /// declare (`Meta.indexes`, `db_index=True`), checked as Django's system checks do.
    pub migrations: Vec<protocol::Migration>,
    /// The loaded `views.py` module's names.
    pub views: RefCell<Option<Rc<Namespace>>>,
    /// `manage.py shell`'s names: the models (Django 5.2's shell imports them) under the views
    /// module's names, kept from one shell line to the next.
    shell: RefCell<Option<Rc<Namespace>>>,
    /// `run-project`'s `run` steps execute in `views.py`'s own namespace (the contract: names
    /// a step sets persist, and the views see them); the lab's shell is `manage.py shell`.
    pub shell_in_views: bool,
    templates: RefCell<HashMap<String, Rc<Template>>>,
}

impl Project {
    pub fn new(files: IndexMap<String, String>, urls: &[(String, String, Option<String>)]) -> SResult<Project> {
        let mut routes = Vec::new();
        for (route, view, name) in urls {
            routes.push(Route::new(route, view, name.as_deref()).map_err(|m| exc("ImproperlyConfigured", m))?);
        }
        Ok(Project {
            files,
            urls: UrlConf { routes },
            migrations: Vec::new(),
            views: RefCell::new(None),
            shell: RefCell::new(None),
            shell_in_views: false,
            templates: RefCell::new(HashMap::new()),
        })
    }

    /// The one way a project is made, for the page, the worker and `run-project` alike: the
    /// files and routes, the given migrations, and those its `models.py` files declare.
    pub fn from_spec(spec: protocol::ProjectSpec) -> SResult<Project> {
        let mut migrations = spec.migrations;
        for (name, src) in spec.files.iter().filter(|(n, _)| super::models_file::is_models_file(n)) {
            let declared = super::models_file::migrations(name, src, &migrations)?;
            migrations.extend(declared);
        }
        let files: IndexMap<String, String> = spec.files.into_iter().collect();
        let mut p = Project::new(files, &spec.urls)?;
        p.migrations = migrations;
        Ok(p)
    }

    /// A template by name (`articles/list.html` is the file `templates/articles/list.html`).
    pub fn template(&self, name: &str) -> SResult<Rc<Template>> {
        if let Some(t) = self.templates.borrow().get(name) {
            return Ok(t.clone());
        }
        let src = self.files.get(&format!("templates/{name}")).ok_or_else(|| exc("TemplateDoesNotExist", name.to_string()))?;
        let t = Rc::new(Template::parse_named(src, &format!("templates/{name}")).map_err(|e| e.in_source(format!("templates/{name}")))?);
        self.templates.borrow_mut().insert(name.to_string(), t.clone());
        Ok(t)
    }

    /// The namespace shell lines run in: the views module's own for `run-project`, else
    /// `manage.py shell`'s, built on first use after each load.
    pub fn shell_namespace(&self) -> Rc<Namespace> {
        if self.shell_in_views {
            if let Some(views) = self.views.borrow().clone() {
                return views;
            }
        }
        if let Some(ns) = self.shell.borrow().clone() {
            return ns;
        }
        let ns = super::modules::manage_shell_namespace(self.views.borrow().as_ref());
        *self.shell.borrow_mut() = Some(ns.clone());
        ns
    }

    pub fn has_template(&self, name: &str) -> bool {
        self.files.contains_key(&format!("templates/{name}"))
    }
}

/// The project the session's request cycle serves, and the templates rendered so far
/// (with `{% extends %}` parents and includes, for `response.templates`).
#[derive(Default)]
pub struct Served {
    pub project: RefCell<Option<Rc<Project>>>,
    pub rendered_templates: RefCell<Vec<String>>,
}

pub fn served(rt: &Rt) -> Rc<Served> {
    rt.state::<Served>()
}

/// Loads (or reloads) `views.py` as the module `views`, after installing the project.
pub fn load(rt: &Rt, project: Rc<Project>) -> SResult<Rc<Namespace>> {
    *served(rt).project.borrow_mut() = Some(project.clone());
    // `settings.py`, when the lab shows one, is executed: its `DATABASES` options (the lock
    // timeout and the transaction mode) and its `CACHES` backend take effect.
    let settings = match project.files.get("settings.py") {
        Some(src) => Some(crate::py::import::exec_source_module(rt, "settings", "settings.py", src)?),
        None => None,
    };
    let databases = settings.as_ref().and_then(|s| s.get("DATABASES"));
    crate::db::lock::configure(rt, databases).map_err(|e| e.in_source("settings.py".to_string()))?;
    let backend = match settings.as_ref().and_then(|s| cache_backend(rt, s)) {
        Some(path) => super::caches::backend_for(&path).map_err(|e| e.in_source("settings.py".to_string()))?,
        None => Box::new(super::caches::LocalMemory::default()),
    };
    super::caches::caches(rt).borrow_mut().configure(backend);
    *project.shell.borrow_mut() = None;
    let src = project.files.get("views.py").cloned().unwrap_or_default();
    let ns = crate::py::import::exec_source_module(rt, "views", "views.py", &src)?;
    *project.views.borrow_mut() = Some(ns.clone());
    // URL routes must name functions of views.py.
    for r in &project.urls.routes {
        if ns.get(&r.view).is_none() {
            return Err(exc("AttributeError", format!("module 'views' has no attribute '{}'", r.view)));
        }
    }
    Ok(ns)
}

/// `CACHES["default"]["BACKEND"]` of an executed settings module.
fn cache_backend(rt: &Rt, settings: &Namespace) -> Option<String> {
    let caches = settings.get("CACHES")?;
    let default = caches.getitem(rt, &Val::str("default")).ok()?;
    default.getitem(rt, &Val::str("BACKEND")).ok()?.to_str(rt).ok()
}

pub fn current(rt: &Rt) -> SResult<Rc<Project>> {
    served(rt).project.borrow().clone().ok_or_else(|| err(ErrorKind::NotSupported, "there is no project loaded (views, URLs and templates)"))
}

// ---------------------------------------------------------------- the request cycle

/// What the client sends.
pub struct RequestSpec {
    pub method: String,
    pub url: String,
    /// The logged-in user's id and the second the session was made (the signed session
    /// cookie carries that timestamp, so a login a second later is a different cookie).
    pub session: Option<(i64, i64)>,
    pub post: Vec<(String, String)>,
}

/// Handles one request the way Django's handler and middleware do. Exceptions other than
/// `Http404`/`PermissionDenied` propagate (the test client re-raises them).
pub fn handle(rt: &Rt, spec: &RequestSpec) -> SResult<Val> {
    let project = current(rt)?;
    let cookies = match spec.session {
        Some((id, at)) => vec![("sessionid".to_string(), format!("sandbox-session-{id}:{at}"))],
        None => vec![],
    };
    let req = Rc::new(Request::new(&spec.method, &spec.url, cookies, spec.session.map(|s| s.0), spec.post.clone()));
    let request = Val::Obj(req.clone());
    let response = match project.urls.resolve(&req.path) {
        None => not_found(rt, &project, &req, &format!("The current path, {}, didn't match any of these.", req.path.trim_start_matches('/')))?,
        Some((route, kwargs)) => {
            let view_name = route.view.clone();
            let views = project.views.borrow().clone().ok_or_else(|| err(ErrorKind::NotSupported, "views.py is not loaded"))?;
            let view = views.get(&view_name).ok_or_else(|| exc("AttributeError", format!("module 'views' has no attribute '{view_name}'")))?;
            let kw: Kwargs = kwargs;
            match call_value(rt, &view, vec![request.clone()], kw) {
                Ok(Val::None) => {
                    return Err(err(ErrorKind::ValueError, format!("The view views.{view_name} didn't return an HttpResponse object. It returned None instead.")));
                }
                Ok(v) => {
                    if v.as_obj::<Response>().is_none() {
                        return Err(err(ErrorKind::AttributeError, format!("'{}' object has no attribute 'get'", v.type_name())));
                    }
                    v
                }
                Err(e) if e.is_a("Http404") => not_found(rt, &project, &req, &e.message)?,
                Err(e) if e.is_a("PermissionDenied") => Val::obj(Response::html("\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>403 Forbidden</title>\n</head>\n<body>\n  <h1>403 Forbidden</h1><p></p>\n</body>\n</html>\n".into(), 403)),
                Err(e) => return Err(e),
            }
        }
    };
    // SessionMiddleware.process_response: a session that was read varies on the cookie.
    if req.session_accessed.get() {
        if let Some(r) = response.as_obj::<Response>() {
            r.patch_vary("Cookie");
        }
    }
    Ok(response)
}

fn not_found(rt: &Rt, project: &Project, req: &Request, message: &str) -> SResult<Val> {
    if project.has_template("404.html") {
        let t = project.template("404.html")?;
        let mut ctx = Context::from_pairs([("request_path", Val::str(&req.path)), ("exception", Val::str(message))]);
        let body = t.render(rt, &mut ctx)?;
        return Ok(Val::obj(Response::html(body, 404)));
    }
    Ok(Val::obj(Response::html(not_found_page(&req.path), 404)))
}

// ---------------------------------------------------------------- shortcuts

/// `render_to_string(template_name, context=None, request=None)`.
pub fn render_to_string(rt: &Rt, name: &str, context: Option<&Val>) -> SResult<(String, Option<Val>)> {
    let project = current(rt)?;
    let t = project.template(name)?;
    let mut ctx = Context::new();
    if let Some(Val::Dict(d)) = context {
        for (k, v) in d.borrow().items() {
            ctx.set(&k.to_str(rt)?, v);
        }
    } else if let Some(v) = context {
        if !v.is_none() {
            return Err(err(ErrorKind::TypeError, format!("context must be a dict rather than {}.", v.type_name())));
        }
    }
    let out = t.render(rt, &mut ctx)?;
    Ok((out, context.cloned()))
}

pub fn render_fn() -> Val {
    NativeFn::val("render", |rt, args, kwargs| {
        let a = crate::py::builtins::bind("render", args, kwargs, &["request", "template_name", "context", "content_type", "status", "using"], 2)?;
        let name = a[1].as_ref().expect("required");
        let names: Vec<String> = match name {
            Val::List(_) | Val::Tuple(_) => name.iterate(rt)?.iter().map(|n| n.to_str(rt)).collect::<SResult<_>>()?,
            other => vec![other.to_str(rt)?],
        };
        let project = current(rt)?;
        let chosen = names.iter().find(|n| project.has_template(n)).cloned().ok_or_else(|| exc("TemplateDoesNotExist", names.join(", ")))?;
        let mark = served(rt).rendered_templates.borrow().len();
        let (body, ctx) = render_to_string(rt, &chosen, a[2].as_ref())?;
        let also: Vec<String> = served(rt).rendered_templates.borrow_mut().drain(mark..).collect();
        let status = a[4].as_ref().and_then(|v| v.as_int()).unwrap_or(200) as u16;
        let ct = match &a[3] {
            Some(v) if !v.is_none() => v.to_str(rt)?,
            _ => "text/html; charset=utf-8".into(),
        };
        let r = Response::new(body, status, &ct, "HttpResponse");
        r.templates.borrow_mut().push(chosen);
        r.templates.borrow_mut().extend(also);
        *r.context.borrow_mut() = ctx;
        Ok(Val::obj(r))
    })
}

/// `_get_queryset(klass)`: a model class, manager or queryset.
fn queryset_of(rt: &Rt, klass: &Val) -> SResult<crate::orm::queryset::QuerySetObj> {
    if let Some(m) = klass.as_obj::<crate::orm::instance::ModelClass>() {
        return Ok(crate::orm::queryset::QuerySetObj::for_model(m.0));
    }
    if let Some(m) = klass.as_obj::<crate::orm::queryset::Manager>() {
        return Ok(crate::orm::queryset::QuerySetObj::for_model(m.model));
    }
    if let Some(q) = klass.as_obj::<crate::orm::queryset::QuerySetObj>() {
        return Ok(q.chain());
    }
    if let Some(r) = klass.as_obj::<crate::orm::queryset::RelatedManager>() {
        return r.get_queryset(rt);
    }
    Err(err(
        ErrorKind::ValueError,
        format!("First argument to get_object_or_404() must be a Model, Manager, or QuerySet, not '{}'.", klass.type_name()),
    ))
}

pub fn get_object_or_404_fn(list: bool) -> Val {
    let name = if list { "get_list_or_404" } else { "get_object_or_404" };
    NativeFn::val(name, move |rt, mut args, kwargs| {
        if args.is_empty() {
            return Err(err(ErrorKind::TypeError, format!("{name}() missing 1 required positional argument: 'klass'")));
        }
        let klass = args.remove(0);
        let qs = queryset_of(rt, &klass).map_err(|e| {
            if list {
                err(ErrorKind::ValueError, e.message.replace("get_object_or_404", "get_list_or_404"))
            } else {
                e
            }
        })?;
        let model = qs.model.name;
        if list {
            let f = qs.filter_or_exclude(rt, false, args, kwargs)?;
            let rows = f.fetch(rt)?;
            if rows.is_empty() {
                return Err(exc("Http404", format!("No {model} matches the given query.")));
            }
            return Ok(Val::list(rows.as_ref().clone()));
        }
        match qs.get(rt, args, kwargs) {
            Ok(v) => Ok(v),
            Err(e) if e.exc.as_ref() == format!("{model}.DoesNotExist") => Err(exc("Http404", format!("No {model} matches the given query."))),
            Err(e) => Err(e),
        }
    })
}

fn to_strings(rt: &Rt, v: Option<&Val>) -> SResult<Vec<String>> {
    match v {
        None | Some(Val::None) => Ok(vec![]),
        Some(v) => v.iterate(rt)?.iter().map(|x| x.to_str(rt)).collect(),
    }
}

fn kw_strings(rt: &Rt, v: Option<&Val>) -> SResult<Vec<(String, String)>> {
    match v {
        Some(Val::Dict(d)) => d.borrow().items().iter().map(|(k, x)| Ok((k.to_str(rt)?, x.to_str(rt)?))).collect(),
        _ => Ok(vec![]),
    }
}

pub fn reverse(rt: &Rt, viewname: &str, args: &[String], kwargs: &[(String, String)]) -> SResult<String> {
    match served(rt).project.borrow().clone() {
        Some(p) => p.urls.reverse(viewname, args, kwargs),
        None => Err(exc("NoReverseMatch", format!("Reverse for '{viewname}' not found. '{viewname}' is not a valid view function or pattern name."))),
    }
}

pub fn reverse_fn() -> Val {
    NativeFn::val("reverse", |rt, args, kwargs| {
        let a = crate::py::builtins::bind("reverse", args, kwargs, &["viewname", "urlconf", "args", "kwargs", "current_app", "query", "fragment"], 1)?;
        let name = a[0].as_ref().expect("required").to_str(rt)?;
        let url = reverse(rt, &name, &to_strings(rt, a[2].as_ref())?, &kw_strings(rt, a[3].as_ref())?)?;
        Ok(Val::str(url))
    })
}

/// `resolve(path)`: a `ResolverMatch` (`view_name`, `namespace`, `url_name`, `kwargs`, `func`).
pub fn resolve_fn() -> Val {
    NativeFn::val("resolve", |rt, args, kwargs| {
        let a = crate::py::builtins::bind("resolve", args, kwargs, &["path", "urlconf"], 1)?;
        let path = a[0].as_ref().expect("required").to_str(rt)?;
        let project = current(rt)?;
        let Some((route, kw)) = project.urls.resolve(&path) else {
            return Err(exc("Resolver404", format!("{{'path': {}}}", crate::pyfmt::python_str_repr(path.trim_start_matches('/')))));
        };
        let views = project.views.borrow().clone();
        let func = views.and_then(|v| v.get(&route.view)).unwrap_or(Val::None);
        let ns = route.namespace.clone().unwrap_or_default();
        let url_name = route.name.clone();
        let view_name = match (&route.namespace, &route.name) {
            (Some(n), Some(u)) => format!("{n}:{u}"),
            (None, Some(u)) => u.clone(),
            (_, None) => format!("views.{}", route.view),
        };
        let mut kwd = crate::value::PyDict::new();
        for (k, v) in kw {
            kwd.set_str(&k, v);
        }
        Ok(Val::obj(ResolverMatch {
            attrs: vec![
                ("func", func),
                ("args", Val::tuple(vec![])),
                ("kwargs", Val::dict(kwd)),
                ("url_name", url_name.map(Val::str).unwrap_or(Val::None)),
                ("namespace", Val::str(&ns)),
                ("namespaces", Val::list(if ns.is_empty() { vec![] } else { vec![Val::str(&ns)] })),
                ("app_name", Val::str(&ns)),
                ("view_name", Val::str(view_name)),
                ("route", Val::str(&route.route)),
            ],
        }))
    })
}

struct ResolverMatch {
    attrs: Vec<(&'static str, Val)>,
}

impl crate::value::Object for ResolverMatch {
    fn type_name(&self) -> String {
        "ResolverMatch".into()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        self.attrs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).ok_or_else(|| crate::value::no_attr("ResolverMatch", name))
    }
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        // `func, args, kwargs = resolve(path)`.
        let i = key.as_int().ok_or_else(|| err(ErrorKind::TypeError, "ResolverMatch indices must be integers"))?;
        match i {
            0 => self.getattr(rt, "func"),
            1 => self.getattr(rt, "args"),
            2 => self.getattr(rt, "kwargs"),
            _ => Err(exc("IndexError", "tuple index out of range")),
        }
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        Ok(format!(
            "ResolverMatch(func=views.{}, args=(), kwargs={}, url_name={}, app_names=[], namespaces=[], route={})",
            crate::py::interp::getattr(rt, &self.getattr(rt, "func")?, "__name__").and_then(|n| n.to_str(rt)).unwrap_or_default(),
            self.getattr(rt, "kwargs")?.repr(rt)?,
            self.getattr(rt, "url_name")?.repr(rt)?,
            self.getattr(rt, "route")?.repr(rt)?
        ))
    }
}

pub fn redirect_fn() -> Val {
    NativeFn::val("redirect", |rt, mut args, kwargs| {
        if args.is_empty() {
            return Err(err(ErrorKind::TypeError, "redirect() missing 1 required positional argument: 'to'"));
        }
        let to = args.remove(0);
        let permanent = kwargs.iter().find(|(k, _)| k == "permanent").map(|(_, v)| v.truthy(rt)).transpose()?.unwrap_or(false);
        let url_kwargs: Vec<(String, String)> = kwargs.iter().filter(|(k, _)| k != "permanent").map(|(k, v)| Ok((k.clone(), v.to_str(rt)?))).collect::<SResult<_>>()?;
        let url = if let Some(inst) = to.as_obj::<Instance>() {
            return Err(err(ErrorKind::AttributeError, format!("'{}' object has no attribute 'get_absolute_url'", inst.model.name)));
        } else {
            let s = to.to_str(rt)?;
            let arg_strings: Vec<String> = args.iter().map(|a| a.to_str(rt)).collect::<SResult<_>>()?;
            if s.contains('/') || s.contains('.') {
                match reverse(rt, &s, &arg_strings, &url_kwargs) {
                    Ok(u) => u,
                    Err(_) => s,
                }
            } else {
                reverse(rt, &s, &arg_strings, &url_kwargs)?
            }
        };
        let r = Response::new(String::new(), if permanent { 301 } else { 302 }, "text/html; charset=utf-8", if permanent { "HttpResponsePermanentRedirect" } else { "HttpResponseRedirect" });
        r.set_header("Location", &url);
        Ok(Val::obj(r))
    })
}

// ---------------------------------------------------------------- run-project

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ProjectCase {
    pub name: String,
    #[serde(default)]
    pub files: IndexMap<String, String>,
    #[serde(default)]
    pub urls: Vec<Vec<Option<String>>>,
    #[serde(default)]
    pub steps: Vec<serde_json::Value>,
    #[serde(default)]
    pub migrations: Vec<serde_json::Value>,
}

/// Collapses whitespace as the contract compares bodies.
fn collapse(s: &str) -> String {
    crate::template::collapse_whitespace(s)
}

fn step_error(e: &SandboxError) -> serde_json::Value {
    serde_json::json!({ "error": e.one_line() })
}

/// Runs one case on a fresh database (the caller opens `rt` on a copy of the file).
pub fn run_case(rt: &Rt, case: &ProjectCase) -> serde_json::Value {
    rt.reset_session();
    let fail = |e: SandboxError| serde_json::json!({ "name": case.name, "error": e.one_line() });
    let mut urls = Vec::new();
    for u in &case.urls {
        let route = u.first().cloned().flatten().unwrap_or_default();
        let view = u.get(1).cloned().flatten().unwrap_or_default();
        let name = u.get(2).cloned().flatten();
        urls.push((route, view, name));
    }
    let mut migrations = Vec::new();
    for m in &case.migrations {
        match super::migrations::from_json(m) {
            Ok(m) => migrations.push(m),
            Err(e) => return fail(e),
        }
    }
    let spec = protocol::ProjectSpec { files: case.files.clone().into_iter().collect(), urls, migrations };
    let project = match Project::from_spec(spec) {
        Ok(mut p) => {
            p.shell_in_views = true;
            Rc::new(p)
        }
        Err(e) => return fail(e),
    };
    rt.begin_request(60_000.0);
    for m in &project.migrations {
        if let Err(e) = super::migrations::apply(rt, m) {
            return fail(e);
        }
    }
    if let Err(e) = load(rt, project.clone()) {
        return fail(e);
    }
    let mut steps = Vec::new();
    for step in &case.steps {
        steps.push(run_step(rt, &project, step));
    }
    serde_json::json!({ "name": case.name, "steps": steps })
}

/// Per-step time budget natively (the browser uses its own, shorter).
pub const STEP_BUDGET_MS: f64 = 20_000.0;

/// One step of a project session.
#[derive(Debug, Clone)]
pub enum StepRequest {
    /// `worker`: the server process that answers (1 when absent), see [`Rt::switch_worker`];
    /// `into_previous`: seconds after the previous request started, overlapping it (see `dblock`).
    Get { url: String, user: Option<String>, worker: Option<u8>, into_previous: Option<f64> },
    Advance(f64),
    /// A shell line, in `worker` (the one the last request went to when absent).
    Run { code: String, worker: Option<u8> },
    Test(String),
}

impl StepRequest {
    /// The contract's JSON form (`{"get": url, "user": u}`, `{"advance": s}`, …).
    pub fn from_json(step: &serde_json::Value) -> SResult<StepRequest> {
        if let Some(url) = step.get("get").and_then(|v| v.as_str()) {
            let worker = match step.get("worker") {
                None | Some(serde_json::Value::Null) => None,
                Some(w) => match w.as_u64() {
                    Some(n @ 1..=2) => Some(n as u8),
                    _ => return Err(err(ErrorKind::ValueError, format!("\"worker\" is 1 or 2, got {w}"))),
                },
            };
            let into_previous = match step.get("into_previous") {
                None | Some(serde_json::Value::Null) => None,
                Some(s) => match s.as_f64() {
                    Some(x) if (0.0..=protocol::timeline::MAX_INTO_PREVIOUS_SECONDS).contains(&x) => Some(x),
                    _ => return Err(err(ErrorKind::ValueError, format!("\"into_previous\" is 0 to {} seconds, got {s}", protocol::timeline::MAX_INTO_PREVIOUS_SECONDS))),
                },
            };
            return Ok(StepRequest::Get { url: url.to_string(), user: step.get("user").and_then(|v| v.as_str()).map(str::to_string), worker, into_previous });
        }
        if let Some(secs) = step.get("advance") {
            return secs.as_f64().map(StepRequest::Advance).ok_or_else(|| err(ErrorKind::TypeError, "advance takes a number of seconds"));
        }
        if let Some(src) = step.get("run").and_then(|v| v.as_str()) {
            return Ok(StepRequest::Run { code: src.to_string(), worker: None });
        }
        if let Some(file) = step.get("test").and_then(|v| v.as_str()) {
            return Ok(StepRequest::Test(file.to_string()));
        }
        Err(err(ErrorKind::ValueError, format!("unknown step: {step}")))
    }
}

/// What a step did; the query log of the step stays in `rt.log`.
#[derive(Default)]
pub struct StepOutcome {
    pub status: Option<u16>,
    pub body: Option<String>,
    pub headers: Vec<(String, String)>,
    /// A shell line's `str()` of its final expression.
    pub output: Option<String>,
    pub tests: Option<Vec<super::testing::TestResult>>,
    pub error: Option<SandboxError>,
    /// For a request that read the cache: the outermost layer read and whether it answered,
    /// or stale (a hit whose page differs from what the request renders now without the cache).
    pub cache: Option<protocol::CacheOutcome>,
    /// A request's own time (ms), without the stale check's replay.
    pub request_ms: Option<f64>,
    /// Where the step sat on the virtual clock: (start, end) in seconds.
    pub span: (f64, f64),
}

fn failed(e: SandboxError) -> StepOutcome {
    StepOutcome { error: Some(e), ..Default::default() }
}

/// Runs one step with `budget_ms` of time: a request through the test client (the login
/// itself not counted), a clock move, a shell line in `views.py`'s namespace, or the tests.
pub fn execute(rt: &Rt, project: &Rc<Project>, step: &StepRequest, budget_ms: f64) -> StepOutcome {
    execute_with(rt, project, step, budget_ms, false)
}

/// [`execute`]; with `detect_stale`, a request that read the cache is classified (hit, miss,
/// stale) by rendering it again without the cache, invisibly.
pub fn execute_with(rt: &Rt, project: &Rc<Project>, step: &StepRequest, budget_ms: f64, detect_stale: bool) -> StepOutcome {
    if let StepRequest::Advance(_) = step {
        let start = rt.now_seconds();
        let mut out = run_one(rt, project, step, budget_ms, detect_stale);
        out.span = (start, rt.now_seconds());
        return out;
    }
    let into_previous = match step {
        StepRequest::Get { into_previous, .. } => *into_previous,
        _ => None,
    };
    crate::db::lock::begin_step(rt, into_previous, super::caches::caches(rt).borrow().worker());
    let mut out = run_one(rt, project, step, budget_ms, detect_stale);
    let (span, warning) = crate::db::lock::end_step(rt, into_previous.is_some());
    out.span = span;
    if let Some(w) = warning {
        rt.warnings.borrow_mut().push(w);
    }
    out
}

fn run_one(rt: &Rt, project: &Rc<Project>, step: &StepRequest, budget_ms: f64, detect_stale: bool) -> StepOutcome {
    match step {
        StepRequest::Get { url, user, worker, .. } => {
            // A request goes to its worker (1 unless named); shell lines run in the worker
            // the last request went to.
            super::caches::caches(rt).borrow_mut().switch_worker(worker.unwrap_or(1));
            rt.begin_request(budget_ms);
            let user_id = match user {
                Some(u) => match force_login(rt, u) {
                    Ok(id) => Some(id),
                    Err(e) => return failed(e),
                },
                None => None,
            };
            rt.log.borrow_mut().clear();
            let session = user_id.map(|id| (id, rt.now_seconds().floor() as i64));
            let spec = RequestSpec { method: "GET".into(), url: url.to_string(), session, post: vec![] };
            let calls_before = super::caches::with_backend(rt, |b| b.calls().len());
            let start = crate::clock::monotonic_ms();
            let handled = handle(rt, &spec);
            let request_ms = Some(crate::clock::monotonic_ms() - start);
            match handled {
                Ok(resp) => {
                    let r = resp.as_obj::<Response>().expect("a response");
                    let shown = ["Content-Type", "Cache-Control", "Expires", "Vary", "Location"];
                    let headers = shown.iter().filter_map(|h| r.header(h).map(|v| (h.to_string(), v))).collect();
                    let body = r.content.borrow().clone();
                    let cache = if detect_stale { cache_outcome(rt, &spec, calls_before, &body) } else { None };
                    StepOutcome { status: Some(r.status.get()), body: Some(body), headers, cache, request_ms, ..Default::default() }
                }
                Err(e) => StepOutcome { request_ms, ..failed(e) },
            }
        }
        StepRequest::Advance(s) => match rt.advance_clock(*s) {
            Ok(()) => StepOutcome::default(),
            Err(e) => failed(e),
        },
        StepRequest::Run { code, worker } => {
            if let Some(w) = worker {
                super::caches::caches(rt).borrow_mut().switch_worker(*w);
            }
            rt.begin_request(budget_ms);
            let ns = project.shell_namespace();
            match run_statements(rt, &ns, code) {
                Ok(out) => StepOutcome { output: Some(out), ..Default::default() },
                Err(e) => failed(e),
            }
        }
        StepRequest::Test(file) => {
            rt.begin_request(budget_ms);
            let Some(src) = project.files.get(file).cloned() else {
                return failed(exc("FileNotFoundError", format!("No such file: '{file}'")));
            };
            match super::testing::run_tests(rt, file, &src) {
                Ok(results) => StepOutcome { tests: Some(results), ..Default::default() },
                Err(e) => failed(e),
            }
        }
    }
}

/// Which cache layer the request read and whether it answered, from the cache's own record
/// of the request's calls; a hit whose page differs from a fresh render is stale.
fn cache_outcome(rt: &Rt, spec: &RequestSpec, calls_before: usize, body: &str) -> Option<protocol::CacheOutcome> {
    let outcome = super::caches::with_backend(rt, |b| {
        let calls = b.calls();
        crate::cache::cache_outcome(&calls[calls_before.min(calls.len())..])
    })?;
    if outcome.state != protocol::CacheState::Hit {
        return Some(outcome);
    }
    let stale = protocol::CacheOutcome { state: protocol::CacheState::Stale, ..outcome };
    // The replay runs in a transaction rolled back afterwards: a view that writes does not
    // write twice.
    let fresh = super::caches::without_cache(rt, || {
        if crate::db::transaction::enter(rt, false).is_err() {
            return None;
        }
        let r = handle(rt, spec);
        let _ = crate::db::transaction::exit(rt, true);
        Some(r)
    });
    let Some(fresh) = fresh else { return Some(outcome) };
    match fresh {
        Ok(resp) => match resp.as_obj::<Response>() {
            Some(r) if *r.content.borrow() != body => Some(stale),
            _ => Some(outcome),
        },
        Err(_) => Some(outcome),
    }
}

pub fn run_step(rt: &Rt, project: &Rc<Project>, step: &serde_json::Value) -> serde_json::Value {
    let kind = match StepRequest::from_json(step) {
        Ok(k) => k,
        Err(e) => return step_error(&e),
    };
    let out = execute(rt, project, &kind, STEP_BUDGET_MS);
    if let Some(e) = &out.error {
        let mut v = step_error(e);
        if matches!(kind, StepRequest::Get { into_previous: Some(_), .. }) {
            v["elapsed"] = elapsed_json(&out);
        }
        return v;
    }
    let log = rt.log.borrow();
    let sql: Vec<String> = log.iter().map(|q| q.sql.clone()).collect();
    match kind {
        StepRequest::Get { into_previous, .. } => {
            let mut v = serde_json::json!({
                "status": out.status,
                "n_queries": log.len(),
                "body": collapse(out.body.as_deref().unwrap_or("")),
                "sql": sql,
            });
            // Time on the lab's clock, for a request that overlaps the previous one (the
            // contract's steps without "into_previous" keep their documented keys).
            if into_previous.is_some() {
                v["elapsed"] = elapsed_json(&out);
            }
            v
        }
        StepRequest::Advance(_) => serde_json::json!({}),
        StepRequest::Run { .. } => serde_json::json!({ "n_queries": log.len(), "sql": sql, "output": out.output.unwrap_or_default() }),
        StepRequest::Test(_) => serde_json::json!({
            "tests": out.tests.unwrap_or_default().iter().map(|r| serde_json::json!({"name": r.name, "outcome": r.outcome, "message": r.message})).collect::<Vec<_>>()
        }),
    }
}

/// Seconds the step took on the virtual clock (sleeps and lock waits), to the millisecond.
fn elapsed_json(out: &StepOutcome) -> serde_json::Value {
    serde_json::json!(((out.span.1 - out.span.0) * 1000.0).round() / 1000.0)
}

/// `Client.force_login(user)`: the session cookie, and `last_login` updated (not counted).
pub fn force_login(rt: &Rt, username: &str) -> SResult<i64> {
    let qs = crate::orm::queryset::QuerySetObj::for_model(&crate::schema::USER);
    let user = qs.get(rt, vec![], vec![("username".into(), Val::str(username))])?;
    let inst = user.as_obj::<Instance>().expect("a user").rc();
    let id = inst.pk_value().unwrap_or(0);
    let now = crate::py::interp::datetime_now(rt);
    inst.set_value("last_login", Val::DateTime(now));
    crate::orm::write::save(rt, &inst, vec![], vec![("update_fields".into(), Val::list(vec![Val::str("last_login")]))])?;
    Ok(id)
}

/// A shell step: statements in the views module's namespace; the `str()` of a final
/// expression statement, else "".
pub fn run_statements(rt: &Rt, globals: &Rc<Namespace>, src: &str) -> SResult<String> {
    use crate::py::ast::StmtKind;
    let file = Rc::new(SourceFile { name: "<run>".into(), text: src.to_string() });
    let body = crate::py::parser::parse_module(src).map_err(|e| crate::py::import::syntax_error_in(e, "<run>"))?;
    let fr = crate::py::interp::Frame::module(file, globals.clone());
    let (last, init) = match body.split_last() {
        Some((l, i)) => (Some(l), i),
        None => (None, &body[..]),
    };
    crate::py::interp::exec_block(rt, &fr, init)?;
    match last {
        Some(s) => match &s.kind {
            StmtKind::Expr(e) => {
                rt.py_tick()?;
                let v = crate::py::interp::eval(rt, &fr, e)?;
                v.to_str(rt)
            }
            _ => {
                crate::py::interp::exec_block(rt, &fr, std::slice::from_ref(s))?;
                Ok(String::new())
            }
        },
        None => Ok(String::new()),
    }
}
