//! The request cycle, as Django's `BaseHandler` runs it: the middleware chain built from
//! `settings.MIDDLEWARE` (innermost first, each layer wrapped so that an exception becomes a
//! response), `process_view` / `process_exception` hooks, URL resolution and the view. The
//! middleware Django ships that a lab meets are native here (`native()`); a learner's own —
//! a function factory or a class in `middleware.py` — is imported and called as Django does.
//! An exception no layer turns into a response becomes a 500, and the test client raises it
//! once the chain has returned (`Client.check_exception`).

use std::cell::RefCell;
use std::rc::Rc;

use super::http::{default_error_page, Request, Response};
use super::project::{current, Project};
use super::settings::settings;
use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::py::objects::NativeFn;
use crate::runtime::Rt;
use crate::template::Context;
use crate::value::{call_value, Val};

/// What the client sends.
#[derive(Clone, Debug, Default)]
pub struct RequestSpec {
    pub method: String,
    /// Path and query string.
    pub url: String,
    /// The logged-in user's id and the second the session was made (the signed session
    /// cookie carries that timestamp, so a login a second later is a different cookie).
    pub session: Option<(i64, i64)>,
    /// The form body (`application/x-www-form-urlencoded`).
    pub post: Vec<(String, String)>,
    /// `request.META` entries the client adds: `HTTP_USER_AGENT`, … (from `headers=` or
    /// `HTTP_*` keyword arguments).
    pub meta: Vec<(String, String)>,
}

/// The hooks `load_middleware` collects from the middleware instances.
#[derive(Default)]
struct Hooks {
    view: Vec<Val>,
    template_response: Vec<Val>,
    exception: Vec<Val>,
    /// The exception a layer turned into a 500 (`got_request_exception`): the test client
    /// raises the last one.
    stored: Option<SandboxError>,
}

type Shared = Rc<RefCell<Hooks>>;

/// Errors that are the sandbox's own (runaway work, something not imitated) go straight out:
/// they are not the project's exceptions.
fn is_python_exception(e: &SandboxError) -> bool {
    !matches!(e.kind, ErrorKind::Budget | ErrorKind::NotSupported)
}

/// Handles one request through the middleware of `settings.MIDDLEWARE`; returns the
/// response, or the exception the test client would raise.
pub fn handle(rt: &Rt, spec: &RequestSpec) -> SResult<Val> {
    // The view time is this request's (a redirect followed, a page from the cache: no view).
    rt.view_ms.set(None);
    let project = current(rt)?;
    let cookies = match spec.session {
        Some((id, at)) => vec![("sessionid".to_string(), format!("sandbox-session-{id}:{at}"))],
        None => vec![],
    };
    let mut req = Request::new(&spec.method, &spec.url, cookies, spec.session.map(|s| s.0), spec.post.clone());
    req.meta.extend(spec.meta.iter().cloned());
    if !spec.post.is_empty() || !matches!(spec.method.as_str(), "GET" | "HEAD") {
        req.meta.push(("CONTENT_TYPE".into(), "application/x-www-form-urlencoded".into()));
    }
    req.no_user.set(true);
    req.no_session.set(true);
    let request = Val::obj(req);
    let hooks: Shared = Rc::new(RefCell::new(Hooks::default()));
    let chain = load_middleware(rt, &project, &hooks)?;
    let response = call_value(rt, &chain, vec![request], vec![])?;
    if let Some(e) = hooks.borrow_mut().stored.take() {
        return Err(e);
    }
    match &response {
        Val::None => Err(exc("AttributeError", "'NoneType' object has no attribute '_resource_closers'")),
        v if v.as_obj::<Response>().is_none() => Err(err(ErrorKind::AttributeError, format!("'{}' object has no attribute '_resource_closers'", v.type_name()))),
        _ => Ok(response),
    }
}

