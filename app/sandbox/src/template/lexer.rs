//! Splitting template source into text, `{{ var }}`, `{% block %}` and `{# comment #}` tokens,
//! and splitting a tag's contents into bits the way Django's `smart_split` does.

/// Python's `str.isspace()` (what `str.split()`/`strip()` and the regex `\s` use).
pub(crate) fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's regex `\w` on `str`: Unicode alphanumerics and `_`.
pub(crate) fn py_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Python's `str.strip()`.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_space)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokKind {
    Text,
    Var,
    Block,
    Comment,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub kind: TokKind,
    /// For text, the raw text; otherwise the stripped contents between the delimiters.
    pub contents: String,
    /// Byte offset of the token (its `{{`/`{%` for tags) in the template source.
    pub start: usize,
    /// Byte offset of `contents` in the template source.
    pub content_off: usize,
    /// 1-based line the token starts on.
    pub line: usize,
}

/// Finds the next occurrence of a fixed pattern at or after `from`, remembering the answer so
/// that a scan whose start only moves forward stays linear.
struct NextFinder {
    pat: &'static str,
    found: Option<usize>,
    searched_from: usize,
    none_after: bool,
}

impl NextFinder {
    fn new(pat: &'static str) -> Self {
        NextFinder { pat, found: None, searched_from: 0, none_after: false }
    }

    fn next(&mut self, src: &str, from: usize) -> Option<usize> {
        if self.none_after && from >= self.searched_from {
            return None;
        }
        if let Some(p) = self.found {
            if p >= from && from >= self.searched_from {
                return Some(p);
            }
        }
        self.searched_from = from;
        match src.get(from..).and_then(|s| s.find(self.pat)) {
            Some(i) => {
                self.found = Some(from + i);
                self.none_after = false;
                Some(from + i)
            }
            None => {
                self.found = None;
                self.none_after = true;
                None
            }
        }
    }
}

/// Django's `Lexer.tokenize`: the tag regex `{%.*?%}|{{.*?}}|{#.*?#}` (no tag spans a newline),
/// and `{% verbatim %}` blocks whose inside stays text.
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut newline = NextFinder::new("\n");
    let mut close_block = NextFinder::new("%}");
    let mut close_var = NextFinder::new("}}");
    let mut close_comment = NextFinder::new("#}");
    let mut verbatim: Option<String> = None;
    let mut line = 1usize;
    let mut text_start = 0usize;
    let mut i = 0usize;
    let push_text = |out: &mut Vec<Token>, line: &mut usize, a: usize, b: usize| {
        if a < b {
            let text = &src[a..b];
            out.push(Token { kind: TokKind::Text, contents: text.to_string(), start: a, content_off: a, line: *line });
            *line += text.matches('\n').count();
        }
    };
    while i + 1 < bytes.len() {
        if bytes[i] != b'{' || !matches!(bytes[i + 1], b'%' | b'{' | b'#') {
            i += 1;
            continue;
        }
        let finder = match bytes[i + 1] {
            b'%' => &mut close_block,
            b'{' => &mut close_var,
            _ => &mut close_comment,
        };
        let line_end = newline.next(src, i + 2).unwrap_or(src.len());
        let close = match finder.next(src, i + 2) {
            Some(c) if c + 2 <= line_end => c,
            _ => {
                i += 1;
                continue;
            }
        };
        let end = close + 2;
        push_text(&mut out, &mut line, text_start, i);
        let raw = &src[i..end];
        let inner = &src[i + 2..close];
        let stripped = py_strip(inner);
        let lead = inner.len() - inner.trim_start_matches(py_space).len();
        let content_off = i + 2 + lead;
        let kind = match bytes[i + 1] {
            b'%' => {
                if let Some(end_tag) = &verbatim {
                    if stripped != end_tag {
                        TokKind::Text
                    } else {
                        verbatim = None;
                        TokKind::Block
                    }
                } else {
                    if stripped == "verbatim" || stripped.starts_with("verbatim ") {
                        verbatim = Some(format!("end{stripped}"));
                    }
                    TokKind::Block
                }
            }
            _ if verbatim.is_some() => TokKind::Text,
            b'{' => TokKind::Var,
            _ => TokKind::Comment,
        };
        let (contents, content_off) =
            if kind == TokKind::Text { (raw.to_string(), i) } else { (stripped.to_string(), content_off) };
        out.push(Token { kind, contents, start: i, content_off, line });
        line += raw.matches('\n').count();
        i = end;
        text_start = end;
    }
    push_text(&mut out, &mut line, text_start, src.len());
    out
}

