//! The curriculum checks itself (as rustlings does): every lesson's lab runs on the sample
//! data, its starting state does NOT meet the goal, and with every toggle on it does.

use protocol::lesson::Lab as LabSpec;
use protocol::{ProjectSpec, Request, Response, Step};
use sandbox::lab::Lab;

fn labs() -> Vec<(String, LabSpec)> {
    let root = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR")).join("../../lessons");
    let mut dirs: Vec<_> = std::fs::read_dir(&root).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs.into_iter()
        .map(|d| {
            let name = d.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(d.join("lab.json")).unwrap_or_else(|e| panic!("{name}/lab.json: {e}"));
            let spec: LabSpec = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}/lab.json: {e}"));
            (name, spec)
        })
        .collect()
}

fn run(lab: &mut Lab, context: Vec<(String, String)>, template: &str) -> Result<usize, String> {
    let mut got = None;
    lab.handle(Request::Run { id: 1, context, template: template.into(), renders: 1, clear_cache: true }, &mut |r| got = Some(r));
    match got {
        Some(Response::Result { renders, .. }) => Ok(renders[0].n_queries),
        other => Err(format!("{other:?}")),
    }
}

/// A project lab's goal check: load the files, run the goal's steps, the last request's count.
fn project_goal_count(lab: &mut Lab, name: &str, files: Vec<(String, String)>, spec: &LabSpec) -> usize {
    let p = spec.project.as_ref().expect("a project lab");
    let goal = spec.goal.as_ref().expect("checked by the caller");
    let mut got = None;
    let project = ProjectSpec { files, urls: p.urls.clone(), migrations: p.migrations.clone() };
    lab.handle(Request::Project { id: 1, project }, &mut |r| got = Some(r));
    assert!(matches!(got, Some(Response::ProjectLoaded { .. })), "{name}: the project does not load: {got:?}");
    let mut last = None;
    for step in &goal.steps {
        let mut got = None;
        lab.handle(Request::Step { id: 2, step: step.clone() }, &mut |r| got = Some(r));
        match got {
            Some(Response::StepResult { report, .. }) => {
                assert!(report.error.is_none(), "{name}: goal step {step:?} fails: {:?}", report.error);
                if matches!(step, Step::Get { .. }) {
                    last = Some(report.render.n_queries);
                }
            }
            other => panic!("{name}: goal step {step:?}: {other:?}"),
        }
    }
    last.unwrap_or_else(|| panic!("{name}: the goal's steps send no request"))
}

#[test]
fn every_project_lab_starts_short_of_its_goal_and_its_toggles_reach_it() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    let labs: Vec<_> = labs().into_iter().filter(|(_, s)| s.project.is_some()).collect();
    assert!(!labs.is_empty());
    for (name, spec) in labs {
        let p = spec.project.as_ref().unwrap();
        let Some(goal) = &spec.goal else { continue };
        assert!(!goal.steps.is_empty(), "{name}: a project lab's goal needs \"steps\" to check");
        if goal.max_rows.is_some() || goal.max_rows_read.is_some() || goal.max_wait_s.is_some() || goal.tests_catch {
            continue; // judged by more than the count: the check test below covers it
        }
        let start = project_goal_count(&mut lab, &name, p.files.clone(), &spec);
        let end = project_goal_count(&mut lab, &name, p.solved_files(None), &spec);
        assert!(start > goal.max_queries, "{name}: the start already meets the goal ({start} queries)");
        assert!(end <= goal.max_queries, "{name}: all toggles on still costs {end} queries, goal {}", goal.max_queries);
    }
}

#[test]
fn every_lab_starts_short_of_its_goal_and_its_toggles_reach_it() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    let labs: Vec<_> = labs().into_iter().filter(|(_, s)| s.project.is_none() && !s.is_reading()).collect();
    assert!(!labs.is_empty());
    for (name, spec) in labs {
        let start = run(&mut lab, spec.context.clone(), &spec.template).unwrap_or_else(|e| panic!("{name}: start state fails: {e}"));
        let mut solved = spec.context.clone();
        for t in &spec.toggles {
            for (var, expr) in solved.iter_mut() {
                if *var == t.var {
                    *expr = t.apply(expr, true);
                }
            }
        }
        let end = run(&mut lab, solved, &spec.template).unwrap_or_else(|e| panic!("{name}: solved state fails: {e}"));
        if let Some(goal) = spec.goal.as_ref().filter(|g| g.max_rows.is_none()) {
            assert!(start > goal.max_queries, "{name}: the start already meets the goal ({start} queries)");
            assert!(end <= goal.max_queries, "{name}: all toggles on still costs {end} queries, goal {}", goal.max_queries);
        }
    }
}

#[test]
fn the_n_plus_one_lab_counts_41_21_2_with_the_sql_django_sends() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 1000, tasks: None }, &mut |_| {});
    let spec = labs().into_iter().find(|(n, _)| n.ends_with("n-plus-one")).unwrap().1;
    let mut ctx = spec.context.clone();
    let mut counts = vec![run(&mut lab, ctx.clone(), &spec.template).unwrap()];
    for t in &spec.toggles {
        ctx[0].1 = t.apply(&ctx[0].1, true);
        counts.push(run(&mut lab, ctx.clone(), &spec.template).unwrap());
    }
    assert_eq!(counts, vec![41, 21, 2]);
    let mut got = None;
    lab.handle(Request::Run { id: 9, context: ctx, template: spec.template.clone(), renders: 1, clear_cache: true }, &mut |r| got = Some(r));
    let Some(Response::Result { renders, .. }) = got else { panic!() };
    let sql: Vec<&str> = renders[0].queries.iter().map(|q| q.sql.as_str()).collect();
    assert!(sql[0].contains("INNER JOIN \"auth_user\" ON (\"articles_article\".\"author_id\" = \"auth_user\".\"id\") WHERE \"articles_article\".\"status\" = 'published' ORDER BY \"articles_article\".\"created_at\" DESC LIMIT 20"), "{}", sql[0]);
    assert!(sql[1].starts_with("SELECT (\"articles_article_tags\".\"article_id\") AS \"_prefetch_related_val_article_id\""), "{}", sql[1]);
    assert!(sql[1].contains("WHERE \"articles_article_tags\".\"article_id\" IN ("), "{}", sql[1]);
    assert!(renders[0].request_ms > 0.0);
}

