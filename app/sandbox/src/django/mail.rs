//! `django.core.mail` with the local-memory backend: `send_mail()`, `send_mass_mail()`,
//! `EmailMessage(...).send()`, and `mail.outbox`, the list every sent message is appended to.
//!
//! Django's test runner switches `EMAIL_BACKEND` to locmem and empties `mail.outbox` before
//! each test; the lab's server uses the same backend, so a view's e-mail can be observed
//! (`len(mail.outbox)` in the shell), which is how the transactions lesson checks that the
//! newsletter is still sent.

use std::any::Any;

use crate::error::{err, ErrorKind, SResult};
use crate::py::args::bind;
use crate::py::objects::ModuleObj;
use crate::py::objects::NativeFn;
use crate::runtime::Rt;
use crate::value::{no_attr, Kwargs, Object, Val};

/// Django's `DEFAULT_FROM_EMAIL`.
const DEFAULT_FROM: &str = "webmaster@localhost";

/// The module's names.
pub fn module_names() -> Vec<(&'static str, Val)> {
    vec![
        ("outbox", Val::list(vec![])),
        ("send_mail", NativeFn::val("send_mail", send_mail)),
        ("send_mass_mail", NativeFn::val("send_mass_mail", send_mass_mail)),
        ("EmailMessage", NativeFn::val("EmailMessage", |rt, args, kwargs| Ok(Val::obj(email_message(rt, args, kwargs)?)))),
    ]
}

/// The module's current `outbox` list (a test may have rebound it).
fn outbox(rt: &Rt) -> SResult<Val> {
    let m = crate::py::import::import(rt, "django.core.mail")?;
    let module = m.as_obj::<ModuleObj>().ok_or_else(|| err(ErrorKind::AttributeError, "django.core.mail is not a module"))?;
    module.ns.get("outbox").ok_or_else(|| err(ErrorKind::AttributeError, "module 'django.core.mail' has no attribute 'outbox'"))
}

/// Before each test, as Django's test case does: `mail.outbox = []`.
pub fn reset_outbox(rt: &Rt) {
    if crate::py::import::is_imported(rt, "django.core.mail") {
        if let Ok(m) = crate::py::import::import(rt, "django.core.mail") {
            if let Some(module) = m.as_obj::<ModuleObj>() {
                module.ns.set("outbox", Val::list(vec![]));
            }
        }
    }
}

fn strings(rt: &Rt, v: Option<&Val>, what: &str) -> SResult<Vec<String>> {
    match v {
        None | Some(Val::None) => Ok(vec![]),
        Some(Val::Str(_)) => Err(err(ErrorKind::TypeError, format!("\"{what}\" argument must be a list or tuple"))),
        Some(v) => v.iterate(rt)?.iter().map(|x| x.to_str(rt)).collect(),
    }
}

fn deliver(rt: &Rt, m: EmailMessageObj) -> SResult<i64> {
    if m.to.is_empty() && m.cc.is_empty() && m.bcc.is_empty() {
        return Ok(0);
    }
    rt.side_effects.set(rt.side_effects.get() + 1);
    match outbox(rt)? {
        Val::List(l) => l.borrow_mut().push(Val::obj(m)),
        other => return Err(err(ErrorKind::AttributeError, format!("'{}' object has no attribute 'append'", other.type_name()))),
    }
    Ok(1)
}

fn send_mail(rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let a = bind("send_mail", args, kwargs, &["subject", "message", "from_email", "recipient_list", "fail_silently", "auth_user", "auth_password", "connection", "html_message"], 4)?;
    let text = |i: usize| -> SResult<String> { a[i].as_ref().map_or(Ok(String::new()), |v| v.to_str(rt)) };
    let from = match &a[2] {
        None | Some(Val::None) => DEFAULT_FROM.to_string(),
        Some(v) => v.to_str(rt)?,
    };
    let m = EmailMessageObj { subject: text(0)?, body: text(1)?, from_email: from, to: strings(rt, a[3].as_ref(), "to")?, cc: vec![], bcc: vec![] };
    Ok(Val::Int(deliver(rt, m)?))
}

fn send_mass_mail(rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<Val> {
    let a = bind("send_mass_mail", args, kwargs, &["datatuple", "fail_silently", "auth_user", "auth_password", "connection"], 1)?;
    let mut sent = 0;
    for item in a[0].as_ref().expect("required").iterate(rt)?.iter() {
        let parts = item.iterate(rt)?;
        if parts.len() != 4 {
            return Err(err(ErrorKind::ValueError, format!("not enough values to unpack (expected 4, got {})", parts.len())));
        }
        let m = EmailMessageObj { subject: parts[0].to_str(rt)?, body: parts[1].to_str(rt)?, from_email: parts[2].to_str(rt)?, to: strings(rt, Some(&parts[3]), "to")?, cc: vec![], bcc: vec![] };
        sent += deliver(rt, m)?;
    }
    Ok(Val::Int(sent))
}

fn email_message(rt: &Rt, args: Vec<Val>, kwargs: Kwargs) -> SResult<EmailMessageObj> {
    let a = bind("EmailMessage", args, kwargs, &["subject", "body", "from_email", "to", "bcc", "connection", "attachments", "headers", "cc", "reply_to"], 0)?;
    let text = |i: usize| -> SResult<String> { a[i].as_ref().filter(|v| !v.is_none()).map_or(Ok(String::new()), |v| v.to_str(rt)) };
    let from = match &a[2] {
        None | Some(Val::None) => DEFAULT_FROM.to_string(),
        Some(v) => v.to_str(rt)?,
    };
    Ok(EmailMessageObj { subject: text(0)?, body: text(1)?, from_email: from, to: strings(rt, a[3].as_ref(), "to")?, bcc: strings(rt, a[4].as_ref(), "bcc")?, cc: strings(rt, a[8].as_ref(), "cc")? })
}

/// An `EmailMessage`, as `mail.outbox` holds them.
#[derive(Clone)]
pub struct EmailMessageObj {
    pub subject: String,
    pub body: String,
    pub from_email: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
}

impl Object for EmailMessageObj {
    fn type_name(&self) -> String {
        "EmailMessage".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        let list = |v: &[String]| Val::list(v.iter().map(Val::str).collect());
        Ok(match name {
            "subject" => Val::str(&self.subject),
            "body" => Val::str(&self.body),
            "from_email" => Val::str(&self.from_email),
            "to" => list(&self.to),
            "cc" => list(&self.cc),
            "bcc" => list(&self.bcc),
            "send" => {
                let me = self.clone();
                NativeFn::val("send", move |rt, _, _| Ok(Val::Int(deliver(rt, me.clone())?)))
            }
            "recipients" => {
                let all: Vec<String> = self.to.iter().chain(&self.cc).chain(&self.bcc).cloned().collect();
                NativeFn::val("recipients", move |_, _, _| Ok(Val::list(all.iter().map(Val::str).collect())))
            }
            _ => return Err(no_attr("EmailMessage", name)),
        })
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok("<django.core.mail.message.EmailMessage object>".into())
    }
}
