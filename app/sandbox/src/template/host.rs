//! What the template engine asks of the project it renders for, the way `py::host` does for
//! Python: the templates `{% extends %}` and `{% include %}` name, the URLs `{% url %}`
//! reverses, and the cache `{% cache %}` reads and fills. Without a host (the engine's own
//! tests, `run-cases` templates) a named template does not exist, no URL reverses and
//! `{% cache %}` renders its body every time.

use std::rc::Rc;

use super::compile::Template;
use crate::cache::Timeout;
use crate::error::SResult;
use crate::runtime::Rt;
use crate::value::Val;

pub trait Host {
    /// The template named `name` (`articles/base.html`), noted as rendered.
    fn template(&self, rt: &Rt, name: &str) -> SResult<Rc<Template>>;
    /// `reverse(viewname, args=…, kwargs=…)`.
    fn reverse(&self, rt: &Rt, viewname: &str, args: &[String], kwargs: &[(String, String)]) -> SResult<String>;
    /// The value cached under `key` (`template.cache.<name>.<hash>`; the cache makes its own
    /// key of it, with its prefix and version), a copy, if any.
    fn cache_get(&self, rt: &Rt, key: &str) -> SResult<Option<Val>>;
    /// Caches a copy of `value` under `key`.
    fn cache_set(&self, rt: &Rt, key: &str, value: &Val, timeout: Timeout) -> SResult<()>;
}

/// Installs the host every template rendered with `rt` reaches.
pub fn install(rt: &Rt, host: Rc<dyn Host>) {
    rt.install_hook(host);
}

pub(crate) fn host(rt: &Rt) -> Option<Rc<dyn Host>> {
    rt.hook::<Rc<dyn Host>>()
}
