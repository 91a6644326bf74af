//! The lab's results as tabs, as the debug toolbar shows its panels: Response, SQL, Cache,
//! Profile, Tests (the selected step's), then Timeline, Chart, Compare and Growth (the lab's). Each
//! label carries its count; the chosen tab is remembered per lab; Alt+1…9 picks a tab and the
//! arrow keys move along the bar (the WAI-ARIA tabs pattern).
//!
//! Every panel stays in the page (hidden when not chosen), so what a panel holds keeps its
//! state — a half-typed timeline, a chart — while the learner looks elsewhere.

use leptos::prelude::*;
use protocol::{StepKind, StepReport, TestOutcome};

use crate::Shared;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Response,
    Sql,
    Cache,
    Profile,
    Tests,
    Timeline,
    Chart,
    Compare,
    Growth,
}

impl Tab {
    pub fn id(self) -> &'static str {
        match self {
            Tab::Response => "response",
            Tab::Sql => "sql",
            Tab::Cache => "cache",
            Tab::Profile => "profile",
            Tab::Tests => "tests",
            Tab::Timeline => "timeline",
            Tab::Chart => "chart",
            Tab::Compare => "compare",
            Tab::Growth => "growth",
        }
    }

    fn from_id(id: &str) -> Option<Tab> {
        [Tab::Response, Tab::Sql, Tab::Cache, Tab::Profile, Tab::Tests, Tab::Timeline, Tab::Chart, Tab::Compare, Tab::Growth].into_iter().find(|t| t.id() == id)
    }

    /// A tab that shows the selected step (the others show the lab's tools).
    pub fn of_step(self) -> bool {
        matches!(self, Tab::Response | Tab::Sql | Tab::Cache | Tab::Profile | Tab::Tests)
    }

    fn name(self) -> &'static str {
        match self {
            Tab::Response => "Response",
            Tab::Sql => "SQL",
            Tab::Cache => "Cache",
            Tab::Profile => "Profile",
            Tab::Tests => "Tests",
            Tab::Timeline => "Timeline",
            Tab::Chart => "Chart",
            Tab::Compare => "Compare",
            Tab::Growth => "Growth",
        }
    }
}

/// The tabs of one lab and the chosen one (provided as context to the step's detail).
#[derive(Clone, Copy)]
pub struct Tabs {
    pub chosen: RwSignal<Tab>,
    pub list: StoredValue<Vec<Tab>>,
}

impl Tabs {
    /// The lab's tabs; the chosen one is the one this lab had last time, else Response.
    pub fn new(slug: &str, list: Vec<Tab>) -> Tabs {
        let key = format!("tab:{slug}");
        let remembered = crate::store::pref(&key).and_then(|id| Tab::from_id(&id)).filter(|t| list.contains(t));
        let chosen = RwSignal::new(remembered.unwrap_or(Tab::Response));
        Effect::new(move |prev: Option<Tab>| {
            let t = chosen.get();
            if prev.is_some_and(|p| p != t) {
                crate::store::set_pref(&key, t.id());
            }
            t
        });
        Tabs { chosen, list: StoredValue::new(list) }
    }

    /// Whether panel `t` is hidden now.
    pub fn hidden(self, t: Tab) -> impl Fn() -> bool + Send + Sync + 'static {
        move || self.chosen.get() != t
    }

    /// A step just answered or picked: its own tab comes forward when the learner is looking
    /// at a step (test results after Run tests, the output after a shell line); a lab tool
    /// the learner is using (a timeline running) stays in front.
    pub fn follow(self, kind: StepKind) {
        let now = self.chosen.get_untracked();
        if !now.of_step() {
            return;
        }
        let want = match kind {
            StepKind::Test => Tab::Tests,
            StepKind::Run if now == Tab::Tests => Tab::Response,
            StepKind::Get if now == Tab::Tests => Tab::Response,
            _ => now,
        };
        if want != now && self.list.with_value(|l| l.contains(&want)) {
            self.chosen.set(want);
        }
    }
}

/// `2/3` tests passed, of the newest test run since the project was loaded.
fn tests_count(history: &[StepReport]) -> Option<String> {
    let r = history.iter().rev().find(|r| r.kind == StepKind::Test)?;
    Some(format!("{}/{}", r.tests.iter().filter(|t| t.outcome == TestOutcome::Pass).count(), r.tests.len()))
}

