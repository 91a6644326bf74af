//! "Growth with data size": the lab's page measured on scratch databases of growing size
//! (`Request::Measure`; the learner's own database is left alone), one point at a time so
//! Cancel stops between points, one line per run, named after the code it measured. The
//! N+1 lab's line climbs with the rows; the fixed code's stays flat.

use leptos::prelude::*;
use protocol::CompareRun;

use crate::chart::{series_for, LineChart, Measured, Measurements, MetricSelect};
use crate::Shared;

#[derive(Clone, Debug, PartialEq)]
struct Run {
    spec: CompareRun,
    remaining: Vec<u32>,
    total: usize,
    /// The request in flight and the size it measures.
    current: Option<(u64, u32)>,
}

/// What the chart measures: `"articles"` or `"tasks"` in the database.
#[component]
pub fn GrowthPanel(kind: &'static str, sizes: Vec<u32>, make: Callback<(), Option<(String, CompareRun)>>) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let sizes = StoredValue::new(sizes);
    // Up to 10,000 by default: the largest sizes take seconds a point to create.
    let default_max = sizes.with_value(|s| s.iter().copied().filter(|n| *n <= 10_000).max().or_else(|| s.first().copied()).unwrap_or(0));
    let max = RwSignal::new(default_max);
    let metric = RwSignal::new("queries".to_string());
    let lines = RwSignal::new(Vec::<Measurements>::new());
    let run = RwSignal::new(None::<Run>);
    let error = RwSignal::new(None::<String>);

    let send_next = move |r: &mut Run| -> bool {
        let Some(n) = r.remaining.first().copied() else { return false };
        r.remaining.remove(0);
        let (articles, tasks) = if kind == "tasks" { (shared.state.get_untracked().articles, Some(n)) } else { (n, None) };
        let mut id = None;
        shared.engine.with_value(|e| if let Some(e) = e { id = Some(e.measure(r.spec.clone(), articles, tasks)) });
        r.current = id.map(|id| (id, n));
        r.current.is_some()
    };
    let start = move || {
        if run.get_untracked().is_some() || !shared.state.get_untracked().ready {
            return;
        }
        let Some((name, spec)) = make.run(()) else { return };
        let values: Vec<u32> = sizes.with_value(|s| s.iter().copied().filter(|n| *n <= max.get_untracked()).collect());
        let name = crate::chart::numbered(name, lines.with_untracked(|ls| ls.iter().map(|l| l.name.clone()).collect::<Vec<_>>()).into_iter());
        lines.update(|ls| {
            if ls.len() >= 4 {
                ls.remove(0);
            }
            ls.push(Measurements { name, points: vec![] });
        });
        error.set(None);
        let mut r = Run { spec, total: values.len(), remaining: values, current: None };
        if send_next(&mut r) {
            run.set(Some(r));
        }
    };
    // Each answer is a point (or the reason there is none); then the next size, or the end.
    Effect::new(move |_| {
        let Some((id, side)) = shared.measured.get() else { return };
        let Some(mut r) = run.get_untracked() else { return };
        let Some((want, n)) = r.current else { return };
        if id != want {
            return;
        }
        r.current = None;
        match side.render.filter(|_| side.error.is_none()) {
            Some(render) => {
                let p = Measured::of(n as f64, &render);
                lines.update(|ls| if let Some(l) = ls.last_mut() { l.points.push(p) });
                run.set(if send_next(&mut r) { Some(r) } else { None });
            }
            None => {
                let (k, m) = side.error.map(|e| (e.kind, e.message)).unwrap_or_else(|| ("Error".into(), "no page was measured".into()));
                error.set(Some(format!("At {n} {kind}: {k}: {m}")));
                run.set(None);
            }
        }
    });
    // A new database (another size, a restart after a crash) ends a run waiting for an answer.
    Effect::new(move |prev: Option<u64>| {
        let now = shared.seeded.get();
        if prev.is_some_and(|p| p != now) && run.get_untracked().is_some() {
            run.set(None);
            error.set(Some("The database was reloaded during the measurement; run it again.".into()));
        }
        now
    });
    let choices: Vec<u32> = sizes.with_value(|s| s.iter().copied().skip(1).collect());
    let x_label = format!("{kind} in the database");
    view! {
        <details class="growth" data-testid="growth" open>
            <summary>{format!("Growth with data size ({kind})")}</summary>
            <div class="sweep-controls">
                <label>"from 50 to "
                    <select aria-label="Largest size" data-testid="growth-range" prop:value=move || max.get().to_string()
                        on:change=move |ev| if let Ok(n) = event_target_value(&ev).parse() { max.set(n) }>
                        {choices.into_iter().map(|n| view! { <option value=n.to_string()>{n.to_string()}</option> }).collect_view()}
                    </select>
                </label>
                <button data-testid="run-growth" prop:disabled=move || run.get().is_some() on:click=move |_| start()>"Measure"</button>
                {move || run.get().map(|r| view! {
                    <progress max=r.total.to_string() value=(r.total - r.remaining.len() - usize::from(r.current.is_some())).to_string() aria-label="Growth progress"></progress>
                    <button data-testid="cancel-growth" on:click=move |_| run.update(|r| if let Some(r) = r { r.remaining.clear() })>"Cancel"</button>
                })}
                <MetricSelect testid="growth-metric" metric=metric/>
                <button data-testid="clear-growth" on:click=move |_| lines.set(vec![])>"Clear"</button>
            </div>
            {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid="growth-error">{e}</p> })}
            {move || {
                let (series, y_label) = series_for(lines.get(), &metric.get());
                let x_label = x_label.clone();
                (!series.is_empty()).then(|| view! { <LineChart series=series x_label=x_label y_label=y_label/> })
            }}
        </details>
    }
}
