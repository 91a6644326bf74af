//! `django.db.transaction` on SQLite, as Django 5.2 runs it: the outermost `atomic()` sends
//! `BEGIN` and `COMMIT`/`ROLLBACK`, nested ones `SAVEPOINT "s…_xN"`, `RELEASE SAVEPOINT` and
//! `ROLLBACK TO SAVEPOINT`; a failure inside a block without a savepoint marks the transaction
//! for rollback, and further queries in it raise `TransactionManagementError`. Savepoint
//! names carry a thread id, as Django's do (`s<thread>_x<n>`).

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::py::objects::NativeFn;
use crate::runtime::Rt;
use crate::value::{call_value, Kwargs, Object, Val};

/// A stand-in for Python's thread id in savepoint names.
pub const THREAD_IDENT: &str = "140234567890123";

pub struct TxState {
    pub in_atomic_block: bool,
    pub savepoint_ids: Vec<Option<String>>,
    pub savepoint_state: u32,
    pub needs_rollback: bool,
    pub commit_on_exit: bool,
    pub autocommit: bool,
    /// `on_commit` callbacks with the savepoints they were registered under.
    pub run_on_commit: Vec<(Vec<String>, Val)>,
    /// Inside a TestCase: commits never happen, so callbacks never run.
    pub in_test: bool,
}

impl Default for TxState {
    fn default() -> Self {
        TxState {
            in_atomic_block: false,
            savepoint_ids: vec![],
            savepoint_state: 0,
            needs_rollback: false,
            commit_on_exit: true,
            autocommit: true,
            run_on_commit: vec![],
            in_test: false,
        }
    }
}

/// The session's transaction state.
pub fn state(rt: &Rt) -> Rc<RefCell<TxState>> {
    rt.state::<RefCell<TxState>>()
}

fn tx_sql(rt: &Rt, sql: &str) -> SResult<()> {
    rt.query_tx(sql)
}

/// Entering `atomic(savepoint=...)`.
pub fn enter(rt: &Rt, savepoint: bool) -> SResult<()> {
    let (in_block, autocommit, needs_rollback) = {
        let st = state(rt);
        let d = st.borrow();
        (d.in_atomic_block, d.autocommit, d.needs_rollback)
    };
    if !in_block {
        let st = state(rt);
        let mut d = st.borrow_mut();
        d.commit_on_exit = true;
        d.needs_rollback = false;
        if !autocommit {
            d.in_atomic_block = true;
            d.commit_on_exit = false;
        }
    }
    let in_block = state(rt).borrow().in_atomic_block;
    if in_block {
        if savepoint && !needs_rollback {
            let sid = {
                let st = state(rt);
                let mut d = st.borrow_mut();
                d.savepoint_state += 1;
                format!("s{THREAD_IDENT}_x{}", d.savepoint_state)
            };
            tx_sql(rt, &format!("SAVEPOINT \"{sid}\""))?;
            state(rt).borrow_mut().savepoint_ids.push(Some(sid));
        } else {
            state(rt).borrow_mut().savepoint_ids.push(None);
        }
    } else {
        tx_sql(rt, &crate::db::lock::begin_sql(rt))?;
        let st = state(rt);
        let mut d = st.borrow_mut();
        d.autocommit = false;
        d.in_atomic_block = true;
    }
    Ok(())
}

/// Leaving an atomic block; `failed` when an exception is leaving it.
pub fn exit(rt: &Rt, failed: bool) -> SResult<()> {
    let sid = {
        let st = state(rt);
        let mut d = st.borrow_mut();
        if d.savepoint_ids.is_empty() {
            d.in_atomic_block = false;
            None
        } else {
            Some(d.savepoint_ids.pop().expect("checked"))
        }
    };
    let in_block = state(rt).borrow().in_atomic_block;
    let needs_rollback = state(rt).borrow().needs_rollback;
    let mut result = Ok(());
    if !failed && !needs_rollback {
        if in_block {
            if let Some(Some(sid)) = &sid {
                tx_sql(rt, &format!("RELEASE SAVEPOINT \"{sid}\""))?;
            }
        } else if let Err(e) = tx_sql(rt, "COMMIT") {
            let _ = tx_sql(rt, "ROLLBACK");
            result = Err(e);
        } else {
            run_commit_hooks(rt)?;
        }
    } else {
        state(rt).borrow_mut().needs_rollback = false;
        if in_block {
            match &sid {
                Some(None) | None => state(rt).borrow_mut().needs_rollback = true,
                Some(Some(s)) => {
                    tx_sql(rt, &format!("ROLLBACK TO SAVEPOINT \"{s}\""))?;
                    tx_sql(rt, &format!("RELEASE SAVEPOINT \"{s}\""))?;
                    // Callbacks registered inside the rolled-back savepoint are dropped.
                    let s = s.clone();
                    state(rt).borrow_mut().run_on_commit.retain(|(sids, _)| !sids.contains(&s));
                }
            }
        } else {
            tx_sql(rt, "ROLLBACK")?;
            state(rt).borrow_mut().run_on_commit.clear();
        }
    }
    let st = state(rt);
    let mut d = st.borrow_mut();
    if !d.in_atomic_block {
        d.autocommit = true;
    } else if d.savepoint_ids.is_empty() && !d.commit_on_exit {
        d.in_atomic_block = false;
    }
    result
}

