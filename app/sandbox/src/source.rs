//! A source the learner wrote (a file of their project, a shell line, a template), by name and
//! text: errors point into it and the query log names the line that sent a query.

/// A named text the interpreter or the template engine runs.
#[derive(Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}
