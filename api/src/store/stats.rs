//! Statistics: hourly and daily roll-ups written as worker events are stored (one upsert per
//! metric, in the events' transaction, only for events not seen before), the reads that sum
//! them into buckets for a range, and the retention pass that cuts each finished day's top
//! lists to their busiest keys and forgets roll-ups past [`KEEP_DAYS`].

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use moat_openapi::{
    Direction, EventDetail, EventKind, StatsBucket, StatsPoint, ThreatCount, ThreatKind, TopEntry, Verdict, wire_name,
};
use uuid::Uuid;

use super::error::StoreResult;
use super::search::{Arg, Conditions, bind_args};
use super::{Scope, Store, with_pool};

/// Entries of each top list.
const TOP: usize = 10;

/// Keys a finished day keeps per organisation and kind (recipients: per domain). A month's
/// top ten are summed from these, so a key that is never among a day's busiest hundred is
/// not counted; the read then sums a few thousand rows instead of one per key and day.
pub const DAY_TOP_KEEP: i64 = 100;

/// Days the roll-ups are kept (the longest range `GET /stats` answers).
pub const KEEP_DAYS: i64 = 400;

/// What one event adds to the roll-ups.
#[derive(Debug, Clone, PartialEq)]
pub struct RollUp {
    /// The nil id for connections refused before any recipient was known.
    pub org: Uuid,
    pub hour: DateTime<Utc>,
    pub metrics: Vec<String>,
    /// (kind, key) counted once each for the day.
    pub tops: Vec<(&'static str, String)>,
    /// The domains and mailboxes the metrics also count for (`domain:<name>`, `user:<address>`):
    /// inbound, the recipients; outbound, the sender.
    pub keys: Vec<String>,
}

/// The keys of the per-domain and per-user roll-ups.
pub fn domain_key(name: &str) -> String {
    format!("domain:{}", name.to_lowercase())
}

pub fn user_key(address: &str) -> String {
    format!("user:{}", address.to_lowercase())
}

/// The mailboxes (at most 50) and their domains a message counts for.
fn keys_of<'a>(addresses: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut keys = Vec::new();
    for address in addresses.take(50) {
        let Some((_, domain)) = address.rsplit_once('@') else { continue };
        for key in [user_key(address), domain_key(domain)] {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// The kinds of threat a message's reasons name.
pub fn threats(reasons: &[String]) -> Vec<ThreatKind> {
    let mut kinds = Vec::new();
    let mut add = |k: ThreatKind| {
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    };
    for r in reasons {
        let lower = r.to_ascii_lowercase();
        if lower.starts_with("tarpit: ") {
            add(ThreatKind::Tarpit);
        } else if lower.starts_with("early talker") {
            add(ThreatKind::EarlyTalker);
        } else if lower.starts_with("dnsbl") {
            add(ThreatKind::DnsList);
        } else if lower.starts_with("attachment: ") {
            add(ThreatKind::Attachment);
        } else if lower.starts_with("dmarc: ") || lower.starts_with("dmarc_fail") {
            add(ThreatKind::Dmarc);
        } else if lower.starts_with("block list") || lower.starts_with("sender blocked") {
            add(ThreatKind::BlockList);
        } else if lower.contains("back-scatter") {
            add(ThreatKind::Backscatter);
        } else if r.contains("(+") || r == "GTUBE" {
            add(ThreatKind::Spam);
        }
    }
    kinds
}

/// The roll-up of one stored event: a verdict (with what its message's `received` event
/// said: direction, recipients, client IP) or a refusal at connect. Others add nothing.
pub fn roll_up(
    kind: EventKind,
    org: Option<Uuid>,
    at: DateTime<Utc>,
    detail: &EventDetail,
    received: &EventDetail,
) -> Option<RollUp> {
    let hour = at.duration_trunc(Duration::hours(1)).ok()?;
    let direction = received.direction.unwrap_or_default();
    let mut metrics = vec![format!("direction:{}", wire_name(&direction))];
    match kind {
        EventKind::Verdict => {
            metrics.push(format!("verdict:{}", wire_name(&detail.verdict.unwrap_or(Verdict::Deliver))))
        }
        EventKind::Refused => metrics.push("verdict:refused".to_string()),
        _ => return None,
    }
    // A delivered message's reasons are only marks: it was not stopped.
    if detail.verdict != Some(Verdict::Deliver) {
        metrics.extend(threats(&detail.reasons).into_iter().map(|t| format!("threat:{}", wire_name(&t))));
    }
    let keys = match (org, direction) {
        (None, _) => Vec::new(),
        (Some(_), Direction::Inbound) => keys_of(received.recipients.iter()),
        (Some(_), _) => keys_of(received.sender.iter()),
    };
    let mut tops = Vec::new();
    if direction == Direction::Inbound {
        tops.extend(received.recipients.iter().take(50).map(|r| ("recipient", r.to_lowercase())));
        if let Some(ip) = received.client_ip.clone().filter(|ip| !ip.is_empty()) {
            tops.push(("ip", ip));
        }
    }
    Some(RollUp { org: org.unwrap_or(Uuid::nil()), hour, metrics, tops, keys })
}

/// Applies [`RollUp`]s on the transaction `$tx`.
macro_rules! apply_roll_ups {
    ($tx:expr, $roll_ups:expr) => {
        for r in $roll_ups.iter() {
            let day = chrono::DurationRound::duration_trunc(r.hour, chrono::Duration::days(1)).unwrap_or(r.hour);
            for metric in &r.metrics {
                sqlx::query(
                    "INSERT INTO stats_daily (org_id, day, metric, n) VALUES ($1, $2, $3, 1) \
                     ON CONFLICT (org_id, day, metric) DO UPDATE SET n = stats_daily.n + 1",
                )
                .bind(r.org)
                .bind(day)
                .bind(metric)
                .execute(&mut *$tx)
                .await?;
                sqlx::query(
                    "INSERT INTO stats_hourly (org_id, hour, metric, n) VALUES ($1, $2, $3, 1) \
                     ON CONFLICT (org_id, hour, metric) DO UPDATE SET n = stats_hourly.n + 1",
                )
                .bind(r.org)
                .bind(r.hour)
                .bind(metric)
                .execute(&mut *$tx)
                .await?;
                for key in &r.keys {
                    sqlx::query(
                        "INSERT INTO stats_hourly_by (org_id, key, hour, metric, n) VALUES ($1, $2, $3, $4, 1) \
                         ON CONFLICT (org_id, key, hour, metric) DO UPDATE SET n = stats_hourly_by.n + 1",
                    )
                    .bind(r.org)
                    .bind(key)
                    .bind(r.hour)
                    .bind(metric)
                    .execute(&mut *$tx)
                    .await?;
                }
            }
            for (kind, key) in &r.tops {
                sqlx::query(
                    "INSERT INTO stats_top (org_id, day, kind, key, n) VALUES ($1, $2, $3, $4, 1) \
                     ON CONFLICT (org_id, day, kind, key) DO UPDATE SET n = stats_top.n + 1",
                )
                .bind(r.org)
                .bind(day)
                .bind(*kind)
                .bind(key)
                .execute(&mut *$tx)
                .await?;
            }
        }
    };
}
pub(super) use apply_roll_ups;

/// What one statistics read covers: an organisation, an MSP's organisations, and within
/// them one domain or mailbox (`key`).
#[derive(Debug, Clone, Default)]
pub struct StatsFilter {
    pub org: Option<Uuid>,
    pub msp: Option<Uuid>,
    pub key: Option<String>,
}

/// Which organisations' rows a caller reads: `org` within `scope`, or all within reach
/// (the platform's also the refused connections).
fn reach(scope: Scope, org: Option<Uuid>, msp: Option<Uuid>) -> Conditions {
    let mut c = Conditions::default();
    c.org_scope("s", scope);
    if let Some(org) = org {
        c.equals("s.org_id", Arg::Uuid(org));
    }
    if let Some(msp) = msp {
        let p = c.arg(Arg::Uuid(msp));
        c.add(format!("s.org_id IN (SELECT id FROM orgs WHERE msp_id = {p})"));
    }
    c
}

/// The roll-up tables a series is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RollUps {
    Hourly,
    /// Per domain and mailbox (`key`).
    HourlyBy,
    Daily,
}

impl RollUps {
    /// The table and its time column.
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            RollUps::Hourly => ("stats_hourly", "hour"),
            RollUps::HourlyBy => ("stats_hourly_by", "hour"),
            RollUps::Daily => ("stats_daily", "day"),
        }
    }
}

