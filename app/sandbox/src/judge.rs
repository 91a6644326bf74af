//! The one judge. Everything that says whether a lab meets its goal calls it: the goal line of
//! a request (the step reports the page shows), "Check my solution", the curriculum
//! self-check and the tests.
//!
//! A check judges behaviour, never text: the learner's project and the lesson's reference
//! solution each run the goal's steps on fresh data in a session of their own, and the
//! learner's passes when it makes no error, stays within the budget, sends only what the goal
//! allows, shows the same page and leaves the same observable effects. It runs on a fresh copy
//! of the data the learner sees and on a hidden copy seeded differently and sized differently,
//! so an answer fitted to the visible rows (hard-coded ids, a sliced list that happens to match)
//! fails. The learner's own session is never touched.

use protocol::lesson::{Attempt, Goal, Lab as LabSpec, ProjectLab};
use protocol::{CheckReport, CheckRun, GoalLine, ProjectSpec, Step, StepKind, StepReport, TestOutcome};

use crate::images::Images;
use crate::session::{Session, Size};

/// Articles in the hidden copy (another size gives other rows: the generator is seeded by it).
const HIDDEN_ARTICLES: u32 = 137;
const HIDDEN_ARTICLES_ALT: u32 = 163;

/// Tasks in the hidden copy of a lab sized in tasks, at the least: a goal that says "whatever the
/// size of the table" is judged on a table where a full scan shows.
const HIDDEN_TASKS_AT_LEAST: u32 = 5_000;

/// The size of the hidden copy for a visible size: other articles; a lab sized in tasks (the
/// indexes lab) gets other rows and a table large enough to tell a scan from an index.
pub fn hidden_size(lab: &ProjectLab, (articles, tasks): Size) -> Size {
    let hidden_articles = if articles == HIDDEN_ARTICLES { HIDDEN_ARTICLES_ALT } else { HIDDEN_ARTICLES };
    let tasks = match tasks {
        Some(t) => Some(t.saturating_sub(t / 7).max(50)),
        None if !lab.task_sizes.is_empty() => Some(HIDDEN_TASKS_AT_LEAST + HIDDEN_TASKS_AT_LEAST / 7),
        None => None,
    };
    (hidden_articles, tasks)
}

/// "200 articles", "100,000 tasks".
pub fn size_words((articles, tasks): Size) -> String {
    match tasks {
        Some(t) => protocol::count(t as usize, "task", "tasks"),
        None => protocol::count(articles as usize, "article", "articles"),
    }
}

/// What a goal's budget says of one request: the measured figures within the budget, or the
/// first one over it, with the query or group behind it.
pub fn budget(goal: &Goal, report: &StepReport) -> Result<String, String> {
    let r = &report.render;
    let n = r.n_queries;
    let max = goal.max_queries;
    if n > max {
        let mut message = format!("{}, the goal is at most {max}", protocol::count(n, "query", "queries"));
        if let Some(advice) = r.groups.iter().find_map(|g| g.n_plus_one.clone()) {
            message += &format!("; {advice}");
        } else if let Some(g) = r.groups.iter().max_by_key(|g| g.count) {
            message += &format!("; {} similar queries: {}", g.count, short(&g.sql, 100));
        }
        return Err(message);
    }
    let rows: usize = r.queries.iter().map(|q| q.rows).sum();
    if let Some(m) = goal.max_rows.filter(|m| rows > *m) {
        let mut message = format!("{} fetched, the goal is at most {m}", protocol::count(rows, "row", "rows"));
        if let Some(q) = r.queries.iter().max_by_key(|q| q.rows) {
            message += &format!("; `{}` fetched {}", short(&q.sql, 90), q.rows);
        }
        return Err(message);
    }
    let rows_read: u64 = r.queries.iter().map(|q| q.rows_read).sum();
    if let Some(m) = goal.max_rows_read.filter(|m| rows_read > *m) {
        let mut message = format!("the database read {} rows, the goal is at most {m}", protocol::group_digits(rows_read));
        if let Some(q) = r.queries.iter().max_by_key(|q| q.rows_read) {
            message += &format!("; `{}` read {}{}", short(&q.sql, 90), protocol::group_digits(q.rows_read), if q.fullscan_steps > 0 { " (a full scan)" } else { "" });
        }
        return Err(message);
    }
    let waited = report.span.as_ref().map_or(0.0, |s| s.waited_s);
    if let Some(m) = goal.max_wait_s.filter(|m| waited > *m) {
        let mut message = format!("the request waited {} s for the database's write lock, the goal is at most {} s", protocol::short_seconds(waited), protocol::short_seconds(m));
        if let Some(note) = report.span.as_ref().and_then(|s| s.note.clone()) {
            message += &format!(". {note}");
        }
        return Err(message);
    }
    let mut measured = vec![format!("{} (at most {max})", protocol::count(n, "query", "queries"))];
    if let Some(m) = goal.max_rows {
        measured.push(format!("{} fetched (at most {m})", protocol::count(rows, "row", "rows")));
    }
    if let Some(m) = goal.max_rows_read {
        measured.push(format!("{} rows read (at most {m})", protocol::group_digits(rows_read)));
    }
    if let Some(m) = goal.max_wait_s {
        measured.push(format!("{} s waiting for the write lock (at most {})", protocol::short_seconds(waited), protocol::short_seconds(m)));
    }
    Ok(measured.join(", "))
}

