//! Django's `Parser`: tokens → nodes, with the built-in tags' compile functions and the
//! `{% if %}` expression parser (`smartif`), keeping Django's error messages.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::expr::FilterExpr;
use super::lexer::{py_space, smart_split, tokenize, TokKind, Token};
use crate::error::{err, ErrorKind, SResult, SandboxError};

/// Deeper nesting than this is refused at parse time (rendering recurses once per level).
pub(crate) const MAX_DEPTH: usize = 200;

/// Where a tag is (for errors) and the label its queries carry.
#[derive(Debug, Clone)]
pub(crate) struct Tag {
    pub off: usize,
    pub label: Rc<str>,
    /// The template file (`templates/articles/front.html`; empty for a template from a
    /// string) and the tag's 1-based line with that line's text: the per-line profile's key.
    pub file: Rc<str>,
    pub line: u32,
    pub code: Rc<str>,
}

#[derive(Debug)]
pub(crate) enum Node {
    Text(Rc<str>),
    Var { tag: Tag, expr: FilterExpr },
    For(Box<ForNode>),
    If(Vec<IfBranch>),
    With { tag: Tag, assigns: Vec<(String, FilterExpr)>, body: Vec<Node> },
    Autoescape { on: bool, body: Vec<Node> },
    Cache(Box<CacheNode>),
    Spaceless(Vec<Node>),
    FirstOf { tag: Tag, exprs: Vec<FilterExpr>, asvar: Option<String> },
    Cycle { tag: Tag, id: usize },
    WidthRatio { tag: Tag, val: FilterExpr, max: FilterExpr, width: FilterExpr, asvar: Option<String> },
    Filter { tag: Tag, expr: FilterExpr, body: Vec<Node> },
    IfChanged { tag: Tag, id: usize, exprs: Vec<FilterExpr>, yes: Vec<Node>, no: Vec<Node> },
    Block { name: Rc<str>, body: Rc<Vec<Node>> },
    /// `{% extends "base.html" %}` and the rest of the template (only its blocks matter).
    Extends { tag: Tag, parent: FilterExpr, nodes: Rc<Vec<Node>> },
    Include { tag: Tag, template: FilterExpr, extra: Vec<(String, FilterExpr)>, only: bool },
    Url { tag: Tag, view: FilterExpr, args: Vec<FilterExpr>, kwargs: Vec<(String, FilterExpr)>, asvar: Option<String> },
    Now { tag: Tag, fmt: String, asvar: Option<String> },
    Regroup { tag: Tag, target: FilterExpr, key: FilterExpr, var: String },
}

#[derive(Debug)]
pub(crate) struct ForNode {
    pub tag: Tag,
    pub vars: Vec<String>,
    pub seq: FilterExpr,
    pub reversed: bool,
    pub body: Vec<Node>,
    pub empty: Vec<Node>,
}

#[derive(Debug)]
pub(crate) struct IfBranch {
    /// `None` for `{% else %}`.
    pub cond: Option<(Cond, Tag)>,
    pub body: Vec<Node>,
}

#[derive(Debug)]
pub(crate) struct CacheNode {
    pub tag: Tag,
    pub timeout: FilterExpr,
    pub name: String,
    pub vary: Vec<FilterExpr>,
    pub using: Option<FilterExpr>,
    pub body: Vec<Node>,
}

