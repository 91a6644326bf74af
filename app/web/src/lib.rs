//! The single-page app: a lesson list, one page per lesson with its lab, and a not-found page.
//!
//! Routing is by URL hash (`#/lessons/n-plus-one`) so a reload or a fresh tab lands on the same
//! lesson from any static file server. The engine lives in a Web Worker ([`engine_client`]);
//! this crate never links it.

pub mod chart;
pub mod compare;
pub mod editor;
pub mod engine_client;
pub mod exercise;
pub mod growth;
pub mod highlight;
pub mod lesson_page;
pub mod markdown;
pub mod prose;
pub mod profile;
pub mod project_lab;
pub mod quiz;
pub mod results;
pub mod splitter;
pub mod store;

use leptos::prelude::*;
use protocol::{RenderReport, Response};

use engine_client::{EngineClient, Event};

/// Database sizes a learner can pick (articles).
pub const SIZES: [u32; 6] = [50, 200, 1_000, 5_000, 10_000, 100_000];
pub const DEFAULT_SIZE: u32 = 200;

#[derive(Clone, Debug, PartialEq)]
enum Route {
    Home,
    /// A lesson, and the share link's state it was opened with (a new link on the same lesson
    /// opens it again).
    Lesson(String, Option<String>),
    NotFound(String),
}

fn parse_route(hash: &str) -> Route {
    let path = hash.trim_start_matches('#').trim_start_matches('/');
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let link = query.split('&').find_map(|kv| kv.strip_prefix("s=")).map(str::to_string);
    match path.split('/').collect::<Vec<_>>().as_slice() {
        [""] => Route::Home,
        ["lessons"] => Route::Home,
        ["lessons", slug] if course::find(slug).is_some() => Route::Lesson(slug.to_string(), link),
        _ => Route::NotFound(path.to_string()),
    }
}

pub(crate) fn current_hash() -> String {
    window().location().hash().unwrap_or_default()
}

/// The engine's state as the page shows it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct EngineState {
    pub status: String,
    pub ready: bool,
    pub articles: u32,
    /// Tasks asked for when seeding (the indexes lab), `None` for the default.
    pub tasks: Option<u32>,
    pub progress: Option<(u32, u32)>,
    /// A crash or hang that was recovered from.
    pub notice: Option<String>,
}

#[derive(Clone, Copy)]
struct Shared {
    engine: StoredValue<Option<EngineClient>, LocalStorage>,
    state: RwSignal<EngineState>,
    /// Bumped when a fresh database is ready, so the lab re-runs.
    seeded: RwSignal<u64>,
    /// The project lab's state (requests, shell lines, tests).
    project: RwSignal<project_lab::ProjectState>,
    /// The learner's progress (kept in localStorage, see [`store`]).
    progress: RwSignal<protocol::progress::Progress>,
    /// Why progress cannot be kept or was reset, shown once at the top.
    storage_notice: RwSignal<Option<String>>,
    /// The exercise check in flight or done.
    check: RwSignal<exercise::CheckState>,
    /// The A/B comparison in flight or shown.
    compare: RwSignal<compare::CompareState>,
    /// The latest growth-chart point (`growth.rs` matches it to its request).
    measured: RwSignal<Option<(u64, protocol::CompareSide)>>,
    /// Plans the Explain buttons asked for, by request id.
    explained: RwSignal<std::collections::HashMap<u64, String>>,
    /// The last digest of the learner's session (a test hook: checks must not change it).
    fingerprint: RwSignal<Option<(u64, String)>>,
    /// What a click on the lesson's prose asks the lab to do (fill the address bar, tick a
    /// toggle); the lab takes it and clears it.
    action: RwSignal<Option<prose::Action>>,
}

/// Changes one lesson's progress and writes it to storage (a failure becomes the notice).
pub(crate) fn record_progress(shared: Shared, slug: &str, f: impl FnOnce(&mut protocol::progress::LessonProgress)) {
    let mut changed = false;
    shared.progress.update(|p| {
        let before = p.lessons.get(slug).cloned();
        f(store::entry(p, slug));
        changed = p.lessons.get(slug).cloned() != before;
    });
    if changed {
        if let Err(e) = store::save(&shared.progress.get_untracked()) {
            shared.storage_notice.set(Some(e));
        }
    }
}

