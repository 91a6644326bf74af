//! Lesson prose on the page: `protocol::prose` blocks (parsed from `lesson.md` at build time)
//! turned into elements. Views only, never HTML strings: every text is escaped.

use leptos::prelude::*;
use protocol::prose::{Block, Inline};

fn inlines(runs: &[Inline]) -> AnyView {
    runs.iter()
        .map(|i| match i {
            Inline::Text(t) => t.clone().into_any(),
            Inline::Code(t) => view! { <code>{t.clone()}</code> }.into_any(),
            Inline::Emphasis(c) => view! { <em>{inlines(c)}</em> }.into_any(),
            Inline::Strong(c) => view! { <strong>{inlines(c)}</strong> }.into_any(),
            Inline::Link(href, c) => {
                // build.rs kept only harmless targets; outside links open beside the lesson.
                let external = href.starts_with("http");
                view! { <a href=href.clone() target=external.then_some("_blank") rel=external.then_some("noopener")>{inlines(c)}</a> }.into_any()
            }
            Inline::LineBreak => view! { <br/> }.into_any(),
        })
        .collect_view()
        .into_any()
}

/// An item's blocks; a tight item's single paragraph without its `<p>`.
fn item(blocks: &[Block]) -> AnyView {
    match blocks {
        [Block::Paragraph(p)] => inlines(p),
        _ => blocks.iter().map(block).collect_view().into_any(),
    }
}

fn block(b: &Block) -> AnyView {
    match b {
        // The page shows the lesson title itself; sections sit under it.
        Block::Heading(1, _) => ().into_any(),
        Block::Heading(2, t) => view! { <h3>{inlines(t)}</h3> }.into_any(),
        Block::Heading(_, t) => view! { <h4>{inlines(t)}</h4> }.into_any(),
        Block::Paragraph(p) => view! { <p>{inlines(p)}</p> }.into_any(),
        Block::List(None, items) => view! { <ul>{items.iter().map(|i| view! { <li>{item(i)}</li> }).collect_view()}</ul> }.into_any(),
        Block::List(Some(start), items) => {
            view! { <ol start=start.to_string()>{items.iter().map(|i| view! { <li>{item(i)}</li> }).collect_view()}</ol> }.into_any()
        }
        Block::Code(_, text) => view! { <pre class="code">{text.clone()}</pre> }.into_any(),
        Block::Quote(blocks) => view! { <blockquote>{blocks.iter().map(block).collect_view()}</blockquote> }.into_any(),
        Block::Table(head, rows) => view! {
            <div class="table-wrap">
                <table>
                    <thead><tr>{head.iter().map(|c| view! { <th>{inlines(c)}</th> }).collect_view()}</tr></thead>
                    <tbody>{rows.iter().map(|r| view! { <tr>{r.iter().map(|c| view! { <td>{inlines(c)}</td> }).collect_view()}</tr> }).collect_view()}</tbody>
                </table>
            </div>
        }
        .into_any(),
        Block::Rule => view! { <hr/> }.into_any(),
    }
}

pub fn render(blocks: &[Block]) -> AnyView {
    blocks.iter().map(block).collect_view().into_any()
}
