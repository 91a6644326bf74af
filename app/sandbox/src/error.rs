//! One error type for everything the learner can get wrong — and every Python exception the
//! learner's code raises or catches — with a position when there is one.
//!
//! An error has a broad [`ErrorKind`] (what the page colours and what the sandbox's own code
//! matches on) and the Python class name it stands for (`KeyError`, `Http404`,
//! `Article.DoesNotExist`, a learner's own `class BadInput(Exception)`), which `except`
//! clauses match through [`exception_parents`].

use std::fmt;
use std::rc::Rc;


/// Which kind of mistake it is; the names follow the Python/Django exception a learner would see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// Python syntax in the learner's code.
    SyntaxError,
    /// Django's `FieldError` (unknown field, lookup or relation).
    FieldError,
    AttributeError,
    NameError,
    TypeError,
    ValueError,
    KeyError,
    IndexError,
    /// `Model.DoesNotExist` from `.get()`.
    DoesNotExist,
    MultipleObjectsReturned,
    /// Django's `TemplateSyntaxError`.
    TemplateSyntaxError,
    AssertionError,
    /// The engine refused or failed the SQL (`IntegrityError`, `OperationalError`, …).
    DatabaseError,
    /// The sandbox stopped runaway work.
    Budget,
    /// Something the sandbox does not imitate yet.
    NotSupported,
    /// Any other exception class (its name is in [`SandboxError::exc`]).
    Other,
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
            ErrorKind::KeyError => "KeyError",
            ErrorKind::IndexError => "IndexError",
            ErrorKind::DoesNotExist => "DoesNotExist",
            ErrorKind::MultipleObjectsReturned => "MultipleObjectsReturned",
            ErrorKind::TemplateSyntaxError => "TemplateSyntaxError",
            ErrorKind::AssertionError => "AssertionError",
            ErrorKind::DatabaseError => "DatabaseError",
            ErrorKind::Budget => "Stopped",
            ErrorKind::NotSupported => "NotSupported",
            ErrorKind::Other => "Exception",
        }
    }

    /// The kind an exception class belongs to, by walking up its parents.
    pub fn of_exception(name: &str) -> ErrorKind {
        let mut cur = Some(name.to_string());
        while let Some(n) = cur {
            let short = n.rsplit('.').next().unwrap_or(&n);
            let k = match short {
                "SyntaxError" | "IndentationError" => Some(ErrorKind::SyntaxError),
                "FieldError" | "FieldDoesNotExist" => Some(ErrorKind::FieldError),
                "AttributeError" => Some(ErrorKind::AttributeError),
                "NameError" => Some(ErrorKind::NameError),
                "TypeError" => Some(ErrorKind::TypeError),
                "ValueError" => Some(ErrorKind::ValueError),
                "KeyError" => Some(ErrorKind::KeyError),
                "IndexError" => Some(ErrorKind::IndexError),
                "ObjectDoesNotExist" | "DoesNotExist" => Some(ErrorKind::DoesNotExist),
                "MultipleObjectsReturned" => Some(ErrorKind::MultipleObjectsReturned),
                "TemplateSyntaxError" => Some(ErrorKind::TemplateSyntaxError),
                "AssertionError" => Some(ErrorKind::AssertionError),
                "DatabaseError" => Some(ErrorKind::DatabaseError),
                "Stopped" | "RecursionError" => Some(ErrorKind::Budget),
                "NotSupported" => Some(ErrorKind::NotSupported),
                _ => None,
            };
            if let Some(k) = k {
                return k;
            }
            cur = exception_parent(&n).map(str::to_string);
        }
        ErrorKind::Other
    }
}