#[test]
fn the_n_plus_one_is_reported_with_the_fix() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    let mut got = None;
    lab.handle(
        Request::Run {
            id: 1,
            context: vec![("articles".into(), "Article.objects.published()[:20]".into())],
            template: "{% for a in articles %}{{ a.author.username }} {% for t in a.tags.all %}{{ t.name }}{% endfor %}{% endfor %}".into(),
            renders: 1,
            clear_cache: true,
        },
        &mut |r| got = Some(r),
    );
    let Some(Response::Result { renders, .. }) = got else { panic!("{got:?}") };
    let advice: Vec<String> = renders[0].groups.iter().filter_map(|g| g.n_plus_one.clone()).collect();
    assert_eq!(
        advice,
        vec![
            "20 similar queries from `a.author.username` → `select_related(\"author\")`".to_string(),
            "20 similar queries from `for t in a.tags.all` → `prefetch_related(\"tags\")`".to_string(),
        ]
    );
}

#[test]
fn learner_mistakes_come_back_as_messages_with_positions() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 50, tasks: None }, &mut |_| {});
    let cases = [
        ("Article.objects.filter(titel='x')", "{{ articles }}", "FieldError", "Cannot resolve keyword 'titel' into field. Choices are: author, author_id, body, created_at, id, slug, status, tags, title"),
        ("Article.objects.all()[-1]", "", "ValueError", "Negative indexing is not supported."),
        ("Article.objects.filter(", "", "SyntaxError", "'(' was never closed"),
        ("Artcle.objects.all()", "", "NameError", "name 'Artcle' is not defined"),
        ("Article.objects.all()", "{% for a in articles %}", "TemplateSyntaxError", "Unclosed tag"),
        ("Article.objects.all()", "{{ articles|nope }}", "TemplateSyntaxError", "Invalid filter: 'nope'"),
    ];
    for (expr, template, kind, message) in cases {
        let mut got = None;
        lab.handle(
            Request::Run { id: 1, context: vec![("articles".into(), expr.into())], template: template.into(), renders: 1, clear_cache: true },
            &mut |r| got = Some(r),
        );
        match got {
            Some(Response::Error { error, .. }) => {
                assert_eq!(error.kind, kind, "{expr} / {template}: {error:?}");
                assert!(error.message.contains(message), "{expr} / {template}: {}", error.message);
                assert!(error.line.is_some() && error.excerpt.is_some(), "{expr} / {template}: no position: {error:?}");
            }
            other => panic!("{expr} / {template}: {other:?}"),
        }
    }
}

#[test]
fn sql_that_would_crash_or_escape_the_engine_is_refused() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 50, tasks: None }, &mut |_| {});
    for sql in ["SELECT datetime('now')", "SELECT date('now')", "SELECT CURRENT_TIMESTAMP", "ATTACH DATABASE 'x' AS y", "VACUUM INTO '/tmp/x'", "PRAGMA writable_schema = ON", "SELECT 1; DROP TABLE auth_user"] {
        let mut got = None;
        lab.handle(Request::Sql { id: 1, sql: sql.into() }, &mut |r| got = Some(r));
        assert!(matches!(got, Some(Response::Error { .. })), "{sql}: {got:?}");
    }
    let mut got = None;
    lab.handle(Request::Sql { id: 2, sql: "EXPLAIN QUERY PLAN SELECT * FROM articles_article WHERE slug = 'article-3'".into() }, &mut |r| got = Some(r));
    let Some(Response::SqlResult { rows, .. }) = got else { panic!("{got:?}") };
    assert!(rows.iter().any(|r| r.iter().any(|c| c.contains("articles_article"))), "{rows:?}");
}

/// Replays a lab's timeline on the given files; each step's cache state ("-" for none).
fn timeline_states(lab: &mut Lab, spec: &LabSpec, files: Vec<(String, String)>) -> Vec<String> {
    let p = spec.project.as_ref().unwrap();
    let project = ProjectSpec { files, urls: p.urls.clone(), migrations: p.migrations.clone() };
    let mut got = None;
    lab.handle(Request::Project { id: 1, project }, &mut |r| got = Some(r));
    assert!(matches!(got, Some(Response::ProjectLoaded { .. })), "{got:?}");
    p.timeline
        .iter()
        .map(|step| {
            let mut got = None;
            lab.handle(Request::Step { id: 2, step: step.clone() }, &mut |r| got = Some(r));
            let Some(Response::StepResult { report, .. }) = got else { panic!("{step:?}: {got:?}") };
            assert!(report.error.is_none(), "{step:?}: {:?}", report.error);
            report.cache_state.unwrap_or_else(|| "-".into())
        })
        .collect()
}