#[derive(Debug)]
pub(crate) struct CycleDef {
    pub values: Vec<FilterExpr>,
    pub name: Option<String>,
    pub silent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Or,
    And,
    Not,
    In,
    NotIn,
    Is,
    IsNot,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn from_token(s: &str) -> Option<Op> {
        Some(match s {
            "or" => Op::Or,
            "and" => Op::And,
            "not" => Op::Not,
            "in" => Op::In,
            "not in" => Op::NotIn,
            "is" => Op::Is,
            "is not" => Op::IsNot,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Op::Or => "or",
            Op::And => "and",
            Op::Not => "not",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::Is => "is",
            Op::IsNot => "is not",
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }

    fn lbp(self) -> u8 {
        match self {
            Op::Or => 6,
            Op::And => 7,
            Op::Not => 8,
            Op::In | Op::NotIn => 9,
            _ => 10,
        }
    }
}

#[derive(Debug)]
pub(crate) enum Cond {
    Lit(FilterExpr),
    Not(Box<Cond>),
    Bin(Op, Box<Cond>, Box<Cond>),
}

pub(crate) struct Parsed {
    pub nodes: Vec<Node>,
    pub cycles: Vec<CycleDef>,
}

fn tse(msg: impl Into<String>) -> SandboxError {
    err(ErrorKind::TemplateSyntaxError, msg)
}

/// Python's `repr(str)`.
fn r(s: &str) -> String {
    crate::pyfmt::python_str_repr(s)
}

/// Django's `get_text_list(items, "or")`.
fn text_list(items: &[String]) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

fn py_split(s: &str) -> Vec<&str> {
    s.split(py_space).filter(|w| !w.is_empty()).collect()
}

/// Tags Django has built in that the sandbox does not imitate.
const UNSUPPORTED_TAGS: &[&str] = &["lorem", "debug", "resetcycle", "querystring"];
const OTHER_LIBRARIES: &[&str] = &["i18n", "l10n", "static", "tz"];

pub(crate) struct Parser<'s> {
    src: &'s str,
    tokens: Vec<Token>,
    pos: usize,
    command_stack: Vec<(String, usize)>,
    depth: usize,
    cache_loaded: bool,
    cycles: Vec<CycleDef>,
    named_cycles: Option<HashMap<String, usize>>,
    blocks: HashSet<String>,
    ifchanged: usize,
    /// A tag or variable was seen at the top level (`{% extends %}` must come first).
    seen_nontext: bool,
    in_extends: usize,
    /// The template's file name (see [`Tag::file`]) and where each line starts in `src`.
    file: Rc<str>,
    line_starts: Vec<usize>,
}

fn contains_extends(nodes: &[Node]) -> bool {
    nodes.iter().any(|n| matches!(n, Node::Extends { .. }))
}

impl<'s> Parser<'s> {
    /// Parses `src`; `name` is the project file it came from (queries and the profile name it).
    pub(crate) fn parse_template(src: &'s str, name: Option<&str>) -> SResult<Parsed> {
        let line_starts = std::iter::once(0).chain(src.match_indices('\n').map(|(i, _)| i + 1)).collect();
        let mut p = Parser {
            src,
            tokens: tokenize(src),
            pos: 0,
            command_stack: Vec::new(),
            depth: 0,
            cache_loaded: false,
            cycles: Vec::new(),
            named_cycles: None,
            blocks: HashSet::new(),
            ifchanged: 0,
            seen_nontext: false,
            in_extends: 0,
            file: Rc::from(name.unwrap_or("")),
            line_starts,
        };
        let nodes = p.parse(&[])?;
        Ok(Parsed { nodes, cycles: p.cycles })
    }

    fn tok(&self, i: usize) -> &Token {
        &self.tokens[i]
    }

    fn err_at(&self, ti: usize, e: SandboxError) -> SandboxError {
        e.at(self.src, self.tokens[ti].start)
    }

    fn tag_of(&self, ti: usize) -> Tag {
        let t = self.tok(ti);
        self.tag(t.start, t.line, format!("{{% {} %}}", t.contents))
    }

    /// A tag at `off` on `line` whose source is `shown`: its query label names the template
    /// (`articles/front.html line 3: {{ a.author.username }}`, or `template line 3: …` for a
    /// template from a string).
    fn tag(&self, off: usize, line: usize, shown: String) -> Tag {
        let short = self.file.strip_prefix("templates/").unwrap_or(&self.file);
        let label = if short.is_empty() { format!("template line {line}: {shown}") } else { format!("{short} line {line}: {shown}") };
        let start = self.line_starts.get(line.saturating_sub(1)).copied().unwrap_or(self.src.len()).min(self.src.len());
        let end = self.src[start..].find('\n').map_or(self.src.len(), |i| start + i);
        let code: String = self.src[start..end].trim().chars().take(160).collect();
        Tag { off, label: Rc::from(label), file: self.file.clone(), line: line as u32, code: Rc::from(code) }
    }

    /// Bits of a block token with their offsets in the source.
    fn bits(&self, ti: usize) -> Vec<(String, usize)> {
        let t = self.tok(ti);
        smart_split(&t.contents).into_iter().map(|(b, o)| (b, t.content_off + o)).collect()
    }

    fn compile(&self, bit: &(String, usize)) -> SResult<FilterExpr> {
        FilterExpr::parse(&bit.0, self.src, bit.1)
    }

    fn next_token(&mut self) -> usize {
        let i = self.pos;
        self.pos += 1;
        i
    }

    /// `parser.parse(parse_until)`: nodes up to one of `until`, left as the next token.
    ///
    /// Nested blocks recurse through `parse` → `parse_block` → `compile_tag` → a tag's compile
    /// function, so these keep their stack frames small (errors are built in cold helpers).
    fn parse(&mut self, until: &[&str]) -> SResult<Vec<Node>> {
        self.depth += 1;
        let out = if self.depth > MAX_DEPTH { Err(self.too_deep()) } else { self.parse_inner(until) };
        self.depth -= 1;
        out
    }

    #[cold]
    #[inline(never)]
    fn too_deep(&self) -> SandboxError {
        let at = self.pos.saturating_sub(1).min(self.tokens.len().saturating_sub(1));
        self.err_at(at, tse(format!("Template is too deeply nested (more than {MAX_DEPTH} nested block tags)")))
    }