/// The count a tab's label carries: of the selected step, or of the steps since the project
/// was loaded (`session_start` on).
fn count(t: Tab, history: &[StepReport], selected: Option<usize>, session_start: usize) -> Option<String> {
    let sel = selected.and_then(|i| history.get(i));
    match t {
        Tab::Response => sel.and_then(|r| r.status).map(|s| s.to_string()),
        Tab::Sql => sel.map(|r| r.render.n_queries.to_string()),
        Tab::Cache => sel.map(|r| r.cache_calls.len().to_string()),
        Tab::Profile => sel.filter(|r| !r.render.queries.is_empty()).map(|r| crate::profile::lines(&r.render.queries).len().to_string()),
        Tab::Tests => tests_count(history),
        Tab::Timeline => {
            let n = history.len().saturating_sub(session_start);
            (n > 0).then(|| n.to_string())
        }
        Tab::Chart | Tab::Compare | Tab::Growth => None,
    }
}

/// The bar of tabs.
#[component]
pub fn TabBar(tabs: Tabs) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let list = tabs.list.get_value();
    let n = list.len();
    let bar = NodeRef::<leptos::html::Div>::new();
    // Moves the choice and the focus along the bar (arrows, Home, End).
    let pick = move |k: usize| {
        let Some(t) = tabs.list.with_value(|l| l.get(k).copied()) else { return };
        tabs.chosen.set(t);
        if let Some(b) = bar.get() {
            if let Ok(Some(el)) = b.query_selector(&format!("[data-tab={}]", t.id())) {
                if let Ok(el) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el) {
                    let _ = el.focus();
                }
            }
        }
    };
    // Alt+1…9 from anywhere in the page.
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        if !ev.alt_key() || ev.ctrl_key() || ev.meta_key() {
            return;
        }
        let digit = ev.code().strip_prefix("Digit").and_then(|d| d.parse::<usize>().ok());
        if let Some(d) = digit.filter(|d| (1..=n).contains(d)) {
            ev.prevent_default();
            pick(d - 1);
        }
    });
    on_cleanup(move || handle.remove());
    view! {
        <div class="result-tabs" role="tablist" aria-label="Results" data-testid="result-tabs" node_ref=bar
            on:keydown=move |ev| {
                let now = tabs.list.with_value(|l| l.iter().position(|t| *t == tabs.chosen.get_untracked()).unwrap_or(0));
                let next = match ev.key().as_str() {
                    "ArrowRight" => Some((now + 1) % n),
                    "ArrowLeft" => Some((now + n - 1) % n),
                    "Home" => Some(0),
                    "End" => Some(n - 1),
                    _ => None,
                };
                if let Some(k) = next {
                    ev.prevent_default();
                    pick(k);
                }
            }>
            {list.into_iter().enumerate().map(|(k, t)| {
                let on = move || tabs.chosen.get() == t;
                // The label and its count, worked out once per change of the lab's steps.
                let label = Memo::new(move |_| {
                    shared.project.with(|p| {
                        let name = match (t, p.selected.and_then(|i| p.history.get(i)).map(|r| r.kind)) {
                            (Tab::Response, Some(StepKind::Run)) => "Output",
                            _ => t.name(),
                        };
                        (name, count(t, &p.history, p.selected, p.session_start))
                    })
                });
                view! {
                    <button role="tab" id=format!("tab-{}", t.id()) data-testid="result-tab" data-tab=t.id()
                        aria-controls=format!("panel-{}", t.id()) aria-selected=move || on().to_string()
                        tabindex=move || if on() { "0" } else { "-1" }
                        aria-keyshortcuts=format!("Alt+{}", k + 1) title=format!("Alt+{}", k + 1)
                        class:active=on on:click=move |_| tabs.chosen.set(t)>
                        {move || label.get().0}
                        {move || label.get().1.map(|c| view! { <span class="tab-count" data-testid="tab-count">{c}</span> })}
                    </button>
                }
            }).collect_view()}
        </div>
    }
}

/// The frame of one panel: labelled by its tab, hidden unless chosen.
#[component]
pub fn Panel(tabs: Tabs, tab: Tab, children: Children) -> impl IntoView {
    view! {
        <div class="result-panel" role="tabpanel" id=format!("panel-{}", tab.id()) data-testid="result-panel" data-panel=tab.id()
            aria-labelledby=format!("tab-{}", tab.id()) hidden=tabs.hidden(tab)>
            {children()}
        </div>
    }
}
