//! SQLite's write lock between the lab's server processes, on the virtual clock.
//!
//! SQLite lets one connection write at a time. A transaction Django opens with `BEGIN`
//! (`DEFERRED`, the default) takes the write lock at its first write and keeps it until
//! `COMMIT` or `ROLLBACK`; `BEGIN IMMEDIATE` (`"transaction_mode": "IMMEDIATE"` in
//! `DATABASES["default"]["OPTIONS"]`) takes it at once. Outside a transaction each write holds
//! it only while it runs. A connection that finds the lock taken waits, up to the `timeout`
//! option (Python's sqlite3 default: 5 s), then fails with `OperationalError: database is
//! locked`; it fails at once, without waiting, when it is inside a transaction that has
//! already read and now wants to write — waiting could deadlock, so SQLite refuses.
//!
//! The lab has no threads: a request sent `N s into the previous` runs after the previous one
//! has finished, with the clock set back to when it started. The previous request's lock
//! holds are known by then, so this one waits or fails exactly where it would have; the
//! previous request itself ran as if alone, and when one of its writes fell inside this
//! request's transaction, the step says so. Statements are classified by their first word,
//! which is all the engine sees too.

use std::cell::RefCell;
use std::rc::Rc;

use crate::error::{exc, SResult, SandboxError};
use crate::runtime::Rt;
use protocol::short_seconds as short;

/// The session's lock state.
pub fn lock(rt: &Rt) -> Rc<RefCell<DbLock>> {
    rt.state::<RefCell<DbLock>>()
}

/// What a statement does to the lock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Begin { immediate: bool },
    End,
    Read,
    Write,
    Other,
}

/// Runs before every statement, so it allocates nothing: the first two words, compared
/// without regard to case.
pub fn classify(sql: &str) -> Kind {
    let mut words = sql.split_whitespace().map(|w| w.trim_matches(|c: char| !c.is_ascii_alphabetic()));
    let first = words.next().unwrap_or("");
    let second = words.next().unwrap_or("");
    let is = |w: &str, any: &[&str]| any.iter().any(|a| w.eq_ignore_ascii_case(a));
    if is(first, &["BEGIN"]) {
        Kind::Begin { immediate: is(second, &["IMMEDIATE", "EXCLUSIVE"]) }
    } else if is(first, &["COMMIT", "END"]) {
        Kind::End
    } else if is(first, &["ROLLBACK"]) {
        // `ROLLBACK TO SAVEPOINT` keeps the transaction open.
        if is(second, &["TO"]) {
            Kind::Other
        } else {
            Kind::End
        }
    } else if is(first, &["SELECT", "WITH", "VALUES"]) {
        Kind::Read
    } else if is(first, &["INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER"]) {
        Kind::Write
    } else {
        Kind::Other
    }
}

/// The default of Python's `sqlite3.connect(timeout=…)`, which Django passes through.
pub const DEFAULT_TIMEOUT_S: f64 = 5.0;

#[derive(Clone)]
pub struct DbLock {
    /// `OPTIONS["timeout"]`: how long a connection waits for the lock.
    pub timeout_s: f64,
    /// `OPTIONS["transaction_mode"]`: `None` (Django sends `BEGIN`), `DEFERRED`, `IMMEDIATE`, `EXCLUSIVE`.
    pub transaction_mode: Option<String>,
    /// Lock holds `(from, to)` of the request this one overlaps, and its write moments.
    other_holds: Vec<(f64, f64)>,
    other_writes: Vec<f64>,
    other_worker: u8,
    /// This step's finished holds and write moments.
    holds: Vec<(f64, f64)>,
    writes: Vec<f64>,
    /// A transaction is open; since when it holds the lock; whether it has read.
    in_tx: bool,
    held_since: Option<f64>,
    read_in_tx: bool,
    /// Seconds this step waited for the lock.
    pub waited_s: f64,
    /// What happened at the lock, for the step's report.
    pub note: Option<String>,
    /// The previous step's start and end on the clock, and this one's start.
    prev_span: Option<(f64, f64)>,
    start: f64,
}

impl Default for DbLock {
    fn default() -> Self {
        DbLock {
            timeout_s: DEFAULT_TIMEOUT_S,
            transaction_mode: None,
            other_holds: vec![],
            other_writes: vec![],
            other_worker: 1,
            holds: vec![],
            writes: vec![],
            in_tx: false,
            held_since: None,
            read_in_tx: false,
            waited_s: 0.0,
            note: None,
            prev_span: None,
            start: 0.0,
        }
    }
}

