//! A recursive-descent parser for the Python subset, following CPython's grammar and its
//! error messages for the mistakes a learner makes (a missing `:`, an empty block, `=` where
//! `==` was meant, a keyword argument before a positional one, …).

use std::rc::Rc;

use super::ast::*;
use super::lexer::{tokenize, tokenize_from, Tok, Token};
use crate::error::{err, exc, ErrorKind, SResult, SandboxError};
use crate::value::BinOp;

/// Deepest nesting of expressions and blocks the parser accepts (CPython's own limit is
/// similar; it keeps the parser's recursion inside a small stack).
pub(crate) const MAX_DEPTH: usize = 150;

pub(super) const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
    "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or",
    "pass", "raise", "return", "try", "while", "with", "yield",
];

pub fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

/// Parses a module (a file of statements).
pub fn parse_module(src: &str) -> SResult<Vec<Stmt>> {
    let toks = tokenize(src)?;
    let mut p = Parser::new(src, toks);
    let mut body = Vec::new();
    while !p.at_end() {
        if matches!(p.peek(), Tok::Indent) {
            return Err(exc("IndentationError", "unexpected indent").at(src, p.pos()));
        }
        if matches!(p.peek(), Tok::Newline) {
            p.bump();
            continue;
        }
        body.extend(p.statement()?);
    }
    Ok(body)
}

/// Parses one expression (a context expression of the run-cases contract, an `eval`).
pub fn parse_expression(src: &str) -> SResult<Expr> {
    let toks = tokenize_from(src, 0, true)?;
    let mut p = Parser::new(src, toks);
    if p.at_end() {
        return Err(err(ErrorKind::SyntaxError, "invalid syntax (the expression is empty)").at(src, 0));
    }
    let e = p.star_expressions()?;
    if !p.at_end() {
        return Err(p.unexpected());
    }
    Ok(e)
}

pub(super) struct Parser<'a> {
    pub(super) src: &'a str,
    pub(super) toks: Vec<Token>,
    pub(super) i: usize,
    pub(super) depth: usize,
    /// Open `def`s and loops (for `return`/`break` outside them).
    pub(super) funcs: usize,
    pub(super) loops: usize,
}

pub(super) fn syntax(src: &str, at: usize, msg: impl Into<String>) -> SandboxError {
    err(ErrorKind::SyntaxError, msg).at(src, at)
}

