//! The settings a project's request cycle and cache read: `MIDDLEWARE`, `CACHES` (backend,
//! `TIMEOUT`, `KEY_PREFIX`, `VERSION`), the site-wide cache's `CACHE_MIDDLEWARE_*` and
//! `APPEND_SLASH`. They start as the contract's (`SessionMiddleware`,
//! `AuthenticationMiddleware`, one `LocMemCache`) and change with the executed `settings.py`
//! of a lab, or with a `run-project` case's `"settings"`. Checked as Django checks them.

use std::cell::RefCell;
use std::rc::Rc;

use crate::error::{exc, SResult};
use crate::runtime::Rt;
use crate::value::Val;

pub const SESSION_MIDDLEWARE: &str = "django.contrib.sessions.middleware.SessionMiddleware";
pub const AUTH_MIDDLEWARE: &str = "django.contrib.auth.middleware.AuthenticationMiddleware";
pub const LOCMEM: &str = "django.core.cache.backends.locmem.LocMemCache";

/// `CACHES["default"]`.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheSettings {
    pub backend: String,
    pub location: String,
    /// `TIMEOUT`: seconds, `None` for "never expires"; 300 when not set.
    pub timeout: Option<f64>,
    pub key_prefix: String,
    pub version: i64,
    /// `OPTIONS`: `MAX_ENTRIES`, `CULL_FREQUENCY`.
    pub max_entries: usize,
    pub cull_frequency: usize,
    /// The other aliases of `CACHES` (the lab has one cache: they are refused when used).
    pub other_aliases: Vec<String>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings { backend: LOCMEM.into(), location: "run-project".into(), timeout: Some(300.0), key_prefix: String::new(), version: 1, max_entries: crate::cache::MAX_ENTRIES, cull_frequency: crate::cache::CULL_FREQUENCY, other_aliases: vec![] }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub middleware: Vec<String>,
    pub cache: CacheSettings,
    pub cache_middleware_seconds: f64,
    pub cache_middleware_key_prefix: String,
    pub append_slash: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            middleware: vec![SESSION_MIDDLEWARE.into(), AUTH_MIDDLEWARE.into()],
            cache: CacheSettings::default(),
            cache_middleware_seconds: 600.0,
            cache_middleware_key_prefix: String::new(),
            append_slash: true,
        }
    }
}

/// The session's settings (the project's, once loaded).
pub fn settings(rt: &Rt) -> Rc<RefCell<Settings>> {
    rt.state::<RefCell<Settings>>()
}

/// The current settings, copied.
pub fn current(rt: &Rt) -> Settings {
    settings(rt).borrow().clone()
}

fn improperly(msg: impl Into<String>) -> crate::error::SandboxError {
    exc("ImproperlyConfigured", msg.into())
}

fn strings(rt: &Rt, v: &Val, what: &str) -> SResult<Vec<String>> {
    match v {
        Val::List(_) | Val::Tuple(_) => v.iterate(rt)?.iter().map(|x| match x {
            Val::Str(s) => Ok(s.to_string()),
            other => Err(improperly(format!("{what} must hold dotted paths (strings), not {}", other.type_name()))),
        }).collect(),
        other => Err(improperly(format!("The {what} setting must be a list or a tuple, not {}.", other.type_name()))),
    }
}

fn number(v: &Val) -> Option<f64> {
    match v {
        Val::Int(i) => Some(*i as f64),
        Val::Float(f) => Some(*f),
        _ => None,
    }
}

/// Settings with what a namespace sets (a lab's executed `settings.py`, or a `run-project`
/// case's `"settings"` as Python values): `MIDDLEWARE`, `CACHES`, `CACHE_MIDDLEWARE_SECONDS`,
/// `CACHE_MIDDLEWARE_KEY_PREFIX`, `APPEND_SLASH`. What is not set keeps the default.
pub fn read(rt: &Rt, get: &dyn Fn(&str) -> Option<Val>) -> SResult<Settings> {
    let mut s = Settings::default();
    if let Some(m) = get("MIDDLEWARE") {
        s.middleware = strings(rt, &m, "MIDDLEWARE")?;
    }
    if let Some(caches) = get("CACHES") {
        let Val::Dict(d) = &caches else { return Err(improperly(format!("CACHES must be a dict, not {}", caches.type_name()))) };
        let default = d.borrow().get_str("default").ok_or_else(|| improperly("You must define a 'default' cache in your CACHES setting."))?;
        let Val::Dict(c) = &default else { return Err(improperly("CACHES['default'] must be a dict")) };
        let c = c.borrow();
        let backend = c.get_str("BACKEND").ok_or_else(|| exc("InvalidCacheBackendError", "Could not find config for 'default' in settings.CACHES"))?;
        s.cache.backend = backend.to_str(rt)?;
        if let Some(l) = c.get_str("LOCATION") {
            s.cache.location = l.to_str(rt)?;
        }
        if let Some(t) = c.get_str("TIMEOUT") {
            s.cache.timeout = match t {
                Val::None => None,
                other => Some(number(&other).ok_or_else(|| improperly(format!("CACHES['default']['TIMEOUT'] must be a number of seconds or None, not {}", other.type_name())))?),
            };
        }
        if let Some(p) = c.get_str("KEY_PREFIX") {
            s.cache.key_prefix = p.to_str(rt)?;
        }
        if let Some(v) = c.get_str("VERSION") {
            s.cache.version = v.as_int().ok_or_else(|| improperly(format!("CACHES['default']['VERSION'] must be an integer, not {}", v.type_name())))?;
        }
        if let Some(Val::Dict(o)) = c.get_str("OPTIONS") {
            let o = o.borrow();
            let count = |name: &str| -> SResult<Option<usize>> {
                match o.get_str(name) {
                    None => Ok(None),
                    Some(v) => v.as_int().filter(|n| *n >= 0).map(|n| Some(n as usize)).ok_or_else(|| improperly(format!("CACHES['default']['OPTIONS']['{name}'] must be a whole number"))),
                }
            };
            if let Some(n) = count("MAX_ENTRIES")? {
                s.cache.max_entries = n;
            }
            if let Some(n) = count("CULL_FREQUENCY")? {
                s.cache.cull_frequency = n;
            }
        }
        s.cache.other_aliases = d.borrow().keys().iter().filter_map(|k| k.as_str().map(str::to_string)).filter(|k| k != "default").collect();
        if c.get_str("KEY_FUNCTION").is_some() {
            return Err(exc("NotSupported", "CACHES['default']['KEY_FUNCTION'] is not available in the lab: the key is KEY_PREFIX:VERSION:key, as Django's default make_key builds it"));
        }
    }
    if let Some(v) = get("CACHE_MIDDLEWARE_SECONDS") {
        s.cache_middleware_seconds = number(&v).ok_or_else(|| improperly("CACHE_MIDDLEWARE_SECONDS must be a number of seconds"))?;
    }
    if let Some(v) = get("CACHE_MIDDLEWARE_KEY_PREFIX") {
        s.cache_middleware_key_prefix = v.to_str(rt)?;
    }
    if let Some(v) = get("APPEND_SLASH") {
        s.append_slash = v.truthy(rt)?;
    }
    Ok(s)
}
