//! `django.core.cache`: the low-level API (`cache.get/set/add/delete/get_or_set/get_many/
//! set_many/delete_many/incr/decr/touch/has_key/clear/incr_version/decr_version`) over the backend `settings.CACHES` names (`caches.rs`) and
//! virtual clock, values copied in and out as pickling does, and the `cache_page` machinery
//! (`FetchFromCacheMiddleware` / `UpdateCacheMiddleware` as a view decorator, with Django's
//! cache keys from the full URL and the learned `Vary` headers).

use std::any::Any;
use std::rc::Rc;

use crate::cache::{key_warnings, make_key_prefixed, Timeout};
use super::caches::with_backend;
use crate::py::pickle::pickle_copy;
use crate::error::{err, exc, ErrorKind, SResult};
use crate::py::objects::NativeFn;
use crate::runtime::Rt;
use crate::value::{call_value, Kwargs, Object, PyDict, Val};

/// The default timeout: `CACHES["default"]["TIMEOUT"]` (300 s unless set; `None` never expires).
fn default_timeout(rt: &Rt) -> Timeout {
    match super::settings::settings(rt).borrow().cache.timeout {
        Some(s) => Timeout::Seconds(s),
        None => Timeout::Never,
    }
}

fn timeout_arg(rt: &Rt, v: Option<&Val>) -> SResult<Timeout> {
    Ok(match v {
        None => default_timeout(rt),
        Some(Val::None) => Timeout::Never,
        Some(Val::Int(i)) => Timeout::Seconds(*i as f64),
        Some(Val::Float(f)) => Timeout::Seconds(*f),
        Some(Val::Bool(b)) => Timeout::Seconds(*b as i64 as f64),
        Some(other) => {
            // Django adds the timeout to time.time(): a string fails there.
            return Err(err(ErrorKind::TypeError, format!("unsupported operand type(s) for +: 'float' and '{}'", other.type_name()))).map_err(|e| {
                let _ = rt;
                e
            });
        }
    })
}

fn version_arg(rt: &Rt, v: Option<&Val>) -> SResult<i64> {
    match v {
        None | Some(Val::None) => Ok(super::settings::settings(rt).borrow().cache.version),
        Some(Val::Int(i)) => Ok(*i),
        Some(other) => Err(err(ErrorKind::TypeError, format!("version must be an integer, not {}", other.type_name()))),
    }
}

/// `make_key`: `KEY_PREFIX:VERSION:key`, with the settings' version when none is given.
pub fn made_key(rt: &Rt, raw: &str, version: Option<i64>) -> String {
    let c = super::settings::settings(rt).borrow().cache.clone();
    make_key_prefixed(&c.key_prefix, raw, version.unwrap_or(c.version))
}

/// `make_key` plus `validate_key` (warnings shown beside the output, as `CacheKeyWarning`).
fn key(rt: &Rt, k: &Val, version: i64) -> SResult<String> {
    let raw = k.to_str(rt)?;
    let made = made_key(rt, &raw, Some(version));
    for w in key_warnings(&made) {
        rt.warnings.borrow_mut().push(format!("CacheKeyWarning: {w}"));
    }
    Ok(made)
}

fn now(rt: &Rt) -> f64 {
    rt.now_seconds()
}

/// `cache.get(key)` internals: the stored value, copied.
pub fn get_raw(rt: &Rt, made: &str) -> SResult<Option<Val>> {
    let v = with_backend(rt, |b| b.get(made, now(rt)));
    v.map(|v| pickle_copy(rt, &v)).transpose()
}

pub fn set_raw(rt: &Rt, made: &str, v: &Val, t: Timeout) -> SResult<()> {
    let copy = pickle_copy(rt, v)?;
    with_backend(rt, |b| b.set(made, copy, t, now(rt)));
    Ok(())
}

/// The `cache` object: the session's caches, answering with the current process's backend.
pub struct CacheObj(pub Rc<std::cell::RefCell<super::caches::Caches>>);

impl CacheObj {
    pub fn new(rt: &Rt) -> CacheObj {
        CacheObj(super::caches::caches(rt))
    }

    fn path(&self) -> String {
        self.0.borrow().backend_ref().path().to_string()
    }
}

