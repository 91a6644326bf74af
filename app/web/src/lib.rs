//! The single-page app: a lesson list, one page per lesson with its lab, and a not-found page.
//!
//! Routing is by URL hash (`#/lessons/n-plus-one`) so a reload or a fresh tab lands on the same
//! lesson from any static file server. The engine lives in a Web Worker ([`engine_client`]);
//! this crate never links it.

pub mod engine_client;
pub mod lessons;
pub mod markdown;
pub mod project_lab;

use leptos::prelude::*;
use protocol::{ErrorInfo, RenderReport, Response};

use engine_client::{EngineClient, Event};

/// Database sizes a learner can pick (articles).
pub const SIZES: [u32; 5] = [50, 200, 1_000, 5_000, 10_000];
pub const DEFAULT_SIZE: u32 = 200;

#[derive(Clone, Debug, PartialEq)]
enum Route {
    Home,
    Lesson(String),
    NotFound(String),
}

fn parse_route(hash: &str) -> Route {
    let path = hash.trim_start_matches('#').trim_start_matches('/');
    let path = path.split('?').next().unwrap_or("");
    match path.split('/').collect::<Vec<_>>().as_slice() {
        [""] => Route::Home,
        ["lessons"] => Route::Home,
        ["lessons", slug] if lessons::find(slug).is_some() => Route::Lesson(slug.to_string()),
        _ => Route::NotFound(path.to_string()),
    }
}

fn current_hash() -> String {
    window().location().hash().unwrap_or_default()
}

/// The engine's state as the page shows it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct EngineState {
    pub status: String,
    pub ready: bool,
    pub articles: u32,
    pub progress: Option<(u32, u32)>,
    /// A crash or hang that was recovered from.
    pub notice: Option<String>,
}

#[derive(Clone, Copy)]
struct Shared {
    engine: StoredValue<Option<EngineClient>, LocalStorage>,
    state: RwSignal<EngineState>,
    result: RwSignal<Option<RenderReport>>,
    /// How many results arrived so far: lets tests and benchmarks tell a new result from the last.
    runs: RwSignal<u64>,
    error: RwSignal<Option<ErrorInfo>>,
    /// Bumped when a fresh database is ready, so the lab re-runs.
    seeded: RwSignal<u64>,
    /// The project lab's state (requests, shell lines, tests).
    project: RwSignal<project_lab::ProjectState>,
}

#[component]
pub fn App() -> impl IntoView {
    let route = RwSignal::new(parse_route(&current_hash()));
    let handle = window_event_listener(leptos::ev::hashchange, move |_| route.set(parse_route(&current_hash())));
    on_cleanup(move || handle.remove());

    let shared = Shared {
        engine: StoredValue::new_local(None),
        state: RwSignal::new(EngineState { status: "Loading the engine…".into(), articles: DEFAULT_SIZE, ..Default::default() }),
        result: RwSignal::new(None),
        runs: RwSignal::new(0),
        error: RwSignal::new(None),
        seeded: RwSignal::new(0),
        project: RwSignal::new(Default::default()),
    };
    let client = EngineClient::new(DEFAULT_SIZE, move |ev| on_engine_event(shared, ev));
    shared.engine.set_value(Some(client.clone()));
    provide_context(shared);
    expose_test_hooks(client);

    view! {
        <header class="top">
            <a href="#/" class="brand">"Django performance lab"</a>
            <span class="engine-status" data-testid="status" role="status">{move || shared.state.get().status}</span>
            {move || shared.state.get().progress.map(|(done, total)| view! {
                <progress max=total.to_string() value=done.to_string() aria-label="Loading sample data"></progress>
            })}
        </header>
        <main>
            {move || match route.get() {
                Route::Home => view! { <Home/> }.into_any(),
                Route::Lesson(slug) => view! { <LessonPage slug=slug/> }.into_any(),
                Route::NotFound(path) => view! { <NotFound path=path/> }.into_any(),
            }}
        </main>
    }
}

