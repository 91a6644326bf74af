//! Keys that make a plain `<textarea>` worth typing code in: Tab indents (four spaces, through
//! the browser's own editing so undo keeps working), Esc then Tab leaves the editor (keyboard
//! users are never trapped), Ctrl/Cmd-Enter runs.

use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen::JsCast;

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
