//! `django.http`: requests (`request.GET` as a `QueryDict`, `request.user` loaded lazily the
//! first time it is touched, the signed-cookie session), responses (`HttpResponse`,
//! `JsonResponse`, redirects, 404s) with headers, cookies and `Vary` patching.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use indexmap::IndexMap;

use crate::error::{err, exc, ErrorKind, SResult};
use crate::orm::model::Instance;
use crate::py::objects::NativeFn;
use crate::runtime::Rt;
use crate::value::{HashKey, Kwargs, Object, PyDict, Val};

// ---------------------------------------------------------------- QueryDict

/// `QueryDict`: a multi-valued, immutable dict of the query string.
pub struct QueryDict {
    pub items: RefCell<Vec<(String, String)>>,
    pub mutable: bool,
}

/// `%xx` and `+` decoding (`parse_qsl`).
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+' {
            out.push(b' ');
            i += 1;
            continue;
        }
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `urllib.parse.quote(s, safe)`: spaces as `%20`, `safe` characters kept.
pub fn url_encode_safe(s: &str, safe: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            other if other < 128 && safe.as_bytes().contains(&other) => out.push(other as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// `urllib.parse.quote(s, safe)` for query strings.
/// A dict of form data as the client encodes it: a list or tuple value repeats its key.
pub fn encode_data(rt: &Rt, data: Option<&Val>) -> SResult<Vec<(String, String)>> {
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

/// `urlencode(pairs)`: `k=v&k=v`, each side quoted as `quote_plus` does.
pub fn urlencode_pairs(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v))).collect::<Vec<_>>().join("&")
}

pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

impl QueryDict {
    pub fn parse(qs: &str) -> QueryDict {
        let mut items = Vec::new();
        for part in qs.split(['&', ';']) {
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            items.push((url_decode(k), url_decode(v)));
        }
        QueryDict { items: RefCell::new(items), mutable: false }
    }

    pub fn get(&self, k: &str) -> Option<String> {
        self.items.borrow().iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    fn keys(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, _) in self.items.borrow().iter() {
            if !out.contains(k) {
                out.push(k.clone());
            }
        }
        out
    }

    pub fn urlencode(&self) -> String {
        urlencode_pairs(&self.items.borrow())
    }
}

impl Object for QueryDict {
    fn type_name(&self) -> String {
        "QueryDict".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        let items = self.items.borrow().clone();
        let mutable = self.mutable;
        Ok(match name {
            "get" => NativeFn::val("get", move |_rt, args, _| {
                let k = args.first().map(|a| a.as_str().unwrap_or("").to_string()).unwrap_or_default();
                Ok(match items.iter().rev().find(|(n, _)| *n == k) {
                    Some((_, v)) => Val::str(v),
                    None => args.get(1).cloned().unwrap_or(Val::None),
                })
            }),
            "getlist" => NativeFn::val("getlist", move |_rt, args, _| {
                let k = args.first().map(|a| a.as_str().unwrap_or("").to_string()).unwrap_or_default();
                let vals: Vec<Val> = items.iter().filter(|(n, _)| *n == k).map(|(_, v)| Val::str(v)).collect();
                if vals.is_empty() {
                    if let Some(d) = args.get(1) {
                        return Ok(d.clone());
                    }
                }
                Ok(Val::list(vals))
            }),
            "keys" | "values" | "items" | "lists" | "dict" | "urlencode" | "copy" => {
                let n = name.to_string();
                NativeFn::val(name, move |_rt, _args, _| {
                    let qd = QueryDict { items: RefCell::new(items.clone()), mutable };
                    let keys = qd.keys();
                    Ok(match n.as_str() {
                        "keys" => Val::list(keys.iter().map(Val::str).collect()),
                        "values" => Val::list(keys.iter().map(|k| Val::str(qd.get(k).unwrap_or_default())).collect()),
                        "items" => Val::list(keys.iter().map(|k| Val::tuple(vec![Val::str(k), Val::str(qd.get(k).unwrap_or_default())])).collect()),
                        "lists" => Val::list(keys.iter().map(|k| Val::tuple(vec![Val::str(k), Val::list(items.iter().filter(|(n, _)| n == k).map(|(_, v)| Val::str(v)).collect())])).collect()),
                        "dict" => Val::str_dict(keys.iter().map(|k| (k.clone(), Val::str(qd.get(k).unwrap_or_default()))).collect::<Vec<_>>()),
                        "urlencode" => Val::str(qd.urlencode()),
                        _ => Val::obj(QueryDict { items: RefCell::new(items.clone()), mutable: true }),
                    })
                })
            }
            _ => return Err(crate::value::no_attr("QueryDict", name)),
        })
    }
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        let k = key.to_str(rt)?;
        self.get(&k).map(Val::str).ok_or_else(|| exc("MultiValueDictKeyError", format!("'{k}'")))
    }
    fn setitem(&self, rt: &Rt, key: &Val, value: Val) -> SResult<()> {
        if !self.mutable {
            return Err(err(ErrorKind::AttributeError, "This QueryDict instance is immutable"));
        }
        let k = key.to_str(rt)?;
        let v = value.to_str(rt)?;
        let mut items = self.items.borrow_mut();
        items.retain(|(n, _)| *n != k);
        items.push((k, v));
        Ok(())
    }
    fn contains(&self, rt: &Rt, item: &Val) -> SResult<bool> {
        let k = item.to_str(rt)?;
        Ok(self.items.borrow().iter().any(|(n, _)| *n == k))
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        Ok(Rc::new(self.keys().iter().map(Val::str).collect()))
    }
    fn len(&self, _rt: &Rt) -> SResult<usize> {
        Ok(self.keys().len())
    }
    fn truthy(&self, _rt: &Rt) -> SResult<bool> {
        Ok(!self.items.borrow().is_empty())
    }
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        Ok(self.get(name).map(Val::str).or_else(|| match name {
            "urlencode" => Some(Val::str(self.urlencode())),
            _ => {
                let _ = rt;
                None
            }
        }))
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        let keys = self.keys();
        let parts: Vec<String> = keys
            .iter()
            .map(|k| {
                let vals: Vec<String> = self.items.borrow().iter().filter(|(n, _)| n == k).map(|(_, v)| crate::pyfmt::python_str_repr(v)).collect();
                format!("{}: [{}]", crate::pyfmt::python_str_repr(k), vals.join(", "))
            })
            .collect();
        Ok(format!("<QueryDict: {{{}}}>", parts.join(", ")))
    }
}

