//! A lab that is a small Django project: file tabs the learner edits (`views.py`, templates,
//! `tests.py`), an address bar with a user picker, a shell line, "Run tests", the virtual
//! clock, and a history of every step with its query log.
//!
//! Edits are sent to the worker (`Request::Project`) before the next step, which re-imports
//! `views.py` — as Django's development server reloads on a code change (the cache and the
//! clock start over too).

use leptos::prelude::*;
use protocol::lesson::ProjectLab;
use protocol::{ErrorInfo, ProjectSpec, Step, StepReport};

use crate::editor::{follow, EditorKey, EditorKeys, Highlighted};
use crate::highlight::Lang;
use crate::lesson_page::LabSignals;
use crate::{QueryLog, Shared};

/// What the project lab shows, fed by the engine's answers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectState {
    /// Request ids this lab is waiting for (to tell its answers from others).
    pub pending: Vec<u64>,
    pub loaded: bool,
    pub load_error: Option<ErrorInfo>,
    pub history: Vec<StepReport>,
    /// The request id each history entry answered.
    pub history_ids: Vec<u64>,
    pub selected: Option<usize>,
    pub clock: String,
    /// Per applied migration: (`makemigrations` text, `sqlmigrate` text).
    pub migrations: Vec<(String, String)>,
    /// Bumped on each answer (tests wait on it).
    pub answers: u64,
    /// Where in `history` the current load of the project begins (the timeline strip shows
    /// the steps from there: one empty cache, one clock).
    pub session_start: usize,
    /// Steps sent and not answered yet, by request id; then, per history entry, its step.
    pub sent: Vec<(u64, Step)>,
    pub steps: Vec<Option<Step>>,
}

impl ProjectState {
    /// The steps since the project was last loaded (what a share link replays).
    pub fn steps_since_load(&self) -> Vec<Step> {
        self.steps.iter().skip(self.session_start).flatten().cloned().collect()
    }
}

/// A sweep in progress: the values left, the point in flight, the size to restore after.
#[derive(Clone, Debug, PartialEq)]
struct SweepRun {
    sweep: usize,
    total: usize,
    remaining: Vec<u32>,
    current: Option<(u64, u32)>,
    /// The step in flight is the shell line that computes the cursor (not a measured point).
    cursor_phase: bool,
    restore: (u32, Option<u32>),
    reseeded: bool,
}

#[derive(Clone, Debug, PartialEq)]
struct SweepSeries {
    sweep: usize,
    line: crate::chart::Measurements,
}

/// Sample users a request can be sent as (the seed's usernames).
const USERS: [&str; 5] = ["user001", "user002", "user006", "user010", "user020"];

