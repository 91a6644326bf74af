//! Syntax highlighting for the code editors: small lexers for Python, Django templates and SQL
//! that split the text into classed pieces. The editor draws them in a `<pre>` under a
//! transparent `<textarea>` (the textarea keeps typing, selection, undo and screen readers);
//! chosen over CodeMirror 6 by measuring both: CodeMirror's editor with Python, SQL and its
//! Jinja2 mode, bundled and minified by esbuild, is 497 KB raw / 143 KB brotli; this overlay
//! added 10 KB brotli to the site (UI wasm 331 → 338 KB, CSS +1 KB). The pieces always cover
//! the whole text, in order, so the overlay lines up.

/// The languages the editors hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lang {
    Python,
    /// A Django template (HTML with `{{ }}`, `{% %}` and `{# #}`).
    Template,
    Sql,
    Plain,
}

impl Lang {
    /// The language of a lab file, by its name.
    pub fn of_file(name: &str) -> Lang {
        if name.ends_with(".py") {
            Lang::Python
        } else if name.ends_with(".html") || name.ends_with(".txt") {
            Lang::Template
        } else if name.ends_with(".sql") {
            Lang::Sql
        } else {
            Lang::Plain
        }
    }
}

/// What a piece of text is; `None` is drawn plain. The names are CSS classes (`hl-kw`, …).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Keyword,
    Str,
    Number,
    Comment,
    /// A decorator, a template tag's name, a filter.
    Name,
    /// `{{`, `}}`, `{%`, `%}`: where Django code starts and ends in a template.
    Delim,
    /// HTML markup in a template.
    Markup,
}

impl Kind {
    pub fn class(self) -> &'static str {
        match self {
            Kind::Keyword => "hl-kw",
            Kind::Str => "hl-str",
            Kind::Number => "hl-num",
            Kind::Comment => "hl-com",
            Kind::Name => "hl-name",
            Kind::Delim => "hl-delim",
            Kind::Markup => "hl-markup",
        }
    }
}

const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else",
    "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
    "return", "try", "while", "with", "yield",
];

const SQL_KEYWORDS: &[&str] = &[
    "ALL", "ALTER", "AND", "AS", "ASC", "BEGIN", "BETWEEN", "BY", "CASE", "COMMIT", "COUNT", "CREATE", "DELETE", "DESC", "DISTINCT",
    "DROP", "ELSE", "END", "EXISTS", "EXPLAIN", "FROM", "GROUP", "HAVING", "IN", "INDEX", "INNER", "INSERT", "INTO", "IS", "JOIN",
    "LEFT", "LIKE", "LIMIT", "NOT", "NULL", "OFFSET", "ON", "OR", "ORDER", "OUTER", "PLAN", "PRAGMA", "QUERY", "ROLLBACK", "SELECT",
    "SET", "TABLE", "THEN", "TRANSACTION", "UNION", "UNIQUE", "UPDATE", "VALUES", "WHEN", "WHERE", "WITH",
];

/// Template words that are part of a tag's syntax (`for x in y`, `if a and not b`).
const TEMPLATE_WORDS: &[&str] = &["in", "and", "or", "not", "as", "with", "only", "is", "by", "from", "using", "on", "off", "reversed"];

/// The text cut into pieces, each with its kind (or none); together they are the whole text.
pub fn highlight(lang: Lang, src: &str) -> Vec<(Option<Kind>, &str)> {
    let mut out = Pieces { src, out: Vec::new(), plain_from: 0 };
    match lang {
        Lang::Python => code(&mut out, 0, src.len(), Lang::Python),
        Lang::Sql => code(&mut out, 0, src.len(), Lang::Sql),
        Lang::Template => template(&mut out),
        Lang::Plain => {}
    }
    out.finish()
}

struct Pieces<'a> {
    src: &'a str,
    out: Vec<(Option<Kind>, &'a str)>,
    /// Where the text not yet given a piece starts.
    plain_from: usize,
}

impl<'a> Pieces<'a> {
    fn push(&mut self, kind: Kind, start: usize, end: usize) {
        if start > self.plain_from {
            self.out.push((None, &self.src[self.plain_from..start]));
        }
        if end > start {
            self.out.push((Some(kind), &self.src[start..end]));
        }
        self.plain_from = end;
    }

    fn finish(mut self) -> Vec<(Option<Kind>, &'a str)> {
        if self.plain_from < self.src.len() {
            self.out.push((None, &self.src[self.plain_from..]));
        }
        self.out
    }
}

