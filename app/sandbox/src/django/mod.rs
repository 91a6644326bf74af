//! Django's runtime as the labs need it, on top of the ORM and the template engine: the
//! importable modules, transactions and savepoints, signals, the cache framework, the request
//! cycle (URL routing, session and auth middleware, `cache_page`), shortcuts, the test
//! runner and the `run-project` contract.

pub mod cache;
pub mod dblock;
pub mod http;
pub mod mail;
pub mod migrations;
pub mod models_file;
pub mod modules;
pub mod paginator;
pub mod project;
pub mod signals;
pub mod testing;
pub mod transaction;
pub mod urls;

use std::collections::HashMap;
use std::rc::Rc;

use crate::py::Namespace;
use crate::value::Val;

/// Django's state for one session (a lab, or one run-project case).
#[derive(Default)]
pub struct State {
    /// Imported modules by dotted name.
    pub modules: HashMap<String, Val>,
    /// Signal receivers by signal name.
    pub signals: signals::Registry,
    pub tx: transaction::TxState,
    /// SQLite's write lock between overlapping requests, on the virtual clock.
    pub dblock: dblock::DbLock,
    /// Custom QuerySet classes (executed once) by model name.
    pub qs_classes: HashMap<&'static str, Rc<Namespace>>,
    /// The project the request cycle serves (views, URLs, templates).
    pub project: Option<Rc<project::Project>>,
    /// Numbers `Signal()` objects a learner creates.
    pub signal_counter: usize,
    /// Test files whose `assert` statements report as pytest rewrites them.
    pub rewrite_asserts: Vec<String>,
    /// Templates rendered (with `{% extends %}` parents and includes), for `response.templates`.
    pub rendered_templates: Vec<String>,
    /// Open `CaptureQueriesContext`s (which keep a request from resetting the query log).
    pub no_reset_queries: usize,
}
