//! Lesson prose as a safe structure: what `lesson.md` says, parsed at build time by a
//! maintained CommonMark parser (`app/course/build.rs`, pulldown-cmark) into blocks and inline
//! runs the page turns into elements. There is no raw HTML in it: HTML written in a lesson
//! file arrives as text, and a link keeps only a target that is `https:`, `http:`, `#…` or
//! relative.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Block {
    /// A heading of level 1–6.
    Heading(u8, Vec<Inline>),
    Paragraph(Vec<Inline>),
    /// A list: `Some(start)` when numbered; each item is blocks of its own.
    List(Option<u64>, Vec<Vec<Block>>),
    /// A code block (the info string's first word, the text).
    Code(String, String),
    Quote(Vec<Block>),
    /// A table: the header cells, then the rows' cells.
    Table(Vec<Vec<Inline>>, Vec<Vec<Vec<Inline>>>),
    Rule,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Inline {
    Text(String),
    Code(String),
    Emphasis(Vec<Inline>),
    Strong(Vec<Inline>),
    /// A link: its target and its text.
    Link(String, Vec<Inline>),
    LineBreak,
}

/// `lesson.md` → blocks, with pulldown-cmark (feature `markdown`: the course's build script
/// parses; the page and the worker only read the result).
#[cfg(feature = "markdown")]
pub use parse::parse;

#[cfg(feature = "markdown")]
mod parse {
    use super::{safe_href, Block, Inline};

    use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

    /// What is being built: a container of blocks, or of inline runs.
    enum Frame {
        Blocks(Vec<Block>),
        Item(Vec<Block>),
        List(Option<u64>, Vec<Vec<Block>>),
        Quote(Vec<Block>),
        Inlines(Vec<Inline>),
        Code(String, String),
        Table(Vec<Vec<Inline>>, Vec<Vec<Vec<Inline>>>, bool),
        Row(Vec<Vec<Inline>>),
    }

    pub fn parse(src: &str) -> Vec<Block> {
        let mut stack: Vec<(Option<Tag>, Frame)> = vec![(None, Frame::Blocks(Vec::new()))];
        let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
        for event in Parser::new_ext(src, opts) {
            match event {
                Event::Start(tag) => {
                    let frame = match &tag {
                        Tag::Paragraph | Tag::Heading { .. } | Tag::Emphasis | Tag::Strong | Tag::Strikethrough | Tag::Link { .. } | Tag::Image { .. } | Tag::TableCell => {
                            Frame::Inlines(Vec::new())
                        }
                        Tag::List(start) => Frame::List(*start, Vec::new()),
                        Tag::Item => Frame::Item(Vec::new()),
                        Tag::BlockQuote(_) => Frame::Quote(Vec::new()),
                        Tag::CodeBlock(kind) => {
                            let lang = match kind {
                                CodeBlockKind::Fenced(info) => info.split_whitespace().next().unwrap_or("").to_string(),
                                CodeBlockKind::Indented => String::new(),
                            };
                            Frame::Code(lang, String::new())
                        }
                        Tag::Table(_) => Frame::Table(Vec::new(), Vec::new(), false),
                        Tag::TableHead | Tag::TableRow => Frame::Row(Vec::new()),
                        // HTML blocks, footnotes, metadata: their text only.
                        _ => Frame::Inlines(Vec::new()),
                    };
                    stack.push((Some(tag), frame));
                }
                Event::End(end) => {
                    let (tag, frame) = stack.pop().expect("balanced events");
                    let tag = tag.expect("an opened tag");
                    finish(&mut stack, tag, frame, end);
                }
                Event::Text(t) => text(&mut stack, Inline::Text(t.to_string())),
                Event::Code(t) => text(&mut stack, Inline::Code(t.to_string())),
                // Raw HTML in a lesson is shown as the text it is, never as markup.
                Event::Html(t) | Event::InlineHtml(t) => text(&mut stack, Inline::Text(t.to_string())),
                Event::SoftBreak => text(&mut stack, Inline::Text(" ".into())),
                Event::HardBreak => text(&mut stack, Inline::LineBreak),
                Event::Rule => push_block(&mut stack, Block::Rule),
                _ => {}
            }
        }
        match stack.pop() {
            Some((None, Frame::Blocks(b))) => b,
            _ => panic!("unbalanced Markdown events"),
        }
    }

    fn text(stack: &mut [(Option<Tag>, Frame)], inline: Inline) {
        match &mut stack.last_mut().expect("a frame").1 {
            Frame::Inlines(v) => v.push(inline),
            Frame::Code(_, code) => {
                if let Inline::Text(t) = inline {
                    code.push_str(&t);
                }
            }
            // Text straight inside a list item (a tight list): a paragraph of its own, merged
            // with the one before it.
            Frame::Item(blocks) | Frame::Blocks(blocks) | Frame::Quote(blocks) => match blocks.last_mut() {
                Some(Block::Paragraph(p)) => p.push(inline),
                _ => blocks.push(Block::Paragraph(vec![inline])),
            },
            _ => {}
        }
    }

    fn push_block(stack: &mut [(Option<Tag>, Frame)], block: Block) {
        match &mut stack.last_mut().expect("a frame").1 {
            Frame::Blocks(b) | Frame::Item(b) | Frame::Quote(b) => b.push(block),
            _ => {}
        }
    }

