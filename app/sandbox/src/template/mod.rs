//! The Django template language (5.2), the subset a query-optimization lesson needs and then
//! some: `{{ var|filter:arg }}`, `for`/`empty`, `if`/`elif`/`else` with Django's operator
//! precedence, `with`, `autoescape`, `comment`, `{% load cache %}` + `{% cache %}`,
//! `verbatim`, `spaceless`, `firstof`, `cycle`, `ifchanged`, `regroup`, `widthratio`, `filter`,
//! `templatetag`, `block`, `now`, and the deterministic built-in filters.
//!
//! Lookups, escaping, invalid-variable handling and error messages follow Django. Every
//! `{{ }}` and tag evaluation runs under [`Rt::with_origin`] (so each query names the
//! template line that caused it) and each `{% for %}` iteration under [`Rt::in_loop`].

//!
//! `{% extends %}`, `{% include %}`, `{% url %}` and `{% cache %}` reach the project and its
//! cache through [`host::Host`]: nothing here imports from `django/`.

mod blocks;
mod compile;
mod context;
mod dateformat;
mod expr;
mod filters;
pub mod host;
mod lexer;
mod parser;
mod render;
mod text;
#[cfg(test)]
mod tests;

pub use compile::Template;
pub use context::Context;
pub use filters::escape;
pub use render::make_template_fragment_key;

/// Splits on whitespace and joins with single spaces (Python's `" ".join(s.split())`), the
/// whitespace-insensitive form run-cases outputs are compared in.
pub fn collapse_whitespace(s: &str) -> String {
    s.split(lexer::py_space).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}