/// The built-in exception classes the sandbox knows, each with its parent, as Python and
/// Django define them.
const EXCEPTION_PARENTS: &[(&str, &str)] = &[
    ("Exception", "BaseException"),
    ("ArithmeticError", "Exception"),
    ("ZeroDivisionError", "ArithmeticError"),
    ("OverflowError", "ArithmeticError"),
    ("LookupError", "Exception"),
    ("KeyError", "LookupError"),
    ("IndexError", "LookupError"),
    ("ValueError", "Exception"),
    ("UnicodeError", "ValueError"),
    ("TypeError", "Exception"),
    ("AttributeError", "Exception"),
    ("NameError", "Exception"),
    ("UnboundLocalError", "NameError"),
    ("AssertionError", "Exception"),
    ("ImportError", "Exception"),
    ("ModuleNotFoundError", "ImportError"),
    ("RuntimeError", "Exception"),
    ("RecursionError", "RuntimeError"),
    ("NotImplementedError", "RuntimeError"),
    ("StopIteration", "Exception"),
    ("SyntaxError", "Exception"),
    ("IndentationError", "SyntaxError"),
    ("OSError", "Exception"),
    ("PermissionError", "OSError"),
    ("Warning", "Exception"),
    ("UserWarning", "Warning"),
    ("CacheKeyWarning", "RuntimeWarning"),
    ("RuntimeWarning", "Warning"),
    ("KeyboardInterrupt", "BaseException"),
    ("SystemExit", "BaseException"),
    ("GeneratorExit", "BaseException"),
    // The sandbox's own: stopped runaway work. Not an Exception, so `except Exception` in a
    // learner's loop cannot swallow the stop.
    ("Stopped", "BaseException"),
    // Django.
    ("ObjectDoesNotExist", "Exception"),
    ("DoesNotExist", "ObjectDoesNotExist"),
    ("MultipleObjectsReturned", "Exception"),
    ("FieldError", "Exception"),
    ("FieldDoesNotExist", "Exception"),
    ("ValidationError", "Exception"),
    ("ImproperlyConfigured", "Exception"),
    ("SuspiciousOperation", "Exception"),
    ("BadRequest", "Exception"),
    ("PermissionDenied", "Exception"),
    ("EmptyResultSet", "Exception"),
    ("Http404", "Exception"),
    ("Resolver404", "Http404"),
    ("NoReverseMatch", "Exception"),
    ("TemplateSyntaxError", "Exception"),
    ("TemplateDoesNotExist", "Exception"),
    ("VariableDoesNotExist", "Exception"),
    ("Error", "Exception"),
    ("DatabaseError", "Error"),
    ("InterfaceError", "Error"),
    ("DataError", "DatabaseError"),
    ("OperationalError", "DatabaseError"),
    ("IntegrityError", "DatabaseError"),
    ("InternalError", "DatabaseError"),
    ("ProgrammingError", "DatabaseError"),
    ("NotSupportedError", "DatabaseError"),
    ("TransactionManagementError", "ProgrammingError"),
    ("InvalidPage", "Exception"),
    ("PageNotAnInteger", "InvalidPage"),
    ("EmptyPage", "InvalidPage"),
    ("NotSupported", "Exception"),
    ("DatabaseOperationForbidden", "AssertionError"),
    ("MultiValueDictKeyError", "KeyError"),
    ("InvalidCacheBackendError", "ImproperlyConfigured"),
    ("ConnectionDoesNotExist", "Exception"),
    ("JSONDecodeError", "ValueError"),
    ("MemoryError", "Exception"),
    ("FileNotFoundError", "OSError"),
    // pytest
    ("Failed", "BaseException"),
    ("Skipped", "BaseException"),
    ("FixtureLookupError", "LookupError"),
];

/// The parent class of a built-in exception (model-specific `Article.DoesNotExist` is a
/// `DoesNotExist`).
pub fn exception_parent(name: &str) -> Option<&'static str> {
    if let Some((_, short)) = name.rsplit_once('.') {
        return match short {
            "DoesNotExist" => Some("DoesNotExist"),
            "MultipleObjectsReturned" => Some("MultipleObjectsReturned"),
            _ => EXCEPTION_PARENTS.iter().find(|(n, _)| *n == short).map(|(_, p)| *p),
        };
    }
    EXCEPTION_PARENTS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// Whether `name` is a known built-in exception class.
pub fn is_builtin_exception(name: &str) -> bool {
    name == "BaseException" || EXCEPTION_PARENTS.iter().any(|(n, _)| *n == name)
}

