//! The Profile tab of a request: where its time went (the whole request, the view with the
//! template it rendered, the SQL inside it, the rest outside the view: middleware, URL
//! resolving), the templates it rendered with their time and queries, and which line of `views.py` or of a template sent its queries — with the
//! deterministic counters beside the milliseconds (rows read, engine VM steps), so two runs
//! compare exactly. The hottest line comes first, with a bar for its share of the queries.

use leptos::prelude::*;
use protocol::{LineProfile, QueryInfo, StepReport, MIDDLEWARE_FILE as MIDDLEWARE};

use crate::editor::Heat;

/// The profile kept to compare later runs with (the Profile tab's "Compare with later runs"),
/// one per lab: the step's label and its lines.
#[derive(Clone, Copy)]
pub struct Baseline(pub RwSignal<Option<(String, Vec<LineProfile>)>>);

/// The queries of one line of code, in the order the line first appeared.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub origin: String,
    pub queries: usize,
    pub ms: f64,
    pub rows: usize,
    pub rows_read: u64,
    pub vm_steps: u64,
}

/// Groups a request's queries by the line that sent them, the most queries first.
pub fn lines(queries: &[QueryInfo]) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    for q in queries {
        let origin = q.origin.clone().unwrap_or_else(|| "(Django itself: a middleware, the session, a test client login)".into());
        let at = match out.iter().position(|l| l.origin == origin) {
            Some(i) => i,
            None => {
                out.push(Line { origin, queries: 0, ms: 0.0, rows: 0, rows_read: 0, vm_steps: 0 });
                out.len() - 1
            }
        };
        let l = &mut out[at];
        l.queries += 1;
        l.ms += q.ms;
        l.rows += q.rows;
        l.rows_read += q.rows_read;
        l.vm_steps += q.vm_steps;
    }
    // A stable sort: lines with as many queries keep the order they ran in.
    out.sort_by(|a, b| b.queries.cmp(&a.queries));
    out
}

/// The middleware layers in order, outermost first, with the view last: each one's time with
/// the layers inside it, and its own.
#[component]
fn Layers(lines: Vec<LineProfile>) -> impl IntoView {
    let mut layers: Vec<LineProfile> = lines.into_iter().filter(|l| l.file == MIDDLEWARE).collect();
    layers.sort_by_key(|l| l.line);
    (!layers.is_empty()).then(|| view! {
        <div class="profile-layers" data-testid="profile-layers">
            <p>"Middleware in order, outermost first (each one's time holds the ones inside it; a layer that answers, like a cache hit, ends the list):"</p>
            <ol start="0">
                {layers.into_iter().map(|l| view! {
                    <li data-testid="profile-layer" data-queries=l.queries.to_string()><code>{l.code.clone()}</code>
                        {format!(" {} with what is inside · {} own · {}", protocol::short_ms(l.total_ms), protocol::short_ms(l.self_ms), protocol::count(l.queries, "query", "queries"))}</li>
                }).collect_view()}
            </ol>
        </div>
    })
}

/// Where a line is, as the tables show it: `views.py:7` (the shell's line is `shell`).
fn place(l: &LineProfile) -> String {
    match l.file.as_str() {
        "<run>" => "shell".to_string(),
        MIDDLEWARE => format!("MIDDLEWARE[{}]", l.line.saturating_sub(1)),
        f => format!("{}:{}", f.trim_start_matches("templates/"), l.line),
    }
}

/// The profile's lines, the ones that sent the most queries themselves first (as many: in the
/// order they first ran, so the order does not change from run to run), then the lines without
/// a query by their own time: what to look at first.
pub fn hottest(lines: &[LineProfile]) -> Vec<LineProfile> {
    let mut v = lines.to_vec();
    v.sort_by(|a, b| {
        b.self_queries.cmp(&a.self_queries).then_with(|| if a.self_queries == 0 { b.self_ms.total_cmp(&a.self_ms) } else { std::cmp::Ordering::Equal })
    });
    v
}

