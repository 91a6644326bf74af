//! Exercise checks that judge behaviour, never text: the learner's version and the lesson's
//! reference solution run the same way, and the learner's passes when it makes no error, stays
//! within the query budget and shows the same page. The check runs twice: on the data the
//! learner sees, and on a hidden copy seeded differently and sized differently, so an answer
//! fitted to the visible rows (hard-coded ids, a sliced list that happens to match) fails.

use protocol::{CheckReport, CheckRun, CheckSpec, ProjectSpec, RenderReport, Request, Response, Step, StepReport};

use crate::lab::Lab;

/// Articles in the hidden copy (another size gives other rows: the generator is seeded by it).
const HIDDEN_ARTICLES: u32 = 137;
const HIDDEN_ARTICLES_ALT: u32 = 163;

pub fn check(lab: &mut Lab, spec: &CheckSpec) -> CheckReport {
    let (articles, tasks) = lab.size();
    let visible = judge(lab, spec, format!("the data you see ({articles} articles)"));
    let hidden_articles = if articles == HIDDEN_ARTICLES { HIDDEN_ARTICLES_ALT } else { HIDDEN_ARTICLES };
    let mut hidden_lab = Lab::new();
    let mut seeded = None;
    // A tasks-sized database keeps its size class (the indexes lab), with other rows.
    let hidden_tasks = tasks.map(|t| t.saturating_sub(t / 7).max(50));
    hidden_lab.handle(Request::Seed { id: 0, articles: hidden_articles, tasks: hidden_tasks }, &mut |r| {
        if !matches!(r, Response::Progress { .. }) {
            seeded = Some(r)
        }
    });
    let hidden = match seeded {
        Some(Response::Seeded { .. }) => judge(&mut hidden_lab, spec, format!("a hidden copy of the data ({hidden_articles} articles, other rows)")),
        other => CheckRun { data: "a hidden copy of the data".into(), message: format!("the hidden copy could not be created: {other:?}"), ..Default::default() },
    };
    let mut runs = vec![visible, hidden];
    if let CheckSpec::Project { project, tests_against: Some(start), .. } = spec {
        runs.push(judge_tests(lab, project, start));
    }
    CheckReport { passed: runs.iter().all(|r| r.passed), runs }
}

/// A test worth having fails on the bug and passes on the fix.
fn judge_tests(lab: &mut Lab, mine: &ProjectSpec, start: &ProjectSpec) -> CheckRun {
    let data = "your tests.py".to_string();
    let fail = |message: String| CheckRun { data: data.clone(), message, ..Default::default() };
    let on_mine = match run_tests(lab, mine) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    if on_mine.is_empty() {
        return fail("tests.py has no tests".into());
    }
    if let Some(t) = on_mine.iter().find(|t| t.outcome == "fail" || t.outcome == "error") {
        return fail(format!("`{}` fails on your view: {}", t.name, t.message));
    }
    let on_start = match run_tests(lab, start) {
        Ok(t) => t,
        Err(e) => return fail(format!("against the starting view: {e}")),
    };
    match on_start.iter().find(|t| t.outcome == "fail") {
        Some(t) => CheckRun {
            data,
            passed: true,
            message: format!("{} tests pass on your view, and `{}` fails on the starting one: it catches the problem", on_mine.len(), t.name),
            ..Default::default()
        },
        None => fail("every test also passes against the starting view, so none of them would catch the problem coming back: add one that counts queries (`assertNumQueries`)".into()),
    }
}

/// Loads a project into `lab`, or says why it does not load.
fn load(lab: &mut Lab, project: &ProjectSpec) -> Result<(), String> {
    let mut got = None;
    lab.handle(Request::Project { id: 0, project: project.clone() }, &mut |r| got = Some(r));
    match got {
        Some(Response::ProjectLoaded { .. }) => Ok(()),
        Some(Response::Error { error, .. }) => Err(format!("the project does not load: {}: {}", error.kind, error.message)),
        other => Err(format!("the project does not load ({other:?})")),
    }
}

fn run_tests(lab: &mut Lab, project: &ProjectSpec) -> Result<Vec<protocol::TestInfo>, String> {
    load(lab, project)?;
    let mut got = None;
    lab.handle(Request::Step { id: 0, step: Step::Test { file: "tests.py".into() } }, &mut |r| got = Some(r));
    match got {
        Some(Response::StepResult { report, .. }) => match report.error {
            Some(e) => Err(format!("tests.py does not run: {}: {}", e.kind, e.message)),
            None => Ok(report.tests),
        },
        Some(Response::Error { error, .. }) => Err(format!("tests.py does not run: {}: {}", error.kind, error.message)),
        other => Err(format!("no test result ({other:?})")),
    }
}

/// What one side produced: the judged page, or why there is none.
struct Outcome {
    report: RenderReport,
    status: Option<u16>,
    /// Seconds the judged request waited for the write lock, and what held it.
    waited: Option<(f64, Option<String>)>,
}