// ---------------------------------------------------------------- users

/// `AnonymousUser`.
pub struct AnonymousUser;

impl Object for AnonymousUser {
    fn type_name(&self) -> String {
        "AnonymousUser".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        Ok(match name {
            "id" | "pk" => Val::None,
            "username" => Val::str(""),
            "is_authenticated" => Val::Bool(false),
            "is_anonymous" => Val::Bool(true),
            "is_staff" | "is_active" | "is_superuser" => Val::Bool(false),
            "get_username" => NativeFn::val("get_username", |_, _, _| Ok(Val::str(""))),
            "has_perm" => NativeFn::val("has_perm", |_, _, _| Ok(Val::Bool(false))),
            _ => return Err(crate::value::no_attr("AnonymousUser", name)),
        })
    }
    fn to_str(&self, _rt: &Rt) -> SResult<String> {
        Ok("AnonymousUser".into())
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok("<django.contrib.auth.models.AnonymousUser object>".into())
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        Some(other.as_obj::<AnonymousUser>().is_some())
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Int(1))
    }
    fn pickle(&self, _rt: &Rt) -> Option<SResult<Val>> {
        Some(Ok(Val::obj(AnonymousUser)))
    }
}

// ---------------------------------------------------------------- request

/// An `HttpRequest` as the handler builds it.
pub struct Request {
    pub method: String,
    pub path: String,
    pub query_string: String,
    pub get: Rc<QueryDict>,
    pub post: Rc<QueryDict>,
    pub cookies: Vec<(String, String)>,
    /// The session's user id (signed-cookie session).
    pub session_user: Option<i64>,
    /// `request.session` was read (SessionMiddleware then adds `Vary: Cookie`).
    pub session_accessed: Rc<Cell<bool>>,
    /// The user `AuthenticationMiddleware` resolves on first use (`request._cached_user`).
    pub user: Rc<RefCell<Option<Val>>>,
    pub attrs: RefCell<IndexMap<String, Val>>,
    /// No `AuthenticationMiddleware` ran (or `RequestFactory` made it): no `request.user`.
    pub no_user: Cell<bool>,
    /// No `SessionMiddleware` ran: no `request.session`.
    pub no_session: Cell<bool>,
    /// Header values (`HTTP_COOKIE`, `HTTP_ACCEPT`), as `request.META` holds them.
    pub meta: Vec<(String, String)>,
}

impl Request {
    pub fn new(method: &str, url: &str, cookies: Vec<(String, String)>, session_user: Option<i64>, post: Vec<(String, String)>) -> Request {
        let (path, qs) = url.split_once('?').unwrap_or((url, ""));
        let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
        let mut meta = vec![
            ("REQUEST_METHOD".to_string(), method.to_string()),
            ("PATH_INFO".to_string(), path.clone()),
            ("QUERY_STRING".to_string(), qs.to_string()),
            ("SERVER_NAME".to_string(), "testserver".to_string()),
            ("SERVER_PORT".to_string(), "80".to_string()),
            ("REMOTE_ADDR".to_string(), "127.0.0.1".to_string()),
        ];
        if !cookies.is_empty() {
            let c: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            meta.push(("HTTP_COOKIE".to_string(), c.join("; ")));
        }
        Request {
            method: method.to_string(),
            path,
            query_string: qs.to_string(),
            get: Rc::new(QueryDict::parse(qs)),
            post: Rc::new(QueryDict { items: RefCell::new(post), mutable: false }),
            cookies,
            session_user,
            session_accessed: Rc::new(Cell::new(false)),
            user: Rc::new(RefCell::new(None)),
            attrs: RefCell::new(IndexMap::new()),
            no_user: Cell::new(false),
            no_session: Cell::new(false),
            meta,
        }
    }