#[test]
fn the_cache_timeline_marks_a_stale_read_until_a_receiver_invalidates() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    let (_, spec) = labs().into_iter().find(|(n, _)| n.ends_with("cache-fragments-and-keys")).unwrap();
    let p = spec.project.as_ref().unwrap();
    assert!(!p.timeline.is_empty());
    let toggle = |files: &mut Vec<(String, String)>, label: &str| {
        p.toggles.iter().find(|t| t.label.contains(label)).unwrap_or_else(|| panic!("no toggle {label}")).apply(files, true)
    };
    // No cache at all: nothing read the cache, no state.
    assert_eq!(timeline_states(&mut lab, &spec, p.files.clone()), ["-", "-", "-", "-", "-", "-"]);
    // cache.get/set without invalidation: the write leaves a stale value until it expires.
    let mut cached = p.files.clone();
    toggle(&mut cached, "cache.get");
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    assert_eq!(timeline_states(&mut lab, &spec, cached.clone()), ["miss", "hit", "-", "stale", "-", "miss"]);
    // With the receiver, the save deletes the key: the next read recomputes.
    toggle(&mut cached, "post_save");
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    assert_eq!(timeline_states(&mut lab, &spec, cached), ["miss", "hit", "-", "miss", "-", "miss"]);
    // A key built from the data needs no receiver: the save changes the key.
    let mut stamped = p.files.clone();
    toggle(&mut stamped, "key built from the data");
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    assert_eq!(timeline_states(&mut lab, &spec, stamped), ["miss", "hit", "-", "miss", "-", "miss"]);
}

#[test]
fn the_cache_page_timeline_goes_stale_after_a_rename_until_the_entry_expires() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    let (_, spec) = labs().into_iter().find(|(n, _)| n.ends_with("cache-page")).unwrap();
    let p = spec.project.as_ref().unwrap();
    assert_eq!(timeline_states(&mut lab, &spec, p.files.clone()), ["-", "-", "-", "-", "-", "-"]);
    let mut cached = p.files.clone();
    p.toggles.iter().find(|t| t.label.contains("on article_list")).unwrap().apply(&mut cached, true);
    assert_eq!(timeline_states(&mut lab, &spec, cached), ["miss", "hit", "-", "stale", "-", "miss"]);
}

#[test]
fn the_unbounded_list_fetches_every_published_row_until_it_is_sliced() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 1000, tasks: None }, &mut |_| {});
    let (_, spec) = labs().into_iter().find(|(n, _)| n.ends_with("fast-enough")).unwrap();
    let rows = |lab: &mut Lab, ctx: Vec<(String, String)>| {
        let mut got = None;
        lab.handle(Request::Run { id: 1, context: ctx, template: spec.template.clone(), renders: 1, clear_cache: true }, &mut |r| got = Some(r));
        let Some(Response::Result { renders, .. }) = got else { panic!("{got:?}") };
        assert_eq!(renders[0].n_queries, 1);
        (renders[0].queries[0].rows, renders[0].unbounded.clone())
    };
    let (unbounded, flagged) = rows(&mut lab, spec.context.clone());
    let mut ctx = spec.context.clone();
    for t in &spec.toggles {
        ctx[0].1 = t.apply(&ctx[0].1, true);
    }
    assert!(unbounded > 300, "{unbounded} rows for 1000 articles");
    assert_eq!(flagged, vec![format!("unbounded: {unbounded} rows fetched by query #1 (a SELECT without LIMIT); paginate or slice it")]);
    assert_eq!(rows(&mut lab, ctx), (20, vec![]));
}

/// The exercise check as the page sends it: the learner's state against every toggle on.
fn check_spec(spec: &LabSpec, learner_files: Option<Vec<(String, String)>>, learner_context: Option<Vec<(String, String)>>) -> protocol::CheckSpec {
    check_spec_of(spec, 0, learner_files, learner_context)
}

/// [`check_spec`] for exercise `k` of the lesson (a step of a multi-step lab).
fn check_spec_of(spec: &LabSpec, k: usize, learner_files: Option<Vec<(String, String)>>, learner_context: Option<Vec<(String, String)>>) -> protocol::CheckSpec {
    let exercises = spec.exercises("");
    let goal = exercises[k].goal;
    match &spec.project {
        Some(p) => {
            let reference = p.solved_files(exercises[k].toggles);
            let project = |files| ProjectSpec { files, urls: p.urls.clone(), migrations: p.migrations.clone() };
            let mine = learner_files.unwrap_or_else(|| p.files.clone());
            let tests_against = goal.tests_catch.then(|| {
                let mut start = p.files.clone();
                for (name, src) in start.iter_mut() {
                    if name == "tests.py" {
                        *src = mine.iter().find(|(n, _)| n == name).map(|(_, s)| s.clone()).unwrap_or_default();
                    }
                }
                project(start)
            });
            let mut all_migrations = p.migrations.clone();
            all_migrations.extend(p.migration_toggles.iter().map(|t| t.migration.clone()));
            protocol::CheckSpec::Project {
                tests_against,
                project: project(mine),
                reference: ProjectSpec { files: reference, urls: p.urls.clone(), migrations: all_migrations },
                steps: goal.steps.clone(),
                budget: goal.budget(),
            }
        }
        None => {
            let mut reference = spec.context.clone();
            for t in &spec.toggles {
                for (var, expr) in reference.iter_mut() {
                    if *var == t.var {
                        *expr = t.apply(expr, true);
                    }
                }
            }
            protocol::CheckSpec::Expression {
                context: learner_context.unwrap_or_else(|| spec.context.clone()),
                template: spec.template.clone(),
                reference_context: reference,
                reference_template: spec.template.clone(),
                budget: goal.budget(),
            }
        }
    }
}

