//! One lesson: its prose, its lab, its exercise, and the lab's state as it travels — restored
//! from a share link (`#/lessons/<slug>?s=…`) or from the learner's last visit, saved on every
//! edit, and packed into a link by "Copy link".

use leptos::prelude::*;
use protocol::lesson::Lab;
use protocol::share::{self, Current, LabState};
use protocol::{CheckSpec, ProjectSpec};

use crate::editor::{follow, EditorKey, EditorKeys, Highlighted};
use crate::highlight::Lang;
use crate::exercise::ExercisePanel;
use crate::{lessons, markdown, project_lab, record_progress, Results, Shared, DEFAULT_SIZE, SIZES};

/// Everything the learner can change in a lab (both kinds; a lab uses its half).
#[derive(Clone, Copy)]
pub struct LabSignals {
    pub context: RwSignal<Vec<(String, String)>>,
    pub template: RwSignal<String>,
    pub files: RwSignal<Vec<(String, String)>>,
    /// The migration toggles that are on, by index.
    pub migrations: RwSignal<Vec<usize>>,
    /// The timeline script's text.
    pub script: RwSignal<String>,
}

impl LabSignals {
    fn new(lab: &Lab, s: &LabState) -> LabSignals {
        LabSignals {
            context: RwSignal::new(s.apply_context(&lab.context)),
            template: RwSignal::new(s.template.clone().unwrap_or_else(|| lab.template.clone())),
            files: RwSignal::new(lab.project.as_ref().map(|p| s.apply_files(&p.files)).unwrap_or_default()),
            migrations: RwSignal::new(s.migrations.clone()),
            script: RwSignal::new(s.timeline.clone().unwrap_or_else(|| default_script(lab))),
        }
    }

    /// Back to the lesson's starting state.
    fn reset(&self, lab: &Lab) {
        let fresh = LabSignals::new(lab, &LabState::default());
        self.context.set(fresh.context.get_untracked());
        self.template.set(fresh.template.get_untracked());
        self.files.set(fresh.files.get_untracked());
        self.migrations.set(vec![]);
        self.script.set(fresh.script.get_untracked());
    }

    /// What the page holds now (tracked: an effect calling this re-runs on every edit).
    fn current(&self, shared: Shared) -> Current {
        let st = shared.state.get();
        Current {
            articles: (st.articles != DEFAULT_SIZE).then_some(st.articles),
            tasks: st.tasks,
            context: self.context.get(),
            template: Some(self.template.get()),
            files: self.files.get(),
            migrations: self.migrations.get(),
            timeline: Some(self.script.get()),
            steps: vec![],
        }
    }
}

fn default_script(lab: &Lab) -> String {
    lab.project.as_ref().map(|p| protocol::timeline::format(&p.timeline)).unwrap_or_default()
}

/// The lab with every toggle on: the lesson's reference solution.
fn reference_context(lab: &Lab) -> Vec<(String, String)> {
    let mut ctx = lab.context.clone();
    for t in &lab.toggles {
        for (var, expr) in ctx.iter_mut() {
            if *var == t.var {
                *expr = t.apply(expr, true);
            }
        }
    }
    ctx
}


/// `s=…` in the hash's query.
fn link_param(hash: &str) -> Option<String> {
    let (_, q) = hash.split_once('?')?;
    q.split('&').find_map(|kv| kv.strip_prefix("s=")).map(str::to_string)
}