/// The first and the end of the whole (UTC) days within `[from, to)`, if there is one.
fn whole_days(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let day = Duration::days(1);
    let floor = |t: DateTime<Utc>| t.duration_trunc(day).ok();
    let start = floor(from)?;
    let first = if start == from { start } else { start + day };
    let last = floor(to)?;
    (first < last).then_some((first, last))
}

fn add(point: &mut StatsPoint, metric: &str, n: i64) {
    match metric {
        "direction:inbound" => point.inbound += n,
        "direction:outbound" => point.outbound += n,
        "verdict:deliver" => point.delivered += n,
        "verdict:quarantine" => point.quarantined += n,
        "verdict:reject" => point.rejected += n,
        "verdict:refused" => point.refused += n,
        other => {
            let Some(kind) = other.strip_prefix("threat:").and_then(moat_openapi::from_wire_name::<ThreatKind>) else {
                return;
            };
            match point.threats.iter_mut().find(|t| t.kind == kind) {
                Some(t) => t.count += n,
                None => {
                    point.threats.push(ThreatCount { kind, count: n });
                    point.threats.sort_by_key(|t| t.kind);
                }
            }
        }
    }
}

impl Store {
    /// The series (one point per bucket with traffic) and the totals of `[from, to)`.
    /// With `filter.key`, one domain's or mailbox's (see [`domain_key`], [`user_key`]).
    pub async fn stats_series(
        &self,
        scope: Scope,
        filter: &StatsFilter,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        bucket: StatsBucket,
    ) -> StoreResult<(Vec<StatsPoint>, StatsPoint)> {
        let hourly = if filter.key.is_some() { RollUps::HourlyBy } else { RollUps::Hourly };
        let mut rows = Vec::new();
        // The whole days of a read by day come from the daily roll-up (a month of an MSP is
        // then 31 rows a metric and organisation, not 744); the hours around them from the
        // hourly one, so a range need not start or end at midnight.
        match whole_days(from, to).filter(|_| bucket == StatsBucket::Day && filter.key.is_none()) {
            Some((first, last)) => {
                for edge in [(from, first), (last, to)].into_iter().filter(|(a, b)| a < b) {
                    rows.extend(self.roll_up_rows(scope, filter, hourly, edge).await?);
                }
                rows.extend(self.roll_up_rows(scope, filter, RollUps::Daily, (first, last)).await?);
            }
            None => rows = self.roll_up_rows(scope, filter, hourly, (from, to)).await?,
        }
        let width = match bucket {
            StatsBucket::Hour => Duration::hours(1),
            StatsBucket::Day => Duration::days(1),
        };
        let mut points: BTreeMap<DateTime<Utc>, StatsPoint> = BTreeMap::new();
        let mut totals = StatsPoint { start: from, ..Default::default() };
        for (at, metric, n) in rows {
            let start = at.duration_trunc(width).unwrap_or(at);
            add(points.entry(start).or_insert_with(|| StatsPoint { start, ..Default::default() }), &metric, n);
            add(&mut totals, &metric, n);
        }
        Ok((points.into_values().collect(), totals))
    }