impl<'a> Parser<'a> {
    pub(super) fn new(src: &'a str, toks: Vec<Token>) -> Parser<'a> {
        Parser { src, toks, i: 0, depth: 0, funcs: 0, loops: 0 }
    }

    // ------------------------------------------------------------ token helpers

    pub(super) fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }
    pub(super) fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }
    pub(super) fn pos(&self) -> usize {
        self.toks[self.i].start
    }
    pub(super) fn prev_end(&self) -> usize {
        if self.i == 0 {
            0
        } else {
            self.toks[self.i - 1].end
        }
    }
    pub(super) fn at_end(&self) -> bool {
        matches!(self.peek(), Tok::End)
    }
    pub(super) fn bump(&mut self) -> Token {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    pub(super) fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }
    pub(super) fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Name(n) if n == kw)
    }
    pub(super) fn eat(&mut self, op: &str) -> bool {
        if self.is_op(op) {
            self.bump();
            true
        } else {
            false
        }
    }
    pub(super) fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.bump();
            true
        } else {
            false
        }
    }
    pub(super) fn line_at(&self, at: usize) -> usize {
        self.src[..at.min(self.src.len())].matches('\n').count() + 1
    }
    pub(super) fn error_at(&self, at: usize, msg: impl Into<String>) -> SandboxError {
        syntax(self.src, at, msg)
    }
    /// "invalid syntax" at the current token, with CPython's better messages where it has them.
    pub(super) fn unexpected(&self) -> SandboxError {
        let at = self.pos();
        match self.peek() {
            Tok::End | Tok::Newline if self.i > 0 => self.error_at(at, "invalid syntax"),
            Tok::Indent => exc("IndentationError", "unexpected indent").at(self.src, at),
            // CPython suggests == only when '=' follows a complete expression.
            Tok::Op("=") if self.i > 0 && matches!(&self.toks[self.i - 1].tok, Tok::Name(_) | Tok::Str(_) | Tok::Int(_) | Tok::Float(_) | Tok::Op(")") | Tok::Op("]")) => {
                self.error_at(at, "invalid syntax. Maybe you meant '==' or ':=' instead of '='?")
            }
            _ => self.error_at(at, "invalid syntax"),
        }
    }
    pub(super) fn expect_op(&mut self, op: &str) -> SResult<()> {
        if self.eat(op) {
            Ok(())
        } else if op == ":" {
            Err(self.error_at(self.pos(), "expected ':'"))
        } else if matches!(self.peek(), Tok::End | Tok::Newline) {
            Err(self.error_at(self.pos(), "invalid syntax"))
        } else {
            Err(self.error_at(self.pos(), format!("invalid syntax (expected '{op}')")))
        }
    }
    pub(super) fn name(&mut self) -> SResult<(Rc<str>, usize)> {
        match self.peek().clone() {
            Tok::Name(n) if !is_keyword(&n) => {
                let at = self.pos();
                self.bump();
                Ok((Rc::from(n.as_str()), at))
            }
            _ => Err(self.unexpected()),
        }
    }
    pub(super) fn enter(&mut self) -> SResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(self.pos(), "too many nested parentheses or blocks for the sandbox"));
        }
        Ok(())
    }
    pub(super) fn leave(&mut self) {
        self.depth -= 1;
    }

    // ------------------------------------------------------------ statements

    pub(super) fn statement(&mut self) -> SResult<Vec<Stmt>> {
        let start = self.pos();
        let line = self.line_at(start);
        if let Tok::Name(n) = self.peek().clone() {
            let compound = match n.as_str() {
                "if" => Some(self.if_stmt()?),
                "while" => Some(self.while_stmt()?),
                "for" => Some(self.for_stmt()?),
                "try" => Some(self.try_stmt()?),
                "with" => Some(self.with_stmt()?),
                "def" => Some(self.funcdef(vec![], start)?),
                "class" => Some(self.classdef(vec![], start)?),
                "async" => return Err(self.error_at(start, "async code is not supported in the sandbox")),
                "elif" | "else" | "except" | "finally" => return Err(self.error_at(start, "invalid syntax")),
                _ => None,
            };
            if let Some(kind) = compound {
                return Ok(vec![Stmt { kind, start, end: self.prev_end(), line }]);
            }
        }
        if self.is_op("@") {
            let mut decorators = Vec::new();
            while self.eat("@") {
                decorators.push(self.named_expression()?);
                if !matches!(self.peek(), Tok::Newline) {
                    return Err(self.unexpected());
                }
                self.bump();
            }
            let at = self.pos();
            let kind = if self.is_kw("def") {
                self.funcdef(decorators, start)?
            } else if self.is_kw("class") {
                self.classdef(decorators, start)?
            } else {
                return Err(self.error_at(at, "invalid syntax (a decorator must be followed by def or class)"));
            };
            return Ok(vec![Stmt { kind, start, end: self.prev_end(), line }]);
        }
        self.simple_stmts()
    }

    pub(super) fn simple_stmts(&mut self) -> SResult<Vec<Stmt>> {
        let mut out = Vec::new();
        loop {
            let start = self.pos();
            let line = self.line_at(start);
            let kind = self.simple_stmt()?;
            out.push(Stmt { kind, start, end: self.prev_end(), line });
            if self.eat(";") {
                if matches!(self.peek(), Tok::Newline | Tok::End) {
                    break;
                }
                continue;
            }
            break;
        }
        match self.peek() {
            Tok::Newline => {
                self.bump();
            }
            Tok::End => {}
            _ => return Err(self.unexpected()),
        }
        Ok(out)
    }

    pub(super) fn simple_stmt(&mut self) -> SResult<StmtKind> {
        let at = self.pos();
        if let Tok::Name(n) = self.peek().clone() {
            match n.as_str() {
                "pass" => {
                    self.bump();
                    return Ok(StmtKind::Pass);
                }
                "break" | "continue" => {
                    self.bump();
                    if self.loops == 0 {
                        let what = if n == "break" { "'break' outside loop" } else { "'continue' not properly in loop" };
                        return Err(self.error_at(at, what));
                    }
                    return Ok(if n == "break" { StmtKind::Break } else { StmtKind::Continue });
                }
                "return" => {
                    self.bump();
                    if self.funcs == 0 {
                        return Err(self.error_at(at, "'return' outside function"));
                    }
                    let v = if self.ends_simple() { None } else { Some(self.star_expressions()?) };
                    return Ok(StmtKind::Return(v));
                }
                "raise" => {
                    self.bump();
                    if self.ends_simple() {
                        return Ok(StmtKind::Raise { exc: None, cause: None });
                    }
                    let e = self.expression()?;
                    let cause = if self.eat_kw("from") { Some(self.expression()?) } else { None };
                    return Ok(StmtKind::Raise { exc: Some(e), cause });
                }
                "global" | "nonlocal" => {
                    self.bump();
                    let mut names = vec![self.name()?.0];
                    while self.eat(",") {
                        names.push(self.name()?.0);
                    }
                    return Ok(if n == "global" { StmtKind::Global(names) } else { StmtKind::Nonlocal(names) });
                }
                "del" => {
                    self.bump();
                    let e = self.star_expressions()?;
                    let targets = match e.kind {
                        ExprKind::Tuple(items) => items,
                        _ => vec![e],
                    };
                    for t in &targets {
                        self.check_target(t, "delete")?;
                    }
                    return Ok(StmtKind::Del(targets));
                }
                "assert" => {
                    self.bump();
                    let test = self.expression()?;
                    let msg = if self.eat(",") { Some(self.expression()?) } else { None };
                    return Ok(StmtKind::Assert { test, msg });
                }
                "import" => {
                    self.bump();
                    let mut names = Vec::new();
                    loop {
                        let (dotted, at) = self.dotted_name()?;
                        let alias = if self.eat_kw("as") { Some(self.name()?.0) } else { None };
                        names.push((dotted, alias, at));
                        if !self.eat(",") {
                            break;
                        }
                    }
                    return Ok(StmtKind::Import(names));
                }
                "from" => return self.import_from(),
                "yield" => return Err(self.error_at(at, "generators (yield) are not supported in the sandbox")),
                "await" => return Err(self.error_at(at, "async code is not supported in the sandbox")),
                _ => {}
            }
        }
        // Expression statement or assignment.
        let first = self.star_expressions()?;
        if self.is_op("=") {
            let mut targets = vec![first];
            let mut value;
            loop {
                let eq_at = self.pos();
                self.bump();
                if matches!(self.peek(), Tok::Newline | Tok::End) {
                    return Err(self.error_at(eq_at + 1, "invalid syntax"));
                }
                value = self.star_expressions()?;
                if self.is_op("=") {
                    targets.push(value);
                    continue;
                }
                break;
            }
            for t in &targets {
                self.check_target(t, "assign to")?;
            }
            return Ok(StmtKind::Assign { targets, value });
        }
        if let Tok::Op(op) = self.peek().clone() {
            if let Some(bop) = aug_op(op) {
                self.bump();
                match &first.kind {
                    ExprKind::Name(_) | ExprKind::Attr(..) | ExprKind::Subscript(..) => {}
                    _ => {
                        return Err(self.error_at(
                            first.start,
                            format!("'{}' is an illegal expression for augmented assignment", describe(&first)),
                        ))
                    }
                }
                let value = self.star_expressions()?;
                return Ok(StmtKind::AugAssign { target: first, op: bop, value });
            }
        }
        if self.is_op(":") {
            // Annotated assignment `x: int = 0` (the annotation is evaluated and ignored).
            self.bump();
            match &first.kind {
                ExprKind::Name(_) | ExprKind::Attr(..) | ExprKind::Subscript(..) => {}
                _ => return Err(self.error_at(first.start, "only single target (not tuple) can be annotated")),
            }
            let _annotation = self.expression()?;
            let value = if self.eat("=") { Some(self.star_expressions()?) } else { None };
            return Ok(StmtKind::AnnAssign { target: first, value });
        }
        Ok(StmtKind::Expr(first))
    }

    pub(super) fn ends_simple(&self) -> bool {
        matches!(self.peek(), Tok::Newline | Tok::End | Tok::Op(";"))
    }

    pub(super) fn dotted_name(&mut self) -> SResult<(String, usize)> {
        let (first, at) = self.name()?;
        let mut s = first.to_string();
        while self.eat(".") {
            s.push('.');
            s.push_str(&self.name()?.0);
        }
        Ok((s, at))
    }

    pub(super) fn import_from(&mut self) -> SResult<StmtKind> {
        self.bump();
        let mut level = 0;
        loop {
            if self.eat(".") {
                level += 1;
            } else if self.eat("...") {
                level += 3;
            } else {
                break;
            }
        }
        let module_at = self.pos();
        let module = if self.is_kw("import") { String::new() } else { self.dotted_name()?.0 };
        if !self.eat_kw("import") {
            return Err(self.error_at(self.pos(), "invalid syntax (expected 'import')"));
        }
        if self.is_op("*") {
            return Err(self.error_at(self.pos(), "'from … import *' is not supported in the sandbox; import the names you use"));
        }
        let paren = self.eat("(");
        let mut names = Vec::new();
        loop {
            let (n, at) = self.name()?;
            let alias = if self.eat_kw("as") { Some(self.name()?.0) } else { None };
            names.push((n, alias, at));
            if !self.eat(",") {
                break;
            }
            if paren && self.is_op(")") {
                break;
            }
        }
        if paren {
            self.expect_op(")")?;
        }
        Ok(StmtKind::ImportFrom { module, level, names, module_at })
    }

    /// A block after `:` — either an indented suite or simple statements on the same line.
    pub(super) fn block(&mut self, what: &str, line: usize) -> SResult<Vec<Stmt>> {
        self.enter()?;
        let r = self.block_inner(what, line);
        self.leave();
        r
    }

    pub(super) fn block_inner(&mut self, what: &str, line: usize) -> SResult<Vec<Stmt>> {
        self.expect_op(":")?;
        if !matches!(self.peek(), Tok::Newline) {
            return self.simple_stmts();
        }
        self.bump();
        if !matches!(self.peek(), Tok::Indent) {
            let at = self.pos();
            return Err(exc("IndentationError", format!("expected an indented block after {what} on line {line}")).at(self.src, at));
        }
        self.bump();
        let mut body = Vec::new();
        loop {
            match self.peek() {
                Tok::Dedent => {
                    self.bump();
                    break;
                }
                Tok::End => break,
                Tok::Newline => {
                    self.bump();
                }
                Tok::Indent => return Err(exc("IndentationError", "unexpected indent").at(self.src, self.pos())),
                _ => body.extend(self.statement()?),
            }
        }
        Ok(body)
    }

    pub(super) fn if_stmt(&mut self) -> SResult<StmtKind> {
        let at = self.pos();
        let line = self.line_at(at);
        self.bump();
        let test = self.named_expression()?;
        let body = self.block("'if' statement", line)?;
        let orelse = if self.is_kw("elif") {
            let s = self.pos();
            let l = self.line_at(s);
            let kind = self.if_stmt()?;
            vec![Stmt { kind, start: s, end: self.prev_end(), line: l }]
        } else if self.is_kw("else") {
            let l = self.line_at(self.pos());
            self.bump();
            self.block("'else' statement", l)?
        } else {
            vec![]
        };
        Ok(StmtKind::If { test, body, orelse })
    }

    pub(super) fn while_stmt(&mut self) -> SResult<StmtKind> {
        let line = self.line_at(self.pos());
        self.bump();
        let test = self.named_expression()?;
        self.loops += 1;
        let body = self.block("'while' statement", line);
        self.loops -= 1;
        let body = body?;
        let orelse = if self.is_kw("else") {
            let l = self.line_at(self.pos());
            self.bump();
            self.block("'else' statement", l)?
        } else {
            vec![]
        };
        Ok(StmtKind::While { test, body, orelse })
    }

    pub(super) fn for_stmt(&mut self) -> SResult<StmtKind> {
        let line = self.line_at(self.pos());
        self.bump();
        let target = self.target_list()?;
        if !self.eat_kw("in") {
            return Err(self.error_at(self.pos(), "invalid syntax (expected 'in')"));
        }
        let iter = self.star_expressions()?;
        self.loops += 1;
        let body = self.block("'for' statement", line);
        self.loops -= 1;
        let body = body?;
        let orelse = if self.is_kw("else") {
            let l = self.line_at(self.pos());
            self.bump();
            self.block("'else' statement", l)?
        } else {
            vec![]
        };
        Ok(StmtKind::For { target, iter, body, orelse })
    }

    /// `for a, b in …` targets: bitwise-level expressions separated by commas.
    pub(super) fn target_list(&mut self) -> SResult<Expr> {
        let start = self.pos();
        let first = self.star_target()?;
        if !self.is_op(",") {
            self.check_target(&first, "assign to")?;
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat(",") {
            if self.is_kw("in") || self.is_op("=") {
                break;
            }
            items.push(self.star_target()?);
        }
        let e = Expr { kind: ExprKind::Tuple(items), start, end: self.prev_end() };
        self.check_target(&e, "assign to")?;
        Ok(e)
    }

    pub(super) fn star_target(&mut self) -> SResult<Expr> {
        let start = self.pos();
        if self.eat("*") {
            let inner = self.bitwise_or()?;
            return Ok(Expr { kind: ExprKind::Starred(Box::new(inner)), start, end: self.prev_end() });
        }
        self.bitwise_or()
    }

    pub(super) fn try_stmt(&mut self) -> SResult<StmtKind> {
        let line = self.line_at(self.pos());
        self.bump();
        let body = self.block("'try' statement", line)?;
        let mut handlers = Vec::new();
        while self.is_kw("except") {
            let start = self.pos();
            let l = self.line_at(start);
            self.bump();
            let (typ, name) = if self.is_op(":") {
                (None, None)
            } else {
                let t = self.expression()?;
                let t = if self.is_op(",") {
                    // `except A, B:` is Python 2; CPython 3.11 asks for parentheses.
                    return Err(self.error_at(t.start, "multiple exception types must be parenthesized"));
                } else {
                    t
                };
                let n = if self.eat_kw("as") { Some(self.name()?.0) } else { None };
                (Some(t), n)
            };
            let hbody = self.block("'except' statement", l)?;
            handlers.push(Handler { typ, name, body: hbody, start });
        }
        let orelse = if !handlers.is_empty() && self.is_kw("else") {
            let l = self.line_at(self.pos());
            self.bump();
            self.block("'else' statement", l)?
        } else {
            vec![]
        };
        let finalbody = if self.is_kw("finally") {
            let l = self.line_at(self.pos());
            self.bump();
            self.block("'finally' statement", l)?
        } else {
            vec![]
        };
        if handlers.is_empty() && finalbody.is_empty() {
            return Err(self.error_at(self.pos(), "expected 'except' or 'finally' block"));
        }
        Ok(StmtKind::Try { body, handlers, orelse, finalbody })
    }

    pub(super) fn with_stmt(&mut self) -> SResult<StmtKind> {
        let line = self.line_at(self.pos());
        self.bump();
        let mut items = Vec::new();
        let paren = self.is_op("(") && self.with_items_parenthesized();
        if paren {
            self.bump();
        }
        loop {
            let e = self.expression()?;
            let target = if self.eat_kw("as") {
                let t = self.star_target()?;
                self.check_target(&t, "assign to")?;
                Some(t)
            } else {
                None
            };
            items.push((e, target));
            if !self.eat(",") {
                break;
            }
            if paren && self.is_op(")") {
                break;
            }
        }
        if paren {
            self.expect_op(")")?;
        }
        let body = self.block("'with' statement", line)?;
        Ok(StmtKind::With { items, body })
    }

    /// `with (a as b, c):` — a parenthesized list of items rather than a parenthesized expression.
    pub(super) fn with_items_parenthesized(&self) -> bool {
        let mut depth = 0;
        let mut j = self.i;
        while j < self.toks.len() {
            match &self.toks[j].tok {
                Tok::Op("(") | Tok::Op("[") | Tok::Op("{") => depth += 1,
                Tok::Op(")") | Tok::Op("]") | Tok::Op("}") => {
                    depth -= 1;
                    if depth == 0 {
                        return matches!(self.toks.get(j + 1).map(|t| &t.tok), Some(Tok::Op(":")))
                            && self.toks[self.i..j].iter().any(|t| matches!(&t.tok, Tok::Name(n) if n == "as"));
                    }
                }
                Tok::Newline | Tok::End => return false,
                _ => {}
            }
            j += 1;
        }
        false
    }

    pub(super) fn funcdef(&mut self, decorators: Vec<Expr>, start: usize) -> SResult<StmtKind> {
        let line = self.line_at(self.pos());
        self.bump();
        let (name, _) = self.name()?;
        self.expect_op("(")?;
        let params = self.params(")")?;
        self.expect_op(")")?;
        if self.eat("->") {
            self.expression()?;
        }
        let (loops, funcs) = (self.loops, self.funcs);
        self.loops = 0;
        self.funcs += 1;
        let body = self.block(&format!("function definition"), line);
        self.loops = loops;
        self.funcs = funcs;
        let body = body?;
        let def = make_funcdef(name, params, body, decorators, false, start, line);
        Ok(StmtKind::FunctionDef(Rc::new(def)))
    }

    pub(super) fn params(&mut self, close: &str) -> SResult<Params> {
        let mut p = Params::default();
        let mut seen_default = false;
        let mut after_star = false;
        let mut names: Vec<Rc<str>> = Vec::new();
        let mut add_name = |this: &Self, n: &Rc<str>, at: usize| -> SResult<()> {
            if names.contains(n) {
                return Err(this.error_at(at, format!("duplicate argument '{n}' in function definition")));
            }
            names.push(n.clone());
            Ok(())
        };
        while !self.is_op(close) {
            let at = self.pos();
            if self.eat("**") {
                let (n, at) = self.name()?;
                add_name(self, &n, at)?;
                if close == ")" && self.eat(":") {
                    self.expression()?;
                }
                p.kwarg = Some(n);
                self.eat(",");
                if !self.is_op(close) {
                    return Err(self.error_at(self.pos(), "arguments cannot follow var-keyword argument"));
                }
                break;
            }
            if self.eat("*") {
                if after_star {
                    return Err(self.error_at(at, "* argument may appear only once"));
                }
                after_star = true;
                if !self.is_op(",") && !self.is_op(close) {
                    let (n, at) = self.name()?;
                    add_name(self, &n, at)?;
                    if close == ")" && self.eat(":") {
                        self.expression()?;
                    }
                    p.vararg = Some(n);
                } else if self.is_op(close) {
                    return Err(self.error_at(at, "named arguments must follow bare *"));
                }
            } else if self.eat("/") {
                // Positional-only marker: accepted, not enforced.
            } else {
                let (n, nat) = self.name()?;
                add_name(self, &n, nat)?;
                if close == ")" && self.eat(":") {
                    self.expression()?;
                }
                let default = if self.eat("=") { Some(self.expression()?) } else { None };
                if after_star {
                    p.kwonly.push(Param { name: n, default });
                } else {
                    if default.is_none() && seen_default {
                        return Err(self.error_at(nat, "non-default argument follows default argument"));
                    }
                    seen_default |= default.is_some();
                    p.args.push(Param { name: n, default });
                }
            }
            if !self.eat(",") {
                break;
            }
        }
        Ok(p)
    }

    pub(super) fn classdef(&mut self, decorators: Vec<Expr>, start: usize) -> SResult<StmtKind> {
        let line = self.line_at(self.pos());
        self.bump();
        let (name, _) = self.name()?;
        let mut bases = Vec::new();
        if self.eat("(") {
            for a in self.call_args()? {
                match a {
                    Arg::Pos(e) => bases.push(e),
                    // metaclass=… and friends: accepted, ignored.
                    Arg::Kw(..) => {}
                    Arg::Star(e) | Arg::StarStar(e) => return Err(self.error_at(e.start, "*bases are not supported in the sandbox")),
                }
            }
            self.expect_op(")")?;
        }
        let (loops, funcs) = (self.loops, self.funcs);
        self.loops = 0;
        self.funcs = 0;
        let body = self.block("class definition", line);
        self.loops = loops;
        self.funcs = funcs;
        Ok(StmtKind::ClassDef(Rc::new(ClassDef { name, bases, body: body?, decorators, start })))
    }

    pub(super) fn check_target(&self, e: &Expr, what: &str) -> SResult<()> {
        match &e.kind {
            ExprKind::Name(n) => {
                if matches!(&**n, "True" | "False" | "None") {
                    return Err(self.error_at(e.start, format!("cannot {what} {n}")));
                }
                Ok(())
            }
            ExprKind::Attr(..) | ExprKind::Subscript(..) => Ok(()),
            ExprKind::Tuple(items) | ExprKind::List(items) => {
                let mut stars = 0;
                for i in items {
                    if let ExprKind::Starred(inner) = &i.kind {
                        stars += 1;
                        self.check_target(inner, what)?;
                    } else {
                        self.check_target(i, what)?;
                    }
                }
                if stars > 1 {
                    return Err(self.error_at(e.start, "multiple starred expressions in assignment"));
                }
                Ok(())
            }
            ExprKind::Starred(_) => Err(self.error_at(e.start, "starred assignment target must be in a list or tuple")),
            ExprKind::Const(_) | ExprKind::FString(_) => {
                let hint = if what == "assign to" { " here. Maybe you meant '==' instead of '='?" } else { "" };
                Err(self.error_at(e.start, format!("cannot {what} literal{hint}")))
            }
            ExprKind::Call { .. } => {
                let hint = if what == "assign to" { " here. Maybe you meant '==' instead of '='?" } else { "" };
                Err(self.error_at(e.start, format!("cannot {what} function call{hint}")))
            }
            _ => Err(self.error_at(e.start, format!("cannot {what} {}", describe(e)))),
        }
    }

}

