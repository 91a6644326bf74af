//! The lessons, embedded at build time from `lessons/` (see build.rs), and their labs.

pub use protocol::lesson::{Goal, Lab, Toggle};

pub struct LessonSource {
    pub slug: &'static str,
    pub markdown: &'static str,
    pub lab_json: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/lessons.rs"));

/// The lab of a lesson. build.rs parsed every `lab.json` already (a bad one fails the build),
/// so this cannot fail at run time.
pub fn lab(src: &LessonSource) -> Lab {
    serde_json::from_str(src.lab_json).unwrap_or_else(|e| panic!("lessons/{}/lab.json: {e} (build.rs checks this)", src.slug))
}

pub fn find(slug: &str) -> Option<&'static LessonSource> {
    LESSONS.iter().find(|l| l.slug == slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lesson_parses() {
        assert!(!LESSONS.is_empty());
        for l in LESSONS {
            let lab = lab(l);
            assert!(!lab.context.is_empty() || lab.project.is_some() || !lab.checklist.is_empty(), "{}", l.slug);
        }
    }

}