    fn parse_inner(&mut self, until: &[&str]) -> SResult<Vec<Node>> {
        let mut nodes = Vec::new();
        while self.pos < self.tokens.len() {
            let ti = self.next_token();
            match self.tokens[ti].kind {
                TokKind::Text => nodes.push(Node::Text(Rc::from(self.tokens[ti].contents.as_str()))),
                TokKind::Comment => {}
                TokKind::Var => {
                    nodes.push(self.parse_var(ti)?);
                    if self.depth == 1 {
                        self.seen_nontext = true;
                    }
                }
                TokKind::Block => {
                    if !self.parse_block(ti, until, &mut nodes)? {
                        return Ok(nodes);
                    }
                    if self.depth == 1 {
                        self.seen_nontext = true;
                    }
                }
            }
        }
        if !until.is_empty() {
            return Err(self.unclosed(until));
        }
        Ok(nodes)
    }

    #[inline(never)]
    fn parse_var(&self, ti: usize) -> SResult<Node> {
        let t = self.tok(ti);
        if t.contents.is_empty() {
            return Err(self.err_at(ti, tse(format!("Empty variable tag on line {}", t.line))));
        }
        let expr = FilterExpr::parse(&t.contents, self.src, t.content_off)?;
        Ok(Node::Var { tag: self.tag(t.start, t.line, format!("{{{{ {} }}}}", t.contents)), expr })
    }

    /// Handles a block token; `Ok(false)` when it is one of `until` (left for the caller).
    fn parse_block(&mut self, ti: usize, until: &[&str], nodes: &mut Vec<Node>) -> SResult<bool> {
        let command = match self.command_of(ti) {
            Some(c) => c,
            None => return Err(self.empty_block(ti)),
        };
        if until.contains(&command.as_str()) {
            self.pos = ti;
            return Ok(false);
        }
        self.command_stack.push((command, ti));
        let top = self.command_stack.len() - 1;
        let node = self.compile_tag(top, ti, until)?;
        if let Some(node) = node {
            nodes.push(node);
        }
        self.command_stack.pop();
        Ok(true)
    }

    fn command_of(&self, ti: usize) -> Option<String> {
        py_split(&self.tokens[ti].contents).first().map(|c| c.to_string())
    }

    #[cold]
    #[inline(never)]
    fn empty_block(&self, ti: usize) -> SandboxError {
        self.err_at(ti, tse(format!("Empty block tag on line {}", self.tok(ti).line)))
    }

    fn unclosed(&mut self, until: &[&str]) -> SandboxError {
        match self.command_stack.pop() {
            Some((command, ti)) => self.err_at(
                ti,
                tse(format!(
                    "Unclosed tag on line {}: '{}'. Looking for one of: {}.",
                    self.tok(ti).line,
                    command,
                    until.join(", ")
                )),
            ),
            None => tse(format!("Unclosed tag. Looking for one of: {}.", until.join(", "))),
        }
    }

    fn invalid_block_tag(&self, ti: usize, command: &str, until: &[&str]) -> SandboxError {
        let line = self.tok(ti).line;
        let msg = if until.is_empty() {
            format!("Invalid block tag on line {line}: '{command}'. Did you forget to register or load this tag?")
        } else {
            let quoted: Vec<String> = until.iter().map(|u| format!("'{u}'")).collect();
            format!(
                "Invalid block tag on line {line}: '{command}', expected {}. Did you forget to register or load this tag?",
                text_list(&quoted)
            )
        };
        self.err_at(ti, tse(msg))
    }

    /// Parses up to `end` and consumes it (`parse((end,))` + `delete_first_token()`).
    fn body_until(&mut self, end: &str) -> SResult<Vec<Node>> {
        let body = self.parse(&[end])?;
        self.next_token();
        Ok(body)
    }

    /// Dispatches to the tag's compile function (`stack` indexes the command on the stack).
    fn compile_tag(&mut self, stack: usize, ti: usize, until: &[&str]) -> SResult<Option<Node>> {
        let id = match self.command_stack[stack].0.as_str() {
            "for" => 0,
            "if" => 1,
            "with" => 2,
            "autoescape" => 3,
            "comment" => 4,
            "load" => 5,
            "cache" if self.cache_loaded => 6,
            "verbatim" => 7,
            "spaceless" => 8,
            "filter" => 9,
            "ifchanged" => 10,
            "block" => 11,
            "extends" => 13,
            _ => 12,
        };
        match id {
            0 => self.do_for(ti),
            1 => self.do_if(ti),
            2 => self.do_with(ti),
            3 => self.do_autoescape(ti),
            4 => self.do_comment(),
            5 => self.do_load(ti),
            6 => self.do_cache(ti),
            7 => self.do_verbatim(),
            8 => self.do_spaceless(),
            9 => self.do_filter(ti),
            10 => self.do_ifchanged(ti),
            11 => self.do_block(ti),
            13 => self.do_extends(ti),
            _ => {
                let command = self.command_stack[stack].0.clone();
                self.compile_simple_tag(&command, ti, until)
            }
        }
    }

    fn do_spaceless(&mut self) -> SResult<Option<Node>> {
        Ok(Some(Node::Spaceless(self.body_until("endspaceless")?)))
    }

    fn fail<T>(&self, ti: usize, msg: impl Into<String>) -> SResult<T> {
        Err(self.err_at(ti, tse(msg)))
    }