fn run_commit_hooks(rt: &Rt) -> SResult<()> {
    let hooks = std::mem::take(&mut state(rt).borrow_mut().run_on_commit);
    for (_, f) in hooks {
        call_value(rt, &f, vec![], vec![])?;
    }
    Ok(())
}

/// Runs `f` in `atomic(savepoint=...)`.
pub fn atomic<T>(rt: &Rt, savepoint: bool, f: impl FnOnce() -> SResult<T>) -> SResult<T> {
    enter(rt, savepoint)?;
    match f() {
        Ok(v) => {
            exit(rt, false)?;
            Ok(v)
        }
        Err(e) => {
            // The original error wins over one raised while rolling back.
            let _ = exit(rt, true);
            Err(e)
        }
    }
}

/// `mark_for_rollback_on_error`: an error inside an atomic block breaks the transaction.
pub fn mark_for_rollback_on_error<T>(rt: &Rt, f: impl FnOnce() -> SResult<T>) -> SResult<T> {
    let r = f();
    if r.is_err() && state(rt).borrow().in_atomic_block {
        state(rt).borrow_mut().needs_rollback = true;
    }
    r
}

/// `validate_no_broken_transaction`, checked before each query.
pub fn check_not_broken(rt: &Rt) -> SResult<()> {
    let st = state(rt);
    let d = st.borrow();
    if d.in_atomic_block && d.needs_rollback {
        return Err(exc("TransactionManagementError", "An error occurred in the current transaction. You can't execute queries until the end of the 'atomic' block."));
    }
    Ok(())
}

/// `transaction.on_commit(func)`.
pub fn on_commit(rt: &Rt, f: Val) -> SResult<()> {
    let in_block = state(rt).borrow().in_atomic_block;
    if in_block {
        let sids: Vec<String> = state(rt).borrow().savepoint_ids.iter().flatten().cloned().collect();
        state(rt).borrow_mut().run_on_commit.push((sids, f));
        Ok(())
    } else {
        call_value(rt, &f, vec![], vec![]).map(|_| ())
    }
}

/// `transaction.atomic` as a Python value: a context manager, a decorator, or a factory of them.
pub struct AtomicObj {
    pub savepoint: bool,
}

impl Object for AtomicObj {
    fn type_name(&self) -> String {
        "Atomic".into()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn is_callable(&self) -> bool {
        true
    }
    fn enter(&self, rt: &Rt) -> SResult<Val> {
        enter(rt, self.savepoint)?;
        Ok(Val::None)
    }
    fn exit(&self, rt: &Rt, error: Option<&SandboxError>) -> SResult<bool> {
        exit(rt, error.is_some())?;
        Ok(false)
    }
    /// `@transaction.atomic` on a function.
    fn call(&self, _rt: &Rt, args: Vec<Val>, _kwargs: Kwargs) -> SResult<Val> {
        let f = args.into_iter().next().ok_or_else(|| err(ErrorKind::TypeError, "atomic() decorates a function"))?;
        let savepoint = self.savepoint;
        let name = f.as_obj::<crate::py::objects::Function>().map(|x| x.def.name.to_string()).unwrap_or_else(|| "inner".into());
        Ok(NativeFn::val(name, move |rt, a, k| atomic(rt, savepoint, || call_value(rt, &f, a, k))))
    }
}

/// `transaction.atomic(using=None, savepoint=True, durable=False)` / `@transaction.atomic`.
pub fn atomic_factory() -> Val {
    NativeFn::val("atomic", |rt, args, kwargs| {
        let mut savepoint = true;
        for (k, v) in &kwargs {
            match k.as_str() {
                "savepoint" => savepoint = v.truthy(rt)?,
                "using" | "durable" => {}
                other => return Err(err(ErrorKind::TypeError, format!("atomic() got an unexpected keyword argument '{other}'"))),
            }
        }
        match args.into_iter().next() {
            // `@transaction.atomic` without parentheses: decorate at once.
            Some(f @ Val::Obj(_)) if f.as_obj::<crate::py::objects::Function>().is_some() || matches!(&f, Val::Obj(o) if o.is_callable()) => {
                AtomicObj { savepoint }.call(rt, vec![f], vec![])
            }
            Some(Val::Str(_)) | None => Ok(Val::obj(AtomicObj { savepoint })),
            Some(other) => Err(err(ErrorKind::TypeError, format!("atomic() takes a function or nothing, not {}", other.type_name()))),
        }
    })
}
