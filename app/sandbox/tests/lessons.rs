//! The curriculum checks itself (as rustlings does), through the same judge the page uses
//! (`sandbox::course::self_check`): every claim of every lesson's prose, every exercise at its
//! start and with its solution on two data sizes, every listed wrong answer. Then the lab's
//! mechanics a lesson relies on: compare, growth points, Explain, models.py migrations, the
//! workers' caches, checks that leave the learner's session alone.

use std::path::PathBuf;

use protocol::lesson::{Attempt, Lab as LabSpec};
use protocol::{CheckReport, CompareSide, LabRun, ProjectSpec, Request, Response, Step, StepReport};
use sandbox::course::{self, Lesson};
use sandbox::lab::Lab;

fn lessons_dir() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR")).join("../../lessons")
}

fn lessons() -> Vec<Lesson> {
    course::read_lessons(&lessons_dir()).unwrap_or_else(|e| panic!("{e}"))
}

fn spec(slug: &str) -> LabSpec {
    lessons().into_iter().find(|l| l.name.ends_with(slug)).unwrap_or_else(|| panic!("no lesson {slug}")).lab
}

/// A lab that knows the course, on a database of `articles` (and `tasks`).
fn lab(articles: u32, tasks: Option<u32>) -> Lab {
    let mut lab = Lab::with_course(course::course_of(&lessons()));
    lab.handle(Request::Seed { id: 0, articles, tasks }, &mut |_| {});
    lab
}

fn ask(lab: &mut Lab, req: Request) -> Response {
    let mut got = None;
    lab.handle(req, &mut |r| if r.is_final() { got = Some(r) });
    got.expect("every request is answered")
}

fn load(lab: &mut Lab, project: ProjectSpec, lesson: Option<&str>) -> Response {
    ask(lab, Request::Load { id: 1, project, fresh: false, lesson: lesson.map(str::to_string) })
}

fn step(lab: &mut Lab, step: Step) -> StepReport {
    match ask(lab, Request::Step { id: 3, step: step.clone() }) {
        Response::StepResult { report, .. } if report.error.is_none() => report,
        other => panic!("{step:?}: {other:?}"),
    }
}

fn get(url: &str) -> Step {
    Step::Get { url: url.into(), user: None, worker: None, into_previous: None, http: None }
}

