//! A compiled template: the parsed nodes of one source text (`Template(src)` in Django).

use crate::error::SResult;

/// A parsed template.
pub struct Template {
    pub(crate) src: std::rc::Rc<str>,
    /// The file it came from (`templates/articles/list.html`), for messages.
    pub name: Option<String>,
    pub(crate) nodes: std::rc::Rc<Vec<super::parser::Node>>,
    pub(crate) cycles: std::rc::Rc<Vec<super::parser::CycleDef>>,
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
        Template::compile(src, None)
    }

    /// Compiles a project template file.
    pub fn parse_named(src: &str, name: &str) -> SResult<Template> {
        Template::compile(src, Some(name))
    }

    fn compile(src: &str, name: Option<&str>) -> SResult<Template> {
        let parsed = super::parser::Parser::parse_template(src, name)?;
        Ok(Template {
            src: std::rc::Rc::from(src),
            name: name.map(str::to_string),
            nodes: std::rc::Rc::new(parsed.nodes),
            cycles: std::rc::Rc::new(parsed.cycles),
        })
    }

    pub fn source(&self) -> &str {
        &self.src
    }
}
