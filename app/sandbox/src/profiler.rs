//! The per-line profile of a run: for every line of the project's Python that ran and every
//! template line whose tags ran, its hits, total and self time, the queries it sent (itself
//! and with what it called), the rows the engine read for them and the Python steps.
//!
//! `Rt` holds one and arms it for the first run of a step only (`Rt::profile_begin` /
//! `Rt::profile_take`): the runs that time a page for its median run without it, so the
//! profile's cost never shows in the lab's big number. The hooks are frames around each
//! Python statement (`py::interp::exec_stmt`), each template tag's own work
//! (`template::render::Renderer::with_origin`) and each middleware layer
//! (`django::handler::convert`), all through `Rt::prof_frame`, and `Rt::prof_query` for each
//! query the runtime records. A QuerySet remembers the line that
//! built it (`orm::model::QuerySetObj::built`), so the queries a lazy QuerySet sends from the
//! template are also shown on the view's line that built it (`lazy_queries`).
//!
//! This file knows nothing of `Rt`: the clock and the step count are handed in.

use std::collections::HashMap;

use protocol::LineProfile;

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
    built: Option<usize>,
}

struct Open {
    line: usize,
    start_ms: f64,
    child_ms: f64,
    sent0: usize,
    child_sent: usize,
    steps0: u64,
}

/// The text of 1-based line `line` of `text`, trimmed (at most 160 characters).
pub fn line_text(text: &str, line: u32) -> String {
    let l = text.split('\n').nth(line.saturating_sub(1) as usize).unwrap_or("").trim();
    l.chars().take(160).collect()
}

impl Profiler {
    fn slot(&mut self, key: LineKey, describe: &dyn Fn() -> (String, String)) -> usize {
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let (file, code) = describe();
        self.lines.push(LineProfile { file, line: key.1, code, ..Default::default() });
        self.active.push(0);
        self.index.insert(key, self.lines.len() - 1);
        self.lines.len() - 1
    }

    /// Opens a frame for line `key` at `now_ms`, `steps` Python steps into the run;
    /// `describe` gives the file's name and the line's text the first time the line runs.
    pub fn enter(&mut self, key: LineKey, describe: &dyn Fn() -> (String, String), now_ms: f64, steps: u64) {
        let line = self.slot(key, describe);
        self.active[line] += 1;
        let sent0 = self.sent;
        self.stack.push(Open { line, start_ms: now_ms, child_ms: 0.0, sent0, child_sent: 0, steps0: steps });
    }

    /// Closes the innermost frame.
    pub fn leave(&mut self, now_ms: f64, steps: u64) {
        let Some(o) = self.stack.pop() else { return };
        let (total, sent) = (now_ms - o.start_ms, self.sent - o.sent0);
        self.active[o.line] -= 1;
        let outermost = self.active[o.line] == 0;
        let l = &mut self.lines[o.line];
        l.hits += 1;
        l.self_ms += (total - o.child_ms).max(0.0);
        l.self_queries += sent - o.child_sent;
        if outermost {
            l.total_ms += total;
            l.queries += sent;
            l.steps += steps.saturating_sub(o.steps0);
        }
        if let Some(parent) = self.stack.last_mut() {
            parent.child_ms += total;
            parent.child_sent += sent;
        }
    }

    /// Counts a recorded query for the open line (and the line that built its QuerySet).
    pub fn query(&mut self, rows_read: u64) {
        self.sent += 1;
        if let Some(i) = self.stack.last().map(|o| o.line) {
            self.lines[i].rows_read += rows_read;
        }
        if let Some(b) = self.built {
            // Only when sent elsewhere: a QuerySet evaluated on the line that built it is that
            // line's own query.
            if self.active[b] == 0 {
                self.lines[b].lazy_queries += 1;
            }
        }
    }

    /// The profile's line for `key` if it has run (what a QuerySet built there remembers).
    pub fn line_of(&self, key: LineKey) -> Option<usize> {
        self.index.get(&key).copied()
    }

    /// Sets the line that built the QuerySet being evaluated; returns the one it replaces.
    pub fn set_built(&mut self, built: Option<usize>) -> Option<usize> {
        std::mem::replace(&mut self.built, built)
    }

    /// The lines that ran, in the order they first ran.
    pub fn into_lines(self) -> Vec<LineProfile> {
        self.lines
    }
}
