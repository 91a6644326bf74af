//! `sandbox run-cases --db PATH CASES.json` and `sandbox run-project --db PATH CASES.json`: the
//! headless contracts for tests and benchmarks (app/sandbox/CONTRACTS.md).

use std::process::ExitCode;

use sandbox::cases::{run_case, Case};
use sandbox::django::steps::{run_case as run_case_project, ProjectCase};
use sandbox::engine::Engine;

const USAGE: &str = "usage: sandbox run-cases --db PATH CASES.json\n       sandbox run-project --db PATH CASES.json\n       sandbox bench --db PATH [--per-page N] [--repeat R]\n       sandbox seed-image OUT\n       sandbox check-course LESSONS_DIR [--lesson NAME]\n       sandbox try LESSON_DIR [--on 0,1] [--articles N] [--tasks N] STEP...";

/// The article-list page of the benchmark; the same text as tests/django_ref/bench_django.py.
const BENCH_TEMPLATE: &str = "{% for a in articles %}<li>{{ a.title }} by {{ a.author.username }}: {% for t in a.tags.all %}{{ t.name }}{% if not forloop.last %}, {% endif %}{% endfor %}</li>{% endfor %}";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The interpreter and the template engine recurse: give them a roomy stack.
    let worker = std::thread::Builder::new().stack_size(256 << 20).spawn(move || run(&args));
    let result = match worker {
        Ok(h) => h.join().unwrap_or_else(|_| Err("the sandbox crashed (a bug: please report it)".into())),
        Err(e) => Err(format!("cannot start: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("sandbox: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let mut db = None;
    let mut cases_path = None;
    let mut it = args.iter();
    let project = match it.next().map(String::as_str) {
        Some("run-cases") => false,
        Some("run-project") => true,
        Some("bench") => return bench(&args[1..]),
        Some("seed-image") => {
            // The default database shipped with the app (images.rs: BUILT_IN).
            let out = args.get(1).ok_or("usage: sandbox seed-image OUT")?;
            let (image, _) = sandbox::images::seed_image(sandbox::images::BUILT_IN_SIZE, &mut |_, _| {}).map_err(|e| format!("{e:?}"))?;
            return std::fs::write(out, image.to_bytes()).map_err(|e| e.to_string());
        }
        Some("check-course") => return check_course(&args[1..]),
        Some("try") => return try_lab(&args[1..]),
        _ => return Err(USAGE.into()),
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--db" => db = Some(it.next().ok_or(USAGE)?.clone()),
            other if cases_path.is_none() && !other.starts_with("--") => cases_path = Some(other.to_string()),
            other => return Err(format!("unexpected argument '{other}'\n{USAGE}")),
        }
    }
    let (db, cases_path) = (db.ok_or(USAGE)?, cases_path.ok_or(USAGE)?);
    let text = std::fs::read_to_string(&cases_path).map_err(|e| format!("cannot read {cases_path}: {e}"))?;
    if project {
        return run_project(&db, &cases_path, &text);
    }
    let cases: Vec<Case> = serde_json::from_str(&text).map_err(|e| format!("{cases_path} is not a JSON array of cases: {e}"))?;
    let engine = Engine::open_file_copy(std::path::Path::new(&db)).map_err(|e| e.to_string())?;
    let rt = sandbox::django::host::runtime(engine);
    let results: Vec<_> = cases.iter().map(|c| run_case(&rt, c)).collect();
    println!("{}", serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?);
    Ok(())
}

/// `run-project`: every case on a fresh copy of the database file.
fn run_project(db: &str, cases_path: &str, text: &str) -> Result<(), String> {
    let raw: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| format!("{cases_path} is not a JSON array of cases: {e}"))?;
    let mut results = Vec::new();
    for c in raw {
        let name = c.get("name").and_then(|v| v.as_str()).unwrap_or("?").to_string();
        let case: ProjectCase = match serde_json::from_value(c) {
            Ok(c) => c,
            Err(e) => {
                results.push(serde_json::json!({"name": name, "error": format!("ValueError: the case is not in the run-project format: {e}")}));
                continue;
            }
        };
        // Each case starts from the file's data: a fresh copy for each.
        let engine = Engine::open_file_copy(std::path::Path::new(db)).map_err(|e| e.to_string())?;
        let rt = sandbox::django::host::runtime(engine);
        results.push(run_case_project(&rt, &case));
    }
    println!("{}", serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?);
    Ok(())
}

/// The curriculum self-check (what `cargo test` runs), with its summary line.
fn check_course(args: &[String]) -> Result<(), String> {
    let dir = args.first().ok_or(USAGE)?;
    let only = args.iter().position(|a| a == "--lesson").and_then(|i| args.get(i + 1));
    let lessons: Vec<_> = sandbox::course::read_lessons(std::path::Path::new(dir))?.into_iter().filter(|l| only.is_none_or(|o| l.name.contains(o.as_str()))).collect();
    let report = sandbox::course::self_check(&lessons, &[200, 1000]);
    println!("{}", report.summary());
    if report.ok() {
        Ok(())
    } else {
        Err(report.problems())
    }
}

