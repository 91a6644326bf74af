//! The course: every lesson's prose and lab, embedded at build time from `lessons/` (build.rs
//! checks them and fails the build with what to fix). The page shows them; the worker judges
//! their exercises by slug.

pub use protocol::lesson::Lab;

pub struct LessonSource {
    pub slug: &'static str,
    /// The prose, for the page only (feature `prose`): the engine worker judges labs and never
    /// shows text, so its copy of the course leaves the prose out.
    #[cfg(feature = "prose")]
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
    fn every_lesson_parses_and_has_a_lab_or_a_checklist() {
        assert!(!LESSONS.is_empty());
        for l in LESSONS {
            let lab = lab(l);
            assert!(lab.project.is_some() || !lab.checklist.is_empty(), "{}", l.slug);
        }
    }
}