    fn do_autoescape(&mut self, ti: usize) -> SResult<Option<Node>> {
        let contents = self.tok(ti).contents.clone();
        let args = py_split(&contents);
        if args.len() != 2 {
            return self.fail(ti, "'autoescape' tag requires exactly one argument.");
        }
        if args[1] != "on" && args[1] != "off" {
            return self.fail(ti, "'autoescape' argument should be 'on' or 'off'");
        }
        let on = args[1] == "on";
        Ok(Some(Node::Autoescape { on, body: self.body_until("endautoescape")? }))
    }

    fn do_comment(&mut self) -> SResult<Option<Node>> {
        while self.pos < self.tokens.len() {
            let i = self.next_token();
            let t = self.tok(i);
            if t.kind == TokKind::Block && t.contents == "endcomment" {
                return Ok(None);
            }
        }
        Err(self.unclosed(&["endcomment"]))
    }

    fn do_verbatim(&mut self) -> SResult<Option<Node>> {
        let body = self.body_until("endverbatim")?;
        let mut text = String::new();
        for n in &body {
            if let Node::Text(t) = n {
                text.push_str(t);
            }
        }
        Ok(Some(Node::Text(Rc::from(text))))
    }

    fn do_filter(&mut self, ti: usize) -> SResult<Option<Node>> {
        let t = self.tok(ti);
        let rest = t.contents["filter".len()..].trim_start_matches(py_space);
        if rest.is_empty() {
            // Django's compile function unpacks `token.contents.split(None, 1)`.
            return Err(self.err_at(ti, crate::error::exc("ValueError", "not enough values to unpack (expected 2, got 1)")));
        }
        let rest_off = t.content_off + (t.contents.len() - rest.len());
        let expr = FilterExpr::parse(&format!("var|{rest}"), self.src, rest_off - 4)?;
        for f in &expr.filters {
            if f.spec.name == "escape" || f.spec.name == "safe" {
                return self.fail(
                    ti,
                    format!("\"filter {}\" is not permitted.  Use the \"autoescape\" tag instead.", f.spec.name),
                );
            }
        }
        let body = self.body_until("endfilter")?;
        Ok(Some(Node::Filter { tag: self.tag_of(ti), expr, body }))
    }

    fn do_ifchanged(&mut self, ti: usize) -> SResult<Option<Node>> {
        let bits = self.bits(ti);
        let yes = self.parse(&["else", "endifchanged"])?;
        let end = self.next_token();
        let no = if self.tok(end).contents == "else" { self.body_until("endifchanged")? } else { Vec::new() };
        let exprs = bits[1..].iter().map(|b| self.compile(b)).collect::<SResult<Vec<_>>>()?;
        self.ifchanged += 1;
        Ok(Some(Node::IfChanged { tag: self.tag_of(ti), id: self.ifchanged - 1, exprs, yes, no }))
    }

    fn do_block(&mut self, ti: usize) -> SResult<Option<Node>> {
        let contents = self.tok(ti).contents.clone();
        let bits = py_split(&contents);
        if bits.len() != 2 {
            return self.fail(ti, "'block' tag takes only one argument");
        }
        let name = bits[1].to_string();
        if !self.blocks.insert(name.clone()) {
            return self.fail(ti, format!("'block' tag with name '{name}' appears more than once"));
        }
        let body = self.parse(&["endblock"])?;
        let end = self.next_token();
        let end_contents = self.tok(end).contents.clone();
        let named = format!("endblock {name}");
        if end_contents != "endblock" && end_contents != named {
            return Err(self.invalid_block_tag(end, "endblock", &["endblock", &named]));
        }
        Ok(Some(Node::Block { name: Rc::from(name.as_str()), body: Rc::new(body) }))
    }

    fn do_extends(&mut self, ti: usize) -> SResult<Option<Node>> {
        let bits = self.bits(ti);
        if bits.len() != 2 {
            return self.fail(ti, format!("'{}' takes one argument", bits[0].0));
        }
        if self.seen_nontext {
            return self.fail(ti, format!("<ExtendsNode: extends {}> must be the first tag in the template.", bits[1].0));
        }
        let parent = self.compile(&bits[1])?;
        self.in_extends += 1;
        let nodes = self.parse(&[]);
        self.in_extends -= 1;
        let nodes = nodes?;
        if contains_extends(&nodes) {
            return self.fail(ti, format!("'{}' cannot appear more than once in the same template", bits[0].0));
        }
        Ok(Some(Node::Extends { tag: self.tag_of(ti), parent, nodes: Rc::new(nodes) }))
    }

