//! Lessons as data: what `lessons/NN-slug/lab.json` holds, shared by the page (which shows
//! them), the worker (which judges their exercises) and the curriculum self-check (which proves
//! each lesson teaches what it says).
//!
//! Every lab is a small Django project ([`ProjectLab`]): files the learner edits, URL routes,
//! toggles that rewrite a file or apply a migration, exercises judged by behaviour, and the
//! claims its prose makes, each with the steps that prove it. A lesson without a project is a
//! reading lesson (a checklist, a quiz).

use serde::{Deserialize, Serialize};

use crate::{Migration, ProjectSpec, Step};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    pub title: String,
    pub summary: String,
    /// The Django project the learner edits and sends requests to; none for a reading lesson.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<ProjectLab>,
    /// A reading lesson's checklist (the production path): items the learner ticks and
    /// annotates, kept with their progress and downloadable as Markdown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checklist: Vec<String>,
    /// Where the lesson asks the learner to explain: multiple-choice questions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quiz: Vec<Question>,
}

/// One exercise of a lesson, as the page and the curriculum check see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExerciseRef<'a> {
    /// The progress entry it is kept under: the lesson's slug, or `slug#k` for step `k` of a lab.
    pub key: String,
    pub index: usize,
    pub exercise: &'a Exercise,
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
    /// The lesson's exercises with their progress keys: `slug` for a lesson's single exercise,
    /// `slug#1`, `slug#2`, … for the steps of a multi-step lab.
    pub fn exercises(&self, slug: &str) -> Vec<ExerciseRef<'_>> {
        let Some(p) = &self.project else { return vec![] };
        let steps = p.exercises.len() > 1 || p.exercises.iter().any(|e| e.title.is_some());
        p.exercises
            .iter()
            .enumerate()
            .map(|(k, exercise)| ExerciseRef { key: if steps { format!("{slug}#{}", k + 1) } else { slug.to_string() }, index: k, exercise })
            .collect()
    }

    /// Prose (and a checklist or quiz) only.
    pub fn is_reading(&self) -> bool {
        self.project.is_none()
    }
}

/// A lab: a small Django project the learner edits, and what the lesson does with it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProjectLab {
    /// `views.py`, `templates/…`, `tests.py`, `settings.py`, in tab order.
    pub files: Vec<(String, String)>,
    /// `[route, view function, "namespace:name"]`.
    pub urls: Vec<(String, String, Option<String>)>,
    /// Migrations applied before the learner's (the lesson's own starting state).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<Migration>,
    /// URLs offered in the address bar (the first one is filled in).
    #[serde(default)]
    pub requests: Vec<String>,
    /// Shell lines offered.
    #[serde(default)]
    pub shell: Vec<String>,
    /// Checkboxes: each rewrites a file or applies a migration. The lesson's reference
    /// solution is every toggle on (or, for a step of a lab, the first `solution_toggles`).
    #[serde(default)]
    pub toggles: Vec<Toggle>,
    /// Server processes the address bar can send to (2: a "worker" picker; each process has
    /// its own local-memory cache unless `settings.py` names a shared backend).
    #[serde(default = "one_worker")]
    pub workers: u8,
    /// The address bar's request is sent when the lab opens and after every toggle (a lab
    /// whose page has no cache to fill: the first lessons show their numbers at once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub autorun: bool,
    /// Table sizes offered as numbers of tasks (the indexes lab); empty: sizes in articles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_sizes: Vec<u32>,
    /// Growth charts: one request swept over values of `n` (a page number, a data size).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sweeps: Vec<Sweep>,
    /// A scripted sequence "Run the timeline" replays from fresh data, an empty cache and the
    /// clock at its start (the caching labs: request, request again, write, request, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Step>,
    /// The exercises: one, or one per step of a multi-step lab (Labs A, B and C), each starting
    /// from the previous step's solution.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exercises: Vec<Exercise>,
    /// What the lesson's prose says the learner will see, each with the steps that show it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<Claim>,
}

fn one_worker() -> u8 {
    1
}

/// A checkbox of a lab: a file edit (`off` text ↔ `on` text, e.g. a view without and with
/// `@cache_page(60)` above it) or a migration (an index `makemigrations` would write).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Toggle {
    File(FileToggle),
    Migration(MigrationToggle),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileToggle {
    pub label: String,
    pub file: String,
    pub off: String,
    pub on: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MigrationToggle {
    pub label: String,
    pub migration: Migration,
}

/// The learner's side of a lab: the files as they are in the editors, and the migration
/// toggles that are on (by their index among the lab's migration toggles).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub files: Vec<(String, String)>,
    #[serde(default)]
    pub migrations: Vec<usize>,
}

impl ProjectLab {
    /// The migration toggles, in order (a learner's `migrations` indexes these).
    pub fn migration_toggles(&self) -> Vec<&MigrationToggle> {
        self.toggles.iter().filter_map(|t| match t {
            Toggle::Migration(m) => Some(m),
            Toggle::File(_) => None,
        }).collect()
    }