/// `BaseHandler.load_middleware`: from the innermost handler out, each middleware made from
/// the handler inside it, each wrapped by `convert_exception_to_response`.
fn load_middleware(rt: &Rt, project: &Rc<Project>, hooks: &Shared) -> SResult<Val> {
    let paths = settings(rt).borrow().middleware.clone();
    let inner = {
        let project = project.clone();
        let hooks = hooks.clone();
        NativeFn::val("_get_response", move |rt, args, _| get_response(rt, &project, &hooks, &first(args)?))
    };
    let mut handler = convert(project, hooks, inner, (paths.len() + 1, "(the view: URL resolving, process_view, the view and its template)".into()));
    for (i, path) in paths.iter().enumerate().rev() {
        let kind = native(path);
        let instance = match kind {
            Some(kind) => native_instance(rt, kind, handler.clone())?,
            None => {
                let factory = import_string(rt, path)?;
                call_value(rt, &factory, vec![handler.clone()], vec![])?
            }
        };
        if instance.is_none() {
            return Err(exc("ImproperlyConfigured", format!("Middleware factory {path} returned None.")));
        }
        if kind.is_none() {
            let mut h = hooks.borrow_mut();
            if let Some(m) = bound(rt, &instance, "process_view") {
                h.view.insert(0, m);
            }
            if let Some(m) = bound(rt, &instance, "process_template_response") {
                h.template_response.push(m);
            }
            if let Some(m) = bound(rt, &instance, "process_exception") {
                h.exception.push(m);
            }
        }
        handler = convert(project, hooks, instance, (i + 1, path.clone()));
    }
    Ok(handler)
}

fn bound(rt: &Rt, v: &Val, name: &str) -> Option<Val> {
    crate::py::methods::getattr(rt, v, name).ok()
}

fn first(args: Vec<Val>) -> SResult<Val> {
    args.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, "a handler takes the request"))
}

/// `import_string(dotted_path)`, as `load_middleware` imports each entry.
fn import_string(rt: &Rt, path: &str) -> SResult<Val> {
    let Some((module, name)) = path.rsplit_once('.') else {
        return Err(exc("ImportError", format!("{path} doesn't look like a module path")));
    };
    if module.starts_with("django.") || module == "django" {
        return Err(unknown_django(path, module, name));
    }
    let m = crate::py::import::import(rt, module)?;
    crate::py::methods::getattr(rt, &m, name).map_err(|_| exc("ImportError", format!("Module \"{module}\" does not define a \"{name}\" attribute/class")))
}

/// A `django.…` path the sandbox has no middleware for: Django's own error when the module
/// or class does not exist, a clear refusal when it does.
fn unknown_django(path: &str, module: &str, name: &str) -> SandboxError {
    const SHIPPED: &[&str] = &[
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
        "django.contrib.auth.middleware.RemoteUserMiddleware",
        "django.contrib.auth.middleware.PersistentRemoteUserMiddleware",
        "django.contrib.sites.middleware.CurrentSiteMiddleware",
        "django.contrib.flatpages.middleware.FlatpageFallbackMiddleware",
        "django.contrib.redirects.middleware.RedirectFallbackMiddleware",
        "django.contrib.admindocs.middleware.XViewMiddleware",
        "django.middleware.csp.ContentSecurityPolicyMiddleware",
    ];
    if SHIPPED.contains(&path) {
        return err(ErrorKind::NotSupported, format!("the sandbox does not run {path} (its MIDDLEWARE can hold Django's session, auth, common, conditional GET, cache, security, clickjacking, CSRF, messages, locale and GZip middleware, and the project's own)"));
    }
    const MODULES: &[&str] = &[
        "django.middleware.cache",
        "django.middleware.common",
        "django.middleware.http",
        "django.middleware.security",
        "django.middleware.clickjacking",
        "django.middleware.csrf",
        "django.middleware.gzip",
        "django.middleware.locale",
        "django.contrib.sessions.middleware",
        "django.contrib.auth.middleware",
        "django.contrib.messages.middleware",
    ];
    if MODULES.contains(&module) {
        return exc("ImportError", format!("Module \"{module}\" does not define a \"{name}\" attribute/class"));
    }
    exc("ModuleNotFoundError", format!("No module named '{module}'"))
}