impl Object for CacheObj {
    fn type_name(&self) -> String {
        self.0.borrow().backend_ref().class_name().to_string()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<{} object>", self.path()))
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        const METHODS: &[&str] = &["get", "set", "add", "delete", "get_or_set", "get_many", "set_many", "delete_many", "incr", "decr", "touch", "has_key", "clear", "close", "make_key", "incr_version", "decr_version"];
        if METHODS.contains(&name) {
            let n = name.to_string();
            return Ok(NativeFn::val(format!("cache.{name}"), move |rt, args, kwargs| cache_call(rt, &n, args, kwargs)));
        }
        match name {
            "default_timeout" => Ok(match super::settings::settings(rt).borrow().cache.timeout {
                Some(t) if t.fract() == 0.0 => Val::Int(t as i64),
                Some(t) => Val::Float(t),
                None => Val::None,
            }),
            "key_prefix" => Ok(Val::str(&super::settings::settings(rt).borrow().cache.key_prefix)),
            "version" => Ok(Val::Int(super::settings::settings(rt).borrow().cache.version)),
            _ => Err(crate::value::no_attr(&self.type_name(), name)),
        }
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        cache_call(rt, name, args, kwargs)
    }
    fn contains(&self, rt: &Rt, item: &Val) -> SResult<bool> {
        let k = key(rt, item, version_arg(rt, None)?)?;
        Ok(with_backend(rt, |b| b.has_key(&k, now(rt))))
    }
}