/// The goal lines of a request: for each exercise whose goal is this one request, whether the
/// request meets the goal's budget. (The check also compares the page with the reference.)
pub fn goal_lines(lab: &LabSpec, step: &Step, report: &StepReport) -> Vec<GoalLine> {
    let Some(p) = &lab.project else { return vec![] };
    if report.kind != StepKind::Get || report.error.is_some() {
        return vec![];
    }
    p.exercises
        .iter()
        .enumerate()
        .filter(|(_, ex)| ex.goal.single_request().is_some_and(|s| same_request(s, step)))
        .map(|(k, ex)| match budget(&ex.goal, report) {
            Ok(m) => GoalLine { exercise: k, met: true, message: m },
            Err(m) => GoalLine { exercise: k, met: false, message: m },
        })
        .collect()
}

fn same_request(a: &Step, b: &Step) -> bool {
    match (a, b) {
        (Step::Get { url: u1, user: a1, worker: w1, .. }, Step::Get { url: u2, user: a2, worker: w2, .. }) => {
            u1 == u2 && a1 == a2 && w1.unwrap_or(1) == w2.unwrap_or(1)
        }
        _ => false,
    }
}

/// What one side produced for the goal's steps.
pub struct Judged {
    /// The judged request: the last GET.
    pub report: StepReport,
    /// The output of each of the goal's `observe` lines, run after the steps.
    pub observed: Vec<String>,
}

/// Loads the project on `session` and runs the goal's steps, then its observations.
pub fn run_goal(session: &mut Session, spec: ProjectSpec, goal: &Goal) -> Result<Judged, String> {
    session.load(spec).map_err(|e| format!("the project does not load: {}: {}", e.python_name(), e.message))?;
    let mut last = None;
    for step in &goal.steps {
        let report = session.step(step.clone()).map_err(|e| format!("{}: {}", e.python_name(), e.message))?;
        if let Some(e) = &report.error {
            return Err(format!("{} fails: {}: {}", report.label, e.kind, e.message));
        }
        if report.kind == StepKind::Get {
            if let Some(name) = &goal.duration_header {
                duration_covers(name, &report)?;
            }
            last = Some(report);
        }
    }
    let report = last.ok_or("the check sends no request")?;
    let mut observed = Vec::new();
    for line in &goal.observe {
        let r = session.step(Step::Run { code: line.clone(), worker: None }).map_err(|e| format!("{}: {}", e.python_name(), e.message))?;
        observed.push(match r.error {
            Some(e) => format!("{}: {}", e.kind, e.message),
            None => format!("{}{}", r.stdout, r.render.output),
        });
    }
    Ok(Judged { report, observed })
}

/// Rounding a duration to two decimals, or the clock's steps, is not a wrong number.
const DURATION_SLACK_MS: f64 = 0.05;

