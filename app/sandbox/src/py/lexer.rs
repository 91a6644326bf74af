//! Python's tokenizer for the subset: names, numbers, strings (with `r`/`f` prefixes and
//! triple quotes), operators, and the NEWLINE / INDENT / DEDENT tokens that carry a block's
//! shape. Brackets join lines, as in Python. Messages follow CPython 3.11's.

use crate::error::{err, exc, ErrorKind, SResult, SandboxError};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Name(String),
    Int(i64),
    Float(f64),
    /// A string literal, escapes applied.
    Str(String),
    /// An f-string: its raw body and the byte offset of the body in the source; `raw` for `rf`.
    FStr { body: String, body_at: usize, raw: bool },
    Op(&'static str),
    Newline,
    Indent,
    Dedent,
    End,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// Longest operators first.
const OPS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "->", ":=", "**", "//", "==", "!=", "<=", ">=", "<<", ">>", "+=", "-=", "*=", "/=",
    "%=", "&=", "|=", "^=", "@=", "+", "-", "*", "/", "%", "@", "&", "|", "^", "~", "<", ">", "(", ")", "[", "]", "{",
    "}", ",", ":", ".", ";", "=",
];

pub const MAX_SOURCE: usize = 1_000_000;

fn syntax(src: &str, at: usize, msg: impl Into<String>) -> SandboxError {
    err(ErrorKind::SyntaxError, msg).at(src, at)
}

fn line_of(src: &str, at: usize) -> usize {
    src[..at.min(src.len())].matches('\n').count() + 1
}

pub fn tokenize(src: &str) -> SResult<Vec<Token>> {
    tokenize_from(src, 0, false)
}

/// Tokenizes `src[start..]`, offsets relative to `src`. `expr_mode` (an f-string's embedded
/// expression) behaves as inside brackets: no NEWLINE/INDENT tokens.
pub fn tokenize_from(src: &str, start: usize, expr_mode: bool) -> SResult<Vec<Token>> {
    if src.len() > MAX_SOURCE {
        return Err(err(ErrorKind::SyntaxError, format!("the source is {} bytes long; the sandbox takes up to {MAX_SOURCE}", src.len())));
    }
    let b = src.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut indents: Vec<usize> = vec![0];
    let mut brackets: Vec<(u8, usize)> = Vec::new();
    let mut i = start;
    let mut at_line_start = !expr_mode;
    while i <= b.len() {
        if at_line_start && brackets.is_empty() && !expr_mode {
            // Measure the indentation of a logical line; skip blank and comment-only lines.
            let mut col = 0usize;
            let mut j = i;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t' || b[j] == b'\x0c') {
                col = if b[j] == b'\t' { (col / 8 + 1) * 8 } else if b[j] == b' ' { col + 1 } else { 0 };
                j += 1;
            }
            if j >= b.len() {
                break;
            }
            if b[j] == b'\n' || b[j] == b'\r' || b[j] == b'#' {
                while j < b.len() && b[j] != b'\n' {
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            if b[j] == b'\\' && b.get(j + 1) == Some(&b'\n') {
                i = j + 2;
                continue;
            }
            let top = *indents.last().expect("never empty");
            if col > top {
                indents.push(col);
                out.push(Token { tok: Tok::Indent, start: j, end: j });
            } else if col < top {
                while col < *indents.last().expect("never empty") {
                    indents.pop();
                    out.push(Token { tok: Tok::Dedent, start: j, end: j });
                }
                if col != *indents.last().expect("never empty") {
                    let mut e = exc("IndentationError", "unindent does not match any outer indentation level");
                    e = e.at(src, j);
                    return Err(e);
                }
            }
            i = j;
            at_line_start = false;
        }
        if i >= b.len() {
            break;
        }
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\x0c' | b'\r' => {
                i += 1;
                continue;
            }
            b'\n' => {
                if brackets.is_empty() && !expr_mode {
                    if !matches!(out.last().map(|t| &t.tok), Some(Tok::Newline) | None) {
                        out.push(Token { tok: Tok::Newline, start: i, end: i + 1 });
                    }
                    at_line_start = true;
                }
                i += 1;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\\' => {
                let mut j = i + 1;
                if b.get(j) == Some(&b'\r') {
                    j += 1;
                }
                if b.get(j) == Some(&b'\n') {
                    i = j + 1;
                    continue;
                }
                return Err(syntax(src, i, "unexpected character after line continuation character"));
            }
            _ => {}
        }
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            let ch = src[i..].chars().next().unwrap_or('?');
            if c >= 0x80 && !ch.is_alphabetic() {
                return Err(syntax(src, i, format!("invalid character '{ch}' (U+{:04X})", ch as u32)));
            }
            while i < b.len() {
                let ch = src[i..].chars().next().unwrap_or(' ');
                if ch.is_alphanumeric() || ch == '_' {
                    i += ch.len_utf8();
                } else {
                    break;
                }
            }
            let word = &src[start..i];
            if i < b.len() && (b[i] == b'\'' || b[i] == b'"') && word.len() <= 2 {
                let p = word.to_ascii_lowercase();
                let (raw, f, bytes) = (p.contains('r'), p.contains('f'), p.contains('b'));
                if p.chars().all(|c| "rfbu".contains(c)) && !(f && bytes) && !(p.contains('u') && p.len() > 1) {
                    // A bytes literal is a str here: response.content is a str too, so
                    // `b"<li>" in response.content` works as in Django.
                    let (body, body_at, next) = string_body(src, i)?;
                    let tok = if f {
                        Tok::FStr { body: body.to_string(), body_at, raw }
                    } else if raw {
                        Tok::Str(body.to_string())
                    } else {
                        Tok::Str(unescape(src, body, body_at)?)
                    };
                    out.push(Token { tok, start, end: next });
                    i = next;
                    continue;
                }
            }
            out.push(Token { tok: Tok::Name(word.to_string()), start, end: i });
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let (tok, next) = number(src, i)?;
            out.push(Token { tok, start, end: next });
            i = next;
            continue;
        }
        if c == b'\'' || c == b'"' {
            let (body, body_at, next) = string_body(src, i)?;
            out.push(Token { tok: Tok::Str(unescape(src, body, body_at)?), start, end: next });
            i = next;
            continue;
        }
        let op = OPS.iter().find(|op| src[i..].starts_with(**op)).copied();
        let Some(op) = op else {
            let ch = src[i..].chars().next().unwrap_or('?');
            let msg = if ch == '!' { "invalid syntax".to_string() } else if ch == '$' || ch == '?' || ch == '`' {
                format!("invalid syntax")
            } else {
                format!("invalid character '{ch}' (U+{:04X})", ch as u32)
            };
            return Err(syntax(src, i, msg));
        };
        match op {
            "(" | "[" | "{" => {
                if brackets.len() >= 200 {
                    return Err(syntax(src, i, "too many nested parentheses"));
                }
                brackets.push((op.as_bytes()[0], i))
            }
            ")" | "]" | "}" => {
                let want = match op {
                    ")" => b'(',
                    "]" => b'[',
                    _ => b'{',
                };
                match brackets.pop() {
                    Some((open, _)) if open == want => {}
                    Some((open, at)) => {
                        let msg = if line_of(src, at) != line_of(src, i) {
                            format!("closing parenthesis '{op}' does not match opening parenthesis '{}' on line {}", open as char, line_of(src, at))
                        } else {
                            format!("closing parenthesis '{op}' does not match opening parenthesis '{}'", open as char)
                        };
                        return Err(syntax(src, i, msg));
                    }
                    None => return Err(syntax(src, i, format!("unmatched '{op}'"))),
                }
            }
            _ => {}
        }
        i += op.len();
        out.push(Token { tok: Tok::Op(op), start, end: i });
    }
    if let Some((open, at)) = brackets.pop() {
        return Err(syntax(src, at, format!("'{}' was never closed", open as char)));
    }
    if !expr_mode && !matches!(out.last().map(|t| &t.tok), Some(Tok::Newline) | None) {
        out.push(Token { tok: Tok::Newline, start: src.len(), end: src.len() });
    }
    while indents.len() > 1 {
        indents.pop();
        out.push(Token { tok: Tok::Dedent, start: src.len(), end: src.len() });
    }
    out.push(Token { tok: Tok::End, start: src.len(), end: src.len() });
    Ok(out)
}