/// A new database of `articles` (and `tasks`, when given).
pub(crate) fn reseed(shared: Shared, articles: u32, tasks: Option<u32>) {
    shared.state.update(|s| {
        s.ready = false;
        s.tasks = tasks;
        s.status = match tasks {
            Some(t) => format!("Creating {} tasks…", protocol::group_digits(t as u64)),
            None => format!("Creating {} articles…", protocol::group_digits(articles as u64)),
        };
    });
    shared.engine.with_value(|e| {
        if let Some(e) = e {
            e.seed(articles, tasks);
        }
    });
}

#[component]
pub fn App() -> impl IntoView {
    let route = RwSignal::new(parse_route(&current_hash()));
    // A change of page re-renders, and so does another share link on the same lesson.
    let handle = window_event_listener(leptos::ev::hashchange, move |_| {
        let r = parse_route(&current_hash());
        if r != route.get_untracked() {
            route.set(r)
        }
    });
    on_cleanup(move || handle.remove());

    let shared = Shared {
        engine: StoredValue::new_local(None),
        state: RwSignal::new(EngineState { status: "Loading the engine…".into(), articles: DEFAULT_SIZE, ..Default::default() }),
        seeded: RwSignal::new(0),
        project: RwSignal::new(Default::default()),
        progress: RwSignal::new(Default::default()),
        storage_notice: RwSignal::new(None),
        check: RwSignal::new(Default::default()),
        compare: RwSignal::new(Default::default()),
        measured: RwSignal::new(None),
        explained: RwSignal::new(Default::default()),
        fingerprint: RwSignal::new(None),
        action: RwSignal::new(None),
    };
    let (progress, storage_message) = store::load();
    shared.progress.set(progress);
    shared.storage_notice.set(storage_message);
    let client = EngineClient::new(DEFAULT_SIZE, move |ev| on_engine_event(shared, ev));
    shared.engine.set_value(Some(client.clone()));
    provide_context(shared);
    expose_test_hooks(shared, client);
    // The page mounts in two tasks: the header (and the engine's worker, started above) first,
    // the route's page in the next, so neither holds the main thread for long (issue 24, lever 9).
    let started = RwSignal::new(false);
    set_timeout(move || started.set(true), std::time::Duration::ZERO);

    view! {
        <header class="top">
            <a href="#/" class="brand">"Django performance lab"</a>
            <span class="engine-status" data-testid="status" role="status">{move || shared.state.get().status}</span>
            {move || shared.state.get().progress.map(|(done, total)| view! {
                <progress max=total.to_string() value=done.to_string() aria-label="Loading sample data"></progress>
            })}
        </header>
        <main>
            <span hidden=true data-testid="fingerprint">{move || shared.fingerprint.get().map(|(_, d)| d).unwrap_or_default()}</span>
            {move || shared.storage_notice.get().map(|n| view! {
                <p class="notice" role="alert" data-testid="storage-notice">{n}
                    <button class="dismiss" aria-label="Dismiss" on:click=move |_| shared.storage_notice.set(None)>"×"</button>
                </p>
            })}
            {move || if !started.get() { ().into_any() } else { match route.get() {
                Route::Home => view! { <Home/> }.into_any(),
                Route::Lesson(slug, _) => view! { <lesson_page::LessonPage slug=slug/> }.into_any(),
                Route::NotFound(path) => view! { <NotFound path=path/> }.into_any(),
            }}}
        </main>
    }
}