fn cache_call(rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    use crate::py::args::bind;
    match name {
        "get" => {
            let a = bind("get", args, kwargs, &["key", "default", "version"], 1)?;
            let k = key(rt, a[0].as_ref().expect("required"), version_arg(rt, a[2].as_ref())?)?;
            Ok(get_raw(rt, &k)?.unwrap_or_else(|| a[1].clone().unwrap_or(Val::None)))
        }
        "set" => {
            let a = bind("set", args, kwargs, &["key", "value", "timeout", "version"], 2)?;
            let t = timeout_arg(rt, a[2].as_ref())?;
            let k = key(rt, a[0].as_ref().expect("required"), version_arg(rt, a[3].as_ref())?)?;
            let v = pickle_copy(rt, a[1].as_ref().expect("required"))?;
            with_backend(rt, |b| b.set(&k, v, t, now(rt)));
            Ok(Val::None)
        }
        "add" => {
            let a = bind("add", args, kwargs, &["key", "value", "timeout", "version"], 2)?;
            let t = timeout_arg(rt, a[2].as_ref())?;
            let k = key(rt, a[0].as_ref().expect("required"), version_arg(rt, a[3].as_ref())?)?;
            let v = pickle_copy(rt, a[1].as_ref().expect("required"))?;
            let n = now(rt);
            Ok(Val::Bool(with_backend(rt, |b| b.add(&k, v, t, n))))
        }
        "delete" => {
            let a = bind("delete", args, kwargs, &["key", "version"], 1)?;
            let k = key(rt, a[0].as_ref().expect("required"), version_arg(rt, a[1].as_ref())?)?;
            let n = now(rt);
            Ok(Val::Bool(with_backend(rt, |b| b.delete(&k, n))))
        }
        "get_or_set" => {
            let a = bind("get_or_set", args, kwargs, &["key", "default", "timeout", "version"], 2)?;
            let version = version_arg(rt, a[3].as_ref())?;
            let k = key(rt, a[0].as_ref().expect("required"), version)?;
            if let Some(v) = get_raw(rt, &k)? {
                return Ok(v);
            }
            let mut default = a[1].clone().expect("required");
            if matches!(&default, Val::Obj(o) if o.is_callable()) {
                default = call_value(rt, &default, vec![], vec![])?;
            }
            let t = timeout_arg(rt, a[2].as_ref())?;
            let copy = pickle_copy(rt, &default)?;
            let n = now(rt);
            with_backend(rt, |b| b.add(&k, copy, t, n));
            Ok(get_raw(rt, &k)?.unwrap_or(default))
        }
        "get_many" => {
            let a = bind("get_many", args, kwargs, &["keys", "version"], 1)?;
            let version = version_arg(rt, a[1].as_ref())?;
            let mut out = PyDict::new();
            for k in a[0].as_ref().expect("required").iterate(rt)?.iter() {
                let made = key(rt, k, version)?;
                if let Some(v) = get_raw(rt, &made)? {
                    out.set(k.clone(), v)?;
                }
            }
            Ok(Val::dict(out))
        }
        "set_many" => {
            let a = bind("set_many", args, kwargs, &["data", "timeout", "version"], 1)?;
            let t = timeout_arg(rt, a[1].as_ref())?;
            let version = version_arg(rt, a[2].as_ref())?;
            let Some(Val::Dict(d)) = &a[0] else { return Err(err(ErrorKind::AttributeError, "'list' object has no attribute 'items'")) };
            for (k, v) in d.borrow().items() {
                let made = key(rt, &k, version)?;
                set_raw(rt, &made, &v, t)?;
            }
            Ok(Val::list(vec![]))
        }
        "delete_many" => {
            let a = bind("delete_many", args, kwargs, &["keys", "version"], 1)?;
            let version = version_arg(rt, a[1].as_ref())?;
            for k in a[0].as_ref().expect("required").iterate(rt)?.iter() {
                let made = key(rt, k, version)?;
                let n = now(rt);
                with_backend(rt, |b| b.delete(&made, n));
            }
            Ok(Val::None)
        }
        "incr" | "decr" => {
            let a = bind(name, args, kwargs, &["key", "delta", "version"], 1)?;
            let delta = a[1].as_ref().and_then(|v| v.as_int()).unwrap_or(1);
            let version = version_arg(rt, a[2].as_ref())?;
            let made = key(rt, a[0].as_ref().expect("required"), version)?;
            // Local memory names the made key; the base class (the dummy cache) the key as given.
            let named = if with_backend(rt, |b| b.store_ref().is_some()) { made.clone() } else { a[0].as_ref().expect("required").to_str(rt)? };
            let cur = get_raw(rt, &made)?.ok_or_else(|| err(ErrorKind::ValueError, format!("Key '{named}' not found")))?;
            let delta = if name == "decr" { -delta } else { delta };
            let new = crate::py::ops::binop(rt, crate::value::BinOp::Add, &cur, &Val::Int(delta))?;
            // incr keeps the key's expiry.
            let exp = with_backend(rt, |b| b.keys(now(rt))).into_iter().find(|(k, _)| *k == made).and_then(|(_, e)| e);
            let t = match exp {
                None => Timeout::Never,
                Some(e) => Timeout::Seconds(e - now(rt)),
            };
            with_backend(rt, |b| b.set(&made, new.clone(), t, now(rt)));
            Ok(new)
        }
        "touch" => {
            let a = bind("touch", args, kwargs, &["key", "timeout", "version"], 1)?;
            let t = timeout_arg(rt, a[1].as_ref())?;
            let made = key(rt, a[0].as_ref().expect("required"), version_arg(rt, a[2].as_ref())?)?;
            let n = now(rt);
            Ok(Val::Bool(with_backend(rt, |b| b.touch(&made, t, n))))
        }
        "has_key" => {
            let a = bind("has_key", args, kwargs, &["key", "version"], 1)?;
            let made = key(rt, a[0].as_ref().expect("required"), version_arg(rt, a[1].as_ref())?)?;
            let n = now(rt);
            Ok(Val::Bool(with_backend(rt, |b| b.has_key(&made, n))))
        }
        "clear" => {
            with_backend(rt, |b| b.clear());
            Ok(Val::None)
        }
        "close" => Ok(Val::None),
        "make_key" => {
            let a = bind("make_key", args, kwargs, &["key", "version"], 1)?;
            let version = version_arg(rt, a[1].as_ref())?;
            Ok(Val::str(made_key(rt, &a[0].as_ref().expect("required").to_str(rt)?, Some(version))))
        }
        "incr_version" | "decr_version" => {
            // BaseCache.incr_version: the value moves to the next version (with the default
            // timeout) and leaves the old one.
            let a = bind(name, args, kwargs, &["key", "delta", "version"], 1)?;
            let raw = a[0].as_ref().expect("required");
            let delta = a[1].as_ref().and_then(|v| v.as_int()).unwrap_or(1);
            let delta = if name == "decr_version" { -delta } else { delta };
            let version = version_arg(rt, a[2].as_ref())?;
            let old = key(rt, raw, version)?;
            let value = get_raw(rt, &old)?.ok_or_else(|| err(ErrorKind::ValueError, format!("Key '{}' not found", raw.to_str(rt).unwrap_or_default())))?;
            let new = key(rt, raw, version + delta)?;
            set_raw(rt, &new, &value, default_timeout(rt))?;
            with_backend(rt, |b| b.delete(&old, now(rt)));
            Ok(Val::Int(version + delta))
        }
        _ => Err(crate::value::no_attr(&with_backend(rt, |b| b.class_name().to_string()), name)),
    }
}

/// `caches["default"]`.
pub struct CachesObj;