#[component]
pub fn ProjectLabView(lab: ProjectLab, sig: LabSignals, replay: Vec<Step>, wanted: (u32, Option<u32>)) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let files = sig.files;
    let active = RwSignal::new(0usize);
    let dirty = RwSignal::new(true);
    let url = RwSignal::new(lab.requests.first().cloned().unwrap_or_else(|| "/".to_string()));
    let user = RwSignal::new(String::new());
    // Server processes (a lab with `workers: 2` has a picker): which one answers the request.
    let workers = lab.workers;
    let worker = RwSignal::new(1u8);
    let pick_worker = move || (workers > 1).then(|| worker.get_untracked());
    let shell = RwSignal::new(lab.shell.first().cloned().unwrap_or_default());
    let urls = StoredValue::new(lab.urls.clone());
    let base_migrations = StoredValue::new(lab.migrations.clone());
    let migration_toggles = StoredValue::new(lab.migration_toggles.clone());
    let active_migrations = sig.migrations;
    let migrations = move || {
        let mut all = base_migrations.get_value();
        let toggles = migration_toggles.get_value();
        for i in active_migrations.get_untracked() {
            if let Some(t) = toggles.get(i) {
                all.push(t.migration.clone());
            }
        }
        all
    };

    // Sends the project if it changed since the worker last saw it, then the steps; the ids.
    let send_all = move |steps: Vec<Step>, reload: bool| -> Vec<u64> {
        if !shared.state.get_untracked().ready {
            return vec![];
        }
        let mut ids = Vec::new();
        shared.engine.with_value(|e| {
            let Some(e) = e else { return };
            if reload || dirty.get_untracked() || !shared.project.get_untracked().loaded {
                let spec = ProjectSpec { files: files.get_untracked(), urls: urls.get_value(), migrations: migrations() };
                ids.push(e.project(spec));
                dirty.set(false);
            }
            let first = ids.len();
            for s in &steps {
                ids.push(e.step(s.clone()));
            }
            shared.project.update(|p| p.sent.extend(ids[first..].iter().copied().zip(steps)));
        });
        shared.project.update(|p| p.pending.extend(ids.iter().copied()));
        ids
    };
    let send = move |step: Option<Step>| {
        send_all(step.into_iter().collect(), false);
    };
    // A fresh database (first load, new size, reset) gets the project again; a share link's
    // steps replay once the database has the link's size.
    let replay = StoredValue::new(replay);
    Effect::new(move |_| {
        shared.seeded.track();
        shared.project.update(|p| p.loaded = false);
        dirty.set(true);
        let st = shared.state.get_untracked();
        let has_replay = replay.with_value(|r| !r.is_empty());
        if has_replay && st.ready && st.articles == wanted.0 && st.tasks == wanted.1 {
            let steps = replay.get_value();
            replay.set_value(vec![]);
            send_all(steps, true);
        } else {
            send(None);
        }
    });

    let send_get = move || {
        let u = user.get_untracked();
        send(Some(Step::Get { url: url.get_untracked(), user: if u.is_empty() { None } else { Some(u) }, worker: pick_worker(), into_previous: None }));
    };
    let toggles = lab.toggles.clone();
    let mtoggles = lab.migration_toggles.clone();
    let requests = lab.requests.clone();
    let shell_lines = lab.shell.clone();
    let has_tests = lab.files.iter().any(|(n, _)| n == "tests.py");
    let has_timeline = !lab.timeline.is_empty();
    let script = sig.script;
    let script_error = RwSignal::new(None::<String>);
    let run_timeline = move || match protocol::timeline::parse(&script.get_untracked()) {
        Ok(steps) if steps.is_empty() => script_error.set(Some("The timeline has no steps.".into())),
        Ok(steps) => {
            script_error.set(None);
            send_all(steps, true);
        }
        Err(e) => script_error.set(Some(format!("Timeline, {e}"))),
    };

    // Growth charts: one request per value, sent one at a time so Cancel stops between points.
    let sweeps = StoredValue::new(lab.sweeps.clone());
    let sweep_choice = RwSignal::new(0usize);
    let sweep_metric = RwSignal::new("queries".to_string());
    let sweep_series = RwSignal::new(Vec::<SweepSeries>::new());
    let sweep_run = RwSignal::new(None::<SweepRun>);
    let lab_files = StoredValue::new(lab.files.clone());
    let file_toggles = StoredValue::new(lab.toggles.clone());
    let send_point = move |run: &mut SweepRun| -> bool {
        let Some(n) = run.remaining.first().copied() else { return false };
        run.remaining.remove(0);
        let sw = sweeps.with_value(|s| s[run.sweep].clone());
        if let Some(kind) = sw.seed.as_deref() {
            let articles = shared.state.get_untracked().articles;
            shared.engine.with_value(|e| if let Some(e) = e {
                if kind == "tasks" { e.seed(articles, Some(n)); } else { e.seed(n, None); }
            });
        }
        let step = match &sw.cursor {
            // A keyset page: first the shell line that prints the cursor opening page n.
            Some(code) => Step::Run { code: code.replace("{n}", &n.to_string()) },
            None => Step::Get { url: sw.url.replace("{n}", &n.to_string()), user: None, worker: None, into_previous: None },
        };
        run.cursor_phase = sw.cursor.is_some();
        let ids = send_all(vec![step], true);
        run.current = ids.last().map(|id| (*id, n));
        run.current.is_some()
    };
    let start_sweep = move || {
        if sweep_run.get_untracked().is_some() || !shared.state.get_untracked().ready {
            return;
        }
        let idx = sweep_choice.get_untracked();
        let Some(sw) = sweeps.with_value(|s| s.get(idx).cloned()) else { return };
        // The series is named after the code it measures: the toggles that are on.
        let f = files.get_untracked();
        let on: Vec<String> = file_toggles.with_value(|t| t.iter().filter(|t| t.is_on(&f)).map(|t| t.label.clone()).collect());
        let base = crate::chart::code_name(on, lab_files.with_value(|l| *l == f));
        let base = match &sw.series { Some(line) => format!("{line}: {base}"), None => base };
        let name = crate::chart::numbered(base, sweep_series.with_untracked(|ss| ss.iter().map(|s| s.line.name.clone()).collect::<Vec<_>>()).into_iter());
        sweep_series.update(|ss| {
            if ss.len() >= 4 { ss.remove(0); }
            ss.push(SweepSeries { sweep: idx, line: crate::chart::Measurements { name, points: vec![] } });
        });
        let st = shared.state.get_untracked();
        let mut run = SweepRun { sweep: idx, total: sw.values.len(), remaining: sw.values.clone(), current: None, cursor_phase: false, restore: (st.articles, st.tasks), reseeded: sw.seed.is_some() };
        if send_point(&mut run) {
            sweep_run.set(Some(run));
        }
    };
    let finish_sweep = move |run: SweepRun| {
        sweep_run.set(None);
        if run.reseeded {
            crate::reseed(shared, run.restore.0, run.restore.1);
        }
    };
    // Each answered point goes on the chart; then the next point, or the end.
    Effect::new(move |_| {
        let p = shared.project.get();
        let Some(mut run) = sweep_run.get_untracked() else { return };
        let Some((id, n)) = run.current else { return };
        let Some(i) = p.history_ids.iter().position(|x| *x == id) else {
            if p.load_error.is_some() && !p.pending.contains(&id) {
                finish_sweep(run);
            }
            return;
        };
        let r = &p.history[i];
        if run.cursor_phase {
            // The shell printed the cursor (a str's repr): now the measured request.
            let printed = r.render.output.trim();
            let cursor = printed.strip_prefix('\'').and_then(|c| c.strip_suffix('\'')).unwrap_or(printed).to_string();
            let url = sweeps.with_value(|s| s[run.sweep].url.replace("{n}", &n.to_string()))
                .replace("{cursor}", &String::from(js_sys::encode_uri_component(&cursor)));
            run.cursor_phase = false;
            run.current = None;
            if r.error.is_none() {
                if let Some(id) = send_all(vec![Step::Get { url, user: None, worker: None, into_previous: None }], false).last() {
                    run.current = Some((*id, n));
                    sweep_run.set(Some(run));
                    return;
                }
            }
            finish_sweep(run);
            return;
        }
        let point = crate::chart::Measured::of(n as f64, &r.render);
        sweep_series.update(|ss| if let Some(last) = ss.last_mut() { last.line.points.push(point) });
        run.current = None;
        if r.error.is_none() && send_point(&mut run) {
            sweep_run.set(Some(run));
        } else {
            finish_sweep(run);
        }
    });
    let has_sweeps = !lab.sweeps.is_empty();

    // The error of the last load or step, when it points into one of the lab's files:
    // (file, line, column, the message's telling line).
    let file_error = Memo::new(move |_| {
        let p = shared.project.get();
        let e = p.load_error.clone().or_else(|| p.history.last().and_then(|r| r.error.clone()))?;
        let src = e.source.clone()?;
        let file = files.with(|fs| fs.iter().map(|(n, _)| n.clone()).find(|n| *n == src))?;
        let msg = e.message.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("System check identified") && *l != "ERRORS:").unwrap_or("").to_string();
        Some((file, e.line.unwrap_or(1), e.col.unwrap_or(1), format!("{}: {msg}", e.kind)))
    });

    // Compare: the current request with one toggle off (A) and on (B), the rest as it stands.
    let compare_choices: Vec<String> = lab.toggles.iter().map(|t| t.label.clone()).chain(lab.migration_toggles.iter().map(|t| t.label.clone())).collect();
    let make_compare = Callback::new(move |i: usize| {
        let u = user.get_untracked();
        let steps = vec![Step::Get { url: url.get_untracked(), user: if u.is_empty() { None } else { Some(u) }, worker: pick_worker(), into_previous: None }];
        let spec = |files: Vec<(String, String)>, migrations: Vec<protocol::Migration>| protocol::CompareRun::Project {
            project: ProjectSpec { files, urls: urls.get_value(), migrations },
            steps: steps.clone(),
        };
        let n_files = file_toggles.with_value(|t| t.len());
        if i < n_files {
            let t = file_toggles.with_value(|t| t[i].clone());
            let (mut off, mut on) = (files.get_untracked(), files.get_untracked());
            t.apply(&mut off, false);
            t.apply(&mut on, true);
            dirty.set(true);
            Some((spec(off, migrations()), spec(on, migrations())))
        } else {
            let j = i - n_files;
            let with = |on: bool| {
                let mut all = base_migrations.get_value();
                let toggles = migration_toggles.get_value();
                for k in active_migrations.get_untracked().into_iter().filter(|k| *k != j).chain(on.then_some(j)) {
                    if let Some(t) = toggles.get(k) {
                        all.push(t.migration.clone());
                    }
                }
                all
            };
            dirty.set(true);
            Some((spec(files.get_untracked(), with(false)), spec(files.get_untracked(), with(true))))
        }
    });
    let has_compare = !compare_choices.is_empty();

    // Growth with data size, unless the lesson's own sweeps already reseed.
    let has_growth = !lab.sweeps.iter().any(|s| s.seed.is_some());
    let (growth_kind, growth_sizes) = if lab.task_sizes.is_empty() { ("articles", crate::SIZES.to_vec()) } else { ("tasks", lab.task_sizes.clone()) };
    let make_growth = Callback::new(move |_: ()| {
        let u = user.get_untracked();
        let f = files.get_untracked();
        let active = active_migrations.get_untracked();
        let on: Vec<String> = file_toggles
            .with_value(|t| t.iter().filter(|t| t.is_on(&f)).map(|t| t.label.clone()).collect::<Vec<_>>())
            .into_iter()
            .chain(migration_toggles.with_value(|t| t.iter().enumerate().filter(|(i, _)| active.contains(i)).map(|(_, t)| t.label.clone()).collect::<Vec<_>>()))
            .collect();
        let unchanged = lab_files.with_value(|l| *l == f);
        let run = protocol::CompareRun::Project {
            project: ProjectSpec { files: f, urls: urls.get_value(), migrations: migrations() },
            steps: vec![Step::Get { url: url.get_untracked(), user: if u.is_empty() { None } else { Some(u) }, worker: pick_worker(), into_previous: None }],
        };
        Some((format!("{} · {}", url.get_untracked(), crate::chart::code_name(on, unchanged)), run))
    });

    view! {
        <div class="project-lab">
            <div class="lab-controls">
                {toggles.into_iter().enumerate().map(|(i, t)| {
                    let id = format!("ftoggle-{i}");
                    let for_id = id.clone();
                    let t2 = t.clone();
                    let label = t.label.clone();
                    let checked = Signal::derive(move || t.is_on(&files.get()));
                    view! {
                        <label class="toggle" for=for_id>
                            <input type="checkbox" id=id prop:checked=checked on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                files.update(|f| t2.apply(f, on));
                                dirty.set(true);
                            }/>
                            <code>{label}</code>
                        </label>
                    }
                }).collect_view()}
            </div>
            {(!mtoggles.is_empty()).then(|| view! {
                <div class="lab-controls migrations">
                    {mtoggles.into_iter().enumerate().map(|(i, t)| {
                        let id = format!("mtoggle-{i}");
                        let for_id = id.clone();
                        view! {
                            <label class="toggle" for=for_id>
                                <input type="checkbox" id=id data-testid="migrate"
                                    prop:checked=move || active_migrations.get().contains(&i)
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        active_migrations.update(|a| { a.retain(|x| *x != i); if on { a.push(i) } });
                                        dirty.set(true);
                                        send(None);
                                    }/>
                                <code>{t.label.clone()}</code>
                            </label>
                        }
                    }).collect_view()}
                </div>
            })}
            {move || {
                let m = shared.project.get().migrations;
                (!m.is_empty()).then(|| view! {
                    <details class="migrations-text" data-testid="migrations" open>
                        <summary>"Migrations applied (makemigrations / sqlmigrate)"</summary>
                        {m.into_iter().map(|(py, sql)| view! { <pre class="python">{py}</pre><pre class="sql">{sql}</pre> }).collect_view()}
                    </details>
                })
            }}
            <div class="tabs" role="tablist">
                {move || files.get().into_iter().enumerate().map(|(i, (name, _))| view! {
                    <button role="tab" data-testid="file-tab" aria-selected=move || (active.get() == i).to_string()
                        class:active=move || active.get() == i on:click=move |_| active.set(i)>{name}</button>
                }).collect_view()}
            </div>
            {move || file_error.get().filter(|(f, ..)| files.with(|fs| fs.get(active.get()).map(|(n, _)| n != f).unwrap_or(true))).map(|(f, line, ..)| {
                let target = f.clone();
                view! {
                    <p class="editor-error elsewhere">
                        {format!("The error is in {f}, line {line}. ")}
                        <button data-testid="open-error-file" on:click=move |_| {
                            if let Some(k) = files.with_untracked(|fs| fs.iter().position(|(n, _)| *n == target)) { active.set(k) }
                        }>{format!("Open {f}")}</button>
                    </p>
                }
            })}
            {move || {
                let i = active.get();
                let keys = EditorKeys::default();
                let (name, src) = files.get().get(i).cloned().unwrap_or_default();
                let editor = NodeRef::<leptos::html::Textarea>::new();
                let here = name.clone();
                let err_here = move || file_error.get().filter(|(f, ..)| *f == here);
                let err_here2 = err_here.clone();
                let text = src.clone();
                let live = RwSignal::new(src.clone());
                view! {
                    {move || err_here().map(|(_, line, col, msg)| {
                        let text = text.clone();
                        // Selects the line the error points at (offsets in UTF-16, as the DOM counts).
                        let select = move |_| {
                            let start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(|l| l.encode_utf16().count()).sum();
                            let len = text.split('\n').nth(line.saturating_sub(1)).map(|l| l.encode_utf16().count()).unwrap_or(0);
                            if let Some(t) = editor.get() {
                                let _ = t.focus();
                                let _ = t.set_selection_range(start as u32, (start + len) as u32);
                            }
                        };
                        view! {
                            <p class="editor-error" data-testid="editor-error" data-line=line.to_string() role="alert">
                                {format!("line {line}, column {col}: {msg} ")}
                                <button data-testid="show-error" on:click=select>"Select the line"</button>
                            </p>
                        }
                    })}
                    <div class="code-wrap">
                    <Highlighted lang=Lang::of_file(&name) text=live/>
                    <textarea class="code" rows="16" spellcheck="false" data-testid="file-editor" data-file=name.clone() node_ref=editor
                        aria-invalid=move || err_here2().is_some().to_string()
                        aria-label=format!("File {name}") prop:value=src
                        aria-description="Tab indents; Esc then Tab leaves the editor; Ctrl+Enter sends the request"
                        on:keydown=move |ev| if keys.on_keydown(&ev) == EditorKey::Run { send_get() }
                        on:scroll=move |ev| follow(&ev, live)
                        on:input=move |ev| {
                            follow(&ev, live);
                            let v = event_target_value(&ev);
                            files.update(|f| if let Some(slot) = f.get_mut(i) { slot.1 = v });
                            dirty.set(true);
                        }/>
                    </div>
                }
            }}
            <div class="request-bar">
                <label>"GET "
                    <input data-testid="url" list="lab-urls" size="40" prop:value=move || url.get()
                        on:input=move |ev| url.set(event_target_value(&ev))
                        on:keydown=move |ev| if ev.key() == "Enter" { send_get() }/>
                </label>
                <datalist id="lab-urls">{requests.into_iter().map(|r| view! { <option value=r/> }).collect_view()}</datalist>
                <label>" as "
                    <select data-testid="user" aria-label="Logged-in user" on:change=move |ev| user.set(event_target_value(&ev))>
                        <option value="">"anonymous"</option>
                        {USERS.iter().map(|u| view! { <option value=*u>{*u}</option> }).collect_view()}
                    </select>
                </label>
                {(workers > 1).then(|| view! {
                    <label>" on "
                        <select data-testid="worker" aria-label="Server process" on:change=move |ev| if let Ok(w) = event_target_value(&ev).parse() { worker.set(w) }>
                            {(1..=workers).map(|w| view! { <option value=w.to_string()>{format!("worker {w}")}</option> }).collect_view()}
                        </select>
                    </label>
                })}
                <button data-testid="send" on:click=move |_| send_get()>"Send"</button>
            </div>
            <div class="shell-bar">
                <label>">>> "
                    <input data-testid="shell" list="lab-shell" size="50" spellcheck="false" prop:value=move || shell.get()
                        on:input=move |ev| shell.set(event_target_value(&ev))
                        on:keydown=move |ev| if ev.key() == "Enter" { send(Some(Step::Run { code: shell.get_untracked() })) }/>
                </label>
                <datalist id="lab-shell">{shell_lines.into_iter().map(|r| view! { <option value=r/> }).collect_view()}</datalist>
                <button data-testid="run-shell" on:click=move |_| send(Some(Step::Run { code: shell.get_untracked() }))>"Run"</button>
                {has_tests.then(|| view! {
                    <button data-testid="run-tests" on:click=move |_| send(Some(Step::Test { file: "tests.py".into() }))>"Run tests"</button>
                })}
            </div>
            <div class="clock-bar">
                <span>"Clock: "<span data-testid="clock">{move || shared.project.get().clock}</span></span>
                {[1.0f64, 30.0, 61.0, 300.0].into_iter().map(|s| view! {
                    <button data-testid="clock-advance" data-seconds=s.to_string()
                        on:click=move |_| send(Some(Step::Advance { seconds: s }))>{format!("+{s} s")}</button>
                }).collect_view()}
                <button data-testid="reset-data" title="Reload the sample data (undoes writes)"
                    on:click=move |_| {
                        shared.state.update(|s| { s.ready = false; s.status = "Reloading the sample data…".into(); });
                        shared.engine.with_value(|e| if let Some(e) = e { e.reseed(); });
                    }>"Reset data"</button>
            </div>
            {has_timeline.then(|| view! {
                <details class="timeline-editor" open>
                    <summary>"Timeline: one step per line — "<code>"GET /url/"</code>" (or "<code>"… as user001"</code>", "<code>"… on worker 2"</code>", "<code>"…, 1 s into the previous"</code>"), "
                        <code>">>> code"</code>", "<code>"+61 s"</code>", "<code>"run tests"</code></summary>
                    <textarea class="code" rows="6" spellcheck="false" data-testid="timeline-script" aria-label="Timeline steps"
                        aria-description="Ctrl+Enter runs the timeline"
                        prop:value=move || script.get() on:input=move |ev| script.set(event_target_value(&ev))
                        on:keydown=move |ev| if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) { ev.prevent_default(); run_timeline() }/>
                    <button data-testid="run-timeline" title="Reload the project (empty cache, clock at its start) and replay these steps"
                        on:click=move |_| run_timeline()>"Run the timeline"</button>
                    {move || script_error.get().map(|e| view! { <p class="error" role="alert" data-testid="timeline-error">{e}</p> })}
                </details>
                <TimelineStrip/>
            })}
            {has_sweeps.then(|| view! {
                <details class="sweep" open>
                    <summary>"Growth chart"</summary>
                    <div class="sweep-controls">
                        <select aria-label="What to sweep" data-testid="sweep-choice" on:change=move |ev| if let Ok(i) = event_target_value(&ev).parse() { sweep_choice.set(i) }>
                            {sweeps.get_value().into_iter().enumerate().map(|(i, sw)| view! { <option value=i.to_string()>{sw.label}</option> }).collect_view()}
                        </select>
                        <button data-testid="run-sweep" prop:disabled=move || sweep_run.get().is_some() on:click=move |_| start_sweep()>"Run the sweep"</button>
                        {move || sweep_run.get().map(|r| view! {
                            <progress max=r.total.to_string() value=(r.total - r.remaining.len() - usize::from(r.current.is_some())).to_string() aria-label="Sweep progress"></progress>
                            <button data-testid="cancel-sweep" on:click=move |_| sweep_run.update(|r| if let Some(r) = r { r.remaining.clear() })>"Cancel"</button>
                        })}
                        <crate::chart::MetricSelect testid="sweep-metric" metric=sweep_metric/>
                        <button data-testid="clear-chart" on:click=move |_| sweep_series.set(vec![])>"Clear"</button>
                    </div>
                    {move || {
                        let idx = sweep_choice.get();
                        // Sweeps over the same axis share the chart (OFFSET and cursor by page).
                        let x_label = sweeps.with_value(|s| s.get(idx).map(|s| s.x_label.clone()).unwrap_or_default());
                        let same_axis = |k: usize| sweeps.with_value(|s| s.get(k).is_some_and(|s| s.x_label == x_label));
                        let lines: Vec<_> = sweep_series.get().into_iter().filter(|s| same_axis(s.sweep)).map(|s| s.line).collect();
                        let (series, y_label) = crate::chart::series_for(lines, &sweep_metric.get());
                        (!series.is_empty()).then(|| view! { <crate::chart::LineChart series=series x_label=x_label y_label=y_label/> })
                    }}
                </details>
            })}
            {has_compare.then(|| view! { <crate::compare::ComparePanel choices=compare_choices make=make_compare/> })}
            {has_growth.then(|| view! { <crate::growth::GrowthPanel kind=growth_kind sizes=growth_sizes make=make_growth/> })}
            {move || shared.project.get().load_error.map(|e| view! { <ErrorBox error=e/> })}
            <StepHistory/>
        </div>
    }
}

