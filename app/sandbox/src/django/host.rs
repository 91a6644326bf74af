//! Django as the host of the layers below it: it lends `py/` its modules, the template engine
//! its project and cache, and the ORM its signal receivers, each through the trait that layer
//! defines. [`runtime`] makes a session's `Rt` with all of them installed.

use std::rc::Rc;

use crate::cache::Timeout;
use crate::engine::Engine;
use crate::error::SResult;
use crate::runtime::Rt;
use crate::schema::Model;
use crate::template::Template;
use crate::value::{Kwargs, Val};

struct Django;

impl crate::py::host::Host for Django {
    fn module_names(&self, rt: &Rt, name: &str) -> SResult<Option<Vec<(&'static str, Val)>>> {
        super::modules::module_names(rt, name)
    }

    fn home_of(&self, name: &str) -> Option<String> {
        super::modules::home_of(name)
    }

    fn rewrites_asserts(&self, rt: &Rt, file: &str) -> bool {
        super::test_client::test_state(rt).rewrite_asserts.borrow().iter().any(|f| f == file)
    }
}

impl crate::template::host::Host for Django {
    fn template(&self, rt: &Rt, name: &str) -> SResult<Rc<Template>> {
        let project = super::project::current(rt).map_err(|_| crate::error::exc("TemplateDoesNotExist", name.to_string()))?;
        let t = project.template(name)?;
        super::project::served(rt).rendered_templates.borrow_mut().push(name.to_string());
        Ok(t)
    }

    fn reverse(&self, rt: &Rt, viewname: &str, args: &[String], kwargs: &[(String, String)]) -> SResult<String> {
        super::project::reverse(rt, viewname, args, kwargs)
    }

    fn cache_get(&self, rt: &Rt, key: &str) -> SResult<Option<Val>> {
        super::cache::get_raw(rt, &super::cache::made_key(rt, key, None))
    }

    fn cache_set(&self, rt: &Rt, key: &str, value: &Val, timeout: Timeout) -> SResult<()> {
        super::cache::set_raw(rt, &super::cache::made_key(rt, key, None), value, timeout)
    }
}

impl crate::orm::events::Events for Django {
    fn has_listeners(&self, rt: &Rt, signal: &str, model: &'static Model) -> bool {
        super::signals::has_listeners(rt, signal, model)
    }

    fn send(&self, rt: &Rt, signal: &str, model: &'static Model, kwargs: Kwargs) -> SResult<()> {
        super::signals::send(rt, signal, model, kwargs).map(|_| ())
    }
}

/// Installs Django under every layer of `rt`: the connection's transactions and lock, the
/// modules, the templates' project and cache, the ORM's signals.
pub fn install(rt: &Rt) {
    let django = Rc::new(Django);
    crate::db::install(rt);
    crate::py::host::install(rt, django.clone());
    crate::template::host::install(rt, django.clone());
    crate::orm::events::install(rt, django);
    rt.on_begin_request(Rc::new(|rt| super::caches::with_backend(rt, |b| b.reset_calls())));
}

/// A session's runtime over `engine`, with Django installed.
pub fn runtime(engine: Engine) -> Rt {
    let rt = Rt::new(engine);
    install(&rt);
    rt
}
