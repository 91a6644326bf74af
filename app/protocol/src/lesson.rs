//! Lesson labs as data: what `lessons/NN-slug/lab.json` holds, shared by the page (which
//! shows them) and the sandbox's content check (which proves each one teaches what it says).

use serde::{Deserialize, Serialize};

use crate::Migration;

/// A lab: either QuerySet expressions and a template (`context` + `template`), or a small
/// Django project (`project`), plus toggles and a goal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    pub title: String,
    pub summary: String,
    #[serde(default)]
    pub context: Vec<(String, String)>,
    #[serde(default)]
    pub template: String,
    #[serde(default)]
    pub toggles: Vec<Toggle>,
    pub goal: Option<Goal>,
    #[serde(default)]
    pub project: Option<ProjectLab>,
    /// A reading lesson's checklist (the production path): items the learner ticks and
    /// annotates, kept with their progress and downloadable as Markdown.
    #[serde(default)]
    pub checklist: Vec<String>,
    /// Where the lesson asks the learner to explain: multiple-choice questions.
    #[serde(default)]
    pub quiz: Vec<Question>,
    /// A multi-step lab (Labs A, B and C): one exercise per step instead of one `goal`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

/// One step of a multi-step project lab, with an exercise of its own. Each step builds on the
/// one before: its reference solution is the lab's first `toggles` file toggles turned on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Part {
    pub title: String,
    pub goal: Goal,
    pub toggles: usize,
}

/// One exercise of a lesson, as the page and the curriculum check see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Exercise<'a> {
    /// The progress entry it is kept under: the lesson's slug, or `slug#k` for step `k` of a lab.
    pub key: String,
    /// The step's title (none for a lesson's single exercise).
    pub title: Option<&'a str>,
    pub goal: &'a Goal,
    /// How many file toggles its reference solution turns on (`None`: all of them).
    pub toggles: Option<usize>,
}

/// A multiple-choice question, checked in the page (the answer is part of the lesson).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub question: String,
    pub options: Vec<String>,
    /// Index of the right option.
    pub answer: usize,
    /// Why the right option is right, shown once the learner checks.
    pub why: String,
}

impl Lab {
    /// The lesson's exercises: its `goal`, or one per step of a multi-step lab.
    pub fn exercises(&self, slug: &str) -> Vec<Exercise<'_>> {
        match &self.goal {
            Some(goal) => vec![Exercise { key: slug.to_string(), title: None, goal, toggles: None }],
            None => self
                .parts
                .iter()
                .enumerate()
                .map(|(k, p)| Exercise { key: format!("{slug}#{}", k + 1), title: Some(p.title.as_str()), goal: &p.goal, toggles: Some(p.toggles) })
                .collect(),
        }
    }

    /// Neither an expression lab nor a project: prose (and a checklist) only.
    pub fn is_reading(&self) -> bool {
        self.project.is_none() && self.context.is_empty()
    }
}

impl ProjectLab {
    /// The files with the first `n` toggles on (all of them for `None`): a reference solution.
    pub fn solved_files(&self, n: Option<usize>) -> Vec<(String, String)> {
        let mut files = self.files.clone();
        for t in self.toggles.iter().take(n.unwrap_or(usize::MAX)) {
            t.apply(&mut files, true);
        }
        files
    }
}

/// A lab that is a Django project: files the learner edits, URL routes, requests to try.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProjectLab {
    /// `views.py`, `templates/…`, `tests.py`, in tab order.
    pub files: Vec<(String, String)>,
    /// `[route, view function, "namespace:name"]`.
    pub urls: Vec<(String, String, Option<String>)>,
    #[serde(default)]
    pub migrations: Vec<Migration>,
    /// URLs offered in the address bar.
    #[serde(default)]
    pub requests: Vec<String>,
    /// Shell lines offered.
    #[serde(default)]
    pub shell: Vec<String>,
    #[serde(default)]
    pub toggles: Vec<FileToggle>,
    /// Checkboxes that add a migration (an index) to the project.
    #[serde(default)]
    pub migration_toggles: Vec<MigrationToggle>,
    /// Server processes the address bar can send to (2: a "worker" picker; each process has
    /// its own local-memory cache unless `settings.py` names a shared backend).
    #[serde(default = "one_worker")]
    pub workers: u8,
    /// Table sizes offered as numbers of tasks (the indexes lab); empty: sizes in articles.
    #[serde(default)]
    pub task_sizes: Vec<u32>,
    /// Growth charts: one request swept over values of `n` (a page number, a data size).
    #[serde(default)]
    pub sweeps: Vec<Sweep>,
    /// A scripted sequence the "Run the timeline" button replays from a fresh load (the
    /// caching labs: request, request again, write, request, advance the clock, request).
    #[serde(default)]
    pub timeline: Vec<crate::Step>,
}

fn one_worker() -> u8 {
    1
}