fn judge(lab: &mut Lab, spec: &CheckSpec, data: String) -> CheckRun {
    let (mine, theirs, budget) = match spec {
        CheckSpec::Expression { context, template, reference_context, reference_template, budget } => {
            (render(lab, context, template), render(lab, reference_context, reference_template), *budget)
        }
        CheckSpec::Project { project, reference, steps, budget, .. } => (run_project(lab, project, steps), run_project(lab, reference, steps), *budget),
    };
    let (max, max_rows) = (budget.max_queries, budget.max_rows);
    let rows_read: u64 = mine.as_ref().map(|m| m.report.queries.iter().map(|q| q.rows_read).sum()).unwrap_or(0);
    let theirs = match theirs {
        Ok(t) => t,
        // The lesson's own solution failing is a lesson bug, said as such.
        Err(e) => return CheckRun { data, message: format!("the lesson's reference solution fails here ({e}); please report it"), ..Default::default() },
    };
    let mine = match mine {
        Ok(m) => m,
        Err(e) => return CheckRun { data, reference_queries: theirs.report.n_queries, message: e, ..Default::default() },
    };
    let n = mine.report.n_queries;
    let mut run = CheckRun { data, queries: n, reference_queries: theirs.report.n_queries, ..Default::default() };
    if n > max {
        let mut message = format!("{n} queries, the goal is at most {max}");
        if let Some(advice) = mine.report.groups.iter().find_map(|g| g.n_plus_one.clone()) {
            message += &format!("; {advice}");
        } else if let Some(g) = mine.report.groups.iter().max_by_key(|g| g.count) {
            message += &format!("; {} similar queries: {}", g.count, short(&g.sql, 100));
        }
        run.message = message;
    } else if let Some((rows, max_rows)) = max_rows.map(|m| (mine.report.queries.iter().map(|q| q.rows).sum::<usize>(), m)).filter(|(r, m)| r > m) {
        let mut message = format!("{rows} rows fetched, the goal is at most {max_rows}");
        if let Some(q) = mine.report.queries.iter().max_by_key(|q| q.rows) {
            message += &format!("; `{}` fetched {}", short(&q.sql, 90), q.rows);
        }
        run.message = message;
    } else if let Some(m) = budget.max_rows_read.filter(|m| rows_read > *m) {
        let mut message = format!("the database read {rows_read} rows, the goal is at most {m}");
        if let Some(q) = mine.report.queries.iter().max_by_key(|q| q.rows_read) {
            message += &format!("; `{}` read {}{}", short(&q.sql, 90), q.rows_read, if q.fullscan_steps > 0 { " (a full scan)" } else { "" });
        }
        run.message = message;
    } else if let Some((m, (waited, note))) = budget.max_wait_s.zip(mine.waited.clone()).filter(|(m, (w, _))| w > m) {
        run.message = format!("the request waited {} s for the database's write lock, the goal is at most {} s", protocol::short_seconds(waited), protocol::short_seconds(m));
        if let Some(note) = note {
            run.message += &format!(". {note}");
        }
    } else if mine.status != theirs.status {
        run.message = format!(
            "the response status is {}, the reference solution's is {}",
            mine.status.map_or("none".into(), |s| s.to_string()),
            theirs.status.map_or("none".into(), |s| s.to_string())
        );
    } else if !same_page(&mine.report.output, &theirs.report.output) {
        run.message = format!("{n} queries, but the page differs from the reference solution's: {}", first_difference(&mine.report.output, &theirs.report.output));
    } else {
        run.passed = true;
        let rows: usize = mine.report.queries.iter().map(|q| q.rows).sum();
        let mut measured = vec![format!("{n} queries (at most {max})")];
        if let Some(m) = max_rows {
            measured.push(format!("{rows} rows fetched (at most {m})"));
        }
        if let Some(m) = budget.max_rows_read {
            measured.push(format!("{rows_read} rows read (at most {m})"));
        }
        if let Some(m) = budget.max_wait_s {
            let w = mine.waited.as_ref().map_or(0.0, |(w, _)| *w);
            measured.push(format!("{} s waiting for the write lock (at most {})", protocol::short_seconds(w), protocol::short_seconds(m)));
        }
        run.message = format!("{}, the same page as the reference solution", measured.join(", "));
    }
    run
}

fn render(lab: &mut Lab, context: &[(String, String)], template: &str) -> Result<Outcome, String> {
    let mut got = None;
    lab.handle(Request::Run { id: 0, context: context.to_vec(), template: template.into(), renders: 1, clear_cache: true }, &mut |r| got = Some(r));
    match got {
        Some(Response::Result { mut renders, .. }) if !renders.is_empty() => Ok(Outcome { report: renders.remove(0), status: None, waited: None }),
        Some(Response::Error { error, .. }) => Err(format!("{}: {}", error.kind, error.message)),
        other => Err(format!("no result ({other:?})")),
    }
}

/// Loads the project and runs the steps; the last request is the judged page.
fn run_project(lab: &mut Lab, project: &ProjectSpec, steps: &[Step]) -> Result<Outcome, String> {
    load(lab, project)?;
    let mut last: Option<StepReport> = None;
    for step in steps {
        let mut got = None;
        lab.handle(Request::Step { id: 0, step: step.clone() }, &mut |r| got = Some(r));
        let report = match got {
            Some(Response::StepResult { report, .. }) => report,
            Some(Response::Error { error, .. }) => return Err(format!("{}: {}", error.kind, error.message)),
            other => return Err(format!("no result ({other:?})")),
        };
        if let Some(e) = &report.error {
            return Err(format!("{} fails: {}: {}", report.label, e.kind, e.message));
        }
        if matches!(step, Step::Get { .. }) {
            last = Some(report);
        }
    }
    let last = last.ok_or("the check sends no request")?;
    let waited = last.span.as_ref().map(|s| (s.waited_s, s.note.clone()));
    Ok(Outcome { status: last.status, report: last.render, waited })
}

/// Two pages are the same when their text is, white space aside: a browser shows `<li>a</li>`
/// and `\n  <li>a</li>` alike, and a template tag on a line of its own must not fail a check.
fn same_page(mine: &str, theirs: &str) -> bool {
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

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}
