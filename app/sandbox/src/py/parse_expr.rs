//! The expression half of the Python parser (`impl Parser`): precedence climbing from
//! `lambda` and conditional expressions down to atoms, calls, subscripts, comprehensions and
//! f-strings, with CPython's messages. Statements are in `parser.rs`.

use std::rc::Rc;

use super::ast::*;
use super::lexer::{tokenize_from, Tok};
use super::parser::*;
use crate::error::{exc, SResult};
use crate::value::BinOp;

impl Parser<'_> {
    pub(super) fn star_expressions(&mut self) -> SResult<Expr> {
        let start = self.pos();
        let first = self.star_expression()?;
        if !self.is_op(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat(",") {
            if self.expression_ends() {
                break;
            }
            items.push(self.star_expression()?);
        }
        Ok(Expr { kind: ExprKind::Tuple(items), start, end: self.prev_end() })
    }

    pub(super) fn expression_ends(&self) -> bool {
        matches!(self.peek(), Tok::Newline | Tok::End | Tok::Op("=") | Tok::Op(")") | Tok::Op("]") | Tok::Op("}") | Tok::Op(";") | Tok::Op(":"))
            || matches!(self.peek(), Tok::Op(op) if aug_op(op).is_some())
            || self.is_kw("in")
    }

    pub(super) fn star_expression(&mut self) -> SResult<Expr> {
        let start = self.pos();
        if self.eat("*") {
            let inner = self.bitwise_or()?;
            return Ok(Expr { kind: ExprKind::Starred(Box::new(inner)), start, end: self.prev_end() });
        }
        self.expression()
    }

    pub(super) fn named_expression(&mut self) -> SResult<Expr> {
        if let (Tok::Name(n), Tok::Op(":=")) = (self.peek().clone(), self.peek_at(1).clone()) {
            if !is_keyword(&n) {
                let start = self.pos();
                self.bump();
                self.bump();
                let v = self.expression()?;
                return Ok(Expr { kind: ExprKind::NamedExpr(Rc::from(n.as_str()), Box::new(v)), start, end: self.prev_end() });
            }
        }
        self.expression()
    }

    pub fn expression(&mut self) -> SResult<Expr> {
        self.enter()?;
        let r = self.expression_inner();
        self.leave();
        r
    }

    pub(super) fn expression_inner(&mut self) -> SResult<Expr> {
        if self.is_kw("lambda") {
            return self.lambda();
        }
        let start = self.pos();
        let body = self.disjunction()?;
        if self.is_kw("if") {
            self.bump();
            let test = self.disjunction()?;
            if !self.eat_kw("else") {
                return Err(self.error_at(self.pos(), "expected 'else' after 'if' expression"));
            }
            let orelse = self.expression()?;
            return Ok(Expr {
                kind: ExprKind::IfExp { test: Box::new(test), body: Box::new(body), orelse: Box::new(orelse) },
                start,
                end: self.prev_end(),
            });
        }
        Ok(body)
    }

    pub(super) fn lambda(&mut self) -> SResult<Expr> {
        let start = self.pos();
        let line = self.line_at(start);
        self.bump();
        let params = self.params(":")?;
        self.expect_op(":")?;
        let funcs = self.funcs;
        self.funcs += 1;
        let body = self.expression();
        self.funcs = funcs;
        let body = body?;
        let end = self.prev_end();
        let stmt = Stmt { start: body.start, end: body.end, line: self.line_at(body.start), kind: StmtKind::Return(Some(body)) };
        let def = make_funcdef(Rc::from("<lambda>"), params, vec![stmt], vec![], true, start, line);
        Ok(Expr { kind: ExprKind::Lambda(Rc::new(def)), start, end })
    }

    pub(super) fn disjunction(&mut self) -> SResult<Expr> {
        let start = self.pos();
        let first = self.conjunction()?;
        if !self.is_kw("or") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_kw("or") {
            items.push(self.conjunction()?);
        }
        Ok(Expr { kind: ExprKind::BoolOp(false, items), start, end: self.prev_end() })
    }

    pub(super) fn conjunction(&mut self) -> SResult<Expr> {
        let start = self.pos();
        let first = self.inversion()?;
        if !self.is_kw("and") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_kw("and") {
            items.push(self.inversion()?);
        }
        Ok(Expr { kind: ExprKind::BoolOp(true, items), start, end: self.prev_end() })
    }

    pub(super) fn inversion(&mut self) -> SResult<Expr> {
        let start = self.pos();
        if self.eat_kw("not") {
            self.enter()?;
            let inner = self.inversion();
            self.leave();
            return Ok(Expr { kind: ExprKind::Unary(UnaryOp::Not, Box::new(inner?)), start, end: self.prev_end() });
        }
        self.comparison()
    }

    pub(super) fn comparison(&mut self) -> SResult<Expr> {
        let start = self.pos();
        let first = self.bitwise_or()?;
        let mut ops = Vec::new();
        loop {
            let op = match self.peek() {
                Tok::Op("==") => CmpOp::Eq,
                Tok::Op("!=") => CmpOp::NotEq,
                Tok::Op("<") => CmpOp::Lt,
                Tok::Op("<=") => CmpOp::LtE,
                Tok::Op(">") => CmpOp::Gt,
                Tok::Op(">=") => CmpOp::GtE,
                Tok::Name(n) if n == "in" => CmpOp::In,
                Tok::Name(n) if n == "is" => {
                    if matches!(self.peek_at(1), Tok::Name(m) if m == "not") {
                        self.bump();
                        CmpOp::IsNot
                    } else {
                        CmpOp::Is
                    }
                }
                Tok::Name(n) if n == "not" && matches!(self.peek_at(1), Tok::Name(m) if m == "in") => {
                    self.bump();
                    CmpOp::NotIn
                }
                _ => break,
            };
            self.bump();
            ops.push((op, self.bitwise_or()?));
        }
        if ops.is_empty() {
            return Ok(first);
        }
        Ok(Expr { kind: ExprKind::Compare(Box::new(first), ops), start, end: self.prev_end() })
    }

    pub(super) fn binary(&mut self, level: u8) -> SResult<Expr> {
        if level == 6 {
            return self.factor();
        }
        let start = self.pos();
        let mut left = self.binary(level + 1)?;
        loop {
            let op = match (level, self.peek()) {
                (0, Tok::Op("|")) => BinOp::BitOr,
                (1, Tok::Op("^")) => BinOp::BitXor,
                (2, Tok::Op("&")) => BinOp::BitAnd,
                (3, Tok::Op("<<")) => BinOp::LShift,
                (3, Tok::Op(">>")) => BinOp::RShift,
                (4, Tok::Op("+")) => BinOp::Add,
                (4, Tok::Op("-")) => BinOp::Sub,
                (5, Tok::Op("*")) => BinOp::Mul,
                (5, Tok::Op("/")) => BinOp::Div,
                (5, Tok::Op("//")) => BinOp::FloorDiv,
                (5, Tok::Op("%")) => BinOp::Mod,
                (5, Tok::Op("@")) => BinOp::MatMul,
                _ => return Ok(left),
            };
            self.bump();
            if matches!(self.peek(), Tok::Newline | Tok::End) {
                return Err(self.error_at(self.pos(), "invalid syntax"));
            }
            let right = self.binary(level + 1)?;
            left = Expr { kind: ExprKind::BinOp(op, Box::new(left), Box::new(right)), start, end: self.prev_end() };
        }
    }

    pub(super) fn bitwise_or(&mut self) -> SResult<Expr> {
        self.binary(0)
    }

    pub(super) fn factor(&mut self) -> SResult<Expr> {
        let start = self.pos();
        let op = match self.peek() {
            Tok::Op("-") => UnaryOp::Neg,
            Tok::Op("+") => UnaryOp::Pos,
            Tok::Op("~") => UnaryOp::Invert,
            _ => return self.power(),
        };
        self.bump();
        self.enter()?;
        let inner = self.factor();
        self.leave();
        let inner = inner?;
        // Fold negative number literals, as CPython's parser effectively does.
        if op == UnaryOp::Neg {
            match &inner.kind {
                ExprKind::Const(Const::Int(i)) => {
                    return Ok(Expr { kind: ExprKind::Const(Const::Int(i.wrapping_neg())), start, end: inner.end })
                }
                ExprKind::Const(Const::Float(f)) => return Ok(Expr { kind: ExprKind::Const(Const::Float(-f)), start, end: inner.end }),
                _ => {}
            }
        }
        Ok(Expr { kind: ExprKind::Unary(op, Box::new(inner)), start, end: self.prev_end() })
    }

    pub(super) fn power(&mut self) -> SResult<Expr> {
        let start = self.pos();
        let base = self.primary()?;
        if self.eat("**") {
            self.enter()?;
            let exp = self.factor();
            self.leave();
            return Ok(Expr { kind: ExprKind::BinOp(BinOp::Pow, Box::new(base), Box::new(exp?)), start, end: self.prev_end() });
        }
        Ok(base)
    }

    pub(super) fn primary(&mut self) -> SResult<Expr> {
        let start = self.pos();
        let mut e = self.atom()?;
        let mut nest = 0;
        loop {
            if self.is_op(".") {
                self.bump();
                let at = self.pos();
                match self.peek().clone() {
                    Tok::Name(n) => {
                        self.bump();
                        e = Expr { kind: ExprKind::Attr(Box::new(e), Rc::from(n.as_str()), at), start, end: self.prev_end() };
                    }
                    _ => return Err(self.error_at(at, "invalid syntax (expected an attribute name after '.')")),
                }
            } else if self.is_op("(") {
                self.bump();
                self.enter()?;
                nest += 1;
                let args = self.call_args();
                let args = args?;
                self.expect_op(")")?;
                e = Expr { kind: ExprKind::Call { func: Box::new(e), args }, start, end: self.prev_end() };
            } else if self.is_op("[") {
                self.bump();
                self.enter()?;
                nest += 1;
                let idx = self.slices()?;
                self.expect_op("]")?;
                e = Expr { kind: ExprKind::Subscript(Box::new(e), Box::new(idx)), start, end: self.prev_end() };
            } else {
                break;
            }
        }
        for _ in 0..nest {
            self.leave();
        }
        Ok(e)
    }

    pub(super) fn call_args(&mut self) -> SResult<Vec<Arg>> {
        let mut args = Vec::new();
        let mut seen_kw = false;
        let mut seen_starstar = false;
        while !self.is_op(")") {
            let at = self.pos();
            if self.eat("**") {
                args.push(Arg::StarStar(self.expression()?));
                seen_starstar = true;
            } else if self.eat("*") {
                if seen_starstar {
                    return Err(self.error_at(at, "iterable argument unpacking follows keyword argument unpacking"));
                }
                args.push(Arg::Star(self.expression()?));
            } else if matches!(self.peek(), Tok::Name(_)) && matches!(self.peek_at(1), Tok::Op("=")) {
                let Tok::Name(n) = self.peek().clone() else { unreachable!("checked") };
                if is_keyword(&n) {
                    return Err(self.error_at(at, "invalid syntax"));
                }
                self.bump();
                self.bump();
                let name: Rc<str> = Rc::from(n.as_str());
                if args.iter().any(|a| matches!(a, Arg::Kw(k, _) if *k == name)) {
                    return Err(self.error_at(at, format!("keyword argument repeated: {n}")));
                }
                args.push(Arg::Kw(name, self.expression()?));
                seen_kw = true;
            } else {
                let e = self.named_expression()?;
                if self.is_kw("for") {
                    // f(x for x in y): a generator argument.
                    let gens = self.comprehension_clauses()?;
                    let ge = Expr { start: e.start, kind: ExprKind::GenExp(Box::new(e), gens), end: self.prev_end() };
                    args.push(Arg::Pos(ge));
                } else {
                    if seen_starstar {
                        return Err(self.error_at(at, "positional argument follows keyword argument unpacking"));
                    }
                    if seen_kw {
                        return Err(self.error_at(at, "positional argument follows keyword argument"));
                    }
                    if self.is_op("=") {
                        return Err(self.error_at(e.start, "expression cannot contain assignment, perhaps you meant \"==\"?"));
                    }
                    args.push(Arg::Pos(e));
                }
            }
            if !self.eat(",") {
                break;
            }
        }
        Ok(args)
    }

    pub(super) fn slices(&mut self) -> SResult<Expr> {
        let start = self.pos();
        let first = self.slice()?;
        if !self.is_op(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat(",") {
            if self.is_op("]") {
                break;
            }
            items.push(self.slice()?);
        }
        Ok(Expr { kind: ExprKind::Tuple(items), start, end: self.prev_end() })
    }

    pub(super) fn slice(&mut self) -> SResult<Expr> {
        let start = self.pos();
        let lower = if self.is_op(":") { None } else { Some(Box::new(self.named_expression()?)) };
        if !self.is_op(":") {
            return Ok(*lower.expect("parsed above"));
        }
        self.bump();
        let upper = if self.is_op(":") || self.is_op("]") || self.is_op(",") { None } else { Some(Box::new(self.expression()?)) };
        let step = if self.eat(":") {
            if self.is_op("]") || self.is_op(",") {
                None
            } else {
                Some(Box::new(self.expression()?))
            }
        } else {
            None
        };
        Ok(Expr { kind: ExprKind::Slice { lower, upper, step }, start, end: self.prev_end() })
    }

    pub(super) fn comprehension_clauses(&mut self) -> SResult<Vec<Comprehension>> {
        let mut gens = Vec::new();
        while self.eat_kw("for") {
            let target = self.target_list()?;
            if !self.eat_kw("in") {
                return Err(self.error_at(self.pos(), "invalid syntax (expected 'in')"));
            }
            let iter = self.disjunction()?;
            let mut ifs = Vec::new();
            while self.eat_kw("if") {
                ifs.push(self.disjunction()?);
            }
            gens.push(Comprehension { target, iter, ifs });
        }
        Ok(gens)
    }

    pub(super) fn atom(&mut self) -> SResult<Expr> {
        let t = self.toks[self.i].clone();
        let start = t.start;
        let mk = |kind: ExprKind, end: usize| Expr { kind, start, end };
        match t.tok {
            Tok::Name(n) => {
                let kind = match n.as_str() {
                    "True" => ExprKind::Const(Const::Bool(true)),
                    "False" => ExprKind::Const(Const::Bool(false)),
                    "None" => ExprKind::Const(Const::None),
                    "yield" => return Err(self.error_at(start, "generators (yield) are not supported in the sandbox")),
                    "await" | "async" => return Err(self.error_at(start, "async code is not supported in the sandbox")),
                    kw if is_keyword(kw) => return Err(self.unexpected()),
                    _ => ExprKind::Name(Rc::from(n.as_str())),
                };
                self.bump();
                Ok(mk(kind, t.end))
            }
            Tok::Int(i) => {
                self.bump();
                Ok(mk(ExprKind::Const(Const::Int(i)), t.end))
            }
            Tok::Float(f) => {
                self.bump();
                Ok(mk(ExprKind::Const(Const::Float(f)), t.end))
            }
            Tok::Str(_) | Tok::FStr { .. } => self.strings(),
            Tok::Op("...") => {
                self.bump();
                Ok(mk(ExprKind::Const(Const::Ellipsis), t.end))
            }
            Tok::Op("(") => {
                self.bump();
                self.enter()?;
                let r = self.paren_atom(start);
                self.leave();
                r
            }
            Tok::Op("[") => {
                self.bump();
                self.enter()?;
                let r = self.list_atom(start);
                self.leave();
                r
            }
            Tok::Op("{") => {
                self.bump();
                self.enter()?;
                let r = self.brace_atom(start);
                self.leave();
                r
            }
            Tok::Indent => Err(exc("IndentationError", "unexpected indent").at(self.src, start)),
            _ => Err(self.unexpected()),
        }
    }

    pub(super) fn paren_atom(&mut self, start: usize) -> SResult<Expr> {
        if self.eat(")") {
            return Ok(Expr { kind: ExprKind::Tuple(vec![]), start, end: self.prev_end() });
        }
        let first = if self.is_op("*") { self.star_expression()? } else { self.named_expression()? };
        if self.is_kw("for") {
            let gens = self.comprehension_clauses()?;
            self.expect_op(")")?;
            return Ok(Expr { kind: ExprKind::GenExp(Box::new(first), gens), start, end: self.prev_end() });
        }
        if self.eat(")") {
            // A parenthesized expression keeps its inner span for messages, but spans the parens.
            return Ok(Expr { kind: first.kind, start, end: self.prev_end() });
        }
        let mut items = vec![first];
        while self.eat(",") {
            if self.is_op(")") {
                break;
            }
            items.push(self.star_expression()?);
        }
        self.expect_op(")")?;
        Ok(Expr { kind: ExprKind::Tuple(items), start, end: self.prev_end() })
    }

    pub(super) fn list_atom(&mut self, start: usize) -> SResult<Expr> {
        if self.eat("]") {
            return Ok(Expr { kind: ExprKind::List(vec![]), start, end: self.prev_end() });
        }
        let first = self.star_expression_or_named()?;
        if self.is_kw("for") {
            let gens = self.comprehension_clauses()?;
            self.expect_op("]")?;
            return Ok(Expr { kind: ExprKind::ListComp(Box::new(first), gens), start, end: self.prev_end() });
        }
        let mut items = vec![first];
        while self.eat(",") {
            if self.is_op("]") {
                break;
            }
            items.push(self.star_expression_or_named()?);
        }
        self.expect_op("]")?;
        Ok(Expr { kind: ExprKind::List(items), start, end: self.prev_end() })
    }

    pub(super) fn star_expression_or_named(&mut self) -> SResult<Expr> {
        if self.is_op("*") {
            self.star_expression()
        } else {
            self.named_expression()
        }
    }

    pub(super) fn brace_atom(&mut self, start: usize) -> SResult<Expr> {
        if self.eat("}") {
            return Ok(Expr { kind: ExprKind::Dict(vec![]), start, end: self.prev_end() });
        }
        if self.eat("**") {
            let v = self.bitwise_or()?;
            return self.dict_rest(start, vec![(None, v)]);
        }
        let first = self.star_expression_or_named()?;
        if self.eat(":") {
            let v = self.expression()?;
            if self.is_kw("for") {
                let gens = self.comprehension_clauses()?;
                self.expect_op("}")?;
                return Ok(Expr { kind: ExprKind::DictComp(Box::new(first), Box::new(v), gens), start, end: self.prev_end() });
            }
            return self.dict_rest(start, vec![(Some(first), v)]);
        }
        if self.is_kw("for") {
            let gens = self.comprehension_clauses()?;
            self.expect_op("}")?;
            return Ok(Expr { kind: ExprKind::SetComp(Box::new(first), gens), start, end: self.prev_end() });
        }
        let mut items = vec![first];
        while self.eat(",") {
            if self.is_op("}") {
                break;
            }
            items.push(self.star_expression_or_named()?);
        }
        self.expect_op("}")?;
        Ok(Expr { kind: ExprKind::Set(items), start, end: self.prev_end() })
    }

    pub(super) fn dict_rest(&mut self, start: usize, mut items: Vec<(Option<Expr>, Expr)>) -> SResult<Expr> {
        while self.eat(",") {
            if self.is_op("}") {
                break;
            }
            if self.eat("**") {
                items.push((None, self.bitwise_or()?));
                continue;
            }
            let k = self.expression()?;
            if !self.eat(":") {
                return Err(self.error_at(self.pos(), "':' expected after dictionary key"));
            }
            items.push((Some(k), self.expression()?));
        }
        self.expect_op("}")?;
        Ok(Expr { kind: ExprKind::Dict(items), start, end: self.prev_end() })
    }

    /// Adjacent string literals join into one; any f-string among them makes the whole an f-string.
    pub(super) fn strings(&mut self) -> SResult<Expr> {
        let start = self.pos();
        let mut parts: Vec<FPart> = Vec::new();
        let mut any_f = false;
        loop {
            match self.peek().clone() {
                Tok::Str(s) => {
                    self.bump();
                    push_lit(&mut parts, &s);
                }
                Tok::FStr { body, body_at, raw } => {
                    self.bump();
                    any_f = true;
                    let fparts = self.fstring(&body, body_at, raw, 0)?;
                    for p in fparts {
                        match p {
                            FPart::Lit(s) => push_lit(&mut parts, &s),
                            other => parts.push(other),
                        }
                    }
                }
                _ => break,
            }
        }
        let end = self.prev_end();
        if !any_f {
            let s = match parts.pop() {
                Some(FPart::Lit(s)) => s,
                _ => String::new(),
            };
            return Ok(Expr { kind: ExprKind::Const(Const::Str(Rc::from(s.as_str()))), start, end });
        }
        Ok(Expr { kind: ExprKind::FString(parts), start, end })
    }

    /// The parts of an f-string body (`body` starts at `body_at` in the source).
    pub(super) fn fstring(&mut self, body: &str, body_at: usize, raw: bool, nesting: usize) -> SResult<Vec<FPart>> {
        if nesting > 2 {
            return Err(self.error_at(body_at, "f-string: expressions nested too deeply"));
        }
        let b = body.as_bytes();
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut lit_start = 0;
        let mut i = 0;
        let flush = |lit: &mut String, lit_start: usize, end: usize, parts: &mut Vec<FPart>, src: &str| -> SResult<()> {
            let text = &body[lit_start..end];
            let text = if raw { text.to_string() } else { super::lexer::unescape(src, text, body_at + lit_start)? };
            lit.push_str(&text);
            if !lit.is_empty() {
                parts.push(FPart::Lit(std::mem::take(lit)));
            }
            Ok(())
        };
        while i < b.len() {
            match b[i] {
                b'{' if b.get(i + 1) == Some(&b'{') => {
                    flush(&mut lit, lit_start, i + 1, &mut parts, self.src)?;
                    i += 2;
                    lit_start = i;
                }
                b'}' if b.get(i + 1) == Some(&b'}') => {
                    flush(&mut lit, lit_start, i + 1, &mut parts, self.src)?;
                    i += 2;
                    lit_start = i;
                }
                b'}' => return Err(self.error_at(body_at + i, "f-string: single '}' is not allowed")),
                b'{' => {
                    flush(&mut lit, lit_start, i, &mut parts, self.src)?;
                    let (part, next) = self.fstring_field(body, body_at, i, raw, nesting)?;
                    parts.push(part);
                    i = next;
                    lit_start = i;
                }
                _ => i += 1,
            }
        }
        flush(&mut lit, lit_start, b.len(), &mut parts, self.src)?;
        Ok(parts)
    }

    /// One `{expr!conv:spec}` field starting at `body[open]`; returns it and the offset after `}`.
    pub(super) fn fstring_field(&mut self, body: &str, body_at: usize, open: usize, raw: bool, nesting: usize) -> SResult<(FPart, usize)> {
        let b = body.as_bytes();
        let mut depth = 0;
        let mut j = open + 1;
        let mut quote: Option<u8> = None;
        // Find where the expression ends: `!`, `:` or `}` at depth 0, outside strings.
        while j < b.len() {
            let c = b[j];
            if let Some(q) = quote {
                if c == q {
                    quote = None;
                }
                j += 1;
                continue;
            }
            match c {
                b'\'' | b'"' => quote = Some(c),
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' => depth -= 1,
                b'}' if depth > 0 => depth -= 1,
                b'}' | b':' if depth == 0 => break,
                b'!' if depth == 0 && b.get(j + 1) != Some(&b'=') => break,
                b'\\' => return Err(self.error_at(body_at + j, "f-string expression part cannot include a backslash")),
                b'#' => return Err(self.error_at(body_at + j, "f-string expression part cannot include '#'")),
                _ => {}
            }
            j += 1;
        }
        if j >= b.len() {
            return Err(self.error_at(body_at + open, "f-string: expecting '}'"));
        }
        let mut expr_end = j;
        let mut debug_text = None;
        // `{x=}` prints "x=" then the repr.
        let trimmed = body[open + 1..expr_end].trim_end();
        if trimmed.ends_with('=') && !trimmed.ends_with("==") && !trimmed.ends_with("!=") && !trimmed.ends_with("<=") && !trimmed.ends_with(">=") {
            debug_text = Some(body[open + 1..expr_end].to_string());
            expr_end = open + 1 + body[open + 1..].find('=').map(|k| k).unwrap_or(0);
            let last_eq = body[open + 1..j].rfind('=').map(|k| open + 1 + k).unwrap_or(expr_end);
            expr_end = last_eq;
        }
        let expr_src_start = body_at + open + 1;
        let expr_src_end = body_at + expr_end;
        if body[open + 1..expr_end].trim().is_empty() {
            return Err(self.error_at(body_at + open, "f-string: empty expression not allowed"));
        }
        let expr = self.sub_expression(expr_src_start, expr_src_end)?;
        let mut conv = None;
        if b[j] == b'!' {
            let c = b.get(j + 1).copied().unwrap_or(b'}');
            if !matches!(c, b'r' | b's' | b'a') {
                return Err(self.error_at(body_at + j, "f-string: invalid conversion character: expected 's', 'r', or 'a'"));
            }
            conv = Some(c as char);
            j += 2;
        } else if debug_text.is_some() {
            conv = Some('r');
        }
        let mut spec = Vec::new();
        if j < b.len() && b[j] == b':' {
            // The spec runs to the matching `}` and may hold nested fields.
            let spec_start = j + 1;
            let mut k = spec_start;
            let mut d = 0;
            while k < b.len() {
                match b[k] {
                    b'{' => d += 1,
                    b'}' if d == 0 => break,
                    b'}' => d -= 1,
                    _ => {}
                }
                k += 1;
            }
            if k >= b.len() {
                return Err(self.error_at(body_at + open, "f-string: expecting '}'"));
            }
            spec = self.fstring(&body[spec_start..k], body_at + spec_start, raw, nesting + 1)?;
            j = k;
        }
        if j >= b.len() || b[j] != b'}' {
            return Err(self.error_at(body_at + open, "f-string: expecting '}'"));
        }
        if debug_text.is_some() && !spec.is_empty() && conv == Some('r') && b.get(j - 1) != Some(&b'r') {
            // `{x=:>10}` formats the value (not its repr) with the spec.
            conv = None;
        }
        Ok((FPart::Expr { expr: Box::new(expr), conv, spec, debug_text }, j + 1))
    }

    /// Parses `src[start..end]` as one expression, positions relative to the whole source.
    pub(super) fn sub_expression(&mut self, start: usize, end: usize) -> SResult<Expr> {
        let toks = tokenize_from(&self.src[..end], start, true)?;
        let mut p = Parser { src: self.src, toks, i: 0, depth: self.depth, funcs: self.funcs, loops: self.loops };
        let e = p.star_expressions()?;
        if !p.at_end() {
            return Err(p.error_at(p.pos(), "f-string: invalid syntax"));
        }
        Ok(e)
    }
}

fn push_lit(parts: &mut Vec<FPart>, s: &str) {
    if let Some(FPart::Lit(last)) = parts.last_mut() {
        last.push_str(s);
    } else {
        parts.push(FPart::Lit(s.to_string()));
    }
}
