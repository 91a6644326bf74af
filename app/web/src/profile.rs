//! The Profile tab of a request: where its time went (the whole request, the view with the
//! template it rendered, the SQL inside it, the rest outside the view: middleware, URL
//! resolving), the templates it rendered with their time and queries, and which line of `views.py` or of a template sent its queries — with the
//! deterministic counters beside the milliseconds (rows read, engine VM steps), so two runs
//! compare exactly. The hottest line comes first, with a bar for its share of the queries.

use leptos::prelude::*;
use protocol::{QueryInfo, StepReport};

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
    view! {
        <div class="profile" data-testid="profile">
            {time}
            {templates}
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