/// The editor's gutter for `file`: each of its lines that sent a query, built a QuerySet whose
/// queries ran later, or took at least 2% of the file's slowest line, with a bar for its share
/// of that line's time (with what it called).
pub fn heat(lines: &[LineProfile], file: &str) -> Vec<Heat> {
    let here: Vec<&LineProfile> = lines.iter().filter(|l| l.file == file).collect();
    let most = here.iter().map(|l| l.total_ms).fold(0.0f64, f64::max);
    here.into_iter()
        .filter(|l| l.queries > 0 || l.lazy_queries > 0 || (most > 0.0 && l.total_ms >= most * 0.02))
        .map(|l| {
            let share = if most > 0.0 { (l.total_ms / most * 100.0).round() as u32 } else { 0 };
            let mut label = format!("{} · {}", protocol::count(l.queries, "query", "queries"), protocol::short_ms(l.total_ms));
            if l.lazy_queries > 0 {
                label += &format!(" · {} later", protocol::count(l.lazy_queries, "query", "queries"));
            }
            Heat { line: l.line, share: share.min(100), label, queries: l.queries + l.lazy_queries }
        })
        .collect()
}

/// One line of two profiles: before (the baseline) and now; `None` where it did not run.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffLine {
    pub place: String,
    pub code: String,
    pub before: Option<(usize, f64)>,
    pub now: Option<(usize, f64)>,
}

impl DiffLine {
    pub fn delta_queries(&self) -> i64 {
        self.now.map_or(0, |n| n.0 as i64) - self.before.map_or(0, |b| b.0 as i64)
    }
    pub fn delta_ms(&self) -> f64 {
        self.now.map_or(0.0, |n| n.1) - self.before.map_or(0.0, |b| b.1)
    }
}

/// Two profiles line by line: a line is matched by its file and text (an edit elsewhere moves
/// it), else by its file and number (an edit of the line itself); the lines whose queries
/// changed or whose time changed by a quarter of a millisecond or more, the largest change in queries first. Queries and times are a line's own
/// (without what it called), so a change shows on the line that made it.
pub fn diff(before: &[LineProfile], now: &[LineProfile]) -> Vec<DiffLine> {
    let mut used = vec![false; before.len()];
    let mut out = Vec::new();
    let own = |l: &LineProfile| (l.self_queries, l.self_ms);
    let mut pending = Vec::new();
    for n in now {
        match before.iter().enumerate().position(|(i, b)| !used[i] && b.file == n.file && b.code == n.code) {
            Some(i) => {
                used[i] = true;
                out.push(DiffLine { place: place(n), code: n.code.clone(), before: Some(own(&before[i])), now: Some(own(n)) });
            }
            None => pending.push(n),
        }
    }
    for n in pending {
        let b = before.iter().enumerate().position(|(i, b)| !used[i] && b.file == n.file && b.line == n.line);
        if let Some(i) = b {
            used[i] = true;
        }
        let code = match b {
            Some(i) if before[i].code != n.code => format!("{}  (was: {})", n.code, before[i].code),
            _ => n.code.clone(),
        };
        out.push(DiffLine { place: place(n), code, before: b.map(|i| own(&before[i])), now: Some(own(n)) });
    }
    for (i, b) in before.iter().enumerate() {
        if !used[i] {
            out.push(DiffLine { place: place(b), code: b.code.clone(), before: Some(own(b)), now: None });
        }
    }
    // A browser's clock ticks in tenths of a millisecond: smaller changes are noise.
    out.retain(|d| d.delta_queries() != 0 || d.delta_ms().abs() >= 0.25);
    out.sort_by(|a, b| b.delta_queries().abs().cmp(&a.delta_queries().abs()).then(b.delta_ms().abs().total_cmp(&a.delta_ms().abs())));
    out
}