/// What a timing middleware's header says of one response (see [`duration_verdict`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duration {
    /// A number of milliseconds between the view's time and the request's.
    Covers,
    Absent,
    NotANumber,
    /// Less than the view took: the clock read after the view, or seconds for milliseconds.
    TooSmall,
    /// More than the whole request took: not measured on this request (a cached copy).
    TooLarge,
}

impl Duration {
    /// The word a lesson's claim uses: `covers`, `absent`, `not a number`, `too small`, `too large`.
    pub fn word(self) -> &'static str {
        match self {
            Duration::Covers => "covers",
            Duration::Absent => "absent",
            Duration::NotANumber => "not a number",
            Duration::TooSmall => "too small",
            Duration::TooLarge => "too large",
        }
    }
}

/// A timing middleware's header on one response: there, a number of milliseconds, covering
/// the view (and the template it rendered) and no more than the whole request. A number
/// larger than the request is one the request did not measure: a copy the page cache stored
/// with an earlier response. The verdict, and what it means in words.
pub fn duration_verdict(name: &str, report: &StepReport) -> (Duration, String) {
    let req = format!("`{}` ({})", report.label, report.status.map_or("no status".into(), |s| s.to_string()));
    let Some((_, value)) = report.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) else {
        return (
            Duration::Absent,
            format!("the response to {req} has no {name} header: every response must carry it, a 404 and a page from the cache too (is the middleware in settings.MIDDLEWARE, and does it add the header whatever the view did?)"),
        );
    };
    let Ok(ms) = value.trim().parse::<f64>() else {
        return (Duration::NotANumber, format!("{name} on {req} is `{}`: it should be a number of milliseconds, such as `12.34`", short(value, 40)));
    };
    let Some(run) = report.first_run else { return (Duration::Covers, String::new()) };
    let view = run.view_ms.unwrap_or(0.0);
    if ms + DURATION_SLACK_MS < view {
        return (
            Duration::TooSmall,
            format!("{name} on {req} says {ms:.2} ms, but the view and its template alone took {view:.2} ms: the number leaves out the view (read the clock before calling get_response and after it returns, and count milliseconds, not seconds)"),
        );
    }
    if ms > run.request_ms + DURATION_SLACK_MS {
        return (
            Duration::TooLarge,
            format!(
                "{name} on {req} says {ms:.2} ms, but the whole request took {:.2} ms: the number was not measured on this request. A page from the cache carries the header stored with the first response when the middleware sits inside the cache middleware (a cached page never reaches it); put it first in MIDDLEWARE",
                run.request_ms
            ),
        );
    }
    (Duration::Covers, format!("{name} on {req}: {ms:.2} ms, between the view's {view:.2} ms and the request's {:.2} ms", run.request_ms))
}

/// [`duration_verdict`] as the check needs it: the message when the header is wrong.
pub fn duration_covers(name: &str, report: &StepReport) -> Result<(), String> {
    match duration_verdict(name, report) {
        (Duration::Covers, _) => Ok(()),
        (_, message) => Err(message),
    }
}