/// Starts a step (a request, a shell line, the tests). With `into_previous`, the step starts
/// that many seconds after the previous one started, overlapping it: the clock goes back (or
/// forward) to that moment and the previous step's lock holds stand in its way.
pub fn begin_step(rt: &Rt, into_previous: Option<f64>, prev_worker: u8) {
    let st = lock(rt);
    let mut l = st.borrow_mut();
    let l = &mut *l;
    l.other_holds.clear();
    l.other_writes.clear();
    if let (Some(d), Some((prev_start, _))) = (into_previous, l.prev_span) {
        l.other_holds = std::mem::take(&mut l.holds);
        l.other_writes = std::mem::take(&mut l.writes);
        l.other_worker = prev_worker;
        rt.set_clock(prev_start + d);
    }
    l.holds.clear();
    l.writes.clear();
    l.waited_s = 0.0;
    l.note = None;
    l.start = rt.now_seconds();
    rt.reset_slept();
}

/// Ends a step: the clock stands where the later of the two overlapping steps ended.
/// Returns the step's `(start, end)`, and a warning when a write of the overlapped request
/// fell inside this step's transaction (that request ran as if alone).
pub fn end_step(rt: &Rt, overlapped: bool) -> ((f64, f64), Option<String>) {
    let now = rt.now_seconds();
    let st = lock(rt);
    let mut d = st.borrow_mut();
    let l = &mut *d;
    // A transaction left open (it cannot be, after `atomic()`; a shell `BEGIN` could) ends here.
    if let Some(since) = l.held_since.take() {
        l.holds.push((since, now));
    }
    let span = (l.start, now);
    let mut warning = None;
    if overlapped {
        if let Some(t) = l.other_writes.iter().find(|t| l.holds.iter().any(|(a, b)| *a < **t && **t < *b)) {
            let (a, b) = l.holds.iter().find(|(a, b)| *a < *t && *t < *b).copied().unwrap_or((0.0, 0.0));
            warning = Some(format!(
                "worker {}'s earlier request wrote at {} while this request's transaction held the write lock ({} to {}): on a real server one of them would have waited, or failed. The lab runs the earlier request as if it were alone; start this one later, or keep its transaction shorter.",
                l.other_worker,
                time_text(*t),
                time_text(a),
                time_text(b)
            ));
        }
        // The clock is a Cell of its own: moving it needs no release of this borrow.
        let prev_end = l.prev_span.map(|(_, e)| e).unwrap_or(now);
        if prev_end > now {
            rt.set_clock(prev_end);
        }
    }
    l.prev_span = Some(span);
    (span, warning)
}

fn clock_text(t: f64) -> String {
    crate::datetime::DateTime::from_unix_seconds(t).to_string()
}

/// `09:00:03`: the time of day on the lab's clock (the date is the lab's start day).
fn time_text(t: f64) -> String {
    let full = clock_text(t);
    full.rsplit(' ').next().unwrap_or(&full).to_string()
}

/// Called before each statement runs, with its [`classify`]: takes the lock for a write
/// (waiting or failing as SQLite would), and notes reads and the end of a transaction.
pub fn before(rt: &Rt, kind: Kind) -> SResult<()> {
    match kind {
        Kind::Begin { immediate } => {
            let immediate = immediate || matches!(lock(rt).borrow().transaction_mode.as_deref(), Some("IMMEDIATE" | "EXCLUSIVE"));
            {
                let st = lock(rt);
                let mut d = st.borrow_mut();
                d.in_tx = true;
                d.read_in_tx = false;
            }
            if immediate {
                acquire(rt)?;
            }
        }
        Kind::End => {
            let now = rt.now_seconds();
            let st = lock(rt);
            let mut d = st.borrow_mut();
            let l = &mut *d;
            if let Some(since) = l.held_since.take() {
                l.holds.push((since, now));
            }
            l.in_tx = false;
            l.read_in_tx = false;
        }
        Kind::Read => {
            let st = lock(rt);
            let mut d = st.borrow_mut();
            if d.in_tx {
                d.read_in_tx = true;
            }
        }
        Kind::Write => acquire(rt)?,
        Kind::Other => {}
    }
    Ok(())
}

fn locked() -> SandboxError {
    exc("OperationalError", "database is locked")
}

