//! PROD maintenance windows (RB-003 §4.1.2), as data that a deployed configuration can change.
//!
//! A window is a half-open interval `[start, end)` on one UTC weekday. Windows do not cross
//! midnight: `end` may be `24:00` at the latest, and a window running past midnight is written
//! as two windows.

use crate::approvals::Requirement;
use crate::env::{Env, PromotionPath};
use crate::metrics::human_duration;
use chrono::{DateTime, Datelike, Days, NaiveTime, TimeDelta, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::fmt;

const MINUTES_PER_DAY: u16 = 24 * 60;

/// A day of the week, written `mon` … `sun` (full names are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    /// Monday.
    #[serde(alias = "monday")]
    Mon,
    /// Tuesday.
    #[serde(alias = "tuesday")]
    Tue,
    /// Wednesday.
    #[serde(alias = "wednesday")]
    Wed,
    /// Thursday.
    #[serde(alias = "thursday")]
    Thu,
    /// Friday.
    #[serde(alias = "friday")]
    Fri,
    /// Saturday.
    #[serde(alias = "saturday")]
    Sat,
    /// Sunday.
    #[serde(alias = "sunday")]
    Sun,
}

impl Day {
    /// The chrono weekday.
    pub fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }

    /// The three-letter name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Day::Mon => "mon",
            Day::Tue => "tue",
            Day::Wed => "wed",
            Day::Thu => "thu",
            Day::Fri => "fri",
            Day::Sat => "sat",
            Day::Sun => "sun",
        }
    }
}

/// A time of day in whole minutes, `00:00` to `24:00` inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    /// Parses `HH:MM` (two digits each); `24:00` is the end of the day.
    pub fn parse(text: &str) -> Result<TimeOfDay, WindowError> {
        let invalid = || WindowError::InvalidTime(text.to_owned());
        let (h, m) = text.split_once(':').ok_or_else(invalid)?;
        let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !two_digits(h) || !two_digits(m) {
            return Err(invalid());
        }
        let hours: u16 = h.parse().map_err(|_| invalid())?;
        let minutes: u16 = m.parse().map_err(|_| invalid())?;
        if minutes > 59 || hours * 60 + minutes > MINUTES_PER_DAY {
            return Err(invalid());
        }
        Ok(TimeOfDay(hours * 60 + minutes))
    }

    /// Minutes since midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }

    fn seconds(self) -> u32 {
        u32::from(self.0) * 60
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// Why window data was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A time that is not `HH:MM` between `00:00` and `24:00`.
    #[error("invalid time '{0}' (expected HH:MM between 00:00 and 24:00)")]
    InvalidTime(String),
    /// A window whose end is not after its start.
    #[error("window end {end} must be after its start {start}")]
    EndNotAfterStart {
        /// The window's start.
        start: TimeOfDay,
        /// The window's end.
        end: TimeOfDay,
    },
}

/// One weekly maintenance window, e.g. `{"day":"tue","start":"20:00","end":"24:00"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "WindowRepr", into = "WindowRepr")]
pub struct Window {
    day: Day,
    start: TimeOfDay,
    end: TimeOfDay,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowRepr {
    day: Day,
    start: String,
    end: String,
}

impl TryFrom<WindowRepr> for Window {
    type Error = WindowError;

    fn try_from(repr: WindowRepr) -> Result<Window, WindowError> {
        Window::new(
            repr.day,
            TimeOfDay::parse(&repr.start)?,
            TimeOfDay::parse(&repr.end)?,
        )
    }
}

impl From<Window> for WindowRepr {
    fn from(w: Window) -> WindowRepr {
        WindowRepr {
            day: w.day,
            start: w.start.to_string(),
            end: w.end.to_string(),
        }
    }
}

impl Window {
    /// A window on `day` from `start` up to (not including) `end`.
    pub fn new(day: Day, start: TimeOfDay, end: TimeOfDay) -> Result<Window, WindowError> {
        if end <= start {
            return Err(WindowError::EndNotAfterStart { start, end });
        }
        Ok(Window { day, start, end })
    }

    /// RB-003 §4.1.2: Tuesday and Thursday 20:00–24:00 UTC, Saturday 04:00–08:00 UTC.
    pub fn runbook() -> Vec<Window> {
        let hm = |h: u16| TimeOfDay(h * 60);
        vec![
            Window {
                day: Day::Tue,
                start: hm(20),
                end: hm(24),
            },
            Window {
                day: Day::Thu,
                start: hm(20),
                end: hm(24),
            },
            Window {
                day: Day::Sat,
                start: hm(4),
                end: hm(8),
            },
        ]
    }

    /// The window's weekday.
    pub fn day(&self) -> Day {
        self.day
    }

