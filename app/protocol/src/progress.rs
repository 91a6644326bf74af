//! The learner's progress as the browser keeps it (one localStorage entry): per lesson, whether
//! its check passed, was tried, or had its solution shown, and the learner's last state of the
//! lab. Reading is forgiving: a corrupted entry, an older format or one lesson's broken state
//! is reset with a message, and everything else is kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::share::LabState;

/// The storage key and the format version.
pub const KEY: &str = "djperf-progress";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub v: u32,
    #[serde(default)]
    pub lessons: BTreeMap<String, LessonProgress>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress { v: VERSION, lessons: BTreeMap::new() }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LessonProgress {
    /// The check passed (on the visible data and the hidden variant).
    #[serde(default)]
    pub solved: bool,
    /// The check was run at least once.
    #[serde(default)]
    pub attempted: bool,
    /// The solution was shown (then `solved` stays false until the learner's own check passes
    /// after a reset).
    #[serde(default)]
    pub shown: bool,
    /// The learner's last state of the lab, only what differs from the lesson.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<LabState>,
    /// A reading lesson's checklist, item by item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checklist: Vec<ChecklistItem>,
    /// The option checked for each of the lesson's quiz questions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quiz: Vec<Option<usize>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChecklistItem {
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub note: String,
}

/// Reads the stored text; a message when something had to be reset.
pub fn load(text: Option<&str>) -> (Progress, Option<String>) {
    let Some(text) = text else { return (Progress::default(), None) };
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return (Progress::default(), Some("Your saved progress could not be read (the stored data is damaged), so it was reset.".into())),
    };
    match value.get("v").and_then(|v| v.as_u64()) {
        Some(v) if v == VERSION as u64 => {}
        Some(v) => {
            return (Progress::default(), Some(format!("Your saved progress is in format {v}; this version of the course reads format {VERSION}, so it starts afresh.")))
        }
        None => return (Progress::default(), Some("Your saved progress could not be read (no format version), so it was reset.".into())),
    }
    // Lesson by lesson, so that one broken entry costs only that lesson.
    let mut progress = Progress::default();
    let mut broken = Vec::new();
    if let Some(lessons) = value.get("lessons").and_then(|l| l.as_object()) {
        for (slug, entry) in lessons {
            match serde_json::from_value::<LessonProgress>(entry.clone()) {
                Ok(p) => {
                    progress.lessons.insert(slug.clone(), p);
                }
                Err(_) => broken.push(slug.clone()),
            }
        }
    }
    let message = (!broken.is_empty()).then(|| format!("The saved progress of {} could not be read and was reset; the rest is kept.", broken.join(", ")));
    (progress, message)
}

/// A progress file the learner imports: all of it, or why not (then nothing changes).
pub fn import(text: &str) -> Result<Progress, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| "the file is not a progress export (it is not JSON)".to_string())?;
    match value.get("v").and_then(|v| v.as_u64()) {
        Some(v) if v == VERSION as u64 => {}
        Some(v) => return Err(format!("the file is in format {v}; this version of the course reads format {VERSION}")),
        None => return Err("the file is not a progress export (it has no format version)".into()),
    }
    let mut progress = Progress::default();
    let mut broken = Vec::new();
    if let Some(lessons) = value.get("lessons").and_then(|l| l.as_object()) {
        for (slug, entry) in lessons {
            match serde_json::from_value::<LessonProgress>(entry.clone()) {
                Ok(p) => {
                    progress.lessons.insert(slug.clone(), p);
                }
                Err(_) => broken.push(slug.clone()),
            }
        }
    }
    if !broken.is_empty() {
        return Err(format!("the entries of {} do not read", broken.join(", ")));
    }
    Ok(progress)
}

pub fn save(progress: &Progress) -> String {
    serde_json::to_string(progress).expect("plain data serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_is_contained() {
        let mut p = Progress::default();
        p.lessons.insert("n-plus-one".into(), LessonProgress { solved: true, attempted: true, ..Default::default() });
        p.lessons.insert(
            "cache-page".into(),
            LessonProgress { attempted: true, state: Some(LabState { files: vec![("views.py".into(), "x".into())], ..Default::default() }), ..Default::default() },
        );
        let text = save(&p);
        assert_eq!(load(Some(&text)), (p.clone(), None));
        assert_eq!(load(None), (Progress::default(), None));

        let (fresh, msg) = load(Some("{not json"));
        assert_eq!(fresh, Progress::default());
        assert!(msg.unwrap().contains("damaged"));

        let (fresh, msg) = load(Some(r#"{"v": 0, "lessons": {}}"#));
        assert_eq!(fresh, Progress::default());
        assert!(msg.unwrap().contains("format 0"));

        // An import is all or nothing, and says why it was refused.
        assert!(import("{not json").unwrap_err().contains("not JSON"));
        assert!(import(r#"{"lessons": {}}"#).unwrap_err().contains("no format version"));
        assert_eq!(import(&text).unwrap(), p);
        // One lesson's entry broken: only it is reset.
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["lessons"]["cache-page"]["state"] = serde_json::json!({"files": 12});
        let (kept, msg) = load(Some(&v.to_string()));
        assert_eq!(kept.lessons.len(), 1);
        assert!(kept.lessons["n-plus-one"].solved);
        assert!(msg.unwrap().contains("cache-page"));
    }
}