/// `convert_exception_to_response(inner)`; `place` is the layer's line in the profile (its
/// index in `MIDDLEWARE` plus one; the view is the line after the last).
fn convert(project: &Rc<Project>, hooks: &Shared, inner: Val, place: (usize, String)) -> Val {
    let project = project.clone();
    let hooks = hooks.clone();
    NativeFn::val("convert_exception_to_response.<inner>", move |rt, args, _| {
        let request = first(args)?;
        let file = protocol::MIDDLEWARE_FILE;
        rt.prof_frame((file.as_ptr() as usize, place.0 as u32), || (file.to_string(), place.1.clone()), || {
            match call_value(rt, &inner, vec![request.clone()], vec![]) {
                Ok(r) => Ok(r),
                Err(e) if !is_python_exception(&e) => Err(e),
                Err(e) => response_for_exception(rt, &project, &hooks, &request, e),
            }
        })
    })
}

/// `response_for_exception`: 404, 403 and 400 pages; anything else a 500, kept for the client.
fn response_for_exception(rt: &Rt, project: &Project, hooks: &Shared, request: &Val, e: SandboxError) -> SResult<Val> {
    let path = request.as_obj::<Request>().map(|r| r.path.clone()).unwrap_or_default();
    if e.is_a("Http404") {
        let shown = if e.message.is_empty() { e.python_name().to_string() } else { e.message.clone() };
        return not_found(rt, project, &path, &shown);
    }
    if e.is_a("PermissionDenied") {
        // permission_denied: 403.html gets the exception's text.
        let ctx = Context::from_pairs([("exception", Val::str(e.message.clone()))]);
        return error_page(rt, project, 403, "HttpResponseForbidden", "403 Forbidden", ctx);
    }
    if e.is_a("BadRequest") || e.is_a("SuspiciousOperation") {
        return error_page(rt, project, 400, "HttpResponseBadRequest", "Bad Request (400)", Context::new());
    }
    hooks.borrow_mut().stored = Some(e);
    error_page(rt, project, 500, "HttpResponseServerError", "Server Error (500)", Context::new())
}

/// `django.views.defaults` for 400, 403 and 500: the project's `<status>.html` when it has one,
/// else Django's plain page with the title.
fn error_page(rt: &Rt, project: &Project, status: u16, class: &str, title: &str, mut ctx: Context) -> SResult<Val> {
    let name = format!("{status}.html");
    let body = if project.has_template(&name) { project.template(&name)?.render(rt, &mut ctx)? } else { default_error_page(title, "") };
    Ok(Val::obj(Response::new(body, status, "text/html; charset=utf-8", class)))
}

fn not_found(rt: &Rt, project: &Project, path: &str, message: &str) -> SResult<Val> {
    if project.has_template("404.html") {
        let t = project.template("404.html")?;
        let quoted = super::http::url_encode_safe(path, "/");
        let mut ctx = Context::from_pairs([("request_path", Val::str(quoted)), ("exception", Val::str(message))]);
        let body = t.render(rt, &mut ctx)?;
        return Ok(Val::obj(Response::new(body, 404, "text/html; charset=utf-8", "HttpResponseNotFound")));
    }
    Ok(Val::obj(Response::new(default_error_page("Not Found", "The requested resource was not found on this server."), 404, "text/html; charset=utf-8", "HttpResponseNotFound")))
}

