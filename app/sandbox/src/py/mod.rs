//! The Python subset the labs' `views.py`, helpers, signal receivers and `tests.py` are
//! written in: a tokenizer with Python's indentation rules, a parser with CPython's error
//! messages, and a tree-walking evaluator with the budget and query-origin hooks the
//! sandbox needs.
//!
//! Written by hand rather than pulled in (RustPython) to keep the engine worker small and the
//! messages ours; every node keeps its byte span so errors can point at the exact spot.

//!
//! It reaches the program embedding it only through [`host::Host`] (modules beyond the
//! standard library, where misplaced names live, pytest's rewritten asserts): nothing here
//! imports from `django/`, `orm/` or `template/`.

pub mod args;
pub mod asserts;
pub mod ast;
pub mod builtins;
pub mod classes;
pub mod collections;
pub mod dates;
pub mod dict_views;
pub mod format;
pub mod host;
pub mod import;
pub mod interp;
pub mod json;
pub mod lexer;
pub mod methods;
pub mod objects;
pub mod parse_expr;
pub mod ops;
pub mod parser;
pub mod pickle;
pub mod pyset;
pub mod stdlib;