/// The body of the string literal whose opening quote is at `q_at`: (body, body offset, offset
/// after the closing quote).
fn string_body(src: &str, q_at: usize) -> SResult<(&str, usize, usize)> {
    let b = src.as_bytes();
    let q = b[q_at];
    if b.get(q_at + 1) == Some(&q) && b.get(q_at + 2) == Some(&q) {
        let body_at = q_at + 3;
        let mut j = body_at;
        while j + 2 < b.len() + 0 || j < b.len() {
            if j >= b.len() {
                break;
            }
            if b[j] == b'\\' {
                j += 2;
                continue;
            }
            if b[j] == q && b.get(j + 1) == Some(&q) && b.get(j + 2) == Some(&q) {
                return Ok((&src[body_at..j], body_at, j + 3));
            }
            j += 1;
        }
        return Err(syntax(src, q_at, format!("unterminated triple-quoted string literal (detected at line {})", line_of(src, src.len()))));
    }
    let body_at = q_at + 1;
    let mut j = body_at;
    while j < b.len() {
        match b[j] {
            b'\\' => {
                j += 2;
                continue;
            }
            b'\n' => break,
            x if x == q => return Ok((&src[body_at..j], body_at, j + 1)),
            _ => j += 1,
        }
    }
    Err(syntax(src, q_at, format!("unterminated string literal (detected at line {})", line_of(src, q_at))))
}