#[component]
pub fn ErrorBox(error: ErrorInfo) -> impl IntoView {
    let e = error;
    view! {
        <div class="error" role="alert" data-testid="error">
            <strong>{format!("{}: {}", e.kind, e.message)}</strong>
            {e.source.clone().map(|s| view! { <div>{format!("in {s}")}{e.line.map(|l| format!(", line {l}, column {}", e.col.unwrap_or(0)))}</div> })}
            {e.excerpt.clone().map(|x| view! { <pre>{x}</pre> })}
        </div>
    }
}

/// The steps since the project was last loaded, as a row of boxes: each request marked hit,
/// miss or stale (red), with its queries and time; writes and clock moves between them.
#[component]
fn TimelineStrip() -> impl IntoView {
    let shared = expect_context::<Shared>();
    view! {
        <ol class="timeline" data-testid="timeline" aria-label="Timeline since the project was loaded">
            {move || {
                let p = shared.project.get();
                let start = p.session_start.min(p.history.len());
                // "UNCACHED" only means something once some request of the session used the cache.
                let caching = p.history[start..].iter().any(|r| r.cache_state.is_some());
                p.history[start..].iter().enumerate().map(|(k, r)| {
                    let i = start + k;
                    let sel = p.selected == Some(i);
                    let state = match (r.kind.as_str(), &r.cache_state) {
                        ("get", Some(s)) => s.clone(),
                        ("get", None) if caching => "uncached".to_string(),
                        _ => String::new(),
                    };
                    let head = match r.kind.as_str() {
                        "get" => r.label.clone(),
                        "advance" => r.label.clone(),
                        "test" => "tests".to_string(),
                        _ => ">>> write / shell".to_string(),
                    };
                    let numbers = match r.kind.as_str() {
                        "advance" => r.clock.clone(),
                        "test" => format!("{} passed of {}", r.tests.iter().filter(|t| t.outcome == "pass").count(), r.tests.len()),
                        _ if r.error.is_some() => "error".to_string(),
                        _ => format!("{} q · {:.1} ms", r.render.n_queries, r.render.request_ms),
                    };
                    let numbers = match r.span.as_ref().filter(|s| s.waited_s > 0.0) {
                        Some(s) => format!("{numbers} · waited {}", seconds(s.waited_s)),
                        None => numbers,
                    };
                    let title = if r.kind == "run" { r.label.clone() } else { String::new() };
                    view! {
                        <li data-testid="timeline-step" data-kind=r.kind.clone() data-state=state.clone()
                            class=format!("tl-step {} {}", r.kind, state) class:selected=sel title=title>
                            <button on:click=move |_| shared.project.update(|p| p.selected = Some(i))>
                                <span class="tl-head">{head}</span>
                                <span class="tl-numbers">{numbers}</span>
                                {(!state.is_empty()).then(|| view! { <span class="tl-state">{state.to_uppercase()}</span> })}
                            </button>
                        </li>
                    }
                }).collect_view()
            }}
        </ol>
    }
}