    /// The lesson's starting point as an attempt.
    pub fn start(&self) -> Attempt {
        Attempt { files: self.files.clone(), migrations: vec![] }
    }

    /// The reference solution of the first `n` toggles (all of them for `None`).
    pub fn solution(&self, n: Option<usize>) -> Attempt {
        let mut a = self.start();
        for t in self.toggles.iter().take(n.unwrap_or(usize::MAX)) {
            t.apply(&self.toggles, &mut a, true);
        }
        a
    }

    /// The project an attempt runs: its files, the lesson's migrations and the attempt's.
    pub fn spec(&self, attempt: &Attempt) -> ProjectSpec {
        let mut migrations = self.migrations.clone();
        for (i, m) in self.migration_toggles().into_iter().enumerate() {
            if attempt.migrations.contains(&i) {
                migrations.push(m.migration.clone());
            }
        }
        ProjectSpec { files: attempt.files.clone(), urls: self.urls.clone(), migrations }
    }

    /// Which toggles are on in an attempt, by index into `toggles`.
    pub fn toggles_on(&self, attempt: &Attempt) -> Vec<usize> {
        (0..self.toggles.len()).filter(|i| self.toggles[*i].is_on(&self.toggles, attempt)).collect()
    }
}

impl Toggle {
    pub fn label(&self) -> &str {
        match self {
            Toggle::File(t) => &t.label,
            Toggle::Migration(t) => &t.label,
        }
    }

    /// Whether the toggle is on in an attempt (`all` are the lab's toggles, to number
    /// migration toggles).
    pub fn is_on(&self, all: &[Toggle], attempt: &Attempt) -> bool {
        match self {
            Toggle::File(t) => attempt.files.iter().any(|(n, src)| *n == t.file && src.contains(t.on.as_str())),
            Toggle::Migration(_) => migration_index(all, self).is_some_and(|i| attempt.migrations.contains(&i)),
        }
    }

    /// Turns the toggle on or off in an attempt. A file edited so that neither text is
    /// present is left alone.
    pub fn apply(&self, all: &[Toggle], attempt: &mut Attempt, on: bool) {
        match self {
            Toggle::File(t) => {
                for (n, src) in attempt.files.iter_mut() {
                    if *n != t.file {
                        continue;
                    }
                    let (from, to) = if on { (&t.off, &t.on) } else { (&t.on, &t.off) };
                    if src.contains(from.as_str()) && !(on && src.contains(to.as_str())) {
                        *src = src.replacen(from.as_str(), to, 1);
                    }
                }
            }
            Toggle::Migration(_) => {
                if let Some(i) = migration_index(all, self) {
                    attempt.migrations.retain(|x| *x != i);
                    if on {
                        attempt.migrations.push(i);
                        attempt.migrations.sort_unstable();
                    }
                }
            }
        }
    }

    /// The file a file toggle edits.
    pub fn file(&self) -> Option<&str> {
        match self {
            Toggle::File(t) => Some(&t.file),
            Toggle::Migration(_) => None,
        }
    }
}

fn migration_index(all: &[Toggle], toggle: &Toggle) -> Option<usize> {
    all.iter().filter(|t| matches!(t, Toggle::Migration(_))).position(|t| t == toggle)
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

/// One exercise: a goal judged by behaviour, its hints, and the wrong answers it must refuse.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// A step's title in a multi-step lab (none for a lesson's single exercise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// How many of the lab's toggles, in order, its reference solution turns on (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solution_toggles: Option<usize>,
    pub goal: Goal,
    /// Plausible wrong answers: the self-check proves each one fails, with a message that
    /// says what is missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wrong_answers: Vec<WrongAnswer>,
}

/// What an exercise asks for, judged on the last request of `steps` run on a freshly loaded
/// project and fresh data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub text: String,
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
    /// The judged request sends the statements the reference solution's sends, no more and no
    /// fewer: "only the articles query", not "some one query" and not "no query at all".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub same_queries: bool,
    /// The steps the check runs; the last GET is the judged request.
    pub steps: Vec<Step>,
    /// Shell lines run after the steps whose output must equal the reference solution's: what
    /// the goal says must have happened (the article published, the newsletter in `mail.outbox`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observe: Vec<String>,
    /// The learner's `tests.py` is judged too: it must fail against the lesson's starting code
    /// and pass against the learner's (a test that can catch the bug).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tests_catch: bool,
    /// A response header every request of the steps must carry, holding the milliseconds the
    /// request took (a timing middleware's): at least the view's time, at most the request's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_header: Option<String>,
    /// Stepped hints, shown one at a time before the solution (the build requires at least one).
    #[serde(default)]
    pub hints: Vec<String>,
}

impl Goal {
    /// The one request a goal judges, when its steps are that one request: the page can then
    /// say of any such request whether it meets the goal.
    pub fn single_request(&self) -> Option<&Step> {
        match self.steps.as_slice() {
            [s @ Step::Get { .. }] => Some(s),
            _ => None,
        }
    }
}

