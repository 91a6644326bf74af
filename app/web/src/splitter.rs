//! The workbench's split between the lesson's text and its lab: dragged with the pointer or
//! moved with the arrow keys, remembered for every lesson; a double click (or Home) goes back
//! to the default. Below 1,000 px the page is one column and the handle is hidden (CSS).
//!
//! The width is a CSS custom property set through the CSSOM (the CSP forbids inline style
//! attributes, not `style.setProperty`).

use leptos::prelude::*;
use wasm_bindgen::JsCast;

const KEY: &str = "split";
/// The narrowest text column, and the narrowest lab beside it, in CSS pixels.
const MIN_PROSE: f64 = 260.0;
const MIN_LAB: f64 = 420.0;
const STEP: f64 = 32.0;

/// The handle; `article` is the element whose grid it resizes.
#[component]
pub fn Splitter(article: NodeRef<leptos::html::Article>) -> impl IntoView {
    let width = RwSignal::new(crate::store::pref(KEY).and_then(|w| w.parse::<f64>().ok()).filter(|w| w.is_finite()));
    // While dragging: how far right of the text column's edge the pointer took hold.
    let dragging = RwSignal::new(None::<f64>);
    // The width as the article's grid can take it (a window narrower than when it was saved).
    let fit = move |w: f64| -> f64 {
        let total = article.get_untracked().map(|a| a.client_width() as f64).unwrap_or(1280.0);
        w.min(total - MIN_LAB).max(MIN_PROSE)
    };
    Effect::new(move |_| {
        let w = width.get();
        let Some(a) = article.get() else { return };
        let style = a.unchecked_ref::<web_sys::HtmlElement>().style();
        let _ = match w {
            Some(w) => style.set_property("--prose-w", &format!("{:.0}px", fit(w))),
            None => style.remove_property("--prose-w").map(|_| ()),
        };
    });
    let save = move || match width.get_untracked() {
        Some(w) => crate::store::set_pref(KEY, &format!("{:.0}", fit(w))),
        None => crate::store::set_pref(KEY, ""),
    };
    // The text column's width now (what the arrow keys start from).
    let current = move || -> f64 {
        width.get_untracked().map(fit).unwrap_or_else(|| {
            article
                .get_untracked()
                .and_then(|a| a.query_selector(":scope > .prose").ok().flatten())
                .map(|p| p.get_bounding_client_rect().width())
                .unwrap_or(400.0)
        })
    };
    // The column's edge follows the pointer, keeping the offset where it took hold.
    let left = move || article.get_untracked().map(|a| a.get_bounding_client_rect().left()).unwrap_or(0.0);
    view! {
        <div class="splitter" role="separator" aria-orientation="vertical" tabindex="0" data-testid="splitter"
            aria-label="Width of the lesson text (arrow keys; Home resets)"
            title="Drag to give the lesson text or the lab more room; double-click to reset"
            aria-valuenow=move || width.get().map(|w| format!("{:.0}", w))
            on:pointerdown=move |ev| {
                ev.prevent_default();
                if let Some(t) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
                    let _ = t.set_pointer_capture(ev.pointer_id());
                }
                dragging.set(Some(ev.client_x() as f64 - left() - current()));
            }
            on:pointermove=move |ev| if let Some(grab) = dragging.get_untracked() { width.set(Some(fit(ev.client_x() as f64 - left() - grab))) }
            on:pointerup=move |_| { if dragging.get_untracked().is_some() { dragging.set(None); save() } }
            on:dblclick=move |_| { width.set(None); save() }
            on:keydown=move |ev| {
                let next = match ev.key().as_str() {
                    "ArrowLeft" => Some(Some(current() - STEP)),
                    "ArrowRight" => Some(Some(current() + STEP)),
                    "Home" => Some(None),
                    _ => None,
                };
                if let Some(w) = next {
                    ev.prevent_default();
                    width.set(w.map(fit));
                    save();
                }
            }>
        </div>
    }
}