    fn finish(stack: &mut Vec<(Option<Tag>, Frame)>, tag: Tag, frame: Frame, _end: TagEnd) {
        match (tag, frame) {
            (Tag::Paragraph, Frame::Inlines(v)) => push_block(stack, Block::Paragraph(v)),
            (Tag::Heading { level, .. }, Frame::Inlines(v)) => push_block(stack, Block::Heading(level as u8, v)),
            (Tag::Emphasis, Frame::Inlines(v)) => text(stack, Inline::Emphasis(v)),
            (Tag::Strong, Frame::Inlines(v)) => text(stack, Inline::Strong(v)),
            (Tag::Strikethrough, Frame::Inlines(v)) => {
                for i in v {
                    text(stack, i);
                }
            }
            (Tag::Link { dest_url, .. }, Frame::Inlines(v)) => {
                if safe_href(&dest_url) {
                    text(stack, Inline::Link(dest_url.to_string(), v));
                } else {
                    for i in v {
                        text(stack, i);
                    }
                }
            }
            (Tag::Image { .. }, Frame::Inlines(v)) => {
                for i in v {
                    text(stack, i);
                }
            }
            (Tag::List(_), Frame::List(start, items)) => push_block(stack, Block::List(start, items)),
            (Tag::Item, Frame::Item(blocks)) => {
                if let Some((_, Frame::List(_, items))) = stack.last_mut() {
                    items.push(blocks);
                }
            }
            (Tag::BlockQuote(_), Frame::Quote(blocks)) => push_block(stack, Block::Quote(blocks)),
            (Tag::CodeBlock(_), Frame::Code(lang, code)) => push_block(stack, Block::Code(lang, code.trim_end_matches('\n').to_string())),
            (Tag::TableCell, Frame::Inlines(v)) => {
                if let Some((_, Frame::Row(cells))) = stack.last_mut() {
                    cells.push(v);
                }
            }
            (Tag::TableHead, Frame::Row(cells)) => {
                if let Some((_, Frame::Table(head, _, seen))) = stack.last_mut() {
                    *head = cells;
                    *seen = true;
                }
            }
            (Tag::TableRow, Frame::Row(cells)) => {
                if let Some((_, Frame::Table(_, rows, _))) = stack.last_mut() {
                    rows.push(cells);
                }
            }
            (Tag::Table(_), Frame::Table(head, rows, _)) => push_block(stack, Block::Table(head, rows)),
            // Anything else: keep its text.
            (_, Frame::Inlines(v)) => {
                for i in v {
                    text(stack, i);
                }
            }
            (_, Frame::Blocks(b) | Frame::Item(b) | Frame::Quote(b)) => {
                for block in b {
                    push_block(stack, block);
                }
            }
            _ => {}
        }
    }
}

/// Whether a link target may reach the page.
pub fn safe_href(href: &str) -> bool {
    let lower = href.trim().to_ascii_lowercase();
    if lower.starts_with("https:") || lower.starts_with("http:") || lower.starts_with('#') {
        return true;
    }
    // Relative: no scheme before the first slash, query or fragment.
    let head = lower.split(['/', '?', '#']).next().unwrap_or("");
    !head.contains(':') && !lower.is_empty()
}

/// The plain text of inline runs (for titles and tests).
pub fn plain(inlines: &[Inline]) -> String {
    let mut out = String::new();
    for i in inlines {
        match i {
            Inline::Text(t) | Inline::Code(t) => out.push_str(t),
            Inline::Emphasis(c) | Inline::Strong(c) | Inline::Link(_, c) => out.push_str(&plain(c)),
            Inline::LineBreak => out.push(' '),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "markdown")]
    #[test]
    fn commonmark_becomes_safe_blocks() {
        let src = "# Title\n\nSome *stress* and **bold** with `code` and [docs](https://docs.djangoproject.com/) and [bad](javascript:alert(1)).\n\n1. first\n2. second `x`\n\n- a\n- b\n\n| n | queries |\n|---|---|\n| 20 | **41** |\n\n<script>alert(1)</script>\n\n```python\nqs = Article.objects.all()\n```\n";
        let blocks = parse(src);
        assert_eq!(blocks[0], Block::Heading(1, vec![Inline::Text("Title".into())]));
        let Block::Paragraph(p) = &blocks[1] else { panic!("{:?}", blocks[1]) };
        assert!(p.contains(&Inline::Emphasis(vec![Inline::Text("stress".into())])));
        assert!(p.contains(&Inline::Strong(vec![Inline::Text("bold".into())])));
        assert!(p.contains(&Inline::Code("code".into())));
        assert!(p.contains(&Inline::Link("https://docs.djangoproject.com/".into(), vec![Inline::Text("docs".into())])));
        assert!(!p.iter().any(|i| matches!(i, Inline::Link(h, _) if h.starts_with("javascript"))), "{p:?}");
        assert!(plain(p).contains("bad"));
        assert_eq!(blocks[2], Block::List(Some(1), vec![vec![Block::Paragraph(vec![Inline::Text("first".into())])], vec![Block::Paragraph(vec![Inline::Text("second ".into()), Inline::Code("x".into())])]]));
        assert!(matches!(&blocks[3], Block::List(None, items) if items.len() == 2));
        let Block::Table(head, rows) = &blocks[4] else { panic!("{:?}", blocks[4]) };
        assert_eq!(plain(&head[1]), "queries");
        assert_eq!(rows[0][1], vec![Inline::Strong(vec![Inline::Text("41".into())])]);
        // Raw HTML stays text.
        assert!(matches!(&blocks[5], Block::Paragraph(p) if plain(p).contains("<script>")), "{:?}", blocks[5]);
        assert_eq!(blocks[6], Block::Code("python".into(), "qs = Article.objects.all()".into()));
    }

    #[test]
    fn only_harmless_targets_are_links() {
        for ok in ["https://docs.djangoproject.com/", "http://x", "#caching", "../05-cache-page", "notes.md"] {
            assert!(safe_href(ok), "{ok}");
        }
        for bad in ["javascript:alert(1)", "JavaScript:alert(1)", " data:text/html,x", "vbscript:x", ""] {
            assert!(!safe_href(bad), "{bad}");
        }
    }
}
