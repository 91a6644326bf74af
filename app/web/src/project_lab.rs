//! A lab that is a small Django project: file tabs the learner edits (`views.py`, templates,
//! `tests.py`), an address bar with a user picker, a shell line, "Run tests", the virtual
//! clock, and a history of every step with its query log.
//!
//! Edits are sent to the worker (`Request::Project`) before the next step, which re-imports
//! `views.py` — as Django's development server reloads on a code change (the cache and the
//! clock start over too).

use leptos::prelude::*;
use protocol::lesson::{Attempt, ProjectLab, Toggle};
use protocol::{ErrorInfo, LabRun, Step, StepKind, StepReport, TestOutcome};

use crate::editor::{follow, EditorKey, EditorKeys, Highlighted};
use crate::highlight::Lang;
use protocol::lesson::Lab;
use protocol::share::{Current, LabState};

use crate::results::{Panel, Tab, TabBar, Tabs};
use crate::{QueryLog, Shared, DEFAULT_SIZE};

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
    /// Where in `history` the learner's current data begins (a seed, a reset, a timeline run):
    /// the shell lines after it wrote to this data.
    pub data_since: usize,
    /// The load that starts a timeline on fresh data, until it is answered.
    pub fresh_load: Option<u64>,
}

impl ProjectState {
    /// The steps since the project was last loaded (what a share link replays).
    pub fn steps_since_load(&self) -> Vec<Step> {
        self.steps.iter().skip(self.session_start).flatten().cloned().collect()
    }