/// A wrong answer an exercise must refuse: the lesson's start (or its solution) with edits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WrongAnswer {
    /// What the learner did, in a few words ("caches the cheap list, not the aggregate").
    pub did: String,
    /// Start from the reference solution instead of the exercise's starting code.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_solution: bool,
    /// Toggles turned on first (indexes into the lab's toggles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub toggles: Vec<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<Edit>,
    /// Words the check's message must contain: what it says is missing.
    pub fails_with: String,
}

/// Replace `find` (which must be in the file) with `replace`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    pub file: String,
    pub find: String,
    pub replace: String,
}

impl Edit {
    /// Applies the edit, or says why it does not fit (the lesson changed under it).
    pub fn apply(&self, files: &mut [(String, String)]) -> Result<(), String> {
        let Some((_, src)) = files.iter_mut().find(|(n, _)| *n == self.file) else {
            return Err(format!("the lab has no file `{}`", self.file));
        };
        if !src.contains(&self.find) {
            return Err(format!("`{}` is not in {}", self.find, self.file));
        }
        *src = src.replacen(&self.find, &self.replace, 1);
        Ok(())
    }
}

/// A sentence of the lesson's prose that states an outcome, and how to see it: toggles and
/// edits, a data size, the steps (in the timeline's text form), what each step must show.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The sentence, quoted from `lesson.md` (the build checks the lesson still says it).
    pub says: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub toggles: Vec<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<Edit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub articles: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<u32>,
    /// One step a line: `GET /url/`, `GET /url/ as user001 on worker 2, 1 s into the previous`,
    /// `>>> code`, `+61 s`, `run tests`.
    pub steps: Vec<String>,
    pub expect: Vec<Expect>,
}

/// What one step of a claim must show; every field given must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The step (1-based) this is about; the last one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries_at_most: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries_at_least: Option<usize>,
    /// Rows fetched by the step's queries, all together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_read_at_most: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_read_at_least: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The cache badge: `hit`, `miss`, `stale`, `fragment hit`, `value hit`, `none`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// In the response body, or in a shell line's output, a test run's messages, an error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shows: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lacks: Vec<String>,
    /// The exception class (and message words) the step ends with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A response header and words its value contains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<(String, String)>,
    /// A timing header and what the judge says of it: `covers` (a duration measured on this
    /// request), `absent`, `not a number`, `too small` (less than the view took), `too large`
    /// (more than the request took: a copy from the cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<(String, String)>,
    /// A statement of the step whose SQL contains these words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    /// Seconds waited for the write lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_s: Option<f64>,
    /// Seconds the step took on the lab's clock (sleeps and waits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_s: Option<f64>,
    /// Test outcomes as `2 passed, 1 failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<String>,
    /// Words of the step's N+1 advice (`none` for no advice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_plus_one: Option<String>,
    /// Whether the step is flagged for an unbounded list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unbounded: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toggles() -> Vec<Toggle> {
        serde_json::from_value(serde_json::json!([
            {"label": "select", "file": "views.py", "off": "published()", "on": "published().select_related(\"author\")"},
            {"label": "index", "migration": {"model": "Task", "add_index": {"fields": ["status"], "name": "t_status"}}},
            {"label": "prefetch", "file": "views.py", "off": "[:20]", "on": ".prefetch_related(\"tags\")[:20]"}
        ]))
        .unwrap()
    }

    #[test]
    fn file_and_migration_toggles_turn_on_and_off_independently() {
        let all = toggles();
        let mut a = Attempt { files: vec![("views.py".into(), "qs = Article.objects.published()[:20]\n".into())], migrations: vec![] };
        all[2].apply(&all, &mut a, true);
        all[0].apply(&all, &mut a, true);
        all[1].apply(&all, &mut a, true);
        assert_eq!(a.files[0].1, "qs = Article.objects.published().select_related(\"author\").prefetch_related(\"tags\")[:20]\n");
        assert_eq!(a.migrations, vec![0]);
        assert!(all.iter().all(|t| t.is_on(&all, &a)));
        all[0].apply(&all, &mut a, false);
        all[1].apply(&all, &mut a, false);
        assert_eq!(a.files[0].1, "qs = Article.objects.published().prefetch_related(\"tags\")[:20]\n");
        assert!(a.migrations.is_empty());
        assert!(!all[0].is_on(&all, &a) && all[2].is_on(&all, &a));
    }

    #[test]
    fn edits_say_when_they_do_not_fit() {
        let mut files = vec![("views.py".to_string(), "a = 1\n".to_string())];
        Edit { file: "views.py".into(), find: "a = 1".into(), replace: "a = 2".into() }.apply(&mut files).unwrap();
        assert_eq!(files[0].1, "a = 2\n");
        let e = Edit { file: "views.py".into(), find: "b".into(), replace: "c".into() }.apply(&mut files).unwrap_err();
        assert!(e.contains("`b` is not in views.py"), "{e}");
        assert!(Edit { file: "x.py".into(), find: "b".into(), replace: "c".into() }.apply(&mut files).unwrap_err().contains("no file"));
    }
}