/// `window.djperfCrashEngine()`: lets the browser tests kill the worker the way a panic would.
fn expose_test_hooks(client: EngineClient) {
    use wasm_bindgen::prelude::*;
    let crash = Closure::<dyn Fn()>::new(move || client.crash_for_test());
    let _ = js_sys::Reflect::set(&window(), &JsValue::from_str("djperfCrashEngine"), crash.as_ref());
    crash.forget();
}

fn on_engine_event(shared: Shared, ev: Event) {
    match ev {
        Event::Restarted(why) => {
            shared.state.update(|s| {
                s.ready = false;
                s.status = "Restarting the engine…".into();
                s.notice = Some(format!(
                    "{why}. A fresh engine was started and the data reloaded; your code is untouched. Edit it and run again."
                ));
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
            Response::Progress { done, total, .. } => shared.state.update(|s| {
                s.progress = Some((done, total));
                s.status = format!("Loading sample data… {}%", done * 100 / total.max(1));
            }),
            Response::Seeded { ms, counts, schema_ms, .. } => {
                let count = |name: &str| counts.iter().find(|(k, _)| k == name).map(|(_, v)| *v).unwrap_or(0);
                let articles = count("articles") as u32;
                shared.state.update(|s| {
                    s.ready = true;
                    s.progress = None;
                    s.articles = articles;
                    s.status = format!("Database ready: {articles} articles ({ms:.0} ms, of which schema {schema_ms:.0} ms)");
                });
                shared.seeded.update(|n| *n += 1);
            }
            Response::Result { renders, .. } => {
                shared.error.set(None);
                shared.result.set(renders.into_iter().last());
                shared.runs.update(|n| *n += 1);
            }
            Response::Error { id, error } if shared.project.get_untracked().pending.contains(&id) => {
                shared.project.update(|p| {
                    p.pending.retain(|x| *x != id);
                    p.loaded = false;
                    p.load_error = Some(error);
                    p.answers += 1;
                });
            }
            Response::Error { error, .. } => {
                shared.result.set(None);
                shared.error.set(Some(error));
                shared.runs.update(|n| *n += 1);
            }
            Response::ProjectLoaded { id, clock, migrations } => shared.project.update(|p| {
                p.pending.retain(|x| *x != id);
                p.loaded = true;
                p.load_error = None;
                p.session_start = p.history.len();
                p.clock = clock;
                p.migrations = migrations;
            }),
            Response::StepResult { id, report } => shared.project.update(|p| {
                p.pending.retain(|x| *x != id);
                p.clock = report.clock.clone();
                p.history.push(report);
                p.history_ids.push(id);
                p.selected = Some(p.history.len() - 1);
                p.answers += 1;
            }),
            Response::SqlResult { .. } => {}
            Response::Panic { .. } => {}
        },
    }
}

#[component]
fn Home() -> impl IntoView {
    view! {
        <section class="home">
            <h1>"Learn Django performance by measuring it"</h1>
            <p>"Each lesson runs a real Django-style page against an in-browser SQLite-compatible database and shows every query it sends."</p>
            <ol class="lesson-list">
                {lessons::LESSONS.iter().map(|l| {
                    let lab = lessons::lab(l);
                    view! {
                        <li>
                            <a href=format!("#/lessons/{}", l.slug)>{lab.title.clone()}</a>
                            <span class="summary">{lab.summary.clone()}</span>
                        </li>
                    }
                }).collect_view()}
            </ol>
        </section>
    }
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
fn LessonPage(slug: String) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let src = lessons::find(&slug).expect("route checked the slug");
    let lab = lessons::lab(src);
    let context = RwSignal::new(lab.context.clone());
    let template = RwSignal::new(lab.template.clone());
    let is_project = lab.project.is_some();
    let run = move || {
        if is_project || !shared.state.get_untracked().ready {
            return;
        }
        shared.engine.with_value(|e| {
            if let Some(e) = e {
                e.run(context.get_untracked(), template.get_untracked(), 1, true);
            }
        });
    };
    // Run when the database becomes ready, and whenever a toggle changes the expression.
    Effect::new(move |_| {
        shared.seeded.track();
        run();
    });
    let reseed = move |n: u32| {
        shared.state.update(|s| {
            s.ready = false;
            s.status = format!("Creating {n} articles…");
        });
        shared.engine.with_value(|e| {
            if let Some(e) = e {
                e.seed(n, None);
            }
        });
    };
    let toggles = lab.toggles.clone();
    let goal = lab.goal.clone();
    if let Some(project) = lab.project.clone() {
        shared.project.set(Default::default());
        let task_sizes = project.task_sizes.clone();
        let reseed_tasks = move |t: u32| {
            let articles = shared.state.get_untracked().articles;
            shared.state.update(|s| {
                s.ready = false;
                s.status = format!("Creating {t} tasks…");
            });
            shared.engine.with_value(|e| {
                if let Some(e) = e {
                    e.seed(articles, Some(t));
                }
            });
        };
        return view! {
            <article class="lesson">
                <h1>{lab.title.clone()}</h1>
                <div class="prose">{markdown::render(src.markdown)}</div>
                <section class="lab" aria-label="Lab">
                    <div class="lab-controls">
                        {if task_sizes.is_empty() {
                            view! {
                                <label>"Articles in the database "
                                    <select aria-label="Articles in the database" on:change=move |ev| { if let Ok(n) = event_target_value(&ev).parse() { reseed(n) } }>
                                        {SIZES.iter().map(|n| view! { <option value=n.to_string() selected=*n == DEFAULT_SIZE>{n.to_string()}</option> }).collect_view()}
                                    </select>
                                </label>
                            }.into_any()
                        } else {
                            view! {
                                <label>"Tasks in the database "
                                    <select data-testid="task-size" aria-label="Tasks in the database" on:change=move |ev| { if let Ok(n) = event_target_value(&ev).parse() { reseed_tasks(n) } }>
                                        <option value="" selected=true>"(default)"</option>
                                        {task_sizes.iter().map(|n| view! { <option value=n.to_string()>{n.to_string()}</option> }).collect_view()}
                                    </select>
                                </label>
                            }.into_any()
                        }}
                    </div>
                    {move || shared.state.get().notice.map(|n| view! { <p class="notice" role="alert" data-testid="notice">{n}</p> })}
                    <project_lab::ProjectLabView lab=project goal=goal/>
                </section>
            </article>
        }
        .into_any();
    }

    view! {
        <article class="lesson">
            <h1>{lab.title.clone()}</h1>
            <div class="prose">{markdown::render(src.markdown)}</div>
            <section class="lab" aria-label="Lab">
                <div class="lab-controls">
                    <label>"Articles in the database "
                        <select aria-label="Articles in the database" on:change=move |ev| { if let Ok(n) = event_target_value(&ev).parse() { reseed(n) } }>
                            {SIZES.iter().map(|n| view! { <option value=n.to_string() selected=*n == DEFAULT_SIZE>{n.to_string()}</option> }).collect_view()}
                        </select>
                    </label>
                    {toggles.into_iter().enumerate().map(|(i, t)| {
                        let id = format!("toggle-{i}");
                        let for_id = id.clone();
                        let t2 = t.clone();
                        let label = t.label().to_string();
                        let checked = Signal::derive(move || {
                            context.get().iter().find(|(k, _)| *k == t.var).is_some_and(|(_, e)| t.is_on(e))
                        });
                        view! {
                            <label class="toggle" for=for_id>
                                <input type="checkbox" id=id prop:checked=checked
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        context.update(|c| for (k, e) in c.iter_mut() { if *k == t2.var { *e = t2.apply(e, on) } });
                                        run();
                                    }/>
                                <code>{label}</code>
                            </label>
                        }
                    }).collect_view()}
                </div>
                <div class="editors">
                    {move || context.get().into_iter().enumerate().map(|(i, (name, expr))| view! {
                        <label class="editor">
                            <span>{format!("{name} =")}</span>
                            <textarea rows="2" spellcheck="false" aria-label=format!("QuerySet for {name}")
                                prop:value=expr
                                on:change=move |ev| { let v = event_target_value(&ev); context.update(|c| c[i].1 = v) }/>
                        </label>
                    }).collect_view()}
                    <label class="editor">
                        <span>"template"</span>
                        <textarea rows="7" spellcheck="false" aria-label="Template" prop:value=move || template.get()
                            on:change=move |ev| template.set(event_target_value(&ev))/>
                    </label>
                    <button data-testid="run" on:click=move |_| run()>"Run"</button>
                </div>
                {move || shared.state.get().notice.map(|n| view! { <p class="notice" role="alert" data-testid="notice">{n}</p> })}
                <Results goal=goal.clone() template=template original_template=lab.template.clone()/>
            </section>
        </article>
    }
    .into_any()
}

#[component]
fn Results(goal: Option<lessons::Goal>, template: RwSignal<String>, original_template: String) -> impl IntoView {
    let shared = expect_context::<Shared>();
    view! {
        {move || shared.error.get().map(|e| view! {
            <div class="error" role="alert" data-testid="error">
                <strong>{format!("{}: {}", e.kind, e.message)}</strong>
                {e.source.clone().map(|s| view! { <div>{format!("in {s}")}{e.line.map(|l| format!(", line {l}, column {}", e.col.unwrap_or(0)))}</div> })}
                {e.excerpt.clone().map(|x| view! { <pre>{x}</pre> })}
            </div>
        })}
        {move || shared.result.get().map(|r| {
            let unchanged = template.get_untracked() == original_template;
            let goal_view = goal.clone().map(|g| {
                // "Without changing the template" is part of the goal when it says so.
                let met = r.n_queries <= g.max_queries && (!g.keep_template || unchanged);
                view! { <p class=if met { "goal met" } else { "goal" } data-testid="goal">{if met { "✔ " } else { "Goal: " }}{g.text.clone()}</p> }
            });
            view! {
                <div class="metrics" data-testid="metrics" data-run=move || shared.runs.get()>
                    <div><span class="big" data-testid="query-count">{r.n_queries}</span>" queries"</div>
                    <div title="X-Request-Duration-Ms"><span class="big" data-testid="request-ms">{format!("{:.2}", r.request_ms)}</span>" ms request"</div>
                    <div><span class="big" data-testid="sql-ms">{format!("{:.2}", r.sql_ms)}</span>" ms in SQL"</div>
                </div>
                {goal_view}
                {r.groups.iter().filter_map(|g| g.n_plus_one.clone()).map(|n| view! { <p class="n-plus-one" data-testid="n-plus-one">{"N+1: "}{n}</p> }).collect_view()}
                <details class="output" open>
                    <summary>"Rendered page"</summary>
                    <iframe sandbox="" title="Rendered page" srcdoc=r.output.clone()></iframe>
                </details>
                <details class="output-source">
                    <summary>"HTML source"</summary>
                    <pre data-testid="output-source">{r.output.clone()}</pre>
                </details>
                <QueryLog report=r/>
            }
        })}
    }
}

#[component]
pub(crate) fn QueryLog(report: RenderReport) -> impl IntoView {
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
                            <span>{format!("{:.3} ms", q.ms)}</span>
                            <span>{format!("{} rows", q.rows)}</span>
                            <span title="rows read / full-scan steps / sorts / VM steps">
                                {format!("read {} · scan {} · sort {} · vm {}", q.rows_read, q.fullscan_steps, q.sorts, q.vm_steps)}
                            </span>
                            {badge.map(|b| view! { <span class="badge">{b}</span> })}
                            {q.duplicate.then(|| view! { <span class="badge dup">"duplicate"</span> })}
                        </div>
                        <code class="sql">{q.sql.clone()}</code>
                        {q.origin.clone().map(|o| view! { <div class="origin">{format!("from {o}")}</div> })}
                    </li>
                }
            }).collect_view()}
        </ol>
    }
}