    /// `token_kwargs(bits, parser, support_legacy=False)`: only `name=value` bits.
    fn token_kwargs_strict(&self, bits: &mut Vec<(String, usize)>) -> SResult<Vec<(String, FilterExpr)>> {
        let mut out: Vec<(String, FilterExpr)> = Vec::new();
        while let Some((b, off)) = bits.first().cloned() {
            let n: usize = b.chars().take_while(|&c| super::lexer::py_word(c)).map(char::len_utf8).sum();
            if !(n > 0 && b[n..].starts_with('=') && b.len() > n + 1) {
                break;
            }
            bits.remove(0);
            let e = FilterExpr::parse(&b[n + 1..], self.src, off + n + 1)?;
            match out.iter_mut().find(|(k, _)| *k == b[..n]) {
                Some(slot) => slot.1 = e,
                None => out.push((b[..n].to_string(), e)),
            }
        }
        Ok(out)
    }

    fn compile_simple_tag(&mut self, command: &str, ti: usize, until: &[&str]) -> SResult<Option<Node>> {
        let contents = self.tok(ti).contents.clone();
        let fail = |p: &Self, msg: String| Err(p.err_at(ti, tse(msg)));
        Ok(Some(match command {
            "templatetag" => {
                let bits = py_split(&contents);
                if bits.len() != 2 {
                    return fail(self, "'templatetag' statement takes one argument".into());
                }
                let text = match bits[1] {
                    "openblock" => "{%",
                    "closeblock" => "%}",
                    "openvariable" => "{{",
                    "closevariable" => "}}",
                    "openbrace" => "{",
                    "closebrace" => "}",
                    "opencomment" => "{#",
                    "closecomment" => "#}",
                    other => {
                        return fail(
                            self,
                            format!(
                                "Invalid templatetag argument: '{other}'. Must be one of: ['openblock', 'closeblock', \
                                 'openvariable', 'closevariable', 'openbrace', 'closebrace', 'opencomment', 'closecomment']"
                            ),
                        )
                    }
                };
                Node::Text(Rc::from(text))
            }
            "firstof" => {
                let mut bits = self.bits(ti);
                bits.remove(0);
                if bits.is_empty() {
                    return fail(self, "'firstof' statement requires at least one argument".into());
                }
                let mut asvar = None;
                if bits.len() >= 2 && bits[bits.len() - 2].0 == "as" {
                    asvar = bits.pop().map(|b| b.0);
                    bits.pop();
                }
                let exprs = bits.iter().map(|b| self.compile(b)).collect::<SResult<Vec<_>>>()?;
                Node::FirstOf { tag: self.tag_of(ti), exprs, asvar }
            }
            "cycle" => self.do_cycle(ti)?,
            "widthratio" => {
                let bits = self.bits(ti);
                let asvar = match bits.len() {
                    4 => None,
                    6 => {
                        if bits[4].0 != "as" {
                            return fail(self, "Invalid syntax in widthratio tag. Expecting 'as' keyword".into());
                        }
                        Some(bits[5].0.clone())
                    }
                    _ => return fail(self, "widthratio takes at least three arguments".into()),
                };
                Node::WidthRatio {
                    tag: self.tag_of(ti),
                    val: self.compile(&bits[1])?,
                    max: self.compile(&bits[2])?,
                    width: self.compile(&bits[3])?,
                    asvar,
                }
            }
            "now" => {
                let bits = self.bits(ti);
                if bits.len() != 2 && !(bits.len() == 4 && bits[2].0 == "as") {
                    return fail(self, "'now' statement takes one argument".into());
                }
                let chars: Vec<char> = bits[1].0.chars().collect();
                let fmt: String =
                    if chars.len() >= 2 { chars[1..chars.len() - 1].iter().collect() } else { String::new() };
                let asvar = if bits.len() == 4 { Some(bits[3].0.clone()) } else { None };
                Node::Now { tag: self.tag_of(ti), fmt, asvar }
            }
            "regroup" => {
                let bits = self.bits(ti);
                if bits.len() != 6 {
                    return fail(self, "'regroup' tag takes five arguments".into());
                }
                let target = self.compile(&bits[1])?;
                if bits[2].0 != "by" {
                    return fail(self, "second argument to 'regroup' tag must be 'by'".into());
                }
                if bits[4].0 != "as" {
                    return fail(self, "next-to-last argument to 'regroup' tag must be 'as'".into());
                }
                let var = bits[5].0.clone();
                let key_src = format!("{var}.{}", bits[3].0);
                let key = FilterExpr::parse(&key_src, self.src, bits[3].1.saturating_sub(var.len() + 1))?;
                Node::Regroup { tag: self.tag_of(ti), target, key, var }
            }
            "csrf_token" => Node::Text(Rc::from("")),
            "url" => {
                let mut bits = self.bits(ti);
                if bits.len() < 2 {
                    return fail(self, format!("'{}' takes at least one argument, a URL pattern name.", bits[0].0));
                }
                let view = self.compile(&bits[1])?;
                let mut rest: Vec<(String, usize)> = bits.split_off(2);
                let mut asvar = None;
                if rest.len() >= 2 && rest[rest.len() - 2].0 == "as" {
                    asvar = rest.pop().map(|b| b.0);
                    rest.pop();
                }
                let mut args = Vec::new();
                let mut kwargs: Vec<(String, FilterExpr)> = Vec::new();
                for (b, off) in rest {
                    let n: usize = b.chars().take_while(|&c| super::lexer::py_word(c)).map(char::len_utf8).sum();
                    if n > 0 && b[n..].starts_with('=') && b.len() > n + 1 {
                        let e = FilterExpr::parse(&b[n + 1..], self.src, off + n + 1)?;
                        match kwargs.iter_mut().find(|(k, _)| *k == b[..n]) {
                            Some(slot) => slot.1 = e,
                            None => kwargs.push((b[..n].to_string(), e)),
                        }
                    } else if b.is_empty() {
                        return fail(self, "Malformed arguments to url tag".into());
                    } else {
                        args.push(FilterExpr::parse(&b, self.src, off)?);
                    }
                }
                Node::Url { tag: self.tag_of(ti), view, args, kwargs, asvar }
            }
            "include" => {
                let bits = self.bits(ti);
                if bits.len() < 2 {
                    return fail(self, format!("{} tag takes at least one argument: the name of the template to be included.", r(&bits[0].0)));
                }
                let template = self.compile(&bits[1])?;
                let mut rest: Vec<(String, usize)> = bits[2..].to_vec();
                let mut extra = Vec::new();
                let mut only = false;
                let mut seen: Vec<String> = Vec::new();
                while !rest.is_empty() {
                    let (option, _) = rest.remove(0);
                    if seen.contains(&option) {
                        return fail(self, format!("The {} option was specified more than once.", r(&option)));
                    }
                    seen.push(option.clone());
                    match option.as_str() {
                        "with" => {
                            extra = self.token_kwargs_strict(&mut rest)?;
                            if extra.is_empty() {
                                return fail(self, format!("\"with\" in {} tag needs at least one keyword argument.", r(&bits[0].0)));
                            }
                        }
                        "only" => only = true,
                        other => return fail(self, format!("Unknown argument for {} tag: {}.", r(&bits[0].0), r(other))),
                    }
                }
                Node::Include { tag: self.tag_of(ti), template, extra, only }
            }
            c if UNSUPPORTED_TAGS.contains(&c) => {
                return Err(self.err_at(
                    ti,
                    err(
                        ErrorKind::NotSupported,
                        format!("the '{{% {c} %}}' tag is a Django built-in that the sandbox does not provide"),
                    ),
                ))
            }
            _ => return Err(self.invalid_block_tag(ti, command, until)),
        }))
    }