/// `name` and every class above it.
pub fn exception_parents(name: &str) -> Vec<String> {
    let mut out = vec![name.to_string()];
    let mut cur = name.to_string();
    while let Some(p) = exception_parent(&cur) {
        out.push(p.to_string());
        cur = p.to_string();
    }
    out
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

/// One line of a Python traceback: where a call was made.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceFrame {
    pub file: String,
    pub line: usize,
    pub func: String,
    pub text: String,
}

#[derive(Clone)]
pub struct SandboxError {
    pub kind: ErrorKind,
    /// The Python class of the exception (`KeyError`, `Article.DoesNotExist`, `BadInput`).
    pub exc: Rc<str>,
    pub message: String,
    /// Where in the source (QuerySet expression, template, `views.py`) the problem is.
    pub pos: Option<Pos>,
    /// Which source it was: e.g. `context "articles"`, `template`, `views.py`.
    pub source_name: Option<String>,
    /// The source line with a caret under the position, ready to print.
    pub excerpt: Option<String>,
    /// The exception object, when Python code raised or caught one (`raise MyError(...)`): a
    /// `value::Val`, kept opaque here (errors sit below the values they can carry; see
    /// `value::exception_value`).
    pub value: Option<Rc<dyn std::any::Any>>,
    /// Calls that led here, outermost first.
    pub traceback: Vec<TraceFrame>,
}

impl fmt::Debug for SandboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxError")
            .field("exc", &self.exc)
            .field("message", &self.message)
            .field("pos", &self.pos)
            .field("source_name", &self.source_name)
            .finish()
    }
}

impl PartialEq for SandboxError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.exc == other.exc && self.message == other.message && self.pos == other.pos
    }
}

pub type SResult<T> = Result<T, SandboxError>;

impl SandboxError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SandboxError {
            kind,
            exc: Rc::from(kind.python_name()),
            message: message.into(),
            pos: None,
            source_name: None,
            excerpt: None,
            value: None,
            traceback: Vec::new(),
        }
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

    /// The Python class name as `type(e).__name__` prints it.
    pub fn python_name(&self) -> &str {
        self.exc.rsplit('.').next().unwrap_or(&self.exc)
    }

    /// Whether this exception is an instance of the class named `class`.
    pub fn is_a(&self, class: &str) -> bool {
        exception_parents(&self.exc).iter().any(|c| c == class)
    }

    /// `ExceptionType: message`, one line, as a test runner or the run-project contract
    /// reports it.
    pub fn one_line(&self) -> String {
        if self.message.is_empty() {
            self.python_name().to_string()
        } else {
            format!("{}: {}", self.python_name(), self.message)
        }
    }

    /// The message as a learner reads it: kind, message, where, and the caret.
    pub fn pretty(&self) -> String {
        let mut s = self.one_line();
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
    let pad: String =
        line.chars().take(pos.col.saturating_sub(1).min(200)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    format!("    {shown}\n    {pad}^")
}

pub fn err(kind: ErrorKind, message: impl Into<String>) -> SandboxError {
    SandboxError::new(kind, message)
}

/// An exception of the Python class `name` (its kind follows from the class).
pub fn exc(name: &str, message: impl Into<String>) -> SandboxError {
    let mut e = SandboxError::new(ErrorKind::of_exception(name), message);
    e.exc = Rc::from(name);
    e
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

    #[test]
    fn exception_classes_know_their_parents() {
        assert!(exc("KeyError", "'x'").is_a("LookupError"));
        assert!(exc("Article.DoesNotExist", "x").is_a("ObjectDoesNotExist"));
        assert!(!exc("Article.DoesNotExist", "x").is_a("Tag.DoesNotExist"));
        assert!(exc("IntegrityError", "x").is_a("DatabaseError"));
        assert_eq!(exc("IntegrityError", "x").kind, ErrorKind::DatabaseError);
        assert_eq!(exc("Article.DoesNotExist", "x").python_name(), "DoesNotExist");
        assert!(!exc("Stopped", "x").is_a("Exception"));
    }
}