/// Every step so far, newest last; the selected one (the newest by default) in full.
#[component]
fn StepHistory() -> impl IntoView {
    let shared = expect_context::<Shared>();
    view! {
        <ol class="history" data-testid="history">
            {move || {
                let p = shared.project.get();
                p.history.iter().enumerate().map(|(i, r)| {
                    let sel = p.selected == Some(i);
                    let summary = match r.kind.as_str() {
                        "get" => format!("{} → {} · {} queries · {:.1} ms", r.label, r.status.map(|s| s.to_string()).unwrap_or_else(|| "error".into()), r.render.n_queries, r.render.request_ms),
                        "advance" => format!("{} → {}", r.label, r.clock),
                        "test" => format!("{} → {} passed of {}", r.label, r.tests.iter().filter(|t| t.outcome == "pass").count(), r.tests.len()),
                        _ => format!(">>> {} · {} queries", r.label, r.render.n_queries),
                    };
                    let summary = match r.span.as_ref().filter(|s| s.elapsed_s > 0.0) {
                        Some(s) => format!("{summary} · {} on the clock", seconds(s.elapsed_s)),
                        None => summary,
                    };
                    let state = r.cache_state.clone();
                    let badge = state.clone().map(|s| {
                        let title = match s.as_str() {
                            "hit" => "Served from the cache",
                            "stale" => "Served from the cache, but the page computed now would differ: the cache is stale",
                            _ => "Not in the cache: computed and stored",
                        };
                        view! { <span class=format!("cache-badge {s}") title=title>{s.to_uppercase()}</span> }
                    });
                    view! {
                        <li data-testid="history-step" data-kind=r.kind.clone() data-state=state.unwrap_or_default() class:selected=sel>
                            <button on:click=move |_| shared.project.update(|p| p.selected = Some(i))>{summary}" "{badge}</button>
                        </li>
                    }
                }).collect_view()
            }}
        </ol>
        {move || {
            let p = shared.project.get();
            let r = p.selected.and_then(|i| p.history.get(i).cloned())?;
            Some(view! { <StepDetail report=r answers=p.answers/> })
        }}
    }
}

