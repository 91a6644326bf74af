//! What learners throw at the sandbox ("Django code and templates"):
//! every input ends in a result or a clear, positioned error, never a panic.

use protocol::{ProjectSpec, RenderReport, Request, Response, Step};
use sandbox::lab::Lab;

fn seeded() -> Lab {
    let mut lab = Lab::new();
    lab.handle(Request::Seed { id: 0, articles: 60, tasks: None }, &mut |_| {});
    lab
}

fn ask(lab: &mut Lab, req: Request) -> Response {
    let mut got = None;
    lab.handle(req, &mut |r| if r.is_final() { got = Some(r) });
    got.expect("every request is answered")
}

/// What a learner types into a lab's views.py and template: `qs = <expr>` in a view that
/// renders `template`; the page, or the error (at load or during the request).
fn run(lab: &mut Lab, expr: &str, template: &str) -> Result<RenderReport, (String, String)> {
    let views = format!(
        "from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q\nfrom django.shortcuts import render\n\nfrom articles.models import Article, Tag\n\n\ndef page(request):\n    qs = {expr}\n    return render(request, \"page.html\", {{\"qs\": qs}})\n"
    );
    let project = ProjectSpec { files: vec![("views.py".into(), views), ("templates/page.html".into(), template.into())], urls: vec![("".into(), "page".into(), None)], migrations: vec![] };
    match ask(lab, Request::Load { id: 1, project, fresh: false, lesson: None }) {
        Response::Loaded { .. } => {}
        Response::Error { error, .. } => return Err((error.kind, error.message)),
        other => panic!("{other:?}"),
    }
    match ask(lab, Request::Step { id: 2, step: Step::Get { url: "/".into(), user: None, worker: None, into_previous: None, http: None } }) {
        Response::StepResult { report, .. } => match report.error {
            Some(e) => Err((e.kind, e.message)),
            None => Ok(report.render),
        },
        Response::Error { error, .. } => Err((error.kind, error.message)),
        other => panic!("{other:?}"),
    }
}

fn error_of(r: &Result<RenderReport, (String, String)>) -> Option<(String, String)> {
    r.as_ref().err().cloned()
}

#[test]
fn a_valid_expression_cut_at_every_position_never_panics() {
    let mut lab = seeded();
    let full = "Article.objects.filter(Q(status='published') | ~Q(title__icontains=\"x\"), author__username__in=['user001']).select_related('author').prefetch_related(Prefetch('tags', queryset=Tag.objects.order_by('-name'), to_attr='t')).order_by('-created_at')[2:5]";
    let mut errors = 0;
    for cut in 0..=full.len() {
        if !full.is_char_boundary(cut) {
            continue;
        }
        let r = run(&mut lab, &full[..cut], "{% for a in qs %}{{ a.title }}{% endfor %}");
        if let Err((_, message)) = &r {
            errors += 1;
            assert!(!message.is_empty());
        }
    }
    assert!(errors > full.len() / 2, "most prefixes are not valid Python ({errors})");
    assert!(run(&mut lab, full, "{% for a in qs %}{{ a.title }}{% endfor %}").is_ok());
}

#[test]
fn a_valid_template_cut_at_every_position_never_panics() {
    let mut lab = seeded();
    let full = "{% load cache %}{% cache 60 list qs %}{% for a in qs %}{% if a.status == 'draft' and not forloop.first %}{{ a.title|truncatechars:8|upper }}{% elif a.tags.count > 1 %}{% with n=a.tags.count %}{{ n|pluralize }}{% endwith %}{% else %}{{ a.created_at|date:'Y-m-d' }}{% endif %}{% empty %}none{% endfor %}{% endcache %}";
    for cut in 0..=full.len() {
        let _ = run(&mut lab, "Article.objects.order_by('id')[:3]", &full[..cut]);
    }
    assert!(run(&mut lab, "Article.objects.order_by('id')[:3]", full).is_ok());
}