/// Python or SQL between `start` and `end`.
fn code(p: &mut Pieces, start: usize, end: usize, lang: Lang) {
    let b = p.src.as_bytes();
    let mut i = start;
    while i < end {
        let c = b[i];
        let comment = match lang {
            Lang::Sql => c == b'-' && b.get(i + 1) == Some(&b'-'),
            _ => c == b'#',
        };
        if comment {
            let stop = p.src[i..end].find('\n').map_or(end, |k| i + k);
            p.push(Kind::Comment, i, stop);
            i = stop;
        } else if c == b'\'' || (c == b'"' && lang == Lang::Python) {
            let stop = string_end(p.src, i, end, lang);
            p.push(Kind::Str, i, stop);
            i = stop;
        } else if c.is_ascii_digit() && (i == start || !is_word(b[i - 1])) {
            let mut j = i;
            while j < end && (b[j].is_ascii_alphanumeric() || b[j] == b'.' || b[j] == b'_') {
                j += 1;
            }
            p.push(Kind::Number, i, j);
            i = j;
        } else if c == b'@' && lang == Lang::Python && line_starts_before(b, start, i) {
            let mut j = i + 1;
            while j < end && (is_word(b[j]) || b[j] == b'.') {
                j += 1;
            }
            p.push(Kind::Name, i, j);
            i = j;
        } else if is_word(c) {
            let mut j = i;
            while j < end && is_word(b[j]) {
                j += 1;
            }
            let word = &p.src[i..j];
            let keyword = match lang {
                Lang::Sql => SQL_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word)),
                _ => PYTHON_KEYWORDS.contains(&word),
            };
            // A string prefix: f"…", r'…', b"…".
            if lang == Lang::Python && j < end && (b[j] == b'\'' || b[j] == b'"') && word.len() <= 2 && word.chars().all(|ch| "rRbBfFuU".contains(ch)) {
                let stop = string_end(p.src, j, end, lang);
                p.push(Kind::Str, i, stop);
                i = stop;
                continue;
            }
            if keyword {
                p.push(Kind::Keyword, i, j);
            }
            i = j;
        } else {
            // Step over one character (which may be several bytes).
            i += p.src[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Only blanks between the line's start and `i` (a decorator opens its line).
fn line_starts_before(b: &[u8], start: usize, i: usize) -> bool {
    b[start..i].iter().rev().take_while(|&&c| c != b'\n').all(|c| *c == b' ' || *c == b'\t')
}

/// Where the string opening at `i` ends (past its closing quote), or at `end` when it does not.
fn string_end(src: &str, i: usize, end: usize, lang: Lang) -> usize {
    let b = src.as_bytes();
    let q = b[i];
    let triple = lang == Lang::Python && b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
    let mut j = if triple { i + 3 } else { i + 1 };
    while j < end {
        if b[j] == b'\\' && lang == Lang::Python {
            // Skip the escaped character whole (it may be several bytes).
            j += 1 + src.get(j + 1..).and_then(|r| r.chars().next()).map_or(0, char::len_utf8);
            continue;
        }
        if b[j] == q {
            if triple {
                if b.get(j + 1) == Some(&q) && b.get(j + 2) == Some(&q) {
                    return (j + 3).min(end);
                }
            } else if lang == Lang::Sql && b.get(j + 1) == Some(&q) {
                j += 2; // '' inside an SQL string
                continue;
            } else {
                return j + 1;
            }
        }
        if b[j] == b'\n' && !triple && lang == Lang::Python {
            return j; // an unclosed one-line string stops at the line's end
        }
        j += 1;
    }
    end.min(b.len())
}

/// A Django template: markup, `{# #}` comments, `{% tag … %}` and `{{ var|filter }}`.
fn template(p: &mut Pieces) {
    let src = p.src;
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'{' && matches!(b.get(i + 1), Some(b'{') | Some(b'%') | Some(b'#')) {
            let close = match b[i + 1] {
                b'{' => "}}",
                b'%' => "%}",
                _ => "#}",
            };
            let inner_end = src[i + 2..].find(close).map_or(b.len(), |k| i + 2 + k);
            let stop = (inner_end + 2).min(b.len());
            if b[i + 1] == b'#' {
                p.push(Kind::Comment, i, stop);
            } else {
                p.push(Kind::Delim, i, i + 2);
                template_code(p, i + 2, inner_end, b[i + 1] == b'%');
                if inner_end < b.len() {
                    p.push(Kind::Delim, inner_end, stop);
                }
            }
            i = stop;
        } else if b[i] == b'<' && b.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'/' || *c == b'!') {
            // An HTML tag: up to its '>' or the next Django delimiter, whichever comes first.
            let rest = &src[i..];
            let gt = rest.find('>').map_or(rest.len(), |k| k + 1);
            let django = rest[1..].find("{{").or_else(|| rest[1..].find("{%")).map_or(rest.len(), |k| k + 1);
            let stop = i + gt.min(django);
            p.push(Kind::Markup, i, stop);
            i = stop;
        } else {
            i += src[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
}

/// Inside `{% %}` (the first word is the tag's name) or `{{ }}` (names after `|` are filters).
fn template_code(p: &mut Pieces, start: usize, end: usize, is_tag: bool) {
    let b = p.src.as_bytes();
    let mut i = start;
    let mut first_word = is_tag;
    while i < end {
        let c = b[i];
        if c == b'\'' || c == b'"' {
            let mut j = i + 1;
            while j < end && b[j] != c {
                j += 1;
            }
            let stop = (j + 1).min(end);
            p.push(Kind::Str, i, stop);
            i = stop;
        } else if c.is_ascii_digit() && (i == start || !is_word(b[i - 1])) {
            let mut j = i;
            while j < end && (b[j].is_ascii_digit() || b[j] == b'.') {
                j += 1;
            }
            p.push(Kind::Number, i, j);
            i = j;
        } else if is_word(c) {
            let mut j = i;
            while j < end && is_word(b[j]) {
                j += 1;
            }
            let word = &p.src[i..j];
            let after_bar = p.src[start..i].trim_end().ends_with('|');
            if first_word {
                p.push(Kind::Keyword, i, j);
            } else if after_bar {
                p.push(Kind::Name, i, j);
            } else if is_tag && TEMPLATE_WORDS.contains(&word) {
                p.push(Kind::Keyword, i, j);
            }
            first_word = false;
            i = j;
        } else {
            i += p.src[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(lang: Lang, src: &str) -> Vec<(&'static str, String)> {
        let pieces = highlight(lang, src);
        assert_eq!(pieces.iter().map(|(_, t)| *t).collect::<String>(), src, "the pieces are the whole text");
        pieces.into_iter().filter_map(|(k, t)| k.map(|k| (k.class(), t.to_string()))).collect()
    }

    #[test]
    fn python_keywords_strings_comments_numbers_and_decorators() {
        let got = classes(Lang::Python, "@cache_page(60)\ndef view(request):  # the list\n    return render(request, 'a.html', {\"n\": 2})\n");
        assert_eq!(
            got,
            vec![
                ("hl-name", "@cache_page".into()),
                ("hl-num", "60".into()),
                ("hl-kw", "def".into()),
                ("hl-com", "# the list".into()),
                ("hl-kw", "return".into()),
                ("hl-str", "'a.html'".into()),
                ("hl-str", "\"n\"".into()),
                ("hl-num", "2".into()),
            ]
        );
    }

    #[test]
    fn python_string_prefixes_triple_quotes_and_escapes() {
        let got = classes(Lang::Python, "x = f\"{a}\\\"\" + '''two\nlines''' + r'\\d'\nname2 = 1");
        assert_eq!(
            got,
            vec![("hl-str", "f\"{a}\\\"\"".into()), ("hl-str", "'''two\nlines'''".into()), ("hl-str", "r'\\d'".into()), ("hl-num", "1".into())]
        );
    }

    #[test]
    fn an_unclosed_string_stops_at_the_line_end_so_the_next_line_is_still_code() {
        let got = classes(Lang::Python, "s = 'open\nfor x in y: pass");
        assert_eq!(got[0], ("hl-str", "'open".into()));
        assert!(got.contains(&("hl-kw", "for".into())));
    }

    #[test]
    fn template_tags_variables_filters_comments_and_markup() {
        let got = classes(Lang::Template, "<li>{% for a in articles %}{{ a.title|upper }}{# why #}{% endfor %}</li>");
        assert_eq!(
            got,
            vec![
                ("hl-markup", "<li>".into()),
                ("hl-delim", "{%".into()),
                ("hl-kw", "for".into()),
                ("hl-kw", "in".into()),
                ("hl-delim", "%}".into()),
                ("hl-delim", "{{".into()),
                ("hl-name", "upper".into()),
                ("hl-delim", "}}".into()),
                ("hl-com", "{# why #}".into()),
                ("hl-delim", "{%".into()),
                ("hl-kw", "endfor".into()),
                ("hl-delim", "%}".into()),
                ("hl-markup", "</li>".into()),
            ]
        );
    }

    #[test]
    fn an_unclosed_tag_runs_to_the_end_without_losing_text() {
        let got = classes(Lang::Template, "{% cache 60 'x' ");
        assert_eq!(got, vec![("hl-delim", "{%".into()), ("hl-kw", "cache".into()), ("hl-num", "60".into()), ("hl-str", "'x'".into())]);
    }

    #[test]
    fn sql_keywords_any_case_strings_with_doubled_quotes_and_comments() {
        let got = classes(Lang::Sql, "select \"id\" FROM t WHERE s = 'it''s' -- note\nLIMIT 20");
        assert_eq!(
            got,
            vec![
                ("hl-kw", "select".into()),
                ("hl-kw", "FROM".into()),
                ("hl-kw", "WHERE".into()),
                ("hl-str", "'it''s'".into()),
                ("hl-com", "-- note".into()),
                ("hl-kw", "LIMIT".into()),
                ("hl-num", "20".into()),
            ]
        );
    }

    #[test]
    fn any_text_comes_back_whole_even_broken_or_non_ascii() {
        for lang in [Lang::Python, Lang::Template, Lang::Sql, Lang::Plain] {
            for src in ["", "'", "\"\"\"", "{%", "{{ x", "<", "é'ü\n#ç", "{% if 'é' %}ü{% endif %}", "\\", "r'", "@", "1.2.3e", "'\\é'", "'\\"] {
                let pieces = highlight(lang, src);
                assert_eq!(pieces.iter().map(|(_, t)| *t).collect::<String>(), src, "{lang:?} {src:?}");
            }
        }
    }
}
