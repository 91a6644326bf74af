//! The learner's progress in `localStorage` (one entry, [`protocol::progress`] decides what a
//! damaged or older entry becomes). Storage that is disabled (private mode, a blocked site) or
//! full is reported once; the course works without it, and nothing in the page is lost.

use protocol::progress::{self, LessonProgress, Progress};

fn storage() -> Result<web_sys::Storage, String> {
    let w = web_sys::window().ok_or("no window")?;
    match w.local_storage() {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err("this browser offers no local storage".into()),
        Err(_) => Err("this browser blocks local storage for the site".into()),
    }
}

/// The stored progress, and a message when it could not be read as it was.
pub fn load() -> (Progress, Option<String>) {
    let s = match storage() {
        Ok(s) => s,
        Err(why) => return (Progress::default(), Some(disabled_message(&why))),
    };
    match s.get_item(progress::KEY) {
        Ok(text) => {
            let (p, msg) = progress::load(text.as_deref());
            if msg.is_some() {
                // Write the repaired version back, so the message is shown once.
                let _ = s.set_item(progress::KEY, &progress::save(&p));
            }
            (p, msg)
        }
        Err(_) => (Progress::default(), Some(disabled_message("reading local storage failed"))),
    }
}

pub fn save(p: &Progress) -> Result<(), String> {
    let s = storage().map_err(|why| disabled_message(&why))?;
    s.set_item(progress::KEY, &progress::save(p)).map_err(|_| {
        "Your progress could not be saved: the browser's storage for this site is full. The lab still works; export your progress or reset a lesson to make room.".to_string()
    })
}

fn disabled_message(why: &str) -> String {
    format!("Progress cannot be kept in this browser ({why}). Everything works; what you solve is forgotten when you close the tab.")
}

/// A lesson's entry, created empty if missing.
pub fn entry<'a>(p: &'a mut Progress, slug: &str) -> &'a mut LessonProgress {
    p.lessons.entry(slug.to_string()).or_default()
}

/// A remembered choice of the page's layout (the result tab of a lab, the split's width):
/// kept beside the progress, under its own key; nothing happens when storage is unavailable.
pub fn pref(key: &str) -> Option<String> {
    storage().ok()?.get_item(&format!("djperf:ui:{key}")).ok().flatten()
}

pub fn set_pref(key: &str, value: &str) {
    if let Ok(s) = storage() {
        let _ = s.set_item(&format!("djperf:ui:{key}"), value);
    }
}
