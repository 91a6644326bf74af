//! The engine and the lab compiled to wasm32-unknown-unknown, run by wasm-bindgen-test-runner
//! (in Node): proves the JavaScript clock is wired in (a plain MemoryIO clock panics in wasm),
//! and that the N+1 lab counts the same queries in wasm as natively.
#![cfg(target_arch = "wasm32")]

use protocol::{Request, Response};
use sandbox::lab::Lab;
use wasm_bindgen_test::wasm_bindgen_test;

fn setup() -> Lab {
    sandbox::clock::set_clocks(js_sys::Date::now, js_sys::Date::now);
    let mut lab = Lab::new();
    let mut seeded = false;
    lab.handle(Request::Seed { id: 1, articles: 200, tasks: None }, &mut |r| seeded |= matches!(r, Response::Seeded { .. }));
    assert!(seeded);
    lab
}

fn n_queries(lab: &mut Lab, expr: &str) -> usize {
    let template = "{% for a in articles %}{{ a.author.username }}{% for t in a.tags.all %}{{ t.name }}{% endfor %}{% endfor %}";
    let views = format!("from django.shortcuts import render\nfrom articles.models import Article\n\n\ndef page(request):\n    return render(request, \"page.html\", {{\"articles\": {expr}}})\n");
    let project = protocol::ProjectSpec { files: vec![("views.py".into(), views), ("templates/page.html".into(), template.into())], urls: vec![("".into(), "page".into(), None)], migrations: vec![] };
    let mut loaded = false;
    lab.handle(Request::Load { id: 2, project, fresh: false, lesson: None }, &mut |r| loaded |= matches!(r, Response::Loaded { .. }));
    assert!(loaded);
    let mut got = None;
    lab.handle(Request::Step { id: 3, step: protocol::Step::Get { url: "/".into(), user: None, worker: None, into_previous: None, http: None } }, &mut |r| got = Some(r));
    match got {
        Some(Response::StepResult { report, .. }) => report.render.n_queries,
        other => panic!("{other:?}"),
    }
}

/// A check runs on copies of a freshly seeded image: in wasm too.
#[wasm_bindgen_test]
fn an_image_of_the_data_opens_in_wasm() {
    let mut image_source = sandbox::engine::Engine::open_memory().unwrap();
    image_source.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3);").unwrap();
    let image = image_source.image().unwrap();
    let mut copy = sandbox::engine::Engine::from_image(&image).unwrap();
    copy.run("DELETE FROM t", &[]).unwrap();
    let n = image_source.run("SELECT count(*) FROM t", &[]).unwrap().rows[0][0].clone();
    assert_eq!(n, sandbox::engine::SqlValue::Int(3));
}

#[wasm_bindgen_test]
fn n_plus_one_lab_counts_in_wasm() {
    let mut lab = setup();
    assert_eq!(n_queries(&mut lab, "Article.objects.published()[:20]"), 41);
    assert_eq!(n_queries(&mut lab, "Article.objects.published().select_related('author').prefetch_related('tags')[:20]"), 2);
}