/// The learner's side against the reference's, on one data set.
pub fn verdict(goal: &Goal, data: String, mine: Result<Judged, String>, theirs: Result<Judged, String>) -> CheckRun {
    let theirs = match theirs {
        Ok(t) => t,
        // The lesson's own solution failing is a lesson bug, said as such.
        Err(e) => return CheckRun { data, message: format!("the lesson's reference solution fails here ({e}); please report it"), ..Default::default() },
    };
    let mine = match mine {
        Ok(m) => m,
        Err(e) => return CheckRun { data, reference_queries: theirs.report.render.n_queries, message: e, ..Default::default() },
    };
    let n = mine.report.render.n_queries;
    let mut run = CheckRun { data, queries: n, reference_queries: theirs.report.render.n_queries, ..Default::default() };
    let measured = match budget(goal, &mine.report) {
        Ok(m) => m,
        Err(m) => {
            run.message = m;
            return run;
        }
    };
    if goal.same_queries {
        // The same statements as the reference, no more and no fewer: "only the articles
        // query" is neither the aggregate instead nor no query at all (a cached page).
        let has = |report: &StepReport, q: &protocol::QueryInfo| {
            report.render.queries.iter().any(|x| x.sql == q.sql) || report.render.groups.iter().any(|g| same_shape(&g.sql, &q.sql))
        };
        if let Some(q) = mine.report.render.queries.iter().find(|q| !has(&theirs.report, q)) {
            run.message = format!(
                "{}, but the judged request still sends `{}`{}, which the reference solution does not send",
                protocol::count(n, "query", "queries"),
                short(&q.sql, 90),
                q.origin.as_ref().map(|o| format!(" (from {o})")).unwrap_or_default()
            );
            return run;
        }
        if let Some(q) = theirs.report.render.queries.iter().find(|q| !has(&mine.report, q)) {
            run.message = format!(
                "{}, but the judged request no longer sends `{}`, which the reference solution sends: that part of the page must stay live",
                protocol::count(n, "query", "queries"),
                short(&q.sql, 90)
            );
            return run;
        }
    }
    if mine.report.status != theirs.report.status {
        let show = |s: Option<u16>| s.map_or("none".into(), |s| s.to_string());
        run.message = format!("the response status is {}, the reference solution's is {}", show(mine.report.status), show(theirs.report.status));
        return run;
    }
    if !same_page(&mine.report.render.output, &theirs.report.render.output) {
        run.message = format!(
            "{}, but the page differs from the reference solution's: {}",
            protocol::count(n, "query", "queries"),
            first_difference(&mine.report.render.output, &theirs.report.render.output)
        );
        return run;
    }
    for ((line, m), t) in goal.observe.iter().zip(&mine.observed).zip(&theirs.observed) {
        if m.trim() != t.trim() {
            run.message = format!("after the requests, `{line}` gives `{}` where the reference solution gives `{}`", short(m.trim(), 80), short(t.trim(), 80));
            return run;
        }
    }
    run.passed = true;
    run.message = format!("{measured}, the same page as the reference solution");
    if !goal.observe.is_empty() {
        run.message += ", and the same effects";
    }
    run
}

