//! `django.dispatch`: signals with receivers, as Django connects and sends them — sender
//! filtering, `dispatch_uid`, one connection per (receiver, sender), and weak references by
//! default (a lambda connected without keeping a reference never fires).

use std::any::Any;
use std::cell::RefCell;
use std::rc::{Rc, Weak};

use crate::error::{err, ErrorKind, SResult};
use crate::orm::model::ModelClass;
use crate::py::objects::BoundMethod;
use crate::py::objects::NativeFn;
use crate::runtime::Rt;
use crate::schema::Model;
use crate::value::{call_value, HashKey, Kwargs, Object, Val};

enum Held {
    Strong(Val),
    Weak(Weak<dyn Object>),
    /// A bound method held weakly through its instance (Django's `WeakMethod`).
    WeakMethod(Val, Weak<dyn Object>),
}

pub struct Receiver {
    held: Held,
    /// The sender's identity (`model:Article`), or `None` for any sender.
    sender: Option<String>,
    uid: Option<String>,
    /// Identity of the receiver function (dedup key).
    ident: usize,
}

impl Receiver {
    fn get(&self) -> Option<Val> {
        match &self.held {
            Held::Strong(v) => Some(v.clone()),
            Held::Weak(w) => w.upgrade().map(Val::Obj),
            Held::WeakMethod(func, recv) => recv.upgrade().map(|r| Val::obj(BoundMethod { func: func.clone(), receiver: Val::Obj(r) })),
        }
    }
}

#[derive(Default)]
pub struct Registry {
    by_signal: Vec<(String, Vec<Receiver>)>,
    /// Numbers the `Signal()` objects a learner creates.
    made: usize,
}

/// The session's signal receivers.
pub fn registry(rt: &Rt) -> Rc<RefCell<Registry>> {
    rt.state::<RefCell<Registry>>()
}

/// A new `Signal()`'s name.
pub fn new_signal_name(rt: &Rt) -> String {
    let r = registry(rt);
    let mut r = r.borrow_mut();
    r.made += 1;
    format!("signal{}", r.made)
}

impl Registry {
    fn list(&mut self, signal: &str) -> &mut Vec<Receiver> {
        if let Some(i) = self.by_signal.iter().position(|(s, _)| s == signal) {
            return &mut self.by_signal[i].1;
        }
        self.by_signal.push((signal.to_string(), vec![]));
        &mut self.by_signal.last_mut().expect("pushed").1
    }
}

fn ident_of(v: &Val) -> usize {
    match v {
        Val::Obj(o) => match o.as_any().downcast_ref::<BoundMethod>() {
            Some(b) => match (&b.func, &b.receiver) {
                (Val::Obj(f), Val::Obj(r)) => (Rc::as_ptr(f) as *const u8 as usize) ^ (Rc::as_ptr(r) as *const u8 as usize).rotate_left(7),
                _ => 0,
            },
            None => Rc::as_ptr(o) as *const u8 as usize,
        },
        _ => 0,
    }
}

/// The identity of a sender value (a model class, or anything else by its key).
pub fn sender_key(v: &Val) -> Option<String> {
    match v {
        Val::None => None,
        other => match other.as_obj::<ModelClass>() {
            Some(m) => Some(format!("model:{}", m.0.name)),
            None => Some(format!("{:?}", other.hash_key().unwrap_or(HashKey::Ident(ident_of(other))))),
        },
    }
}

pub fn connect(rt: &Rt, signal: &str, receiver: Val, sender: Option<String>, weak: bool, uid: Option<String>) -> SResult<()> {
    if !matches!(&receiver, Val::Obj(o) if o.is_callable()) {
        return Err(err(ErrorKind::TypeError, "Signal receivers must be callable."));
    }
    let ident = ident_of(&receiver);
    let held = if !weak {
        Held::Strong(receiver)
    } else {
        match &receiver {
            Val::Obj(o) => match o.as_any().downcast_ref::<BoundMethod>() {
                Some(b) => match &b.receiver {
                    Val::Obj(r) => Held::WeakMethod(b.func.clone(), Rc::downgrade(r)),
                    _ => Held::Strong(receiver.clone()),
                },
                None => Held::Weak(Rc::downgrade(o)),
            },
            _ => Held::Strong(receiver.clone()),
        }
    };
    let reg = registry(rt);
    let mut d = reg.borrow_mut();
    let list = d.list(signal);
    list.retain(|r| r.get().is_some());
    let dup = list.iter().any(|r| match (&uid, &r.uid) {
        (Some(a), Some(b)) => a == b && r.sender == sender,
        (None, None) => r.ident == ident && r.sender == sender,
        _ => false,
    });
    if !dup {
        list.push(Receiver { held, sender, uid, ident });
    }
    Ok(())
}