    fn do_for(&mut self, ti: usize) -> SResult<Option<Node>> {
        let contents = self.tok(ti).contents.clone();
        let bits = self.bits(ti);
        if bits.len() < 4 {
            return Err(self.err_at(ti, tse(format!("'for' statements should have at least four words: {contents}"))));
        }
        let reversed = bits[bits.len() - 1].0 == "reversed";
        let in_index = if reversed { bits.len() - 3 } else { bits.len() - 2 };
        if bits[in_index].0 != "in" {
            return Err(
                self.err_at(ti, tse(format!("'for' statements should use the format 'for x in y': {contents}")))
            );
        }
        let joined = bits[1..in_index].iter().map(|b| b.0.as_str()).collect::<Vec<_>>().join(" ");
        let vars: Vec<String> = joined.split(',').map(|v| v.trim_matches(' ').to_string()).collect();
        for v in &vars {
            if v.is_empty() || v.contains([' ', '"', '\'', '|']) {
                return Err(self.err_at(ti, tse(format!("'for' tag received an invalid argument: {contents}"))));
            }
        }
        let seq = self.compile(&bits[in_index + 1])?;
        let body = self.parse(&["empty", "endfor"])?;
        let end = self.next_token();
        let empty = if self.tok(end).contents == "empty" { self.body_until("endfor")? } else { Vec::new() };
        Ok(Some(Node::For(Box::new(ForNode { tag: self.tag_of(ti), vars, seq, reversed, body, empty }))))
    }

    fn do_if(&mut self, ti: usize) -> SResult<Option<Node>> {
        let mut branches = Vec::new();
        let mut cond_ti = ti;
        loop {
            let bits = self.bits(cond_ti);
            let cond = self.parse_condition(cond_ti, &bits[1..])?;
            let body = self.parse(&["elif", "else", "endif"])?;
            branches.push(IfBranch { cond: Some((cond, self.tag_of(cond_ti))), body });
            let next = self.next_token();
            if self.tok(next).contents.starts_with("elif") {
                cond_ti = next;
                continue;
            }
            let mut end = next;
            if self.tok(next).contents == "else" {
                let body = self.parse(&["endif"])?;
                branches.push(IfBranch { cond: None, body });
                end = self.next_token();
            }
            if self.tok(end).contents != "endif" {
                let t = self.tok(end);
                return Err(
                    self.err_at(end, tse(format!("Malformed template tag at line {}: \"{}\"", t.line, t.contents)))
                );
            }
            return Ok(Some(Node::If(branches)));
        }
    }