    pub fn meta_str(&self, key: &str) -> Option<String> {
        self.meta.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    pub fn get_full_path(&self) -> String {
        if self.query_string.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query_string)
        }
    }

    pub fn build_absolute_uri(&self) -> String {
        format!("http://testserver{}", self.get_full_path())
    }

    /// `request.user`: the session's user, one query the first time it is touched.
    pub fn user(&self, rt: &Rt) -> SResult<Val> {
        load_user(rt, self.session_user, &self.user, &self.session_accessed)
    }

    /// `request.user`: a `SimpleLazyObject` that queries on first use.
    pub fn lazy_user(&self) -> Val {
        Val::obj(LazyUser { session_user: self.session_user, cell: self.user.clone(), accessed: self.session_accessed.clone() })
    }
}

/// `get_user(request)`: the session's user when it exists and is active, else `AnonymousUser`.
fn load_user(rt: &Rt, session_user: Option<i64>, cell: &Rc<RefCell<Option<Val>>>, accessed: &Rc<Cell<bool>>) -> SResult<Val> {
    if let Some(u) = cell.borrow().clone() {
        return Ok(u);
    }
    accessed.set(true);
    let u = match session_user {
        None => Val::obj(AnonymousUser),
        Some(id) => match crate::orm::queryset::get_by_pk(rt, &crate::schema::USER, &Val::Int(id)) {
            Ok(u) => {
                let active = u.as_obj::<Instance>().and_then(|i| i.get_loaded("is_active")).map(|v| matches!(v, Val::Bool(true))).unwrap_or(false);
                if active {
                    u
                } else {
                    Val::obj(AnonymousUser)
                }
            }
            Err(e) if e.kind == ErrorKind::DoesNotExist => Val::obj(AnonymousUser),
            Err(e) => return Err(e),
        },
    };
    *cell.borrow_mut() = Some(u.clone());
    Ok(u)
}

/// `request.user` before it is used.
pub struct LazyUser {
    session_user: Option<i64>,
    cell: Rc<RefCell<Option<Val>>>,
    accessed: Rc<Cell<bool>>,
}

impl LazyUser {
    fn get(&self, rt: &Rt) -> SResult<Val> {
        load_user(rt, self.session_user, &self.cell, &self.accessed)
    }
}