impl Object for CachesObj {
    fn type_name(&self) -> String {
        "CacheHandler".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        match key.as_str() {
            Some("default") => Ok(Val::obj(CacheObj::new(rt))),
            Some(alias) if super::settings::settings(rt).borrow().cache.other_aliases.iter().any(|a| a == alias) => Err(crate::error::err(
                crate::error::ErrorKind::NotSupported,
                format!("the lab has one cache, 'default': CACHES['{alias}'] is not set up (use caches['default'] or cache)"),
            )),
            _ => Err(exc("InvalidCacheBackendError", format!("The connection '{}' doesn't exist.", key.as_str().unwrap_or("?")))),
        }
    }
}

// ---------------------------------------------------------------- cache_page

/// `cache_page(timeout, *, cache=None, key_prefix=None)`.
pub fn cache_page_factory() -> Val {
    NativeFn::val("cache_page", |rt, args, kwargs| {
        let a = crate::py::args::bind("cache_page", args, kwargs, &["timeout", "cache", "key_prefix"], 1)?;
        let timeout = match a[0].as_ref().expect("required") {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            Val::None => None,
            other => return Err(err(ErrorKind::TypeError, format!("cache_page() timeout must be a number of seconds, not {}", other.type_name()))),
        };
        let prefix = match &a[2] {
            Some(v) if !v.is_none() => v.to_str(rt)?,
            _ => String::new(),
        };
        Ok(NativeFn::val("cache_page.<decorator>", move |_rt, args, _| {
            let view = args.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, "cache_page() decorates a view function"))?;
            let prefix = prefix.clone();
            Ok(Val::obj(CachedView { view, timeout, prefix: Rc::from(prefix.as_str()) }))
        }))
    })
}

/// A view wrapped by `cache_page`.
pub struct CachedView {
    pub view: Val,
    pub timeout: Option<f64>,
    pub prefix: Rc<str>,
}