/// Test hooks for the browser tests: `window.djperfCrashEngine()` kills the worker the way a
/// panic would; `window.djperfStallEngine(ms)` keeps it busy without answering (a hang);
/// `window.djperfFingerprint()` asks for a digest of the learner's session, shown in
/// `[data-testid=fingerprint]` (checks and comparisons must leave it as it was).
fn expose_test_hooks(shared: Shared, client: EngineClient) {
    use wasm_bindgen::prelude::*;
    let c = client.clone();
    let crash = Closure::<dyn Fn()>::new(move || c.crash_for_test());
    let _ = js_sys::Reflect::set(&window(), &JsValue::from_str("djperfCrashEngine"), crash.as_ref());
    crash.forget();
    let c = client.clone();
    let stall = Closure::<dyn Fn(f64)>::new(move |ms: f64| {
        c.stall_for_test(ms as u32);
    });
    let _ = js_sys::Reflect::set(&window(), &JsValue::from_str("djperfStallEngine"), stall.as_ref());
    stall.forget();
    let fingerprint = Closure::<dyn Fn()>::new(move || {
        shared.fingerprint.set(None);
        client.fingerprint();
    });
    let _ = js_sys::Reflect::set(&window(), &JsValue::from_str("djperfFingerprint"), fingerprint.as_ref());
    fingerprint.forget();
}

fn on_engine_event(shared: Shared, ev: Event) {
    match ev {
        Event::Restarted(why, lost) => {
            shared.check.update(|c| c.pending = None);
            shared.compare.update(|c| c.pending = None);
            // The data is reloaded: say which of the learner's writes went with it.
            let (shell, in_flight) = shared.project.with_untracked(|p| (p.shell_lines_since_data(), p.sent.iter().filter(|(id, _)| lost.contains(id)).count()));
            shared.project.update(|p| {
                p.pending.clear();
                p.sent.clear();
                p.loaded = false;
            });
            let mut lost_text = String::new();
            if !shell.is_empty() {
                let shown: Vec<String> = shell.iter().take(3).map(|l| format!("`{}`", if l.chars().count() > 60 { format!("{}…", l.chars().take(60).collect::<String>()) } else { l.clone() })).collect();
                lost_text += &format!(
                    " The data was reloaded, so what your shell lines wrote since it was created is gone ({}{}); run them again if you need their effects.",
                    shown.join(", "),
                    if shell.len() > 3 { format!(" and {} more", shell.len() - 3) } else { String::new() }
                );
            } else {
                lost_text += " The data was reloaded.";
            }
            if in_flight > 0 {
                lost_text += &format!(" {} not answered and not done.", protocol::count(in_flight, "request was", "requests were"));
            }
            shared.state.update(|s| {
                s.ready = false;
                s.status = "Restarting the engine…".into();
                s.notice = Some(format!("{why}. A fresh engine was started.{lost_text} Your code is untouched."));
            });
        }
        Event::GaveUp(why) => {
            shared.state.update(|s| {
                s.ready = false;
                s.progress = None;
                s.status = "The engine is not available".into();
                s.notice = Some(why);
            });
        }
        Event::Response(resp) => match resp {
            Response::Ready => shared.state.update(|s| s.status = "Engine loaded; creating the database…".into()),
            Response::Progress { id, done, total } => {
                if shared.check.get_untracked().pending == Some(id) {
                    shared.check.update(|c| c.progress = Some((done, total)));
                } else if !shared.state.get_untracked().ready {
                    // The learner's database being created (a check's or a sweep's data sets
                    // are made apart and report to their own panels).
                    shared.state.update(|s| {
                        s.progress = Some((done, total));
                        s.status = format!("Loading sample data… {}%", done * 100 / total.max(1));
                    })
                }
            }
            Response::Seeded { ms, counts, schema_ms, built_in, .. } => {
                let count = |name: &str| counts.iter().find(|(k, _)| k == name).map(|(_, v)| *v).unwrap_or(0);
                let articles = count("articles") as u32;
                let tasks = count("tasks");
                shared.state.update(|s| {
                    s.ready = true;
                    s.progress = None;
                    s.articles = articles;
                    let size = match s.tasks {
                        Some(_) => format!("{} tasks, {} articles", protocol::group_digits(tasks), protocol::group_digits(articles as u64)),
                        None => format!("{} articles", protocol::group_digits(articles as u64)),
                    };
                    s.status = if built_in {
                        format!("Database ready: {size} ({ms:.0} ms, copied from the database built with the app)")
                    } else {
                        format!("Database ready: {size} ({ms:.0} ms, of which schema {schema_ms:.0} ms)")
                    };
                });
                shared.project.update(|p| p.data_since = p.history.len());
                shared.seeded.update(|n| *n += 1);
            }
            Response::Error { id, error } if shared.check.get_untracked().pending == Some(id) => shared.check.update(|c| {
                c.pending = None;
                c.progress = None;
                c.report = Some(protocol::CheckReport {
                    passed: false,
                    runs: vec![protocol::CheckRun { data: "your code".into(), message: format!("{}: {}", error.kind, error.message), ..Default::default() }],
                });
            }),
            Response::Error { id, error } if shared.compare.get_untracked().pending == Some(id) => shared.compare.update(|c| {
                c.pending = None;
                c.result = Some((protocol::CompareSide { error: Some(error), ..Default::default() }, Default::default()));
            }),
            Response::Error { id, error } if shared.project.get_untracked().pending.contains(&id) => {
                shared.project.update(|p| {
                    p.pending.retain(|x| *x != id);
                    p.sent.retain(|(x, _)| *x != id);
                    p.loaded = false;
                    p.load_error = Some(error);
                    p.answers += 1;
                });
            }
            Response::Error { error, .. } => {
                shared.state.update(|s| s.notice = Some(format!("{}: {}", error.kind, error.message)));
            }
            Response::Loaded { id, clock, migrations } => shared.project.update(|p| {
                p.pending.retain(|x| *x != id);
                p.loaded = true;
                p.load_error = None;
                p.session_start = p.history.len();
                if p.fresh_load == Some(id) {
                    p.data_since = p.history.len();
                    p.fresh_load = None;
                }
                p.clock = clock;
                p.migrations = migrations;
            }),
            Response::StepResult { id, report } => shared.project.update(|p| {
                p.pending.retain(|x| *x != id);
                p.clock = report.clock.clone();
                p.history.push(report);
                p.history_ids.push(id);
                let step = p.sent.iter().position(|(i, _)| *i == id).map(|k| p.sent.remove(k).1);
                p.steps.push(step);
                p.selected = Some(p.history.len() - 1);
                p.answers += 1;
            }),
            Response::CheckResult { id, report } if shared.check.get_untracked().pending == Some(id) => {
                let slug = shared.check.get_untracked().slug;
                if report.passed {
                    record_progress(shared, &slug, |e| if !e.shown { e.solved = true });
                }
                shared.check.update(|c| {
                    c.pending = None;
                    c.progress = None;
                    c.report = Some(report);
                });
            }
            Response::CheckResult { .. } => {}
            Response::Compared { id, a, b } if shared.compare.get_untracked().pending == Some(id) => {
                shared.compare.update(|c| {
                    c.pending = None;
                    c.result = Some((a, b));
                });
            }
            Response::Compared { .. } => {}
            Response::Measured { id, side } => shared.measured.set(Some((id, side))),
            Response::Explained { id, plan } => shared.explained.update(|m| {
                m.insert(id, plan);
            }),
            Response::Fingerprinted { id, digest } => shared.fingerprint.set(Some((id, digest))),
            Response::SqlResult { .. } | Response::Done { .. } | Response::Panic { .. } => {}
        },
    }
}

