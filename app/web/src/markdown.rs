//! A small Markdown subset for lesson prose: headings, paragraphs, lists, fenced code,
//! inline `code` and **bold**. It builds views (never HTML strings), so text is escaped.

use leptos::prelude::*;

enum Block {
    Heading(usize, String),
    Para(String),
    List(Vec<String>),
    Code(String),
}

fn blocks(src: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = src.lines().peekable();
    let mut para: Vec<String> = Vec::new();
    let flush = |para: &mut Vec<String>, out: &mut Vec<Block>| {
        if !para.is_empty() {
            out.push(Block::Para(para.join(" ")));
            para.clear();
        }
    };
    while let Some(line) = lines.next() {
        let t = line.trim_end();
        if t.starts_with("```") {
            flush(&mut para, &mut out);
            let mut code = Vec::new();
            for l in lines.by_ref() {
                if l.trim_start().starts_with("```") {
                    break;
                }
                code.push(l);
            }
            out.push(Block::Code(code.join("\n")));
        } else if let Some(h) = t.strip_prefix('#') {
            flush(&mut para, &mut out);
            let level = 1 + h.chars().take_while(|c| *c == '#').count();
            out.push(Block::Heading(level, h.trim_start_matches('#').trim().to_string()));
        } else if let Some(item) = t.strip_prefix("- ") {
            flush(&mut para, &mut out);
            let mut items = vec![item.to_string()];
            while let Some(next) = lines.peek() {
                if let Some(i) = next.strip_prefix("- ") {
                    items.push(i.to_string());
                } else if next.starts_with("  ") && !next.trim().is_empty() {
                    if let Some(last) = items.last_mut() {
                        last.push(' ');
                        last.push_str(next.trim());
                    }
                } else {
                    break;
                }
                lines.next();
            }
            out.push(Block::List(items));
        } else if t.is_empty() {
            flush(&mut para, &mut out);
        } else {
            para.push(t.to_string());
        }
    }
    flush(&mut para, &mut out);
    out
}

pub fn inline(text: &str) -> AnyView {
    let mut parts: Vec<AnyView> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let code = rest.find('`');
        let bold = rest.find("**");
        match (code, bold) {
            (Some(c), b) if b.is_none_or(|b| c < b) => {
                parts.push(rest[..c].to_string().into_any());
                let after = &rest[c + 1..];
                match after.find('`') {
                    Some(e) => {
                        parts.push(view! { <code>{after[..e].to_string()}</code> }.into_any());
                        rest = &after[e + 1..];
                    }
                    None => {
                        parts.push(rest[c..].to_string().into_any());
                        rest = "";
                    }
                }
            }
            (_, Some(b)) => {
                parts.push(rest[..b].to_string().into_any());
                let after = &rest[b + 2..];
                match after.find("**") {
                    Some(e) => {
                        parts.push(view! { <strong>{after[..e].to_string()}</strong> }.into_any());
                        rest = &after[e + 2..];
                    }
                    None => {
                        parts.push(rest[b..].to_string().into_any());
                        rest = "";
                    }
                }
            }
            _ => {
                parts.push(rest.to_string().into_any());
                rest = "";
            }
        }
    }
    parts.into_any()
}

/// Renders lesson Markdown, skipping the first `# Title` (the page shows it already).
pub fn render(src: &str) -> AnyView {
    blocks(src)
        .into_iter()
        .filter(|b| !matches!(b, Block::Heading(1, _)))
        .map(|b| match b {
            Block::Heading(_, t) => view! { <h3>{inline(&t)}</h3> }.into_any(),
            Block::Para(t) => view! { <p>{inline(&t)}</p> }.into_any(),
            Block::List(items) => view! { <ul>{items.into_iter().map(|i| view! { <li>{inline(&i)}</li> }).collect_view()}</ul> }.into_any(),
            Block::Code(c) => view! { <pre class="code">{c}</pre> }.into_any(),
        })
        .collect_view()
        .into_any()
}
