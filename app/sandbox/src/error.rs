//! One error type for everything the learner can get wrong, with a position when there is one.

use std::fmt;

/// Which kind of mistake it is; the names follow the Python/Django exception a learner would see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// Python syntax in a QuerySet expression.
    SyntaxError,
    /// Django's `FieldError` (unknown field, lookup or relation).
    FieldError,
    AttributeError,
    NameError,
    TypeError,
    ValueError,
    /// `Model.DoesNotExist` from `.get()`.
    DoesNotExist,
    MultipleObjectsReturned,
    /// Django's `TemplateSyntaxError`.
    TemplateSyntaxError,
    /// `AssertionError`/`ValueError` Django raises for things like negative indexing.
    AssertionError,
    /// The engine refused or failed the SQL.
    DatabaseError,
    /// The sandbox stopped runaway work.
    Budget,
    /// Something the sandbox does not imitate yet.
    NotSupported,
}

impl ErrorKind {
    pub fn python_name(self) -> &'static str {
        match self {
            ErrorKind::SyntaxError => "SyntaxError",
            ErrorKind::FieldError => "FieldError",
            ErrorKind::AttributeError => "AttributeError",
            ErrorKind::NameError => "NameError",
            ErrorKind::TypeError => "TypeError",
            ErrorKind::ValueError => "ValueError",
            ErrorKind::DoesNotExist => "DoesNotExist",
            ErrorKind::MultipleObjectsReturned => "MultipleObjectsReturned",
            ErrorKind::TemplateSyntaxError => "TemplateSyntaxError",
            ErrorKind::AssertionError => "AssertionError",
            ErrorKind::DatabaseError => "DatabaseError",
            ErrorKind::Budget => "Stopped",
            ErrorKind::NotSupported => "NotSupported",
        }
    }
}

/// A byte offset into the learner's source, plus the 1-based line and column it falls on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pos {
    pub offset: usize,
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn at(src: &str, offset: usize) -> Pos {
        let offset = offset.min(src.len());
        let before = &src[..floor_char_boundary(src, offset)];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
        Pos { offset, line, col }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[derive(Debug, Clone, PartialEq)]
pub struct SandboxError {
    pub kind: ErrorKind,
    pub message: String,
    /// Where in the source (QuerySet expression or template) the problem is.
    pub pos: Option<Pos>,
    /// Which source it was: e.g. `context "articles"` or `template`.
    pub source_name: Option<String>,
    /// The source line with a caret under the position, ready to print.
    pub excerpt: Option<String>,
}

pub type SResult<T> = Result<T, SandboxError>;

impl SandboxError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SandboxError { kind, message: message.into(), pos: None, source_name: None, excerpt: None }
    }

    /// Attaches a position in `src` unless one is already known, and the caret excerpt.
    pub fn at(mut self, src: &str, offset: usize) -> Self {
        if self.pos.is_none() {
            let pos = Pos::at(src, offset);
            self.excerpt = Some(caret_excerpt(src, pos));
            self.pos = Some(pos);
        }
        self
    }

    pub fn in_source(mut self, name: impl Into<String>) -> Self {
        if self.source_name.is_none() {
            self.source_name = Some(name.into());
        }
        self
    }

    /// The message as a learner reads it: kind, message, where, and the caret.
    pub fn pretty(&self) -> String {
        let mut s = format!("{}: {}", self.kind.python_name(), self.message);
        match (&self.source_name, &self.pos) {
            (Some(name), Some(p)) => s.push_str(&format!("\n  in {name}, line {}, column {}", p.line, p.col)),
            (Some(name), None) => s.push_str(&format!("\n  in {name}")),
            (None, Some(p)) => s.push_str(&format!("\n  at line {}, column {}", p.line, p.col)),
            (None, None) => {}
        }
        if let Some(ex) = &self.excerpt {
            s.push('\n');
            s.push_str(ex);
        }
        s
    }
}

impl fmt::Display for SandboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pretty())
    }
}

impl std::error::Error for SandboxError {}

/// `    line text\n    ^` with the caret under the column (tabs kept so it lines up).
pub fn caret_excerpt(src: &str, pos: Pos) -> String {
    let line = src.lines().nth(pos.line - 1).unwrap_or("");
    let shown: String = line.chars().take(200).collect();
    let pad: String = line
        .chars()
        .take(pos.col.saturating_sub(1).min(200))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("    {shown}\n    {pad}^")
}

pub fn err(kind: ErrorKind, message: impl Into<String>) -> SandboxError {
    SandboxError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_points_at_the_column() {
        let src = "Article.objects\n  .filter(titel='x')";
        let e = SandboxError::new(ErrorKind::FieldError, "bad").at(src, src.find("titel").unwrap());
        assert_eq!(e.pos.unwrap().line, 2);
        assert_eq!(e.pos.unwrap().col, 11);
        assert!(e.pretty().ends_with("  .filter(titel='x')\n              ^"), "{}", e.pretty());
    }

    #[test]
    fn offsets_inside_multibyte_chars_do_not_panic() {
        let src = "é€x";
        let p = Pos::at(src, 2);
        assert_eq!(p.line, 1);
        let _ = caret_excerpt(src, p);
    }
}
