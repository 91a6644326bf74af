//! Growth charts, one runner for all of them: a request measured point by point, each point on
//! fresh data in a session of its own (`Request::Measure`; the learner's database, cache and
//! clock are left alone), one at a time so Cancel stops between points, one line per run,
//! named after the code it measured. "Growth with data size" sweeps the table's size; a
//! lesson's sweeps move a page number or reseed with more tasks. Lines of sweeps with the
//! same x axis share a chart (OFFSET and cursor pages, side by side).

use leptos::prelude::*;
use protocol::LabRun;

use crate::chart::{series_for, LineChart, Measured, Measurements, MetricSelect};
use crate::Shared;

/// One thing the panel can sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub label: String,
    /// The x axis (`page`, `articles in the database`): lines with the same one share a chart.
    pub x_label: String,
    pub values: Vec<u32>,
    /// The values can be cut at a largest one (the data sizes: the largest take seconds each).
    pub ranged: bool,
}

/// What one point measures: the run and the data size it runs on.
pub type Point = (LabRun, (u32, Option<u32>));

#[derive(Clone, Debug, PartialEq)]
struct Run {
    choice: usize,
    remaining: Vec<u32>,
    total: usize,
    /// The request in flight and the value it measures.
    current: Option<(u64, u32)>,
}

#[derive(Clone, Debug, PartialEq)]
struct Line {
    x_label: String,
    line: Measurements,
}

