//! A parser for the Python a learner writes in a QuerySet expression:
//! names, attributes, calls with keyword arguments, subscripts and slices, literals,
//! lists/tuples, and the `&`, `|`, `~` operators that combine `Q` objects.
//!
//! Written by hand rather than pulled in (rustpython-parser) to keep the bundle small and the
//! messages ours; every node keeps its byte span so errors can point at the exact spot.

use crate::error::{err, ErrorKind, SResult, SandboxError};

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    /// Byte range in the source.
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    NoneLit,
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    /// `value.attr`; the offset is where `attr` starts.
    Attr(Box<Expr>, String, usize),
    Call { func: Box<Expr>, args: Vec<Expr>, kwargs: Vec<(String, Expr)> },
    Index(Box<Expr>, Box<Expr>),
    Slice { value: Box<Expr>, start: Option<Box<Expr>>, stop: Option<Box<Expr>>, step: Option<Box<Expr>> },
    BinOp(BinOp, Box<Expr>, Box<Expr>),
    Unary(UnaryOp, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    And,
    Or,
    Add,
    Sub,
    Mul,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Invert,
    Neg,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
    Op(&'static str),
    End,
}

const MAX_DEPTH: usize = 100;
const MAX_SOURCE: usize = 200_000;

pub fn parse(src: &str) -> SResult<Expr> {
    if src.len() > MAX_SOURCE {
        return Err(err(ErrorKind::SyntaxError, format!("expression is {} characters long; the sandbox takes up to {MAX_SOURCE}", src.len())));
    }
    let toks = lex(src)?;
    let mut p = Parser { src, toks, i: 0, depth: 0 };
    let e = p.expr()?;
    match p.peek() {
        Tok::End => Ok(e),
        _ => Err(p.error_here("invalid syntax")),
    }
}

fn lex(src: &str) -> SResult<Vec<(Tok, usize, usize)>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut brackets: Vec<(u8, usize)> = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c == b' ' || c == b'\t' || c == b'\r' {
            i += 1;
            continue;
        }
        if c == b'\n' {
            // Inside brackets a newline is just space, as in Python; outside it ends the expression.
            if brackets.is_empty() && src[i..].trim().is_empty() {
                break;
            }
            if brackets.is_empty() {
                return Err(err(ErrorKind::SyntaxError, "invalid syntax (a newline outside brackets: wrap a long chain in parentheses)").at(src, i));
            }
            i += 1;
            continue;
        }
        if c == b'\\' && b.get(i + 1) == Some(&b'\n') {
            i += 2;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                i += 1;
            }
            // Prefixed strings (r'', b'', f'') are not part of the subset.
            if i < b.len() && (b[i] == b'\'' || b[i] == b'"') {
                let prefix = &src[start..i];
                if prefix.eq_ignore_ascii_case("r") {
                    let (s, next) = lex_string(src, i, true)?;
                    out.push((Tok::Str(s), start, next));
                    i = next;
                    continue;
                }
                return Err(err(ErrorKind::SyntaxError, format!("{prefix}-strings are not supported in the sandbox")).at(src, start));
            }
            out.push((Tok::Name(src[start..i].to_string()), start, i));
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let mut is_float = false;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_' || b[i] == b'.' || b[i] == b'e' || b[i] == b'E') {
                if b[i] == b'.' || b[i] == b'e' || b[i] == b'E' {
                    is_float = true;
                }
                if (b[i] == b'e' || b[i] == b'E') && matches!(b.get(i + 1), Some(b'+') | Some(b'-')) {
                    i += 1;
                }
                i += 1;
            }
            let text: String = src[start..i].chars().filter(|&c| c != '_').collect();
            let tok = if is_float {
                text.parse::<f64>().map(Tok::Float).map_err(|_| err(ErrorKind::SyntaxError, "invalid decimal literal").at(src, start))?
            } else {
                text.parse::<i64>().map(Tok::Int).map_err(|_| err(ErrorKind::SyntaxError, "integer literal too large for the sandbox").at(src, start))?
            };
            out.push((tok, start, i));
            continue;
        }
        if c == b'\'' || c == b'"' {
            let (s, next) = lex_string(src, i, false)?;
            out.push((Tok::Str(s), start, next));
            i = next;
            continue;
        }
        let two = src.get(i..i + 2).unwrap_or("");
        let op: &'static str = match two {
            "**" => "**",
            "==" => "==",
            "!=" => "!=",
            "<=" => "<=",
            ">=" => ">=",
            _ => match c {
                b'(' => "(",
                b')' => ")",
                b'[' => "[",
                b']' => "]",
                b'{' => "{",
                b'}' => "}",
                b',' => ",",
                b':' => ":",
                b'.' => ".",
                b'=' => "=",
                b'&' => "&",
                b'|' => "|",
                b'~' => "~",
                b'-' => "-",
                b'+' => "+",
                b'*' => "*",
                b'<' => "<",
                b'>' => ">",
                b'/' => "/",
                b'%' => "%",
                _ => {
                    let ch = src[i..].chars().next().unwrap_or('?');
                    return Err(err(ErrorKind::SyntaxError, format!("invalid character '{ch}'")).at(src, i));
                }
            },
        };
        match op {
            "(" | "[" | "{" => brackets.push((op.as_bytes()[0], i)),
            ")" | "]" | "}" => {
                let want = match op { ")" => b'(', "]" => b'[', _ => b'{' };
                match brackets.pop() {
                    Some((open, _)) if open == want => {}
                    Some((open, at)) => {
                        return Err(err(
                            ErrorKind::SyntaxError,
                            format!("closing parenthesis '{op}' does not match opening parenthesis '{}'", open as char),
                        )
                        .at(src, if at < i { i } else { at }))
                    }
                    None => return Err(err(ErrorKind::SyntaxError, format!("unmatched '{op}'")).at(src, i)),
                }
            }
            _ => {}
        }
        i += op.len();
        out.push((Tok::Op(op), start, i));
    }
    if let Some((open, at)) = brackets.pop() {
        return Err(err(ErrorKind::SyntaxError, format!("'{}' was never closed", open as char)).at(src, at));
    }
    out.push((Tok::End, src.len(), src.len()));
    Ok(out)
}

