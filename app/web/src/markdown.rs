//! Inline `code` and **bold** in short texts (hints, summaries, verdicts, the N+1 advice).
//! Lesson prose is CommonMark parsed at build time (`prose.rs`). Views only: text is escaped.

use leptos::prelude::*;

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