#[component]
pub fn LessonPage(slug: String) -> AnyView {
    let shared = expect_context::<Shared>();
    let src = lessons::find(&slug).expect("route checked the slug");
    let lab = lessons::lab(src);

    // Where the lab starts: a share link, else the learner's last state, else the lesson's start.
    let mut notice = None;
    let mut from_link = false;
    let initial = match link_param(&crate::current_hash()) {
        Some(code) => match share::decode(&code).and_then(|s| s.fits(&lab, &SIZES).map(|()| s)) {
            Ok(s) => {
                from_link = true;
                s
            }
            Err(e) => {
                notice = Some(format!("This link could not be opened: {e}. The lesson shows its starting state."));
                LabState::default()
            }
        },
        None => {
            let saved = shared.progress.with_untracked(|p| p.lessons.get(&slug).and_then(|l| l.state.clone()));
            match saved.map(|s| s.fits(&lab, &SIZES).map(|()| s.clone())) {
                Some(Ok(s)) => s,
                Some(Err(_)) => {
                    notice = Some("Your saved code for this lesson no longer fits it (the lesson changed), so it starts afresh.".into());
                    LabState::default()
                }
                None => LabState::default(),
            }
        }
    };
    let sig = LabSignals::new(&lab, &initial);
    let lab_sv = StoredValue::new(lab.clone());
    let slug_sv = StoredValue::new(slug.clone());
    let wanted = (initial.articles.unwrap_or(DEFAULT_SIZE), initial.tasks);
    if !lab.is_reading() {
        let st = shared.state.get_untracked();
        if st.articles != wanted.0 || st.tasks != wanted.1 {
            crate::reseed(shared, wanted.0, wanted.1);
        }
    }

    // Every edit is kept (the learner's last code per lab).
    Effect::new(move |_| {
        let cur = sig.current(shared);
        let state = lab_sv.with_value(|lab| LabState::of(lab, cur));
        slug_sv.with_value(|slug| record_progress(shared, slug, |e| e.state = (state != LabState::default()).then_some(state)));
    });

    let share_url = RwSignal::new(None::<String>);
    let copied = RwSignal::new(String::new());
    let copy_link = move || {
        let mut cur = sig.current(shared);
        cur.steps = shared.project.with_untracked(|p| p.steps_since_load());
        let state = lab_sv.with_value(|lab| LabState::of(lab, cur));
        let code = share::encode(&state);
        let href = window().location().href().unwrap_or_default();
        let base = href.split('#').next().unwrap_or_default().to_string();
        let url = format!("{base}#/lessons/{}?s={code}", slug_sv.get_value());
        share_url.set(Some(url.clone()));
        copied.set(format!("{} characters", url.len()));
        let clipboard = window().navigator().clipboard();
        let promise = clipboard.write_text(&url);
        wasm_bindgen_futures::spawn_local(async move {
            let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
            copied.set(format!("{} — {} characters", if ok { "Copied to the clipboard" } else { "Select the link and copy it" }, url.len()));
        });
    };

    // The exercises (one, or one per step of a lab): each check runs in the worker, on this
    // data and on a hidden copy. `k` picks the exercise, see `Lab::exercises`.
    let build_check = move |k: usize| -> Result<CheckSpec, String> {
        lab_sv.with_value(|lab| {
            let exercises = lab.exercises("");
            let ex = exercises.get(k).ok_or("this lesson has no such exercise")?;
            let goal = ex.goal;
            match &lab.project {
                None => {
                    if goal.keep_template && sig.template.get_untracked() != lab.template {
                        return Err("the exercise asks you to leave the template as it is: undo your template edits (or Start over) and fix the QuerySet".into());
                    }
                    Ok(CheckSpec::Expression {
                        context: sig.context.get_untracked(),
                        template: sig.template.get_untracked(),
                        reference_context: reference_context(lab),
                        reference_template: lab.template.clone(),
                        budget: goal.budget(),
                    })
                }
                Some(p) => {
                    // The learner's migrations are the toggles they turned on; the reference has them all.
                    let mut migrations = p.migrations.clone();
                    for i in sig.migrations.get_untracked() {
                        if let Some(t) = p.migration_toggles.get(i) {
                            migrations.push(t.migration.clone());
                        }
                    }
                    let mut all_migrations = p.migrations.clone();
                    all_migrations.extend(p.migration_toggles.iter().map(|t| t.migration.clone()));
                    let spec = |files| ProjectSpec { files, urls: p.urls.clone(), migrations: migrations.clone() };
                    let mine = sig.files.get_untracked();
                    // The learner's tests.py on the lesson's starting code.
                    let tests_against = goal.tests_catch.then(|| {
                        let mut start = p.files.clone();
                        for (name, src) in start.iter_mut() {
                            if let Some((_, m)) = mine.iter().find(|(n, _)| n == name && n == "tests.py") {
                                *src = m.clone();
                            }
                        }
                        spec(start)
                    });
                    Ok(CheckSpec::Project {
                        project: spec(mine),
                        reference: ProjectSpec { files: p.solved_files(ex.toggles), urls: p.urls.clone(), migrations: all_migrations },
                        steps: goal.steps.clone(),
                        budget: goal.budget(),
                        tests_against,
                    })
                }
            }
        })
    };
    let show_solution = move |k: usize| {
        lab_sv.with_value(|lab| match &lab.project {
            None => {
                sig.context.set(reference_context(lab));
                sig.template.set(lab.template.clone());
            }
            Some(p) => sig.files.set(p.solved_files(lab.exercises("").get(k).and_then(|e| e.toggles))),
        });
    };
    let start_over = move || {
        lab_sv.with_value(|lab| sig.reset(lab));
        slug_sv.with_value(|slug| record_progress(shared, slug, |e| {
            e.state = None;
            e.shown = false;
        }));
    };

    let is_project = lab.project.is_some();
    let title = lab.title.clone();
    if lab.is_reading() {
        return view! {
            <article class="lesson">
                <h1>{title.clone()}</h1>
                {notice.map(|n| view! { <p class="notice" role="alert" data-testid="link-error">{n}</p> })}
                <div class="prose">{markdown::render(src.markdown)}</div>
                <Checklist slug=slug.clone() title=title items=lab.checklist.clone()/>
                {(!lab.quiz.is_empty()).then(|| view! { <crate::quiz::Quiz slug=slug.clone() questions=lab.quiz.clone()/> })}
            </article>
        }
        .into_any();
    }
    let quiz = (!lab.quiz.is_empty()).then(|| view! { <crate::quiz::Quiz slug=slug.clone() questions=lab.quiz.clone()/> });
    let toolbar = view! {
        <div class="lesson-tools">
            <button data-testid="copy-link" on:click=move |_| copy_link()>"Copy link"</button>
            <button data-testid="reset-lab" title="Back to the lesson's starting code (your progress stays)" on:click=move |_| start_over()>"Start over"</button>
            {move || share_url.get().map(|u| view! {
                <input class="share-url" data-testid="share-url" readonly size="40" prop:value=u aria-label="Link to this lab"/>
                <span class="copied" data-testid="copied">{move || copied.get()}</span>
            })}
        </div>
    };
    let notice_view = notice.map(|n| view! { <p class="notice" role="alert" data-testid="link-error">{n}</p> });
    let exercise = lab
        .exercises(&slug)
        .into_iter()
        .enumerate()
        .map(|(k, ex)| {
            view! {
                <ExercisePanel key=ex.key.clone() title=ex.title.map(str::to_string) goal=ex.goal.clone()
                    make_check=Callback::new(move |_| build_check(k)) solution=Callback::new(move |_| show_solution(k))/>
            }
        })
        .collect_view();
    let size_select = move |task_sizes: Vec<u32>| {
        if task_sizes.is_empty() {
            view! {
                <label>"Articles in the database "
                    <select aria-label="Articles in the database" prop:value=move || shared.state.get().articles.to_string()
                        on:change=move |ev| { if let Ok(n) = event_target_value(&ev).parse() { crate::reseed(shared, n, None) } }>
                        {SIZES.iter().map(|n| view! { <option value=n.to_string()>{n.to_string()}</option> }).collect_view()}
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
                        {task_sizes.iter().map(|n| view! { <option value=n.to_string()>{n.to_string()}</option> }).collect_view()}
                    </select>
                </label>
            }
            .into_any()
        }
    };

    let lab_view = if let Some(project) = lab.project.clone() {
        shared.project.set(Default::default());
        let replay = if from_link { initial.steps.clone() } else { vec![] };
        let task_sizes = project.task_sizes.clone();
        view! {
            <div class="lab-controls">{size_select(task_sizes)}</div>
            {move || shared.state.get().notice.map(|n| view! { <p class="notice" role="alert" data-testid="notice">{n}</p> })}
            <project_lab::ProjectLabView lab=project sig=sig replay=replay wanted=wanted/>
        }
        .into_any()
    } else {
        let run = move || {
            if is_project || !shared.state.get_untracked().ready {
                return;
            }
            shared.engine.with_value(|e| {
                if let Some(e) = e {
                    e.run(sig.context.get_untracked(), sig.template.get_untracked(), 1, true);
                }
            });
        };
        // Run when the database becomes ready, and whenever the expression changes.
        Effect::new(move |_| {
            shared.seeded.track();
            sig.context.track();
            run();
        });
        let toggles = lab.toggles.clone();
        let compare_toggles = StoredValue::new(lab.toggles.clone());
        let compare_choices: Vec<String> = lab.toggles.iter().map(|t| t.label().to_string()).collect();
        let make_compare = Callback::new(move |i: usize| {
            let t = compare_toggles.with_value(|t| t.get(i).cloned())?;
            let side = |on: bool| protocol::CompareRun::Expression {
                context: sig.context.get_untracked().into_iter().map(|(k, e)| if k == t.var { let e = t.apply(&e, on); (k, e) } else { (k, e) }).collect(),
                template: sig.template.get_untracked(),
            };
            Some((side(false), side(true)))
        });
        let has_compare = !compare_choices.is_empty();
        let growth_toggles = StoredValue::new(lab.toggles.clone());
        let start_context = StoredValue::new(lab.context.clone());
        let start_template = StoredValue::new(lab.template.clone());
        let make_growth = Callback::new(move |_: ()| {
            let context = sig.context.get_untracked();
            let template = sig.template.get_untracked();
            let on: Vec<String> = growth_toggles.with_value(|ts| {
                ts.iter().filter(|t| context.iter().any(|(k, e)| *k == t.var && t.is_on(e))).map(|t| t.label().to_string()).collect()
            });
            let unchanged = start_context.with_value(|c| *c == context) && start_template.with_value(|t| *t == template);
            Some((crate::chart::code_name(on, unchanged), protocol::CompareRun::Expression { context, template }))
        });
        view! {
            <div class="lab-controls">
                {size_select(vec![])}
                {toggles.into_iter().enumerate().map(|(i, t)| {
                    let id = format!("toggle-{i}");
                    let for_id = id.clone();
                    let t2 = t.clone();
                    let label = t.label().to_string();
                    let checked = Signal::derive(move || sig.context.get().iter().find(|(k, _)| *k == t.var).is_some_and(|(_, e)| t.is_on(e)));
                    view! {
                        <label class="toggle" for=for_id>
                            <input type="checkbox" id=id prop:checked=checked
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    sig.context.update(|c| for (k, e) in c.iter_mut() { if *k == t2.var { *e = t2.apply(e, on) } });
                                }/>
                            <code>{label}</code>
                        </label>
                    }
                }).collect_view()}
            </div>
            <div class="editors">
                {move || sig.context.get().into_iter().enumerate().map(|(i, (name, expr))| {
                    let keys = EditorKeys::default();
                    let live = RwSignal::new(expr.clone());
                    view! {
                        <label class="editor">
                            <span>{format!("{name} =")}</span>
                            <div class="code-wrap">
                            <Highlighted lang=Lang::Python text=live/>
                            <textarea rows="2" spellcheck="false" aria-label=format!("QuerySet for {name}")
                                aria-description="Ctrl+Enter runs"
                                on:input=move |ev| follow(&ev, live)
                                on:scroll=move |ev| follow(&ev, live)
                                prop:value=expr
                                on:keydown=move |ev| if keys.on_keydown(&ev) == EditorKey::Run {
                                    let v = event_target_value(&ev);
                                    if sig.context.with_untracked(|c| c[i].1 != v) { sig.context.update(|c| c[i].1 = v) } else { run() }
                                }
                                on:change=move |ev| { let v = event_target_value(&ev); sig.context.update(|c| c[i].1 = v) }/>
                            </div>
                        </label>
                    }
                }).collect_view()}
                <label class="editor">
                    <span>"template"</span>
                    {
                        let keys = EditorKeys::default();
                        // The coloured copy follows typing at once, and the page's own changes (reset, links).
                        let live = RwSignal::new(sig.template.get_untracked());
                        Effect::new(move |_| live.set(sig.template.get()));
                        view! {
                            <div class="code-wrap">
                            <Highlighted lang=Lang::Template text=live/>
                            <textarea rows="7" spellcheck="false" aria-label="Template" prop:value=move || sig.template.get()
                                aria-description="Tab indents; Esc then Tab leaves the editor; Ctrl+Enter runs"
                                on:input=move |ev| follow(&ev, live)
                                on:scroll=move |ev| follow(&ev, live)
                                on:keydown=move |ev| if keys.on_keydown(&ev) == EditorKey::Run { sig.template.set(event_target_value(&ev)); run() }
                                on:change=move |ev| sig.template.set(event_target_value(&ev))/>
                            </div>
                        }
                    }
                </label>
                <button data-testid="run" on:click=move |_| run()>"Run"</button>
            </div>
            {move || shared.state.get().notice.map(|n| view! { <p class="notice" role="alert" data-testid="notice">{n}</p> })}
            {has_compare.then(|| view! { <crate::compare::ComparePanel choices=compare_choices make=make_compare/> })}
            <crate::growth::GrowthPanel kind="articles" sizes=SIZES.to_vec() make=make_growth/>
            <Results goal=lab.goal.clone() template=sig.template original_template=lab.template.clone()/>
        }
        .into_any()
    };

    view! {
        <article class="lesson">
            <h1>{title}</h1>
            {notice_view}
            <div class="prose">{markdown::render(src.markdown)}</div>
            <section class="lab" aria-label="Lab">
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