fn check(lab: &mut Lab, spec: protocol::CheckSpec) -> protocol::CheckReport {
    let mut got = None;
    lab.handle(Request::Check { id: 5, check: spec }, &mut |r| got = Some(r));
    match got {
        Some(Response::CheckResult { report, .. }) => report,
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_exercise_fails_at_the_start_and_passes_with_its_solution_on_two_data_sets() {
    for size in [200, 1000] {
        let mut lab = Lab::new();
        lab.handle(Request::Seed { id: 0, articles: size, tasks: None }, &mut |_| {});
        let mut steps_checked = 0;
        for (name, spec) in labs().into_iter().filter(|(_, s)| !s.parts.is_empty()) {
            // Each step of a lab starts where the one before ended (its solution).
            let p = spec.project.as_ref().unwrap();
            let mut before = None;
            for (k, ex) in spec.exercises("").iter().enumerate() {
                let at = format!("{name} {} at {size}", ex.title.unwrap_or(""));
                let start = check(&mut lab, check_spec_of(&spec, k, Some(p.solved_files(Some(before.unwrap_or(0)))), None));
                assert!(!start.passed, "{at}: the step's start passes: {start:?}");
                let mut solved = check_spec_of(&spec, k, Some(p.solved_files(ex.toggles)), None);
                if let protocol::CheckSpec::Project { project, reference, .. } = &mut solved {
                    project.migrations = reference.migrations.clone();
                }
                let done = check(&mut lab, solved);
                assert!(done.passed, "{at}: the solution fails: {done:?}");
                assert!(done.runs[1].data.contains("hidden"), "{done:?}");
                eprintln!("{at}: start: {} | solved: {}", start.runs[0].message, done.runs[0].message);
                before = ex.toggles;
                steps_checked += 1;
            }
        }
        assert!(steps_checked >= 3, "the labs' steps were checked: {steps_checked}");
        for (name, spec) in labs().into_iter().filter(|(_, s)| s.goal.is_some()) {
            let start = check(&mut lab, check_spec(&spec, None, None));
            assert!(!start.passed, "{name} at {size}: the start passes: {start:?}");
            assert!(start.runs.iter().all(|r| !r.passed && !r.message.is_empty()), "{name}: {start:?}");
            let solved_files = spec.project.as_ref().map(|p| p.solved_files(None));
            let solved_context = (spec.project.is_none()).then(|| match check_spec(&spec, None, None) {
                protocol::CheckSpec::Expression { reference_context, .. } => reference_context,
                _ => unreachable!(),
            });
            let mut solved = check_spec(&spec, solved_files, solved_context);
            // The solution turns every migration toggle on too (the indexes exercise).
            if let protocol::CheckSpec::Project { project, reference, .. } = &mut solved {
                project.migrations = reference.migrations.clone();
            }
            let done = check(&mut lab, solved);
            assert!(done.passed, "{name} at {size}: the solution fails: {done:?}");
            assert!(done.runs.len() >= 2, "{name}: the visible data and a hidden copy: {done:?}");
            assert!(done.runs[1].data.contains("hidden"), "{done:?}");
        }
    }
}

#[test]
fn the_check_says_the_gap_and_rejects_answers_fitted_to_the_visible_rows() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    let (_, spec) = labs().into_iter().find(|(n, _)| n.ends_with("n-plus-one")).unwrap();
    let start = check(&mut lab, check_spec(&spec, None, None));
    assert!(start.runs[0].message.starts_with("41 queries, the goal is at most 2; 20 similar queries from `a.author.username`"), "{}", start.runs[0].message);
    // Too few rows: within budget, but not the page the reference shows.
    let empty = check(&mut lab, check_spec(&spec, None, Some(vec![("articles".into(), "Article.objects.none()".into())])));
    assert!(!empty.passed);
    assert!(empty.runs[0].message.contains("differs from the reference solution's"), "{}", empty.runs[0].message);
    // The visible page's ids, hard-coded: same page here, another page on the hidden copy.
    let mut got = None;
    lab.handle(Request::Run { id: 1, context: vec![("ids".into(), "list(Article.objects.published().values_list('pk', flat=True)[:20])".into())], template: "{{ ids }}".into(), renders: 1, clear_cache: true }, &mut |r| got = Some(r));
    let Some(Response::Result { renders, .. }) = got else { panic!("{got:?}") };
    let ids = renders[0].output.clone();
    let fitted = format!("Article.objects.filter(pk__in={ids}).select_related('author').prefetch_related('tags')");
    let report = check(&mut lab, check_spec(&spec, None, Some(vec![("articles".into(), fitted)])));
    assert!(report.runs[0].passed, "the fitted answer matches the visible data: {report:?}");
    assert!(!report.runs[1].passed && !report.passed, "the hidden copy rejects it: {report:?}");
}

#[test]
fn a_query_count_test_must_catch_the_problem_on_the_starting_view() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    let (_, spec) = labs().into_iter().find(|(n, _)| n.ends_with("query-count-tests")).unwrap();
    let p = spec.project.as_ref().unwrap();
    let toggle = |files: &mut Vec<(String, String)>, label: &str| p.toggles.iter().find(|t| t.label.contains(label)).unwrap().apply(files, true);
    // The view fixed, but no test that counts: the page passes, the tests do not.
    let mut view_only = p.files.clone();
    toggle(&mut view_only, "select_related");
    let r = check(&mut lab, check_spec(&spec, Some(view_only.clone()), None));
    assert!(r.runs[0].passed && r.runs[1].passed, "{r:?}");
    let tests = r.runs.iter().find(|r| r.data == "your tests.py").expect("the tests are judged");
    assert!(!tests.passed && tests.message.contains("none of them would catch"), "{tests:?}");
    // The counting test without the fix fails on the learner's own view.
    let mut test_only = p.files.clone();
    toggle(&mut test_only, "assertNumQueries");
    let r = check(&mut lab, check_spec(&spec, Some(test_only), None));
    let tests = r.runs.iter().find(|r| r.data == "your tests.py").unwrap();
    assert!(!tests.passed && tests.message.contains("fails on your view"), "{tests:?}");
    // Both: the test fails on the starting view and passes on the learner's.
    let mut both = view_only;
    toggle(&mut both, "assertNumQueries");
    let r = check(&mut lab, check_spec(&spec, Some(both), None));
    assert!(r.passed, "{r:?}");
    assert!(r.runs[2].message.contains("fails on the starting one"), "{:?}", r.runs[2]);
}