#[component]
fn StepDetail(report: StepReport, answers: u64) -> impl IntoView {
    let r = report;
    let is_get = r.kind == "get";
    let is_test = r.kind == "test";
    view! {
        <div class="step-detail" data-testid="step-detail" data-run=answers.to_string()>
            {(r.kind != "advance").then(|| view! {
                <div class="metrics" data-testid="metrics">
                    {r.status.map(|s| view! { <div><span class="big" data-testid="status">{s}</span>" status"</div> })}
                    <div><span class="big" data-testid="query-count">{r.render.n_queries}</span>" queries"</div>
                    <div title="X-Request-Duration-Ms"><span class="big" data-testid="request-ms">{format!("{:.2}", r.render.request_ms)}</span>" ms"</div>
                    <div><span class="big" data-testid="sql-ms">{format!("{:.2}", r.render.sql_ms)}</span>" ms in SQL"</div>
                </div>
            })}
            {is_get.then(|| crate::timing_note(&r.render.timing))}
            {r.span.clone().map(|s| view! { <ClockLine span=s/> })}
            {r.error.clone().map(|e| view! { <ErrorBox error=e/> })}
            {r.warnings.iter().map(|w| view! { <p class="warning" data-testid="warning">{w.clone()}</p> }).collect_view()}
            {r.render.groups.iter().filter_map(|g| g.n_plus_one.clone()).map(|n| view! { <p class="n-plus-one" data-testid="n-plus-one">{"N+1: "}{n}</p> }).collect_view()}
            {r.render.unbounded.iter().map(|u| view! { <p class="warning unbounded" data-testid="unbounded-warning">{u.clone()}</p> }).collect_view()}
            {(!r.headers.is_empty()).then(|| view! {
                <dl class="headers" data-testid="headers">
                    {r.headers.iter().map(|(k, v)| view! { <dt>{k.clone()}</dt><dd>{v.clone()}</dd> }).collect_view()}
                </dl>
            })}
            {is_test.then(|| view! {
                <ul class="tests" data-testid="tests">
                    {r.tests.iter().map(|t| view! {
                        <li data-testid="test-result" data-outcome=t.outcome.clone() class=t.outcome.clone()>
                            <strong>{t.outcome.to_uppercase()}</strong>" "<code>{t.name.clone()}</code>
                            {(!t.detail.is_empty()).then(|| view! { <pre>{t.detail.clone()}</pre> })}
                        </li>
                    }).collect_view()}
                </ul>
            })}
            {(!r.cache_calls.is_empty() || !r.cache_keys.is_empty()).then(|| view! { <CachePanel report=r.clone()/> })}
            {(!r.stdout.is_empty()).then(|| view! { <pre class="stdout" data-testid="stdout">{r.stdout.clone()}</pre> })}
            {(is_get && r.error.is_none()).then(|| view! {
                <details class="output" open>
                    <summary>"Response"</summary>
                    <iframe sandbox="" title="Response" srcdoc=r.render.output.clone()></iframe>
                </details>
            })}
            {(r.kind == "run").then(|| {
                let out = r.render.output.clone();
                let is_plan = out.lines().next().is_some_and(|l| l.contains(" SCAN ") || l.contains(" SEARCH ") || l.contains(" USE TEMP "));
                if is_plan {
                    view! { <PlanView text=out/> }.into_any()
                } else {
                    view! { <pre class="shell-output" data-testid="shell-output">{out}</pre> }.into_any()
                }
            })}
            {(!r.render.queries.is_empty()).then(|| view! { <QueryLog report=r.render.clone()/> })}
        </div>
    }
}