#[wasm_bindgen_test]
fn runaway_sql_is_stopped_in_wasm() {
    let mut lab = setup();
    let mut got = None;
    lab.handle(
        Request::Sql { id: 3, sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c".into() },
        &mut |r| got = Some(r),
    );
    match got {
        Some(Response::Error { error, .. }) => assert_eq!(error.kind, "Stopped", "{error:?}"),
        other => panic!("{other:?}"),
    }
    let mut ok = false;
    lab.handle(Request::Sql { id: 4, sql: "SELECT count(*) FROM articles_article".into() }, &mut |r| ok |= matches!(r, Response::SqlResult { .. }));
    assert!(ok, "the engine still answers after an interrupted statement");
}

#[wasm_bindgen_test]
fn clock_sql_is_refused_before_it_reaches_the_engine() {
    let mut lab = setup();
    for sql in ["SELECT datetime('now')", "SELECT CURRENT_TIMESTAMP"] {
        let mut got = None;
        lab.handle(Request::Sql { id: 5, sql: sql.into() }, &mut |r| got = Some(r));
        assert!(matches!(got, Some(Response::Error { .. })), "{sql}: {got:?}");
    }
}

/// The engine in wasm is built without ICU's locale tailorings (app/icu-root): a tailored
/// locale is refused by name, as SQLite refuses a collation it lacks; SQLite's own still work.
#[wasm_bindgen_test]
fn a_tailored_locale_collation_is_refused_in_wasm() {
    let mut lab = setup();
    let mut sql = |s: &str| {
        let mut got = None;
        lab.handle(Request::Sql { id: 6, sql: s.into() }, &mut |r| got = Some(r));
        got
    };
    match sql("SELECT 'a' < 'B' COLLATE sv") {
        Some(Response::Error { error, .. }) => assert!(error.message.contains("no such collation sequence: sv"), "{error:?}"),
        other => panic!("{other:?}"),
    }
    match sql("SELECT 'abc' = 'ABC' COLLATE NOCASE") {
        Some(Response::SqlResult { rows, .. }) => assert_eq!(rows, vec![vec!["1".to_string()]]),
        other => panic!("{other:?}"),
    }
}

/// `BEGIN IMMEDIATE` (Django's `"transaction_mode": "IMMEDIATE"`) and the transactions lab's
/// check, whose reference solution uses it: the engine reads a clock of its own for a
/// write-transaction start, which would panic in wasm; the lab sends a plain `BEGIN` (one
/// connection needs no lock) and shows Django's statement.
#[wasm_bindgen_test]
fn transactions_in_immediate_mode_run_in_wasm() {
    let mut lab = setup();
    let views = "from django.db import transaction\nfrom django.http import HttpResponse\nfrom tasks.models import Task\n\n\ndef done(request, pk):\n    with transaction.atomic():\n        t = Task.objects.get(pk=pk)\n        t.status = 'done'\n        t.save()\n    return HttpResponse('ok')\n";
    let settings = "DATABASES = {\"default\": {\"ENGINE\": \"django.db.backends.sqlite3\", \"NAME\": \"db.sqlite3\", \"OPTIONS\": {\"transaction_mode\": \"IMMEDIATE\"}}}\n";
    let project = protocol::ProjectSpec { files: vec![("views.py".into(), views.into()), ("settings.py".into(), settings.into())], urls: vec![("done/<int:pk>/".into(), "done".into(), None)], migrations: vec![] };
    let mut loaded = false;
    lab.handle(Request::Load { id: 5, project, fresh: false, lesson: None }, &mut |r| loaded |= matches!(r, Response::Loaded { .. }));
    assert!(loaded);
    let mut got = None;
    lab.handle(Request::Step { id: 6, step: protocol::Step::Get { url: "/done/3/".into(), user: None, worker: None, into_previous: None, http: None } }, &mut |r| got = Some(r));
    match got {
        Some(Response::StepResult { report, .. }) => {
            assert_eq!(report.status, Some(200), "{report:?}");
            assert_eq!(report.render.queries[0].sql, "BEGIN IMMEDIATE");
        }
        other => panic!("{other:?}"),
    }
}

/// The default database shipped with the app is what seeding makes in wasm too, byte for byte
/// (it is made natively by `sandbox seed-image`).
#[wasm_bindgen_test]
fn the_built_in_database_is_what_seeding_makes_in_wasm() {
    sandbox::clock::set_clocks(js_sys::Date::now, js_sys::Date::now);
    let (image, _) = sandbox::images::seed_image(sandbox::images::BUILT_IN_SIZE, &mut |_, _| {}).unwrap();
    assert!(image.to_bytes() == sandbox::images::BUILT_IN, "seeding in wasm differs from the shipped image");
}
