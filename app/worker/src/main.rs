//! The engine's Web Worker. The page posts JSON [`protocol::Request`]s; this answers with JSON
//! [`protocol::Response`]s. Seeding and queries run here so they never block the page.
//!
//! A panic in wasm aborts the instance for good, so the panic hook first posts a `panic`
//! message: the page then replaces this worker with a fresh one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use protocol::{Request, Response};
use sandbox::lab::Lab;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

thread_local! {
    static LAB: RefCell<Lab> = RefCell::new(Lab::with_course(Rc::new(lesson_lab)));
    /// Labs parsed from the embedded course, by slug (a check names its lesson).
    static LABS: RefCell<HashMap<String, Rc<course::Lab>>> = RefCell::new(HashMap::new());
    // Looked up once: the clock is read several times per query.
    static PERFORMANCE: Option<web_sys::Performance> = scope().performance();
}

/// The lab of a lesson of the embedded course, parsed once.
fn lesson_lab(slug: &str) -> Option<Rc<course::Lab>> {
    LABS.with(|labs| {
        if let Some(l) = labs.borrow().get(slug) {
            return Some(l.clone());
        }
        let lab = Rc::new(course::lab(course::find(slug)?));
        labs.borrow_mut().insert(slug.to_string(), lab.clone());
        Some(lab)
    })
}

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn post(resp: &Response) {
    if let Ok(text) = serde_json::to_string(resp) {
        let _ = scope().post_message(&JsValue::from_str(&text));
    }
}

fn monotonic_ms() -> f64 {
    PERFORMANCE.with(|p| p.as_ref().map(|p| p.now()).unwrap_or_else(js_sys::Date::now))
}

fn wall_ms() -> f64 {
    js_sys::Date::now()
}

fn main() {
    std::panic::set_hook(Box::new(|info| {
        post(&Response::Panic { message: info.to_string() });
    }));
    sandbox::clock::set_clocks(monotonic_ms, wall_ms);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|ev: MessageEvent| {
        let Some(text) = ev.data().as_string() else { return };
        let req: Request = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                post(&Response::Panic { message: format!("the page sent a message the worker does not understand: {e}") });
                return;
            }
        };
        LAB.with(|lab| lab.borrow_mut().handle(req, &mut |resp| post(&resp)));
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(&Response::Ready);
}
