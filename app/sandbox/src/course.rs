//! The curriculum checks itself (as rustlings does), with the same judge the page uses:
//!
//! - every **claim** a lesson's prose makes (a count, a badge, a plan word, an error, a header)
//!   is run — its toggles and edits, at its data size, its steps — and each observation it
//!   names must hold; the sentence must still be in `lesson.md`;
//! - every **exercise** fails at its start (a lab's step starts from the previous step's
//!   solution) and passes with its reference solution, on two data sizes;
//! - every listed **wrong answer** fails, with a message that says what is missing.
//!
//! A lesson whose text and behaviour disagree fails the build's tests with the sentence quoted.

use protocol::lesson::{Attempt, Claim, Expect, Lab as LabSpec, ProjectLab, WrongAnswer};
use protocol::{StepKind, StepReport, TestOutcome};

use crate::images::Images;
use crate::judge;
use crate::session::Size;

/// A lesson as the self-check reads it.
pub struct Lesson {
    /// The folder's name, `01-n-plus-one`.
    pub name: String,
    pub lab: LabSpec,
    pub markdown: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub claims: usize,
    /// `lesson: “sentence” — what the lab showed instead`.
    pub contradicted: Vec<String>,
    pub wrong_answers: usize,
    /// Wrong answers the check let through, or refused for another reason than the one named.
    pub wrongly_judged: Vec<String>,
    pub exercises: usize,
    /// Exercises whose start passes or whose solution fails.
    pub broken_exercises: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.contradicted.is_empty() && self.wrongly_judged.is_empty() && self.broken_exercises.is_empty()
    }

    /// `claims: 40 checked, 0 contradicted; wrong answers: 30, all fail; exercises: 18, …`.
    pub fn summary(&self) -> String {
        let wrong = if self.wrongly_judged.is_empty() { "all fail".to_string() } else { format!("{} judged wrongly", self.wrongly_judged.len()) };
        let ex = if self.broken_exercises.is_empty() { "each fails at its start and passes with its solution".to_string() } else { format!("{} broken", self.broken_exercises.len()) };
        format!(
            "claims: {} checked, {} contradicted; wrong answers: {}, {wrong}; exercises: {}, {ex}",
            self.claims,
            self.contradicted.len(),
            self.wrong_answers,
            self.exercises
        )
    }

    /// Every problem, one a line.
    pub fn problems(&self) -> String {
        self.contradicted.iter().chain(&self.wrongly_judged).chain(&self.broken_exercises).cloned().collect::<Vec<_>>().join("\n")
    }
}

/// Checks every lesson; `sizes` are the article counts the exercises are checked at.
pub fn self_check(lessons: &[Lesson], sizes: &[u32]) -> Report {
    let mut images = Images::default();
    let mut report = Report::default();
    for lesson in lessons {
        let Some(p) = &lesson.lab.project else { continue };
        for claim in &p.claims {
            report.claims += 1;
            if let Err(why) = check_claim(&mut images, p, &lesson.markdown, claim) {
                report.contradicted.push(format!("{}: “{}” — {why}", lesson.name, claim.says));
            }
        }
        for (k, ex) in p.exercises.iter().enumerate() {
            report.exercises += 1;
            let at = |size: Size| format!("{} exercise {}{} at {}", lesson.name, k + 1, ex.title.as_ref().map(|t| format!(" ({t})")).unwrap_or_default(), judge::size_words(size));
            let start = exercise_start(p, k);
            let solution = p.solution(ex.solution_toggles);
            for &articles in sizes {
                let size = (articles, None);
                let r = judge::check(&mut images, p, k, &start, size, &mut |_, _| {});
                if r.passed {
                    report.broken_exercises.push(format!("{}: the start passes: {:?}", at(size), r.runs));
                }
                let r = judge::check(&mut images, p, k, &solution, size, &mut |_, _| {});
                if !r.passed {
                    report.broken_exercises.push(format!("{}: the solution fails: {}", at(size), r.runs.iter().filter(|r| !r.passed).map(|r| format!("{}: {}", r.data, r.message)).collect::<Vec<_>>().join("; ")));
                }
            }
            for wrong in &ex.wrong_answers {
                report.wrong_answers += 1;
                let size = (sizes.first().copied().unwrap_or(200), None);
                if let Err(why) = check_wrong_answer(&mut images, p, k, wrong, size) {
                    report.wrongly_judged.push(format!("{} exercise {}: wrong answer “{}” — {why}", lesson.name, k + 1, wrong.did));
                }
            }
        }
    }
    report
}

/// Where a learner starts exercise `k`: the lesson's files, or a lab step's previous solution.
pub fn exercise_start(p: &ProjectLab, k: usize) -> Attempt {
    match k.checked_sub(1).and_then(|j| p.exercises.get(j)) {
        Some(prev) => p.solution(prev.solution_toggles),
        None => p.start(),
    }
}

