//! What the ORM tells the program above it about saves, deletes and many-to-many changes
//! (Django sends its model signals from them: `pre_save`, `post_save`, `pre_delete`,
//! `post_delete`, `m2m_changed`). Without a listener installed (the ORM's own tests) nothing
//! listens; `django::signals` implements [`Events`] with the learner's receivers.

use std::rc::Rc;

use crate::error::SResult;
use crate::runtime::Rt;
use crate::schema::Model;
use crate::value::Kwargs;

pub trait Events {
    /// Whether a receiver listens to `signal` sent by `model`: Django skips the per-object
    /// work of a bulk delete when nothing does.
    fn has_listeners(&self, rt: &Rt, signal: &str, model: &'static Model) -> bool;
    /// Sends `signal` with `model` as the sender; a receiver's exception propagates.
    fn send(&self, rt: &Rt, signal: &str, model: &'static Model, kwargs: Kwargs) -> SResult<()>;
}

/// Installs who hears the ORM's events for `rt`.
pub fn install(rt: &Rt, events: Rc<dyn Events>) {
    rt.install_hook(events);
}

pub(crate) fn has_listeners(rt: &Rt, signal: &str, model: &'static Model) -> bool {
    rt.hook::<Rc<dyn Events>>().is_some_and(|e| e.has_listeners(rt, signal, model))
}

pub(crate) fn send(rt: &Rt, signal: &str, model: &'static Model, kwargs: Kwargs) -> SResult<()> {
    match rt.hook::<Rc<dyn Events>>() {
        Some(e) => e.send(rt, signal, model, kwargs),
        None => Ok(()),
    }
}