/// `BaseHandler._get_response`: resolve, `process_view`, the view, `process_exception`.
fn get_response(rt: &Rt, project: &Rc<Project>, hooks: &Shared, request: &Val) -> SResult<Val> {
    let req = request.as_obj::<Request>().ok_or_else(|| err(ErrorKind::TypeError, "the handler takes an HttpRequest"))?;
    let Some((route, kwargs)) = project.urls.resolve(&req.path) else {
        // Django's Resolver404 carries a dict (the path and the patterns tried), so a 404.html
        // shows `{{ exception }}` as the class name.
        return Err(exc("Resolver404", ""));
    };
    let view_name = route.view.clone();
    // resolve_request: the match is on the request before any process_view runs.
    req.attrs.borrow_mut().insert("resolver_match".into(), super::project::resolver_match(project, route, kwargs.clone()));
    let views = project.views.borrow().clone().ok_or_else(|| err(ErrorKind::NotSupported, "views.py is not loaded"))?;
    let view = views.get(&view_name).ok_or_else(|| exc("AttributeError", format!("module 'views' has no attribute '{view_name}'")))?;
    let view_hooks = hooks.borrow().view.clone();
    let mut kwd = crate::value::PyDict::new();
    for (k, v) in &kwargs {
        kwd.set_str(k, v.clone());
    }
    let kwd = Val::dict(kwd);
    let mut response = Val::None;
    for m in &view_hooks {
        response = call_value(rt, m, vec![request.clone(), view.clone(), Val::tuple(vec![]), kwd.clone()], vec![])?;
        if response.truthy(rt)? {
            break;
        }
    }
    if response.is_none() {
        let started = crate::clock::monotonic_ms();
        let called = call_value(rt, &view, vec![request.clone()], kwargs);
        rt.view_ms.set(Some(crate::clock::monotonic_ms() - started));
        response = match called {
            Ok(r) => r,
            Err(e) if !is_python_exception(&e) => return Err(e),
            Err(e) => {
                let exception_hooks = hooks.borrow().exception.clone();
                let value = crate::py::classes::exception_value(rt, &e);
                let mut answered = None;
                for m in &exception_hooks {
                    let r = call_value(rt, m, vec![request.clone(), value.clone()], vec![])?;
                    if r.truthy(rt)? {
                        answered = Some(r);
                        break;
                    }
                }
                match answered {
                    Some(r) => r,
                    None => return Err(e),
                }
            }
        };
    }
    if response.is_none() {
        // A class-based view's function is `view` (`as_view()` keeps the class's module).
        let shown = if bound(rt, &view, "view_class").is_some() { "view".to_string() } else { view_name };
        return Err(err(ErrorKind::ValueError, format!("The view views.{shown} didn't return an HttpResponse object. It returned None instead.")));
    }
    Ok(response)
}

// ---------------------------------------------------------------- Django's middleware

#[derive(Clone, Copy, Debug, PartialEq)]
enum Native {
    Session,
    Authentication,
    Common,
    ConditionalGet,
    UpdateCache,
    FetchFromCache,
    Cache,
    Security,
    XFrameOptions,
    Csrf,
    Messages,
    Locale,
    GZip,
}

fn native(path: &str) -> Option<Native> {
    Some(match path {
        "django.contrib.sessions.middleware.SessionMiddleware" => Native::Session,
        "django.contrib.auth.middleware.AuthenticationMiddleware" => Native::Authentication,
        "django.middleware.common.CommonMiddleware" => Native::Common,
        "django.middleware.http.ConditionalGetMiddleware" => Native::ConditionalGet,
        "django.middleware.cache.UpdateCacheMiddleware" => Native::UpdateCache,
        "django.middleware.cache.FetchFromCacheMiddleware" => Native::FetchFromCache,
        "django.middleware.cache.CacheMiddleware" => Native::Cache,
        "django.middleware.security.SecurityMiddleware" => Native::Security,
        "django.middleware.clickjacking.XFrameOptionsMiddleware" => Native::XFrameOptions,
        "django.middleware.csrf.CsrfViewMiddleware" => Native::Csrf,
        "django.contrib.messages.middleware.MessageMiddleware" => Native::Messages,
        "django.middleware.locale.LocaleMiddleware" => Native::Locale,
        "django.middleware.gzip.GZipMiddleware" => Native::GZip,
        _ => return None,
    })
}

/// A native middleware instance: `MiddlewareMixin.__call__` — `process_request`, else the
/// handler inside; then `process_response`.
fn native_instance(rt: &Rt, kind: Native, get_response: Val) -> SResult<Val> {
    // Read at construction, as the middleware's __init__ reads settings.
    let s = settings(rt).borrow().clone();
    Ok(NativeFn::val(format!("{kind:?}Middleware"), move |rt, args, _| {
        let request = first(args)?;
        let req = request.as_obj::<Request>().ok_or_else(|| err(ErrorKind::TypeError, "middleware takes an HttpRequest"))?;
        let early = process_request(rt, kind, &s, req)?;
        let response = match early {
            Some(r) => r,
            None => call_value(rt, &get_response, vec![request.clone()], vec![])?,
        };
        process_response(rt, kind, &s, req, response)
    }))
}