    /// Django's `token_kwargs(bits, parser, support_legacy=True)`; consumes what it uses.
    fn token_kwargs(&self, bits: &mut Vec<(String, usize)>) -> SResult<Vec<(String, FilterExpr)>> {
        // kwarg_re = r"(?:(\w+)=)?(.+)"
        fn kwarg(s: &str) -> Option<(String, usize)> {
            let n: usize = s.chars().take_while(|&c| super::lexer::py_word(c)).map(char::len_utf8).sum();
            if n > 0 && s[n..].starts_with('=') && s.len() > n + 1 {
                Some((s[..n].to_string(), n + 1))
            } else {
                None
            }
        }
        let mut out: Vec<(String, FilterExpr)> = Vec::new();
        if bits.is_empty() {
            return Ok(out);
        }
        let kwarg_format = kwarg(&bits[0].0).is_some();
        if !kwarg_format && (bits.len() < 3 || bits[1].0 != "as") {
            return Ok(out);
        }
        while !bits.is_empty() {
            let (key, expr) = if kwarg_format {
                let Some((key, vstart)) = kwarg(&bits[0].0) else {
                    return Ok(out);
                };
                let (b, off) = bits.remove(0);
                (key, FilterExpr::parse(&b[vstart..], self.src, off + vstart)?)
            } else {
                if bits.len() < 3 || bits[1].0 != "as" {
                    return Ok(out);
                }
                let v = bits.remove(0);
                bits.remove(0);
                let (key, _) = bits.remove(0);
                (key, self.compile(&v)?)
            };
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = expr,
                None => out.push((key, expr)),
            }
            if !bits.is_empty() && !kwarg_format {
                if bits[0].0 != "and" {
                    return Ok(out);
                }
                bits.remove(0);
            }
        }
        Ok(out)
    }

    fn do_with(&mut self, ti: usize) -> SResult<Option<Node>> {
        let mut bits = self.bits(ti);
        bits.remove(0);
        let assigns = self.token_kwargs(&mut bits)?;
        if assigns.is_empty() {
            return Err(self.err_at(ti, tse("'with' expected at least one variable assignment")));
        }
        if let Some((b, off)) = bits.first() {
            return Err(tse(format!("'with' received an invalid token: {}", r(b))).at(self.src, *off));
        }
        let body = self.body_until("endwith")?;
        Ok(Some(Node::With { tag: self.tag_of(ti), assigns, body }))
    }

    fn do_load(&mut self, ti: usize) -> SResult<Option<Node>> {
        let contents = self.tok(ti).contents.clone();
        let bits = py_split(&contents);
        let check = |p: &Self, name: &str| -> SResult<()> {
            if name == "cache" {
                Ok(())
            } else if OTHER_LIBRARIES.contains(&name) {
                Err(p.err_at(
                    ti,
                    err(
                        ErrorKind::NotSupported,
                        format!("the '{name}' tag library is part of Django but the sandbox only provides 'cache'"),
                    ),
                ))
            } else {
                Err(p.err_at(ti, tse(format!("'{name}' is not a registered tag library. Must be one of:\ncache"))))
            }
        };
        if bits.len() >= 4 && bits[bits.len() - 2] == "from" {
            let lib = bits[bits.len() - 1];
            check(self, lib)?;
            for name in &bits[1..bits.len() - 2] {
                if *name != "cache" {
                    return Err(
                        self.err_at(ti, tse(format!("'{name}' is not a valid tag or filter in tag library '{lib}'")))
                    );
                }
            }
        } else {
            for name in &bits[1..] {
                check(self, name)?;
            }
        }
        if bits.len() > 1 {
            self.cache_loaded = true;
        }
        Ok(None)
    }

    fn do_cache(&mut self, ti: usize) -> SResult<Option<Node>> {
        let body = self.body_until("endcache")?;
        let mut bits = self.bits(ti);
        if bits.len() < 3 {
            return Err(self.err_at(ti, tse("''cache'' tag requires at least 2 arguments.")));
        }
        let mut using = None;
        if bits.len() > 3 && bits[bits.len() - 1].0.starts_with("using=") {
            let (b, off) = bits.pop().unwrap_or_default();
            using = Some(FilterExpr::parse(&b["using=".len()..], self.src, off + "using=".len())?);
        }
        let timeout = self.compile(&bits[1])?;
        let name = bits[2].0.clone();
        let vary = bits[3..].iter().map(|b| self.compile(b)).collect::<SResult<Vec<_>>>()?;
        Ok(Some(Node::Cache(Box::new(CacheNode { tag: self.tag_of(ti), timeout, name, vary, using, body }))))
    }