/// `2 s`, `0.25 s`.
fn seconds(s: f64) -> String {
    format!("{} s", protocol::short_seconds(s))
}

/// Where a step sat on the lab's virtual clock: when it started and ended, the time it slept
/// (`time.sleep`) and waited for the database's write lock, and what held the lock.
#[component]
fn ClockLine(span: protocol::Span) -> impl IntoView {
    let s = span;
    let time_of = |t: &str| t.rsplit(' ').next().unwrap_or(t).to_string();
    let mut parts = vec![format!("{} → {} ({})", time_of(&s.started), time_of(&s.finished), seconds(s.elapsed_s))];
    if let Some(d) = s.into_previous {
        parts.push(format!("started {} into the previous request", seconds(d)));
    }
    if s.slept_s > 0.0 {
        parts.push(format!("slept {}", seconds(s.slept_s)));
    }
    parts.push(format!("waited {} for the write lock", seconds(s.waited_s)));
    let waited = s.waited_s > 0.0;
    view! {
        <div class="clock-line" class:waited=waited data-testid="clock-line" data-waited=s.waited_s.to_string()>
            <p>"On the lab's clock: "{parts.join(" · ")}</p>
            {s.note.map(|n| view! { <p class="lock-note" data-testid="lock-note">{n}</p> })}
        </div>
    }
}

