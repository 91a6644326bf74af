//! The test client (`self.client`, pytest-django's `client`) and `RequestFactory`: requests
//! through the request cycle as Django's test client sends them, logged in with
//! `force_login`, following redirects when asked; and the state the test machinery keeps for
//! the session.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::http::Response;
use super::project::{handle, RequestSpec};
use crate::error::{err, ErrorKind, SResult};
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

pub(crate) fn encode_data(rt: &Rt, data: Option<&Val>) -> SResult<Vec<(String, String)>> {
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

impl Object for ClientObj {
    fn type_name(&self) -> String {
        "Client".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn call_method(&self, rt: &Rt, name: &str, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
        match name {
            "get" | "post" | "head" | "delete" | "put" | "patch" => {
                let a = bind(name, args, kwargs.into_iter().filter(|(k, _)| !k.starts_with("HTTP_") && k != "headers" && k != "content_type" && k != "secure").collect(), &["path", "data", "follow"], 1)?;
                let path = a[0].as_ref().expect("required").to_str(rt)?;
                let data = encode_data(rt, a[1].as_ref())?;
                let follow = a[2].as_ref().map(|v| v.truthy(rt)).transpose()?.unwrap_or(false);
                let method = name.to_uppercase();
                let (url, post) = if method == "GET" || method == "HEAD" || method == "DELETE" {
                    let qs: Vec<String> = data.iter().map(|(k, v)| format!("{}={}", super::http::url_encode(k), super::http::url_encode(v))).collect();
                    let url = if qs.is_empty() { path.clone() } else if path.contains('?') { format!("{path}&{}", qs.join("&")) } else { format!("{path}?{}", qs.join("&")) };
                    (url, vec![])
                } else {
                    (path.clone(), data)
                };
                if test_state(rt).no_reset_queries.get() == 0 {
                    rt.queries_log.borrow_mut().clear();
                }
                let mut resp = handle(rt, &RequestSpec { method: method.clone(), url, session: self.user.get(), post })?;
                let mut hops = 0;
                while follow && hops < 10 {
                    let Some(r) = resp.as_obj::<Response>() else { break };
                    let code = r.status.get();
                    let Some(loc) = r.header("Location").filter(|_| (300..400).contains(&code)) else { break };
                    resp = handle(rt, &RequestSpec { method: "GET".into(), url: loc, session: self.user.get(), post: vec![] })?;
                    hops += 1;
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
            "get" | "post" | "head" | "delete" | "put" | "patch" | "force_login" | "logout" | "login" => {
                // A bound method: `self.assertNumQueries(2, self.client.get, url)` calls it later.
                let me = ClientObj { user: self.user.clone() };
                let method = name.to_string();
                Ok(NativeFn::val(format!("Client.{name}"), move |rt, args, kwargs| me.call_method(rt, &method, args, kwargs)))
            }
            _ => Err(no_attr("Client", name)),
        }
    }
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
                    let qs: Vec<String> = data.iter().map(|(k, v)| format!("{}={}", super::http::url_encode(k), super::http::url_encode(v))).collect();
                    (format!("{path}?{}", qs.join("&")), vec![])
                } else {
                    (path, data)
                };
                let req = super::http::Request::new(&name.to_uppercase(), &url, vec![], None, post);
                req.no_user.set(true);
                Ok(Val::obj(req))
            }
            _ => Err(no_attr("RequestFactory", name)),
        }
    }
}