pub(super) fn aug_op(op: &str) -> Option<BinOp> {
    Some(match op {
        "+=" => BinOp::Add,
        "-=" => BinOp::Sub,
        "*=" => BinOp::Mul,
        "/=" => BinOp::Div,
        "//=" => BinOp::FloorDiv,
        "%=" => BinOp::Mod,
        "**=" => BinOp::Pow,
        "<<=" => BinOp::LShift,
        ">>=" => BinOp::RShift,
        "|=" => BinOp::BitOr,
        "^=" => BinOp::BitXor,
        "&=" => BinOp::BitAnd,
        "@=" => BinOp::MatMul,
        _ => return None,
    })
}

/// What CPython calls an expression in "cannot assign to …".
pub(super) fn describe(e: &Expr) -> &'static str {
    match &e.kind {
        ExprKind::BinOp(..) | ExprKind::Unary(..) => "expression",
        ExprKind::BoolOp(..) => "expression",
        ExprKind::Compare(..) => "comparison",
        ExprKind::IfExp { .. } => "conditional expression",
        ExprKind::Lambda(_) => "lambda",
        ExprKind::ListComp(..) => "list comprehension",
        ExprKind::SetComp(..) => "set comprehension",
        ExprKind::DictComp(..) => "dict comprehension",
        ExprKind::GenExp(..) => "generator expression",
        ExprKind::Dict(_) => "dict literal",
        ExprKind::Set(_) => "set display",
        ExprKind::Call { .. } => "function call",
        ExprKind::Const(_) => "literal",
        ExprKind::FString(_) => "f-string expression",
        ExprKind::NamedExpr(..) => "named expression",
        _ => "expression",
    }
}