    /// (hour or day, metric, count) of one roll-up table over `[from, to)`.
    async fn roll_up_rows(
        &self,
        scope: Scope,
        filter: &StatsFilter,
        table: RollUps,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
    ) -> StoreResult<Vec<(DateTime<Utc>, String, i64)>> {
        let mut c = reach(scope, filter.org, filter.msp);
        if let (RollUps::HourlyBy, Some(key)) = (table, &filter.key) {
            c.equals("s.key", Arg::Text(key.clone()));
        }
        let (name, at) = table.sql();
        c.time_range(&format!("s.{at}"), Some(from), Some(to));
        let sql = format!(
            "SELECT s.{at}, s.metric, CAST(SUM(s.n) AS BIGINT) FROM {name} s WHERE {} GROUP BY s.{at}, s.metric",
            c.sql()
        );
        Ok(with_pool!(self, pool => bind_args!(sqlx::query_as(&sql), c.args).fetch_all(pool).await)?)
    }

    /// The `kind` (`recipient` or `ip`) keys with the most messages over the days of the range
    /// (with a domain filter, that domain's recipients).
    pub async fn stats_top(
        &self,
        scope: Scope,
        filter: &StatsFilter,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        kind: &str,
    ) -> StoreResult<Vec<TopEntry>> {
        let mut c = reach(scope, filter.org, filter.msp);
        if let Some(domain) = filter.key.as_deref().and_then(|k| k.strip_prefix("domain:")) {
            let p = c.arg(Arg::Text(format!("%@{domain}")));
            c.add(format!("s.key LIKE {p}"));
        }
        let day_from = from.duration_trunc(Duration::days(1)).unwrap_or(from);
        c.time_range("s.day", Some(day_from), Some(to));
        c.equals("s.kind", Arg::Text(kind.to_string()));
        let sql = format!(
            "SELECT s.key, CAST(SUM(s.n) AS BIGINT) AS total FROM stats_top s WHERE {} GROUP BY s.key \
             ORDER BY total DESC, s.key LIMIT {TOP}",
            c.sql()
        );
        let rows: Vec<(String, i64)> =
            with_pool!(self, pool => bind_args!(sqlx::query_as(&sql), c.args).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(|(key, count)| TopEntry { key, count }).collect())
    }
}

