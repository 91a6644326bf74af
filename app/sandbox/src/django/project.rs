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

use super::http::Response;
use super::urls::{Route, UrlConf};
use crate::error::{err, exc, ErrorKind, SResult};
use crate::orm::model::Instance;
use crate::py::objects::{Namespace, NativeFn};
use crate::runtime::Rt;
use crate::template::{Context, Template};
use crate::value::Val;

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
    /// A `run-project` case's `"settings"` (`MIDDLEWARE`, `CACHES`), over the defaults.
    pub case_settings: Option<serde_json::Value>,
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
            case_settings: None,
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
        let ns = manage_shell_namespace(self.views.borrow().as_ref());
        *self.shell.borrow_mut() = Some(ns.clone());
        ns
    }

    pub fn has_template(&self, name: &str) -> bool {
        self.files.contains_key(&format!("templates/{name}"))
    }
}

/// `manage.py shell` in a lab: Django 5.2's shell imports every installed app's models, and
/// the lab's shell also has the names of `views.py` (its functions, its imports), which take
/// precedence. Assignments stay in this namespace, not in the views module.
pub fn manage_shell_namespace(views: Option<&Rc<Namespace>>) -> Rc<Namespace> {
    let ns = Namespace::new();
    for m in crate::schema::MODELS.iter().filter(|m| !m.name.contains('_')) {
        ns.set(m.name, Val::obj(crate::orm::model::ModelClass(m)));
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
        Some(src) => Some(crate::py::interp::exec_source_module(rt, "settings", "settings.py", src)?),
        None => None,
    };
    let databases = settings.as_ref().and_then(|s| s.get("DATABASES"));
    crate::db::lock::configure(rt, databases).map_err(|e| e.in_source("settings.py".to_string()))?;
    // The settings the request cycle and the cache read: the lab's settings.py, or a
    // run-project case's "settings" (contract version 2), over the contract's defaults.
    let read = match (&project.case_settings, &settings) {
        (Some(json), _) => {
            let v = crate::py::json::json_loads(rt, &json.to_string())?;
            let Val::Dict(d) = &v else { return Err(exc("TypeError", "a case's \"settings\" must be an object")) };
            let d = d.borrow().clone();
            for k in d.keys() {
                let k = k.to_str(rt)?;
                if k != "MIDDLEWARE" && k != "CACHES" {
                    return Err(exc("ValueError", format!("a case's settings may set MIDDLEWARE and CACHES, not {k}")));
                }
            }
            super::settings::read(rt, &|name| d.get_str(name))?
        }
        (None, Some(ns)) => super::settings::read(rt, &|name| ns.get(name)).map_err(|e| e.in_source("settings.py".to_string()))?,
        (None, None) => super::settings::Settings::default(),
    };
    let backend = super::caches::backend_for(&read.cache.backend).map_err(|e| if settings.is_some() { e.in_source("settings.py".to_string()) } else { e })?;
    super::caches::caches(rt).borrow_mut().configure(backend);
    super::caches::with_backend(rt, |b| {
        if let Some(store) = b.store() {
            store.max_entries = read.cache.max_entries;
            store.cull_frequency = read.cache.cull_frequency;
        }
    });
    *super::settings::settings(rt).borrow_mut() = read;
    // The project's own modules (`middleware.py`, `signals.py`, …), importable by name, in
    // files order, before views.py.
    for (name, src) in project.files.iter() {
        if let Some(module) = own_module_name(name) {
            crate::py::interp::exec_source_module(rt, module, name, src)?;
        }
    }
    *project.shell.borrow_mut() = None;
    let src = project.files.get("views.py").cloned().unwrap_or_default();
    let ns = crate::py::interp::exec_source_module(rt, "views", "views.py", &src)?;
    *project.views.borrow_mut() = Some(ns.clone());
    // URL routes must name functions of views.py.
    for r in &project.urls.routes {
        if ns.get(&r.view).is_none() {
            return Err(exc("AttributeError", format!("module 'views' has no attribute '{}'", r.view)));
        }
    }
    Ok(ns)
}