fn process_request(rt: &Rt, kind: Native, s: &super::settings::Settings, req: &Request) -> SResult<Option<Val>> {
    match kind {
        Native::Session => req.no_session.set(false),
        Native::Authentication => {
            if req.no_session.get() {
                return Err(exc(
                    "ImproperlyConfigured",
                    "The Django authentication middleware requires session middleware to be installed. Edit your MIDDLEWARE setting to insert 'django.contrib.sessions.middleware.SessionMiddleware' before 'django.contrib.auth.middleware.AuthenticationMiddleware'.",
                ));
            }
            req.no_user.set(false);
        }
        // Django 5.2's CommonMiddleware appends the slash in process_response, on a 404.
        Native::FetchFromCache | Native::Cache => {
            let prefix = s.cache_middleware_key_prefix.clone();
            return super::cache::fetch_from_cache(rt, req, &prefix);
        }
        Native::Locale => {
            if req.meta_str("HTTP_ACCEPT_LANGUAGE").is_some() {
                return Err(err(ErrorKind::NotSupported, "the sandbox's LocaleMiddleware serves English only: send the request without an Accept-Language header"));
            }
            req.attrs.borrow_mut().insert("LANGUAGE_CODE".into(), Val::str("en-us"));
        }
        Native::Messages => {
            if req.no_session.get() {
                return Err(exc(
                    "ImproperlyConfigured",
                    "The session-based temporary message storage requires session middleware to be installed, and come before the message middleware in the MIDDLEWARE list.",
                ));
            }
        }
        Native::Common | Native::UpdateCache | Native::ConditionalGet | Native::Security | Native::XFrameOptions | Native::Csrf | Native::GZip => {}
    }
    Ok(None)
}

/// The response a native `process_response` reads; `None` from an inner layer fails as it
/// fails in Django, on the first attribute read.
fn response_of<'a>(v: &'a Val, attr: &str) -> SResult<&'a Response> {
    v.as_obj::<Response>().ok_or_else(|| err(ErrorKind::AttributeError, format!("'{}' object has no attribute '{attr}'", v.type_name())))
}

fn process_response(rt: &Rt, kind: Native, s: &super::settings::Settings, req: &Request, response: Val) -> SResult<Val> {
    match kind {
        Native::Session => {
            if req.session_accessed.get() {
                response_of(&response, "has_header")?.patch_vary("Cookie");
            }
        }
        Native::Common => {
            let r = response_of(&response, "status_code")?;
            if r.status.get() == 404 && should_redirect_with_slash(rt, s, req)? {
                return Ok(permanent_redirect(&full_path_with_slash(req)));
            }
        }
        Native::ConditionalGet => return conditional_get(req, response),
        Native::UpdateCache | Native::Cache => {
            let prefix = s.cache_middleware_key_prefix.clone();
            super::cache::update_cache(rt, req, &response, None, s.cache_middleware_seconds, &prefix)?;
        }
        Native::Security => {
            let r = response_of(&response, "headers")?;
            for (h, v) in [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"), ("Cross-Origin-Opener-Policy", "same-origin")] {
                if r.header(h).is_none() {
                    r.set_header(h, v);
                }
            }
        }
        Native::XFrameOptions => {
            let r = response_of(&response, "get")?;
            if r.header("X-Frame-Options").is_none() && !r.xframe_options_exempt.get() {
                r.set_header("X-Frame-Options", "DENY");
            }
        }
        Native::Locale => {
            let r = response_of(&response, "status_code")?;
            r.patch_vary("Accept-Language");
            if r.header("Content-Language").is_none() {
                r.set_header("Content-Language", "en-us");
            }
        }
        Native::GZip => {
            let r = response_of(&response, "streaming")?;
            if r.content.borrow().len() >= 200 && r.header("Content-Encoding").is_none() {
                r.patch_vary("Accept-Encoding");
                if req.meta_str("HTTP_ACCEPT_ENCODING").is_some_and(|a| a.to_lowercase().contains("gzip")) {
                    return Err(err(ErrorKind::NotSupported, "the sandbox's GZipMiddleware does not compress: send the request without Accept-Encoding: gzip"));
                }
            }
        }
        Native::Authentication | Native::FetchFromCache | Native::Csrf | Native::Messages => {}
    }
    Ok(response)
}

fn permanent_redirect(url: &str) -> Val {
    let r = Response::new(String::new(), 301, "text/html; charset=utf-8", "HttpResponsePermanentRedirect");
    r.set_header("Location", url);
    Val::obj(r)
}

