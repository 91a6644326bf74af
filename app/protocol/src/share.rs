//! What a lab looks like, as a share link or a saved draft: the learner's code (only what
//! differs from the lesson), the data size, and the steps to replay so the counts come back.
//!
//! A link's state is `1` (the format version) followed by the JSON, deflated and written in
//! URL-safe base64 without padding. Anything else — cut short, changed, too big, from a newer
//! version, naming files or variables the lesson does not have — is a [`LinkError`] that says
//! which, and the lesson opens in its starting state.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::lesson::Lab;
use crate::Step;

/// The format version written in front of every link.
pub const VERSION: char = '1';
/// Links longer than this are refused without decoding (a browser keeps far longer URLs,
/// but no edit of a lesson's files needs it).
pub const MAX_LINK_CHARS: usize = 32_000;
/// The JSON a link inflates to, at most (a deflate bomb stops here).
pub const MAX_JSON_BYTES: usize = 512 * 1024;
/// Steps a link may replay.
pub const MAX_STEPS: usize = 60;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabState {
    /// Articles in the database, when not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub articles: Option<u32>,
    /// Tasks in the database (the indexes lab), when not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<u32>,
    /// Saved before lessons 00 and 01 became projects: the QuerySet a variable was set to and
    /// the template, which [`LabState::apply_files`] carries into `views.py` and the template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The lab's files that differ from the lesson's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<(String, String)>,
    /// The migration toggles that are on (indexes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<usize>,
    /// The timeline script, when edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<String>,
    /// The steps since the project was loaded: replayed on opening, so the same requests give
    /// the same counts, clock and cache.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LinkError {
    TooLong(usize),
    UnknownVersion(char),
    /// Not base64, not deflate, or the deflate stream ends early: a link cut short or changed.
    Damaged(String),
    TooBig,
    /// Valid JSON that does not describe this lesson's lab.
    DoesNotFit(String),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::TooLong(n) => write!(f, "the link's state would be {n} characters long, more than the {MAX_LINK_CHARS} a link may carry"),
            LinkError::UnknownVersion(c) => write!(f, "the link was made by another version of the lab (format {c:?}, this one reads {VERSION:?})"),
            LinkError::Damaged(why) => write!(f, "the link is cut short or was changed ({why})"),
            LinkError::TooBig => write!(f, "the link's state unpacks to more than {} KB", MAX_JSON_BYTES / 1024),
            LinkError::DoesNotFit(why) => write!(f, "the link does not fit this lesson: {why}"),
        }
    }
}

/// The link's state, or [`LinkError::TooLong`] when even compressed it is longer than a link
/// may be (then the page offers the progress file instead): a link the app makes always opens.
pub fn encode(state: &LabState) -> Result<String, LinkError> {
    let json = serde_json::to_vec(state).expect("plain data serializes");
    if json.len() > MAX_JSON_BYTES {
        return Err(LinkError::TooBig);
    }
    let packed = miniz_oxide::deflate::compress_to_vec(&json, 9);
    let link = format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(packed));
    if link.len() > MAX_LINK_CHARS {
        return Err(LinkError::TooLong(link.len()));
    }
    Ok(link)
}

pub fn decode(link: &str) -> Result<LabState, LinkError> {
    let link = link.trim();
    if link.len() > MAX_LINK_CHARS {
        return Err(LinkError::TooLong(link.len()));
    }
    let mut chars = link.chars();
    match chars.next() {
        Some(VERSION) => {}
        Some(c) if c.is_ascii_digit() => return Err(LinkError::UnknownVersion(c)),
        Some(_) => return Err(LinkError::Damaged("it does not start with a format version".into())),
        None => return Err(LinkError::Damaged("it is empty".into())),
    }
    let packed = URL_SAFE_NO_PAD.decode(chars.as_str()).map_err(|e| LinkError::Damaged(format!("not URL-safe base64: {e}")))?;
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, MAX_JSON_BYTES).map_err(|e| match e.status {
        miniz_oxide::inflate::TINFLStatus::HasMoreOutput => LinkError::TooBig,
        _ => LinkError::Damaged("the compressed data does not unpack".into()),
    })?;
    serde_json::from_slice(&json).map_err(|e| LinkError::Damaged(format!("its data does not read: {e}")))
}

impl LabState {
    /// The state of `lab` given what the learner has now: only what differs is kept.
    pub fn of(lab: &Lab, now: Current) -> LabState {
        let mut s = LabState { articles: now.articles, tasks: now.tasks, migrations: now.migrations, steps: now.steps, ..Default::default() };
        if let Some(p) = &lab.project {
            s.files = now.files.into_iter().filter(|(n, src)| !p.files.iter().any(|(n0, s0)| n0 == n && s0 == src)).collect();
            let default_script = crate::timeline::format(&p.timeline);
            s.timeline = now.timeline.filter(|t| *t != default_script);
        }
        s.steps.truncate(MAX_STEPS);
        s
    }

