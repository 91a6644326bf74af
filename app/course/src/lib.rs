//! The course: every lesson's prose and lab, embedded at build time from `lessons/` (build.rs
//! checks them and fails the build with what to fix). The page shows them; the worker judges
//! their exercises by slug.

pub use protocol::lesson::Lab;

pub struct LessonSource {
    pub slug: &'static str,
    /// The prose (`protocol::prose` blocks as JSON, parsed from `lesson.md` at build time),
    /// for the page only (feature `prose`): the engine worker judges labs and never shows
    /// text, so its copy of the course leaves the prose out.
    #[cfg(feature = "prose")]
    pub prose_json: &'static str,
    pub lab_json: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/lessons.rs"));

/// The lab of a lesson. build.rs parsed every `lab.json` already (a bad one fails the build),
/// so this cannot fail at run time.
pub fn lab(src: &LessonSource) -> Lab {
    serde_json::from_str(src.lab_json).unwrap_or_else(|e| panic!("lessons/{}/lab.json: {e} (build.rs checks this)", src.slug))
}

/// A lesson's prose blocks (build.rs made them, so this cannot fail at run time).
#[cfg(feature = "prose")]
pub fn prose(src: &LessonSource) -> Vec<protocol::prose::Block> {
    serde_json::from_str(src.prose_json).unwrap_or_else(|e| panic!("lessons/{}/lesson.md: {e} (build.rs made this)", src.slug))
}

pub fn find(slug: &str) -> Option<&'static LessonSource> {
    LESSONS.iter().find(|l| l.slug == slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "prose")]
    #[test]
    fn numbered_lists_are_numbered_and_html_stays_text() {
        use protocol::prose::{Block, Inline};
        let pagination = prose(find("pagination").expect("the pagination lesson"));
        assert!(pagination.iter().any(|b| matches!(b, Block::List(Some(1), items) if items.len() >= 2)), "{pagination:?}");
        for l in LESSONS {
            let json = l.prose_json;
            assert!(!json.contains("\"Html"), "{}", l.slug);
            let _ = prose(l);
            let _ = Inline::LineBreak;
        }
    }

    #[test]
    fn every_lesson_parses_and_has_a_lab_or_a_checklist() {
        assert!(!LESSONS.is_empty());
        for l in LESSONS {
            let lab = lab(l);
            assert!(lab.project.is_some() || !lab.checklist.is_empty(), "{}", l.slug);
        }
    }
}