#[test]
fn mistakes_get_djangos_messages() {
    let mut lab = seeded();
    let cases: &[(&str, &str, &str, &str)] = &[
        ("Article.objects.filter(title__foo='x')", "{{ qs }}", "FieldError", "Unsupported lookup 'foo' for CharField"),
        ("Article.objects.select_related('tags')", "{{ qs }}", "FieldError", "Invalid field name(s) given in select_related: 'tags'. Choices are: author"),
        ("Article.objects.prefetch_related('writer')", "{{ qs }}", "AttributeError", "Cannot find 'writer' on Article object"),
        ("Article.objects.order_by('titel')", "{{ qs }}", "FieldError", "Cannot resolve keyword 'titel' into field"),
        ("Article.objects.get(id=999999)", "", "DoesNotExist", "Article matching query does not exist."),
        ("Article.objects.get(status='draft')", "", "MultipleObjectsReturned", "get() returned more than one Article"),
        ("Article.objects.filter(1)", "", "TypeError", "cannot unpack non-iterable int object"),
        ("Article.objects.filter(Count('id'))", "", "TypeError", "Cannot filter against a non-conditional expression"),
        ("Article.objects.filter(id='abc')", "", "ValueError", "Field 'id' expected a number but got 'abc'."),
        ("Article.objects.all()[-3:]", "", "ValueError", "Negative indexing is not supported."),
        ("Article.objects.all()[:5].filter(id=1)", "", "TypeError", "Cannot filter a query once a slice has been taken."),
        ("Article.objects.all()", "{% load cache %}{% cache abc frag %}x{% endcache %}", "TemplateSyntaxError", "non-integer timeout"),
        ("Article.objects.all()", "{% frobnicate %}", "TemplateSyntaxError", "Invalid block tag on line 1: 'frobnicate'"),
        ("Article.objects.all()", "{% cache 60 x %}{% endcache %}", "TemplateSyntaxError", "Invalid block tag"),
        ("Article.objects.all()", "{% if %}x{% endif %}", "TemplateSyntaxError", "Unexpected end of expression in if tag."),
    ];
    for (expr, template, kind, message) in cases {
        let r = run(&mut lab, expr, template);
        let (k, m) = error_of(&r).unwrap_or_else(|| panic!("{expr} / {template}: expected an error, got {r:?}"));
        assert_eq!(&k, kind, "{expr} / {template}: {m}");
        assert!(m.contains(message), "{expr} / {template}: {m}");
    }
}