/// The attempt a wrong answer describes.
pub fn wrong_attempt(p: &ProjectLab, k: usize, wrong: &WrongAnswer) -> Result<Attempt, String> {
    let mut a = if wrong.from_solution { p.solution(p.exercises[k].solution_toggles) } else { exercise_start(p, k) };
    for &i in &wrong.toggles {
        let t = p.toggles.get(i).ok_or_else(|| format!("there is no toggle {i}"))?;
        t.apply(&p.toggles, &mut a, true);
    }
    for e in &wrong.edits {
        e.apply(&mut a.files)?;
    }
    Ok(a)
}

fn check_wrong_answer(images: &mut Images, p: &ProjectLab, k: usize, wrong: &WrongAnswer, size: Size) -> Result<(), String> {
    let attempt = wrong_attempt(p, k, wrong)?;
    let r = judge::check(images, p, k, &attempt, size, &mut |_, _| {});
    if r.passed {
        return Err("the check passes it".into());
    }
    let messages: Vec<&str> = r.runs.iter().filter(|r| !r.passed).map(|r| r.message.as_str()).collect();
    if !messages.iter().any(|m| m.contains(&wrong.fails_with)) {
        return Err(format!("it fails, but no message says “{}”: {}", wrong.fails_with, messages.join(" | ")));
    }
    Ok(())
}

