//! A line chart in plain SVG (no charting crate: a few hundred bytes of view code beat a
//! dependency): linear axes from zero with round ticks, one line per series, a legend, and
//! points that carry their numbers (`data-x`/`data-y`, a tooltip on hover or focus).

use leptos::prelude::*;

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    /// (x, y), in the order measured.
    pub points: Vec<(f64, f64)>,
}

/// One measured page of a growth chart, in every unit the chart can show.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    pub x: f64,
    pub queries: f64,
    pub rows_read: f64,
    pub ms: f64,
}

impl Measured {
    pub fn of(x: f64, r: &protocol::RenderReport) -> Measured {
        Measured { x, queries: r.n_queries as f64, rows_read: r.queries.iter().map(|q| q.rows_read as f64).sum(), ms: r.request_ms }
    }

    /// The value for `metric` (`"queries"`, `"rows_read"` or `"ms"`).
    pub fn get(&self, metric: &str) -> f64 {
        match metric {
            "rows_read" => self.rows_read,
            "ms" => self.ms,
            _ => self.queries,
        }
    }
}

/// A line of measured points, named after the code it measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurements {
    pub name: String,
    pub points: Vec<Measured>,
}

/// The lines as a chart shows them for `metric`, and the y axis's label.
pub fn series_for(lines: impl IntoIterator<Item = Measurements>, metric: &str) -> (Vec<Series>, String) {
    let series = lines.into_iter().map(|l| Series { name: l.name, points: l.points.iter().map(|p| (p.x, p.get(metric))).collect() }).collect();
    let y_label = match metric { "rows_read" => "rows read", "ms" => "request ms", _ => "queries" };
    (series, y_label.to_string())
}

/// The chart's "show" picker: queries, rows read or ms.
#[component]
pub fn MetricSelect(testid: &'static str, metric: RwSignal<String>) -> impl IntoView {
    view! {
        <label>" show "
            <select aria-label="Measure" data-testid=testid on:change=move |ev| metric.set(event_target_value(&ev))>
                <option value="queries">"queries"</option>
                <option value="rows_read">"rows read"</option>
                <option value="ms">"ms"</option>
            </select>
        </label>
    }
}

/// A line is named after the code it measured: the toggles that are on, else the lesson's
/// start or "your code".
pub fn code_name(on: Vec<String>, unchanged: bool) -> String {
    if !on.is_empty() {
        on.join(" + ")
    } else if unchanged {
        "the lesson's start".to_string()
    } else {
        "your code".to_string()
    }
}

/// `base`, or `base (n)` when `n - 1` names already start with it.
pub fn numbered(base: String, taken: impl Iterator<Item = String>) -> String {
    let n = taken.filter(|t| t.starts_with(&base)).count();
    if n == 0 { base } else { format!("{base} ({})", n + 1) }
}

const W: f64 = 640.0;
const H: f64 = 280.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 44.0;
/// Series colours are classes (`series-0` … `series-5` in style.css), not style attributes: the
/// page's Content-Security-Policy allows no inline styles.
const PALETTE: usize = 6;