/// Applies backslash escapes, as a non-raw Python string literal does.
pub fn unescape(src: &str, body: &str, body_at: usize) -> SResult<String> {
    if !body.contains('\\') {
        return Ok(body.to_string());
    }
    let mut s = String::with_capacity(body.len());
    let mut it = body.char_indices().peekable();
    while let Some((off, c)) = it.next() {
        if c != '\\' {
            s.push(c);
            continue;
        }
        let Some((_, e)) = it.next() else {
            s.push('\\');
            break;
        };
        match e {
            'n' => s.push('\n'),
            't' => s.push('\t'),
            'r' => s.push('\r'),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match it.peek() {
                        Some((_, d)) if d.is_digit(8) => {
                            v = v * 8 + d.to_digit(8).unwrap_or(0);
                            it.next();
                        }
                        _ => break,
                    }
                }
                s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            '\\' => s.push('\\'),
            '\'' => s.push('\''),
            '"' => s.push('"'),
            'a' => s.push('\x07'),
            'b' => s.push('\x08'),
            'f' => s.push('\x0c'),
            'v' => s.push('\x0b'),
            '\n' => {}
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut hex = String::new();
                for _ in 0..n {
                    match it.peek() {
                        Some((_, d)) if d.is_ascii_hexdigit() => {
                            hex.push(*d);
                            it.next();
                        }
                        _ => break,
                    }
                }
                let ch = if hex.len() == n { u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) } else { None };
                match ch {
                    Some(ch) => s.push(ch),
                    None => {
                        let what = match e {
                            'x' => "truncated \\xXX escape",
                            'u' => "truncated \\uXXXX escape",
                            _ => "truncated \\UXXXXXXXX escape",
                        };
                        return Err(syntax(src, body_at + off, format!("(unicode error) 'unicodeescape' codec can't decode bytes: {what}")));
                    }
                }
            }
            other => {
                s.push('\\');
                s.push(other);
            }
        }
    }
    Ok(s)
}

fn number(src: &str, start: usize) -> SResult<(Tok, usize)> {
    let b = src.as_bytes();
    let mut i = start;
    let bad = |at: usize, what: &str| syntax(src, at, format!("invalid {what} literal"));
    if b[i] == b'0' && i + 1 < b.len() && matches!(b[i + 1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B') {
        let radix = match b[i + 1].to_ascii_lowercase() {
            b'x' => 16,
            b'o' => 8,
            _ => 2,
        };
        i += 2;
        let ds = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let digits: String = src[ds..i].chars().filter(|&c| c != '_').collect();
        let what = match radix {
            16 => "hexadecimal",
            8 => "octal",
            _ => "binary",
        };
        let v = i64::from_str_radix(&digits, radix).map_err(|_| bad(start, what))?;
        return Ok((Tok::Int(v), i));
    }
    let mut is_float = false;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' && !(b.get(i + 1) == Some(&b'.') && b.get(i + 2) == Some(&b'.')) {
        is_float = true;
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            is_float = true;
            i = j;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
                i += 1;
            }
        }
    }
    if i < b.len() && (b[i] == b'j' || b[i] == b'J') {
        return Err(syntax(src, start, "complex numbers are not supported in the sandbox"));
    }
    if i < b.len() && (b[i].is_ascii_alphabetic() || b[i] == b'_') {
        return Err(bad(start, "decimal"));
    }
    let text: String = src[start..i].chars().filter(|&c| c != '_').collect();
    if src[start..i].contains("__") || src[start..i].ends_with('_') {
        return Err(bad(start, "decimal"));
    }
    if is_float {
        let f: f64 = text.parse().map_err(|_| bad(start, "decimal"))?;
        Ok((Tok::Float(f), i))
    } else {
        if text.len() > 1 && text.starts_with('0') && text.chars().any(|c| c != '0') {
            return Err(syntax(
                src,
                start,
                "leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers",
            ));
        }
        let v: i64 = text.parse().map_err(|_| syntax(src, start, "integer literal too large for the sandbox (64-bit integers)"))?;
        Ok((Tok::Int(v), i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn blocks_become_indent_and_dedent() {
        let t = kinds("if x:\n    y = 1\n\n    # c\nz\n");
        assert_eq!(
            t,
            vec![
                Tok::Name("if".into()),
                Tok::Name("x".into()),
                Tok::Op(":"),
                Tok::Newline,
                Tok::Indent,
                Tok::Name("y".into()),
                Tok::Op("="),
                Tok::Int(1),
                Tok::Newline,
                Tok::Dedent,
                Tok::Name("z".into()),
                Tok::Newline,
                Tok::End
            ]
        );
    }

    #[test]
    fn brackets_join_lines_and_strings_unescape() {
        let t = kinds("f(1,\n  'a\\n')");
        assert!(t.contains(&Tok::Str("a\n".into())));
        assert!(!t[..t.len() - 2].contains(&Tok::Newline));
    }

    #[test]
    fn errors_read_like_pythons() {
        assert_eq!(tokenize("f(1").unwrap_err().message, "'(' was never closed");
        assert_eq!(tokenize("x = 'abc").unwrap_err().message, "unterminated string literal (detected at line 1)");
        assert_eq!(tokenize("if x:\n    a\n  b\n").unwrap_err().message, "unindent does not match any outer indentation level");
        assert_eq!(tokenize("x = 1 $").unwrap_err().message, "invalid syntax");
    }
}
