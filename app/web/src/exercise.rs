//! A lesson's exercise: the goal, "Check" (judged in the worker by behaviour, on the visible
//! data and on a hidden copy), the result with what is missing, stepped hints, then the
//! solution on request — which counts as "shown", not "solved". A lab with steps (Labs A, B
//! and C) shows one panel per step; each keeps its progress under its own key (`slug#k`), and
//! the one check in flight belongs to the panel whose key it carries.

use leptos::prelude::*;
use protocol::lesson::{Attempt, Goal};
use protocol::CheckReport;

use crate::{record_progress, Shared};

/// The check in flight or done.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckState {
    pub pending: Option<u64>,
    /// How far the check in flight is (runs done of all).
    pub progress: Option<(u32, u32)>,
    pub report: Option<CheckReport>,
    /// The exercise the report belongs to (its progress key).
    pub slug: String,
}

#[component]
pub fn ExercisePanel(
    /// The progress key: the lesson's slug, or `slug#k` for step k of a lab.
    key: String,
    /// The lesson and the exercise's index in it: the worker judges it by these.
    lesson: String,
    index: usize,
    title: Option<String>,
    goal: Goal,
    /// The learner's attempt as it stands.
    attempt: Callback<(), Attempt>,
    solution: Callback<()>,
) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let slug = StoredValue::new(key);
    shared.check.set(CheckState::default());
    let mine = move || shared.check.get().slug == slug.get_value();
    let hints_shown = RwSignal::new(0usize);
    let hints = StoredValue::new(goal.hints.clone());
    let n_hints = goal.hints.len();

    let lesson = StoredValue::new(lesson);
    let check = move || {
        let s = slug.get_value();
        record_progress(shared, &s, |e| e.attempted = true);
        if !shared.state.get_untracked().ready {
            return;
        }
        let a = attempt.run(());
        let id = shared.engine.with_value(|e| e.as_ref().map(|e| e.check(lesson.get_value(), index, a)));
        shared.check.set(CheckState { pending: id, progress: None, report: None, slug: s });
    };
    let status = move || shared.progress.with(|p| p.lessons.get(&slug.get_value()).cloned().unwrap_or_default());

    view! {
        <div class="exercise" data-testid="exercise" data-key=slug.get_value()>
            <p class="goal" data-testid="exercise-goal"><strong>{title.map(|t| format!("{t}: ")).unwrap_or_else(|| "Exercise: ".into())}</strong>{goal.text.clone()}
                {move || {
                    let s = status();
                    if s.solved { Some(view! { <span class="solved" data-testid="solved">" ✔ solved"</span> }.into_any()) }
                    else if s.shown { Some(view! { <span class="shown">" (solution shown)"</span> }.into_any()) }
                    else { None }
                }}
            </p>
            <div class="exercise-actions">
                <button data-testid="check" on:click=move |_| check()>"Check my solution"</button>
                {move || (hints_shown.get() < n_hints).then(|| view! {
                    <button data-testid="hint" on:click=move |_| hints_shown.update(|n| *n += 1)>
                        {format!("Hint {} of {n_hints}", hints_shown.get() + 1)}
                    </button>
                })}
                {move || (hints_shown.get() >= n_hints).then(|| view! {
                    <button data-testid="show-solution" on:click=move |_| {
                        solution.run(());
                        let s = slug.get_value();
                        record_progress(shared, &s, |e| if !e.solved { e.shown = true });
                    }>"Show the solution"</button>
                })}
            </div>
            <ol class="hints">
                {move || hints.with_value(|h| h.iter().take(hints_shown.get()).map(|h| view! { <li data-testid="hint-text">{crate::markdown::inline(h)}</li> }).collect_view())}
            </ol>
            {move || {
                if !mine() {
                    return None;
                }
                let c = shared.check.get();
                if c.pending.is_some() {
                    let progress = c.progress.map(|(d, t)| view! { <progress max=t.to_string() value=d.to_string() aria-label="Check progress"></progress> });
                    return Some(view! { <p class="check-pending" data-testid="check-pending">"Checking on fresh copies of your data and on a hidden copy… "{progress}</p> }.into_any());
                }
                let r = c.report?;
                let passed = r.passed;
                Some(view! {
                    <div class=if passed { "check-result passed" } else { "check-result failed" } data-testid="check-result" data-passed=passed.to_string() role="status">
                        <strong>{if passed { "✔ Passed" } else { "✘ Not yet" }}</strong>
                        <ul>
                            {r.runs.iter().map(|run| view! {
                                <li data-passed=run.passed.to_string()>{format!("{}: ", run.data)}{crate::markdown::inline(&run.message)}</li>
                            }).collect_view()}
                        </ul>
                        {(passed && status().shown && !status().solved).then(|| view! {
                            <p class="muted">"This counts as shown, not solved: the solution was shown. Start over to solve it yourself."</p>
                        })}
                    </div>
                }.into_any())
            }}
        </div>
    }
}