fn check(lab: &mut Lab, lesson: &str, exercise: usize, attempt: Attempt) -> CheckReport {
    match ask(lab, Request::Check { id: 5, lesson: lesson.into(), exercise, attempt }) {
        Response::CheckResult { report, .. } => report,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_curriculum_checks_itself() {
    // `LESSON=n-plus-one cargo test …` checks one lesson while writing it.
    let only = std::env::var("LESSON").ok();
    let all: Vec<Lesson> = lessons().into_iter().filter(|l| only.as_ref().is_none_or(|o| l.name.contains(o.as_str()))).collect();
    let report = course::self_check(&all, &[200, 1000]);
    if only.is_some() {
        assert!(report.ok(), "{}\n{}", report.summary(), report.problems());
        return;
    }
    println!("curriculum self-check: {}", report.summary());
    assert!(report.ok(), "{}\n{}", report.summary(), report.problems());
    assert!(report.claims >= 40, "{}", report.summary());
    assert!(report.wrong_answers >= 2 * report.exercises, "at least two wrong answers per exercise: {}", report.summary());
}

#[test]
fn a_changed_sentence_or_a_changed_lab_is_caught() {
    let mut ls = lessons();
    let n1 = ls.iter_mut().find(|l| l.name.ends_with("n-plus-one")).unwrap();
    let p = n1.lab.project.as_mut().unwrap();
    let claim = p.claims.iter().find(|c| c.says.contains("41")).cloned().expect("the N+1 lesson claims its 41 queries");
    // The sentence edited, the claim not: the claim no longer quotes the lesson.
    let mut edited = Lesson { name: n1.name.clone(), lab: n1.lab.clone(), markdown: n1.markdown.replace("41", "40") };
    edited.lab.project.as_mut().unwrap().claims = vec![claim.clone()];
    edited.lab.project.as_mut().unwrap().exercises.clear();
    let r = course::self_check(std::slice::from_ref(&edited), &[200]);
    assert_eq!(r.contradicted.len(), 1, "{}", r.summary());
    assert!(r.contradicted[0].contains("lesson.md no longer says this"), "{}", r.contradicted[0]);
    // The lab changed under a true sentence: the observation fails, quoting the sentence.
    let mut broken = Lesson { name: n1.name.clone(), lab: n1.lab.clone(), markdown: n1.markdown.clone() };
    let bp = broken.lab.project.as_mut().unwrap();
    bp.claims = vec![claim];
    bp.exercises.clear();
    bp.files[1].1 = bp.files[1].1.replace("{% for t in a.tags.all %}", "{% for t in a.tags.none %}");
    let r = course::self_check(std::slice::from_ref(&broken), &[200]);
    assert_eq!(r.contradicted.len(), 1, "{}", r.summary());
    assert!(r.contradicted[0].contains("41") && r.contradicted[0].contains("where the text says"), "{}", r.contradicted[0]);
    // A check loosened so that a listed wrong answer passes: caught too.
    let mut loose = Lesson { name: n1.name.clone(), lab: n1.lab.clone(), markdown: n1.markdown.clone() };
    let lp = loose.lab.project.as_mut().unwrap();
    lp.claims.clear();
    lp.exercises[0].goal.max_queries = 100;
    let r = course::self_check(std::slice::from_ref(&loose), &[200]);
    assert!(!r.ok() && r.broken_exercises.iter().any(|b| b.contains("the start passes")), "{}", r.problems());
}

#[test]
fn checks_compares_and_growth_points_leave_the_learners_session_as_it_was() {
    let mut lab = lab(200, None);
    let p = spec("cache-fragments-and-keys").project.unwrap();
    let mine = p.solution(Some(1));
    assert!(matches!(load(&mut lab, p.spec(&mine), Some("cache-fragments-and-keys")), Response::Loaded { .. }));
    // The learner's own session: a cached fragment, a write from the shell, the clock moved.
    step(&mut lab, get("/"));
    step(&mut lab, Step::Run { code: "a = Article.objects.published().first(); a.title = 'Mine'; a.save()".into(), worker: None });
    step(&mut lab, Step::Advance { seconds: 30.0 });
    let fingerprint = |lab: &mut Lab| match ask(lab, Request::Fingerprint { id: 9 }) {
        Response::Fingerprinted { digest, .. } => digest,
        other => panic!("{other:?}"),
    };
    let before = fingerprint(&mut lab);
    let r = check(&mut lab, "cache-fragments-and-keys", 0, mine.clone());
    assert!(r.passed, "{r:?}");
    assert_eq!(fingerprint(&mut lab), before, "a check leaves the data, cache, clock and project alone");
    let run = LabRun { project: p.spec(&mine), steps: vec![get("/"), Step::Run { code: "Article.objects.update(title='x')".into(), worker: None }, get("/")] };
    let _ = ask(&mut lab, Request::Compare { id: 6, a: run.clone(), b: run.clone() });
    assert_eq!(fingerprint(&mut lab), before, "so does a comparison");
    let _ = ask(&mut lab, Request::Measure { id: 7, run, articles: 1000, tasks: None });
    assert_eq!(fingerprint(&mut lab), before, "and a growth point");
    // The learner's next request still sees their own write and their cached fragment.
    let r = step(&mut lab, get("/"));
    assert_eq!(r.cache.map(|c| c.name()).as_deref(), Some("fragment hit"));
    assert!(r.render.output.contains("Mine"), "{}", r.render.output);
    // A fresh load (a timeline run) starts from fresh data, an empty cache and the clock's start.
    assert!(matches!(ask(&mut lab, Request::Load { id: 1, project: p.spec(&mine), fresh: true, lesson: None }), Response::Loaded { ref clock, .. } if clock == "2026-01-01 09:00:00"));
    let r = step(&mut lab, get("/"));
    assert!(!r.render.output.contains("Mine") && r.cache.map(|c| c.name()).as_deref() == Some("fragment miss"), "{}", r.render.output);
}

#[test]
fn the_goal_line_judges_a_request_with_the_checks_budget() {
    let mut lab = lab(200, None);
    let p = spec("fast-enough").project.unwrap();
    load(&mut lab, p.spec(&p.start()), Some("fast-enough"));
    let r = step(&mut lab, get("/articles/"));
    assert_eq!(r.goals.len(), 1);
    assert!(!r.goals[0].met, "the unbounded list misses the goal: {:?}", r.goals);
    assert!(r.goals[0].message.contains("rows fetched, the goal is at most 20"), "{}", r.goals[0].message);
    load(&mut lab, p.spec(&p.solution(None)), Some("fast-enough"));
    let r = step(&mut lab, get("/articles/"));
    assert!(r.goals[0].met, "{:?}", r.goals);
    assert_eq!(r.goals[0].message, "1 query (at most 1), 20 rows fetched (at most 20)");
    // Another request is not the judged one: no goal line.
    assert!(step(&mut lab, get("/articles/?x=1")).goals.is_empty());
}

#[test]
fn the_n_plus_one_advice_names_every_relation_of_a_group() {
    let mut lab = lab(200, None);
    let p = spec("query-count-tests").project.unwrap();
    load(&mut lab, p.spec(&p.start()), None);
    let r = step(&mut lab, get("/orgs/org-1/tasks/"));
    let advice: Vec<String> = r.render.groups.iter().filter_map(|g| g.n_plus_one.clone()).collect();
    assert_eq!(advice.len(), 1, "{advice:?}");
    assert!(advice[0].contains("`select_related(\"assigned_to\", \"created_by\", \"updated_by\")`"), "{}", advice[0]);
    assert!(advice[0].contains("t.assigned_to.username") && advice[0].contains("t.created_by.username"), "{}", advice[0]);
    // Test setup writes in a loop are not an N+1 (the test client's own request still is).
    let r = ask(&mut lab, Request::Step { id: 4, step: Step::Test { file: "tests.py".into() } });
    let Response::StepResult { report, .. } = r else { panic!("{r:?}") };
    let inserts: Vec<_> = report.render.groups.iter().filter(|g| g.sql.starts_with("INSERT")).collect();
    assert!(inserts.len() == 2 && inserts.iter().all(|g| g.n_plus_one.is_none()), "{:?}", report.render.groups);
    assert!(report.render.groups.iter().any(|g| g.sql.starts_with("SELECT") && g.n_plus_one.is_some()), "{:?}", report.render.groups);
}

#[test]
fn sql_that_would_crash_or_escape_the_engine_is_refused() {
    let mut lab = lab(50, None);
    for sql in ["SELECT datetime('now')", "SELECT date('now')", "SELECT CURRENT_TIMESTAMP", "ATTACH DATABASE 'x' AS y", "VACUUM INTO '/tmp/x'", "PRAGMA writable_schema = ON", "SELECT 1; DROP TABLE auth_user"] {
        assert!(matches!(ask(&mut lab, Request::Sql { id: 1, sql: sql.into() }), Response::Error { .. }), "{sql}");
    }
    let Response::SqlResult { rows, .. } = ask(&mut lab, Request::Sql { id: 2, sql: "EXPLAIN QUERY PLAN SELECT * FROM articles_article WHERE slug = 'article-3'".into() }) else { panic!() };
    assert!(rows.iter().any(|r| r.iter().any(|c| c.contains("articles_article"))), "{rows:?}");
}

#[test]
fn the_check_says_the_gap_and_rejects_answers_fitted_to_the_visible_rows() {
    let mut lab = lab(200, None);
    let p = spec("n-plus-one").project.unwrap();
    let start = check(&mut lab, "n-plus-one", 0, p.start());
    assert!(start.runs[0].message.starts_with("41 queries, the goal is at most 2; 20 similar queries from `a.author.username`"), "{}", start.runs[0].message);
    // The visible page's ids, hard-coded: the same page here, another on the hidden copy.
    load(&mut lab, p.spec(&p.start()), None);
    let ids = step(&mut lab, Step::Run { code: "list(Article.objects.published().values_list('pk', flat=True)[:20])".into(), worker: None }).render.output;
    let mut fitted = p.start();
    fitted.files[0].1 = fitted.files[0].1.replace("Article.objects.published()[:20]", &format!("Article.objects.filter(pk__in={ids}).select_related('author').prefetch_related('tags')"));
    let r = check(&mut lab, "n-plus-one", 0, fitted);
    assert!(r.runs[0].passed, "the fitted answer matches the visible data: {r:?}");
    assert!(!r.runs[1].passed && !r.passed, "the hidden copy rejects it: {r:?}");
}

#[test]
fn a_query_count_test_must_catch_the_problem_on_the_starting_view() {
    let mut lab = lab(200, None);
    let p = spec("query-count-tests").project.unwrap();
    let with = |on: &[usize]| {
        let mut a = p.start();
        for &i in on {
            p.toggles[i].apply(&p.toggles, &mut a, true);
        }
        a
    };
    // The view fixed, but no test that counts: the page passes, the tests do not.
    let r = check(&mut lab, "query-count-tests", 0, with(&[0]));
    assert!(r.runs[0].passed && r.runs[1].passed, "{r:?}");
    let tests = r.runs.iter().find(|r| r.data == "your tests.py").expect("the tests are judged");
    assert!(!tests.passed && tests.message.contains("none of them would catch"), "{tests:?}");
    // The counting test without the fix fails on the learner's own view.
    let r = check(&mut lab, "query-count-tests", 0, with(&[1]));
    let tests = r.runs.iter().find(|r| r.data == "your tests.py").unwrap();
    assert!(!tests.passed && tests.message.contains("fails on your view"), "{tests:?}");
    // Both: the test fails on the starting view and passes on the learner's.
    let r = check(&mut lab, "query-count-tests", 0, with(&[0, 1]));
    assert!(r.passed, "{r:?}");
    assert!(r.runs[2].message.contains("fails on the starting one"), "{:?}", r.runs[2]);
}

#[test]
fn the_indexes_exercise_wants_the_index_that_serves_the_query() {
    let mut lab = lab(200, Some(5000));
    let start = check(&mut lab, "indexes", 0, Attempt { files: spec("indexes").project.unwrap().files, migrations: vec![] });
    assert!(start.runs[0].message.starts_with("the database read 5,000 rows, the goal is at most 50"), "{}", start.runs[0].message);
    assert_eq!(start.runs[0].data, "the data you see (5,000 tasks)");
    let files = spec("indexes").project.unwrap().files;
    let wrong = check(&mut lab, "indexes", 0, Attempt { files: files.clone(), migrations: vec![0] });
    assert!(!wrong.passed && wrong.runs[0].message.contains("rows, the goal is at most 50"), "{wrong:?}");
    let right = check(&mut lab, "indexes", 0, Attempt { files, migrations: vec![1] });
    assert!(right.passed, "{right:?}");
    assert!(right.runs[1].data.contains("hidden"), "{right:?}");
}

fn compare(lab: &mut Lab, a: LabRun, b: LabRun) -> (CompareSide, CompareSide) {
    match ask(lab, Request::Compare { id: 5, a, b }) {
        Response::Compared { a, b, .. } => (a, b),
        other => panic!("{other:?}"),
    }
}

#[test]
fn compare_runs_a_lab_with_a_toggle_off_and_on_and_plans_each_statement() {
    let mut lab = lab(1000, None);
    // A migration toggle: the pagination lab's deep page, without and with the index on its ORDER BY.
    let p = spec("pagination").project.unwrap();
    let base = p.spec(&p.start());
    let indexed = p.spec(&p.solution(None));
    let steps = vec![get("/articles/by-cursor/?cursor=2024-06-01%2000:00:00~100")];
    let (a, b) = compare(&mut lab, LabRun { project: base.clone(), steps: steps.clone() }, LabRun { project: indexed, steps });
    let (ra, rb) = (a.render.unwrap(), b.render.unwrap());
    assert_eq!((a.status, b.status), (Some(200), Some(200)));
    assert_eq!(ra.output, rb.output, "an index changes the cost, never the page");
    let read = |r: &protocol::RenderReport| r.queries.iter().map(|q| q.rows_read).sum::<u64>();
    assert!(read(&ra) > 10 * read(&rb), "rows read without the index {} vs with {}", read(&ra), read(&rb));
    assert!(a.plans[0].plan.contains("SCAN articles_article") && a.plans[0].plan.contains("USE TEMP B-TREE FOR ORDER BY"), "{}", a.plans[0].plan);
    assert!(b.plans[0].plan.contains("article_created_id_idx") && !b.plans[0].plan.contains("TEMP B-TREE"), "{}", b.plans[0].plan);
    // The N+1 lab: the similar queries counted once with their plan.
    let p = spec("n-plus-one").project.unwrap();
    let (a, b) = compare(&mut lab, LabRun { project: p.spec(&p.start()), steps: vec![get("/")] }, LabRun { project: p.spec(&p.solution(None)), steps: vec![get("/")] });
    assert_eq!((a.render.as_ref().unwrap().n_queries, b.render.as_ref().unwrap().n_queries), (41, 2));
    assert_eq!(a.plans.iter().map(|p| p.count).collect::<Vec<_>>(), vec![1, 20, 20]);
    assert!(a.plans[1].plan.contains("SEARCH auth_user USING INTEGER PRIMARY KEY (rowid=?)"), "{}", a.plans[1].plan);
    // A side that fails says why, and the other side still runs.
    let mut bad = p.start();
    bad.files[0].1 = bad.files[0].1.replace("published()", "filter(nope=1)");
    let (bad, good) = compare(&mut lab, LabRun { project: p.spec(&bad), steps: vec![get("/")] }, LabRun { project: p.spec(&p.start()), steps: vec![get("/")] });
    assert_eq!(bad.error.unwrap().kind, "FieldError");
    assert!(good.error.is_none() && good.render.is_some());
}

#[test]
fn the_depth_chart_pages_by_offset_and_by_cursor_and_only_offset_climbs() {
    let mut lab = lab(10_000, None);
    let p = spec("pagination").project.unwrap();
    assert!(matches!(load(&mut lab, p.spec(&p.solution(None)), None), Response::Loaded { .. }));
    let (offset, cursor) = (&p.sweeps[0], &p.sweeps[1]);
    assert_eq!(offset.x_label, cursor.x_label, "one chart for both lines");
    let read = |r: &StepReport| r.render.queries.iter().map(|q| q.rows_read).sum::<u64>();
    let (mut by_offset, mut by_cursor, mut first_titles) = (vec![], vec![], vec![]);
    for n in [1u32, 100, 375] {
        let r = step(&mut lab, get(&offset.url.replace("{n}", &n.to_string())));
        by_offset.push(read(&r));
        first_titles.push(r.render.output.lines().nth(1).unwrap_or("").to_string());
        // As the page does: the shell line prints the cursor, which goes into the URL.
        let printed = step(&mut lab, Step::Run { code: cursor.cursor.as_ref().unwrap().replace("{n}", &n.to_string()), worker: None }).render.output;
        let token = printed.trim().trim_matches('\'').replace(' ', "%20");
        let r = step(&mut lab, get(&cursor.url.replace("{cursor}", &token)));
        by_cursor.push(read(&r));
        assert_eq!(r.render.output.lines().nth(1).unwrap_or(""), first_titles.last().unwrap(), "page {n}: the cursor opens the same page as the offset");
    }
    // Every offset page pays the paginator's COUNT (a scan of the table), then walks past the
    // rows it skips: 20 rows a page deeper.
    assert!(by_offset[2] > by_offset[0] + 5_000, "offset rows read by depth: {by_offset:?}");
    assert!(by_cursor.iter().all(|r| *r < 100), "cursor rows read by depth: {by_cursor:?}");
}

fn measure(lab: &mut Lab, run: LabRun, articles: u32, tasks: Option<u32>) -> CompareSide {
    match ask(lab, Request::Measure { id: 7, run, articles, tasks }) {
        Response::Measured { side, .. } => side,
        other => panic!("{other:?}"),
    }
}

#[test]
fn growth_points_are_measured_on_fresh_databases_and_leave_the_learners_alone() {
    let mut lab = lab(200, None);
    // The indexes lab's triage page at growing table sizes, without and with the index.
    let p = spec("indexes").project.unwrap();
    let plain = p.spec(&p.start());
    let indexed = p.spec(&Attempt { files: p.files.clone(), migrations: vec![1] });
    let steps = vec![get("/tasks/open/")];
    let read = |s: &CompareSide| s.render.as_ref().map(|r| r.queries.iter().map(|q| q.rows_read).sum::<u64>()).unwrap_or_else(|| panic!("{:?}", s.error));
    let mut without = vec![];
    let mut with = vec![];
    for n in [1_000u32, 10_000] {
        without.push(read(&measure(&mut lab, LabRun { project: plain.clone(), steps: steps.clone() }, 200, Some(n))));
        with.push(read(&measure(&mut lab, LabRun { project: indexed.clone(), steps: steps.clone() }, 200, Some(n))));
    }
    assert!(without[1] >= 10_000 && without[0] >= 1_000, "a scan reads the table: {without:?}");
    assert!(with[1] < 100 && with[0] < 100, "the index reads a page's worth: {with:?}");
    // The learner's database still has its 200 articles and its own tasks.
    let Response::SqlResult { rows, .. } = ask(&mut lab, Request::Sql { id: 8, sql: "SELECT COUNT(*) FROM tasks_task".into() }) else { panic!() };
    assert_eq!(rows[0][0], "100");
    // The unbounded list fetches every published article, so rows grow with the table.
    let p = spec("fast-enough").project.unwrap();
    let run = LabRun { project: p.spec(&p.start()), steps: vec![get("/articles/")] };
    let fetched = |s: CompareSide| s.render.map(|r| r.queries.iter().map(|q| q.rows).sum::<usize>()).unwrap();
    let small = fetched(measure(&mut lab, run.clone(), 50, None));
    let big = fetched(measure(&mut lab, run, 1_000, None));
    assert!(big > 10 * small, "rows fetched at 50 and 1,000 articles: {small}, {big}");
}

#[test]
fn explain_gives_the_plan_of_a_logged_statement_on_the_database_as_it_is() {
    let mut lab = lab(200, None);
    let explain = |lab: &mut Lab, sql: &str| ask(lab, Request::Explain { id: 4, sql: sql.into() });
    let sql = "SELECT \"tasks_task\".\"id\" FROM \"tasks_task\" WHERE \"tasks_task\".\"status\" = 'open' ORDER BY \"tasks_task\".\"created_at\" DESC";
    let Response::Explained { plan, .. } = explain(&mut lab, sql) else { panic!() };
    assert_eq!(plan, "SCAN tasks_task\nUSE TEMP B-TREE FOR ORDER BY");
    ask(&mut lab, Request::Sql { id: 5, sql: "CREATE INDEX t_s ON tasks_task (status, created_at DESC)".into() });
    let Response::Explained { plan, .. } = explain(&mut lab, sql) else { panic!() };
    assert_eq!(plan, "SEARCH tasks_task USING COVERING INDEX t_s (status=?)");
    // Nothing but one statement, and never one that would hurt the engine.
    assert!(matches!(explain(&mut lab, "SELECT 1; DROP TABLE tasks_task"), Response::Error { .. }));
    let Response::Explained { plan, .. } = explain(&mut lab, "SELECT nope FROM tasks_task") else { panic!() };
    assert!(plan.starts_with("(no plan: "), "{plan}");
}

#[test]
fn indexes_declared_in_models_py_are_migrated_and_checked_as_django_checks_them() {
    let mut lab = lab(200, Some(5_000));
    let p = spec("indexes").project.unwrap();
    let with_models = |text: &str| {
        let mut files = p.files.clone();
        let m = files.iter_mut().find(|(n, _)| n == "tasks/models.py").expect("the lab has tasks/models.py");
        m.1 = m.1.replace("        indexes = [\n        ]", text);
        assert!(m.1.contains(text), "the edit applies");
        ProjectSpec { files, urls: p.urls.clone(), migrations: p.migrations.clone() }
    };
    let triage_read = |lab: &mut Lab| step(lab, get("/tasks/open/")).render.queries.iter().map(|q| q.rows_read).sum::<u64>();
    let plain = load(&mut lab, with_models("        indexes = [\n        ]"), None);
    assert!(matches!(plain, Response::Loaded { .. }), "{plain:?}");
    let scan = triage_read(&mut lab);
    assert!(scan >= 5_000, "no index: {scan}");
    // Meta.indexes: the migration Django writes, applied.
    let Response::Loaded { migrations, .. } = load(&mut lab, with_models("        indexes = [\n            models.Index(fields=[\"status\", \"-created_at\"], name=\"task_status_created_idx\"),\n        ]"), None) else { panic!() };
    assert_eq!(migrations.len(), 1);
    assert!(migrations[0].1.contains("CREATE INDEX \"task_status_created_idx\" ON \"tasks_task\" (\"status\", \"created_at\" DESC);"), "{}", migrations[0].1);
    let indexed = triage_read(&mut lab);
    assert!(indexed < 50, "with the index: {indexed}");
    // A typo is Django's system check, at its line; the database keeps the index it had.
    let bad = load(&mut lab, with_models("        indexes = [\n            models.Index(fields=[\"stauts\", \"-created_at\"], name=\"task_status_created_idx\"),\n        ]"), None);
    let Response::Error { error, .. } = bad else { panic!("{bad:?}") };
    assert_eq!(error.kind, "SystemCheckError");
    assert!(error.message.contains("tasks.Task: (models.E012) 'indexes' refers to the nonexistent field 'stauts'."), "{}", error.message);
    assert_eq!(error.source.as_deref(), Some("tasks/models.py"));
    assert!(error.line.is_some_and(|l| l > 20), "{error:?}");
    let got = ask(&mut lab, Request::Explain { id: 2, sql: "SELECT id FROM tasks_task WHERE status = 'open' ORDER BY created_at DESC".into() });
    assert!(matches!(&got, Response::Explained { plan, .. } if plan.contains("task_status_created_idx")), "{got:?}");
    // Django's other checks on index names.
    let message = |lab: &mut Lab, text: &str| match load(lab, with_models(text), None) {
        Response::Error { error, .. } => format!("{}: {}", error.kind, error.message),
        other => panic!("{other:?}"),
    };
    assert!(message(&mut lab, "        indexes = [models.Index(fields=[\"status\"], name=\"task_status_and_created_at_index\")]").contains("(models.E034) The index name 'task_status_and_created_at_index' cannot be longer than 30 characters."));
    assert!(message(&mut lab, "        indexes = [models.Index(fields=[\"status\"], name=\"_status\")]").contains("(models.E033) The index name '_status' cannot start with an underscore or a number."));
    assert!(message(&mut lab, "        indexes = [models.Index(fields=[\"status\"], name=\"s\"), models.Index(fields=[\"title\"], name=\"s\")]").contains("?: (models.E029) index name 's' is not unique for model tasks.Task."));
    assert_eq!(message(&mut lab, "        indexes = [models.Index(fields=\"status\", name=\"s\")]"), "ValueError: Index.fields must be a list or tuple.");
    assert_eq!(message(&mut lab, "        indexes = [models.Index(fields=[\"nope\"])]"), "FieldDoesNotExist: Task has no field named 'nope'");
    assert!(message(&mut lab, "        indexes = [models.Index(fields=[\"status\"], name=\"s\"]").starts_with("SyntaxError: "));
    // Unnamed: Django's generated name. db_index=True: AlterField's index, dropped when removed.
    let Response::Loaded { migrations, .. } = load(&mut lab, with_models("        indexes = [models.Index(fields=[\"status\", \"-created_at\"])]"), None) else { panic!() };
    assert!(migrations[0].1.contains("CREATE INDEX \"tasks_task_status_a96e51_idx\""), "{}", migrations[0].1);
    let mut files = p.files.clone();
    let m = files.iter_mut().find(|(n, _)| n == "tasks/models.py").unwrap();
    m.1 = m.1.replace("status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)", "status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)");
    let Response::Loaded { migrations, .. } = load(&mut lab, ProjectSpec { files, urls: p.urls.clone(), migrations: vec![] }, None) else { panic!() };
    assert!(migrations[0].0.contains("migrations.AlterField") && migrations[0].1.contains("ON \"tasks_task\" (\"status\")"), "{migrations:?}");
    let plain = load(&mut lab, with_models("        indexes = [\n        ]"), None);
    assert!(matches!(plain, Response::Loaded { ref migrations, .. } if migrations.is_empty()));
    assert!(triage_read(&mut lab) >= 5_000, "every index the file no longer declares is dropped");
}

#[test]
fn shell_lines_run_in_the_worker_named_and_say_so() {
    let mut lab = lab(200, None);
    let p = spec("shared-cache").project.unwrap();
    load(&mut lab, p.spec(&p.start()), None);
    step(&mut lab, Step::Get { url: "/".into(), user: None, worker: Some(2), into_previous: None, http: None });
    let r = step(&mut lab, Step::Run { code: "cache.get('newest_titles') is None".into(), worker: Some(1) });
    assert_eq!((r.label.as_str(), r.worker, r.render.output.as_str()), ("cache.get('newest_titles') is None (on worker 1)", 1, "True"));
    let r = step(&mut lab, Step::Run { code: "cache.get('newest_titles') is None".into(), worker: Some(2) });
    assert_eq!((r.worker, r.render.output.as_str()), (2, "False"));
}