/// `prefix` names its test hooks (`run-{prefix}`, `{prefix}-choice`, …). `name(i)` names a new
/// line for choice `i`; `point(i, n)` builds the run for value `n`.
#[component]
pub fn GrowthPanel(
    prefix: &'static str,
    title: String,
    choices: Vec<Choice>,
    name: Callback<usize, String>,
    point: Callback<(usize, u32), Option<Point>>,
) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let choices = StoredValue::new(choices);
    let choice = RwSignal::new(0usize);
    // Up to 10,000 by default: the largest sizes take seconds a point to create.
    let default_max = choices.with_value(|c| c.first().map(|c| c.values.iter().copied().filter(|n| *n <= 10_000).max().or_else(|| c.values.first().copied()).unwrap_or(0)).unwrap_or(0));
    let max = RwSignal::new(default_max);
    let metric = RwSignal::new("queries".to_string());
    let lines = RwSignal::new(Vec::<Line>::new());
    let run = RwSignal::new(None::<Run>);
    let error = RwSignal::new(None::<String>);

    let send_next = move |r: &mut Run| -> bool {
        let Some(n) = r.remaining.first().copied() else { return false };
        r.remaining.remove(0);
        let Some((spec, (articles, tasks))) = point.run((r.choice, n)) else { return false };
        let mut id = None;
        shared.engine.with_value(|e| if let Some(e) = e { id = Some(e.measure(spec, articles, tasks)) });
        r.current = id.map(|id| (id, n));
        r.current.is_some()
    };
    let start = move || {
        if run.get_untracked().is_some() || !shared.state.get_untracked().ready {
            return;
        }
        let i = choice.get_untracked();
        let Some(c) = choices.with_value(|cs| cs.get(i).cloned()) else { return };
        let values: Vec<u32> = if c.ranged { c.values.iter().copied().filter(|n| *n <= max.get_untracked()).collect() } else { c.values.clone() };
        let base = name.run(i);
        let name = crate::chart::numbered(base, lines.with_untracked(|ls| ls.iter().map(|l| l.line.name.clone()).collect::<Vec<_>>()).into_iter());
        lines.update(|ls| {
            if ls.len() >= 4 {
                ls.remove(0);
            }
            ls.push(Line { x_label: c.x_label.clone(), line: Measurements { name, points: vec![] } });
        });
        error.set(None);
        let mut r = Run { choice: i, total: values.len(), remaining: values, current: None };
        if send_next(&mut r) {
            run.set(Some(r));
        }
    };
    // Each answer is a point (or the reason there is none); then the next value, or the end.
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
                lines.update(|ls| if let Some(l) = ls.last_mut() { l.line.points.push(p) });
                run.set(if send_next(&mut r) { Some(r) } else { None });
            }
            None => {
                let (k, m) = side.error.map(|e| (e.kind, e.message)).unwrap_or_else(|| ("Error".into(), "no page was measured".into()));
                let x = choices.with_value(|cs| cs.get(r.choice).map(|c| c.x_label.clone()).unwrap_or_default());
                error.set(Some(format!("At {n} ({x}): {k}: {m}")));
                run.set(None);
            }
        }
    });
    // A restart of the engine ends a run waiting for an answer.
    Effect::new(move |prev: Option<u64>| {
        let now = shared.seeded.get();
        if prev.is_some_and(|p| p != now) && run.get_untracked().is_some_and(|r| r.current.is_some()) && !shared.state.get_untracked().ready {
            run.set(None);
            error.set(Some("The engine restarted during the measurement; run it again.".into()));
        }
        now
    });
    let many = choices.with_value(|c| c.len() > 1);
    let ranged = move || choices.with_value(|c| c.get(choice.get()).is_some_and(|c| c.ranged));
    let range_values: Vec<u32> = choices.with_value(|c| c.first().map(|c| c.values.iter().copied().skip(1).collect()).unwrap_or_default());
    view! {
        <details class="growth" data-testid=prefix open>
            <summary>{title}</summary>
            <div class="sweep-controls">
                {many.then(|| view! {
                    <select aria-label="What to sweep" data-testid=format!("{prefix}-choice") on:change=move |ev| if let Ok(i) = event_target_value(&ev).parse() { choice.set(i) }>
                        {choices.get_value().into_iter().enumerate().map(|(i, c)| view! { <option value=i.to_string()>{c.label}</option> }).collect_view()}
                    </select>
                })}
                {move || ranged().then(|| {
                    let range_values = range_values.clone();
                    view! {
                        <label>"from 50 to "
                            <select aria-label="Largest size" data-testid=format!("{prefix}-range") prop:value=move || max.get().to_string()
                                on:change=move |ev| if let Ok(n) = event_target_value(&ev).parse() { max.set(n) }>
                                {range_values.into_iter().map(|n| view! { <option value=n.to_string()>{protocol::group_digits(n as u64)}</option> }).collect_view()}
                            </select>
                        </label>
                    }
                })}
                <button data-testid=format!("run-{prefix}") prop:disabled=move || run.get().is_some() on:click=move |_| start()>"Measure"</button>
                {move || run.get().map(|r| view! {
                    <progress max=r.total.to_string() value=(r.total - r.remaining.len() - usize::from(r.current.is_some())).to_string() aria-label="Progress of the measurement"></progress>
                    <button data-testid=format!("cancel-{prefix}") on:click=move |_| run.update(|r| if let Some(r) = r { r.remaining.clear() })>"Cancel"</button>
                })}
                <MetricSelect testid=if prefix == "growth" { "growth-metric" } else { "sweep-metric" } metric=metric/>
                <button data-testid=format!("clear-{prefix}") on:click=move |_| lines.set(vec![])>"Clear"</button>
            </div>
            {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid=format!("{prefix}-error")>{e}</p> })}
            {move || {
                // The lines on the chosen choice's axis.
                let x_label = choices.with_value(|cs| cs.get(choice.get()).map(|c| c.x_label.clone()).unwrap_or_default());
                let on_axis: Vec<Measurements> = lines.get().into_iter().filter(|l| l.x_label == x_label).map(|l| l.line).collect();
                let (series, y_label) = series_for(on_axis, &metric.get());
                (!series.is_empty()).then(|| view! { <LineChart series=series x_label=x_label y_label=y_label/> })
            }}
        </details>
    }
}