/// A group's SQL (placeholders `?`) and a logged statement (parameters inlined) of one shape.
fn same_shape(raw: &str, sql: &str) -> bool {
    let mut pieces = raw.split('?');
    let Some(first) = pieces.next() else { return false };
    let Some(mut rest) = sql.strip_prefix(first) else { return false };
    for piece in pieces {
        if piece.is_empty() {
            return true;
        }
        match rest.find(piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Judges exercise `k` of a lab: the learner's attempt against the reference solution, on a
/// fresh copy of the data the learner sees (`size`) and on a hidden one; then, for a goal that
/// asks for a test, the learner's `tests.py`. `progress(done, total)` hears of each run.
pub fn check(images: &mut Images, lab: &ProjectLab, k: usize, attempt: &Attempt, size: Size, progress: &mut dyn FnMut(u32, u32)) -> CheckReport {
    let Some(ex) = lab.exercises.get(k) else {
        return CheckReport { passed: false, runs: vec![CheckRun { data: "your code".into(), message: format!("this lesson has no exercise {}", k + 1), ..Default::default() }] };
    };
    let goal = &ex.goal;
    let mine = lab.spec(attempt);
    let reference = lab.spec(&lab.solution(ex.solution_toggles));
    let total = if goal.tests_catch { 6 } else { 4 };
    let mut done = 0;
    let mut runs = Vec::new();
    for (i, size) in [size, hidden_size(lab, size)].into_iter().enumerate() {
        let data = if i == 0 { format!("the data you see ({})", size_words(size)) } else { format!("a hidden copy of the data ({}, other rows)", size_words(size)) };
        let side = |spec: &ProjectSpec, images: &mut Images| -> Result<Judged, String> {
            let mut session = images.session(size, &mut |_, _| {}).map_err(|e| format!("the data could not be created: {e}"))?;
            run_goal(&mut session, spec.clone(), goal)
        };
        let m = side(&mine, images);
        done += 1;
        progress(done, total);
        let t = side(&reference, images);
        done += 1;
        progress(done, total);
        runs.push(verdict(goal, data, m, t));
    }
    if goal.tests_catch {
        let mut start = lab.start();
        if let Some((_, tests)) = attempt.files.iter().find(|(n, _)| n == "tests.py") {
            for (n, src) in start.files.iter_mut() {
                if n == "tests.py" {
                    *src = tests.clone();
                }
            }
        }
        runs.push(judge_tests(images, size, &mine, &lab.spec(&start)));
        progress(total, total);
    }
    CheckReport { passed: runs.iter().all(|r| r.passed), runs }
}

/// A test worth having fails on the bug and passes on the fix.
fn judge_tests(images: &mut Images, size: Size, mine: &ProjectSpec, start: &ProjectSpec) -> CheckRun {
    let data = "your tests.py".to_string();
    let fail = |message: String| CheckRun { data: data.clone(), message, ..Default::default() };
    let on_mine = match run_tests(images, size, mine) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    if on_mine.is_empty() {
        return fail("tests.py has no tests".into());
    }
    if let Some(t) = on_mine.iter().find(|t| matches!(t.outcome, TestOutcome::Fail | TestOutcome::Error)) {
        return fail(format!("`{}` fails on your view: {}", t.name, t.message));
    }
    let on_start = match run_tests(images, size, start) {
        Ok(t) => t,
        Err(e) => return fail(format!("against the starting view: {e}")),
    };
    match on_start.iter().find(|t| t.outcome == TestOutcome::Fail) {
        Some(t) => CheckRun {
            data,
            passed: true,
            message: format!("{} pass on your view, and `{}` fails on the starting one: it catches the problem", protocol::count(on_mine.len(), "test", "tests"), t.name),
            ..Default::default()
        },
        None => fail("every test also passes against the starting view, so none of them would catch the problem coming back: add one that counts queries (`assertNumQueries`)".into()),
    }
}

fn run_tests(images: &mut Images, size: Size, project: &ProjectSpec) -> Result<Vec<protocol::TestInfo>, String> {
    let mut session = images.session(size, &mut |_, _| {}).map_err(|e| format!("the data could not be created: {e}"))?;
    session.load(project.clone()).map_err(|e| format!("the project does not load: {}: {}", e.python_name(), e.message))?;
    let report = session.step(Step::Test { file: "tests.py".into() }).map_err(|e| format!("{}: {}", e.python_name(), e.message))?;
    match report.error {
        Some(e) => Err(format!("tests.py does not run: {}: {}", e.kind, e.message)),
        None => Ok(report.tests),
    }
}

/// Two pages are the same when their text is, white space aside: a browser shows `<li>a</li>`
/// and `\n  <li>a</li>` alike, and a template tag on a line of its own must not fail a check.
pub fn same_page(mine: &str, theirs: &str) -> bool {
    mine.split_whitespace().eq(theirs.split_whitespace())
}

/// The first line where two pages differ, both sides shown short (blank lines and indentation
/// ignored, as [`same_page`] ignores them; the number is the learner's line).
fn first_difference(mine: &str, theirs: &str) -> String {
    let lines = |s: &str| -> Vec<(usize, String)> {
        s.lines().enumerate().map(|(i, l)| (i + 1, l.split_whitespace().collect::<Vec<_>>().join(" "))).filter(|(_, l)| !l.is_empty()).collect()
    };
    let (a, b) = (lines(mine), lines(theirs));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i), b.get(i));
        if x.map(|l| &l.1) != y.map(|l| &l.1) {
            let show = |l: Option<&(usize, String)>| l.map_or("(nothing)".to_string(), |l| format!("`{}`", short(&l.1, 80)));
            let at = x.or(a.last()).map_or(1, |l| l.0);
            return format!("line {at} is {} where the reference has {}", show(x), show(y));
        }
    }
    "they differ in white space inside a line".into()
}

pub fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_shape_matches_its_statements() {
        assert!(same_shape("SELECT a FROM t WHERE id = ? LIMIT 21", "SELECT a FROM t WHERE id = 5 LIMIT 21"));
        assert!(!same_shape("SELECT a FROM t WHERE id = ? LIMIT 21", "SELECT b FROM t WHERE id = 5 LIMIT 21"));
        assert!(same_shape("SELECT ?", "SELECT 'x'"));
    }
}