    /// When the window opens.
    pub fn start(&self) -> TimeOfDay {
        self.start
    }

    /// When the window closes (the first moment outside it).
    pub fn end(&self) -> TimeOfDay {
        self.end
    }

    /// Whether `now` falls inside the window.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        let second = now.num_seconds_from_midnight();
        now.weekday() == self.day.weekday()
            && second >= self.start.seconds()
            && second < self.end.seconds()
    }

    /// The first opening of this window at or after `now`; `None` only past chrono's range.
    pub fn next_start(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = now.date_naive();
        let days_ahead = (7 + self.day.weekday().num_days_from_monday()
            - now.weekday().num_days_from_monday())
            % 7;
        let offset = TimeDelta::minutes(i64::from(self.start.0));
        let at = |days: u32| {
            today
                .checked_add_days(Days::new(u64::from(days)))
                .map(|d| d.and_time(NaiveTime::MIN).and_utc())
                .and_then(|midnight| midnight.checked_add_signed(offset))
        };
        let candidate = at(days_ahead)?;
        if candidate >= now {
            Some(candidate)
        } else {
            at(days_ahead + 7)
        }
    }

    /// When the window that contains `now` closes; `None` when `now` is outside it.
    pub fn closes_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.contains(now) {
            return None;
        }
        let midnight = now.date_naive().and_time(NaiveTime::MIN).and_utc();
        midnight.checked_add_signed(TimeDelta::minutes(i64::from(self.end.0)))
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}-{} UTC", self.day.as_str(), self.start, self.end)
    }
}

/// The window `now` falls in, if any.
pub fn window_at(now: DateTime<Utc>, windows: &[Window]) -> Option<&Window> {
    windows.iter().find(|w| w.contains(now))
}

/// The earliest window opening at or after `now`; `None` when there are no windows.
pub fn next_window_start(now: DateTime<Utc>, windows: &[Window]) -> Option<DateTime<Utc>> {
    windows.iter().filter_map(|w| w.next_start(now)).min()
}

/// Whether a promotion may deploy now, as far as maintenance windows go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WindowCheck {
    /// The path does not need a window (DEV -> SIT).
    NotRequired,
    /// `now` is inside a window, which closes at `closes_at`.
    InWindow {
        /// When the window closes.
        closes_at: Option<DateTime<Utc>>,
    },
    /// Outside every window, but an emergency was declared: the emergency approvals apply.
    EmergencyOverride,
    /// Outside every window and no emergency: wait until `next_start`.
    Refused {
        /// When the next window opens.
        next_start: Option<DateTime<Utc>>,
    },
}

/// Decides whether `path` may deploy at `now` (§4.1.2: PROD only in a window or as an emergency).
pub fn check_window(
    path: PromotionPath,
    now: DateTime<Utc>,
    windows: &[Window],
    emergency: bool,
) -> WindowCheck {
    if !path.requires_maintenance_window() {
        return WindowCheck::NotRequired;
    }
    match window_at(now, windows) {
        Some(w) => WindowCheck::InWindow {
            closes_at: w.closes_at(now),
        },
        None if emergency => WindowCheck::EmergencyOverride,
        None => WindowCheck::Refused {
            next_start: next_window_start(now, windows),
        },
    }
}

/// Why a deployment to `target` is refused at `now`, and what the requester can do: the windows,
/// the current time, when the next window opens (and how long until then), and the emergency
/// path with the approvers it needs.
pub fn outside_window_cause(
    target: Env,
    now: DateTime<Utc>,
    windows: &[Window],
    emergency_approval: &Requirement,
) -> String {
    let listed: Vec<String> = windows.iter().map(ToString::to_string).collect();
    let next = match next_window_start(now, windows) {
        Some(at) => {
            let wait = u64::try_from((at - now).num_minutes().max(0)).unwrap_or(0) * 60;
            format!(
                "the next window opens {} (in {})",
                at.format("%a %Y-%m-%d %H:%M UTC"),
                waiting_time(wait)
            )
        }
        None => "no window is configured".to_owned(),
    };
    format!(
        "{} deploys only inside a maintenance window ({}); it is {} now and {next}. Start the \
         promotion again inside a window, or declare an emergency with its incident \
         (\"emergency\": {{\"incident\": \"INC-<digits>\"}}), which needs the approval of {}",
        target.label(),
        listed.join(", "),
        now.format("%a %Y-%m-%d %H:%M UTC"),
        emergency_approval
    )
}

