//! The database connection's behaviour above the engine, as Django's SQLite backend and
//! SQLite itself give it: transactions and savepoints ([`transaction`], `django.db.transaction`)
//! and the write lock between overlapping requests ([`lock`]). Both keep their state in the
//! session's `Rt` and run around each statement through the [`StatementHook`] installed here.

pub mod lock;
pub mod transaction;

use std::rc::Rc;

use crate::error::SResult;
use crate::runtime::{Rt, StatementHook};

struct Connection;

impl StatementHook for Connection {
    fn before_query(&self, rt: &Rt) -> SResult<()> {
        transaction::check_not_broken(rt)
    }

    fn before_statement(&self, rt: &Rt, sql: &str) -> SResult<()> {
        lock::before(rt, lock::classify(sql))
    }
}

/// Makes every statement of `rt` go through the transaction's and the lock's checks.
pub fn install(rt: &Rt) {
    rt.set_statement_hook(Rc::new(Connection));
}