#[component]
fn Home() -> impl IntoView {
    let shared = expect_context::<Shared>();
    // Every exercise's progress key: a lesson's slug, or `slug#k` for the steps of a lab.
    let exercises: Vec<String> = course::LESSONS.iter().flat_map(|l| course::lab(l).exercises(l.slug).into_iter().map(|e| e.key).collect::<Vec<_>>()).collect();
    let total = exercises.len();
    let exercises = StoredValue::new(exercises);
    let solved = move || shared.progress.with(|p| exercises.with_value(|ex| ex.iter().filter(|s| p.lessons.get(s.as_str()).is_some_and(|l| l.solved)).count()));
    let confirm_reset = RwSignal::new(false);
    let exported = move || {
        let json = protocol::progress::save(&shared.progress.get());
        format!("data:application/json;charset=utf-8,{}", js_sys::encode_uri_component(&json))
    };
    view! {
        <section class="home">
            <h1>"Learn Django performance by measuring it"</h1>
            <p>"Each lesson runs a real Django-style page against an in-browser SQLite-compatible database and shows every query it sends."</p>
            <div class="progress-summary">
                <p data-testid="progress" data-solved=move || solved().to_string()>
                    {move || format!("{} of {total} exercises solved", solved())}
                </p>
                <a data-testid="export-progress" download="django-performance-progress.json" href=exported>"Export progress"</a>
                <label class="import">" Import: "
                    <input type="file" accept="application/json,.json" data-testid="import-progress" on:change=move |ev| import_progress(shared, ev)/>
                </label>
                {move || if confirm_reset.get() {
                    view! {
                        <span class="confirm" role="alert" data-testid="confirm-reset">"Forget every lesson's progress and saved code? "
                            <button data-testid="reset-progress-yes" on:click=move |_| {
                                shared.progress.set(Default::default());
                                if let Err(e) = store::save(&shared.progress.get_untracked()) { shared.storage_notice.set(Some(e)) }
                                confirm_reset.set(false);
                            }>"Yes, reset everything"</button>
                            <button data-testid="reset-progress-no" on:click=move |_| confirm_reset.set(false)>"Cancel"</button>
                        </span>
                    }.into_any()
                } else {
                    view! { <button data-testid="reset-progress" on:click=move |_| confirm_reset.set(true)>"Reset all progress"</button> }.into_any()
                }}
            </div>
            <ol class="lesson-list">
                {course::LESSONS.iter().map(|l| {
                    let lab = course::lab(l);
                    let slug = l.slug;
                    let keys: Vec<String> = lab.exercises(slug).into_iter().map(|e| e.key).collect();
                    let has_exercise = !keys.is_empty();
                    let keys = StoredValue::new(keys);
                    // A lab with steps is solved when every step is.
                    let state = move || shared.progress.with(|p| keys.with_value(|keys| {
                        let ex: Vec<_> = keys.iter().map(|k| p.lessons.get(k.as_str()).cloned().unwrap_or_default()).collect();
                        let own = p.lessons.get(slug);
                        if !ex.is_empty() && ex.iter().all(|e| e.solved) {
                            "solved"
                        } else if ex.iter().any(|e| e.shown) {
                            "shown"
                        } else if ex.iter().any(|e| e.attempted) {
                            "attempted"
                        } else if own.is_some_and(|e| e.state.is_some() || e.checklist.iter().any(|c| c.done || !c.note.is_empty())) {
                            "started"
                        } else {
                            "new"
                        }
                    }));
                    view! {
                        <li data-testid="lesson-item" data-slug=slug data-state=state>
                            <a href=format!("#/lessons/{slug}")>{lab.title.clone()}</a>
                            {move || match state() {
                                "solved" => Some(view! { <span class="mark solved" title="Exercise solved">" ✔"</span> }.into_any()),
                                "shown" => Some(view! { <span class="mark shown">" (solution shown)"</span> }.into_any()),
                                "attempted" if has_exercise => Some(view! { <span class="mark attempted">" (tried)"</span> }.into_any()),
                                _ => None,
                            }}
                            {move || (state() != "new").then(|| view! {
                                <button class="reset-one" data-testid="reset-lesson" title="Forget this lesson's progress and saved code"
                                    on:click=move |_| {
                                        shared.progress.update(|p| {
                                            p.lessons.remove(slug);
                                            keys.with_value(|keys| keys.iter().for_each(|k| { p.lessons.remove(k.as_str()); }));
                                        });
                                        if let Err(e) = store::save(&shared.progress.get_untracked()) { shared.storage_notice.set(Some(e)) }
                                    }>"reset"</button>
                            })}
                            <span class="summary" data-testid="lesson-summary">{markdown::inline(&lab.summary)}</span>
                        </li>
                    }
                }).collect_view()}
            </ol>
        </section>
    }
}

