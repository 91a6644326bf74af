//! The per-line profile of a run: for every line of the project's Python that ran and every
//! template line whose tags ran, its hits, total and self time, the queries it sent (itself
//! and with what it called), the rows the engine read for them and the Python steps.
//!
//! It is armed for the first run of a step only ([`Rt::profile_begin`] /
//! [`Rt::profile_take`]): the runs that time a page for its median run without it, so the
//! profile's cost never shows in the lab's big number. The hooks are
//! [`Rt::prof_enter`]/[`Rt::prof_leave`] around each Python statement (`py::interp::exec_stmt`)
//! and each template tag's own work (`template::render::Renderer::with_origin`), and
//! [`Rt::prof_query`] for each query the runtime records. A QuerySet remembers the line that
//! built it (`orm::model::QuerySetObj::built`), so the queries a lazy QuerySet sends from the
//! template are also shown on the view's line that built it (`lazy_queries`).

use std::collections::HashMap;

use protocol::LineProfile;

use crate::clock;
use crate::runtime::Rt;

/// Which line of which source: the source's address (an `Rc` the project keeps alive for the
/// whole step) and the 1-based line.
pub type LineKey = (usize, u32);

#[derive(Default)]
pub struct Profiler {
    lines: Vec<LineProfile>,
    index: HashMap<LineKey, usize>,
    /// How many frames of each line are open (a recursive line adds its total once).
    active: Vec<u32>,
    stack: Vec<Open>,
    /// Queries recorded since the profile began.
    sent: usize,
    /// The line that built the QuerySet being evaluated, while it runs.
    pub(crate) built: Option<usize>,
}

struct Open {
    line: usize,
    start_ms: f64,
    child_ms: f64,
    sent0: usize,
    child_sent: usize,
    steps0: u64,
}

impl Profiler {
    fn slot(&mut self, key: LineKey, describe: impl FnOnce() -> (String, String)) -> usize {
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let (file, code) = describe();
        self.lines.push(LineProfile { file, line: key.1, code, ..Default::default() });
        self.active.push(0);
        self.index.insert(key, self.lines.len() - 1);
        self.lines.len() - 1
    }
}

/// The text of 1-based line `line` of `text`, trimmed (at most 160 characters).
pub fn line_text(text: &str, line: u32) -> String {
    let l = text.split('\n').nth(line.saturating_sub(1) as usize).unwrap_or("").trim();
    l.chars().take(160).collect()
}

impl Rt {
    /// Arms the profiler for the run about to start.
    pub fn profile_begin(&self) {
        *self.prof.borrow_mut() = Profiler::default();
        self.profiling.set(true);
    }

    /// Disarms it and returns the lines that ran, in the order they first ran.
    pub fn profile_take(&self) -> Vec<LineProfile> {
        self.profiling.set(false);
        std::mem::take(&mut *self.prof.borrow_mut()).lines
    }

    pub fn profiling(&self) -> bool {
        self.profiling.get()
    }

    /// Opens a frame for line `key` (a statement, a template tag); `describe` gives the file's
    /// name and the line's text the first time the line runs. False when no profile is armed
    /// (then do not call [`Rt::prof_leave`]).
    pub fn prof_enter(&self, key: LineKey, describe: impl FnOnce() -> (String, String)) -> bool {
        if !self.profiling.get() {
            return false;
        }
        let steps0 = self.steps_so_far();
        let mut p = self.prof.borrow_mut();
        let line = p.slot(key, describe);
        p.active[line] += 1;
        let sent0 = p.sent;
        p.stack.push(Open { line, start_ms: clock::monotonic_ms(), child_ms: 0.0, sent0, child_sent: 0, steps0 });
        true
    }

    /// Closes the frame [`Rt::prof_enter`] opened.
    pub fn prof_leave(&self) {
        let now = clock::monotonic_ms();
        let steps = self.steps_so_far();
        let mut p = self.prof.borrow_mut();
        let Some(o) = p.stack.pop() else { return };
        let (total, sent) = (now - o.start_ms, p.sent - o.sent0);
        p.active[o.line] -= 1;
        let outermost = p.active[o.line] == 0;
        let l = &mut p.lines[o.line];
        l.hits += 1;
        l.self_ms += (total - o.child_ms).max(0.0);
        l.self_queries += sent - o.child_sent;
        if outermost {
            l.total_ms += total;
            l.queries += sent;
            l.steps += steps.saturating_sub(o.steps0);
        }
        if let Some(parent) = p.stack.last_mut() {
            parent.child_ms += total;
            parent.child_sent += sent;
        }
    }

    /// Counts a recorded query for the open line (and the line that built its QuerySet).
    pub(crate) fn prof_query(&self, rows_read: u64) {
        if !self.profiling.get() {
            return;
        }
        let mut p = self.prof.borrow_mut();
        p.sent += 1;
        let open = p.stack.last().map(|o| o.line);
        if let Some(i) = open {
            p.lines[i].rows_read += rows_read;
        }
        if let Some(b) = p.built {
            // Only when sent elsewhere: a QuerySet evaluated on the line that built it is that
            // line's own query.
            if p.active[b] == 0 {
                p.lines[b].lazy_queries += 1;
            }
        }
    }

    /// The profile's line for `key` if it has run (what a QuerySet built there remembers).
    pub fn prof_line_of(&self, key: LineKey) -> Option<usize> {
        self.prof.borrow().index.get(&key).copied()
    }

    /// Runs `f` (a QuerySet's evaluation) with `built` as the line that built the QuerySet.
    pub fn prof_built<T>(&self, built: Option<usize>, f: impl FnOnce() -> T) -> T {
        if !self.profiling.get() || built.is_none() {
            return f();
        }
        let prev = std::mem::replace(&mut self.prof.borrow_mut().built, built);
        let out = f();
        self.prof.borrow_mut().built = prev;
        out
    }
}