pub(super) fn make_funcdef(
    name: Rc<str>,
    params: Params,
    body: Vec<Stmt>,
    decorators: Vec<Expr>,
    is_lambda: bool,
    start: usize,
    line: usize,
) -> FuncDef {
    let mut locals: Vec<Rc<str>> = Vec::new();
    let mut globals = Vec::new();
    let mut nonlocals = Vec::new();
    for p in params.args.iter().chain(params.kwonly.iter()) {
        push_unique(&mut locals, &p.name);
    }
    for n in params.vararg.iter().chain(params.kwarg.iter()) {
        push_unique(&mut locals, n);
    }
    collect_locals(&body, &mut locals, &mut globals, &mut nonlocals);
    locals.retain(|n| !globals.contains(n) && !nonlocals.contains(n));
    FuncDef { name, params, body, decorators, is_lambda, locals, globals, nonlocals, start, line }
}

fn push_unique(v: &mut Vec<Rc<str>>, n: &Rc<str>) {
    if !v.contains(n) {
        v.push(n.clone());
    }
}

fn target_names(e: &Expr, out: &mut Vec<Rc<str>>) {
    match &e.kind {
        ExprKind::Name(n) => push_unique(out, n),
        ExprKind::Tuple(items) | ExprKind::List(items) => items.iter().for_each(|i| target_names(i, out)),
        ExprKind::Starred(inner) => target_names(inner, out),
        _ => {}
    }
}