/// A "nice" upper bound and step for an axis reaching `max` (1, 2 or 5 times a power of ten).
pub fn nice_axis(max: f64) -> (f64, f64) {
    if !max.is_finite() || max <= 0.0 {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.abs() >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[component]
pub fn LineChart(series: Vec<Series>, x_label: String, y_label: String) -> impl IntoView {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (x_max, x_step) = nice_axis(all().map(|p| p.0).fold(0.0, f64::max));
    let (y_max, y_step) = nice_axis(all().map(|p| p.1).fold(0.0, f64::max));
    let sx = move |x: f64| LEFT + x / x_max * (W - LEFT - RIGHT);
    let sy = move |y: f64| H - BOTTOM - y / y_max * (H - TOP - BOTTOM);
    let ticks = |max: f64, step: f64| (0..=((max / step).round() as usize)).map(move |i| i as f64 * step);
    view! {
        <figure class="chart" data-testid="chart">
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=format!("{y_label} against {x_label}")>
                <g class="axes">
                    <line x1=LEFT y1=H - BOTTOM x2=W - RIGHT y2=H - BOTTOM/>
                    <line x1=LEFT y1=TOP x2=LEFT y2=H - BOTTOM/>
                    {ticks(x_max, x_step).map(|x| view! {
                        <text x=sx(x) y=H - BOTTOM + 16.0 text-anchor="middle">{fmt(x)}</text>
                    }).collect_view()}
                    {ticks(y_max, y_step).map(|y| view! {
                        <line class="grid" x1=LEFT y1=sy(y) x2=W - RIGHT y2=sy(y)/>
                        <text x=LEFT - 6.0 y=sy(y) + 4.0 text-anchor="end">{fmt(y)}</text>
                    }).collect_view()}
                    <text x=(LEFT + W - RIGHT) / 2.0 y=H - 6.0 text-anchor="middle" class="label">{x_label.clone()}</text>
                    <text x=14.0 y=(TOP + H - BOTTOM) / 2.0 text-anchor="middle" class="label"
                        transform=format!("rotate(-90 14 {})", (TOP + H - BOTTOM) / 2.0)>{y_label.clone()}</text>
                </g>
                {series.iter().enumerate().map(|(i, s)| {
                    let class = format!("series series-{}", i % PALETTE);
                    let mut pts = s.points.clone();
                    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let line = pts.iter().map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y))).collect::<Vec<_>>().join(" ");
                    view! {
                        <g data-series=s.name.clone() class=class>
                            <polyline points=line fill="none" stroke="currentColor" stroke-width="2"/>
                            {pts.into_iter().map(|(x, y)| view! {
                                <circle cx=sx(x) cy=sy(y) r="4" fill="currentColor" tabindex="0"
                                    data-x=fmt(x) data-y=fmt(y)>
                                    <title>{format!("{}: {} = {}, {} = {}", s.name, x_label, fmt(x), y_label, fmt(y))}</title>
                                </circle>
                            }).collect_view()}
                        </g>
                    }
                }).collect_view()}
            </svg>
            <figcaption class="legend">
                {series.iter().enumerate().map(|(i, s)| view! {
                    <span class="legend-item"><span class=format!("swatch series-{}", i % PALETTE)></span>{s.name.clone()}</span>
                }).collect_view()}
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_named_after_the_code_and_numbered_when_repeated() {
        assert_eq!(code_name(vec![], true), "the lesson's start");
        assert_eq!(code_name(vec![], false), "your code");
        assert_eq!(code_name(vec!["a".into(), "b".into()], false), "a + b");
        assert_eq!(numbered("x".into(), ["y".to_string()].into_iter()), "x");
        assert_eq!(numbered("x".into(), ["x".to_string(), "x (2)".to_string()].into_iter()), "x (3)");
    }

    #[test]
    fn a_metric_picks_its_unit_and_label() {
        let line = Measurements { name: "n".into(), points: vec![Measured { x: 50.0, queries: 2.0, rows_read: 40.0, ms: 0.5 }] };
        let (series, label) = series_for(vec![line.clone()], "rows_read");
        assert_eq!((series[0].points.clone(), label.as_str()), (vec![(50.0, 40.0)], "rows read"));
        let (series, label) = series_for(vec![line], "ms");
        assert_eq!((series[0].points.clone(), label.as_str()), (vec![(50.0, 0.5)], "request ms"));
    }


    #[test]
    fn axes_end_on_round_numbers_above_the_data() {
        assert_eq!(nice_axis(61.0), (80.0, 20.0));
        assert_eq!(nice_axis(100_000.0), (100_000.0, 20_000.0));
        assert_eq!(nice_axis(7.3), (8.0, 2.0));
        assert_eq!(nice_axis(0.0), (1.0, 0.2));
        assert_eq!(nice_axis(2.0), (2.0, 0.5));
    }
}