    /// The shell lines run on the current data (lost when the engine restarts and reseeds).
    pub fn shell_lines_since_data(&self) -> Vec<String> {
        self.steps
            .iter()
            .skip(self.data_since)
            .flatten()
            .chain(self.sent.iter().map(|(_, s)| s))
            .filter_map(|s| match s {
                Step::Run { code, .. } => Some(code.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Sample users a request can be sent as (the seed's usernames).
const USERS: [&str; 5] = ["user001", "user002", "user006", "user010", "user020"];

#[component]
pub fn ProjectLabView(lab: ProjectLab, slug: String, sig: LabSignals, replay: Vec<Step>, wanted: (u32, Option<u32>)) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let files = sig.files;
    let active = RwSignal::new(0usize);
    let dirty = RwSignal::new(true);
    let url = RwSignal::new(lab.requests.first().cloned().unwrap_or_else(|| "/".to_string()));
    let user = RwSignal::new(String::new());
    // Server processes (a lab with `workers: 2` has a picker): which one answers the request,
    // and runs the shell line.
    let workers = lab.workers;
    let worker = RwSignal::new(1u8);
    let pick_worker = move || (workers > 1).then(|| worker.get_untracked());
    let shell = RwSignal::new(lab.shell.first().cloned().unwrap_or_default());
    // A click on the lesson's prose: fill the address bar, or tick the toggle it names (as a
    // click on its checkbox does, so the lab reacts the same way).
    let toggle_labels: Vec<String> = lab.toggles.iter().map(|t| t.label().to_string()).collect();
    Effect::new(move |_| {
        let Some(action) = shared.action.get() else { return };
        shared.action.set(None);
        match action {
            crate::prose::Action::Fill(line) => url.set(line),
            crate::prose::Action::Shell(line) => shell.set(line),
            crate::prose::Action::Toggle(label) => {
                let Some(i) = toggle_labels.iter().position(|l| *l == label) else { return };
                let input = web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| d.get_element_by_id(&format!("toggle-{i}")))
                    .and_then(|e| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlInputElement>(e).ok());
                if let Some(input) = input.filter(|i| !i.checked()) {
                    input.click();
                }
            }
        }
    });
    let lab_sv = StoredValue::new(lab.clone());
    let slug = StoredValue::new(slug);
    let active_migrations = sig.migrations;
    // The project an attempt runs (its files, the lesson's and the ticked migrations).
    let spec_of = move |a: &Attempt| lab_sv.with_value(|l| l.spec(a));
    let attempt = move || Attempt { files: files.get_untracked(), migrations: active_migrations.get_untracked() };

    // Sends the project if it changed since the worker last saw it (or `fresh`: on fresh data,
    // a timeline), then the steps; the ids.
    let send_steps = move |steps: Vec<Step>, reload: bool, fresh: bool| -> Vec<u64> {
        if !shared.state.get_untracked().ready {
            return vec![];
        }
        let mut ids = Vec::new();
        let mut fresh_id = None;
        shared.engine.with_value(|e| {
            let Some(e) = e else { return };
            if reload || fresh || dirty.get_untracked() || !shared.project.get_untracked().loaded {
                let id = e.load(spec_of(&attempt()), fresh, Some(slug.get_value()));
                ids.push(id);
                if fresh {
                    fresh_id = Some(id);
                }
                dirty.set(false);
            }
            let first = ids.len();
            for s in &steps {
                ids.push(e.step(s.clone()));
            }
            shared.project.update(|p| {
                p.sent.extend(ids[first..].iter().copied().zip(steps));
                if fresh_id.is_some() {
                    p.fresh_load = fresh_id;
                }
            });
        });
        shared.project.update(|p| p.pending.extend(ids.iter().copied()));
        ids
    };
    let send = move |step: Option<Step>| {
        send_steps(step.into_iter().collect(), false, false);
    };
    // The address bar takes a path (a GET) or a request line of the timeline's syntax:
    // `POST /tags/new/ with name=x follow`, `GET / header User-Agent=mobile`.
    let get_step = move || {
        let u = user.get_untracked();
        let text = url.get_untracked();
        let login = if u.is_empty() { None } else { Some(u) };
        match protocol::timeline::parse(&text).ok().as_deref() {
            Some([Step::Get { url, user: typed_user, http, .. }]) => {
                Step::Get { url: url.clone(), user: typed_user.clone().or(login), worker: pick_worker(), into_previous: None, http: http.clone() }
            }
            _ => Step::Get { url: text, user: login, worker: pick_worker(), into_previous: None, http: None },
        }
    };
    let autorun = lab.autorun;
    // A fresh database (first load, new size, reset) gets the project again (and, in a lab
    // that runs itself, its request); a share link's steps replay once the database has the
    // link's size.
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
            send_steps(steps, true, false);
        } else if autorun {
            send(Some(get_step()));
        } else {
            send(None);
        }
    });

    let send_get = move || send(Some(get_step()));
    let run_shell = move || send(Some(Step::Run { code: shell.get_untracked(), worker: pick_worker() }));
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
            // Every run starts from fresh data, an empty cache and the clock at its start.
            send_steps(steps, true, true);
        }
        Err(e) => script_error.set(Some(format!("Timeline, {e}"))),
    };

    // The toggles that are on, as the line names of charts and comparisons say them.
    let toggles_on = move || -> Vec<String> {
        let a = attempt();
        lab_sv.with_value(|l| l.toggles.iter().filter(|t| t.is_on(&l.toggles, &a)).map(|t| t.label().to_string()).collect())
    };
    let unchanged = move || lab_sv.with_value(|l| l.files == files.get_untracked()) && active_migrations.with_untracked(|m| m.is_empty());
    let size_now = move || {
        let st = shared.state.get_untracked();
        (st.articles, st.tasks)
    };

    // Growth with data size: the address bar's request on fresh data of each size.
    let (growth_kind, growth_sizes) = if lab.task_sizes.is_empty() { ("articles", crate::SIZES.to_vec()) } else { ("tasks", lab.task_sizes.clone()) };
    let has_growth = !lab.sweeps.iter().any(|s| s.seed.is_some());
    let growth_choices = vec![crate::growth::Choice { label: format!("{growth_kind} in the database"), x_label: format!("{growth_kind} in the database"), values: growth_sizes, ranged: true }];
    let growth_name = Callback::new(move |_: usize| format!("{} · {}", url.get_untracked(), crate::chart::code_name(toggles_on(), unchanged())));
    let growth_point = Callback::new(move |(_, n): (usize, u32)| {
        let run = LabRun { project: spec_of(&attempt()), steps: vec![get_step()] };
        let size = if growth_kind == "tasks" { (shared.state.get_untracked().articles, Some(n)) } else { (n, None) };
        Some((run, size))
    });

    // The lesson's sweeps: a page number, a data size, or a keyset page opened by the cursor a
    // shell line prints.
    let sweeps = StoredValue::new(lab.sweeps.clone());
    let has_sweeps = !lab.sweeps.is_empty();
    let sweep_choices: Vec<crate::growth::Choice> = lab.sweeps.iter().map(|sw| crate::growth::Choice { label: sw.label.clone(), x_label: sw.x_label.clone(), values: sw.values.clone(), ranged: false }).collect();
    let sweep_name = Callback::new(move |i: usize| {
        let base = crate::chart::code_name(toggles_on(), unchanged());
        match sweeps.with_value(|s| s.get(i).and_then(|s| s.series.clone())) {
            Some(line) => format!("{line}: {base}"),
            None => base,
        }
    });
    let sweep_point = Callback::new(move |(i, n): (usize, u32)| {
        let sw = sweeps.with_value(|s| s.get(i).cloned())?;
        let url = sw.url.replace("{n}", &n.to_string()).replace("{cursor}", "{output}");
        let get = Step::Get { url, user: None, worker: None, into_previous: None, http: None };
        let steps = match &sw.cursor {
            Some(code) => vec![Step::Run { code: code.replace("{n}", &n.to_string()), worker: None }, get],
            None => vec![get],
        };
        let (articles, tasks) = size_now();
        let size = match sw.seed.as_deref() {
            Some("tasks") => (articles, Some(n)),
            Some(_) => (n, None),
            None => (articles, tasks),
        };
        Some((LabRun { project: spec_of(&attempt()), steps }, size))
    });

    // The error of the last load or step, when it points into one of the lab's files:
    // (file, line, column, the message's telling line).
    let file_error = Memo::new(move |_| {
        let e = shared.project.with(|p| p.load_error.clone().or_else(|| p.history.last().and_then(|r| r.error.clone())))?;
        let src = e.source.clone()?;
        let file = files.with(|fs| fs.iter().map(|(n, _)| n.clone()).find(|n| *n == src))?;
        let msg = e.message.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("System check identified") && *l != "ERRORS:").unwrap_or("").to_string();
        Some((file, e.line.unwrap_or(1), e.col.unwrap_or(1), format!("{}: {msg}", e.kind)))
    });

    // Compare: the current request with one toggle off (A) and on (B), the rest as it stands.
    let compare_choices: Vec<String> = lab.toggles.iter().map(|t| t.label().to_string()).collect();
    let make_compare = Callback::new(move |i: usize| {
        let steps = vec![get_step()];
        let t = lab_sv.with_value(|l| l.toggles.get(i).cloned())?;
        let all = lab_sv.with_value(|l| l.toggles.clone());
        let (mut off, mut on) = (attempt(), attempt());
        t.apply(&all, &mut off, false);
        t.apply(&all, &mut on, true);
        Some((LabRun { project: spec_of(&off), steps: steps.clone() }, LabRun { project: spec_of(&on), steps }))
    });
    let has_compare = !compare_choices.is_empty();
    let all_toggles = StoredValue::new(lab.toggles.clone());
    // The result tabs this lab has; a step answered or picked brings its own tab forward.
    let mut tab_list = vec![Tab::Response, Tab::Sql, Tab::Cache, Tab::Profile];
    for (has, t) in [(has_tests, Tab::Tests), (has_timeline, Tab::Timeline), (has_sweeps, Tab::Chart), (has_compare, Tab::Compare), (has_growth, Tab::Growth)] {
        if has {
            tab_list.push(t);
        }
    }
    let tabs = slug.with_value(|s| Tabs::new(s, tab_list));
    provide_context(tabs);
    provide_context(crate::profile::Baseline(RwSignal::new(None)));
    // Which step the detail shows: (selected, answers).
    let shown = Memo::new(move |_| shared.project.with(|p| (p.selected, p.answers)));
    // The selected step's per-line profile, for the editors' gutter bars.
    let profiled = Memo::new(move |_| shared.project.with(|p| p.selected.and_then(|i| p.history.get(i)).map(|r| r.lines.clone()).unwrap_or_default()));
    Effect::new(move |prev: Option<(Option<usize>, u64)>| {
        let key = shown.get();
        let kind = shared.project.with_untracked(|p| key.0.and_then(|i| p.history.get(i)).map(|r| r.kind));
        if let (Some(prev), Some(kind)) = (prev, kind) {
            if prev != key {
                tabs.follow(kind);
            }
        }
        key
    });

    view! {
        <div class="project-lab">
            // The address bar and the last request's numbers stay in view while the learner
            // scrolls the editors and results (position: sticky).
            <div class="lab-bar" data-testid="lab-bar">
            <div class="request-bar">
                    <label>{move || if protocol::METHODS.iter().any(|m| url.get().trim_start().starts_with(&format!("{m} "))) { "" } else { "GET " }}
                        <input data-testid="url" list="lab-urls" size="40" prop:value=move || url.get()
                            title="a path (sent as GET), or a request line: POST /tags/new/ with name=x&slug=x follow, GET / header User-Agent=mobile"
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
                <LastRequest/>
            </div>
            <div class="lab-controls">
                {lab.toggles.iter().cloned().enumerate().map(|(i, t)| {
                    let id = format!("toggle-{i}");
                    let for_id = id.clone();
                    let label = t.label().to_string();
                    let is_migration = matches!(t, Toggle::Migration(_));
                    let t2 = t.clone();
                    let checked = Signal::derive(move || {
                        let a = Attempt { files: files.get(), migrations: active_migrations.get() };
                        all_toggles.with_value(|all| t.is_on(all, &a))
                    });
                    view! {
                        <label class="toggle" class:migration=is_migration for=for_id>
                            <input type="checkbox" id=id data-testid="toggle" data-kind=if is_migration { "migration" } else { "file" } prop:checked=checked
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    let mut a = attempt();
                                    all_toggles.with_value(|all| t2.apply(all, &mut a, on));
                                    files.set(a.files);
                                    active_migrations.set(a.migrations);
                                    dirty.set(true);
                                    // A lab that runs itself sends its request again; a
                                    // migration shows what makemigrations writes at once.
                                    if autorun {
                                        send(Some(get_step()));
                                    } else if is_migration {
                                        send(None);
                                    }
                                }/>
                            <code>{label}</code>
                        </label>
                    }
                }).collect_view()}
            </div>
            {move || {
                let m = shared.project.with(|p| p.migrations.clone());
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
                    <div class="code-wrap" class:profiled={
                        let name = name.clone();
                        move || profiled.with(|l| l.iter().any(|x| x.file == name))
                    }>
                    <Highlighted lang=Lang::of_file(&name) text=live heat=Signal::derive({
                        let name = name.clone();
                        move || profiled.with(|l| crate::profile::heat(l, &name))
                    })/>
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
            <div class="shell-bar">
                <label>">>> "
                    <input data-testid="shell" list="lab-shell" size="50" spellcheck="false" aria-label="Shell line (python manage.py shell); Enter runs it" prop:value=move || shell.get()
                        on:input=move |ev| shell.set(event_target_value(&ev))
                        on:keydown=move |ev| if ev.key() == "Enter" { run_shell() }/>
                </label>
                <datalist id="lab-shell">{shell_lines.into_iter().map(|r| view! { <option value=r/> }).collect_view()}</datalist>
                <button data-testid="run-shell" on:click=move |_| run_shell()>"Run"</button>
                {(workers > 1).then(|| view! { <span class="muted" data-testid="shell-worker">{move || format!(" in worker {}", worker.get())}</span> })}
                {has_tests.then(|| view! {
                    <button data-testid="run-tests" on:click=move |_| send(Some(Step::Test { file: "tests.py".into() }))>"Run tests"</button>
                })}
            </div>
            <div class="clock-bar">
                <span>"Clock: "<span data-testid="clock">{move || shared.project.with(|p| p.clock.clone())}</span></span>
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
            <StepHistory/>
            // The selected step's summary, then the tab bar, then the chosen panel (the step's
            // panels live inside its detail; CSS orders them around the bar).
            <div class="results">
                {move || shared.project.with(|p| p.load_error.clone()).map(|e| view! { <div class="step-summary"><ErrorBox error=e/></div> })}
                {move || {
                    // Built again only for another step or a new answer (not when a request is
                    // sent, which changes the project state too).
                    let (selected, answers) = shown.get();
                    let r = shared.project.with_untracked(|p| selected.and_then(|i| p.history.get(i).cloned()));
                    match r {
                        Some(r) => view! { <StepDetail report=r answers=answers/> }.into_any(),
                        None => view! {
                            <p class="muted result-empty" hidden=move || !tabs.chosen.get().of_step()>"Nothing sent yet: Send a request, run a shell line or the tests."</p>
                        }.into_any(),
                    }
                }}
                <TabBar tabs=tabs/>
                {has_timeline.then(|| view! {
                    <Panel tabs=tabs tab=Tab::Timeline>
                        <div class="timeline-editor">
                            <p class="muted">"Timeline: one step per line — "<code>"GET /url/"</code>" (or "<code>"… as user001"</code>", "<code>"… on worker 2"</code>", "<code>"…, 1 s into the previous"</code>"), "
                                <code>">>> code"</code>", "<code>"+61 s"</code>", "<code>"run tests"</code></p>
                            <textarea class="code" rows="6" spellcheck="false" data-testid="timeline-script" aria-label="Timeline steps"
                                aria-description="Ctrl+Enter runs the timeline"
                                prop:value=move || script.get() on:input=move |ev| script.set(event_target_value(&ev))
                                on:keydown=move |ev| if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) { ev.prevent_default(); run_timeline() }/>
                            <button data-testid="run-timeline" title="Reload the data and the project (empty cache, clock at its start) and replay these steps"
                                on:click=move |_| run_timeline()>"Run the timeline"</button>
                            <span class="muted">" Every run starts from fresh data, an empty cache and the clock at its start."</span>
                            {move || script_error.get().map(|e| view! { <p class="error" role="alert" data-testid="timeline-error">{e}</p> })}
                        </div>
                        <TimelineStrip/>
                    </Panel>
                })}
                {has_sweeps.then(|| view! {
                    <Panel tabs=tabs tab=Tab::Chart>
                        <crate::growth::GrowthPanel prefix="sweep" title="Growth chart".to_string() choices=sweep_choices name=sweep_name point=sweep_point/>
                    </Panel>
                })}
                {has_compare.then(|| view! { <Panel tabs=tabs tab=Tab::Compare><crate::compare::ComparePanel choices=compare_choices make=make_compare/></Panel> })}
                {has_growth.then(|| view! {
                    <Panel tabs=tabs tab=Tab::Growth>
                        <crate::growth::GrowthPanel prefix="growth" title=format!("Growth with data size ({growth_kind})") choices=growth_choices name=growth_name point=growth_point/>
                    </Panel>
                })}
            </div>
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

/// The steps since the project was last loaded, as a row of boxes: each request marked by the
/// cache layer that answered (HIT is the page cache; FRAGMENT HIT, VALUE MISS, … the others)
/// or STALE (red), with its queries and time; writes and clock moves between them.
#[component]
fn TimelineStrip() -> impl IntoView {
    let shared = expect_context::<Shared>();
    let steps = shown_steps(shared);
    view! {
        <ol class="timeline" data-testid="timeline" aria-label="Timeline since the project was loaded">
            // `get`, not `track`: a memo nobody has read yet follows no signal.
            {move || { let _ = steps.get(); shared.project.with_untracked(|p| {
                let start = p.session_start.min(p.history.len());
                // "UNCACHED" only means something once some request of the session used the cache.
                let caching = p.history[start..].iter().any(|r| r.cache.is_some());
                p.history[start..].iter().enumerate().map(|(k, r)| {
                    let i = start + k;
                    let sel = p.selected == Some(i);
                    let (state, badge) = match (r.kind, r.cache) {
                        (StepKind::Get, Some(c)) => (c.name(), c.badge()),
                        (StepKind::Get, None) if caching => ("uncached".to_string(), "UNCACHED".to_string()),
                        _ => (String::new(), String::new()),
                    };
                    let head = match r.kind {
                        StepKind::Get | StepKind::Advance => r.label.clone(),
                        StepKind::Test => "tests".to_string(),
                        StepKind::Run => ">>> write / shell".to_string(),
                    };
                    let numbers = match r.kind {
                        StepKind::Advance => r.clock.clone(),
                        StepKind::Test => tests_line(&r.tests),
                        _ if r.error.is_some() => "error".to_string(),
                        _ => format!("{} · {}", protocol::count(r.render.n_queries, "query", "queries"), protocol::short_ms(r.render.request_ms)),
                    };
                    let numbers = match r.span.as_ref().filter(|s| s.waited_s > 0.0) {
                        Some(s) => format!("{numbers} · waited {}", seconds(s.waited_s)),
                        None => numbers,
                    };
                    let title = if r.kind == StepKind::Run { r.label.clone() } else { String::new() };
                    let class = format!("tl-step {} {}", r.kind.as_str(), state.replace(' ', "-"));
                    view! {
                        <li data-testid="timeline-step" data-kind=r.kind.as_str() data-state=state.clone() class=class class:selected=sel title=title>
                            <button on:click=move |_| shared.project.update(|p| p.selected = Some(i))>
                                <span class="tl-head">{head}</span>
                                <span class="tl-numbers">{numbers}</span>
                                {(!badge.is_empty()).then(|| view! { <span class="tl-state">{badge}</span> })}
                            </button>
                        </li>
                    }
                }).collect_view()
            })}}
        </ol>
    }
}

/// The last request at a glance, as the debug toolbar's bar shows it: status, queries, time,
/// rows read and what the cache did.
#[component]
fn LastRequest() -> impl IntoView {
    let shared = expect_context::<Shared>();
    // One element whose contents follow the newest request (the element itself stays: a
    // reader holding it, a screen reader or a test, never finds it replaced).
    let last = Memo::new(move |_| shared.project.with(|p| p.history.iter().rev().find(|r| r.kind == StepKind::Get).cloned()));
    view! {
        <p class="last-request" class:muted=move || last.with(|l| l.is_none()) data-testid="last-request"
            title=move || last.with(|l| l.as_ref().map(|r| r.label.clone()).unwrap_or_default())>
            {move || match last.get() {
                None => view! { <span>"No request yet: Send one."</span> }.into_any(),
                Some(r) => {
                    let rows_read: u64 = r.render.queries.iter().map(|q| q.rows_read).sum();
                    let cache = r.cache.map(|c| c.badge().to_string());
                    view! {
                        <span class="lr-status" data-testid="bar-status">{r.status.map(|s| s.to_string()).unwrap_or_else(|| "error".into())}</span>
                        <span><b data-testid="bar-queries">{r.render.n_queries}</b>{if r.render.n_queries == 1 { " query" } else { " queries" }}</span>
                        <span><b data-testid="bar-ms">{format!("{:.2}", r.render.request_ms)}</b>" ms"</span>
                        <span><b>{protocol::group_digits(rows_read)}</b>" rows read"</span>
                        {cache.map(|c| view! { <span class="cache-badge" data-testid="bar-cache">{c}</span> })}
                    }
                    .into_any()
                }
            }}
        </p>
    }
}

/// What the step lists show changes only with these (sending a request changes the project
/// state too, and must not rebuild them): the number of steps, the selected one, where the
/// session starts.
fn shown_steps(shared: Shared) -> Memo<(usize, Option<usize>, usize)> {
    Memo::new(move |_| shared.project.with(|p| (p.history.len(), p.selected, p.session_start)))
}

/// `2 passed of 3`.
fn tests_line(tests: &[protocol::TestInfo]) -> String {
    format!("{} passed of {}", tests.iter().filter(|t| t.outcome == TestOutcome::Pass).count(), tests.len())
}

/// Every step so far, newest last; the selected one (the newest by default) in full.
#[component]
fn StepHistory() -> impl IntoView {
    let shared = expect_context::<Shared>();
    let steps = shown_steps(shared);
    view! {
        <ol class="history" data-testid="history">
            // `get`, not `track`: a memo nobody has read yet follows no signal.
            {move || { let _ = steps.get(); shared.project.with_untracked(|p| {
                p.history.iter().enumerate().map(|(i, r)| {
                    let sel = p.selected == Some(i);
                    let summary = match r.kind {
                        StepKind::Get => format!("{} → {} · {} · {}", r.label, r.status.map(|s| s.to_string()).unwrap_or_else(|| "error".into()), protocol::count(r.render.n_queries, "query", "queries"), protocol::short_ms(r.render.request_ms)),
                        StepKind::Advance => format!("{} → {}", r.label, r.clock),
                        StepKind::Test => format!("{} → {}", r.label, tests_line(&r.tests)),
                        StepKind::Run => format!(">>> {} · {}", r.label, protocol::count(r.render.n_queries, "query", "queries")),
                    };
                    let summary = match r.span.as_ref().filter(|s| s.elapsed_s > 0.0) {
                        Some(s) => format!("{summary} · {} on the clock", seconds(s.elapsed_s)),
                        None => summary,
                    };
                    let state = r.cache.map(|c| c.name()).unwrap_or_default();
                    let badge = r.cache.map(|c| {
                        let class = format!("cache-badge {}", c.name().replace(' ', "-"));
                        view! { <span class=class title=c.sentence()>{c.badge()}</span> }
                    });
                    view! {
                        <li data-testid="history-step" data-kind=r.kind.as_str() data-state=state class:selected=sel>
                            <button on:click=move |_| shared.project.update(|p| p.selected = Some(i))>{summary}" "{badge}</button>
                        </li>
                    }
                }).collect_view()
            })}}
        </ol>
    }
}

/// The selected step: its numbers, goals and warnings always in view, then its panels
/// (Response, SQL, Cache, Tests) under the tab bar.
#[component]
fn StepDetail(report: StepReport, answers: u64) -> impl IntoView {
    let tabs = expect_context::<Tabs>();
    let r = report;
    let is_get = r.kind == StepKind::Get;
    let is_test = r.kind == StepKind::Test;
    let rows: usize = r.render.queries.iter().map(|q| q.rows).sum();
    let rows_read: u64 = r.render.queries.iter().map(|q| q.rows_read).sum();
    let has_tests_tab = tabs.list.with_value(|l| l.contains(&Tab::Tests));
    let stdout = (!r.stdout.is_empty()).then(|| view! { <pre class="stdout" data-testid="stdout">{r.stdout.clone()}</pre> });
    let (stdout_here, stdout_tests) = if is_test && has_tests_tab { (None, stdout) } else { (stdout, None) };
    let has_cache = r.cache.is_some() || !r.cache_calls.is_empty() || !r.cache_keys.is_empty();
    let response = view! {
        {(!r.headers.is_empty()).then(|| view! {
            <dl class="headers" data-testid="headers">
                {r.headers.iter().map(|(k, v)| view! { <dt>{k.clone()}</dt><dd>{v.clone()}</dd> }).collect_view()}
            </dl>
        })}
        {stdout_here}
        {(is_get && r.error.is_none()).then(|| view! {
            <iframe class="response" sandbox="" title="Response" srcdoc=r.render.output.clone()></iframe>
        })}
        {(r.kind == StepKind::Run).then(|| {
            let out = r.render.output.clone();
            let is_plan = out.lines().next().is_some_and(|l| l.contains(" SCAN ") || l.contains(" SEARCH ") || l.contains(" USE TEMP "));
            if is_plan {
                view! { <PlanView text=out/> }.into_any()
            } else {
                view! { <pre class="shell-output" data-testid="shell-output">{out}</pre> }.into_any()
            }
        })}
        {matches!(r.kind, StepKind::Advance | StepKind::Test).then(|| view! {
            <p class="muted">{if is_test { "Running the tests sends no request: their results are under Tests." } else { "Moving the clock sends no request." }}</p>
        })}
    };
    let sql = view! {
        {if r.render.queries.is_empty() {
            view! { <p class="muted">"This step sent no query."</p> }.into_any()
        } else {
            let q = &r.render;
            let similar: usize = q.groups.iter().map(|g| g.count).sum();
            let dups = q.queries.iter().filter(|x| x.duplicate).count();
            // As Django Debug Toolbar's SQL panel heads its list.
            let head = format!(
                "{} in {:.2} ms · {}{} · {}",
                protocol::count(q.n_queries, "query", "queries"),
                q.sql_ms,
                protocol::count(q.groups.len(), "group of similar queries", "groups of similar queries"),
                if similar > 0 { format!(" ({similar} queries)") } else { String::new() },
                protocol::count(dups, "duplicate", "duplicates")
            );
            view! { <p class="sql-summary" data-testid="sql-summary">{head}</p><QueryLog report=r.render.clone()/> }.into_any()
        }}
    };
    let cache = view! {
        {if has_cache {
            view! { <CachePanel report=r.clone()/> }.into_any()
        } else {
            view! { <p class="muted">"This step did not use the cache."</p> }.into_any()
        }}
    };
    let profile = view! { <crate::profile::ProfilePanel report=r.clone()/> };
    // The chosen panel is built with the summary; the hidden ones a task later, so the answer
    // shows without waiting for panels nobody looks at yet (one long task split in two).
    let later = RwSignal::new(false);
    set_timeout(move || later.set(true), std::time::Duration::ZERO);
    let when_shown = move |tab: Tab, content: AnyView| {
        // Once shown, always shown: the content is built once.
        let shown = Memo::new(move |was: Option<&bool>| was.copied().unwrap_or(false) || later.get() || tabs.chosen.get() == tab);
        let slot = StoredValue::new_local(Some(content));
        move || shown.get().then(|| slot.try_update_value(Option::take).flatten()).flatten()
    };
    let tests = has_tests_tab.then(|| view! {
        {if is_test {
            view! {
                <ul class="tests" data-testid="tests">
                    {r.tests.iter().map(|t| view! {
                        <li data-testid="test-result" data-outcome=t.outcome.as_str() class=t.outcome.as_str()>
                            <strong>{t.outcome.as_str().to_uppercase()}</strong>" "<code>{t.name.clone()}</code>
                            {(!t.detail.is_empty()).then(|| view! { <pre>{t.detail.clone()}</pre> })}
                        </li>
                    }).collect_view()}
                </ul>
            }.into_any()
        } else {
            view! { <p class="muted">"The selected step is not a test run: press Run tests, or pick a test run in the history."</p> }.into_any()
        }}
        {stdout_tests}
    });
    view! {
        <div class="step-detail" data-testid="step-detail" data-run=answers.to_string() data-kind=r.kind.as_str()>
            <div class="step-summary">
                {(r.kind != StepKind::Advance).then(|| view! {
                    <div class="metrics" data-testid="metrics" data-run=answers.to_string()>
                        {r.status.map(|s| view! { <div><span class="big" data-testid="status">{s}</span>" status"</div> })}
                        <div><span class="big" data-testid="query-count">{r.render.n_queries}</span>{if r.render.n_queries == 1 { " query" } else { " queries" }}</div>
                        <div title="X-Request-Duration-Ms"><span class="big" data-testid="request-ms">{format!("{:.2}", r.render.request_ms)}</span>" ms"</div>
                        <div><span class="big" data-testid="sql-ms">{format!("{:.2}", r.render.sql_ms)}</span>" ms in SQL"</div>
                        <div><span class="big" data-testid="rows-fetched">{rows}</span>{if rows == 1 { " row fetched" } else { " rows fetched" }}</div>
                        <div><span class="big" data-testid="rows-read-total">{protocol::group_digits(rows_read)}</span>" read"</div>
                    </div>
                })}
                {r.goals.iter().map(|g| view! {
                    <p class=if g.met { "goal met" } else { "goal" } data-testid="goal" data-met=g.met.to_string()>
                        {if g.met { "✔ Within the goal's budget: " } else { "✘ Over the goal's budget: " }}{crate::markdown::inline(&g.message)}
                        <span class="muted">" (Check my solution also compares the page with the lesson's.)"</span>
                    </p>
                }).collect_view()}
                {is_get.then(|| crate::timing_note(&r.render.timing))}
                {r.span.clone().map(|s| view! { <ClockLine span=s/> })}
                {r.error.clone().map(|e| view! { <ErrorBox error=e/> })}
                {r.warnings.iter().map(|w| view! { <p class="warning" data-testid="warning">{w.clone()}</p> }).collect_view()}
                {r.render.groups.iter().filter_map(|g| g.n_plus_one.clone()).map(|n| view! { <p class="n-plus-one" data-testid="n-plus-one">{"N+1: "}{crate::markdown::inline(&n)}</p> }).collect_view()}
                {r.render.unbounded.iter().map(|u| view! { <p class="warning unbounded" data-testid="unbounded-warning">{u.clone()}</p> }).collect_view()}
            </div>
            <Panel tabs=tabs tab=Tab::Response>{when_shown(Tab::Response, response.into_any())}</Panel>
            <Panel tabs=tabs tab=Tab::Sql>{when_shown(Tab::Sql, sql.into_any())}</Panel>
            <Panel tabs=tabs tab=Tab::Cache>{when_shown(Tab::Cache, cache.into_any())}</Panel>
            <Panel tabs=tabs tab=Tab::Profile>{when_shown(Tab::Profile, profile.into_any())}</Panel>
            {tests.map(|t| view! { <Panel tabs=tabs tab=Tab::Tests>{when_shown(Tab::Tests, t.into_any())}</Panel> })}
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
            {r.cache.map(|c| view! { <p data-testid="cache-state" data-state=c.name() class=format!("cache-state {}", c.name().replace(' ', "-"))>{c.sentence()}</p> })}
            {(!r.cache_calls.is_empty()).then(|| view! {
                <details open>
                    <summary data-testid="cache-summary">{{
                        // As Django Debug Toolbar's cache panel: the calls, then how many reads hit and missed.
                        let hits = r.cache_calls.iter().filter(|c| c.hit == Some(true)).count();
                        let misses = r.cache_calls.iter().filter(|c| c.hit == Some(false)).count();
                        format!("{}: {hits} hit{}, {}", protocol::count(r.cache_calls.len(), "cache call", "cache calls"), if hits == 1 { "" } else { "s" }, protocol::count(misses, "miss", "misses"))
                    }}</summary>
                    <ol class="cache-calls" data-testid="cache-calls">
                        {r.cache_calls.iter().map(|c| view! {
                            <li data-op=c.op.clone()><code>{format!("cache.{}", c.op)}</code>" "<code class="key">{c.key.clone()}</code>
                                {c.layer.map(|l| view! { <span class="muted">{match l { protocol::CacheLayer::Page => " (page)", protocol::CacheLayer::Fragment => " (fragment)", protocol::CacheLayer::Value => " (value)" }}</span> })}
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

/// Everything the learner can change in a lab.
#[derive(Clone, Copy)]
pub struct LabSignals {
    pub files: RwSignal<Vec<(String, String)>>,
    /// The migration toggles that are on, by their index among the lab's migration toggles.
    pub migrations: RwSignal<Vec<usize>>,
    /// The timeline script's text.
    pub script: RwSignal<String>,
}

impl LabSignals {
    pub(crate) fn new(lab: &Lab, s: &LabState) -> LabSignals {
        let p = lab.project.as_ref();
        LabSignals {
            files: RwSignal::new(p.map(|p| s.apply_files(&p.files)).unwrap_or_default()),
            migrations: RwSignal::new(s.migrations.clone()),
            script: RwSignal::new(s.timeline.clone().unwrap_or_else(|| default_script(lab))),
        }
    }

    /// Shows `s` (the lesson's start for the default state).
    pub(crate) fn show(&self, lab: &Lab, s: &LabState) {
        let fresh = LabSignals::new(lab, s);
        self.files.set(fresh.files.get_untracked());
        self.migrations.set(s.migrations.clone());
        self.script.set(fresh.script.get_untracked());
    }

    /// The learner's attempt as the editors and toggles hold it.
    pub fn attempt(&self) -> Attempt {
        Attempt { files: self.files.get_untracked(), migrations: self.migrations.get_untracked() }
    }

    /// What the page holds now (tracked: an effect calling this re-runs on every edit).
    pub(crate) fn current(&self, shared: Shared) -> Current {
        let st = shared.state.get();
        Current {
            articles: (st.articles != DEFAULT_SIZE).then_some(st.articles),
            tasks: st.tasks,
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