/// `explain()` output with the words that matter marked: a full scan, an index search, a sort.
#[component]
pub fn PlanView(text: String) -> impl IntoView {
    view! {
        <pre class="plan" data-testid="plan">
            {text.lines().map(|line| {
                // Django's explain() rows (`2 0 0 SCAN t`) or a plan tree (`  SCAN t`).
                let word = |w: &str| line.split_whitespace().any(|x| x == w);
                let class = if word("SCAN") && !line.contains("COVERING INDEX") {
                    "plan-line scan"
                } else if line.contains("USE TEMP B-TREE") {
                    "plan-line sort"
                } else if word("SEARCH") || line.contains("COVERING INDEX") {
                    "plan-line search"
                } else {
                    "plan-line"
                };
                view! { <span class=class>{line.to_string()}</span>"\n" }
            }).collect_view()}
        </pre>
    }
}

/// What the step asked the cache, and what the cache holds afterwards (with the seconds each
/// entry has left on the virtual clock).
#[component]
fn CachePanel(report: StepReport) -> impl IntoView {
    let r = report;
    view! {
        <div class="cache-panel" data-testid="cache-panel">
            {r.cache_state.clone().map(|s| view! { <p data-testid="cache-state" class=format!("cache-state {s}")>{match s.as_str() {
                "hit" => "Cache hit: the response came from the cache.".to_string(),
                "stale" => "Stale: the cache answered, but the data changed since it was stored — the page computed now would differ.".to_string(),
                _ => "Cache miss: computed, then stored.".to_string(),
            }}</p> })}
            {(!r.cache_calls.is_empty()).then(|| view! {
                <details open>
                    <summary>{format!("{} cache call{}", r.cache_calls.len(), if r.cache_calls.len() == 1 { "" } else { "s" })}</summary>
                    <ol class="cache-calls" data-testid="cache-calls">
                        {r.cache_calls.iter().map(|c| view! {
                            <li data-op=c.op.clone()><code>{format!("cache.{}", c.op)}</code>" "<code class="key">{c.key.clone()}</code>
                                {c.hit.map(|h| view! { <span class=if h { "hit" } else { "miss" }>{if h { " → hit" } else { " → miss" }}</span> })}
                            </li>
                        }).collect_view()}
                    </ol>
                </details>
            })}
            <table class="cache-keys" data-testid="cache-keys">
                <caption>{format!("In the cache after this step: {} key{}", r.cache_keys.len(), if r.cache_keys.len() == 1 { "" } else { "s" })}</caption>
                <tbody>
                    {r.cache_keys.iter().map(|(k, ttl)| view! {
                        <tr data-testid="cache-key"><td><code>{k.clone()}</code></td>
                            <td>{match ttl { Some(t) => format!("expires in {t:.0} s"), None => "never expires".to_string() }}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