pub fn disconnect(rt: &Rt, signal: &str, receiver: Option<Val>, sender: Option<String>, uid: Option<String>) -> bool {
    let reg = registry(rt);
    let mut d = reg.borrow_mut();
    let list = d.list(signal);
    let before = list.len();
    let ident = receiver.as_ref().map(ident_of);
    list.retain(|r| {
        let same = match (&uid, ident) {
            (Some(u), _) => r.uid.as_ref() == Some(u),
            (None, Some(i)) => r.ident == i,
            _ => false,
        };
        !(same && r.sender == sender)
    });
    list.len() != before
}

fn live_receivers(rt: &Rt, signal: &str, sender: Option<&str>) -> Vec<Val> {
    let reg = registry(rt);
    let mut d = reg.borrow_mut();
    let list = d.list(signal);
    list.retain(|r| r.get().is_some());
    list.iter().filter(|r| r.sender.is_none() || r.sender.as_deref() == sender).filter_map(|r| r.get()).collect()
}

pub fn has_listeners(rt: &Rt, signal: &str, model: &'static Model) -> bool {
    !live_receivers(rt, signal, Some(&format!("model:{}", model.name))).is_empty()
}

pub fn has_m2m_listeners(rt: &Rt, through: &'static Model) -> bool {
    has_listeners(rt, "m2m_changed", through)
}

/// `signal.send(sender=model, **kwargs)`: each receiver is called with `signal` and `sender`.
pub fn send(rt: &Rt, signal: &str, model: &'static Model, kwargs: Kwargs) -> SResult<Vec<Val>> {
    send_val(rt, signal, Val::obj(ModelClass(model)), kwargs)
}

pub fn send_m2m(rt: &Rt, through: &'static Model, kwargs: Kwargs) -> SResult<()> {
    send(rt, "m2m_changed", through, kwargs).map(|_| ())
}

pub fn send_val(rt: &Rt, signal: &str, sender: Val, kwargs: Kwargs) -> SResult<Vec<Val>> {
    let key = sender_key(&sender);
    let receivers = live_receivers(rt, signal, key.as_deref());
    let mut out = Vec::new();
    for r in receivers {
        let mut kw: Kwargs = vec![("signal".into(), Val::obj(SignalObj(signal.to_string()))), ("sender".into(), sender.clone())];
        kw.extend(kwargs.iter().cloned());
        let resp = call_value(rt, &r, vec![], kw)?;
        out.push(Val::tuple(vec![r, resp]));
    }
    Ok(out)
}

/// A signal as a Python value (`post_save`, or a learner's `Signal()`).
pub struct SignalObj(pub String);

