//! Embeds the lessons (`lessons/NN-slug/lesson.md` + `lab.json`) in order of their prefix.
//! Fails the build on bad content, with a message saying what to fix: a lesson folder without
//! its two files, a duplicate slug, a `lab.json` that does not parse, a second title, a toggle
//! that names a missing file or text, a URL naming a view `views.py` lacks, an exercise
//! without hints or steps, a claim quoting a sentence the lesson does not have.

use std::fmt::Write;
use std::path::Path;


fn main() {
    let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../lessons");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("lessons/ folder")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let mut out = String::from("pub static LESSONS: &[LessonSource] = &[\n");
    let mut slugs = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (prefix, slug) = name.split_once('-').unwrap_or_else(|| panic!("lesson folder '{name}' must be NN-slug"));
        assert!(prefix.chars().all(|c| c.is_ascii_digit()), "lesson folder '{name}' must start with a number");
        assert!(!slugs.contains(&slug.to_string()), "duplicate lesson slug '{slug}'");
        slugs.push(slug.to_string());
        for file in ["lesson.md", "lab.json"] {
            let p = dir.join(file);
            assert!(p.exists(), "lesson '{name}' lacks {file}");
            println!("cargo:rerun-if-changed={}", p.display());
        }
        if let Err(problem) = check_lesson(&dir) {
            panic!("lessons/{name}: {problem}");
        }
        let embedded = Path::new(&std::env::var("OUT_DIR").unwrap()).join(format!("{slug}.lab.json"));
        std::fs::write(&embedded, embedded_lab(&dir.join("lab.json"))).unwrap();
        let prose = Path::new(&std::env::var("OUT_DIR").unwrap()).join(format!("{slug}.prose.json"));
        let blocks = protocol::prose::parse(&std::fs::read_to_string(dir.join("lesson.md")).unwrap());
        std::fs::write(&prose, serde_json::to_string(&blocks).unwrap()).unwrap();
        writeln!(
            out,
            "    LessonSource {{ slug: {slug:?}, #[cfg(feature = \"prose\")] prose_json: include_str!({:?}), lab_json: include_str!({:?}) }},",
            prose, embedded
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("lessons.rs");
    std::fs::write(dest, out).unwrap();
}

/// The lab as the page and the worker need it: compact, and without the claims and wrong
/// answers, which only the curriculum self-check reads (from `lessons/` on disk). Every copy
/// in the site costs bytes twice, once in the page and once in the engine worker.
fn embedded_lab(path: &Path) -> String {
    let mut lab: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if let Some(project) = lab.get_mut("project").and_then(|p| p.as_object_mut()) {
        project.remove("claims");
        if let Some(exercises) = project.get_mut("exercises").and_then(|e| e.as_array_mut()) {
            for ex in exercises.iter_mut().filter_map(|e| e.as_object_mut()) {
                ex.remove("wrong_answers");
            }
        }
    }
    serde_json::to_string(&lab).unwrap()
}

/// What a lesson must satisfy for the page to show it.
fn check_lesson(dir: &Path) -> Result<(), String> {
    let md = std::fs::read_to_string(dir.join("lesson.md")).map_err(|e| format!("lesson.md: {e}"))?;
    if md.trim_start().starts_with("# ") {
        return Err("lesson.md starts with a '# ' title; the title lives in lab.json (\"title\"), remove the heading".into());
    }
    let text = std::fs::read_to_string(dir.join("lab.json")).map_err(|e| format!("lab.json: {e}"))?;
    let lab: protocol::lesson::Lab = serde_json::from_str(&text).map_err(|e| format!("lab.json does not parse: {e}"))?;
    if lab.title.trim().is_empty() || lab.summary.trim().is_empty() {
        return Err("lab.json needs a \"title\" and a \"summary\"".into());
    }
    for (i, q) in lab.quiz.iter().enumerate() {
        let n = i + 1;
        if q.question.trim().is_empty() || q.why.trim().is_empty() {
            return Err(format!("quiz question {n}: needs a \"question\" and a \"why\" (shown once the learner checks)"));
        }
        if !(2..=6).contains(&q.options.len()) {
            return Err(format!("quiz question {n}: 2 to 6 \"options\", got {}", q.options.len()));
        }
        if q.answer >= q.options.len() {
            return Err(format!("quiz question {n}: \"answer\" is {} but the options are numbered 0 to {}", q.answer, q.options.len() - 1));
        }
        if (1..q.options.len()).any(|k| q.options[..k].contains(&q.options[k])) {
            return Err(format!("quiz question {n}: two options are the same"));
        }
    }
    let Some(p) = &lab.project else {
        if lab.checklist.is_empty() {
            return Err("lab.json needs a \"project\" (a lab) or a \"checklist\" (a reading lesson)".into());
        }
        return Ok(());
    };
    let file = |name: &str| p.files.iter().find(|(n, _)| n == name).map(|(_, s)| s.as_str());
    let views = file("views.py").ok_or("a lab needs a views.py file")?;
    for (route, view, _) in &p.urls {
        if !views.contains(&format!("def {view}(")) {
            return Err(format!("URL {route:?} names the view {view:?}, which views.py does not define"));
        }
    }
    for t in &p.toggles {
        if let protocol::lesson::Toggle::File(t) = t {
            let src = file(&t.file).ok_or_else(|| format!("toggle {:?} names the file {:?}, which the project does not have", t.label, t.file))?;
            if !src.contains(&t.off) && !src.contains(&t.on) {
                return Err(format!("toggle {:?}: neither its \"off\" nor its \"on\" text is in {}", t.label, t.file));
            }
        }
    }
    for sw in &p.sweeps {
        if !sw.url.starts_with('/') || !(sw.url.contains("{n}") || sw.seed.is_some() || sw.cursor.is_some()) {
            return Err(format!("sweep {:?}: its url must start with '/' and contain {{n}} (unless the sweep reseeds or has a cursor)", sw.label));
        }
        if let Some(code) = &sw.cursor {
            if !code.contains("{n}") || !sw.url.contains("{cursor}") {
                return Err(format!("sweep {:?}: with a \"cursor\" line, the line must contain {{n}} and the url {{cursor}}", sw.label));
            }
        }
        if sw.values.is_empty() || sw.values.len() > protocol::lesson::MAX_SWEEP_POINTS {
            return Err(format!("sweep {:?}: 1 to {} values", sw.label, protocol::lesson::MAX_SWEEP_POINTS));
        }
        match sw.seed.as_deref() {
            None => {}
            Some("articles" | "tasks") => {
                if sw.values.iter().any(|v| *v > protocol::lesson::MAX_SWEEP_SEED) {
                    return Err(format!("sweep {:?}: seeds at most {} rows per point", sw.label, protocol::lesson::MAX_SWEEP_SEED));
                }
            }
            Some(other) => return Err(format!("sweep {:?}: seed {other:?} is neither \"articles\" nor \"tasks\"", sw.label)),
        }
    }
    if let Some(bad) = p.requests.iter().find(|r| !r.starts_with('/')) {
        return Err(format!("request {bad:?} must start with '/'"));
    }
    let mut before = 0;
    for (k, ex) in p.exercises.iter().enumerate() {
        let name = ex.title.as_ref().map_or("the exercise".to_string(), |t| format!("step {t:?}"));
        if !ex.goal.steps.iter().any(|s| matches!(s, protocol::Step::Get { .. })) {
            return Err(format!("{name} needs \"steps\" with at least one GET for its check to judge"));
        }
        if ex.goal.hints.iter().all(|h| h.trim().is_empty()) {
            return Err(format!("{name} has no \"hints\": give at least one, shown before the solution"));
        }
        if p.toggles.is_empty() {
            return Err(format!("{name}: the lab has no toggles, and an exercise's reference solution is made of them"));
        }
        let n = ex.solution_toggles.unwrap_or(p.toggles.len());
        if n == 0 || n > p.toggles.len() || (k > 0 && n <= before) {
            return Err(format!("{name}: \"solution_toggles\" is how many of the lab's {} toggles its solution turns on, more than the step before", p.toggles.len()));
        }
        before = n;
        if p.exercises.len() > 1 && ex.title.is_none() {
            return Err(format!("exercise {} of a lab with several: give each a \"title\"", k + 1));
        }
        for w in &ex.wrong_answers {
            if w.fails_with.trim().is_empty() || w.did.trim().is_empty() {
                return Err(format!("{name}: a wrong answer needs \"did\" and \"fails_with\""));
            }
            if w.toggles.iter().any(|i| *i >= p.toggles.len()) {
                return Err(format!("{name}: wrong answer {:?} names a toggle the lab does not have", w.did));
            }
        }
    }
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let prose = squeeze(&md);
    for c in &p.claims {
        if !prose.contains(&squeeze(&c.says)) {
            return Err(format!("a claim quotes a sentence lesson.md does not have: {:?}", c.says));
        }
        if c.steps.is_empty() || c.expect.is_empty() {
            return Err(format!("claim {:?}: needs \"steps\" and \"expect\"", c.says));
        }
        if let Err(e) = protocol::timeline::parse(&c.steps.join("\n")) {
            return Err(format!("claim {:?}: steps, {e}", c.says));
        }
        if c.toggles.iter().any(|i| *i >= p.toggles.len()) {
            return Err(format!("claim {:?} names a toggle the lab does not have", c.says));
        }
    }
    Ok(())
}
