//! What the Python layer asks of the program embedding it (Django, in this sandbox), the way
//! starlark-rust's evaluator asks its embedder: the modules it provides beyond the standard
//! library, where a misplaced name lives, and which files report failed `assert`s as pytest
//! rewrites them. `py/` knows nothing else of Django.

use std::rc::Rc;

use crate::error::SResult;
use crate::runtime::Rt;
use crate::value::Val;

pub trait Host {
    /// The names of the module `name`, or `None` when the host provides no such module.
    fn module_names(&self, rt: &Rt, name: &str) -> SResult<Option<Vec<(&'static str, Val)>>>;
    /// Where `name` lives, when `from module import name` failed (`render` is in
    /// `django.shortcuts`): the module to suggest.
    fn home_of(&self, name: &str) -> Option<String>;
    /// Whether a failed `assert` in `file` reports its operands, as pytest's rewriting does.
    fn rewrites_asserts(&self, rt: &Rt, file: &str) -> bool;
}

/// Installs the host for every module `rt` imports from now on.
pub fn install(rt: &Rt, host: Rc<dyn Host>) {
    rt.install_hook(host);
}

/// The installed host, if any (unit tests of the language run without one).
pub fn host(rt: &Rt) -> Option<Rc<dyn Host>> {
    rt.hook::<Rc<dyn Host>>()
}