impl Object for SignalObj {
    fn type_name(&self) -> String {
        "Signal".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn repr(&self, _rt: &Rt) -> SResult<String> {
        Ok(format!("<django.db.models.signals.ModelSignal {}>", self.0))
    }
    fn eq_val(&self, other: &Val) -> Option<bool> {
        Some(other.as_obj::<SignalObj>().is_some_and(|o| o.0 == self.0))
    }
    fn hash_key(&self) -> SResult<HashKey> {
        Ok(HashKey::Other(format!("signal:{}", self.0)))
    }
    fn getattr(&self, _rt: &Rt, name: &str) -> SResult<Val> {
        let sig = self.0.clone();
        Ok(match name {
            "connect" => NativeFn::val("connect", move |rt, args, kwargs| {
                let a = crate::py::args::bind("connect", args, kwargs, &["receiver", "sender", "weak", "dispatch_uid"], 1)?;
                let weak = match &a[2] {
                    Some(v) => v.truthy(rt)?,
                    None => true,
                };
                let uid = a[3].as_ref().and_then(|v| if v.is_none() { None } else { Some(v.to_str(rt)) }).transpose()?;
                connect(rt, &sig, a[0].clone().expect("required"), a[1].as_ref().and_then(sender_key), weak, uid)?;
                Ok(Val::None)
            }),
            "disconnect" => NativeFn::val("disconnect", move |rt, args, kwargs| {
                let a = crate::py::args::bind("disconnect", args, kwargs, &["receiver", "sender", "dispatch_uid"], 0)?;
                let uid = a[2].as_ref().and_then(|v| if v.is_none() { None } else { Some(v.to_str(rt)) }).transpose()?;
                Ok(Val::Bool(disconnect(rt, &sig, a[0].clone(), a[1].as_ref().and_then(sender_key), uid)))
            }),
            "send" | "send_robust" => {
                let robust = name == "send_robust";
                NativeFn::val(name, move |rt, args, kwargs| {
                    let mut kwargs = kwargs;
                    let sender = match args.into_iter().next() {
                        Some(s) => s,
                        None => match kwargs.iter().position(|(k, _)| k == "sender") {
                            Some(i) => kwargs.remove(i).1,
                            None => return Err(err(ErrorKind::TypeError, "send() missing 1 required positional argument: 'sender'")),
                        },
                    };
                    if robust {
                        let key = sender_key(&sender);
                        let mut out = Vec::new();
                        for r in live_receivers(rt, &sig, key.as_deref()) {
                            let mut kw: Kwargs = vec![("signal".into(), Val::obj(SignalObj(sig.clone()))), ("sender".into(), sender.clone())];
                            kw.extend(kwargs.iter().cloned());
                            let resp = match call_value(rt, &r, vec![], kw) {
                                Ok(v) => v,
                                Err(e) => crate::py::classes::exception_value(rt, &e),
                            };
                            out.push(Val::tuple(vec![r, resp]));
                        }
                        return Ok(Val::list(out));
                    }
                    Ok(Val::list(send_val(rt, &sig, sender, kwargs)?))
                })
            }
            "has_listeners" => NativeFn::val("has_listeners", move |rt, args, _| {
                let key = args.first().and_then(sender_key);
                Ok(Val::Bool(!live_receivers(rt, &sig, key.as_deref()).is_empty()))
            }),
            _ => return Err(crate::value::no_attr("Signal", name)),
        })
    }
}

/// `@receiver(signal_or_list, sender=..., weak=..., dispatch_uid=...)`.
pub fn receiver_decorator() -> Val {
    NativeFn::val("receiver", |rt, args, kwargs| {
        let signals: Vec<String> = match args.first() {
            Some(Val::List(l)) => l.borrow().iter().filter_map(|s| s.as_obj::<SignalObj>().map(|s| s.0.clone())).collect(),
            Some(Val::Tuple(t)) => t.iter().filter_map(|s| s.as_obj::<SignalObj>().map(|s| s.0.clone())).collect(),
            Some(v) => match v.as_obj::<SignalObj>() {
                Some(s) => vec![s.0.clone()],
                None => return Err(err(ErrorKind::TypeError, "receiver() takes a signal or a list of signals")),
            },
            None => return Err(err(ErrorKind::TypeError, "receiver() missing 1 required positional argument: 'signal'")),
        };
        let sender = kwargs.iter().find(|(k, _)| k == "sender").and_then(|(_, v)| sender_key(v));
        let weak = match kwargs.iter().find(|(k, _)| k == "weak") {
            Some((_, v)) => v.truthy(rt)?,
            None => true,
        };
        let uid = match kwargs.iter().find(|(k, _)| k == "dispatch_uid") {
            Some((_, v)) if !v.is_none() => Some(v.to_str(rt)?),
            _ => None,
        };
        Ok(NativeFn::val("receiver.<decorator>", move |rt, a, _| {
            let f = a.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, "the decorator takes the receiver function"))?;
            for s in &signals {
                connect(rt, s, f.clone(), sender.clone(), weak, uid.clone())?;
            }
            Ok(f)
        }))
    })
}