#[test]
fn the_indexes_exercise_wants_the_index_that_serves_the_query() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: Some(5000) }, &mut |_| {});
    let (_, spec) = labs().into_iter().find(|(n, _)| n.ends_with("indexes")).unwrap();
    let p = spec.project.as_ref().unwrap();
    let with = |lab: &mut Lab, i: usize| {
        let mut c = check_spec(&spec, None, None);
        if let protocol::CheckSpec::Project { project, .. } = &mut c {
            project.migrations.push(p.migration_toggles[i].migration.clone());
        }
        check(lab, c)
    };
    let start = check(&mut lab, check_spec(&spec, None, None));
    assert!(start.runs[0].message.starts_with("the database read 5000 rows, the goal is at most 50"), "{}", start.runs[0].message);
    let wrong = with(&mut lab, 0);
    assert!(!wrong.passed && wrong.runs[0].message.contains("rows, the goal is at most 50"), "{wrong:?}");
    let right = with(&mut lab, 1);
    assert!(right.passed, "{right:?}");
    assert!(right.runs[1].data.contains("hidden"), "{right:?}");
}

fn compare(lab: &mut Lab, a: protocol::CompareRun, b: protocol::CompareRun) -> (protocol::CompareSide, protocol::CompareSide) {
    let mut got = None;
    lab.handle(Request::Compare { id: 5, a, b }, &mut |r| got = Some(r));
    match got {
        Some(Response::Compared { a, b, .. }) => (a, b),
        other => panic!("{other:?}"),
    }
}

#[test]
fn compare_runs_a_lab_with_a_toggle_off_and_on_and_plans_each_statement() {
    use protocol::CompareRun;
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 1000, tasks: None }, &mut |_| {});
    // A migration toggle: the pagination lab's deep page, without and with the index on its ORDER BY.
    let spec = labs().into_iter().find(|(n, _)| n.ends_with("pagination")).unwrap().1;
    let p = spec.project.unwrap();
    let base = ProjectSpec { files: p.files.clone(), urls: p.urls.clone(), migrations: p.migrations.clone() };
    let mut indexed = base.clone();
    indexed.migrations.push(p.migration_toggles[0].migration.clone());
    let steps = vec![Step::Get { url: "/articles/by-cursor/?cursor=2024-06-01%2000:00:00~100".into(), user: None, worker: None, into_previous: None }];
    let (a, b) = compare(&mut lab, CompareRun::Project { project: base.clone(), steps: steps.clone() }, CompareRun::Project { project: indexed, steps });
    let (ra, rb) = (a.render.unwrap(), b.render.unwrap());
    assert_eq!((a.status, b.status), (Some(200), Some(200)));
    assert_eq!(ra.output, rb.output, "an index changes the cost, never the page");
    let read = |r: &protocol::RenderReport| r.queries.iter().map(|q| q.rows_read).sum::<u64>();
    assert!(read(&ra) > 10 * read(&rb), "rows read without the index {} vs with {}", read(&ra), read(&rb));
    assert!(a.plans[0].plan.contains("SCAN articles_article") && a.plans[0].plan.contains("USE TEMP B-TREE FOR ORDER BY"), "{}", a.plans[0].plan);
    assert!(b.plans[0].plan.contains("article_created_id_idx") && !b.plans[0].plan.contains("TEMP B-TREE"), "{}", b.plans[0].plan);
    // The next load drops the index B added: the lab is back to its own migrations.
    let (again, _) = compare(&mut lab, CompareRun::Project { project: base.clone(), steps: vec![Step::Get { url: "/articles/".into(), user: None, worker: None, into_previous: None }] }, CompareRun::Project { project: base, steps: vec![] });
    assert!(!again.plans.iter().any(|p| p.plan.contains("article_created_id_idx")), "{:?}", again.plans);

    // An expression toggle: the N+1 lab, the similar queries counted once with their plan.
    let spec = labs().into_iter().find(|(n, _)| n.ends_with("n-plus-one")).unwrap().1;
    let mut fixed = spec.context.clone();
    for t in &spec.toggles {
        fixed[0].1 = t.apply(&fixed[0].1, true);
    }
    let (a, b) = compare(
        &mut lab,
        CompareRun::Expression { context: spec.context.clone(), template: spec.template.clone() },
        CompareRun::Expression { context: fixed, template: spec.template.clone() },
    );
    assert_eq!((a.render.as_ref().unwrap().n_queries, b.render.as_ref().unwrap().n_queries), (41, 2));
    assert_eq!(a.plans.iter().map(|p| p.count).collect::<Vec<_>>(), vec![1, 20, 20]);
    assert!(a.plans[1].plan.contains("SEARCH auth_user USING INTEGER PRIMARY KEY (rowid=?)"), "{}", a.plans[1].plan);
    // A side that fails says why, and the other side still runs.
    let (bad, good) = compare(
        &mut lab,
        CompareRun::Expression { context: vec![("articles".into(), "Article.objects.filter(nope=1)".into())], template: "x".into() },
        CompareRun::Expression { context: spec.context.clone(), template: spec.template.clone() },
    );
    assert_eq!(bad.error.unwrap().kind, "FieldError");
    assert!(good.error.is_none() && good.render.is_some());
}

