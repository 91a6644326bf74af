//! What makes a plain `<textarea>` worth typing code in: Tab indents (four spaces, through
//! the browser's own editing so undo keeps working), Esc then Tab leaves the editor (keyboard
//! users are never trapped), Ctrl/Cmd-Enter runs; and `Highlighted`, the coloured copy of the
//! text drawn under a transparent textarea (`highlight.rs` lexes it).

use std::cell::Cell;
use std::rc::Rc;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::highlight::{highlight, Lang};

/// A line of the file the profile marks: 1-based line, its share of the file's hottest line
/// (0–100) and what the bar says (`20 queries · 1.20 ms`).
#[derive(Clone, Debug, PartialEq)]
pub struct Heat {
    pub line: u32,
    pub share: u32,
    pub label: String,
    pub queries: usize,
}

/// The coloured copy of an editor's text, drawn under its (transparent) textarea. Put both in
/// `<div class="code-wrap">`, the textarea after this, and call `follow` from its `input` and
/// `scroll` events. `text` is what the textarea shows (kept in step when the page sets it).
/// `heat` draws the profile's bars in the gutter: a marker at the start of each hot line whose
/// bar (CSS, at the editor's right edge) follows the line as it wraps and scrolls.
///
/// The code is lexed and drawn again only when the text changes; with `heat`, every line starts
/// with an empty marker whose attributes follow the heat, so a new profile (every request)
/// changes a few attributes instead of redrawing the file.
#[component]
pub fn Highlighted(lang: Lang, #[prop(into)] text: Signal<String>, #[prop(optional, into)] heat: Option<Signal<Vec<Heat>>>) -> impl IntoView {
    let hot = heat.map(|h| Memo::new(move |_| h.get()));
    let mark = move |line: u32| {
        let hot = hot?;
        // This line's heat, looked up once per profile; its attributes change only when it does.
        let at = Memo::new(move |_| hot.with(|v| v.iter().find(|h| h.line == line).cloned()));
        let at = move || at.get();
        Some(
            view! {
                <span class=move || at().map(|h| format!("heat w{}", h.share / 5 * 5)) data-testid=move || at().map(|_| "gutter-bar")
                    data-line=move || at().map(|_| line.to_string()) data-queries=move || at().map(|h| h.queries.to_string())
                    data-label=move || at().map(|h| h.label)></span>
            }
            .into_any(),
        )
    };
    view! {
        <pre class="hl" aria-hidden="true"><code>{move || text.with(|t| {
            let mut pieces: Vec<AnyView> = Vec::new();
            let mut line = 1u32;
            pieces.extend(mark(1));
            for (kind, piece) in highlight(lang, t) {
                // A piece may hold line ends (a string, a comment, spaces): cut it there so the
                // next line's marker comes right after its line end.
                for part in piece.split_inclusive('\n') {
                    pieces.push(match kind {
                        Some(k) => view! { <span class=k.class()>{part.to_string()}</span> }.into_any(),
                        None => part.to_string().into_any(),
                    });
                    if part.ends_with('\n') {
                        line += 1;
                        pieces.extend(mark(line));
                    }
                }
            }
            // A final newline needs something after it, or the copy is one line short.
            pieces.push(" ".into_any());
            pieces
        })}</code></pre>
    }
}

/// Keeps a `Highlighted` copy in step with its textarea (the element before it): the text as
/// typed, and the scroll position.
pub fn follow(ev: &web_sys::Event, live: RwSignal<String>) {
    let Some(area) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlTextAreaElement>().ok()) else { return };
    if ev.type_() == "input" {
        live.set(area.value());
    }
    if let Some(pre) = area.previous_element_sibling() {
        pre.set_scroll_top(area.scroll_top());
        pre.set_scroll_left(area.scroll_left());
    }
}

/// What a key press in an editor asks for.
#[derive(Debug, PartialEq)]
pub enum EditorKey {
    /// Ctrl/Cmd-Enter: run (the page decides what running means here).
    Run,
    /// Handled here (an indent), or left to the browser.
    Done,
}

/// Remembers whether Esc was the last key, per editor.
#[derive(Clone, Default)]
pub struct EditorKeys(Rc<Cell<bool>>);

impl EditorKeys {
    pub fn on_keydown(&self, ev: &web_sys::KeyboardEvent) -> EditorKey {
        let escaped = self.0.replace(ev.key() == "Escape");
        if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
            ev.prevent_default();
            return EditorKey::Run;
        }
        if ev.key() == "Tab" && !ev.shift_key() && !ev.ctrl_key() && !ev.alt_key() && !ev.meta_key() && !escaped {
            ev.prevent_default();
            insert_text("    ");
        }
        EditorKey::Done
    }
}

/// Types `text` at the caret as if the learner had (so the browser's undo history has it).
fn insert_text(text: &str) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    let Ok(exec) = js_sys::Reflect::get(&doc, &"execCommand".into()) else { return };
    if let Some(f) = exec.dyn_ref::<js_sys::Function>() {
        let _ = f.call3(&doc, &"insertText".into(), &false.into(), &text.into());
    }
}