/// Reads a progress file the learner picked; a bad file changes nothing and says why.
fn import_progress(shared: Shared, ev: leptos::ev::Event) {
    use wasm_bindgen::JsCast;
    let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else { return };
    let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
    let promise = file.text();
    wasm_bindgen_futures::spawn_local(async move {
        let text = wasm_bindgen_futures::JsFuture::from(promise).await.ok().and_then(|v| v.as_string());
        let Some(text) = text else {
            shared.storage_notice.set(Some("The file could not be read.".into()));
            return;
        };
        match protocol::progress::import(&text) {
            Err(msg) => shared.storage_notice.set(Some(format!("Nothing was imported, and your progress is as it was: {msg}."))),
            Ok(p) => {
                let n = p.lessons.len();
                shared.progress.set(p);
                match store::save(&shared.progress.get_untracked()) {
                    Ok(()) => shared.storage_notice.set(Some(format!("Imported the progress of {n} lessons."))),
                    Err(e) => shared.storage_notice.set(Some(e)),
                }
            }
        }
    });
}

/// How a request's time was measured (protocol::Timing): the median of warm runs with their
/// spread, and a cold first run named as such, so "before" and "after" compare fairly.
pub(crate) fn timing_note(t: &protocol::Timing) -> impl IntoView {
    let text = if t.runs > 1 {
        let mut text = format!("Median of {} runs ({:.2}–{:.2} ms).", t.runs, t.min_ms, t.max_ms);
        if t.cold {
            text += &format!(" The first took {:.1} ms: cold code, compiled on first use after the engine loaded.", t.first_ms);
        }
        text
    } else if t.cold {
        "The first request since the engine loaded: its time includes compiling code on first use. Send it again for a warm time.".to_string()
    } else {
        "One run: a request that may write or fill a cache is not repeated.".to_string()
    };
    view! { <p class="timing" data-testid="timing" data-runs=t.runs data-cold=t.cold.to_string()>{text}</p> }
}