/// `CommonMiddleware.should_redirect_with_slash`: `APPEND_SLASH`, no trailing slash, the path
/// does not resolve and the path with a slash does.
fn should_redirect_with_slash(rt: &Rt, s: &super::settings::Settings, req: &Request) -> SResult<bool> {
    if !s.append_slash || req.path.ends_with('/') {
        return Ok(false);
    }
    let project = current(rt)?;
    Ok(project.urls.resolve(&req.path).is_none() && project.urls.resolve(&format!("{}/", req.path)).is_some())
}

fn full_path_with_slash(req: &Request) -> String {
    let path = format!("{}/", req.path);
    if req.query_string.is_empty() {
        path
    } else {
        format!("{path}?{}", req.query_string)
    }
}

/// `ConditionalGetMiddleware.process_response`: an ETag (the content's md5) on GET
/// responses that may be stored, then `get_conditional_response` — 304 when the client's
/// `If-None-Match` or `If-Modified-Since` still holds.
fn conditional_get(req: &Request, response: Val) -> SResult<Val> {
    if req.method != "GET" {
        return Ok(response);
    }
    let r = response_of(&response, "get")?;
    let no_store = r.header("Cache-Control").is_some_and(|c| c.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-store")));
    if !no_store && r.header("ETag").is_none() && !r.content.borrow().is_empty() {
        r.set_header("ETag", &format!("\"{}\"", crate::md5::hex(r.content.borrow().as_bytes())));
    }
    let etag = r.header("ETag");
    let last_modified = r.header("Last-Modified").and_then(|d| super::http::parse_http_date(&d));
    if etag.is_none() && last_modified.is_none() {
        return Ok(response);
    }
    Ok(conditional_response(req, etag.as_deref(), last_modified, Some(r)).unwrap_or(response))
}

/// `get_conditional_response`: a 304 (GET, HEAD) or 412 (other methods) when the request's
/// `If-Match`/`If-Unmodified-Since`/`If-None-Match`/`If-Modified-Since` ask for it, else `None`
/// (the response stands).
pub fn conditional_response(req: &Request, etag: Option<&str>, last_modified: Option<i64>, response: Option<&Response>) -> Option<Val> {
    if response.is_some_and(|r| !(200..300).contains(&r.status.get())) {
        return None;
    }
    let header = |k: &str| req.meta_str(k).unwrap_or_default();
    let if_match = parse_etags(&header("HTTP_IF_MATCH"));
    let if_unmodified_since = super::http::parse_http_date(&header("HTTP_IF_UNMODIFIED_SINCE"));
    let if_none_match = parse_etags(&header("HTTP_IF_NONE_MATCH"));
    let if_modified_since = super::http::parse_http_date(&header("HTTP_IF_MODIFIED_SINCE"));
    let safe = req.method == "GET" || req.method == "HEAD";
    let strip = |t: &str| t.trim_matches(|c| c == 'W' || c == '/').to_string();
    if !if_match.is_empty() {
        let passes = match etag {
            None => false,
            Some(_) if if_match == ["*"] => true,
            Some(e) if e.starts_with("W/") => false,
            Some(e) => if_match.iter().any(|t| t == e),
        };
        if !passes {
            return Some(precondition_failed());
        }
    }
    if if_match.is_empty() {
        if let Some(since) = if_unmodified_since {
            if !last_modified.is_some_and(|lm| lm <= since) {
                return Some(precondition_failed());
            }
        }
    }
    if !if_none_match.is_empty() {
        let passes = match etag {
            None => true,
            Some(_) if if_none_match == ["*"] => false,
            Some(e) => !if_none_match.iter().any(|t| strip(t) == strip(e)),
        };
        if !passes {
            return Some(if safe { not_modified(response) } else { precondition_failed() });
        }
    }
    if if_none_match.is_empty() && safe {
        if let Some(since) = if_modified_since {
            if last_modified.is_some_and(|lm| lm <= since) {
                return Some(not_modified(response));
            }
        }
    }
    None
}

fn precondition_failed() -> Val {
    Val::obj(Response::html(String::new(), 412))
}

/// `_not_modified`: a 304 keeping the headers RFC 9110 asks for.
fn not_modified(response: Option<&Response>) -> Val {
    let n = Response::new(String::new(), 304, "", "HttpResponseNotModified");
    n.headers.borrow_mut().shift_remove("content-type");
    if let Some(r) = response {
        for h in ["Cache-Control", "Content-Location", "Date", "ETag", "Expires", "Last-Modified", "Vary"] {
            if let Some(v) = r.header(h) {
                n.set_header(h, &v);
            }
        }
        *n.cookies.borrow_mut() = r.cookies.borrow().clone();
    }
    Val::obj(n)
}

/// `quote_etag`: an ETag as given when it is already quoted, else in quotes.
pub fn quote_etag(tag: &str) -> String {
    let t = tag.strip_prefix("W/").unwrap_or(tag);
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') && !t[1..t.len() - 1].contains('"') {
        tag.to_string()
    } else {
        format!("\"{tag}\"")
    }
}

