//! When a digest is due: the next of a user's local times of day after an instant, in its
//! IANA time zone, right across daylight-saving changes (`chrono-tz`).

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Parses `HH:MM` (24-hour).
pub fn parse_time(text: &str) -> Option<NaiveTime> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// A stored IANA zone name as a zone (UTC when it is not one: names are checked on input).
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// The next digest after `after` of a schedule as stored: zone name and `HH:MM` times.
pub fn next_for(after: DateTime<Utc>, zone_name: &str, times: &[String]) -> Option<DateTime<Utc>> {
    let times: Vec<NaiveTime> = times.iter().filter_map(|t| parse_time(t)).collect();
    next_after(after, zone(zone_name), &times)
}

/// The first instant after `after` at which the local clock of `zone` shows one of `times`.
/// A time skipped by a spring-forward change is taken at the first minute that exists after
/// it; a time that happens twice (autumn) is taken the first time.
pub fn next_after(after: DateTime<Utc>, zone: Tz, times: &[NaiveTime]) -> Option<DateTime<Utc>> {
    let today = after.with_timezone(&zone).date_naive();
    (-1..=2)
        .filter_map(|days| today.checked_add_signed(Duration::days(days)))
        .flat_map(|date| times.iter().map(move |time| date.and_time(*time)))
        .filter_map(|local| resolve(zone, local))
        .filter(|at| *at > after)
        .min()
}

fn resolve(zone: Tz, local: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(at) = zone.from_local_datetime(&local).earliest() {
        return Some(at.to_utc());
    }
    // In a gap: walk forward a minute at a time to the first local time that exists.
    (1..=180).find_map(|m| zone.from_local_datetime(&(local + Duration::minutes(m))).earliest().map(|t| t.to_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn tokyo_at_eight_and_four() {
        let times = [parse_time("08:00").unwrap(), parse_time("16:00").unwrap()];
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        // 22:30 UTC is 07:30 in Tokyo the next day: 08:00 Tokyo is 23:00 UTC.
        assert_eq!(next_after(utc("2026-12-01T22:30:00Z"), tokyo, &times), Some(utc("2026-12-01T23:00:00Z")));
        assert_eq!(next_after(utc("2026-12-01T23:00:00Z"), tokyo, &times), Some(utc("2026-12-02T07:00:00Z")));
        assert_eq!(next_after(utc("2026-12-02T07:00:00Z"), tokyo, &times), Some(utc("2026-12-02T23:00:00Z")));
    }

    #[test]
    fn daylight_saving_changes_keep_the_local_time() {
        let eight = [parse_time("08:00").unwrap()];
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Before the change 08:00 is 07:00 UTC (CET), after it 06:00 UTC (CEST).
        assert_eq!(next_after(utc("2026-03-28T08:00:00Z"), berlin, &eight), Some(utc("2026-03-29T06:00:00Z")));
        assert_eq!(next_after(utc("2026-10-24T07:00:00Z"), berlin, &eight), Some(utc("2026-10-25T07:00:00Z")));
        // 02:30 does not exist on 29 March 2026 in Berlin: 03:00 CEST is taken.
        let half_past_two = [parse_time("02:30").unwrap()];
        assert_eq!(next_after(utc("2026-03-28T12:00:00Z"), berlin, &half_past_two), Some(utc("2026-03-29T01:00:00Z")));
        // 02:30 happens twice on 25 October 2026: the first (CEST, 00:30 UTC).
        assert_eq!(next_after(utc("2026-10-24T12:00:00Z"), berlin, &half_past_two), Some(utc("2026-10-25T00:30:00Z")));
    }

    #[test]
    fn times_are_strict_hh_mm() {
        assert!(parse_time("8:00").is_none());
        assert!(parse_time("24:00").is_none());
        assert!(parse_time("12:60").is_none());
        assert_eq!(parse_time("23:59"), NaiveTime::from_hms_opt(23, 59, 0));
    }
}
