//! Honest timings: a read-only page is timed over several runs in the same state (the median is
//! shown, the first run kept beside it), without changing what the learner sees; a page that
//! writes runs once.

use protocol::{ProjectSpec, RenderReport, Request, Response, Step};
use sandbox::lab::Lab;

/// A view that renders `template` with `articles = <expr>`, requested `renders` times (the
/// project loaded once per call: Django's state, the cache included, starts over).
fn run(lab: &mut Lab, expr: &str, template: &str, renders: u32) -> Vec<RenderReport> {
    let views = format!("from django.shortcuts import render\nfrom articles.models import Article\n\n\ndef page(request):\n    return render(request, \"page.html\", {{\"articles\": {expr}}})\n");
    let project = ProjectSpec { files: vec![("views.py".into(), views), ("templates/page.html".into(), template.into())], urls: vec![("".into(), "page".into(), None)], migrations: vec![] };
    let mut loaded = false;
    lab.handle(Request::Load { id: 1, project, fresh: false, lesson: None }, &mut |r| loaded |= matches!(r, Response::Loaded { .. }));
    assert!(loaded);
    (0..renders)
        .map(|_| {
            let mut got = None;
            lab.handle(Request::Step { id: 2, step: Step::Get { url: "/".into(), user: None, worker: None, into_previous: None, http: None } }, &mut |r| got = Some(r));
            match got {
                Some(Response::StepResult { report, .. }) if report.error.is_none() => report.render,
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

fn seeded() -> Lab {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 60, tasks: None }, &mut |_| {});
    lab
}

#[test]
fn a_read_only_page_is_the_median_of_several_runs_with_the_first_kept() {
    let mut lab = seeded();
    let r = &run(&mut lab, "Article.objects.published()[:20]", "{% for a in articles %}{{ a.author.username }}{% endfor %}", 1)[0];
    assert_eq!(r.n_queries, 21);
    assert!(r.timing.runs > 1, "{:?}", r.timing);
    assert!(r.timing.min_ms <= r.request_ms && r.request_ms <= r.timing.max_ms, "{:?} / {}", r.timing, r.request_ms);
    assert!(r.timing.min_ms <= r.timing.first_ms && r.timing.first_ms <= r.timing.max_ms);
    // The repeats do not add to the log the learner reads.
    assert_eq!(r.queries.len(), 21);
    // Both times come from the same (median) run: the engine's share is never the larger.
    assert!(r.sql_ms <= r.request_ms, "sql {} > request {}", r.sql_ms, r.request_ms);
}

#[test]
fn repeats_start_from_the_same_cache_state_so_a_cached_fragment_still_reads_as_miss_then_hit() {
    let mut lab = seeded();
    let template = "{% load cache %}{% cache 60 list %}{% for a in articles %}{{ a.title }}{% endfor %}{% endcache %}";
    let renders = run(&mut lab, "Article.objects.published()[:5]", template, 2);
    // First render: a miss that queries; second: a hit with no query, as without the repeats.
    assert_eq!(renders[0].n_queries, 1);
    assert_eq!(renders[1].n_queries, 0);
    assert!(renders[0].timing.runs > 1 && renders[1].timing.runs > 1);
    // The fill the learner caused stays: the next request (cache kept) is a hit at once.
    let mut got = None;
    lab.handle(Request::Step { id: 3, step: Step::Get { url: "/".into(), user: None, worker: None, into_previous: None, http: None } }, &mut |r| got = Some(r));
    let Some(Response::StepResult { report, .. }) = got else { panic!() };
    assert_eq!(report.render.n_queries, 0);
}

#[test]
fn a_page_that_writes_runs_once_and_its_effect_happens_once() {
    let mut lab = seeded();
    let before = run(&mut lab, "Article.objects.filter(title__startswith='Timed ')", "{{ articles|length }}", 1);
    assert_eq!(before[0].output.trim(), "0");
    let wrote = run(&mut lab, "Article.objects.filter(pk=1).update(title='Timed once')", "{{ articles }}", 1);
    assert_eq!(wrote[0].timing.runs, 1, "{:?}", wrote[0].timing);
    let after = run(&mut lab, "Article.objects.filter(title__startswith='Timed ')", "{{ articles|length }}", 1);
    assert_eq!(after[0].output.trim(), "1");
}

#[test]
fn the_first_request_after_seeding_is_marked_when_it_runs_alone() {
    let mut lab = seeded();
    let wrote = run(&mut lab, "Article.objects.filter(pk=2).update(title='Cold write')", "{{ articles }}", 1);
    assert!(wrote[0].timing.cold, "the first request since the engine loaded: {:?}", wrote[0].timing);
    let second = run(&mut lab, "Article.objects.filter(pk=3).update(title='Warm write')", "{{ articles }}", 1);
    assert!(!second[0].timing.cold, "{:?}", second[0].timing);
}