impl Store {
    /// Cuts the top lists of every finished day not cut yet to their busiest
    /// [`DAY_TOP_KEEP`] keys, and forgets roll-ups older than [`KEEP_DAYS`]; answers how many
    /// days were cut. Late events for a day already cut add to what it kept.
    pub async fn compact_stats(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let today = now.duration_trunc(Duration::days(1)).unwrap_or(now);
        let keep_from = today - Duration::days(KEEP_DAYS);
        for sql in [
            "DELETE FROM stats_hourly WHERE hour < $1",
            "DELETE FROM stats_hourly_by WHERE hour < $1",
            "DELETE FROM stats_daily WHERE day < $1",
            "DELETE FROM stats_top WHERE day < $1",
        ] {
            with_pool!(self, pool => sqlx::query(sql).bind(keep_from).execute(pool).await.map(|_| ()))?;
        }
        let next: Option<DateTime<Utc>> = with_pool!(self, pool => sqlx::query_scalar(
            "SELECT next_day FROM stats_compaction WHERE id = 1").fetch_optional(pool).await)?;
        let first = match next {
            Some(day) => day,
            None => with_pool!(self, pool => sqlx::query_scalar::<_, Option<DateTime<Utc>>>(
                "SELECT MIN(day) FROM stats_top").fetch_one(pool).await)?
            .unwrap_or(today),
        };
        let mut day = first.max(keep_from);
        let mut cut = 0;
        while day < today {
            self.cut_top_lists(day).await?;
            day += Duration::days(1);
            cut += 1;
        }
        with_pool!(self, pool => sqlx::query(
            "INSERT INTO stats_compaction (id, next_day) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET next_day = excluded.next_day")
            .bind(day.max(first)).execute(pool).await.map(|_| ()))?;
        Ok(cut)
    }

    /// Keeps one day's [`DAY_TOP_KEEP`] busiest keys per organisation and kind, recipients
    /// per domain (a domain's own top list is read from them).
    async fn cut_top_lists(&self, day: DateTime<Utc>) -> StoreResult<()> {
        let ranked = |domain_of_key: &str| {
            format!(
                "SELECT org_id, kind, key, ROW_NUMBER() OVER (PARTITION BY org_id, kind, \
                 CASE WHEN kind = 'recipient' THEN {domain_of_key} ELSE '' END ORDER BY n DESC, key) AS rank \
                 FROM stats_top WHERE day = $1"
            )
        };
        let sqlite = format!(
            "DELETE FROM stats_top WHERE day = $2 AND (org_id, kind, key) IN \
             (SELECT org_id, kind, key FROM ({}) WHERE rank > {DAY_TOP_KEEP})",
            ranked("substr(key, instr(key, '@') + 1)")
        );
        let postgres = format!(
            "DELETE FROM stats_top t USING ({}) r WHERE t.day = $2 AND r.rank > {DAY_TOP_KEEP} \
             AND t.org_id = r.org_id AND t.kind = r.kind AND t.key = r.key",
            ranked("substr(key, strpos(key, '@') + 1)")
        );
        let sql = if self.is_sqlite() { sqlite } else { postgres };
        with_pool!(self, pool => sqlx::query(&sql).bind(day).bind(day).execute(pool).await.map(|_| ()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_their_kinds_of_threat() {
        let r = |v: &[&str]| threats(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(r(&["early talker: 5 bytes before the greeting"]), vec![ThreatKind::EarlyTalker]);
        assert_eq!(r(&["DNSBL score 5 (zen.test)"]), vec![ThreatKind::DnsList]);
        assert_eq!(r(&["BAYES_99 (+5.5)", "DNSBL (+2.0)"]), vec![ThreatKind::Spam, ThreatKind::DnsList]);
        assert_eq!(r(&["attachment: invoice.exe"]), vec![ThreatKind::Attachment]);
        assert_eq!(r(&["DMARC: bank.test p=reject"]), vec![ThreatKind::Dmarc]);
        assert_eq!(r(&["Bounce for a message we never sent (back-scatter) refused"]), vec![ThreatKind::Backscatter]);
        assert_eq!(r(&["tarpit: hung up after 3001 ms of the greeting delay"]), vec![ThreatKind::Tarpit]);
        assert_eq!(r(&["HTML_ONLY (-1.0)"]), Vec::<ThreatKind>::new());
    }

    #[test]
    fn whole_days_lie_between_the_edges_of_a_range() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            whole_days(t("2026-11-01T05:00:00Z"), t("2026-11-04T07:00:00Z")),
            Some((t("2026-11-02T00:00:00Z"), t("2026-11-04T00:00:00Z")))
        );
        assert_eq!(
            whole_days(t("2026-11-01T00:00:00Z"), t("2026-11-02T00:00:00Z")),
            Some((t("2026-11-01T00:00:00Z"), t("2026-11-02T00:00:00Z")))
        );
        assert_eq!(whole_days(t("2026-11-01T05:00:00Z"), t("2026-11-02T04:00:00Z")), None);
    }
}