    /// Checks the state against the lesson it is opened in: known files, sizes the lab
    /// offers, migration toggles it has, a bounded replay.
    pub fn fits(&self, lab: &Lab, article_sizes: &[u32]) -> Result<(), LinkError> {
        let misfit = |why: String| Err(LinkError::DoesNotFit(why));
        if let Some(n) = self.articles {
            if !article_sizes.contains(&n) {
                return misfit(format!("{n} articles is not one of the sizes offered ({article_sizes:?})"));
            }
        }
        let Some(project) = lab.project.as_ref() else {
            return if *self == LabState::default() { Ok(()) } else { misfit("this lesson has no lab".into()) };
        };
        if let Some(t) = self.tasks {
            if !project.task_sizes.contains(&t) {
                return misfit(format!("{t} tasks is not a size this lab offers"));
            }
        }
        for (name, _) in &self.files {
            if !project.files.iter().any(|(n, _)| n == name) {
                return misfit(format!("the lab has no file `{name}`"));
            }
        }
        for (var, _) in &self.context {
            if legacy_line(&project.files, var).is_none() {
                return misfit(format!("the lab has no variable `{var}`"));
            }
        }
        let n = project.migration_toggles().len();
        for i in &self.migrations {
            if *i >= n {
                return misfit(format!("the lab has no migration toggle {i}"));
            }
        }
        if self.steps.len() > MAX_STEPS {
            return misfit(format!("{} steps to replay, at most {MAX_STEPS}", self.steps.len()));
        }
        Ok(())
    }

    /// The lab's files with this state's edits.
    pub fn apply_files(&self, lab_files: &[(String, String)]) -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> =
            lab_files.iter().map(|(n, src)| (n.clone(), self.files.iter().find(|(m, _)| m == n).map(|(_, s)| s.clone()).unwrap_or_else(|| src.clone()))).collect();
        // A state saved when the lesson was a QuerySet and a template: the same edits, where
        // they now live (the variable's line in views.py, the one template).
        for (var, expr) in &self.context {
            if let Some((file, line)) = legacy_line(&files, var) {
                let src = &mut files[file].1;
                let old = src.lines().nth(line).unwrap_or("").to_string();
                let indent: String = old.chars().take_while(|c| c.is_whitespace()).collect();
                *src = src.replacen(&old, &format!("{indent}{var} = {expr}"), 1);
            }
        }
        if let Some(t) = &self.template {
            let templates: Vec<usize> = (0..files.len()).filter(|i| files[*i].0.starts_with("templates/")).collect();
            if let [only] = templates.as_slice() {
                files[*only].1 = t.clone();
            }
        }
        files
    }

    /// The learner's attempt this state describes.
    pub fn attempt(&self, project: &crate::lesson::ProjectLab) -> crate::lesson::Attempt {
        crate::lesson::Attempt { files: self.apply_files(&project.files), migrations: self.migrations.clone() }
    }
}

/// Where `var = …` is assigned in views.py: (file index, line index).
fn legacy_line(files: &[(String, String)], var: &str) -> Option<(usize, usize)> {
    let file = files.iter().position(|(n, _)| n == "views.py")?;
    let line = files[file].1.lines().position(|l| l.trim_start().strip_prefix(var).is_some_and(|rest| rest.trim_start().starts_with("= ")))?;
    Some((file, line))
}

/// Everything the page knows about a lab right now (see [`LabState::of`]).
#[derive(Debug, Clone, Default)]
pub struct Current {
    pub articles: Option<u32>,
    pub tasks: Option<u32>,
    pub files: Vec<(String, String)>,
    pub migrations: Vec<usize>,
    pub timeline: Option<String>,
    pub steps: Vec<Step>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lesson::ProjectLab;