/// A project file that is a module of its own: `NAME.py` at the top, other than `views.py`,
/// `tests.py`, `settings.py` and `models.py` (which are loaded for what they are).
pub fn own_module_name(file: &str) -> Option<&str> {
    let module = file.strip_suffix(".py")?;
    (!module.contains('/') && !["views", "tests", "settings", "models"].contains(&module)).then_some(module)
}

pub fn current(rt: &Rt) -> SResult<Rc<Project>> {
    served(rt).project.borrow().clone().ok_or_else(|| err(ErrorKind::NotSupported, "there is no project loaded (views, URLs and templates)"))
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
        let a = crate::py::args::bind("render", args, kwargs, &["request", "template_name", "context", "content_type", "status", "using"], 2)?;
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
fn queryset_of(rt: &Rt, klass: &Val) -> SResult<crate::orm::model::QuerySetObj> {
    if let Some(m) = klass.as_obj::<crate::orm::model::ModelClass>() {
        return Ok(crate::orm::model::QuerySetObj::for_model(m.0));
    }
    if let Some(m) = klass.as_obj::<crate::orm::model::Manager>() {
        return Ok(crate::orm::model::QuerySetObj::for_model(m.model));
    }
    if let Some(q) = klass.as_obj::<crate::orm::model::QuerySetObj>() {
        return Ok(q.chain());
    }
    if let Some(r) = klass.as_obj::<crate::orm::model::RelatedManager>() {
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
        let a = crate::py::args::bind("reverse", args, kwargs, &["viewname", "urlconf", "args", "kwargs", "current_app", "query", "fragment"], 1)?;
        let name = a[0].as_ref().expect("required").to_str(rt)?;
        let mut url = reverse(rt, &name, &to_strings(rt, a[2].as_ref())?, &kw_strings(rt, a[3].as_ref())?)?;
        // Django 5.2: `query` (a dict, QueryDict or pairs, list values repeating their key)
        // and `fragment`.
        match &a[5] {
            None | Some(Val::None) => {}
            Some(q) => {
                let pairs: Vec<(String, String)> = match q.as_obj::<super::http::QueryDict>() {
                    Some(qd) => qd.items.borrow().clone(),
                    None => match q {
                        Val::Dict(_) => super::http::encode_data(rt, Some(q))?,
                        other => {
                            let mut out = Vec::new();
                            for pair in other.iterate(rt)?.iter() {
                                let kv = pair.iterate(rt)?;
                                if kv.len() != 2 {
                                    return Err(err(ErrorKind::TypeError, "not a valid non-string sequence or mapping object"));
                                }
                                out.push((kv[0].to_str(rt)?, kv[1].to_str(rt)?));
                            }
                            out
                        }
                    },
                };
                if !pairs.is_empty() {
                    url = format!("{url}?{}", super::http::urlencode_pairs(&pairs));
                }
            }
        }
        if let Some(f) = a[6].as_ref().filter(|f| !f.is_none()) {
            url = format!("{url}#{}", f.to_str(rt)?);
        }
        Ok(Val::str(url))
    })
}

/// `resolve(path)`: a `ResolverMatch` (`view_name`, `namespace`, `url_name`, `kwargs`, `func`).
pub fn resolve_fn() -> Val {
    NativeFn::val("resolve", |rt, args, kwargs| {
        let a = crate::py::args::bind("resolve", args, kwargs, &["path", "urlconf"], 1)?;
        let path = a[0].as_ref().expect("required").to_str(rt)?;
        let project = current(rt)?;
        let Some((route, kw)) = project.urls.resolve(&path) else {
            return Err(exc("Resolver404", format!("{{'path': {}}}", crate::pyfmt::python_str_repr(path.trim_start_matches('/')))));
        };
        Ok(resolver_match(&project, route, kw))
    })
}

/// The `ResolverMatch` of a resolved route (`resolve(path)`, `request.resolver_match`).
pub fn resolver_match(project: &Project, route: &Route, kw: Vec<(String, Val)>) -> Val {
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
    Val::obj(ResolverMatch {
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
            crate::py::methods::getattr(rt, &self.getattr(rt, "func")?, "__name__").and_then(|n| n.to_str(rt)).unwrap_or_default(),
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

/// Per-step time budget natively (the browser uses its own, shorter).
pub const STEP_BUDGET_MS: f64 = 20_000.0;
