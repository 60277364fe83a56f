//! Statistics (admins): a bar chart of messages by verdict per day or hour, drawn as SVG by
//! the app, the daily attack profile (what was stopped, by kind), and the most targeted
//! users and busiest sending IPs. `?org_id=`, `?domain_id=` or `?user_id=` narrows it to one
//! organisation, domain or mailbox.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use moat_openapi::{StatsPoint, StatsReport, ThreatKind, TopEntry};

use crate::components::{ErrorNote, Load, Spinner, load_into};

fn threat_label(kind: ThreatKind) -> &'static str {
    match kind {
        ThreatKind::EarlyTalker => "Early talkers",
        ThreatKind::DnsList => "DNS block lists",
        ThreatKind::Spam => "Spam",
        ThreatKind::Attachment => "Attachments",
        ThreatKind::Backscatter => "Back-scatter",
        ThreatKind::BlockList => "Block lists",
        ThreatKind::Dmarc => "DMARC",
        ThreatKind::Tarpit => "Gave up in the tarpit",
    }
}

#[component]
pub fn StatsPage() -> impl IntoView {
    let query = use_query_map();
    // One organisation, domain or mailbox, as the page was opened (from their own pages).
    let narrowed = move || {
        let q = query.read();
        ["org_id", "domain_id", "user_id"]
            .iter()
            .find_map(|k| q.get(k).filter(|v| uuid::Uuid::parse_str(v).is_ok()).map(|v| (*k, v)))
    };
    let org = move || narrowed().map(|(k, v)| format!("&{k}={v}")).unwrap_or_default();
    let range = RwSignal::new("30d".to_string());
    let report = RwSignal::new(Load::<StatsReport>::Loading);
    Effect::new(move |_| {
        let (days, bucket) = match range.get().as_str() {
            "24h" => (1, "hour"),
            "7d" => (7, "day"),
            _ => (30, "day"),
        };
        let to = chrono::DateTime::from_timestamp_millis(js_sys::Date::now() as i64).unwrap_or_default();
        let from = to - chrono::Duration::days(days);
        let enc = |t: chrono::DateTime<chrono::Utc>| {
            js_sys::encode_uri_component(&t.to_rfc3339()).as_string().unwrap_or_default()
        };
        load_into(report, format!("/stats?bucket={bucket}&from={}&to={}{}", enc(from), enc(to), org()));
    });
    view! {
        <section class="panel">
            <h1>"Statistics"</h1>
            {move || narrowed().map(|(k, _)| {
                let of = match k { "domain_id" => "one domain's mail", "user_id" => "one mailbox's mail", _ => "one organisation" };
                view! { <p class="notice">{format!("Showing {of}. ")}<a href="/stats">"Show everything"</a></p> }
            })}
            <div class="field">
                <label for="stats-range">"Period"</label>
                <select id="stats-range" on:change=move |ev| range.set(event_target_value(&ev)) prop:value=move || range.get()>
                    <option value="24h">"Last 24 hours (by hour)"</option>
                    <option value="7d">"Last 7 days"</option>
                    <option value="30d" selected=true>"Last 30 days"</option>
                </select>
            </div>
            {move || match report.get() {
                Load::Loading => view! { <Spinner/> }.into_any(),
                Load::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
                Load::Ready(r) => view! { <Report report=r hourly={range.get() == "24h"}/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Report(report: StatsReport, hourly: bool) -> impl IntoView {
    let t = report.totals.clone();
    view! {
        <dl class="facts" id="stats-totals">
            <dt>"Inbound"</dt><dd>{t.inbound}</dd>
            <dt>"Outbound"</dt><dd>{t.outbound}</dd>
            <dt>"Delivered"</dt><dd>{t.delivered}</dd>
            <dt>"Quarantined"</dt><dd>{t.quarantined}</dd>
            <dt>"Rejected"</dt><dd>{t.rejected}</dd>
            <dt>"Refused"</dt><dd>{t.refused}</dd>
        </dl>
        <h2>"Messages by verdict"</h2>
        <VerdictChart series=report.series.clone() hourly/>
        <h2>"Attack profile"</h2>
        <AttackProfile series=report.series.clone() totals=t hourly/>
        <div class="two-columns">
            <TopList title="Most targeted users" id="top-recipients" entries=report.top_recipients/>
            <TopList title="Busiest sending IPs" id="top-ips" entries=report.top_ips/>
        </div>
        <p class="hint">"Past days keep their 100 busiest IPs and, per domain, recipients: the lists are summed from those."</p>
    }
}

/// Stacked bars (delivered, quarantined, rejected, refused) per bucket.
#[component]
fn VerdictChart(series: Vec<StatsPoint>, hourly: bool) -> impl IntoView {
    if series.is_empty() {
        return view! { <p class="empty">"No traffic in this period."</p> }.into_any();
    }
    const W: f64 = 720.0;
    const H: f64 = 220.0;
    const BASE: f64 = 190.0;
    let max =
        series.iter().map(|p| p.delivered + p.quarantined + p.rejected + p.refused).max().unwrap_or(1).max(1) as f64;
    let slot = W / series.len() as f64;
    let bar = (slot * 0.7).clamp(2.0, 48.0);
    let label = move |p: &StatsPoint| {
        if hourly { p.start.format("%H:00").to_string() } else { p.start.format("%d %b").to_string() }
    };
    let bars = series
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let x = i as f64 * slot + (slot - bar) / 2.0;
            let mut y = BASE;
            let parts = [(p.delivered, "bar-delivered"), (p.quarantined, "bar-quarantined"), (p.rejected, "bar-rejected"), (p.refused, "bar-refused")];
            let rects = parts
                .into_iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, class)| {
                    let h = n as f64 / max * (BASE - 10.0);
                    y -= h;
                    view! { <rect class=class x=format!("{x:.1}") y=format!("{y:.1}") width=format!("{bar:.1}") height=format!("{h:.1}")><title>{n}</title></rect> }
                })
                .collect_view();
            let title = format!("{}: {} delivered, {} quarantined, {} rejected, {} refused", label(p), p.delivered, p.quarantined, p.rejected, p.refused);
            view! {
                <g class="bar" data-start=p.start.to_rfc3339()>
                    <title>{title}</title>
                    {rects}
                    <text x=format!("{:.1}", x + bar / 2.0) y="208" text-anchor="middle" class="axis">{label(p)}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <svg id="verdict-chart" class="chart" viewBox=format!("0 0 {W} {H}") role="img" aria-label="Messages by verdict">
            <line x1="0" y1=BASE x2=W y2=BASE class="axis-line"/>
            <text x="2" y="12" class="axis">{format!("max {max}")}</text>
            {bars}
        </svg>
        <p class="legend">
            <span class="key bar-delivered"></span>" delivered "
            <span class="key bar-quarantined"></span>" quarantined "
            <span class="key bar-rejected"></span>" rejected "
            <span class="key bar-refused"></span>" refused"
        </p>
    }
    .into_any()
}

/// What was stopped, by kind: the range's totals as bars, and per bucket in a table.
#[component]
fn AttackProfile(series: Vec<StatsPoint>, totals: StatsPoint, hourly: bool) -> impl IntoView {
    if totals.threats.is_empty() {
        return view! { <p class="empty">"Nothing was stopped in this period."</p> }.into_any();
    }
    let max = totals.threats.iter().map(|t| t.count).max().unwrap_or(1).max(1) as f64;
    let kinds: Vec<ThreatKind> = totals.threats.iter().map(|t| t.kind).collect();
    let rows = totals
        .threats
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let y = i as f64 * 24.0;
            let w = t.count as f64 / max * 420.0;
            view! {
                <g class="threat" data-kind=moat_openapi::wire_name(&t.kind)>
                    <text x="0" y=format!("{:.0}", y + 15.0) class="axis">{threat_label(t.kind)}</text>
                    <rect class="bar-threat" x="150" y=format!("{y:.0}") width=format!("{w:.1}") height="18"/>
                    <text x=format!("{:.1}", 156.0 + w) y=format!("{:.0}", y + 15.0) class="axis">{t.count}</text>
                </g>
            }
        })
        .collect_view();
    let height = totals.threats.len() as f64 * 24.0;
    let head = kinds.iter().map(|k| view! { <th scope="col">{threat_label(*k)}</th> }).collect_view();
    let body = series
        .into_iter()
        .filter(|p| !p.threats.is_empty())
        .map(|p| {
            let when = if hourly {
                p.start.format("%Y-%m-%d %H:00").to_string()
            } else {
                p.start.format("%Y-%m-%d").to_string()
            };
            let cells = kinds
                .iter()
                .map(|k| view! { <td>{p.threats.iter().find(|t| t.kind == *k).map(|t| t.count).unwrap_or(0)}</td> })
                .collect_view();
            view! { <tr><td>{when}</td>{cells}</tr> }
        })
        .collect_view();
    view! {
        <svg id="attack-chart" class="chart" viewBox=format!("0 0 640 {height}") role="img" aria-label="Stopped, by kind">{rows}</svg>
        <table class="table" id="attack-table">
            <thead><tr><th scope="col">{if hourly { "Hour (UTC)" } else { "Day (UTC)" }}</th>{head}</tr></thead>
            <tbody>{body}</tbody>
        </table>
    }
    .into_any()
}

#[component]
fn TopList(title: &'static str, id: &'static str, entries: Vec<TopEntry>) -> impl IntoView {
    view! {
        <div>
            <h2>{title}</h2>
            {if entries.is_empty() {
                view! { <p class="empty">"None yet."</p> }.into_any()
            } else {
                view! {
                    <table class="table" id=id>
                        <tbody>
                            {entries.into_iter().map(|e| view! { <tr><td>{e.key}</td><td>{e.count}</td></tr> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </div>
    }
}
