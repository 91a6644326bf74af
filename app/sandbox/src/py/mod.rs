//! The Python subset the labs' `views.py`, helpers, signal receivers and `tests.py` are
//! written in: a tokenizer with Python's indentation rules, a parser with CPython's error
//! messages, and a tree-walking evaluator with the budget and query-origin hooks the
//! sandbox needs.
//!
//! Written by hand rather than pulled in (RustPython) to keep the engine worker small and the
//! messages ours; every node keeps its byte span so errors can point at the exact spot.

pub mod ast;
pub mod builtins;
pub mod interp;
pub mod lexer;
pub mod objects;
pub mod parser;
pub mod pyset;

pub use interp::{eval, exec_module, Frame};
pub use objects::{Namespace, NativeFn, SourceFile};
