//! The test client (`self.client`, pytest-django's `client`) and `RequestFactory`: requests
//! through the request cycle as Django's test client sends them, logged in with
//! `force_login`, following redirects when asked; and the state the test machinery keeps for
//! the session.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::http::Response;
use super::handler::{handle, RequestSpec};
use super::http::encode_data;
use crate::error::{err, exc, ErrorKind, SResult};
use crate::orm::model::Instance as ModelInstance;
use crate::py::args::bind;
use crate::py::objects::NativeFn;
use crate::runtime::Rt;
use crate::value::{no_attr, Kwargs, Object, Val};

/// What the test machinery keeps for the session.
#[derive(Default)]
pub struct TestState {
    /// Test files whose `assert` statements report as pytest rewrites them.
    pub rewrite_asserts: RefCell<Vec<String>>,
    /// Open `CaptureQueriesContext`s (which keep a request from resetting the query log).
    pub no_reset_queries: std::cell::Cell<usize>,
}

pub fn test_state(rt: &Rt) -> Rc<TestState> {
    rt.state::<TestState>()
}

/// What entering a `CaptureQueriesContext` does to the connection: queries are recorded in
/// `connection.queries`, and a request no longer resets them. [`capture_end`] undoes it.
pub fn capture_begin(rt: &Rt) {
    rt.force_debug_cursor.set(rt.force_debug_cursor.get() + 1);
    let t = test_state(rt);
    t.no_reset_queries.set(t.no_reset_queries.get() + 1);
}

pub fn capture_end(rt: &Rt) {
    rt.force_debug_cursor.set(rt.force_debug_cursor.get().saturating_sub(1));
    let t = test_state(rt);
    t.no_reset_queries.set(t.no_reset_queries.get().saturating_sub(1));
}

/// `django.test.Client`: requests through the project's handler; `force_login` sets the
/// session user (and updates `last_login`, as `login()` does).
pub struct ClientObj {
    /// The logged-in user and when the session was made (shared with the client's bound
    /// methods, `self.client.get` passed as a callable).
    pub user: Rc<Cell<Option<(i64, i64)>>>,
}

impl ClientObj {
    pub fn new() -> ClientObj {
        ClientObj { user: Rc::new(Cell::new(None)) }
    }
}

impl Default for ClientObj {
    fn default() -> Self {
        ClientObj::new()
    }
}


impl Object for ClientObj {
    fn type_name(&self) -> String {
        "Client".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        match name {
            "get" | "post" | "head" | "delete" | "put" | "patch" | "options" | "trace" => {
                let mut meta = Vec::new();
                let mut rest = Vec::new();
                for (k, v) in kwargs {
                    if k.starts_with("HTTP_") || k == "REMOTE_ADDR" || k == "CONTENT_TYPE" {
                        meta.push((k, v.to_str(rt)?));
                    } else {
                        rest.push((k, v));
                    }
                }
                let a = bind(name, args, rest, &["path", "data", "follow", "secure", "headers", "query_params", "content_type"], 1)?;
                let path = a[0].as_ref().expect("required").to_str(rt)?;
                if let Some(Val::Dict(h)) = &a[4] {
                    for (k, v) in h.borrow().items() {
                        meta.push((wsgi_name(&k.to_str(rt)?), v.to_str(rt)?));
                    }
                }
                let mut data = encode_data(rt, a[1].as_ref())?;
                if data.is_empty() {
                    data = encode_data(rt, a[5].as_ref())?;
                }
                let follow = a[2].as_ref().map(|v| v.truthy(rt)).transpose()?.unwrap_or(false);
                if test_state(rt).no_reset_queries.get() == 0 {
                    rt.queries_log.borrow_mut().clear();
                }
                let sent = ClientRequest { method: name.to_uppercase(), path, data, meta, follow, session: self.user.get() };
                let (resp, chain) = client_request(rt, &sent)?;
                if follow {
                    if let Some(r) = resp.as_obj::<Response>() {
                        *r.redirect_chain.borrow_mut() = Some(chain);
                    }
                }
                Ok(resp)
            }
            "force_login" => {
                let a = bind("force_login", args, kwargs, &["user", "backend"], 1)?;
                let user = a[0].clone().expect("required");
                let inst = user.as_obj::<ModelInstance>().filter(|i| i.model.name == "User").ok_or_else(|| err(ErrorKind::TypeError, "force_login() takes a User instance"))?.rc();
                let now = crate::py::dates::datetime_now(rt);
                inst.set_value("last_login", Val::DateTime(now));
                crate::orm::write::save(rt, &inst, vec![], vec![("update_fields".into(), Val::list(vec![Val::str("last_login")]))])?;
                self.user.set(inst.pk_value().map(|id| (id, rt.now_seconds().floor() as i64)));
                Ok(Val::None)
            }
            "logout" => {
                self.user.set(None);
                Ok(Val::None)
            }
            "login" => Err(err(ErrorKind::NotSupported, "client.login() checks a password, which the sandbox's users do not have: use client.force_login(user)")),
            _ => Err(no_attr("Client", name)),
        }
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        match name {
            "get" | "post" | "head" | "delete" | "put" | "patch" | "options" | "trace" | "force_login" | "logout" | "login" => {
                // A bound method: `self.assertNumQueries(2, self.client.get, url)` calls it later.
                let me = ClientObj { user: self.user.clone() };
                let method = name.to_string();
                Ok(NativeFn::val(format!("Client.{name}"), move |rt, args, kwargs| me.call_method(rt, &method, args, kwargs)))
            }
            _ => Err(no_attr("Client", name)),
        }
    }
}