impl Object for LazyUser {
    fn type_name(&self) -> String {
        match self.cell.borrow().as_ref() {
            Some(v) => v.type_name(),
            None if self.session_user.is_some() => "User".into(),
            None => "AnonymousUser".into(),
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn unwrap_lazy(&self, rt: &Rt) -> Option<SResult<Val>> {
        Some(self.get(rt))
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        crate::py::methods::getattr(rt, &self.get(rt)?, name)
    }
    fn setattr(&self, rt: &Rt, name: &str, value: Val) -> SResult<()> {
        crate::py::methods::setattr(rt, &self.get(rt)?, name, value)
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        crate::py::methods::call_method(rt, &self.get(rt)?, name, args, kwargs)
    }
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        match self.get(rt)? {
            Val::Obj(o) => o.template_attr(rt, name),
            _ => Ok(None),
        }
    }
    fn to_str(&self, rt: &Rt) -> SResult<String> {
        self.get(rt)?.to_str(rt)
    }
    fn repr(&self, rt: &Rt) -> SResult<String> {
        self.get(rt)?.repr(rt)
    }
    fn truthy(&self, rt: &Rt) -> SResult<bool> {
        self.get(rt)?.truthy(rt)
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        if let Some(v) = self.cell.borrow().as_ref() {
            return Some(v.py_eq(other));
        }
        Some(match (self.session_user, other) {
            (Some(id), o) => o.as_obj::<Instance>().is_some_and(|i| i.model.name == "User" && i.pk_value() == Some(id)),
            (None, o) => o.as_obj::<AnonymousUser>().is_some(),
        })
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(match self.session_user {
            Some(id) => HashKey::Model("User".into(), id),
            None => HashKey::Int(1),
        })
    }
    fn pk(&self) -> Option<i64> {
        self.session_user
    }
    fn class_names(&self) -> Vec<String> {
        match self.cell.borrow().as_ref() {
            Some(Val::Obj(o)) => o.class_names(),
            _ if self.session_user.is_some() => vec!["User".into(), "Model".into(), "object".into()],
            _ => vec!["AnonymousUser".into(), "object".into()],
        }
    }
    fn pickle(&self, rt: &Rt) -> Option<SResult<Val>> {
        Some(self.get(rt).and_then(|v| crate::py::pickle::pickle_copy(rt, &v)))
    }
}

impl Object for Request {
    fn type_name(&self) -> String {
        "WSGIRequest".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        if let Some(v) = self.attrs.borrow().get(name) {
            return Ok(v.clone());
        }
        Ok(match name {
            "method" => Val::str(&self.method),
            "path" | "path_info" => Val::str(&self.path),
            "GET" => Val::Obj(self.get.clone()),
            "POST" => Val::Obj(self.post.clone()),
            "COOKIES" => Val::str_dict(self.cookies.iter().map(|(k, v)| (k.clone(), Val::str(v))).collect::<Vec<_>>()),
            "META" => Val::str_dict(self.meta.iter().map(|(k, v)| (k.clone(), Val::str(v))).collect::<Vec<_>>()),
            "headers" => {
                let mut map = IndexMap::new();
                for (k, v) in &self.meta {
                    let name = match k.strip_prefix("HTTP_") {
                        Some(h) => title_header(h),
                        None if k == "CONTENT_TYPE" || k == "CONTENT_LENGTH" => title_header(k),
                        None => continue,
                    };
                    map.insert(name.to_lowercase(), (name, v.clone()));
                }
                Val::obj(Headers { map: Rc::new(RefCell::new(map)), class: "HttpHeaders", writable: false })
            }
            "user" if self.no_user.get() && !self.attrs.borrow().contains_key("user") => {
                return Err(crate::value::no_attr("WSGIRequest", name));
            }
            "user" => {
                let _ = rt;
                self.lazy_user()
            }
            "session" if self.no_session.get() => return Err(crate::value::no_attr("WSGIRequest", name)),
            "session" => {
                self.session_accessed.set(true);
                let mut d = PyDict::new();
                if let Some(id) = self.session_user {
                    d.set_str("_auth_user_id", Val::str(id.to_string()));
                }
                Val::dict(d)
            }
            "get_full_path" => {
                let p = self.get_full_path();
                NativeFn::val("get_full_path", move |_, _, _| Ok(Val::str(&p)))
            }
            "build_absolute_uri" => {
                let p = self.build_absolute_uri();
                NativeFn::val("build_absolute_uri", move |_, args, _| match args.first().and_then(|a| a.as_str()) {
                    Some(loc) => Ok(Val::str(format!("http://testserver{loc}"))),
                    None => Ok(Val::str(&p)),
                })
            }
            "get_host" => NativeFn::val("get_host", |_, _, _| Ok(Val::str("testserver"))),
            "is_secure" => NativeFn::val("is_secure", |_, _, _| Ok(Val::Bool(false))),
            "scheme" => Val::str("http"),
            _ => return Err(crate::value::no_attr("WSGIRequest", name)),
        })
    }
    fn setattr(&self, _rt: &Rt, name: &str, value: Val) -> SResult<()> {
        self.attrs.borrow_mut().insert(name.to_string(), value);
        Ok(())
    }
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        match name {
            "get_full_path" => Ok(Some(Val::str(self.get_full_path()))),
            "build_absolute_uri" => Ok(Some(Val::str(self.build_absolute_uri()))),
            _ => match self.getattr(rt, name) {
                Ok(v) => Ok(Some(v)),
                Err(e) if e.kind == ErrorKind::AttributeError => Ok(None),
                Err(e) => Err(e),
            },
        }
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<WSGIRequest: {} '{}'>", self.method, self.get_full_path()))
    }
}