    fn do_cycle(&mut self, ti: usize) -> SResult<Node> {
        let mut args = self.bits(ti);
        if args.len() < 2 {
            return Err(self.err_at(ti, tse("'cycle' tag requires at least two arguments")));
        }
        if args.len() == 2 {
            let name = &args[1].0;
            let Some(named) = &self.named_cycles else {
                return Err(self.err_at(ti, tse(format!("No named cycles in template. '{name}' is not defined"))));
            };
            let Some(&id) = named.get(name) else {
                return Err(self.err_at(ti, tse(format!("Named cycle '{name}' does not exist"))));
            };
            return Ok(Node::Cycle { tag: self.tag_of(ti), id });
        }
        let mut as_form = false;
        let mut silent = false;
        let n = args.len();
        if n > 4 {
            if args[n - 3].0 == "as" {
                if args[n - 1].0 != "silent" {
                    return Err(self.err_at(
                        ti,
                        tse(format!("Only 'silent' flag is allowed after cycle's name, not '{}'.", args[n - 1].0)),
                    ));
                }
                as_form = true;
                silent = true;
                args.pop();
            } else if args[n - 2].0 == "as" {
                as_form = true;
            }
        }
        let id = self.cycles.len();
        let def = if as_form {
            let name = args[args.len() - 1].0.clone();
            let values = args[1..args.len() - 2].iter().map(|b| self.compile(b)).collect::<SResult<Vec<_>>>()?;
            self.named_cycles.get_or_insert_with(HashMap::new).insert(name.clone(), id);
            CycleDef { values, name: Some(name), silent }
        } else {
            let values = args[1..].iter().map(|b| self.compile(b)).collect::<SResult<Vec<_>>>()?;
            CycleDef { values, name: None, silent: false }
        };
        self.cycles.push(def);
        Ok(Node::Cycle { tag: self.tag_of(ti), id })
    }

    /// Django's `IfParser`: a Pratt parser over the tag's bits.
    fn parse_condition(&self, ti: usize, bits: &[(String, usize)]) -> SResult<Cond> {
        let mut toks: Vec<ITok> = Vec::new();
        let mut i = 0;
        while i < bits.len() {
            let b = bits[i].0.as_str();
            let next = bits.get(i + 1).map(|x| x.0.as_str());
            let t = if b == "is" && next == Some("not") {
                i += 1;
                "is not"
            } else if b == "not" && next == Some("in") {
                i += 1;
                "not in"
            } else {
                b
            };
            toks.push(match Op::from_token(t) {
                Some(op) => ITok::Op(op),
                None => ITok::Lit(self.compile(&bits[i])?, bits[i].0.clone()),
            });
            i += 1;
        }
        // Operator chains build a tree as deep as the chain; evaluating and dropping it recurse.
        if toks.iter().filter(|t| matches!(t, ITok::Op(_))).count() > MAX_DEPTH {
            return Err(self.err_at(ti, tse("if expression is too deeply nested")));
        }
        let mut p = IfParser { toks: toks.into_iter().map(Some).collect(), pos: 0, current: None, depth: 0 };
        p.current = p.next();
        let cond = p.expression(0).map_err(|e| self.err_at(ti, e))?;
        if let Some(t) = &p.current {
            return Err(self.err_at(ti, tse(format!("Unused '{}' at end of if expression.", t.display()))));
        }
        Ok(cond)
    }
}

enum ITok {
    Op(Op),
    Lit(FilterExpr, String),
}

impl ITok {
    fn lbp(&self) -> u8 {
        match self {
            ITok::Op(op) => op.lbp(),
            ITok::Lit(..) => 0,
        }
    }

    fn display(&self) -> String {
        match self {
            ITok::Op(op) => op.name().to_string(),
            ITok::Lit(_, text) => text.clone(),
        }
    }
}

struct IfParser {
    toks: Vec<Option<ITok>>,
    pos: usize,
    /// `None` is Django's `EndToken`.
    current: Option<ITok>,
    depth: usize,
}

impl IfParser {
    fn next(&mut self) -> Option<ITok> {
        let t = self.toks.get_mut(self.pos).and_then(Option::take);
        self.pos += 1;
        t
    }

    fn expression(&mut self, rbp: u8) -> SResult<Cond> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(tse("if expression is too deeply nested"));
        }
        let t = std::mem::replace(&mut self.current, None);
        self.current = self.next();
        let mut left = match t {
            None => return Err(tse("Unexpected end of expression in if tag.")),
            Some(ITok::Lit(e, _)) => Cond::Lit(e),
            Some(ITok::Op(Op::Not)) => Cond::Not(Box::new(self.expression(Op::Not.lbp())?)),
            Some(ITok::Op(op)) => {
                return Err(tse(format!("Not expecting '{}' in this position in if tag.", op.name())));
            }
        };
        while rbp < self.current.as_ref().map(ITok::lbp).unwrap_or(0) {
            let t = std::mem::replace(&mut self.current, None);
            self.current = self.next();
            left = match t {
                Some(ITok::Op(Op::Not)) => {
                    return Err(tse("Not expecting 'not' as infix operator in if tag."));
                }
                Some(ITok::Op(op)) => Cond::Bin(op, Box::new(left), Box::new(self.expression(op.lbp())?)),
                Some(t @ ITok::Lit(..)) => {
                    return Err(tse(format!("Not expecting '{}' as infix operator in if tag.", t.display())));
                }
                None => break,
            };
        }
        self.depth -= 1;
        Ok(left)
    }
}
