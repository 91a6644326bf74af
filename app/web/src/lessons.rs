//! The lessons, embedded at build time from `lessons/` (see build.rs), and their labs.

use serde::Deserialize;

pub struct LessonSource {
    pub slug: &'static str,
    pub markdown: &'static str,
    pub lab_json: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/lessons.rs"));

/// A lab: the QuerySet expressions and the template the page starts with, plus toggles.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Lab {
    pub title: String,
    pub summary: String,
    pub context: Vec<(String, String)>,
    pub template: String,
    #[serde(default)]
    pub toggles: Vec<Toggle>,
    pub goal: Option<Goal>,
}

/// A checkbox that adds or removes one Django call in a context expression.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Toggle {
    pub var: String,
    /// The text inserted, e.g. `.select_related("author")`.
    pub call: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Goal {
    pub max_queries: usize,
    pub text: String,
}

pub fn lab(src: &LessonSource) -> Lab {
    serde_json::from_str(src.lab_json).unwrap_or_else(|e| panic!("lessons/{}/lab.json: {e}", src.slug))
}

pub fn find(slug: &str) -> Option<&'static LessonSource> {
    LESSONS.iter().find(|l| l.slug == slug)
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
    fn every_lesson_parses() {
        assert!(!LESSONS.is_empty());
        for l in LESSONS {
            let lab = lab(l);
            assert!(!lab.context.is_empty(), "{}", l.slug);
        }
    }

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