fn lex_string(src: &str, start: usize, raw: bool) -> SResult<(String, usize)> {
    let b = src.as_bytes();
    let q = b[start];
    if b.get(start + 1) == Some(&q) && b.get(start + 2) == Some(&q) {
        // Triple-quoted.
        let body_start = start + 3;
        let close = [q, q, q];
        let rel = src[body_start..].as_bytes().windows(3).position(|w| w == close);
        return match rel {
            Some(r) => Ok((src[body_start..body_start + r].to_string(), body_start + r + 3)),
            None => Err(err(ErrorKind::SyntaxError, "unterminated triple-quoted string literal").at(src, start)),
        };
    }
    let mut s = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        let at = start + 1 + off;
        match c {
            c if c as u32 == q as u32 => return Ok((s, at + 1)),
            '\n' => break,
            '\\' if !raw => match chars.next() {
                Some((_, 'n')) => s.push('\n'),
                Some((_, 't')) => s.push('\t'),
                Some((_, 'r')) => s.push('\r'),
                Some((_, '0')) => s.push('\0'),
                Some((_, '\\')) => s.push('\\'),
                Some((_, '\'')) => s.push('\''),
                Some((_, '"')) => s.push('"'),
                Some((_, '\n')) => {}
                Some((_, other)) => {
                    s.push('\\');
                    s.push(other);
                }
                None => break,
            },
            c => s.push(c),
        }
    }
    Err(err(ErrorKind::SyntaxError, "unterminated string literal").at(src, start))
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(Tok, usize, usize)>,
    i: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].0
    }
    fn pos(&self) -> usize {
        self.toks[self.i].1
    }
    fn prev_end(&self) -> usize {
        if self.i == 0 { 0 } else { self.toks[self.i - 1].2 }
    }
    fn bump(&mut self) -> (Tok, usize, usize) {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }
    fn eat(&mut self, op: &str) -> bool {
        if self.is_op(op) {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, op: &str) -> SResult<()> {
        if self.eat(op) {
            Ok(())
        } else {
            Err(self.error_here(&format!("expected '{op}'")))
        }
    }
    fn error_here(&self, msg: &str) -> SandboxError {
        let msg = match self.peek() {
            Tok::End => "unexpected end of expression".to_string(),
            _ => msg.to_string(),
        };
        err(ErrorKind::SyntaxError, msg).at(self.src, self.pos())
    }
    fn enter(&mut self) -> SResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(ErrorKind::SyntaxError, "expression is nested too deeply").at(self.src, self.pos()));
        }
        Ok(())
    }

    fn expr(&mut self) -> SResult<Expr> {
        self.enter()?;
        let mut left = self.and_expr()?;
        while self.eat("|") {
            let right = self.and_expr()?;
            left = bin(BinOp::Or, left, right);
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and_expr(&mut self) -> SResult<Expr> {
        let mut left = self.arith()?;
        while self.eat("&") {
            let right = self.arith()?;
            left = bin(BinOp::And, left, right);
        }
        Ok(left)
    }

    fn arith(&mut self) -> SResult<Expr> {
        let mut left = self.term()?;
        loop {
            let op = if self.eat("+") {
                BinOp::Add
            } else if self.eat("-") {
                BinOp::Sub
            } else {
                return Ok(left);
            };
            let right = self.term()?;
            left = bin(op, left, right);
        }
    }

    fn term(&mut self) -> SResult<Expr> {
        let mut left = self.unary()?;
        while self.eat("*") {
            let right = self.unary()?;
            left = bin(BinOp::Mul, left, right);
        }
        Ok(left)
    }

    fn unary(&mut self) -> SResult<Expr> {
        let start = self.pos();
        let op = if self.eat("~") {
            UnaryOp::Invert
        } else if self.eat("-") {
            UnaryOp::Neg
        } else {
            return self.postfix();
        };
        self.enter()?;
        let inner = self.unary()?;
        self.depth -= 1;
        let end = inner.end;
        Ok(Expr { kind: ExprKind::Unary(op, Box::new(inner)), start, end })
    }

    fn postfix(&mut self) -> SResult<Expr> {
        let mut e = self.atom()?;
        loop {
            if self.eat(".") {
                let at = self.pos();
                match self.bump() {
                    (Tok::Name(n), _, end) => {
                        let start = e.start;
                        e = Expr { kind: ExprKind::Attr(Box::new(e), n, at), start, end };
                    }
                    (Tok::End, _, _) => {
                        return Err(err(ErrorKind::SyntaxError, "unexpected end of expression: expected an attribute name after '.'").at(self.src, at))
                    }
                    _ => return Err(err(ErrorKind::SyntaxError, "expected an attribute name after '.'").at(self.src, at)),
                }
            } else if self.is_op("(") {
                self.bump();
                self.enter()?;
                let (args, kwargs) = self.call_args()?;
                self.depth -= 1;
                let start = e.start;
                e = Expr { kind: ExprKind::Call { func: Box::new(e), args, kwargs }, start, end: self.prev_end() };
            } else if self.is_op("[") {
                self.bump();
                self.enter()?;
                e = self.subscript(e)?;
                self.depth -= 1;
            } else {
                return Ok(e);
            }
        }
    }

    fn call_args(&mut self) -> SResult<(Vec<Expr>, Vec<(String, Expr)>)> {
        let mut args = Vec::new();
        let mut kwargs: Vec<(String, Expr)> = Vec::new();
        while !self.is_op(")") {
            let is_kw = matches!(self.peek(), Tok::Name(_)) && matches!(self.toks.get(self.i + 1), Some((Tok::Op("="), _, _)));
            if is_kw {
                let at = self.pos();
                let (name, _, _) = self.bump();
                self.bump();
                let Tok::Name(name) = name else { unreachable!("checked above") };
                if kwargs.iter().any(|(k, _)| *k == name) {
                    return Err(err(ErrorKind::SyntaxError, format!("keyword argument repeated: {name}")).at(self.src, at));
                }
                let v = self.expr()?;
                kwargs.push((name, v));
            } else {
                if !kwargs.is_empty() {
                    return Err(err(ErrorKind::SyntaxError, "positional argument follows keyword argument").at(self.src, self.pos()));
                }
                if self.is_op("*") || self.is_op("**") {
                    return Err(err(ErrorKind::SyntaxError, "*args and **kwargs are not supported in the sandbox").at(self.src, self.pos()));
                }
                args.push(self.expr()?);
            }
            if !self.eat(",") {
                break;
            }
        }
        if !self.eat(")") {
            return Err(self.error_here("invalid syntax. Perhaps you forgot a comma?"));
        }
        Ok((args, kwargs))
    }

    fn subscript(&mut self, value: Expr) -> SResult<Expr> {
        let start = value.start;
        let first = if self.is_op(":") || self.is_op("]") { None } else { Some(Box::new(self.expr()?)) };
        if self.eat("]") {
            let Some(index) = first else {
                return Err(err(ErrorKind::SyntaxError, "invalid syntax: empty subscript").at(self.src, self.prev_end()));
            };
            return Ok(Expr { kind: ExprKind::Index(Box::new(value), index), start, end: self.prev_end() });
        }
        self.expect(":")?;
        let stop = if self.is_op(":") || self.is_op("]") { None } else { Some(Box::new(self.expr()?)) };
        let step = if self.eat(":") {
            if self.is_op("]") { None } else { Some(Box::new(self.expr()?)) }
        } else {
            None
        };
        self.expect("]")?;
        Ok(Expr { kind: ExprKind::Slice { value: Box::new(value), start: first, stop, step }, start, end: self.prev_end() })
    }

    fn atom(&mut self) -> SResult<Expr> {
        let (tok, start, end) = self.toks[self.i].clone();
        let kind = match tok {
            Tok::Name(n) => {
                self.bump();
                match n.as_str() {
                    "True" => ExprKind::Bool(true),
                    "False" => ExprKind::Bool(false),
                    "None" => ExprKind::NoneLit,
                    "lambda" | "for" | "if" | "import" | "def" | "class" | "and" | "or" | "not" | "in" | "is" | "await" | "yield" => {
                        return Err(err(ErrorKind::SyntaxError, format!("'{n}' is not supported in a QuerySet expression")).at(self.src, start));
                    }
                    _ => ExprKind::Name(n),
                }
            }
            Tok::Int(i) => {
                self.bump();
                ExprKind::Int(i)
            }
            Tok::Float(f) => {
                self.bump();
                ExprKind::Float(f)
            }
            Tok::Str(s) => {
                self.bump();
                // Adjacent literals concatenate, as in Python.
                let mut s = s;
                let mut end = end;
                while let Tok::Str(more) = self.peek().clone() {
                    s.push_str(&more);
                    end = self.toks[self.i].2;
                    self.bump();
                }
                return Ok(Expr { kind: ExprKind::Str(s), start, end });
            }
            Tok::Op("(") => {
                self.bump();
                if self.eat(")") {
                    return Ok(Expr { kind: ExprKind::Tuple(vec![]), start, end: self.prev_end() });
                }
                let first = self.expr()?;
                if self.eat(")") {
                    return Ok(Expr { start, end: self.prev_end(), ..first });
                }
                let mut items = vec![first];
                while self.eat(",") {
                    if self.is_op(")") {
                        break;
                    }
                    items.push(self.expr()?);
                }
                self.expect(")")?;
                ExprKind::Tuple(items)
            }
            Tok::Op("[") => {
                self.bump();
                let mut items = Vec::new();
                while !self.is_op("]") {
                    items.push(self.expr()?);
                    if !self.eat(",") {
                        break;
                    }
                }
                self.expect("]")?;
                ExprKind::List(items)
            }
            Tok::Op("{") => {
                return Err(err(ErrorKind::SyntaxError, "dict and set literals are not supported in the sandbox").at(self.src, start));
            }
            _ => return Err(self.error_here("invalid syntax")),
        };
        Ok(Expr { kind, start, end: self.prev_end() })
    }
}

fn bin(op: BinOp, l: Expr, r: Expr) -> Expr {
    let (start, end) = (l.start, r.end);
    Expr { kind: ExprKind::BinOp(op, Box::new(l), Box::new(r)), start, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_django_chain() {
        let src = "Article.objects.filter(Q(status='published') | ~Q(id__in=[1, 2]), title__icontains=\"x\").prefetch_related(Prefetch('tags', queryset=Tag.objects.order_by('-name'), to_attr='t'))[:20]";
        let e = parse(src).unwrap();
        let ExprKind::Slice { stop, start, .. } = &e.kind else { panic!("{e:?}") };
        assert!(start.is_none());
        assert_eq!(stop.as_ref().unwrap().kind, ExprKind::Int(20));
    }

    #[test]
    fn multi_line_chains_inside_parentheses() {
        parse("(Article.objects\n   .select_related('author')\n   .order_by('-created_at'))").unwrap();
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases = [
            ("Article.objects.filter(", "'(' was never closed", 22),
            ("Article.objects.filter(title='x'", "'(' was never closed", 22),
            ("Article.objects.filter(title='x)", "unterminated string literal", 29),
            ("Article.objects.", "unexpected end", 16),
            ("Article.objects.filter(a=1 b=2)", "forgot a comma", 27),
            ("Article..objects", "expected an attribute name", 8),
            ("Article.objects.all()]", "unmatched ']'", 21),
            ("Article.objects.all()$", "invalid character '$'", 21),
        ];
        for (src, msg, offset) in cases {
            let e = parse(src).unwrap_err();
            assert!(e.message.contains(msg), "{src}: {}", e.message);
            assert_eq!(e.pos.unwrap().offset, offset, "{src}: {}", e.pretty());
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let src = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse(&src).unwrap_err().message.contains("nested too deeply"));
        let src = format!("{}Q()", "~".repeat(5000));
        assert!(parse(&src).is_err());
    }

    #[test]
    fn random_inputs_never_panic() {
        let alphabet: Vec<&str> = vec!["Article", ".", "objects", "(", ")", "[", "]", ":", ",", "=", "'", "\"", "x", "1", "-", "~", "&", "|", " ", "\n", "filter", "Q", "\\", "é", "#", "0.5e", "*"];
        let mut seed: u64 = 0x2545F4914F6CDD1D;
        for _ in 0..20_000 {
            let mut s = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (seed % 24) as usize;
            for _ in 0..n {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push_str(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let _ = parse(&s);
        }
    }
}