fn cell(v: Option<(usize, f64)>) -> String {
    match v {
        Some((q, ms)) => format!("{} · {}", protocol::count(q, "query", "queries"), protocol::short_ms(ms)),
        None => "did not run".into(),
    }
}

/// The profile line by line: every line that ran, what it cost itself and with what it called.
#[component]
fn LineTable(lines: Vec<LineProfile>) -> impl IntoView {
    const SHOWN: usize = 40;
    let n = lines.len();
    let rows = hottest(&lines).into_iter().take(SHOWN).collect::<Vec<_>>();
    view! {
        <table class="profile-lines profile-code" data-testid="profile-code">
            <caption>{format!("Line by line ({} that ran{}), the most queries sent first; time and queries \u{201c}with calls\u{201d} include the lines a line called (a template's tags, a function's body)", n, if n > SHOWN { format!(", the {SHOWN} hottest shown") } else { String::new() })}</caption>
            <thead><tr><th>"line"</th><th>"hits"</th><th>"own time"</th><th>"with calls"</th><th>"own queries"</th><th>"with calls"</th><th>"rows read"</th><th>"Python steps"</th></tr></thead>
            <tbody>
                {rows.into_iter().map(|l| view! {
                    <tr data-testid="profile-code-line" data-file=l.file.clone() data-line=l.line.to_string()
                        data-queries=l.self_queries.to_string() data-lazy=l.lazy_queries.to_string()>
                        <td><span class="muted">{place(&l)}</span>" "<code>{l.code.clone()}</code>
                            {(l.lazy_queries > 0).then(|| view! {
                                <span class="lazy-note">{format!(" — built a QuerySet whose {} ran later, where it was used", protocol::count(l.lazy_queries, "query", "queries"))}</span>
                            })}</td>
                        <td class="num">{protocol::group_digits(l.hits)}</td>
                        <td class="num">{protocol::short_ms(l.self_ms)}</td>
                        <td class="num">{protocol::short_ms(l.total_ms)}</td>
                        <td class="num">{l.self_queries}</td>
                        <td class="num">{l.queries}</td>
                        <td class="num">{protocol::group_digits(l.rows_read)}</td>
                        <td class="num">{protocol::group_digits(l.steps)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The baseline's controls and, when this run is not the baseline, the two profiles side by side.
#[component]
fn Compare(label: String, lines: Vec<LineProfile>) -> impl IntoView {
    let Some(Baseline(base)) = use_context::<Baseline>() else { return ().into_any() };
    let (keep_label, keep_lines) = (label.clone(), lines.clone());
    let keep = move |_| base.set(Some((keep_label.clone(), keep_lines.clone())));
    view! {
        <div class="profile-compare" data-testid="profile-compare">
            {move || base.with(|b| match b {
                None => view! {
                    <p><button data-testid="profile-keep" on:click=keep.clone()>"Compare later runs with this one"</button>
                    <span class="muted">" Keep this profile, change the code, send again: the Profile tab then shows both, line by line."</span></p>
                }.into_any(),
                Some((bl, bls)) if *bls == lines => view! {
                    <p class="muted" data-testid="profile-is-baseline">{format!("This run ({bl}) is the profile later runs are compared with. ")}
                        <button data-testid="profile-forget" on:click=move |_| base.set(None)>"Stop comparing"</button></p>
                }.into_any(),
                Some((bl, bls)) => {
                    let rows = diff(bls, &lines);
                    view! {
                        <table class="profile-lines profile-diff" data-testid="profile-diff">
                            <caption>{format!("Compared with {bl} (kept), each line's own queries and time; the biggest change first. ")}
                                <button data-testid="profile-keep" on:click=keep.clone()>"Compare with this run instead"</button>" "
                                <button data-testid="profile-forget" on:click=move |_| base.set(None)>"Stop comparing"</button></caption>
                            <thead><tr><th>"line"</th><th>{format!("before ({bl})")}</th><th>{format!("now ({label})")}</th><th>"change"</th></tr></thead>
                            <tbody>
                                {if rows.is_empty() {
                                    view! { <tr><td colspan="4" class="muted">"No line's queries or time changed."</td></tr> }.into_any()
                                } else {
                                    rows.into_iter().map(|d| {
                                        let dq = d.delta_queries();
                                        let change = format!("{dq:+} {} · {:+.2} ms", if dq.abs() == 1 { "query" } else { "queries" }, d.delta_ms());
                                        view! {
                                            <tr data-testid="profile-diff-line" data-delta=dq.to_string() class:better={dq < 0} class:worse={dq > 0}>
                                                <td><span class="muted">{d.place.clone()}</span>" "<code>{d.code.clone()}</code></td>
                                                <td class="num">{cell(d.before)}</td>
                                                <td class="num">{cell(d.now)}</td>
                                                <td class="num">{change}</td>
                                            </tr>
                                        }
                                    }).collect_view().into_any()
                                }}
                            </tbody>
                        </table>
                    }.into_any()
                }
            })}
        </div>
    }.into_any()
}

#[component]
pub fn ProfilePanel(report: StepReport) -> impl IntoView {
    let r = report;
    let sql: f64 = r.render.queries.iter().map(|q| q.ms).sum();
    let lines = lines(&r.render.queries);
    let most = lines.first().map_or(1, |l| l.queries.max(1));
    let time = r.first_run.map(|f| {
        let view = f.view_ms;
        let outside = (f.request_ms - view.unwrap_or(0.0)).max(0.0);
        view! {
            <p class="profile-time" data-testid="profile-time">
                {format!("The run whose queries are listed: {:.2} ms for the whole request", f.request_ms)}
                {match view {
                    Some(v) => format!(
                        " = {v:.2} ms in the view and its template ({sql:.2} ms of it in SQL, {:.2} ms in Python and the template) + {outside:.2} ms outside the view (middleware, URL resolving).",
                        (v - sql).max(0.0)
                    ),
                    None => format!(" — no view ran (a page from the cache, a 404); {sql:.2} ms in SQL."),
                }}
            </p>
        }
    });
    let templates = (!r.templates.is_empty()).then(|| {
        view! {
            <p class="profile-templates" data-testid="profile-templates">"Templates rendered: "
                {r.templates.iter().enumerate().map(|(i, t)| view! {
                    {(i > 0).then_some(", ")}
                    <span data-testid="profile-template" data-queries=t.queries.to_string()><code>{t.name.clone()}</code>
                        {format!("{} {} · {}", if t.renders > 1 { format!(" ×{}", t.renders) } else { String::new() }, protocol::short_ms(t.ms), protocol::count(t.queries, "query", "queries"))}</span>
                }).collect_view()}
                <span class="muted">" (an include's time is also in the page that includes it)"</span>
            </p>
        }
    });
    let code_lines: Vec<LineProfile> = r.lines.iter().filter(|l| l.file != MIDDLEWARE).cloned().collect();
    let code = (!r.lines.is_empty()).then(|| view! {
        <Layers lines=r.lines.clone()/>
        <Compare label=r.label.clone() lines=code_lines.clone()/>
        <LineTable lines=code_lines/>
    });
    view! {
        <div class="profile" data-testid="profile">
            {time}
            {templates}
            {code}
            {if lines.is_empty() {
                view! { <p class="muted">"No query: nothing to attribute to a line."</p> }.into_any()
            } else {
                view! {
                    <table class="profile-lines">
                        <caption>"Where the queries come from, the line with the most first"</caption>
                        <thead><tr><th>"line"</th><th>"queries"</th><th>"SQL time"</th><th>"rows"</th><th>"rows read"</th><th>"VM steps"</th></tr></thead>
                        <tbody>
                            {lines.into_iter().map(|l| {
                                let share = (l.queries * 100 / most).max(5);
                                view! {
                                    <tr data-testid="profile-line" data-queries=l.queries.to_string()>
                                        <td><code>{l.origin.clone()}</code>
                                            <span class="profile-bar" aria-hidden="true" data-share=share.to_string()><span class=format!("w{}", share / 5 * 5)></span></span></td>
                                        <td class="num">{l.queries}</td>
                                        <td class="num">{protocol::short_ms(l.ms)}</td>
                                        <td class="num">{l.rows}</td>
                                        <td class="num">{protocol::group_digits(l.rows_read)}</td>
                                        <td class="num">{protocol::group_digits(l.vm_steps)}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(file: &str, line: u32, code: &str, q: usize, ms: f64) -> LineProfile {
        LineProfile { file: file.into(), line, code: code.into(), hits: 1, total_ms: ms, self_ms: ms, queries: q, self_queries: q, ..Default::default() }
    }

    #[test]
    fn a_diff_matches_lines_by_text_then_by_number_and_puts_the_biggest_change_first() {
        let before = vec![
            l("views.py", 7, "articles = Article.objects.all()", 0, 0.3),
            l("templates/p.html", 3, "{{ a.author.username }}", 20, 4.0),
            l("templates/p.html", 2, "{% for a in articles %}", 1, 0.5),
        ];
        let now = vec![
            l("views.py", 7, "articles = Article.objects.select_related(\"author\")", 0, 0.3),
            // Moved down a line by an edit above it: still the same line.
            l("templates/p.html", 4, "{{ a.author.username }}", 0, 0.2),
            l("templates/p.html", 3, "{% for a in articles %}", 1, 1.0),
        ];
        let d = diff(&before, &now);
        assert_eq!(d[0].place, "p.html:4");
        assert_eq!((d[0].delta_queries(), d[0].before, d[0].now), (-20, Some((20, 4.0)), Some((0, 0.2))));
        assert_eq!(d[1].place, "p.html:3");
        assert!((d[1].delta_ms() - 0.5).abs() < 1e-9);
        // The edited view line is matched by its number and says what it was; its time did not change.
        assert!(d.iter().all(|x| x.place != "views.py:7"), "{d:?}");
        let gone = diff(&before, &now[..2]);
        assert!(gone.iter().any(|x| x.place == "p.html:2" && x.now.is_none() && x.delta_queries() == -1), "{gone:?}");
    }

    #[test]
    fn the_gutter_marks_lines_with_queries_or_time_of_one_file_scaled_to_its_slowest() {
        let mut built = l("views.py", 7, "articles = …", 0, 0.001);
        built.lazy_queries = 2;
        let lines = vec![built, l("views.py", 8, "return render(…)", 41, 12.0), l("views.py", 9, "x = 1", 0, 0.0), l("templates/p.html", 3, "{{ x }}", 20, 4.0)];
        let h = heat(&lines, "views.py");
        assert_eq!(h.iter().map(|h| (h.line, h.share, h.queries)).collect::<Vec<_>>(), vec![(7, 0, 2), (8, 100, 41)]);
        assert!(h[0].label.ends_with("2 queries later"), "{}", h[0].label);
        assert_eq!(heat(&lines, "templates/p.html")[0].share, 100);
    }

    #[test]
    fn the_hottest_lines_are_the_ones_with_queries_in_the_order_they_ran_then_by_time() {
        let lines = vec![l("v.py", 1, "a", 0, 0.1), l("p.html", 3, "b", 20, 1.0), l("p.html", 4, "c", 20, 3.0), l("v.py", 2, "d", 0, 2.0), l("p.html", 2, "e", 1, 4.0)];
        let order: Vec<String> = hottest(&lines).into_iter().map(|l| l.code).collect();
        assert_eq!(order, ["b", "c", "e", "d", "a"]);
    }
}