fn step(lab: &mut Lab, step: Step) -> protocol::StepReport {
    let mut got = None;
    lab.handle(Request::Step { id: 3, step: step.clone() }, &mut |r| got = Some(r));
    match got {
        Some(Response::StepResult { report, .. }) if report.error.is_none() => report,
        other => panic!("{step:?}: {other:?}"),
    }
}

#[test]
fn the_depth_chart_pages_by_offset_and_by_cursor_and_only_offset_climbs() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 10_000, tasks: None }, &mut |_| {});
    let spec = labs().into_iter().find(|(n, _)| n.ends_with("pagination")).unwrap().1;
    let p = spec.project.unwrap();
    let mut migrations = p.migrations.clone();
    migrations.push(p.migration_toggles[0].migration.clone());
    let mut got = None;
    lab.handle(Request::Project { id: 1, project: ProjectSpec { files: p.files.clone(), urls: p.urls.clone(), migrations } }, &mut |r| got = Some(r));
    assert!(matches!(got, Some(Response::ProjectLoaded { .. })), "{got:?}");
    let (offset, cursor) = (&p.sweeps[0], &p.sweeps[1]);
    assert_eq!(offset.x_label, cursor.x_label, "one chart for both lines");
    let read = |r: &protocol::StepReport| r.render.queries.iter().map(|q| q.rows_read).sum::<u64>();
    let (mut by_offset, mut by_cursor, mut first_titles) = (vec![], vec![], vec![]);
    for n in [1u32, 100, 375] {
        let r = step(&mut lab, Step::Get { url: offset.url.replace("{n}", &n.to_string()), user: None, worker: None, into_previous: None });
        by_offset.push(read(&r));
        first_titles.push(r.render.output.lines().nth(1).unwrap_or("").to_string());
        // As the page does: the shell line prints the cursor, which goes into the URL.
        let printed = step(&mut lab, Step::Run { code: cursor.cursor.as_ref().unwrap().replace("{n}", &n.to_string()) }).render.output;
        let token = printed.trim().trim_matches('\'').replace(' ', "%20");
        let r = step(&mut lab, Step::Get { url: cursor.url.replace("{cursor}", &token), user: None, worker: None, into_previous: None });
        by_cursor.push(read(&r));
        assert_eq!(r.render.output.lines().nth(1).unwrap_or(""), first_titles.last().unwrap(), "page {n}: the cursor opens the same page as the offset");
    }
    // Every offset page pays the paginator's COUNT (a scan of the table), then walks past the
    // rows it skips: 20 rows a page deeper.
    assert!(by_offset[2] > by_offset[0] + 5_000, "offset rows read by depth: {by_offset:?}");
    assert!(by_cursor.iter().all(|r| *r < 100), "cursor rows read by depth: {by_cursor:?}");
}

fn measure(lab: &mut Lab, run: protocol::CompareRun, articles: u32, tasks: Option<u32>) -> protocol::CompareSide {
    let mut got = None;
    lab.handle(Request::Measure { id: 7, run, articles, tasks }, &mut |r| got = Some(r));
    match got {
        Some(Response::Measured { side, .. }) => side,
        other => panic!("{other:?}"),
    }
}

#[test]
fn growth_points_are_measured_on_scratch_databases_and_leave_the_learners_alone() {
    use protocol::CompareRun;
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    // The indexes lab's triage page at growing table sizes, without and with the index.
    let spec = labs().into_iter().find(|(n, _)| n.ends_with("indexes")).unwrap().1;
    let p = spec.project.unwrap();
    let plain = ProjectSpec { files: p.files.clone(), urls: p.urls.clone(), migrations: p.migrations.clone() };
    let mut indexed = plain.clone();
    indexed.migrations.push(p.migration_toggles[1].migration.clone());
    let steps = vec![Step::Get { url: "/tasks/open/".into(), user: None, worker: None, into_previous: None }];
    let read = |s: &protocol::CompareSide| s.render.as_ref().map(|r| r.queries.iter().map(|q| q.rows_read).sum::<u64>()).unwrap_or_else(|| panic!("{:?}", s.error));
    let mut without = vec![];
    let mut with = vec![];
    for n in [1_000u32, 10_000] {
        without.push(read(&measure(&mut lab, CompareRun::Project { project: plain.clone(), steps: steps.clone() }, 200, Some(n))));
        with.push(read(&measure(&mut lab, CompareRun::Project { project: indexed.clone(), steps: steps.clone() }, 200, Some(n))));
    }
    assert!(without[1] >= 10_000 && without[0] >= 1_000, "a scan reads the table: {without:?}");
    assert!(with[1] < 100 && with[0] < 100, "the index reads a page's worth: {with:?}");
    // The learner's database still has its 200 articles and its own tasks.
    let mut got = None;
    lab.handle(Request::Sql { id: 8, sql: "SELECT COUNT(*) FROM tasks_task".into() }, &mut |r| got = Some(r));
    let Some(Response::SqlResult { rows, .. }) = got else { panic!("{got:?}") };
    assert_eq!(rows[0][0], "100");
    // An expression lab: the unbounded list fetches every published article, so rows grow.
    let spec = labs().into_iter().find(|(n, _)| n.ends_with("fast-enough")).unwrap().1;
    let fetched = |s: protocol::CompareSide| s.render.map(|r| r.queries.iter().map(|q| q.rows).sum::<usize>()).unwrap();
    let small = fetched(measure(&mut lab, CompareRun::Expression { context: spec.context.clone(), template: spec.template.clone() }, 50, None));
    let big = fetched(measure(&mut lab, CompareRun::Expression { context: spec.context.clone(), template: spec.template.clone() }, 1_000, None));
    assert!(big > 10 * small, "rows fetched at 50 and 1,000 articles: {small}, {big}");
    // A size the seed refuses is a message, not a panic.
    let broken = measure(&mut lab, CompareRun::Expression { context: vec![("x".into(), "Article.objects.nope()".into())], template: "{{ x }}".into() }, 50, None);
    assert_eq!(broken.error.unwrap().kind, "AttributeError");
}