/// A lesson's lab with some toggles on, steps run: what each step showed (for writing claims).
fn try_lab(args: &[String]) -> Result<(), String> {
    let dir = std::path::PathBuf::from(args.first().ok_or(USAGE)?);
    let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let lesson = sandbox::course::read_lessons(dir.parent().ok_or(USAGE)?)?.into_iter().find(|l| l.name == name).ok_or("no such lesson")?;
    let mut claim = protocol::lesson::Claim { says: String::new(), toggles: vec![], edits: vec![], articles: None, tasks: None, steps: vec![], expect: vec![] };
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--on" => claim.toggles = it.next().ok_or(USAGE)?.split(',').filter_map(|x| x.parse().ok()).collect(),
            "--articles" => claim.articles = it.next().and_then(|x| x.parse().ok()),
            "--tasks" => claim.tasks = it.next().and_then(|x| x.parse().ok()),
            step => claim.steps.push(step.to_string()),
        }
    }
    let p = lesson.lab.project.as_ref().ok_or("a reading lesson")?;
    let reports = sandbox::course::run_claim(&mut sandbox::images::Images::default(), p, &claim)?;
    for (i, r) in reports.iter().enumerate() {
        let rows: usize = r.render.queries.iter().map(|q| q.rows).sum();
        let read: u64 = r.render.queries.iter().map(|q| q.rows_read).sum();
        println!(
            "## step {} `{}`: status {:?}, {} queries, {rows} rows, {read} rows read, cache {:?}, tests `{}`, {:.2} ms (SQL {:.2} ms)",
            i + 1,
            r.label,
            r.status,
            r.render.n_queries,
            r.cache.map(|c| c.name()),
            sandbox::course::tests_summary(r),
            r.render.request_ms,
            r.render.sql_ms
        );
        if let Some(e) = &r.error {
            println!("   error: {}: {}", e.kind, e.message);
        }
        if let Some(f) = r.first_run {
            println!("   first run: {:.2} ms, view {:?} ms", f.request_ms, f.view_ms);
        }
        for t in &r.templates {
            println!("   template {} x{}: {:.2} ms, {} queries", t.name, t.renders, t.ms, t.queries);
        }
        for l in &r.lines {
            println!(
                "   line {}:{} x{} total {:.2} self {:.2} ms, queries {} (self {}, lazy {}), read {}, steps {}: {}",
                l.file, l.line, l.hits, l.total_ms, l.self_ms, l.queries, l.self_queries, l.lazy_queries, l.rows_read, l.steps, l.code
            );
        }
        for g in &r.render.groups {
            println!("   group x{}: {} {:?}", g.count, g.sql, g.n_plus_one);
        }
        for u in &r.render.unbounded {
            println!("   {u}");
        }
        for (k, v) in &r.headers {
            println!("   header {k}: {v}");
        }
        if let Some(s) = &r.span {
            println!("   span: waited {} slept {} elapsed {} note {:?}", s.waited_s, s.slept_s, s.elapsed_s, s.note);
        }
        for q in &r.render.queries {
            println!("   sql [{} rows, {} read]: {}", q.rows, q.rows_read, q.sql);
        }
        let out = format!("{}{}", r.stdout, r.render.output);
        println!("   out: {}", out.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(600).collect::<String>());
        for t in &r.tests {
            println!("   test {} {}: {}", t.outcome.as_str(), t.name, t.message);
        }
    }
    Ok(())
}

/// Times the article-list page (N+1 and fixed) natively, as bench_django.py times it in Django.
fn bench(args: &[String]) -> Result<(), String> {
    use sandbox::cases::render_once;
    use sandbox::template::Template;
    let mut db = None;
    let (mut per_page, mut repeat) = (50u32, 20u32);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| USAGE.to_string());
        match a.as_str() {
            "--db" => db = Some(value()?),
            "--per-page" => per_page = value()?.parse().map_err(|_| USAGE)?,
            "--repeat" => repeat = value()?.parse().map_err(|_| USAGE)?,
            other => return Err(format!("unexpected argument '{other}'\n{USAGE}")),
        }
    }
    let db = db.ok_or(USAGE)?;
    let engine = Engine::open_file_copy(std::path::Path::new(&db)).map_err(|e| e.to_string())?;
    let rt = sandbox::django::host::runtime(engine);
    let template = Template::parse(BENCH_TEMPLATE).map_err(|e| e.pretty())?;
    let variants = [
        ("n_plus_one", format!("Article.objects.published().order_by('-created_at')[:{per_page}]")),
        ("fixed", format!("Article.objects.published().order_by('-created_at').select_related('author').prefetch_related('tags')[:{per_page}]")),
    ];
    let mut out = serde_json::Map::new();
    let mut counts = Vec::new();
    for (name, expr) in &variants {
        let context = vec![("articles".to_string(), expr.clone())];
        let mut times = Vec::new();
        let mut sql_times = Vec::new();
        let mut n = 0;
        // One untimed render warms the statement cache, as Django's first request warms its own.
        for i in 0..=repeat {
            rt.begin_request(60_000.0);
            let start = std::time::Instant::now();
            render_once(&rt, &context, &template).map_err(|e| e.pretty())?;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            n = rt.n_queries();
            if i > 0 {
                times.push(ms);
                sql_times.push(rt.log.borrow().iter().map(|q| q.ms).sum::<f64>());
            }
        }
        times.sort_by(|a, b| a.total_cmp(b));
        sql_times.sort_by(|a, b| a.total_cmp(b));
        out.insert(format!("{name}_ms"), serde_json::json!(times[times.len() / 2]));
        out.insert(format!("{name}_sql_ms"), serde_json::json!(sql_times[sql_times.len() / 2]));
        counts.push(n);
    }
    out.insert("n_queries".into(), serde_json::json!(counts));
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}