/// `condition(etag_func=None, last_modified_func=None)` and its shortcuts `etag(f)`,
/// `last_modified(f)` (`django.views.decorators.http`): the functions run first; a request
/// whose validators still hold gets a 304 (or 412) without running the view; GET and HEAD
/// responses carry the ETag and Last-Modified.
pub fn condition_factory(name: &'static str) -> Val {
    NativeFn::val(name, move |rt, args, kwargs| {
        let (etag_func, lm_func) = match name {
            "etag" => (Some(crate::py::args::bind("etag", args, kwargs, &["etag_func"], 1)?[0].clone().expect("required")), None),
            "last_modified" => (None, Some(crate::py::args::bind("last_modified", args, kwargs, &["last_modified_func"], 1)?[0].clone().expect("required"))),
            _ => {
                let a = crate::py::args::bind("condition", args, kwargs, &["etag_func", "last_modified_func"], 0)?;
                (a[0].clone().filter(|v| !v.is_none()), a[1].clone().filter(|v| !v.is_none()))
            }
        };
        let _ = rt;
        Ok(NativeFn::val(format!("{name}.<decorator>"), move |_rt, args, _| {
            let view = args.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, "the decorator takes a view function"))?;
            let (etag_func, lm_func) = (etag_func.clone(), lm_func.clone());
            Ok(NativeFn::val(format!("{name}.<inner>"), move |rt, args, kwargs| {
                let request = args.first().cloned().ok_or_else(|| err(ErrorKind::TypeError, "a view takes the request"))?;
                let req = request.as_obj::<Request>().ok_or_else(|| err(ErrorKind::TypeError, "a view takes an HttpRequest"))?;
                let last_modified = match &lm_func {
                    Some(f) => match call_value(rt, f, args.clone(), kwargs.clone())? {
                        Val::DateTime(d) => Some(d.to_micros().div_euclid(1_000_000)),
                        Val::None => None,
                        other if !other.truthy(rt)? => None,
                        other => return Err(err(ErrorKind::TypeError, format!("last_modified_func must return a datetime, not {}", other.type_name()))),
                    },
                    None => None,
                };
                let etag = match &etag_func {
                    Some(f) => match call_value(rt, f, args.clone(), kwargs.clone())? {
                        Val::None => None,
                        v => Some(quote_etag(&v.to_str(rt)?)),
                    },
                    None => None,
                };
                let response = match conditional_response(req, etag.as_deref(), last_modified, None) {
                    Some(r) => r,
                    None => call_value(rt, &view, args, kwargs)?,
                };
                if req.method == "GET" || req.method == "HEAD" {
                    if let Some(r) = response.as_obj::<Response>() {
                        if let Some(lm) = last_modified.filter(|lm| *lm != 0) {
                            if r.header("Last-Modified").is_none() {
                                r.set_header("Last-Modified", &super::http::http_date(lm as f64));
                            }
                        }
                        if let Some(e) = &etag {
                            if r.header("ETag").is_none() {
                                r.set_header("ETag", e);
                            }
                        }
                    }
                }
                Ok(response)
            }))
        }))
    })
}

fn weak(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// `parse_etags`: `*`, or the quoted tags of the header.
fn parse_etags(header: &str) -> Vec<String> {
    if header.trim() == "*" {
        return vec!["*".into()];
    }
    header
        .split(',')
        .map(str::trim)
        .filter(|t| {
            let t = weak(t);
            t.len() >= 2 && t.starts_with('"') && t.ends_with('"')
        })
        .map(str::to_string)
        .collect()
}
