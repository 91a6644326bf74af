//! The Django template language (5.2), the subset a query-optimization lesson needs and then
//! some: `{{ var|filter:arg }}`, `for`/`empty`, `if`/`elif`/`else` with Django's operator
//! precedence, `with`, `autoescape`, `comment`, `{% load cache %}` + `{% cache %}`,
//! `verbatim`, `spaceless`, `firstof`, `cycle`, `ifchanged`, `regroup`, `widthratio`, `filter`,
//! `templatetag`, `block`, `now`, and the deterministic built-in filters.
//!
//! Lookups, escaping, invalid-variable handling and error messages follow Django. Every
//! `{{ }}` and tag evaluation runs under [`Rt::with_origin`] (so each query names the
//! template line that caused it) and each `{% for %}` iteration under [`Rt::in_loop`].

mod dateformat;
mod expr;
mod filters;
mod lexer;
mod md5;
mod parser;
mod render;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::error::SResult;
use crate::runtime::Rt;
use crate::value::Val;

pub use filters::escape;
pub use render::make_template_fragment_key;

/// The hex MD5 of `data` (cache keys, index names).
pub fn md5_hex(data: &[u8]) -> String {
    md5::hex(data)
}

/// A parsed template.
pub struct Template {
    src: std::rc::Rc<str>,
    /// The file it came from (`templates/articles/list.html`), for messages.
    pub name: Option<String>,
    nodes: std::rc::Rc<Vec<parser::Node>>,
    cycles: std::rc::Rc<Vec<parser::CycleDef>>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template").field("src", &self.src).finish_non_exhaustive()
    }
}

impl Template {
    /// Compiles `src`; a `TemplateSyntaxError` (or `NotSupported` for Django built-ins the
    /// sandbox leaves out) carries the position of the offending tag or filter.
    pub fn parse(src: &str) -> SResult<Template> {
        let parsed = parser::Parser::parse_template(src)?;
        Ok(Template { src: std::rc::Rc::from(src), name: None, nodes: std::rc::Rc::new(parsed.nodes), cycles: std::rc::Rc::new(parsed.cycles) })
    }

    /// Compiles a project template file.
    pub fn parse_named(src: &str, name: &str) -> SResult<Template> {
        let mut t = Template::parse(src)?;
        t.name = Some(name.to_string());
        Ok(t)
    }

    /// Renders with `ctx` (Django's `Template.render(Context(...))`).
    pub fn render(&self, rt: &Rt, ctx: &mut Context) -> SResult<String> {
        let mut r = render::Renderer::new(rt, self.src.clone(), self.cycles.clone());
        let mut out = String::new();
        let depth = ctx.scopes.len();
        let res = r.render_nodes(&self.nodes, ctx, &mut out);
        ctx.scopes.truncate(depth.max(1));
        res.map(|()| out)
    }

    pub fn source(&self) -> &str {
        &self.src
    }
}

/// The variables a template sees: a stack of scopes (`{% with %}` and `{% for %}` push one).
#[derive(Debug, Clone)]
pub struct Context {
    scopes: Vec<HashMap<String, Val>>,
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl Context {
    pub fn new() -> Self {
        Context { scopes: vec![HashMap::new()] }
    }

    pub fn from_pairs<S: AsRef<str>>(pairs: impl IntoIterator<Item = (S, Val)>) -> Self {
        let mut c = Context::new();
        for (k, v) in pairs {
            c.set(k.as_ref(), v);
        }
        c
    }

    /// Sets `name` in the innermost scope.
    pub fn set(&mut self, name: &str, v: Val) {
        if let Some(top) = self.scopes.last_mut() {
            top.insert(name.to_string(), v);
        }
    }

    /// Sets `name` in the innermost scope that has it, else the innermost (`set_upward`).
    pub fn set_upward(&mut self, name: &str, v: Val) {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(slot) = scope.get_mut(name) {
                *slot = v;
                return;
            }
        }
        self.set(name, v);
    }

    pub fn get(&self, name: &str) -> Option<Val> {
        self.scopes.iter().rev().find_map(|s| s.get(name).cloned())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s.contains_key(name))
    }

    pub fn push(&mut self) {
        self.scopes.push(HashMap::new());
    }

    /// Drops the innermost scope (the outermost one always stays).
    pub fn pop(&mut self) {
        if self.scopes.len() > 1 {
            self.scopes.pop();
        }
    }
}

/// Splits on whitespace and joins with single spaces (Python's `" ".join(s.split())`), the
/// whitespace-insensitive form run-cases outputs are compared in.
pub fn collapse_whitespace(s: &str) -> String {
    s.split(lexer::py_space).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}