    fn project_lab() -> Lab {
        serde_json::from_value(serde_json::json!({
            "title": "t", "summary": "s",
            "project": {
                "files": [["views.py", "def a(request):\n    pass\n"], ["templates/a.html", "<p>{{ x }}</p>\n"]],
                "urls": [["a/", "a", null]],
                "task_sizes": [1000, 100000],
                "timeline": [{"step": "get", "url": "/a/", "user": null}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_typical_edit_round_trips_in_a_short_link() {
        let lab = project_lab();
        let p: &ProjectLab = lab.project.as_ref().unwrap();
        let mut files = p.files.clone();
        files[0].1 = files[0].1.replace("pass", "return render(request, \"a.html\", {\"x\": Article.objects.select_related(\"author\")[:20]})");
        let steps = vec![Step::Get { url: "/a/".into(), user: None, worker: None, into_previous: None, http: None }, Step::Get { url: "/a/".into(), user: Some("user001".into()), worker: Some(2), into_previous: Some(1.0), http: None }, Step::Advance { seconds: 61.0 }, Step::Run { code: "x = 1".into(), worker: Some(2) }];
        let state = LabState::of(&lab, Current { files: files.clone(), steps: steps.clone(), tasks: Some(100000), timeline: Some(crate::timeline::format(&p.timeline)), ..Default::default() });
        assert_eq!(state.files.len(), 1, "only the edited file is kept");
        assert_eq!(state.timeline, None, "an unedited timeline is not kept");
        let link = encode(&state).unwrap();
        assert!(link.len() < 400, "{} chars: {link}", link.len());
        assert!(link.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{link}");
        let back = decode(&link).unwrap();
        assert_eq!(back, state);
        back.fits(&lab, &[50, 200]).unwrap();
        assert_eq!(back.apply_files(&p.files), files);
    }

    #[test]
    fn a_state_saved_when_the_lesson_was_an_expression_lands_in_its_files() {
        let lab: Lab = serde_json::from_value(serde_json::json!({
            "title": "t", "summary": "s",
            "project": {
                "files": [["views.py", "def home(request):\n    articles = Article.objects.published()[:20]\n    return render(request, \"a.html\", {\"articles\": articles})\n"], ["templates/a.html", "{{ articles }}"]],
                "urls": [["", "home", null]]
            }
        }))
        .unwrap();
        let old = LabState { context: vec![("articles".into(), "Article.objects.published().select_related(\"author\")[:20]".into())], template: Some("{{ articles|length }}".into()), ..Default::default() };
        old.fits(&lab, &[200]).unwrap();
        let files = old.apply_files(&lab.project.as_ref().unwrap().files);
        assert!(files[0].1.contains("    articles = Article.objects.published().select_related(\"author\")[:20]\n"), "{}", files[0].1);
        assert_eq!(files[1].1, "{{ articles|length }}");
        let odd = LabState { context: vec![("qs".into(), "1".into())], ..Default::default() };
        assert!(odd.fits(&lab, &[200]).unwrap_err().to_string().contains("no variable `qs`"));
    }

    #[test]
    fn broken_links_say_what_is_wrong() {
        let lab = project_lab();
        let good = encode(&LabState { files: vec![("views.py".into(), "x = 1\n".into())], ..Default::default() }).unwrap();
        let cut = &good[..good.len() / 2];
        assert!(matches!(decode(cut), Err(LinkError::Damaged(_))), "{:?}", decode(cut));
        let mut tampered = good.clone().into_bytes();
        let mid = tampered.len() / 2;
        tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
        assert!(decode(std::str::from_utf8(&tampered).unwrap()).is_err());
        assert!(matches!(decode("9abc"), Err(LinkError::UnknownVersion('9'))));
        assert!(matches!(decode("<script>alert(1)</script>"), Err(LinkError::Damaged(_))));
        assert!(matches!(decode(""), Err(LinkError::Damaged(_))));
        assert!(matches!(decode(&"1".repeat(MAX_LINK_CHARS + 1)), Err(LinkError::TooLong(_))));
        // A deflate bomb: megabytes of spaces in a small link.
        let bomb = format!("1{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(&vec![b' '; 4 << 20], 10)));
        assert!(bomb.len() < MAX_LINK_CHARS, "{}", bomb.len());
        assert_eq!(decode(&bomb), Err(LinkError::TooBig));
        // Well-formed, but not this lesson's.
        for (state, needle) in [
            (LabState { files: vec![("settings.py".into(), String::new())], ..Default::default() }, "no file `settings.py`"),
            (LabState { articles: Some(7), ..Default::default() }, "7 articles"),
            (LabState { tasks: Some(5), ..Default::default() }, "5 tasks"),
            (LabState { context: vec![("qs".into(), "1".into())], ..Default::default() }, "no variable `qs`"),
            (LabState { migrations: vec![3], ..Default::default() }, "no migration toggle 3"),
            (LabState { steps: vec![Step::Advance { seconds: 1.0 }; MAX_STEPS + 1], ..Default::default() }, "at most"),
        ] {
            let err = decode(&encode(&state).unwrap()).unwrap().fits(&lab, &[50, 200]).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
        // A link too big to carry is refused when it is made, not when it is opened.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: String = (0..60_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'!' + (x % 90) as u8)
            })
            .collect();
        let big = LabState { files: vec![("views.py".into(), noise)], ..Default::default() };
        assert!(matches!(encode(&big), Err(LinkError::TooLong(_))), "{:?}", encode(&big).map(|l| l.len()));
        // Unknown fields are refused rather than ignored.
        let odd = format!("1{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(br#"{"files":[],"admin":true}"#, 6)));
        assert!(matches!(decode(&odd), Err(LinkError::Damaged(_))));
    }
}