impl Object for CachedView {
    fn type_name(&self) -> String {
        "function".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn is_callable(&self) -> bool {
        true
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        match &self.view {
            Val::Obj(o) => o.getattr(rt, name),
            _ => Err(crate::value::no_attr("function", name)),
        }
    }
    fn call(&self, rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        let request = args.first().cloned().ok_or_else(|| err(ErrorKind::TypeError, "a view takes the request"))?;
        let req = request.as_obj::<super::http::Request>().ok_or_else(|| err(ErrorKind::TypeError, "cache_page views take an HttpRequest"))?;
        // `CacheMiddleware` used as a decorator: process_request, the view, process_response.
        if let Some(hit) = fetch_from_cache(rt, req, &self.prefix)? {
            return Ok(hit);
        }
        let response = call_value(rt, &self.view, args, kwargs)?;
        let cache_timeout = super::settings::settings(rt).borrow().cache_middleware_seconds;
        update_cache(rt, req, &response, self.timeout, cache_timeout, &self.prefix)?;
        Ok(response)
    }
}

/// `FetchFromCacheMiddleware.process_request`: the cached page for a GET or HEAD (with its
/// `Age`), else `None` — and the request remembers whether the response should be stored.
pub fn fetch_from_cache(rt: &Rt, req: &super::http::Request, prefix: &str) -> SResult<Option<Val>> {
    let mark = |update: bool| req.attrs.borrow_mut().insert("_cache_update_cache".into(), Val::Bool(update));
    if req.method != "GET" && req.method != "HEAD" {
        mark(false);
        return Ok(None);
    }
    let Some(hl) = get_raw(rt, &made_key(rt, &header_cache_key(prefix, req), None))? else {
        mark(true);
        return Ok(None);
    };
    let headers: Vec<String> = hl.iterate(rt)?.iter().filter_map(|h| h.as_str().map(str::to_string)).collect();
    let mut hit = get_raw(rt, &made_key(rt, &page_cache_key(prefix, req, "GET", &headers), None))?;
    if hit.is_none() && req.method == "HEAD" {
        hit = get_raw(rt, &made_key(rt, &page_cache_key(prefix, req, "HEAD", &headers), None))?;
    }
    let Some(response) = hit else {
        mark(true);
        return Ok(None);
    };
    if let Some(r) = response.as_obj::<super::http::Response>() {
        let expires = r.header("Expires").and_then(|e| super::http::parse_http_date(&e));
        if let (Some(max_age), Some(expires)) = (r.max_age(), expires) {
            let remaining = expires - rt.now_seconds().floor() as i64;
            r.set_header("Age", &(max_age - remaining).max(0).to_string());
        }
    }
    mark(false);
    Ok(Some(response))
}

/// `UpdateCacheMiddleware.process_response`: stores a 200 response that may be shared, for
/// `page_timeout`, else its `max-age`, else `cache_timeout` seconds, and sets its
/// `Expires` and `Cache-Control: max-age`.
pub fn update_cache(rt: &Rt, req: &super::http::Request, response: &Val, page_timeout: Option<f64>, cache_timeout: f64, prefix: &str) -> SResult<()> {
    let update = req.attrs.borrow().get("_cache_update_cache").is_some_and(|v| matches!(v, Val::Bool(true)));
    if !update {
        return Ok(());
    }
    let Some(resp) = response.as_obj::<super::http::Response>() else { return Ok(()) };
    if resp.status.get() != 200 && resp.status.get() != 304 {
        return Ok(());
    }
    if !resp.cookies.borrow().is_empty() && resp.has_vary("Cookie") {
        return Ok(());
    }
    let cache_control = resp.header("Cache-Control").unwrap_or_default().to_lowercase();
    if ["private", "no-cache", "no-store"].iter().any(|d| cache_control.contains(d)) {
        return Ok(());
    }
    if resp.has_vary("*") {
        return Ok(());
    }
    let timeout = match page_timeout {
        Some(t) => t,
        None => match resp.max_age() {
            Some(0) => return Ok(()),
            Some(m) => m as f64,
            None => cache_timeout,
        },
    };
    resp.patch_response_headers(rt, timeout);
    if req.meta_str("HTTP_AUTHORIZATION").is_some_and(|a| !a.is_empty()) && !cache_control.contains("public") {
        resp.patch_vary("Authorization");
    }
    if timeout != 0.0 && resp.status.get() == 200 {
        let header_key = made_key(rt, &header_cache_key(prefix, req), None);
        let mut headerlist: Vec<String> = resp
            .header("Vary")
            .map(|v| v.split(',').map(|h| format!("HTTP_{}", h.trim().to_uppercase().replace('-', "_"))).filter(|h| h != "HTTP_" && h != "HTTP_ACCEPT_LANGUAGE").collect())
            .unwrap_or_default();
        headerlist.sort();
        let t = Timeout::Seconds(timeout);
        set_raw(rt, &header_key, &Val::list(headerlist.iter().map(Val::str).collect()), t)?;
        let page_key = made_key(rt, &page_cache_key(prefix, req, &req.method, &headerlist), None);
        set_raw(rt, &page_key, response, t)?;
    }
    Ok(())
}

/// `_generate_cache_header_key`.
pub fn header_cache_key(prefix: &str, req: &super::http::Request) -> String {
    let url = crate::md5::hex(req.build_absolute_uri().as_bytes());
    format!("views.decorators.cache.cache_header.{prefix}.{url}")
}

/// `_generate_cache_key`: the URL's md5 and the md5 of the varying headers' values.
pub fn page_cache_key(prefix: &str, req: &super::http::Request, method: &str, headers: &[String]) -> String {
    let mut ctx = Vec::new();
    for h in headers {
        if let Some(v) = req.meta_str(h) {
            ctx.extend_from_slice(v.as_bytes());
        }
    }
    let url = crate::md5::hex(req.build_absolute_uri().as_bytes());
    let vary = crate::md5::hex(&ctx);
    format!("views.decorators.cache.cache_page.{prefix}.{method}.{url}.{vary}")
}

/// `vary_on_cookie`, `vary_on_headers(*headers)`, `never_cache`, `cache_control(**kw)`.
pub fn response_decorator(name: &'static str, headers: Vec<String>, control: Vec<(String, Val)>) -> Val {
    NativeFn::val(name, move |_rt, args, _| {
        let view = args.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, format!("{name} decorates a view function")))?;
        let headers = headers.clone();
        let control = control.clone();
        Ok(NativeFn::val(format!("{name}.<wrapper>"), move |rt, a, k| {
            let r = call_value(rt, &view, a, k)?;
            if let Some(resp) = r.as_obj::<super::http::Response>() {
                match name {
                    "never_cache" => resp.never_cache(rt),
                    "cache_control" => resp.patch_cache_control(rt, &control)?,
                    _ => {
                        for h in &headers {
                            resp.patch_vary(h);
                        }
                    }
                }
            }
            Ok(r)
        }))
    })
}

pub fn vary_on_headers_factory() -> Val {
    NativeFn::val("vary_on_headers", |rt, args, _| {
        let headers: Vec<String> = args.iter().map(|a| a.to_str(rt)).collect::<SResult<_>>()?;
        Ok(response_decorator("vary_on_headers", headers, vec![]))
    })
}

pub fn cache_control_factory() -> Val {
    NativeFn::val("cache_control", |_rt, _args, kwargs| Ok(response_decorator("cache_control", vec![], kwargs)))
}