fn title_header(h: &str) -> String {
    h.split('_')
        .map(|p| {
            let mut cs = p.chars();
            match cs.next() {
                Some(c) => c.to_uppercase().collect::<String>() + &cs.as_str().to_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// `request.headers` (`HttpHeaders`, read-only) and `response.headers` (`ResponseHeaders`):
/// a mapping whose keys compare without case, kept in the order they were set.
pub struct Headers {
    pub map: Rc<RefCell<IndexMap<String, (String, String)>>>,
    pub class: &'static str,
    pub writable: bool,
}

impl Headers {
    fn lookup(&self, name: &str) -> Option<String> {
        self.map.borrow().get(&name.to_lowercase()).map(|(_, v)| v.clone())
    }
    fn set(&self, rt: &Rt, key: &Val, value: &Val) -> SResult<()> {
        if !self.writable {
            return Err(err(ErrorKind::TypeError, format!("'{}' object does not support item assignment", self.class)));
        }
        let k = key.to_str(rt)?;
        self.map.borrow_mut().insert(k.to_lowercase(), (k, value.to_str(rt)?));
        Ok(())
    }
}

impl Object for Headers {
    fn type_name(&self) -> String {
        self.class.into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        let k = key.to_str(rt)?;
        self.lookup(&k).map(Val::str).ok_or_else(|| exc("KeyError", crate::pyfmt::python_str_repr(&k.to_lowercase())))
    }
    fn setitem(&self, rt: &Rt, key: &Val, value: Val) -> SResult<()> {
        self.set(rt, key, &value)
    }
    fn contains(&self, rt: &Rt, item: &Val) -> SResult<bool> {
        Ok(self.lookup(&item.to_str(rt)?).is_some())
    }
    fn iterate(&self, _rt: &Rt) -> SResult<Rc<Vec<Val>>> {
        Ok(Rc::new(self.map.borrow().values().map(|(k, _)| Val::str(k)).collect()))
    }
    fn len(&self, _rt: &Rt) -> SResult<usize> {
        Ok(self.map.borrow().len())
    }
    fn truthy(&self, _rt: &Rt) -> SResult<bool> {
        Ok(!self.map.borrow().is_empty())
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        match name {
            "get" => {
                let a = crate::py::args::bind("get", args, kwargs, &["key", "default"], 1)?;
                let k = a[0].as_ref().expect("required").to_str(rt)?;
                Ok(self.lookup(&k).map(Val::str).unwrap_or_else(|| a[1].clone().unwrap_or(Val::None)))
            }
            "setdefault" => {
                let a = crate::py::args::bind("setdefault", args, kwargs, &["key", "value"], 2)?;
                let (k, v) = (a[0].clone().expect("required"), a[1].clone().expect("required"));
                if let Some(old) = self.lookup(&k.to_str(rt)?) {
                    return Ok(Val::str(old));
                }
                self.set(rt, &k, &v)?;
                Ok(v)
            }
            "items" => Ok(Val::list(self.map.borrow().values().map(|(k, v)| Val::tuple(vec![Val::str(k), Val::str(v)])).collect())),
            "keys" => Ok(Val::list(self.map.borrow().values().map(|(k, _)| Val::str(k)).collect())),
            "values" => Ok(Val::list(self.map.borrow().values().map(|(_, v)| Val::str(v)).collect())),
            "__delitem__" if self.writable => {
                let k = args.first().map(|a| a.to_str(rt)).transpose()?.unwrap_or_default();
                match self.map.borrow_mut().shift_remove(&k.to_lowercase()) {
                    Some(_) => Ok(Val::None),
                    None => Err(exc("KeyError", crate::pyfmt::python_str_repr(&k.to_lowercase()))),
                }
            }
            "pop" if self.writable => {
                let a = crate::py::args::bind("pop", args, kwargs, &["key", "default"], 1)?;
                let k = a[0].as_ref().expect("required").to_str(rt)?;
                match self.map.borrow_mut().shift_remove(&k.to_lowercase()) {
                    Some((_, v)) => Ok(Val::str(v)),
                    None => a[1].clone().ok_or_else(|| exc("KeyError", crate::pyfmt::python_str_repr(&k.to_lowercase()))),
                }
            }
            _ => Err(crate::value::no_attr(self.class, name)),
        }
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "get" | "setdefault" | "items" | "keys" | "values" | "pop" => {
                let h = Headers { map: self.map.clone(), class: self.class, writable: self.writable };
                let method = name.to_string();
                Ok(NativeFn::val(name, move |rt, args, kwargs| h.call_method(rt, &method, args, kwargs)))
            }
            _ => Err(crate::value::no_attr(self.class, name)),
        }
    }
    fn template_attr(&self, rt: &Rt, name: &str) -> SResult<Option<Val>> {
        // `{{ request.headers.user_agent }}`: underscores stand for hyphens, as in Django.
        Ok(self.lookup(name).or_else(|| self.lookup(&name.replace('_', "-"))).map(Val::str).or_else(|| self.getattr(rt, name).ok()))
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        let items: Vec<String> = self.map.borrow().values().map(|(k, v)| format!("{}: {}", crate::pyfmt::python_str_repr(k), crate::pyfmt::python_str_repr(v))).collect();
        Ok(format!("{{{}}}", items.join(", ")))
    }
}

// ---------------------------------------------------------------- response

pub struct Response {
    pub status: Cell<u16>,
    pub content: RefCell<String>,
    /// Lower-cased name → (name as set, value).
    pub headers: Rc<RefCell<IndexMap<String, (String, String)>>>,
    pub cookies: RefCell<Vec<(String, String)>>,
    /// The templates rendered for it and the context (the test client's `response.templates`).
    pub templates: RefCell<Vec<String>>,
    pub context: RefCell<Option<Val>>,
    pub class_name: String,
    /// `xframe_options_exempt`: `XFrameOptionsMiddleware` leaves it alone.
    pub xframe_options_exempt: Cell<bool>,
    /// The test client's `redirect_chain` (a request sent with `follow=True`).
    pub redirect_chain: RefCell<Option<Vec<(String, u16)>>>,
}

impl Response {
    pub fn new(content: String, status: u16, content_type: &str, class_name: &str) -> Response {
        let mut headers = IndexMap::new();
        headers.insert("content-type".to_string(), ("Content-Type".to_string(), content_type.to_string()));
        Response {
            status: Cell::new(status),
            content: RefCell::new(content),
            headers: Rc::new(RefCell::new(headers)),
            cookies: RefCell::new(vec![]),
            templates: RefCell::new(vec![]),
            context: RefCell::new(None),
            class_name: class_name.to_string(),
            xframe_options_exempt: Cell::new(false),
            redirect_chain: RefCell::new(None),
        }
    }

    pub fn html(content: String, status: u16) -> Response {
        Response::new(content, status, "text/html; charset=utf-8", "HttpResponse")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.borrow().get(&name.to_lowercase()).map(|(_, v)| v.clone())
    }

    pub fn set_header(&self, name: &str, value: &str) {
        self.headers.borrow_mut().insert(name.to_lowercase(), (name.to_string(), value.to_string()));
    }

    pub fn has_vary(&self, h: &str) -> bool {
        self.header("Vary").is_some_and(|v| v.split(',').any(|x| x.trim().eq_ignore_ascii_case(h)))
    }

    /// `patch_vary_headers`.
    pub fn patch_vary(&self, h: &str) {
        match self.header("Vary") {
            Some(v) => {
                if !v.split(',').any(|x| x.trim().eq_ignore_ascii_case(h)) {
                    self.set_header("Vary", &format!("{v}, {h}"));
                }
            }
            None => self.set_header("Vary", h),
        }
    }

    pub fn max_age(&self) -> Option<i64> {
        let cc = self.header("Cache-Control")?;
        cc.split(',').find_map(|d| d.trim().strip_prefix("max-age=").and_then(|v| v.parse().ok()))
    }

    /// `patch_response_headers`: Expires and `Cache-Control: max-age`.
    pub fn patch_response_headers(&self, rt: &Rt, timeout: f64) {
        let t = timeout.max(0.0);
        if self.header("Expires").is_none() {
            self.set_header("Expires", &http_date(rt.now_seconds() + t));
        }
        self.merge_cache_control(&[("max-age".into(), Some((t as i64).to_string()))]);
    }

    fn merge_cache_control(&self, directives: &[(String, Option<String>)]) {
        let mut cc: Vec<(String, Option<String>)> = self
            .header("Cache-Control")
            .map(|c| {
                c.split(',')
                    .filter(|d| !d.trim().is_empty())
                    .map(|d| match d.trim().split_once('=') {
                        Some((k, v)) => (k.trim().to_lowercase(), Some(v.trim().to_string())),
                        None => (d.trim().to_lowercase(), None),
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (k, v) in directives {
            if k == "max-age" {
                if let Some(existing) = cc.iter_mut().find(|(n, _)| n == "max-age") {
                    let old: i64 = existing.1.as_deref().and_then(|x| x.parse().ok()).unwrap_or(i64::MAX);
                    let new: i64 = v.as_deref().and_then(|x| x.parse().ok()).unwrap_or(i64::MAX);
                    existing.1 = Some(old.min(new).to_string());
                    continue;
                }
            }
            match cc.iter_mut().find(|(n, _)| n == k) {
                Some(e) => e.1 = v.clone(),
                None => cc.push((k.clone(), v.clone())),
            }
        }
        let s: Vec<String> = cc.iter().map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        }).collect();
        self.set_header("Cache-Control", &s.join(", "));
    }

    pub fn patch_cache_control(&self, rt: &Rt, kwargs: &Kwargs) -> SResult<()> {
        let mut d = Vec::new();
        for (k, v) in kwargs {
            let name = k.replace('_', "-");
            match v {
                Val::Bool(true) => d.push((name, None)),
                Val::Bool(false) => {}
                other => d.push((name, Some(other.to_str(rt)?))),
            }
        }
        self.merge_cache_control(&d);
        Ok(())
    }

    pub fn never_cache(&self, rt: &Rt) {
        self.patch_response_headers(rt, -1.0);
        self.merge_cache_control(&[("no-cache".into(), None), ("no-store".into(), None), ("must-revalidate".into(), None), ("private".into(), None)]);
    }

    fn copy(&self) -> Response {
        Response {
            status: Cell::new(self.status.get()),
            content: RefCell::new(self.content.borrow().clone()),
            headers: Rc::new(RefCell::new(self.headers.borrow().clone())),
            cookies: RefCell::new(self.cookies.borrow().clone()),
            templates: RefCell::new(vec![]),
            context: RefCell::new(None),
            class_name: self.class_name.clone(),
            xframe_options_exempt: Cell::new(self.xframe_options_exempt.get()),
            redirect_chain: RefCell::new(None),
        }
    }
}

/// `parse_http_date_safe`: the Unix second of an RFC 7231 date (`Thu, 01 Jan 2026 09:01:00
/// GMT`), `None` when it is not one.
pub fn parse_http_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    let month = MONTHS.iter().position(|m| m == month)? as u32 + 1;
    let t: Vec<u32> = time.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [h, mi, se] = t.as_slice() else { return None };
    let d = crate::datetime::DateTime { year: year.parse().ok()?, month, day: day.parse().ok()?, hour: *h, minute: *mi, second: *se, micro: 0 };
    Some(d.to_micros().div_euclid(1_000_000))
}

/// RFC 7231 date (`Thu, 01 Jan 2026 09:01:00 GMT`).
pub fn http_date(secs: f64) -> String {
    let d = crate::datetime::DateTime::from_unix_seconds(secs.floor());
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", DAYS[d.weekday() as usize], d.day, MONTHS[d.month as usize - 1], d.year, d.hour, d.minute, d.second)
}

impl Object for Response {
    fn type_name(&self) -> String {
        self.class_name.clone()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn class_names(&self) -> Vec<String> {
        vec![self.class_name.clone(), "HttpResponseBase".into(), "object".into()]
    }
    fn getattr(&self, rt: &Rt, name: &str) -> SResult<Val> {
        Ok(match name {
            "status_code" => Val::Int(self.status.get() as i64),
            "content" => Val::str(self.content.borrow().as_str()),
            "text" => Val::str(self.content.borrow().as_str()),
            "charset" => Val::str("utf-8"),
            "url" => match self.header("Location") {
                Some(l) => Val::str(l),
                None => return Err(crate::value::no_attr(&self.class_name, name)),
            },
            "headers" => Val::obj(Headers { map: self.headers.clone(), class: "ResponseHeaders", writable: true }),
            "get" | "setdefault" | "items" | "__delitem__" => {
                let h = Headers { map: self.headers.clone(), class: "ResponseHeaders", writable: true };
                let method = name.to_string();
                NativeFn::val(name, move |rt, args, kwargs| h.call_method(rt, &method, args, kwargs))
            }
            "cookies" => Val::str_dict(self.cookies.borrow().iter().map(|(k, v)| (k.clone(), Val::str(v))).collect::<Vec<_>>()),
            "context" => self.context.borrow().clone().unwrap_or(Val::None),
            "redirect_chain" => match &*self.redirect_chain.borrow() {
                Some(chain) => Val::list(chain.iter().map(|(u, s)| Val::tuple(vec![Val::str(u), Val::Int(*s as i64)])).collect()),
                None => return Err(crate::value::no_attr(&self.class_name, name)),
            },
            "templates" => Val::list(self.templates.borrow().iter().map(|t| Val::obj(TemplateName(t.clone()))).collect()),
            "reason_phrase" => Val::str(reason(self.status.get())),
            "json" => {
                let body = self.content.borrow().clone();
                NativeFn::val("json", move |rt, _, _| crate::py::json::json_loads(rt, &body))
            }
            "has_header" => {
                let names: Vec<String> = self.headers.borrow().keys().cloned().collect();
                NativeFn::val("has_header", move |rt, args, _| {
                    let h = args.first().map(|a| a.to_str(rt)).transpose()?.unwrap_or_default().to_lowercase();
                    Ok(Val::Bool(names.contains(&h)))
                })
            }
            "set_cookie" => {
                let _ = rt;
                return Err(err(ErrorKind::NotSupported, "set_cookie() is not supported in the sandbox"));
            }
            _ => return Err(crate::value::no_attr(&self.class_name, name)),
        })
    }
    fn setattr(&self, rt: &Rt, name: &str, value: Val) -> SResult<()> {
        match name {
            "status_code" => {
                let s = value.as_int().ok_or_else(|| err(ErrorKind::TypeError, "HTTP status code must be an integer."))?;
                self.status.set(s as u16);
            }
            "content" => *self.content.borrow_mut() = value.to_str(rt)?,
            _ => return Err(err(ErrorKind::AttributeError, format!("'{}' object has no attribute '{name}' (it cannot be set)", self.class_name))),
        }
        Ok(())
    }
    fn getitem(&self, rt: &Rt, key: &Val) -> SResult<Val> {
        let k = key.to_str(rt)?;
        self.header(&k).map(Val::str).ok_or_else(|| exc("KeyError", format!("'{}'", k.to_lowercase())))
    }
    fn setitem(&self, rt: &Rt, key: &Val, value: Val) -> SResult<()> {
        self.set_header(&key.to_str(rt)?, &value.to_str(rt)?);
        Ok(())
    }
    fn contains(&self, rt: &Rt, item: &Val) -> SResult<bool> {
        Ok(self.header(&item.to_str(rt)?).is_some())
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        let ct = self.header("Content-Type").unwrap_or_default();
        match self.header("Location") {
            Some(url) if self.status.get() / 100 == 3 => Ok(format!("<{} status_code={}, \"{ct}\", url=\"{url}\">", self.class_name, self.status.get())),
            _ => Ok(format!("<{} status_code={}, \"{ct}\">", self.class_name, self.status.get())),
        }
    }
    fn pickle(&self, _rt: &Rt) -> Option<SResult<Val>> {
        Some(Ok(Val::obj(self.copy())))
    }
}

/// A template in `response.templates` (has a `.name`).
pub struct TemplateName(pub String);

impl Object for TemplateName {
    fn type_name(&self) -> String {
        "Template".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "name" => Ok(Val::str(&self.0)),
            _ => Err(crate::value::no_attr("Template", name)),
        }
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<Template template_string=\"{}\">", self.0))
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        500 => "Internal Server Error",
        _ => "Unknown Status Code",
    }
}

/// The `HttpResponse` family's constructors.
pub fn response_class(name: &'static str) -> Val {
    NativeFn::val(name, move |rt, args, kwargs| {
        let get = |k: &str| kwargs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match name {
            "HttpResponseRedirect" | "HttpResponsePermanentRedirect" => {
                let to = args.first().cloned().or_else(|| get("redirect_to")).ok_or_else(|| err(ErrorKind::TypeError, format!("{name}.__init__() missing 1 required positional argument: 'redirect_to'")))?;
                let r = Response::new(String::new(), if name == "HttpResponseRedirect" { 302 } else { 301 }, "text/html; charset=utf-8", name);
                r.set_header("Location", &to.to_str(rt)?);
                Ok(Val::obj(r))
            }
            "HttpResponseNotAllowed" => {
                let methods = args.first().cloned().or_else(|| get("permitted_methods")).ok_or_else(|| err(ErrorKind::TypeError, "HttpResponseNotAllowed.__init__() missing 1 required positional argument: 'permitted_methods'"))?;
                let allow: Vec<String> = methods.iterate(rt)?.iter().map(|m| m.to_str(rt)).collect::<SResult<_>>()?;
                let content = match args.get(1).cloned().or_else(|| get("content")) {
                    Some(v) => v.to_str(rt)?,
                    None => String::new(),
                };
                let r = Response::new(content, 405, "text/html; charset=utf-8", name);
                r.set_header("Allow", &allow.join(", "));
                Ok(Val::obj(r))
            }
            "JsonResponse" => {
                let data = args.first().cloned().or_else(|| get("data")).ok_or_else(|| err(ErrorKind::TypeError, "JsonResponse.__init__() missing 1 required positional argument: 'data'"))?;
                let safe = match get("safe") {
                    Some(v) => v.truthy(rt)?,
                    None => true,
                };
                if safe && !matches!(data, Val::Dict(_)) {
                    return Err(err(ErrorKind::TypeError, "In order to allow non-dict objects to be serialized set the safe parameter to False."));
                }
                let body = crate::py::json::json_dumps(rt, &data)?;
                let status = get("status").and_then(|v| v.as_int()).unwrap_or(200) as u16;
                Ok(Val::obj(Response::new(body, status, "application/json", name)))
            }
            _ => {
                let content = match args.first().cloned().or_else(|| get("content")) {
                    Some(v) => v.to_str(rt)?,
                    None => String::new(),
                };
                let default_status = match name {
                    "HttpResponseNotFound" => 404,
                    "HttpResponseBadRequest" => 400,
                    "HttpResponseForbidden" => 403,
                    "HttpResponseNotAllowed" => 405,
                    "HttpResponseServerError" => 500,
                    "HttpResponseGone" => 410,
                    "HttpResponseNotModified" => 304,
                    _ => 200,
                };
                let status = get("status").and_then(|v| v.as_int()).unwrap_or(default_status) as u16;
                let ct = match get("content_type") {
                    Some(v) => v.to_str(rt)?,
                    None => "text/html; charset=utf-8".into(),
                };
                Ok(Val::obj(Response::new(content, status, &ct, name)))
            }
        }
    })
}

pub const RESPONSE_CLASSES: &[&str] = &[
    "HttpResponse", "HttpResponseRedirect", "HttpResponsePermanentRedirect", "HttpResponseNotFound", "HttpResponseBadRequest",
    "HttpResponseForbidden", "HttpResponseNotAllowed", "HttpResponseServerError", "HttpResponseGone", "HttpResponseNotModified",
    "JsonResponse",
];

/// Django's 404 page with `DEBUG = False`.
/// The page `django.views.defaults` answers with when the project has no template for the
/// status (its `ERROR_PAGE_TEMPLATE`): the title as the heading, the details below it.
pub fn default_error_page(title: &str, details: &str) -> String {
    format!("\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>{title}</title>\n</head>\n<body>\n  <h1>{title}</h1><p>{details}</p>\n</body>\n</html>\n")
}