/// Takes the write lock at the clock's time, waiting for the overlapped request's hold.
fn acquire(rt: &Rt) -> SResult<()> {
    loop {
        let now = rt.now_seconds();
        let (blocker, in_tx, read_in_tx, timeout, worker) = {
            let st = lock(rt);
            let d = st.borrow();
            let l = &*d;
            if l.held_since.is_some() {
                return Ok(());
            }
            let blocker = l.other_holds.iter().find(|(a, b)| *a <= now && now < *b).copied();
            (blocker, l.in_tx, l.read_in_tx, l.timeout_s, l.other_worker)
        };
        let Some((_, until)) = blocker else {
            let st = lock(rt);
            let mut d = st.borrow_mut();
            let l = &mut *d;
            l.writes.push(now);
            if in_tx {
                l.held_since = Some(now);
            } else {
                l.holds.push((now, now));
            }
            return Ok(());
        };
        if in_tx && read_in_tx {
            lock(rt).borrow_mut().note = Some(format!(
                "Worker {worker}'s transaction held the write lock until {}. This transaction had already read when it asked for the lock, and waiting could deadlock, so SQLite failed it at once; `BEGIN IMMEDIATE` (\"transaction_mode\": \"IMMEDIATE\") takes the lock before the first read.",
                time_text(until)
            ));
            return Err(locked());
        }
        let wait = until - now;
        let waited_before = lock(rt).borrow().waited_s;
        if waited_before + wait > timeout {
            let rest = (timeout - waited_before).max(0.0);
            rt.advance_clock(rest)?;
            let st = lock(rt);
            let mut d = st.borrow_mut();
            d.waited_s += rest;
            d.note = Some(format!(
                "Worker {worker}'s transaction held the write lock until {}. This request gave up after the {} s timeout (OPTIONS[\"timeout\"]).",
                time_text(until),
                short(timeout)
            ));
            return Err(locked());
        }
        rt.advance_clock(wait)?;
        let st = lock(rt);
        let mut d = st.borrow_mut();
        d.waited_s += wait;
        d.note = Some(format!("Worker {worker}'s transaction held the write lock until {}; this request waited for it.", time_text(until)));
    }
}

/// Reads `DATABASES["default"]["OPTIONS"]` of a project's `settings.py` namespace:
/// `timeout` and `transaction_mode`, checked as Django checks them.
pub fn configure(rt: &Rt, databases: Option<crate::value::Val>) -> SResult<()> {
    use crate::value::Val;
    let mut timeout = DEFAULT_TIMEOUT_S;
    let mut mode = None;
    if let Some(dbs) = databases {
        let options = dbs.getitem(rt, &Val::str("default")).and_then(|d| d.getitem(rt, &Val::str("OPTIONS"))).ok();
        if let Some(opts) = options {
            if let Ok(t) = opts.getitem(rt, &Val::str("timeout")) {
                timeout = match t {
                    Val::Int(i) if i >= 0 => i as f64,
                    Val::Float(f) if f >= 0.0 && f.is_finite() => f,
                    other => return Err(exc("TypeError", format!("settings.DATABASES['default']['OPTIONS']['timeout'] must be a number of seconds, not {}", other.repr(rt)?))),
                };
            }
            if let Ok(m) = opts.getitem(rt, &Val::str("transaction_mode")) {
                match m {
                    Val::None => {}
                    Val::Str(s) if ["DEFERRED", "EXCLUSIVE", "IMMEDIATE"].contains(&s.to_uppercase().as_str()) => mode = Some(s.to_uppercase()),
                    other => {
                        return Err(exc(
                            "ImproperlyConfigured",
                            format!("settings.DATABASES['default']['OPTIONS']['transaction_mode'] is improperly configured to '{}'. Use one of 'DEFERRED', 'EXCLUSIVE', 'IMMEDIATE', or None.", other.to_str(rt)?),
                        ))
                    }
                }
            }
        }
    }
    let st = lock(rt);
    let mut d = st.borrow_mut();
    d.timeout_s = timeout;
    d.transaction_mode = mode;
    Ok(())
}

/// The `BEGIN` Django sends for the configured mode.
pub fn begin_sql(rt: &Rt) -> String {
    match &lock(rt).borrow().transaction_mode {
        Some(m) => format!("BEGIN {m}"),
        None => "BEGIN".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_classified_by_their_first_words() {
        assert_eq!(classify("BEGIN"), Kind::Begin { immediate: false });
        assert_eq!(classify("BEGIN IMMEDIATE"), Kind::Begin { immediate: true });
        assert_eq!(classify("begin exclusive transaction"), Kind::Begin { immediate: true });
        assert_eq!(classify("COMMIT"), Kind::End);
        assert_eq!(classify("ROLLBACK"), Kind::End);
        assert_eq!(classify("ROLLBACK TO SAVEPOINT \"s1_x1\""), Kind::Other);
        assert_eq!(classify("SAVEPOINT \"s1_x1\""), Kind::Other);
        assert_eq!(classify("  SELECT 1"), Kind::Read);
        assert_eq!(classify("UPDATE \"a\" SET x = 1"), Kind::Write);
        assert_eq!(classify("INSERT INTO t VALUES (1)"), Kind::Write);
    }
}
