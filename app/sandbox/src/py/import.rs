//! `import`: a module is a namespace built on first import and kept for the session, so
//! `from django.core.cache import cache` twice gives the same object, as in Python. The
//! standard library's modules come from `stdlib.rs`, the rest from the host (Django's
//! modules, the sample app's `models`), and a project's own files (`views.py`, `tests.py`)
//! are executed as modules with [`exec_source_module`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::py::objects::{ModuleObj, Namespace};
use crate::runtime::Rt;
use crate::value::Val;

/// The session's imported modules by dotted name.
#[derive(Default)]
pub struct Modules(RefCell<HashMap<String, Val>>);

impl std::ops::Deref for Modules {
    type Target = RefCell<HashMap<String, Val>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

pub fn modules(rt: &Rt) -> Rc<Modules> {
    rt.state::<Modules>()
}

/// Whether `name` was imported in this session.
pub fn is_imported(rt: &Rt, name: &str) -> bool {
    modules(rt).borrow().contains_key(name)
}

/// `import name` / `from name import …`: the module object.
pub fn import(rt: &Rt, name: &str) -> SResult<Val> {
    if let Some(m) = modules(rt).borrow().get(name) {
        return Ok(m.clone());
    }
    let names = match crate::py::stdlib::module_names(rt, name)? {
        Some(n) => n,
        None => match crate::py::host::host(rt).map(|h| h.module_names(rt, name)).transpose()?.flatten() {
            Some(n) => n,
            None => return Err(not_found(name)),
        },
    };
    let ns = Namespace::new();
    for (k, v) in names {
        ns.set(k, v);
    }
    let m = Val::obj(ModuleObj { name: name.to_string(), ns });
    modules(rt).borrow_mut().insert(name.to_string(), m.clone());
    // A submodule is an attribute of its package (`import django.db` then `django.db.models`).
    if let Some((parent, child)) = name.rsplit_once('.') {
        if let Ok(p) = import(rt, parent) {
            if let Some(pm) = p.as_obj::<ModuleObj>() {
                if pm.ns.get(child).is_none() {
                    pm.ns.set(child, m.clone());
                }
            }
        }
    }
    Ok(m)
}

fn not_found(name: &str) -> SandboxError {
    let top = name.split('.').next().unwrap_or(name);
    if UNSUPPORTED_STDLIB.contains(&top) {
        return err(
            ErrorKind::NotSupported,
            format!("the sandbox does not provide the module '{top}' (labs can use datetime, time, json, math, collections, functools, itertools, operator, hashlib, typing)"),
        );
    }
    exc("ModuleNotFoundError", format!("No module named '{name}'"))
}

const UNSUPPORTED_STDLIB: &[&str] = &[
    "os", "sys", "re", "random", "subprocess", "threading", "asyncio", "socket", "pathlib", "io", "logging", "decimal", "uuid",
    "string", "copy", "pickle", "sqlite3", "unittest", "urllib", "http", "csv", "statistics", "enum", "dataclasses", "inspect",
    "contextlib", "warnings", "traceback", "shutil", "tempfile", "glob", "requests",
];

/// Python's `str(SyntaxError)`: `message (file, line N)`.
pub fn syntax_error_in(e: SandboxError, filename: &str) -> SandboxError {
    if e.kind != ErrorKind::SyntaxError {
        return e.in_source(filename.to_string());
    }
    let mut e = e.in_source(filename.to_string());
    if let Some(p) = e.pos {
        if !e.message.ends_with(')') || !e.message.contains(", line ") {
            e.message = format!("{} ({filename}, line {})", e.message, p.line);
        }
    }
    e
}

/// Adds a hint to `cannot import name` for names that live in another module.
pub fn hint_import(rt: &Rt, mut e: SandboxError, module: &str, name: &str) -> SandboxError {
    if module == "views" {
        e.message = format!("cannot import name '{name}' from 'views' (views.py)");
        return e;
    }
    if let Some(home) = crate::py::host::host(rt).and_then(|h| h.home_of(name)) {
        if home != module {
            e.message.push_str(&format!(" — `{name}` is in `{home}`: from {home} import {name}"));
        }
    }
    e
}