/// A growth chart's sweep: `url` with `{n}` replaced by each value (and, with `seed`, the
/// database reseeded to `n` articles or tasks first); each point records queries, rows read
/// and ms of that request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    pub label: String,
    pub url: String,
    pub values: Vec<u32>,
    /// The x axis: `page`, `tasks shown`, …
    pub x_label: String,
    /// `"articles"` or `"tasks"`: reseed to `n` of them before each request.
    #[serde(default)]
    pub seed: Option<String>,
    /// A keyset page has no number: this shell line (with `{n}`) prints the cursor that opens
    /// page `n`, which goes into the url's `{cursor}` (URL-encoded). Only the request is measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The line's name on the chart (`OFFSET`, `cursor`); sweeps with the same `x_label` share
    /// one chart, so a lesson can draw two ways of paging side by side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
}

/// The most points a sweep may have, and the largest size it may seed (bigger is refused by
/// the build: a sweep must finish in seconds).
pub const MAX_SWEEP_POINTS: usize = 12;
pub const MAX_SWEEP_SEED: u32 = 100_000;

/// A migration the learner can apply or undo, shown as Django writes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MigrationToggle {
    pub label: String,
    pub migration: Migration,
}

/// A checkbox that rewrites a file: `off` text ↔ `on` text (e.g. a view without and with
/// `@cache_page(60)` above it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileToggle {
    pub label: String,
    pub file: String,
    pub off: String,
    pub on: String,
}

impl Goal {
    pub fn budget(&self) -> crate::Budget {
        crate::Budget { max_queries: self.max_queries, max_rows: self.max_rows, max_rows_read: self.max_rows_read, max_wait_s: self.max_wait_s }
    }
}

impl FileToggle {
    pub fn is_on(&self, files: &[(String, String)]) -> bool {
        files.iter().any(|(n, src)| *n == self.file && src.contains(&self.on))
    }
    /// Rewrites the file; a file edited so that neither text is present is left alone.
    pub fn apply(&self, files: &mut [(String, String)], on: bool) {
        for (n, src) in files.iter_mut() {
            if *n != self.file {
                continue;
            }
            let (from, to) = if on { (&self.off, &self.on) } else { (&self.on, &self.off) };
            if src.contains(from.as_str()) && !(on && src.contains(to.as_str())) {
                *src = src.replacen(from.as_str(), to, 1);
            }
        }
    }
}

/// A checkbox that adds or removes one Django call in a context expression.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Toggle {
    pub var: String,
    /// The text inserted, e.g. `.select_related("author")`.
    pub call: String,
}

/// What a lab asks for: at most `max_queries` for the page (an expression lab's render, or
/// the last request of `steps` in a project lab, run on a freshly loaded project).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub max_queries: usize,
    /// At most this many rows fetched by the judged page's queries, all together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<usize>,
    /// At most this many rows read by the database for the judged page (an index at work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows_read: Option<u64>,
    /// At most this many seconds the judged request waits for the write lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_s: Option<f64>,
    pub text: String,
    /// Project labs: the steps the check runs.
    #[serde(default)]
    pub steps: Vec<crate::Step>,
    /// Expression labs: the goal only counts with the lesson's template unchanged.
    #[serde(default)]
    pub keep_template: bool,
    /// Project labs: the learner's `tests.py` is judged too — it must fail against the
    /// lesson's starting code and pass against the learner's (a test that can catch the bug).
    #[serde(default)]
    pub tests_catch: bool,
    /// Stepped hints, shown one at a time before the solution (build.rs requires at least one).
    #[serde(default)]
    pub hints: Vec<String>,
}

impl Toggle {
    /// The label a learner reads: the Django call without its leading dot.
    pub fn label(&self) -> &str {
        self.call.trim_start_matches('.')
    }
    pub fn is_on(&self, expr: &str) -> bool {
        expr.contains(&self.call)
    }
    /// Adds the call before a trailing slice (`[:20]`), or at the end; or removes it.
    pub fn apply(&self, expr: &str, on: bool) -> String {
        if !on {
            return expr.replacen(&self.call, "", 1);
        }
        if self.is_on(expr) {
            return expr.to_string();
        }
        let trimmed = expr.trim_end();
        match trailing_slice_start(trimmed) {
            Some(i) => format!("{}{}{}", &trimmed[..i], self.call, &trimmed[i..]),
            None => format!("{trimmed}{}", self.call),
        }
    }
}

fn trailing_slice_start(expr: &str) -> Option<usize> {
    if !expr.ends_with(']') {
        return None;
    }
    let mut depth = 0;
    for (i, c) in expr.char_indices().rev() {
        match c {
            ']' => depth += 1,
            '[' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toggles_insert_before_the_slice_and_come_off_cleanly() {
        let t = Toggle { var: "articles".into(), call: ".select_related(\"author\")".into() };
        let base = "Article.objects.published()[:20]";
        let on = t.apply(base, true);
        assert_eq!(on, "Article.objects.published().select_related(\"author\")[:20]");
        assert!(t.is_on(&on));
        assert_eq!(t.apply(&on, false), base);
        assert_eq!(t.apply("Article.objects.all()", true), "Article.objects.all().select_related(\"author\")");
    }
}