#[test]
fn huge_and_deep_inputs_are_bounded() {
    let mut lab = seeded();
    // A huge slice is just a LIMIT.
    assert!(run(&mut lab, "Article.objects.order_by('id')[:1000000000]", "{{ qs|length }}").is_ok());
    // Deep nesting is refused, not a stack overflow.
    let deep = format!("{}Q(id=1){}", "(".repeat(500), ")".repeat(500));
    assert!(error_of(&run(&mut lab, &format!("Article.objects.filter({deep})"), "")).is_some());
    let deep_tpl = "{% if 1 %}".repeat(500) + &"{% endif %}".repeat(500);
    assert!(error_of(&run(&mut lab, "Article.objects.all()", &deep_tpl)).is_some());
    // A 10,000-item IN list runs.
    let ids: Vec<String> = (1..=10_000).map(|i| i.to_string()).collect();
    let r = run(&mut lab, &format!("Article.objects.filter(id__in=[{}])", ids.join(", ")), "{{ qs.count }}");
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn markup_from_data_and_code_is_escaped() {
    let mut lab = seeded();
    let r = run(&mut lab, "Article.objects.filter(id=7)", "{% for a in qs %}{{ a.title }}|{{ a.title|lower }}{% endfor %}");
    let out = &r.expect("renders").output;
    assert!(out.contains("&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt; &amp; other &quot;tricks&quot;"), "{out}");
    assert!(!out.contains('<'), "{out}");
    // A string from the learner's Python is data too.
    let r = run(&mut lab, "'<img src=x onerror=alert(1)> javascript:alert(1)'", "<a href=\"{{ qs }}\">{{ qs|upper }}</a>");
    assert_eq!(r.expect("renders").output, "<a href=\"&lt;img src=x onerror=alert(1)&gt; javascript:alert(1)\">&lt;IMG SRC=X ONERROR=ALERT(1)&gt; JAVASCRIPT:ALERT(1)</a>");
    // As in Django, a string literal written in the template itself is not escaped.
    let r = run(&mut lab, "1", "{{ '<b>' }}");
    assert_eq!(r.expect("renders").output, "<b>");
}

#[test]
fn telling_stale_from_hit_replays_the_request_without_keeping_its_writes() {
    let mut lab = seeded();
    let view = "from django.core.cache import cache\nfrom django.http import HttpResponse\nfrom articles.models import Tag\n\n\ndef visit(request):\n    k = Tag.objects.count()\n    Tag.objects.create(name=f'visit-{k}', slug=f'visit-{k}')\n    n = cache.get('n')\n    if n is None:\n        n = Tag.objects.count()\n        cache.set('n', n)\n    return HttpResponse(str(n))\n";
    let project = ProjectSpec { files: vec![("views.py".into(), view.into())], urls: vec![("visit/".into(), "visit".into(), None)], migrations: vec![] };
    let got = ask(&mut lab, Request::Load { id: 1, project, fresh: false, lesson: None });
    assert!(matches!(got, Response::Loaded { .. }), "{got:?}");
    let step = |lab: &mut Lab, step: Step| {
        let mut got = None;
        lab.handle(Request::Step { id: 2, step }, &mut |r| got = Some(r));
        let Some(Response::StepResult { report, .. }) = got else { panic!("{got:?}") };
        assert!(report.error.is_none(), "{:?}", report.error);
        report
    };
    let get = || Step::Get { url: "/visit/".into(), user: None, worker: None, into_previous: None, http: None };
    assert_eq!(step(&mut lab, get()).cache.map(|c| c.name()).as_deref(), Some("value miss"));
    let second = step(&mut lab, get());
    assert_eq!(second.cache.map(|c| c.name()).as_deref(), Some("value stale"), "each visit adds a tag, so the cached count is behind");
    // The replay's INSERT was rolled back, and its queries are not in the step's log.
    assert_eq!(second.render.n_queries, 2, "{:?}", second.render.queries);
    let out = step(&mut lab, Step::Run { code: "Tag.objects.filter(name__startswith='visit').count()".into(), worker: None });
    assert_eq!(out.render.output.trim(), "2");
}

/// The lock model runs the earlier of two overlapping requests as if alone; when one of its
/// writes falls inside the later request's transaction, the later step says so instead of
/// pretending the interleaving happened. A bad `transaction_mode` is Django's
/// ImproperlyConfigured; a negative sleep is Python's ValueError.
#[test]
fn overlapping_requests_say_what_the_lab_cannot_interleave() {
    let mut lab = seeded();
    let views = "import time\nfrom django.db import transaction\nfrom django.http import HttpResponse\nfrom tasks.models import Task\n\n\ndef late_write(request):\n    time.sleep(2)\n    Task.objects.filter(pk=1).update(status='done')\n    return HttpResponse('late')\n\n\ndef long_tx(request):\n    with transaction.atomic():\n        Task.objects.filter(pk=2).update(status='done')\n        time.sleep(3)\n    return HttpResponse('long')\n\n\ndef nap(request):\n    time.sleep(-1)\n    return HttpResponse('never')\n";
    let load = |lab: &mut Lab, settings: Option<&str>| {
        let mut files = vec![("views.py".to_string(), views.to_string())];
        if let Some(s) = settings {
            files.push(("settings.py".into(), s.into()));
        }
        let urls = vec![("late/".into(), "late_write".into(), None), ("long/".into(), "long_tx".into(), None), ("nap/".into(), "nap".into(), None)];
        ask(lab, Request::Load { id: 1, project: ProjectSpec { files, urls, migrations: vec![] }, fresh: false, lesson: None })
    };
    assert!(matches!(load(&mut lab, None), Response::Loaded { .. }));
    let step = |lab: &mut Lab, url: &str, worker: Option<u8>, into_previous: Option<f64>| {
        let mut got = None;
        lab.handle(Request::Step { id: 2, step: Step::Get { url: url.into(), user: None, worker, into_previous, http: None } }, &mut |r| got = Some(r));
        let Some(Response::StepResult { report, .. }) = got else { panic!("{got:?}") };
        report
    };
    let first = step(&mut lab, "/late/", Some(1), None);
    assert_eq!(first.span.as_ref().map(|s| s.elapsed_s), Some(2.0));
    // Worker 2 starts 1 s in and holds the lock from 09:00:01 to 09:00:04; worker 1 wrote at 09:00:02.
    let second = step(&mut lab, "/long/", Some(2), Some(1.0));
    assert!(second.error.is_none(), "{:?}", second.error);
    assert!(second.warnings.iter().any(|w| w.contains("worker 1's earlier request wrote at 09:00:02") && w.contains("(09:00:01 to 09:00:04)")), "{:?}", second.warnings);
    // The clock ends where the later of the two ended.
    assert!(second.clock.ends_with("09:00:04"), "{}", second.clock);
    let nap = step(&mut lab, "/nap/", None, None);
    assert_eq!(nap.error.as_ref().map(|e| (e.kind.as_str(), e.message.as_str())), Some(("ValueError", "sleep length must be non-negative")));
    let bad = "DATABASES = {\"default\": {\"OPTIONS\": {\"transaction_mode\": \"LAZY\"}}}\n";
    match load(&mut lab, Some(bad)) {
        Response::Error { error, .. } => {
            assert_eq!(error.kind, "ImproperlyConfigured");
            assert!(error.message.contains("'LAZY'. Use one of 'DEFERRED', 'EXCLUSIVE', 'IMMEDIATE', or None."), "{}", error.message);
        }
        other => panic!("{other:?}"),
    }
}

/// The engine is built without ICU's locale tailorings (app/icu-root): SQLite's own collations
/// and the root order work; a tailored locale fails as SQLite fails for any collation it lacks.
/// (Built without `.ci/setup.sh`'s ICU4X_DATA_DIR, `COLLATE da` and `sv` would succeed and
/// this fails.)
#[test]
fn collations_are_sqlites_own_and_a_locale_is_refused_by_name() {
    let mut lab = seeded();
    let mut sql = |s: &str| match ask(&mut lab, Request::Sql { id: 9, sql: s.into() }) {
        Response::SqlResult { rows, .. } => Ok(rows),
        Response::Error { error, .. } => Err(error.message),
        other => panic!("{other:?}"),
    };
    assert_eq!(sql("SELECT 'abc' = 'ABC' COLLATE NOCASE, 'a ' = 'a' COLLATE RTRIM, 'a' < 'B' COLLATE BINARY").unwrap(), vec![vec!["1", "1", "0"]]);
    let err = sql("SELECT 'a' < 'B' COLLATE da").unwrap_err();
    assert!(err.contains("no such collation sequence: da"), "{err}");
    // German sorts as the root order does (ICU has no tailoring for it): still available.
    assert_eq!(sql("SELECT 'a' < 'B' COLLATE de").unwrap(), vec![vec!["1"]]);
    let err = sql("SELECT title FROM articles_article ORDER BY title COLLATE sv LIMIT 1").unwrap_err();
    assert!(err.contains("no such collation sequence: sv"), "{err}");
}

/// A related manager's queryset is built once per relation and reused with each owner's id
/// (`RelatedManager::rel_filtered_again`): every owner in an N+1 loop must still get its own
/// rows — the same as a prefetch, which reads them all in one query and never reuses.
#[test]
fn each_owner_in_an_n_plus_one_loop_gets_its_own_related_rows() {
    let mut lab = seeded();
    let cases = [
        // many-to-many, forward and reverse; a reverse foreign key
        ("Article.objects.order_by('pk')", "[:40]", "tags", "{% for a in qs %}{{ a.pk }}:{% for t in a.tags.all %}{{ t.pk }},{% endfor %};{% endfor %}"),
        ("Tag.objects.order_by('pk')", "", "articles", "{% for t in qs %}{{ t.pk }}:{% for a in t.articles.all %}{{ a.pk }},{% endfor %};{% endfor %}"),
        ("Article.objects.order_by('pk')", "[:40]", "author__articles", "{% for a in qs %}{{ a.pk }}:{% for b in a.author.articles.all %}{{ b.pk }},{% endfor %};{% endfor %}"),
    ];
    for (qs, slice, prefetch, template) in cases {
        let expr = format!("{qs}{slice}");
        let lazy = run(&mut lab, &expr, template).unwrap_or_else(|e| panic!("{expr}: {e:?}"));
        let with_prefetch = format!("{qs}.prefetch_related('{prefetch}'){slice}");
        let prefetched = run(&mut lab, &with_prefetch, template).unwrap_or_else(|e| panic!("{with_prefetch}: {e:?}"));
        assert!(lazy.n_queries > 10 && prefetched.n_queries <= 3, "{expr}: {} vs {} queries", lazy.n_queries, prefetched.n_queries);
        assert_eq!(lazy.output, prefetched.output, "{expr}");
        let groups: std::collections::HashSet<&str> = lazy.output.split(';').filter_map(|g| g.split(':').nth(1)).collect();
        assert!(groups.len() > 5, "{expr}: {}", lazy.output);
    }
}

#[test]
fn an_endless_counter_read_whole_is_refused_with_what_to_do_instead() {
    let mut lab = seeded();
    let views = "import itertools\nfrom django.http import HttpResponse\n\n\ndef page(request):\n    numbered = list(zip(itertools.count(1), 'ab'))\n    return HttpResponse(repr(numbered) + ' ' + repr(sorted(itertools.count())))\n";
    let project = ProjectSpec { files: vec![("views.py".into(), views.into())], urls: vec![("".into(), "page".into(), None)], migrations: vec![] };
    assert!(matches!(ask(&mut lab, Request::Load { id: 1, project, fresh: false, lesson: None }), Response::Loaded { .. }));
    let Response::StepResult { report, .. } = ask(&mut lab, Request::Step { id: 2, step: Step::Get { url: "/".into(), user: None, worker: None, into_previous: None, http: None } }) else {
        panic!("a step result")
    };
    let e = report.error.expect("sorted(count()) cannot end");
    assert_eq!(e.kind, "NotSupported");
    assert!(e.message.contains("never ends") && e.message.contains("next()") && e.message.contains("islice()"), "{}", e.message);
}

#[test]
fn a_raw_query_that_never_ends_or_escapes_is_stopped_and_the_next_request_works() {
    let mut lab = seeded();
    let views = "from django.http import HttpResponse\nfrom articles.models import Article\n\n\ndef endless(request):\n    rows = Article.objects.raw('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x AS id FROM c')\n    return HttpResponse(len(rows))\n\n\ndef attach(request):\n    return HttpResponse(len(Article.objects.raw(\"ATTACH DATABASE 'x.db' AS x\")))\n\n\ndef fine(request):\n    return HttpResponse(','.join(a.title for a in Article.objects.raw('SELECT id, title FROM articles_article WHERE id < %s ORDER BY id', [3])))\n";
    let urls = ["endless", "attach", "fine"].iter().map(|v| (format!("{v}/"), v.to_string(), None)).collect();
    let project = ProjectSpec { files: vec![("views.py".into(), views.into())], urls, migrations: vec![] };
    assert!(matches!(ask(&mut lab, Request::Load { id: 1, project, fresh: false, lesson: None }), Response::Loaded { .. }));
    let get = |lab: &mut _, id, url: &str| {
        let Response::StepResult { report, .. } = ask(lab, Request::Step { id, step: Step::Get { url: url.into(), user: None, worker: None, into_previous: None, http: None } }) else {
            panic!("a step result")
        };
        report
    };
    let endless = get(&mut lab, 2, "/endless/").error.expect("the recursive query cannot end");
    assert_eq!(endless.kind, "Stopped", "{}", endless.message);
    let attach = get(&mut lab, 3, "/attach/").error.expect("ATTACH is refused");
    assert!(attach.message.contains("ATTACH is not available"), "{}", attach.message);
    let fine = get(&mut lab, 4, "/fine/");
    assert!(fine.error.is_none(), "{:?}", fine.error);
    assert_eq!(fine.render.n_queries, 1);
    assert_eq!(fine.render.output.split(',').count(), 2, "{}", fine.render.output);
}