/// Runs a claim and compares what each step showed with what the claim says.
pub fn check_claim(images: &mut Images, p: &ProjectLab, markdown: &str, claim: &Claim) -> Result<(), String> {
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    if !squeeze(markdown).contains(&squeeze(&claim.says)) {
        return Err("lesson.md no longer says this".into());
    }
    let reports = run_claim(images, p, claim)?;
    let mut wrong = Vec::new();
    for e in &claim.expect {
        let k = e.step.unwrap_or(reports.len());
        let Some(r) = k.checked_sub(1).and_then(|i| reports.get(i)) else {
            wrong.push(format!("there is no step {k}"));
            continue;
        };
        wrong.extend(observe(e, r).into_iter().map(|w| format!("step {k} (`{}`): {w}", r.label)));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}

/// The step reports of a claim's steps, on fresh data in a session of its own.
pub fn run_claim(images: &mut Images, p: &ProjectLab, claim: &Claim) -> Result<Vec<StepReport>, String> {
    let mut attempt = p.start();
    for &i in &claim.toggles {
        let t = p.toggles.get(i).ok_or_else(|| format!("there is no toggle {i}"))?;
        t.apply(&p.toggles, &mut attempt, true);
    }
    for e in &claim.edits {
        e.apply(&mut attempt.files)?;
    }
    let steps = protocol::timeline::parse(&claim.steps.join("\n")).map_err(|e| format!("steps, {e}"))?;
    let size = (claim.articles.unwrap_or(200), claim.tasks);
    let mut session = images.session(size, &mut |_, _| {}).map_err(|e| format!("the data could not be created: {e}"))?;
    session.served = 1;
    if let Err(e) = session.load(p.spec(&attempt)) {
        // A claim about a project that does not load (a system check's error) is about the load.
        let error = Some(crate::session::error_info(e));
        return Ok(vec![StepReport { label: "loading the project".into(), error, ..Default::default() }]);
    }
    steps.into_iter().map(|s| session.step(s).map_err(|e| format!("{}: {}", e.python_name(), e.message))).collect()
}

/// What of `e` the report does not show (empty: all of it holds).
pub fn observe(e: &Expect, r: &StepReport) -> Vec<String> {
    let mut wrong = Vec::new();
    let n = r.render.n_queries;
    let mut want = |ok: bool, what: String| {
        if !ok {
            wrong.push(what);
        }
    };
    if let Some(q) = e.queries {
        want(n == q, format!("{} where the text says {q}", protocol::count(n, "query", "queries")));
    }
    if let Some(q) = e.queries_at_most {
        want(n <= q, format!("{} where the text says at most {q}", protocol::count(n, "query", "queries")));
    }
    if let Some(q) = e.queries_at_least {
        want(n >= q, format!("{} where the text says at least {q}", protocol::count(n, "query", "queries")));
    }
    let rows: usize = r.render.queries.iter().map(|q| q.rows).sum();
    if let Some(x) = e.rows {
        want(rows == x, format!("{} fetched where the text says {x}", protocol::count(rows, "row", "rows")));
    }
    let read: u64 = r.render.queries.iter().map(|q| q.rows_read).sum();
    if let Some(x) = e.rows_read_at_most {
        want(read <= x, format!("{read} rows read where the text says at most {x}"));
    }
    if let Some(x) = e.rows_read_at_least {
        want(read >= x, format!("{read} rows read where the text says at least {x}"));
    }
    if let Some(s) = e.status {
        want(r.status == Some(s), format!("status {:?} where the text says {s}", r.status));
    }
    if let Some(c) = &e.cache {
        let got = r.cache.map(|c| c.name()).unwrap_or_else(|| "none".into());
        want(got == *c, format!("the cache badge is `{got}` where the text says `{c}`"));
    }
    let text = shown_text(r);
    for s in &e.shows {
        want(text.contains(s.as_str()), format!("`{s}` is not shown ({})", judge::short(&text.split_whitespace().collect::<Vec<_>>().join(" "), 160)));
    }
    for s in &e.lacks {
        want(!text.contains(s.as_str()), format!("`{s}` is shown"));
    }
    if let Some(x) = &e.error {
        let got = r.error.as_ref().map(|e| format!("{}: {}", e.kind, e.message));
        want(got.as_ref().is_some_and(|g| g.contains(x.as_str())), format!("the error is {got:?} where the text says `{x}`"));
    } else if r.kind != StepKind::Test && e.tests.is_none() {
        if let Some(err) = &r.error {
            want(false, format!("it fails: {}: {}", err.kind, err.message));
        }
    }
    if let Some((name, words)) = &e.header {
        let got = r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        want(got.as_ref().is_some_and(|v| v.contains(words.as_str())), format!("the {name} header is {got:?} where the text says `{words}`"));
    }
    if let Some((name, word)) = &e.duration {
        let (got, message) = judge::duration_verdict(name, r);
        want(got.word() == word, format!("the {name} header is `{}` where the text says `{word}` ({message})", got.word()));
    }
    if let Some(x) = &e.sql {
        want(r.render.queries.iter().any(|q| q.sql.contains(x.as_str())), format!("no statement contains `{x}`"));
    }
    if let Some(x) = e.waited_s {
        let w = r.span.as_ref().map_or(0.0, |s| s.waited_s);
        want((w - x).abs() < 1e-6, format!("it waited {w} s for the write lock where the text says {x} s"));
    }
    if let Some(x) = e.elapsed_s {
        let t = r.span.as_ref().map_or(0.0, |s| s.elapsed_s);
        want((t - x).abs() < 1e-6, format!("it took {t} s on the lab's clock where the text says {x} s"));
    }
    if let Some(x) = &e.tests {
        let got = tests_summary(r);
        want(got == *x, format!("the tests say `{got}` where the text says `{x}`"));
    }
    if let Some(x) = &e.n_plus_one {
        let advice: Vec<String> = r.render.groups.iter().filter_map(|g| g.n_plus_one.clone()).collect();
        let ok = if x == "none" { advice.is_empty() } else { advice.iter().any(|a| a.contains(x.as_str())) };
        want(ok, format!("the N+1 advice is {advice:?} where the text says `{x}`"));
    }
    if let Some(x) = e.unbounded {
        want(r.render.unbounded.is_empty() != x, format!("unbounded warnings {:?} where the text says {x}", r.render.unbounded));
    }
    wrong
}

/// Everything a step shows as text: the page or the shell's output, printed lines, the error,
/// the tests' names and messages, warnings.
fn shown_text(r: &StepReport) -> String {
    let mut t = format!("{}\n{}\n", r.render.output, r.stdout);
    if let Some(e) = &r.error {
        t += &format!("{}: {}\n", e.kind, e.message);
    }
    for x in &r.tests {
        t += &format!("{} {} {}\n{}\n", x.outcome.as_str(), x.name, x.message, x.detail);
    }
    for w in &r.warnings {
        t += &format!("{w}\n");
    }
    if let Some(s) = &r.span {
        t += &format!("{}\n", s.note.clone().unwrap_or_default());
    }
    t
}

/// `2 passed, 1 failed` (errors count as failed).
pub fn tests_summary(r: &StepReport) -> String {
    let passed = r.tests.iter().filter(|t| t.outcome == TestOutcome::Pass).count();
    let failed = r.tests.iter().filter(|t| matches!(t.outcome, TestOutcome::Fail | TestOutcome::Error)).count();
    format!("{passed} passed, {failed} failed")
}

/// The lessons of a `lessons/` folder, in order (natively: the browser embeds them, and a
/// wasm build without a file system gets an error).
pub fn read_lessons(dir: &std::path::Path) -> Result<Vec<Lesson>, String> {
    let mut dirs: Vec<_> = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs.into_iter()
        .map(|d| {
            let name = d.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let text = std::fs::read_to_string(d.join("lab.json")).map_err(|e| format!("{name}/lab.json: {e}"))?;
            let lab: LabSpec = serde_json::from_str(&text).map_err(|e| format!("{name}/lab.json: {e}"))?;
            let markdown = std::fs::read_to_string(d.join("lesson.md")).map_err(|e| format!("{name}/lesson.md: {e}"))?;
            Ok(Lesson { name, lab, markdown })
        })
        .collect()
}

/// A lab that finds these lessons by slug (`01-n-plus-one` is `n-plus-one`).
pub fn course_of(lessons: &[Lesson]) -> crate::lab::Course {
    let labs: Vec<(String, std::rc::Rc<LabSpec>)> =
        lessons.iter().map(|l| (l.name.split_once('-').map(|(_, s)| s.to_string()).unwrap_or_else(|| l.name.clone()), std::rc::Rc::new(l.lab.clone()))).collect();
    std::rc::Rc::new(move |slug: &str| labs.iter().find(|(s, _)| s == slug).map(|(_, l)| l.clone()))
}
