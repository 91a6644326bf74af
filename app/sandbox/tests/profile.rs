//! The per-line profile of a step: which line of `views.py` and of a template ran, how often,
//! for how long, and which queries it sent — with a lazy QuerySet's queries also on the line
//! that built it, recursion counted once, and the deterministic counters the same from run to
//! run.

use protocol::{LineProfile, ProjectSpec, Request, Response, Step, StepReport};
use sandbox::lab::Lab;

fn seeded() -> Lab {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 60, tasks: None }, &mut |_| {});
    lab
}

fn step(lab: &mut Lab, files: &[(&str, &str)], step: Step) -> StepReport {
    let project = ProjectSpec {
        files: files.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect(),
        urls: vec![("".into(), "page".into(), None)],
        migrations: vec![],
    };
    let mut loaded = false;
    lab.handle(Request::Load { id: 1, project, fresh: false, lesson: None }, &mut |r| loaded |= matches!(r, Response::Loaded { .. }));
    assert!(loaded);
    let mut got = None;
    lab.handle(Request::Step { id: 2, step }, &mut |r| if r.is_final() { got = Some(r) });
    match got {
        Some(Response::StepResult { report, .. }) => report,
        other => panic!("{other:?}"),
    }
}

fn get() -> Step {
    Step::Get { url: "/".into(), user: None, worker: None, into_previous: None, http: None }
}

fn line<'a>(r: &'a StepReport, file: &str, n: u32) -> &'a LineProfile {
    r.lines.iter().find(|l| l.file == file && l.line == n).unwrap_or_else(|| panic!("no {file}:{n} in {:#?}", r.lines))
}

const VIEWS: &str = "from django.shortcuts import render\nfrom articles.models import Article\n\n\ndef page(request):\n    articles = Article.objects.order_by(\"id\")[:20]\n    return render(request, \"page.html\", {\"articles\": articles})\n";
const PAGE: &str = "<ul>\n{% for a in articles %}\n<li>{{ a.title }} by {{ a.author.username }}</li>\n{% endfor %}\n</ul>\n";

#[test]
fn the_n_plus_one_line_holds_its_queries_and_the_view_line_holds_the_lazy_querysets() {
    let mut lab = seeded();
    let r = step(&mut lab, &[("views.py", VIEWS), ("templates/page.html", PAGE)], get());
    assert_eq!(r.render.n_queries, 21);
    let loop_line = line(&r, "templates/page.html", 2);
    assert_eq!((loop_line.hits, loop_line.self_queries), (1, 1));
    assert_eq!(loop_line.code, "{% for a in articles %}");
    let author = line(&r, "templates/page.html", 3);
    assert_eq!(author.self_queries, 20, "{author:?}");
    assert_eq!(author.hits, 40, "two tags on the line, twenty turns");
    assert_eq!(author.rows_read, r.render.queries.iter().filter(|q| q.sql.contains("auth_user")).map(|q| q.rows_read).sum::<u64>());
    // The view's QuerySet line sent nothing itself; the template's loop sent its query.
    let built = line(&r, "views.py", 6);
    assert_eq!((built.self_queries, built.lazy_queries), (0, 1), "{built:?}");
    // The render line holds every query with what it called, and its time covers the template's.
    let render = line(&r, "views.py", 7);
    assert_eq!((render.queries, render.self_queries), (21, 0));
    assert!(render.total_ms >= author.total_ms + loop_line.total_ms - 1e-9, "{render:?}");
    assert!(render.self_ms <= render.total_ms);
    // Labels name the template.
    assert!(r.render.queries.iter().any(|q| q.origin.as_deref() == Some("page.html line 3: {{ a.author.username }}")), "{:?}", r.render.queries[1].origin);
}

#[test]
fn after_the_fix_the_author_line_sends_nothing_and_the_view_line_holds_the_query() {
    let mut lab = seeded();
    let fixed = VIEWS.replace("order_by(\"id\")", "select_related(\"author\").order_by(\"id\")");
    let r = step(&mut lab, &[("views.py", &fixed), ("templates/page.html", PAGE)], get());
    assert_eq!(r.render.n_queries, 1);
    assert_eq!(line(&r, "templates/page.html", 3).queries, 0);
    assert_eq!(line(&r, "views.py", 6).lazy_queries, 1);
}

#[test]
fn a_recursive_function_counts_its_total_once_and_counters_repeat_exactly() {
    let views = "from django.http import HttpResponse\n\n\ndef fact(n):\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)\n\n\ndef page(request):\n    return HttpResponse(str(fact(10)))\n";
    let mut lab = seeded();
    let a = step(&mut lab, &[("views.py", views)], get());
    assert_eq!(a.error, None);
    let rec = line(&a, "views.py", 7);
    assert_eq!(rec.hits, 9);
    let call = line(&a, "views.py", 11);
    // The outer call's total holds every nested call once: not more than the view's own time.
    assert!(rec.total_ms <= call.total_ms + 1e-9, "{rec:?} / {call:?}");
    assert_eq!(line(&a, "views.py", 5).hits, 10);
    let b = step(&mut lab, &[("views.py", views)], get());
    let counters = |r: &StepReport| r.lines.iter().map(|l| (l.file.clone(), l.line, l.hits, l.queries, l.self_queries, l.rows_read, l.steps)).collect::<Vec<_>>();
    assert_eq!(counters(&a), counters(&b));
}

#[test]
fn a_test_run_and_a_shell_line_have_profiles_too() {
    let tests = "from django.test import TestCase\nfrom articles.models import Article\n\n\nclass T(TestCase):\n    def test_count(self):\n        self.assertEqual(Article.objects.filter(pk=-1).count(), 0)\n";
    let mut lab = seeded();
    let r = step(&mut lab, &[("views.py", VIEWS), ("templates/page.html", PAGE), ("tests.py", tests)], Step::Test { file: "tests.py".into() });
    assert_eq!(line(&r, "tests.py", 7).self_queries, 1, "{:#?}", r.lines);
    let r = step(&mut lab, &[("views.py", VIEWS), ("templates/page.html", PAGE)], Step::Run { code: "Article.objects.count()".into(), worker: None });
    assert_eq!(r.lines.iter().map(|l| l.self_queries).sum::<usize>(), 1, "{:#?}", r.lines);
}