fn expr_walrus(e: &Expr, out: &mut Vec<Rc<str>>) {
    // Only the common spots; walrus inside deep expressions binds too, rarely used here.
    if let ExprKind::NamedExpr(n, _) = &e.kind {
        push_unique(out, n);
    }
}

/// The names a function body binds (Python makes them local for the whole body).
fn collect_locals(body: &[Stmt], out: &mut Vec<Rc<str>>, globals: &mut Vec<Rc<str>>, nonlocals: &mut Vec<Rc<str>>) {
    for s in body {
        match &s.kind {
            StmtKind::Assign { targets, .. } => targets.iter().for_each(|t| target_names(t, out)),
            StmtKind::AugAssign { target, .. } | StmtKind::AnnAssign { target, .. } => target_names(target, out),
            StmtKind::For { target, body, orelse, .. } => {
                target_names(target, out);
                collect_locals(body, out, globals, nonlocals);
                collect_locals(orelse, out, globals, nonlocals);
            }
            StmtKind::While { body, orelse, test } => {
                expr_walrus(test, out);
                collect_locals(body, out, globals, nonlocals);
                collect_locals(orelse, out, globals, nonlocals);
            }
            StmtKind::If { body, orelse, test } => {
                expr_walrus(test, out);
                collect_locals(body, out, globals, nonlocals);
                collect_locals(orelse, out, globals, nonlocals);
            }
            StmtKind::Try { body, handlers, orelse, finalbody } => {
                collect_locals(body, out, globals, nonlocals);
                for h in handlers {
                    if let Some(n) = &h.name {
                        push_unique(out, n);
                    }
                    collect_locals(&h.body, out, globals, nonlocals);
                }
                collect_locals(orelse, out, globals, nonlocals);
                collect_locals(finalbody, out, globals, nonlocals);
            }
            StmtKind::With { items, body } => {
                for (_, t) in items {
                    if let Some(t) = t {
                        target_names(t, out);
                    }
                }
                collect_locals(body, out, globals, nonlocals);
            }
            StmtKind::FunctionDef(f) => push_unique(out, &f.name),
            StmtKind::ClassDef(c) => push_unique(out, &c.name),
            StmtKind::Import(names) => {
                for (dotted, alias, _) in names {
                    let n: Rc<str> = match alias {
                        Some(a) => a.clone(),
                        None => Rc::from(dotted.split('.').next().unwrap_or(dotted)),
                    };
                    push_unique(out, &n);
                }
            }
            StmtKind::ImportFrom { names, .. } => {
                for (n, alias, _) in names {
                    push_unique(out, alias.as_ref().unwrap_or(n));
                }
            }
            StmtKind::Del(targets) => targets.iter().for_each(|t| target_names(t, out)),
            StmtKind::Global(names) => names.iter().for_each(|n| push_unique(globals, n)),
            StmtKind::Nonlocal(names) => names.iter().for_each(|n| push_unique(nonlocals, n)),
            StmtKind::Expr(e) => expr_walrus(e, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn module_err(src: &str) -> SandboxError {
        parse_module(src).expect_err(src)
    }

    #[test]
    pub(super) fn parses_a_django_view_module() {
        let src = r#"from django.shortcuts import render, get_object_or_404
from django.views.decorators.cache import cache_page

@cache_page(60)
def article_list(request, *args, page=1, **kwargs):
    qs = Article.objects.published().select_related("author")
    tag = request.GET.get("tag")
    if tag:
        qs = qs.filter(tags__slug=tag)
    elif page > 1:
        pass
    else:
        qs = qs[:10]
    names = [a.title for a in qs if a.id > 0]
    counts = {t.slug: n for t, n in pairs}
    try:
        x = 1 / 0
    except (ZeroDivisionError, ValueError) as e:
        x = None
    finally:
        y = f"{len(names)!r:>5} items, {x=}"
    with transaction.atomic():
        a.save()
    return render(request, "articles/list.html", {"articles": qs, **extra})

class Tests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.n = 3

    def test_count(self):
        with self.assertNumQueries(2):
            self.client.get("/articles/")
"#;
        let body = parse_module(src).unwrap();
        // Two imports, the decorated view, the test class.
        assert_eq!(body.len(), 4);
        let StmtKind::FunctionDef(f) = &body[2].kind else { panic!() };
        assert_eq!(&*f.name, "article_list");
        assert_eq!(f.decorators.len(), 1);
        assert!(f.locals.iter().any(|n| &**n == "qs"));
        assert!(f.locals.iter().any(|n| &**n == "e"));
    }

    #[test]
    pub(super) fn messages_follow_cpython() {
        assert_eq!(module_err("if x\n    y = 1\n").message, "expected ':'");
        assert_eq!(module_err("if x:\ny = 1\n").message, "expected an indented block after 'if' statement on line 1");
        assert_eq!(module_err("x = 1\n    y = 2\n").message, "unexpected indent");
        assert_eq!(module_err("f(a=1, 2)\n").message, "positional argument follows keyword argument");
        assert_eq!(module_err("1 = x\n").message, "cannot assign to literal here. Maybe you meant '==' instead of '='?");
        assert_eq!(module_err("return 1\n").message, "'return' outside function");
        assert_eq!(module_err("def f(a=1, b):\n    pass\n").message, "non-default argument follows default argument");
        assert_eq!(module_err("break\n").message, "'break' outside loop");
        let e = module_err("def f():\n    x = (1,\n");
        assert_eq!(e.message, "'(' was never closed");
        assert_eq!(e.pos.unwrap().line, 2);
    }

    #[test]
    pub(super) fn expressions_keep_python_precedence() {
        let e = parse_expression("not a == b and c or d").unwrap();
        assert!(matches!(e.kind, ExprKind::BoolOp(false, _)));
        let e = parse_expression("-2 ** 2").unwrap();
        assert!(matches!(e.kind, ExprKind::Unary(UnaryOp::Neg, _)));
        let e = parse_expression("Q(a=1) | ~Q(b=2) & Q(c=3)").unwrap();
        assert!(matches!(e.kind, ExprKind::BinOp(BinOp::BitOr, _, _)));
        let e = parse_expression("x if y else z").unwrap();
        assert!(matches!(e.kind, ExprKind::IfExp { .. }));
        let e = parse_expression("qs[1:10:2]").unwrap();
        let ExprKind::Subscript(_, idx) = e.kind else { panic!() };
        assert!(matches!(idx.kind, ExprKind::Slice { .. }));
    }

    #[test]
    pub(super) fn fstrings_split_into_parts() {
        let e = parse_expression("f'{a} and {b!r:>{w}} {{x}}'").unwrap();
        let ExprKind::FString(parts) = e.kind else { panic!() };
        assert_eq!(parts.len(), 4);
        assert!(matches!(&parts[3], FPart::Lit(s) if s == " {x}"));
        let e = parse_expression("f'{x'").unwrap_err();
        assert!(e.message.contains("expecting '}'"), "{}", e.message);
    }

    #[test]
    pub(super) fn every_prefix_of_a_view_is_parsed_or_refused_cleanly() {
        let src = "def v(request, slug):\n    a = get_object_or_404(Article, slug=slug)\n    qs = [t.name for t in a.tags.all() if t]\n    try:\n        x = {'k': (1, 2)}[\"k\"][0]\n    except KeyError as e:\n        raise Http404(f\"no {slug!r}\") from e\n    return render(request, 'd.html', {'a': a, **{'q': qs}})\n";
        for end in 0..=src.len() {
            if src.is_char_boundary(end) {
                let _ = parse_module(&src[..end]);
            }
        }
    }

    #[test]
    pub(super) fn deep_nesting_is_refused_not_a_crash() {
        let deep = "(".repeat(5000) + &")".repeat(5000);
        assert!(parse_expression(&deep).is_err());
        let deep = "-".repeat(5000) + "1";
        let _ = parse_expression(&deep);
        let mut s = String::new();
        for i in 0..300 {
            s.push_str(&" ".repeat(i));
            s.push_str("if x:\n");
        }
        assert!(parse_module(&s).is_err());
    }
}