/// `2 d 4 h 10 min`, `3 h`, `25 min`: a wait in whole minutes.
fn waiting_time(seconds: u64) -> String {
    let days = seconds / 86_400;
    let hours = seconds % 86_400 / 3_600;
    let minutes = seconds % 3_600 / 60;
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days} d"));
    }
    if hours > 0 {
        parts.push(format!("{hours} h"));
    }
    if minutes > 0 || parts.is_empty() {
        parts.push(human_duration(minutes * 60).replace("0 s", "0 min"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    // 2026-01-27 is a Tuesday.
    fn at(day: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, h, m, s).unwrap()
    }

    fn windows() -> Vec<Window> {
        Window::runbook()
    }

    #[test]
    fn calendar_assumption_holds() {
        assert_eq!(at(27, 0, 0, 0).weekday(), Weekday::Tue);
        assert_eq!(at(31, 0, 0, 0).weekday(), Weekday::Sat);
    }

    #[test]
    fn tuesday_window_edges() {
        let w = windows();
        assert_eq!(window_at(at(27, 19, 59, 59), &w), None);
        assert_eq!(window_at(at(27, 20, 0, 0), &w), Some(&w[0]));
        assert_eq!(window_at(at(27, 23, 59, 59), &w), Some(&w[0]));
        assert_eq!(window_at(at(28, 0, 0, 0), &w), None, "Wednesday 00:00");
    }

    #[test]
    fn sub_second_edges_stay_on_the_right_side() {
        let w = windows();
        let just_before = at(27, 20, 0, 0) - TimeDelta::milliseconds(1);
        assert_eq!(window_at(just_before, &w), None);
        let last_instant = at(28, 0, 0, 0) - TimeDelta::milliseconds(1);
        assert_eq!(window_at(last_instant, &w), Some(&w[0]));
    }

    #[test]
    fn thursday_window_is_open_in_the_evening() {
        let w = windows();
        assert_eq!(window_at(at(29, 21, 30, 0), &w), Some(&w[1]));
        assert_eq!(window_at(at(29, 12, 0, 0), &w), None);
    }

    #[test]
    fn saturday_morning_window_edges() {
        let w = windows();
        assert_eq!(window_at(at(31, 3, 59, 59), &w), None);
        assert_eq!(window_at(at(31, 4, 0, 0), &w), Some(&w[2]));
        assert_eq!(window_at(at(31, 7, 59, 59), &w), Some(&w[2]));
        assert_eq!(window_at(at(31, 8, 0, 0), &w), None);
    }

    #[test]
    fn sunday_monday_wednesday_and_friday_have_no_window() {
        let w = windows();
        let others = [
            Utc.with_ymd_and_hms(2026, 2, 1, 5, 0, 0).unwrap(),
            at(26, 21, 0, 0),
            at(28, 21, 0, 0),
            at(30, 5, 0, 0),
        ];
        for now in others {
            assert_eq!(window_at(now, &w), None, "{now}");
        }
    }

    #[test]
    fn next_start_wraps_the_week_from_saturday_to_tuesday() {
        let next = next_window_start(at(31, 9, 0, 0), &windows());
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 2, 3, 20, 0, 0).single());
    }

    #[test]
    fn next_start_is_later_the_same_day_or_now_at_an_opening() {
        let w = windows();
        assert_eq!(
            next_window_start(at(27, 10, 0, 0), &w),
            Some(at(27, 20, 0, 0))
        );
        assert_eq!(
            next_window_start(at(27, 20, 0, 0), &w),
            Some(at(27, 20, 0, 0))
        );
        assert_eq!(
            next_window_start(at(27, 20, 0, 1), &w),
            Some(at(29, 20, 0, 0))
        );
        assert_eq!(
            next_window_start(at(29, 23, 0, 0), &w),
            Some(at(31, 4, 0, 0))
        );
    }

    #[test]
    fn next_start_for_a_single_window_earlier_the_same_weekday_is_a_week_later() {
        let w = [Window::runbook()[2]];
        assert_eq!(
            next_window_start(at(31, 9, 0, 0), &w),
            Utc.with_ymd_and_hms(2026, 2, 7, 4, 0, 0).single()
        );
    }

    #[test]
    fn next_start_with_no_windows_is_none() {
        assert_eq!(next_window_start(at(27, 10, 0, 0), &[]), None);
        assert_eq!(window_at(at(27, 21, 0, 0), &[]), None);
    }

    #[test]
    fn windows_deserialize_from_json() {
        let w: Window =
            serde_json::from_str(r#"{"day":"tue","start":"20:00","end":"24:00"}"#).unwrap();
        assert_eq!(w, Window::runbook()[0]);
        let full: Window =
            serde_json::from_str(r#"{"day":"saturday","start":"04:00","end":"08:00"}"#).unwrap();
        assert_eq!(full, Window::runbook()[2]);
        assert_eq!(w.to_string(), "tue 20:00-24:00 UTC");
    }

    #[test]
    fn windows_serialize_back_to_the_same_json() {
        let json = serde_json::to_value(Window::runbook()).unwrap();
        assert_eq!(
            json[1],
            serde_json::json!({"day":"thu","start":"20:00","end":"24:00"})
        );
        let back: Vec<Window> = serde_json::from_value(json).unwrap();
        assert_eq!(back, Window::runbook());
    }

    #[test]
    fn window_data_is_validated() {
        let bad = [
            r#"{"day":"tues","start":"20:00","end":"24:00"}"#,
            r#"{"day":"tue","start":"22:00","end":"02:00"}"#,
            r#"{"day":"tue","start":"20:00","end":"20:00"}"#,
            r#"{"day":"tue","start":"20:00","end":"24:01"}"#,
            r#"{"day":"tue","start":"8:00","end":"09:00"}"#,
            r#"{"day":"tue","start":"08:60","end":"09:00"}"#,
            r#"{"day":"tue","start":"25:00","end":"26:00"}"#,
            r#"{"day":"tue","start":"20:00"}"#,
            r#"{"day":"tue","start":"20:00","end":"24:00","tz":"SAST"}"#,
        ];
        for json in bad {
            assert!(serde_json::from_str::<Window>(json).is_err(), "{json}");
        }
    }

    #[test]
    fn window_errors_explain_themselves() {
        let start = TimeOfDay::parse("22:00").unwrap();
        let end = TimeOfDay::parse("02:00").unwrap();
        assert_eq!(
            Window::new(Day::Tue, start, end).unwrap_err().to_string(),
            "window end 02:00 must be after its start 22:00"
        );
        assert_eq!(
            TimeOfDay::parse("7pm").unwrap_err().to_string(),
            "invalid time '7pm' (expected HH:MM between 00:00 and 24:00)"
        );
        assert_eq!(TimeOfDay::parse("24:00").map(TimeOfDay::minutes), Ok(1440));
    }

    #[test]
    fn closes_at_reports_the_end_of_the_current_window() {
        let w = Window::runbook()[0];
        assert_eq!(w.closes_at(at(27, 21, 0, 0)), Some(at(28, 0, 0, 0)));
        assert_eq!(w.closes_at(at(27, 19, 0, 0)), None);
    }

    #[test]
    fn check_window_only_constrains_prod() {
        let w = windows();
        let tuesday_noon = at(27, 12, 0, 0);
        assert_eq!(
            check_window(PromotionPath::DevToSit, tuesday_noon, &w, false),
            WindowCheck::NotRequired
        );
        assert_eq!(
            check_window(PromotionPath::SitToProd, tuesday_noon, &w, false),
            WindowCheck::Refused {
                next_start: Some(at(27, 20, 0, 0))
            }
        );
        assert_eq!(
            check_window(PromotionPath::SitToProd, tuesday_noon, &w, true),
            WindowCheck::EmergencyOverride
        );
        assert_eq!(
            check_window(PromotionPath::SitToProd, at(27, 20, 30, 0), &w, true),
            WindowCheck::InWindow {
                closes_at: Some(at(28, 0, 0, 0))
            }
        );
    }

    #[test]
    fn the_refusal_names_the_next_window_and_the_emergency_path() {
        // Wednesday 2026-01-28 10:00 UTC: the next window is Thursday 20:00.
        let cause = outside_window_cause(
            Env::Prod,
            at(28, 10, 0, 0),
            &windows(),
            &crate::ApprovalPolicy::runbook().emergency,
        );
        assert_eq!(
            cause,
            "PROD deploys only inside a maintenance window (tue 20:00-24:00 UTC, thu 20:00-24:00 \
             UTC, sat 04:00-08:00 UTC); it is Wed 2026-01-28 10:00 UTC now and the next window \
             opens Thu 2026-01-29 20:00 UTC (in 1 d 10 h). Start the promotion again inside a \
             window, or declare an emergency with its incident (\"emergency\": {\"incident\": \
             \"INC-<digits>\"}), which needs the approval of all of: tech_lead, cto"
        );
    }

    #[test]
    fn the_refusal_counts_minutes_and_says_when_there_is_no_window() {
        let emergency = crate::ApprovalPolicy::runbook().emergency;
        let cause = outside_window_cause(Env::Prod, at(27, 19, 35, 20), &windows(), &emergency);
        assert!(
            cause.contains("opens Tue 2026-01-27 20:00 UTC (in 24 min)"),
            "{cause}"
        );
        let cause = outside_window_cause(Env::Prod, at(27, 19, 59, 59), &windows(), &emergency);
        assert!(cause.contains("(in 0 min)"), "{cause}");
        let none = outside_window_cause(Env::Prod, at(27, 10, 0, 0), &[], &emergency);
        assert!(none.contains("now and no window is configured."), "{none}");
    }
}
