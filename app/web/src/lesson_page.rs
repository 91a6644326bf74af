//! One lesson: its prose, its lab, its exercises, and the lab's state as it travels — saved on
//! every edit, packed into a link by "Copy link", and opened from a link (`#/lessons/<slug>?s=…`).
//!
//! A link never costs the learner their own work: while the page shows a link's code, nothing
//! is saved over what the learner had; "Back to my code" returns to it, "Keep this version"
//! makes the link's code theirs. A link that cannot be opened leaves their code on screen.

use leptos::prelude::*;
use protocol::share::{self, LabState, LinkError};

use crate::exercise::ExercisePanel;
use crate::project_lab::{self, LabSignals};
use crate::{markdown, record_progress, Shared, DEFAULT_SIZE, SIZES};

/// `s=…` in the hash's query.
fn link_param(hash: &str) -> Option<String> {
    let (_, q) = hash.split_once('?')?;
    q.split('&').find_map(|kv| kv.strip_prefix("s=")).map(str::to_string)
}

/// The address without the link's state: the lesson's own URL.
fn drop_link_param(slug: &str) {
    let w = window();
    let url = format!("#/lessons/{slug}");
    if let Ok(h) = w.history() {
        let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}

#[component]
pub fn LessonPage(slug: String) -> AnyView {
    let shared = expect_context::<Shared>();
    let src = course::find(&slug).expect("route checked the slug");
    let lab = course::lab(src);

    // The learner's own saved state for this lesson (it is never overwritten by a link).
    let saved: Option<LabState> = shared.progress.with_untracked(|p| p.lessons.get(&slug).and_then(|l| l.state.clone()));
    let mut notice = None;
    let own = match saved.map(|s| s.fits(&lab, &SIZES).map(|()| s.clone())) {
        Some(Ok(s)) => s,
        Some(Err(_)) => {
            notice = Some("Your saved code for this lesson no longer fits it (the lesson changed), so it starts afresh.".to_string());
            LabState::default()
        }
        None => LabState::default(),
    };
    // Where the lab starts: a share link, else the learner's own state.
    let mut from_link = None;
    if let Some(code) = link_param(&crate::current_hash()) {
        match share::decode(&code).and_then(|s| s.fits(&lab, &SIZES).map(|()| s)) {
            Ok(s) => from_link = Some(s),
            Err(e) => {
                notice = Some(format!("This link could not be opened: {e}. The lesson shows your own code for it (or its start)."));
                drop_link_param(&slug);
            }
        }
    }
    let viewing_link = RwSignal::new(from_link.is_some());
    let initial = from_link.clone().unwrap_or_else(|| own.clone());
    let sig = LabSignals::new(&lab, &initial);
    let lab_sv = StoredValue::new(lab.clone());
    let slug_sv = StoredValue::new(slug.clone());
    let own_sv = StoredValue::new(own);
    let wanted = (initial.articles.unwrap_or(DEFAULT_SIZE), initial.tasks);
    if !lab.is_reading() {
        let st = shared.state.get_untracked();
        if st.articles != wanted.0 || st.tasks != wanted.1 {
            crate::reseed(shared, wanted.0, wanted.1);
        }
    }

    // Every edit is kept (the learner's last code per lab) — but not while a link is shown.
    Effect::new(move |_| {
        let cur = sig.current(shared);
        if viewing_link.get() {
            return;
        }
        let state = lab_sv.with_value(|lab| LabState::of(lab, cur));
        own_sv.set_value(state.clone());
        slug_sv.with_value(|slug| record_progress(shared, slug, |e| e.state = (state != LabState::default()).then_some(state)));
    });
    let back_to_mine = move || {
        viewing_link.set(false);
        let mine = own_sv.get_value();
        lab_sv.with_value(|lab| sig.show(lab, &mine));
        slug_sv.with_value(|s| drop_link_param(s));
        let size = (mine.articles.unwrap_or(DEFAULT_SIZE), mine.tasks);
        let st = shared.state.get_untracked();
        if (st.articles, st.tasks) != size {
            crate::reseed(shared, size.0, size.1);
        }
    };
    let keep_link = move || {
        slug_sv.with_value(|s| drop_link_param(s));
        viewing_link.set(false);
    };

    let share_url = RwSignal::new(None::<String>);
    let copied = RwSignal::new(String::new());
    let copy_link = move || {
        let mut cur = sig.current(shared);
        cur.steps = shared.project.with_untracked(|p| p.steps_since_load());
        let state = lab_sv.with_value(|lab| LabState::of(lab, cur));
        let code = match share::encode(&state) {
            Ok(code) => code,
            Err(e) => {
                share_url.set(None);
                let why = match e {
                    LinkError::TooLong(n) => format!("its code is too large for a link ({} characters; a link carries at most {})", protocol::group_digits(n as u64), protocol::group_digits(share::MAX_LINK_CHARS as u64)),
                    other => other.to_string(),
                };
                copied.set(format!("No link made: {why}. Export your progress from the lesson list to share it as a file."));
                return;
            }
        };
        let href = window().location().href().unwrap_or_default();
        let base = href.split('#').next().unwrap_or_default().to_string();
        let url = format!("{base}#/lessons/{}?s={code}", slug_sv.get_value());
        share_url.set(Some(url.clone()));
        copied.set(format!("{} characters", protocol::group_digits(url.len() as u64)));
        let clipboard = window().navigator().clipboard();
        let promise = clipboard.write_text(&url);
        wasm_bindgen_futures::spawn_local(async move {
            let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
            copied.set(format!("{} — {} characters", if ok { "Copied to the clipboard" } else { "Select the link and copy it" }, protocol::group_digits(url.len() as u64)));
        });
    };

    let show_solution = move |k: usize| {
        lab_sv.with_value(|lab| {
            if let Some(p) = &lab.project {
                let a = p.solution(p.exercises.get(k).and_then(|e| e.solution_toggles));
                sig.files.set(a.files);
                sig.migrations.set(a.migrations);
            }
        });
    };
    let start_over = move || {
        lab_sv.with_value(|lab| sig.show(lab, &LabState::default()));
        slug_sv.with_value(|slug| record_progress(shared, slug, |e| {
            e.state = None;
            e.shown = false;
        }));
    };

    let title = lab.title.clone();
    if lab.is_reading() {
        return view! {
            <article class="lesson">
                <h1>{title.clone()}</h1>
                {notice.map(|n| view! { <p class="notice" role="alert" data-testid="link-error">{n}</p> })}
                <div class="prose">{crate::prose::render(&course::prose(src), &Default::default())}</div>
                <Checklist slug=slug.clone() title=title items=lab.checklist.clone()/>
                {(!lab.quiz.is_empty()).then(|| view! { <crate::quiz::Quiz slug=slug.clone() questions=lab.quiz.clone()/> })}
            </article>
        }
        .into_any();
    }
    let project = lab.project.clone().expect("a lab that is not a reading lesson has a project");
    let targets = crate::prose::Targets { toggles: project.toggles.iter().map(|t| t.label().to_string()).collect(), shell: project.shell.clone() };
    let quiz = (!lab.quiz.is_empty()).then(|| view! { <crate::quiz::Quiz slug=slug.clone() questions=lab.quiz.clone()/> });
    let toolbar = view! {
        <div class="lesson-tools">
            <button data-testid="copy-link" on:click=move |_| copy_link()>"Copy link"</button>
            <button data-testid="reset-lab" title="Back to the lesson's starting code (your progress stays)" on:click=move |_| start_over()>"Start over"</button>
            {move || share_url.get().map(|u| view! {
                <input class="share-url" data-testid="share-url" readonly size="40" prop:value=u aria-label="Link to this lab"/>
            })}
            <span class="copied" data-testid="copied" role="status">{move || copied.get()}</span>
        </div>
    };
    let link_banner = move || {
        viewing_link.get().then(|| view! {
            <p class="notice link-banner" role="status" data-testid="link-banner">
                "You are looking at the code of a shared link. Your own code for this lesson is kept as it was. "
                <button data-testid="back-to-mine" on:click=move |_| back_to_mine()>"Back to my code"</button>
                " "
                <button data-testid="keep-link" on:click=move |_| keep_link()>"Keep this version as mine"</button>
            </p>
        })
    };
    let notice_view = notice.map(|n| view! { <p class="notice" role="alert" data-testid="link-error">{n}</p> });
    let exercise = lab
        .exercises(&slug)
        .into_iter()
        .map(|ex| {
            let k = ex.index;
            view! {
                <ExercisePanel key=ex.key.clone() lesson=slug.clone() index=k title=ex.exercise.title.clone() goal=ex.exercise.goal.clone()
                    attempt=Callback::new(move |_| sig.attempt()) solution=Callback::new(move |_| show_solution(k))/>
            }
        })
        .collect_view();
    let task_sizes = project.task_sizes.clone();
    let size_select = if task_sizes.is_empty() {
        view! {
            <label>"Articles in the database "
                <select data-testid="size" aria-label="Articles in the database" prop:value=move || shared.state.get().articles.to_string()
                    on:change=move |ev| { if let Ok(n) = event_target_value(&ev).parse() { crate::reseed(shared, n, None) } }>
                    {SIZES.iter().map(|n| view! { <option value=n.to_string()>{protocol::group_digits(*n as u64)}</option> }).collect_view()}
                </select>
            </label>
        }
        .into_any()
    } else {
        view! {
            <label>"Tasks in the database "
                <select data-testid="task-size" aria-label="Tasks in the database"
                    prop:value=move || shared.state.get().tasks.map(|t| t.to_string()).unwrap_or_default()
                    on:change=move |ev| {
                        let articles = shared.state.get_untracked().articles;
                        crate::reseed(shared, articles, event_target_value(&ev).parse().ok())
                    }>
                    <option value="">"(default)"</option>
                    {task_sizes.iter().map(|n| view! { <option value=n.to_string()>{protocol::group_digits(*n as u64)}</option> }).collect_view()}
                </select>
            </label>
        }
        .into_any()
    };
    shared.project.set(Default::default());
    let replay = from_link.map(|s| s.steps).unwrap_or_default();
    // The lab's editors and results are built in a task after the prose's, so that opening a
    // lesson never holds the main thread for the whole page at once (issue 24, lever 9). Built
    // once, untracked: no signal read while building it may rebuild it.
    let lab_parts = std::cell::RefCell::new(Some((size_select, project, slug.clone(), replay)));
    let lab_ready = RwSignal::new(false);
    set_timeout(move || lab_ready.set(true), std::time::Duration::ZERO);
    let lab_view = move || {
        if !lab_ready.get() {
            return None;
        }
        let (size_select, project, slug, replay) = lab_parts.borrow_mut().take()?;
        Some(untracked(move || view! {
            <div class="lab-controls">{size_select}</div>
            {move || shared.state.get().notice.map(|n| view! { <p class="notice" role="alert" data-testid="notice">{n}</p> })}
            <project_lab::ProjectLabView lab=project slug=slug sig=sig replay=replay wanted=wanted/>
        }))
    };

    let article = NodeRef::<leptos::html::Article>::new();
    view! {
        <article class="lesson" node_ref=article>
            <h1>{title}</h1>
            {notice_view}
            <div class="prose">{crate::prose::render(&course::prose(src), &targets)}</div>
            <crate::splitter::Splitter article=article/>
            <section class="lab" aria-label="Lab">
                {link_banner}
                {toolbar}
                {exercise}
                {lab_view}
            </section>
            {quiz}
        </article>
    }
    .into_any()
}

/// Reads once, without subscribing (a field the learner types in is not re-set while typing).
fn untracked<T>(f: impl FnOnce() -> T) -> T {
    leptos::prelude::untrack(f)
}

/// A reading lesson's checklist: tick, annotate, download as Markdown; kept with the progress.
#[component]
fn Checklist(slug: String, title: String, items: Vec<String>) -> impl IntoView {
    use protocol::progress::ChecklistItem;
    let shared = expect_context::<Shared>();
    let slug = StoredValue::new(slug);
    let items = StoredValue::new(items);
    let n = items.with_value(|i| i.len());
    let item = move |i: usize| shared.progress.with(|p| p.lessons.get(&slug.get_value()).and_then(|l| l.checklist.get(i).cloned()).unwrap_or_default());
    let set = move |i: usize, f: Box<dyn FnOnce(&mut ChecklistItem)>| {
        slug.with_value(|slug| record_progress(shared, slug, |e| {
            if e.checklist.len() < n {
                e.checklist.resize(n, ChecklistItem::default());
            }
            f(&mut e.checklist[i]);
        }))
    };
    let done = move || (0..n).filter(|i| item(*i).done).count();
    let download = move || {
        let mut md = format!("# {title}\n\n");
        items.with_value(|items| {
            for (i, text) in items.iter().enumerate() {
                let it = item(i);
                md += &format!("- [{}] {text}", if it.done { "x" } else { " " });
                if !it.note.trim().is_empty() {
                    md += &format!(" — {}", it.note.trim());
                }
                md += "\n";
            }
        });
        format!("data:text/markdown;charset=utf-8,{}", js_sys::encode_uri_component(&md))
    };
    view! {
        <section class="checklist" data-testid="checklist" aria-label="Checklist">
            <ol>
                {items.get_value().into_iter().enumerate().map(|(i, text)| view! {
                    <li data-testid="checklist-item" data-done=move || item(i).done.to_string()>
                        <label>
                            <input type="checkbox" prop:checked=move || item(i).done
                                on:change=move |ev| { let on = event_target_checked(&ev); set(i, Box::new(move |c| c.done = on)) }/>
                            " "{markdown::inline(&text)}
                        </label>
                        <input type="text" class="note" data-testid="checklist-note" aria-label=format!("Note for item {}", i + 1)
                            placeholder="Where it stands (optional)" prop:value=untracked(move || item(i).note)
                            on:input=move |ev| { let v = event_target_value(&ev); set(i, Box::new(move |c| c.note = v)) }/>
                    </li>
                }).collect_view()}
            </ol>
            <p class="checklist-summary">
                <span data-testid="checklist-done">{move || format!("{} of {n} done", done())}</span>" · "
                <a data-testid="download-checklist" download="django-performance-checklist.md" href=download>"Download (Markdown)"</a>
            </p>
        </section>
    }
}