/// Django's `smart_split`: whitespace-separated bits, where quoted strings (with backslash
/// escapes) may contain spaces. Returns each bit with its byte offset in `s`.
pub(crate) fn smart_split(s: &str) -> Vec<(String, usize)> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let n = chars.len();
    let byte_at = |k: usize| if k < n { chars[k].0 } else { s.len() };
    let plain = |c: char| !py_space(c) && c != '"' && c != '\'';
    let mut out = Vec::new();
    let mut k = 0;
    while k < n {
        if py_space(chars[k].1) {
            k += 1;
            continue;
        }
        let start = k;
        // First alternative: plain* ( quoted plain* )+
        let mut j = k;
        while j < n && plain(chars[j].1) {
            j += 1;
        }
        let mut groups = 0;
        let mut end = j;
        loop {
            if j >= n || !(chars[j].1 == '"' || chars[j].1 == '\'') {
                break;
            }
            let q = chars[j].1;
            let mut m = j + 1;
            let mut closed = None;
            while m < n {
                let c = chars[m].1;
                if c == '\\' {
                    if m + 1 < n && chars[m + 1].1 != '\n' {
                        m += 2;
                        continue;
                    }
                    break;
                }
                if c == q {
                    closed = Some(m);
                    break;
                }
                m += 1;
            }
            match closed {
                Some(m) => {
                    j = m + 1;
                    while j < n && plain(chars[j].1) {
                        j += 1;
                    }
                    groups += 1;
                    end = j;
                }
                None => break,
            }
        }
        if groups == 0 {
            // Second alternative: \S+
            end = k;
            while end < n && !py_space(chars[end].1) {
                end += 1;
            }
        }
        out.push((s[byte_at(start)..byte_at(end)].to_string(), byte_at(start)));
        k = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(TokKind, String)> {
        tokenize(src).into_iter().map(|t| (t.kind, t.contents)).collect()
    }

    #[test]
    fn tokens_like_django() {
        use TokKind::*;
        assert_eq!(
            kinds("a {{ b }} {% if c %}{# d #}"),
            vec![
                (Text, "a ".into()),
                (Var, "b".into()),
                (Text, " ".into()),
                (Block, "if c".into()),
                (Comment, "d".into())
            ]
        );
        assert_eq!(kinds("a {{ b\n }}"), vec![(Text, "a {{ b\n }}".into())]);
        assert_eq!(kinds("{{{ a }}"), vec![(Var, "{ a".into())]);
        assert_eq!(kinds("{%%}"), vec![(Block, "".into())]);
        assert_eq!(kinds("{%}%}"), vec![(Block, "}".into())]);
        assert_eq!(
            kinds("{% verbatim %}{{ x }}{% endverbatim %}"),
            vec![(Block, "verbatim".into()), (Text, "{{ x }}".into()), (Block, "endverbatim".into())]
        );
        let t = tokenize("x\n\n{{ a }}");
        assert_eq!(t[1].line, 3);
        assert_eq!(t[1].content_off, 6);
    }

    #[test]
    fn smart_split_like_django() {
        let bits: Vec<String> = smart_split(r#"with a="x y" b=c|d:'e f' "unclosed"#).into_iter().map(|b| b.0).collect();
        assert_eq!(bits, vec!["with", "a=\"x y\"", "b=c|d:'e f'", "\"unclosed"]);
        let bits: Vec<String> = smart_split(r#"a"b c"d 'x\'y'"#).into_iter().map(|b| b.0).collect();
        assert_eq!(bits, vec!["a\"b c\"d", "'x\\'y'"]);
    }
}
