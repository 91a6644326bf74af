//! Lesson prose on the page: `protocol::prose` blocks (parsed from `lesson.md` at build time)
//! turned into elements. Views only, never HTML strings: every text is escaped.
//!
//! A code span that is a request (`GET /articles/`, `POST /tags/new/ with name=x`), the label
//! of one of the lab's toggles or one of its shell lines is an **action**: clicking it fills
//! the address bar, ticks the toggle or fills the shell line, so the learner does what the
//! sentence says in one click.

use leptos::prelude::*;
use protocol::prose::{Block, Inline};

/// What a click in the prose asks of the lab.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Put this request line in the address bar.
    Fill(String),
    /// Tick the toggle with this label.
    Toggle(String),
    /// Put this line in the shell.
    Shell(String),
}

/// What a code span in the prose can name: the lab's toggle labels and its offered shell lines.
#[derive(Clone, Debug, Default)]
pub struct Targets {
    pub toggles: Vec<String>,
    pub shell: Vec<String>,
}

/// A request line (`GET /articles/`) or a bare path (`/articles/?tag=sql`, sent as GET).
fn is_request(code: &str) -> bool {
    (code.starts_with('/') && !code.contains(char::is_whitespace))
        || protocol::METHODS.iter().any(|m| code.strip_prefix(m).is_some_and(|rest| rest.starts_with(" /")))
}

fn code_span(t: &str, targets: &Targets) -> AnyView {
    let action = if is_request(t) {
        Some(Action::Fill(t.to_string()))
    } else if targets.toggles.iter().any(|l| l == t) {
        Some(Action::Toggle(t.to_string()))
    } else if targets.shell.iter().any(|l| l == t) {
        Some(Action::Shell(t.to_string()))
    } else {
        None
    };
    match action {
        None => view! { <code>{t.to_string()}</code> }.into_any(),
        Some(a) => {
            let shared = expect_context::<crate::Shared>();
            let (kind, title) = match &a {
                Action::Fill(_) => ("fill", "Put this request in the lab's address bar"),
                Action::Toggle(_) => ("toggle", "Tick this in the lab"),
                Action::Shell(_) => ("shell", "Put this line in the lab's shell"),
            };
            view! {
                <button type="button" class="prose-action" data-testid="prose-action" data-action=kind title=title
                    on:click=move |_| shared.action.set(Some(a.clone()))>
                    <code>{t.to_string()}</code>
                </button>
            }
            .into_any()
        }
    }
}

fn inlines(runs: &[Inline], targets: &Targets) -> AnyView {
    runs.iter()
        .map(|i| match i {
            Inline::Text(t) => t.clone().into_any(),
            Inline::Code(t) => code_span(t, targets),
            Inline::Emphasis(c) => view! { <em>{inlines(c, targets)}</em> }.into_any(),
            Inline::Strong(c) => view! { <strong>{inlines(c, targets)}</strong> }.into_any(),
            Inline::Link(href, c) => {
                // build.rs kept only harmless targets; outside links open beside the lesson.
                let external = href.starts_with("http");
                view! { <a href=href.clone() target=external.then_some("_blank") rel=external.then_some("noopener")>{inlines(c, targets)}</a> }.into_any()
            }
            Inline::LineBreak => view! { <br/> }.into_any(),
        })
        .collect_view()
        .into_any()
}

/// An item's blocks; a tight item's single paragraph without its `<p>`.
fn item(blocks: &[Block], targets: &Targets) -> AnyView {
    match blocks {
        [Block::Paragraph(p)] => inlines(p, targets),
        _ => blocks.iter().map(|b| block(b, targets)).collect_view().into_any(),
    }
}

fn block(b: &Block, targets: &Targets) -> AnyView {
    match b {
        // The page shows the lesson title itself; sections sit under it.
        Block::Heading(1, _) => ().into_any(),
        Block::Heading(2, t) => view! { <h3>{inlines(t, targets)}</h3> }.into_any(),
        Block::Heading(_, t) => view! { <h4>{inlines(t, targets)}</h4> }.into_any(),
        Block::Paragraph(p) => view! { <p>{inlines(p, targets)}</p> }.into_any(),
        Block::List(None, items) => view! { <ul>{items.iter().map(|i| view! { <li>{item(i, targets)}</li> }).collect_view()}</ul> }.into_any(),
        Block::List(Some(start), items) => {
            view! { <ol start=start.to_string()>{items.iter().map(|i| view! { <li>{item(i, targets)}</li> }).collect_view()}</ol> }.into_any()
        }
        Block::Code(_, text) => view! { <pre class="code">{text.clone()}</pre> }.into_any(),
        Block::Quote(blocks) => view! { <blockquote>{blocks.iter().map(|b| block(b, targets)).collect_view()}</blockquote> }.into_any(),
        Block::Table(head, rows) => view! {
            <div class="table-wrap">
                <table>
                    <thead><tr>{head.iter().map(|c| view! { <th>{inlines(c, targets)}</th> }).collect_view()}</tr></thead>
                    <tbody>{rows.iter().map(|r| view! { <tr>{r.iter().map(|c| view! { <td>{inlines(c, targets)}</td> }).collect_view()}</tr> }).collect_view()}</tbody>
                </table>
            </div>
        }
        .into_any(),
        Block::Rule => view! { <hr/> }.into_any(),
    }
}

/// The prose; a code span naming one of `targets` is an action.
pub fn render(blocks: &[Block], targets: &Targets) -> AnyView {
    blocks.iter().map(|b| block(b, targets)).collect_view().into_any()
}
