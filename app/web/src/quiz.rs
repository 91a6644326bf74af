//! Where a lesson asks the learner to *explain* (which query an index improves, when a cached
//! fragment goes stale), a short multiple-choice check: pick, check, read why. The choice is
//! kept with the lesson's progress.

use leptos::prelude::*;
use protocol::lesson::Question;

use crate::{record_progress, Shared};

#[component]
pub fn Quiz(slug: String, questions: Vec<Question>) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let slug = StoredValue::new(slug);
    let n = questions.len();
    let saved = move |i: usize| shared.progress.with(|p| p.lessons.get(&slug.get_value()).and_then(|l| l.quiz.get(i).copied().flatten()));
    view! {
        <section class="quiz" data-testid="quiz" aria-label="Check your understanding">
            <h2>"Check your understanding"</h2>
            {questions.into_iter().enumerate().map(|(i, q)| {
                let picked = RwSignal::new(saved(i));
                let checked = RwSignal::new(saved(i).is_some());
                let answer = q.answer;
                let why = q.why.clone();
                let check = move |_| {
                    let Some(choice) = picked.get_untracked() else { return };
                    checked.set(true);
                    slug.with_value(|s| record_progress(shared, s, |e| {
                        if e.quiz.len() < n {
                            e.quiz.resize(n, None);
                        }
                        e.quiz[i] = Some(choice);
                    }));
                };
                view! {
                    <fieldset class="quiz-question" data-testid="quiz-question">
                        <legend>{q.question.clone()}</legend>
                        {q.options.iter().enumerate().map(|(k, o)| view! {
                            <label class="quiz-option" data-testid="quiz-option">
                                <input type="radio" name=format!("quiz-{i}") prop:checked=move || picked.get() == Some(k)
                                    on:change=move |_| { picked.set(Some(k)); checked.set(false); }/>
                                " "{crate::markdown::inline(o)}
                            </label>
                        }).collect_view()}
                        <button data-testid="quiz-check" prop:disabled=move || picked.get().is_none() on:click=check>"Check"</button>
                        {move || (checked.get() && picked.get().is_some()).then(|| {
                            let right = picked.get() == Some(answer);
                            view! {
                                <p class=if right { "quiz-result right" } else { "quiz-result wrong" } data-testid="quiz-result" data-correct=right.to_string() role="status">
                                    <strong>{if right { "Right. " } else { "Not quite. " }}</strong>
                                    {crate::markdown::inline(&why)}
                                </p>
                            }
                        })}
                    </fieldset>
                }
            }).collect_view()}
        </section>
    }
}