#[test]
fn explain_gives_the_plan_of_a_logged_statement_on_the_database_as_it_is() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    let explain = |lab: &mut Lab, sql: &str| {
        let mut got = None;
        lab.handle(Request::Explain { id: 4, sql: sql.into() }, &mut |r| got = Some(r));
        got.unwrap()
    };
    let sql = "SELECT \"tasks_task\".\"id\" FROM \"tasks_task\" WHERE \"tasks_task\".\"status\" = 'open' ORDER BY \"tasks_task\".\"created_at\" DESC";
    let Response::Explained { plan, .. } = explain(&mut lab, sql) else { panic!() };
    assert_eq!(plan, "SCAN tasks_task\nUSE TEMP B-TREE FOR ORDER BY");
    lab.handle(Request::Sql { id: 5, sql: "CREATE INDEX t_s ON tasks_task (status, created_at DESC)".into() }, &mut |_| {});
    let Response::Explained { plan, .. } = explain(&mut lab, sql) else { panic!() };
    assert_eq!(plan, "SEARCH tasks_task USING COVERING INDEX t_s (status=?)");
    // Nothing but one statement, and never one that would hurt the engine.
    assert!(matches!(explain(&mut lab, "SELECT 1; DROP TABLE tasks_task"), Response::Error { .. }));
    let Response::Explained { plan, .. } = explain(&mut lab, "SELECT nope FROM tasks_task") else { panic!() };
    assert!(plan.starts_with("(no plan: "), "{plan}");
}

#[test]
fn indexes_declared_in_models_py_are_migrated_and_checked_as_django_checks_them() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: Some(5_000) }, &mut |_| {});
    let spec = labs().into_iter().find(|(n, _)| n.ends_with("indexes")).unwrap().1;
    let p = spec.project.unwrap();
    let with_models = |text: &str| {
        let mut files = p.files.clone();
        let m = files.iter_mut().find(|(n, _)| n == "tasks/models.py").expect("the lab has tasks/models.py");
        m.1 = m.1.replace("        indexes = [\n        ]", text);
        assert!(m.1.contains(text), "the edit applies");
        ProjectSpec { files, urls: p.urls.clone(), migrations: p.migrations.clone() }
    };
    let load = |lab: &mut Lab, spec: ProjectSpec| {
        let mut got = None;
        lab.handle(Request::Project { id: 1, project: spec }, &mut |r| got = Some(r));
        got.unwrap()
    };
    let triage_read = |lab: &mut Lab| step(lab, Step::Get { url: "/tasks/open/".into(), user: None, worker: None, into_previous: None }).render.queries.iter().map(|q| q.rows_read).sum::<u64>();
    let plain = load(&mut lab, with_models("        indexes = [\n        ]"));
    assert!(matches!(plain, Response::ProjectLoaded { .. }), "{plain:?}");
    let scan = triage_read(&mut lab);
    assert!(scan >= 5_000, "no index: {scan}");
    // Meta.indexes: the migration Django writes, applied.
    let Response::ProjectLoaded { migrations, .. } = load(&mut lab, with_models("        indexes = [\n            models.Index(fields=[\"status\", \"-created_at\"], name=\"task_status_created_idx\"),\n        ]")) else { panic!() };
    assert_eq!(migrations.len(), 1);
    assert!(migrations[0].1.contains("CREATE INDEX \"task_status_created_idx\" ON \"tasks_task\" (\"status\", \"created_at\" DESC);"), "{}", migrations[0].1);
    let indexed = triage_read(&mut lab);
    assert!(indexed < 50, "with the index: {indexed}");
    // A typo is Django's system check, at its line; the database keeps the index it had.
    let bad = load(&mut lab, with_models("        indexes = [\n            models.Index(fields=[\"stauts\", \"-created_at\"], name=\"task_status_created_idx\"),\n        ]"));
    let Response::Error { error, .. } = bad else { panic!("{bad:?}") };
    assert_eq!(error.kind, "SystemCheckError");
    assert!(error.message.contains("tasks.Task: (models.E012) 'indexes' refers to the nonexistent field 'stauts'."), "{}", error.message);
    assert_eq!(error.source.as_deref(), Some("tasks/models.py"));
    assert!(error.line.is_some_and(|l| l > 20), "{error:?}");
    let mut got = None;
    lab.handle(Request::Explain { id: 2, sql: "SELECT id FROM tasks_task WHERE status = 'open' ORDER BY created_at DESC".into() }, &mut |r| got = Some(r));
    assert!(matches!(&got, Some(Response::Explained { plan, .. }) if plan.contains("task_status_created_idx")), "{got:?}");
    // Django's other checks on index names.
    let message = |lab: &mut Lab, text: &str| match load(lab, with_models(text)) {
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
    let Response::ProjectLoaded { migrations, .. } = load(&mut lab, with_models("        indexes = [models.Index(fields=[\"status\", \"-created_at\"])]")) else { panic!() };
    assert!(migrations[0].1.contains("CREATE INDEX \"tasks_task_status_a96e51_idx\""), "{}", migrations[0].1);
    let mut files = p.files.clone();
    let m = files.iter_mut().find(|(n, _)| n == "tasks/models.py").unwrap();
    m.1 = m.1.replace("status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)", "status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)");
    let Response::ProjectLoaded { migrations, .. } = load(&mut lab, ProjectSpec { files, urls: p.urls.clone(), migrations: vec![] }) else { panic!() };
    assert!(migrations[0].0.contains("migrations.AlterField") && migrations[0].1.contains("ON \"tasks_task\" (\"status\")"), "{migrations:?}");
    let plain = load(&mut lab, with_models("        indexes = [\n        ]"));
    assert!(matches!(plain, Response::ProjectLoaded { ref migrations, .. } if migrations.is_empty()));
    assert!(triage_read(&mut lab) >= 5_000, "every index the file no longer declares is dropped");
}