/// `HttpHeaders.to_wsgi_name`: `user-agent` → `HTTP_USER_AGENT`; `Content-Type` and
/// `Content-Length` without the prefix.
pub fn wsgi_name(header: &str) -> String {
    let n = header.to_uppercase().replace('-', "_");
    if n == "CONTENT_TYPE" || n == "CONTENT_LENGTH" {
        n
    } else {
        format!("HTTP_{n}")
    }
}

/// One call of a test client method: what it sends.
#[derive(Clone, Debug, Default)]
pub struct ClientRequest {
    pub method: String,
    pub path: String,
    /// The query string's items for GET and HEAD (replacing the path's own query string, as
    /// Django's `RequestFactory.generic` does), else the form body.
    pub data: Vec<(String, String)>,
    pub meta: Vec<(String, String)>,
    pub follow: bool,
    pub session: Option<(i64, i64)>,
}

const REDIRECT_STATUS: [u16; 5] = [301, 302, 303, 307, 308];

fn one_request(rt: &Rt, c: &ClientRequest) -> SResult<Val> {
    let (path, own_qs) = c.path.split_once('?').unwrap_or((&c.path, ""));
    let query = matches!(c.method.as_str(), "GET" | "HEAD");
    let qs = if query && !c.data.is_empty() {
        super::http::urlencode_pairs(&c.data)
    } else {
        own_qs.to_string()
    };
    let url = if qs.is_empty() { path.to_string() } else { format!("{path}?{qs}") };
    let post = if c.method == "POST" { c.data.clone() } else { vec![] };
    let resp = handle(rt, &RequestSpec { method: c.method.clone(), url, session: c.session, post, meta: c.meta.clone() })?;
    // `conditional_content_removal`: no body for HEAD, 1xx, 204 and 304.
    if let Some(r) = resp.as_obj::<Response>() {
        let s = r.status.get();
        if c.method == "HEAD" || (100..200).contains(&s) || s == 204 || s == 304 {
            r.content.borrow_mut().clear();
        }
    }
    Ok(resp)
}

/// The test client's request: the response, and with `follow` the redirects it followed
/// (`redirect_chain`: each `Location` and status), as `Client._handle_redirects` does.
pub fn client_request(rt: &Rt, c: &ClientRequest) -> SResult<(Val, Vec<(String, u16)>)> {
    let mut resp = one_request(rt, c)?;
    let mut chain: Vec<(String, u16)> = Vec::new();
    let mut current = c.clone();
    while c.follow {
        let Some(r) = resp.as_obj::<Response>() else { break };
        let code = r.status.get();
        if !REDIRECT_STATUS.contains(&code) {
            break;
        }
        let location = r.header("Location").unwrap_or_default();
        chain.push((location.clone(), code));
        let without_host = location.strip_prefix("http://testserver").or_else(|| location.strip_prefix("https://testserver")).unwrap_or(&location);
        let (mut path, query) = without_host.split_once('?').map(|(p, q)| (p.to_string(), q.to_string())).unwrap_or((without_host.to_string(), String::new()));
        if !path.starts_with('/') {
            let (base, _) = current.path.split_once('?').unwrap_or((&current.path, ""));
            let dir = &base[..base.rfind('/').map(|i| i + 1).unwrap_or(0)];
            path = format!("{dir}{path}");
        }
        let next = if code == 307 || code == 308 {
            let p = if matches!(current.method.as_str(), "GET" | "HEAD") || query.is_empty() { path } else { format!("{path}?{query}") };
            ClientRequest { path: p, follow: false, ..current.clone() }
        } else {
            let data = super::http::QueryDict::parse(&query).items.borrow().clone();
            ClientRequest { method: "GET".into(), path, data, follow: false, ..current.clone() }
        };
        resp = one_request(rt, &next)?;
        current = next;
        let last = chain.last().cloned().expect("pushed");
        if chain[..chain.len() - 1].contains(&last) {
            return Err(exc("RedirectCycleError", "Redirect loop detected."));
        }
        if chain.len() > 20 {
            return Err(exc("RedirectCycleError", "Too many redirects."));
        }
    }
    Ok((resp, chain))
}

/// `RequestFactory` / pytest-django's `rf`: bare requests (no middleware, so no `user`).
pub(crate) struct RequestFactoryObj;

impl Object for RequestFactoryObj {
    fn type_name(&self) -> String {
        "RequestFactory".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        match name {
            "get" | "post" => {
                let a = bind(name, args, kwargs, &["path", "data"], 1)?;
                let path = a[0].as_ref().expect("required").to_str(rt)?;
                let data = encode_data(rt, a[1].as_ref())?;
                let (url, post) = if name == "get" && !data.is_empty() {
                    (format!("{path}?{}", super::http::urlencode_pairs(&data)), vec![])
                } else {
                    (path, data)
                };
                let req = super::http::Request::new(&name.to_uppercase(), &url, vec![], None, post);
                req.no_user.set(true);
                req.no_session.set(true);
                Ok(Val::obj(req))
            }
            _ => Err(no_attr("RequestFactory", name)),
        }
    }
}