#[component]
fn NotFound(path: String) -> impl IntoView {
    view! {
        <section class="not-found" data-testid="not-found">
            <h1>"Page not found"</h1>
            <p>"There is no page at " <code>{format!("/{path}")}</code> "."</p>
            <p><a href="#/">"See all lessons"</a></p>
        </section>
    }
}

#[component]
pub(crate) fn QueryLog(report: RenderReport) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let groups = report.groups.clone();
    view! {
        <ol class="query-log" data-testid="query-log">
            {report.queries.into_iter().enumerate().map(|(i, q)| {
                let badge = q.group.map(|g| {
                    let grp = &groups[g];
                    format!("{} similar{}", grp.count, if grp.duplicates > 0 { format!(", {} duplicates", grp.duplicates) } else { String::new() })
                });
                view! {
                    <li data-testid="query" class:similar=q.group.is_some() class:duplicate=q.duplicate>
                        <div class="q-head">
                            <span class="q-n">{format!("#{}", i + 1)}</span>
                            <span class="rows-read" data-testid="rows-read" data-value=q.rows_read.to_string() hidden=true>{q.rows_read}</span>
                            <span title="Time inside the engine (the browser's clock steps by 0.1 ms)">{protocol::short_ms(q.ms)}</span>
                            <span>{protocol::count(q.rows, "row", "rows")}</span>
                            <span title="rows read / full-scan steps / sorts / VM steps">
                                {format!("read {} · scan {} · sort {} · vm {}", q.rows_read, q.fullscan_steps, q.sorts, q.vm_steps)}
                            </span>
                            {badge.map(|b| view! { <span class="badge">{b}</span> })}
                            {q.duplicate.then(|| view! { <span class="badge dup">"duplicate"</span> })}
                        </div>
                        <code class="sql">{q.sql.clone()}</code>
                        {q.origin.clone().map(|o| view! { <div class="origin">{format!("from {o}")}</div> })}
                        {
                            // Explain: the plan of this statement on the database as it is now.
                            let asked = RwSignal::new(None::<u64>);
                            let sql = q.sql.clone();
                            let explain = move |_| {
                                shared.engine.with_value(|e| if let Some(e) = e { asked.set(Some(e.explain(sql.clone()))) });
                            };
                            view! {
                                <button class="explain" data-testid="explain" title="EXPLAIN QUERY PLAN on the database as it is now" on:click=explain>"Explain"</button>
                                {move || asked.get().and_then(|id| shared.explained.with(|m| m.get(&id).cloned())).map(|p| view! { <project_lab::PlanView text=p/> })}
                            }
                        }
                    </li>
                }
            }).collect_view()}
        </ol>
    }
}