#[test]
fn each_worker_has_its_own_locmem_cache_until_settings_name_a_shared_backend() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    let spec = labs().into_iter().find(|(n, _)| n.ends_with("shared-cache")).unwrap().1;
    let p = spec.project.as_ref().unwrap();
    assert_eq!(p.workers, 2);
    // locmem: worker 2 fills its own cache, then serves the old list after worker 1's save.
    assert_eq!(timeline_states(&mut lab, &spec, p.files.clone()), ["miss", "miss", "hit", "-", "miss", "stale"]);
    // Redis: one cache for both workers; the receiver's delete reaches everyone.
    let mut shared = p.files.clone();
    p.toggles[0].apply(&mut shared, true);
    assert_eq!(timeline_states(&mut lab, &spec, shared), ["miss", "hit", "hit", "-", "miss", "hit"]);
    // The last page shows the new title either way on worker 1; on worker 2 only when shared.
    let last = step(&mut lab, Step::Get { url: "/".into(), user: None, worker: Some(2), into_previous: None });
    assert!(last.render.output.contains("Renamed on worker 1"), "{}", last.render.output);
    assert_eq!(last.label, "GET / on worker 2");
}

/// The transactions lab's timeline with some toggles on: per step (label, error or status,
/// seconds waited for the write lock, seconds on the clock, the SQL's first words).
fn lock_timeline(lab: &mut Lab, spec: &LabSpec, on: &[&str]) -> Vec<(String, String, f64, f64, Vec<String>)> {
    let p = spec.project.as_ref().unwrap();
    let mut files = p.files.clone();
    for t in p.toggles.iter().filter(|t| on.iter().any(|o| t.label.contains(o))) {
        t.apply(&mut files, true);
    }
    let mut got = None;
    lab.handle(Request::Project { id: 1, project: ProjectSpec { files, urls: p.urls.clone(), migrations: vec![] } }, &mut |r| got = Some(r));
    assert!(matches!(got, Some(Response::ProjectLoaded { .. })), "{got:?}");
    p.timeline
        .iter()
        .map(|s| {
            let mut got = None;
            lab.handle(Request::Step { id: 2, step: s.clone() }, &mut |r| got = Some(r));
            let Some(Response::StepResult { report: r, .. }) = got else { panic!("{s:?}: {got:?}") };
            let outcome = match &r.error {
                Some(e) => format!("{}: {}", e.kind, e.message),
                None => r.status.map(|s| s.to_string()).unwrap_or_default(),
            };
            let span = r.span.clone().unwrap_or_else(|| panic!("{}: no span", r.label));
            let sql = r.render.queries.iter().map(|q| q.sql.split_whitespace().take(2).collect::<Vec<_>>().join(" ")).collect();
            (r.label, outcome, span.waited_s, span.elapsed_s, sql)
        })
        .collect()
}

#[test]
fn a_long_transaction_makes_the_other_worker_wait_or_fail_and_a_short_one_does_not() {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 200, tasks: None }, &mut |_| {});
    let spec = labs().into_iter().find(|(n, _)| n.ends_with("transactions")).unwrap().1;
    // The start: the newsletter's 3 s inside atomic(); the second request, 1 s in, waits 2 s.
    let start = lock_timeline(&mut lab, &spec, &[]);
    assert_eq!(start[0].1, "200");
    assert_eq!((start[0].2, start[0].3), (0.0, 3.0));
    assert_eq!(start[1].0, "GET /tasks/3/done/ on worker 2, 1 s into the previous");
    assert_eq!((start[1].1.as_str(), start[1].2, start[1].3), ("200", 2.0, 2.0));
    // A 7 s e-mail: the second request gives up after the 5 s timeout.
    let slow = lock_timeline(&mut lab, &spec, &["7 s"]);
    assert_eq!((slow[1].1.as_str(), slow[1].2), ("OperationalError: database is locked", 5.0));
    // The newsletter after the commit: no wait, whatever the e-mail's speed.
    let short = lock_timeline(&mut lab, &spec, &["7 s", "on_commit"]);
    assert_eq!((short[1].1.as_str(), short[1].2), ("200", 0.0));
    assert_eq!(short[0].3, 7.0, "publish still takes the e-mail's time: {short:?}");
    // Read, then write, in a DEFERRED transaction: fails at once, no waiting.
    let read_first = lock_timeline(&mut lab, &spec, &["reads the task first"]);
    assert_eq!((read_first[1].1.as_str(), read_first[1].2), ("OperationalError: database is locked", 0.0));
    // BEGIN IMMEDIATE takes the lock before the read: it waits its turn instead.
    let immediate = lock_timeline(&mut lab, &spec, &["reads the task first", "IMMEDIATE"]);
    assert_eq!((immediate[1].1.as_str(), immediate[1].2), ("200", 2.0));
    assert_eq!(immediate[1].4[0], "BEGIN IMMEDIATE");
    assert_eq!(read_first[1].4[0], "BEGIN");
}
