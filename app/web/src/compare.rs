//! "Compare": a lab run twice, with one toggle off (A) and on (B), side by side — the numbers
//! (queries, rows, rows read, full-scan steps, sorts, ms), then the diff of the SQL and of the
//! plans. The worker runs both sides (`Request::Compare`), each from a fresh load.

use leptos::prelude::*;
use protocol::diff::{self, Change};
use protocol::{CompareSide, LabRun, RenderReport};

use crate::Shared;

/// The comparison in flight or shown.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompareState {
    pub pending: Option<u64>,
    /// What A and B are (`without select_related(…)` / `with …`).
    pub labels: (String, String),
    pub result: Option<(CompareSide, CompareSide)>,
}

/// Sends a comparison; the answer lands in `shared.compare`.
fn start(shared: Shared, labels: (String, String), a: LabRun, b: LabRun) {
    if shared.compare.get_untracked().pending.is_some() || !shared.state.get_untracked().ready {
        return;
    }
    let mut id = None;
    shared.engine.with_value(|e| if let Some(e) = e { id = Some(e.compare(a, b)) });
    if let Some(id) = id {
        shared.compare.set(CompareState { pending: Some(id), labels, result: None });
    }
}

/// The control (which toggle) and the result. `make(i)` builds the two runs for toggle `i`.
#[component]
pub fn ComparePanel(choices: Vec<String>, make: Callback<usize, Option<(LabRun, LabRun)>>) -> impl IntoView {
    let shared = expect_context::<Shared>();
    shared.compare.set(CompareState::default());
    let choice = RwSignal::new(0usize);
    let labels = StoredValue::new(choices.clone());
    let run = move || {
        let i = choice.get_untracked();
        let Some((a, b)) = make.run(i) else { return };
        let label = labels.with_value(|l| l.get(i).cloned().unwrap_or_default());
        start(shared, (format!("without {label}"), format!("with {label}")), a, b);
    };
    view! {
        <details class="compare" open>
            <summary>"Compare A/B: one change off, then on"</summary>
            <div class="compare-controls">
                <select aria-label="The change to compare" data-testid="compare-choice"
                    on:change=move |ev| if let Ok(i) = event_target_value(&ev).parse() { choice.set(i) }>
                    {choices.into_iter().enumerate().map(|(i, c)| view! { <option value=i.to_string()>{c}</option> }).collect_view()}
                </select>
                <button data-testid="compare" prop:disabled=move || shared.compare.get().pending.is_some() on:click=move |_| run()>"Compare"</button>
                {move || shared.compare.get().pending.is_some().then(|| view! { <span class="muted">" running both…"</span> })}
            </div>
            {move || {
                let c = shared.compare.get();
                c.result.map(|(a, b)| view! { <CompareResult labels=c.labels a=a b=b/> })
            }}
        </details>
    }
}

fn metrics(r: &RenderReport) -> [(&'static str, &'static str, f64); 7] {
    let sum = |f: fn(&protocol::QueryInfo) -> f64| r.queries.iter().map(f).sum::<f64>();
    [
        ("queries", "queries", r.n_queries as f64),
        ("rows", "rows fetched", sum(|q| q.rows as f64)),
        ("rows_read", "rows read", sum(|q| q.rows_read as f64)),
        ("fullscan_steps", "full-scan steps", sum(|q| q.fullscan_steps as f64)),
        ("sorts", "sorts", sum(|q| q.sorts as f64)),
        ("request_ms", "request ms", r.request_ms),
        ("sql_ms", "ms in SQL", r.sql_ms),
    ]
}

fn show(key: &str, v: f64) -> String {
    if key.ends_with("_ms") { format!("{v:.2}") } else { format!("{v:.0}") }
}

/// The statements of a side, similar ones once with their count.
fn sql_lines(s: &CompareSide) -> Vec<String> {
    s.plans.iter().map(|p| if p.count > 1 { format!("{}   ×{}", p.sql, p.count) } else { p.sql.clone() }).collect()
}

fn plan_lines(s: &CompareSide) -> Vec<String> {
    let mut out = Vec::new();
    for (i, p) in s.plans.iter().enumerate().filter(|(_, p)| !p.plan.is_empty()) {
        out.push(format!("statement {}{}:", i + 1, if p.count > 1 { format!(" (×{})", p.count) } else { String::new() }));
        out.extend(p.plan.lines().map(|l| format!("  {l}")));
    }
    out
}

#[component]
fn DiffView(a: Vec<String>, b: Vec<String>, testid: &'static str) -> impl IntoView {
    let lines: Vec<(Change, String)> = diff::lines(&a, &b).into_iter().map(|(c, l)| (c, l.to_string())).collect();
    view! {
        <pre class="diff" data-testid=testid>
            {lines.into_iter().map(|(c, l)| {
                let (class, mark, change) = match c {
                    Change::Same => ("same", "  ", "same"),
                    Change::OnlyA => ("only-a", "A ", "a"),
                    Change::OnlyB => ("only-b", "B ", "b"),
                };
                view! { <span class=class data-change=change>{mark}{l}"\n"</span> }
            }).collect_view()}
        </pre>
    }
}

#[component]
fn CompareResult(labels: (String, String), a: CompareSide, b: CompareSide) -> impl IntoView {
    let empty = RenderReport::default();
    let (ma, mb) = (metrics(a.render.as_ref().unwrap_or(&empty)), metrics(b.render.as_ref().unwrap_or(&empty)));
    let same_page = match (&a.render, &b.render) {
        (Some(x), Some(y)) if a.error.is_none() && b.error.is_none() => Some(x.output == y.output && a.status == b.status),
        _ => None,
    };
    let errors: Vec<(String, protocol::ErrorInfo)> = [(labels.0.clone(), a.error.clone()), (labels.1.clone(), b.error.clone())]
        .into_iter()
        .filter_map(|(l, e)| e.map(|e| (l, e)))
        .collect();
    view! {
        <div class="compare-result" data-testid="compare-result">
            <table class="compare-table">
                <thead><tr><th></th><th>"A: "{labels.0.clone()}</th><th>"B: "{labels.1.clone()}</th></tr></thead>
                <tbody>
                    {ma.iter().zip(mb.iter()).map(|((key, name, x), (_, _, y))| {
                        let better = if key.ends_with("_ms") { "" } else if y < x { "b" } else if x < y { "a" } else { "" };
                        view! {
                            <tr data-testid="compare-metric" data-metric=*key data-a=x.to_string() data-b=y.to_string() data-better=better>
                                <th scope="row">{*name}</th><td>{show(key, *x)}</td><td>{show(key, *y)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            {errors.into_iter().map(|(l, e)| view! { <p class="error" role="alert" data-testid="compare-error">{format!("{l}: {}: {}", e.kind, e.message)}</p> }).collect_view()}
            {same_page.map(|same| view! {
                <p data-testid="compare-same-page" data-same=same.to_string() class=if same { "muted" } else { "warning" }>
                    {if same { "Both render the same page." } else { "The pages differ: the change altered what is shown, not only what it costs." }}
                </p>
            })}
            <h4>"SQL (A only, B only, both)"</h4>
            <DiffView a=sql_lines(&a) b=sql_lines(&b) testid="compare-sql-diff"/>
            <h4>"Query plans"</h4>
            <DiffView a=plan_lines(&a) b=plan_lines(&b) testid="compare-plan-diff"/>
        </div>
    }
}
