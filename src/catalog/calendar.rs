//! The working-day calendar that regulatory deadlines are counted on.
//!
//! Saturdays and Sundays are days off; the catalog lists the public holidays
//! (federal and the republic's) and the days the government moves: a weekday
//! declared a day off is a holiday here, a Saturday declared working is a
//! working day. Dates are civil dates in the city's own time zone (Kazan,
//! UTC+3): a deadline is a day, not an instant.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// How a regulatory deadline is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeadlineKind {
    /// Working days: weekends and holidays do not count.
    Working,
    /// Calendar days: every day counts; a deadline that ends on a day off
    /// moves to the next working day (Civil Code art. 193).
    Calendar,
}

impl fmt::Display for DeadlineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Working => "working",
            Self::Calendar => "calendar",
        })
    }
}

/// A regulatory deadline: so many working or calendar days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Deadline {
    /// At least 1 (the catalog refuses 0).
    pub days: u32,
    pub kind: DeadlineKind,
}

impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} days", self.days, self.kind)
    }
}

/// Days off beyond the weekends, and weekend days declared working.
///
/// # Examples
/// ```
/// use chrono::NaiveDate;
/// use imgis::catalog::Catalog;
/// let calendar = &Catalog::builtin().calendar;
/// let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
/// // Submitted on Friday 6 March 2026: Sunday 8 March is Women's Day, and
/// // the day off moves to Monday 9 March, so 5 working days end on the 16th.
/// assert_eq!(calendar.add_working_days(d(3, 6), 5), d(3, 16));
/// assert_eq!(calendar.working_days_between(d(3, 6), d(3, 16)), 5);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// Non-working days besides Saturdays and Sundays: public holidays, and
    /// weekdays that a weekend day off was moved to. A holiday that falls on a
    /// weekend may be listed too; it changes nothing.
    #[serde(default, deserialize_with = "dates::set")]
    pub holidays: BTreeSet<NaiveDate>,
    /// Saturdays or Sundays declared working days (a day off moved away).
    #[serde(default, deserialize_with = "dates::set")]
    pub working_days: BTreeSet<NaiveDate>,
}

/// Both weekend days: `Saturday` and `Sunday`.
fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// `d` plus `n` days. Deadlines are days to years; chrono's range ends in
/// the year 262 143, which no deadline reaches.
fn plus(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_add_days(Days::new(n))
        .expect("a deadline within chrono's date range (year 262 143)")
}

impl Calendar {
    /// Whether `d` is a working day: a declared working day, or a weekday
    /// that is not a holiday.
    #[must_use]
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        self.working_days.contains(&d) || !(is_weekend(d) || self.holidays.contains(&d))
    }

    /// The `n`-th working day after `start`: a deadline of `n` working days
    /// for something submitted on `start`, counted from the next day (Civil
    /// Code art. 191). `n = 0` gives `start` itself.
    ///
    /// # Panics
    /// When the result lies past chrono's last date (the year 262 143).
    #[must_use]
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        let mut day = start;
        let mut left = n;
        while left > 0 {
            // A whole week with no exception in it holds exactly 5 working
            // days: skip it in one step while more than a week is left.
            let week_end = plus(day, 7);
            if left > 5 && !self.has_exception(plus(day, 1), week_end) {
                day = week_end;
                left -= 5;
                continue;
            }
            day = plus(day, 1);
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }

    /// `start` plus `n` calendar days, moved on to the next working day when
    /// it is a day off (Civil Code art. 193). `n = 0` gives `start` itself.
    ///
    /// # Panics
    /// When the result lies past chrono's last date (the year 262 143).
    #[must_use]
    pub fn add_calendar_days(&self, start: NaiveDate, n: u32) -> NaiveDate {
        if n == 0 {
            return start;
        }
        let mut day = plus(start, u64::from(n));
        while !self.is_working_day(day) {
            day = plus(day, 1);
        }
        day
    }

    /// The due date of `deadline` for something submitted on `submitted`.
    #[must_use]
    pub fn due(&self, submitted: NaiveDate, deadline: Deadline) -> NaiveDate {
        match deadline.kind {
            DeadlineKind::Working => self.add_working_days(submitted, deadline.days),
            DeadlineKind::Calendar => self.add_calendar_days(submitted, deadline.days),
        }
    }

    /// Working days after `a` up to and including `b`; negative when `b` is
    /// before `a`. So `working_days_between(a, add_working_days(a, n)) == n`,
    /// and for a task due on `a` and still open on `b`, it counts the working
    /// days it is overdue.
    ///
    /// # Panics
    /// When `a` or `b` lies within a week of chrono's last date.
    #[must_use]
    pub fn working_days_between(&self, a: NaiveDate, b: NaiveDate) -> i64 {
        if b < a {
            return -self.working_days_between(b, a);
        }
        // Days in (a, b]: whole weeks hold 5 weekdays each; the rest is
        // counted one by one, then the exceptions in the range are applied.
        let days = (b - a).num_days();
        let weeks = days / 7;
        let mut count = weeks * 5;
        let mut day = plus(a, u64::try_from(weeks * 7).expect("b ≥ a"));
        while day < b {
            day = plus(day, 1);
            if !is_weekend(day) {
                count += 1;
            }
        }
        let range = (std::ops::Bound::Excluded(a), std::ops::Bound::Included(b));
        let holidays_on_weekdays = self
            .holidays
            .range(range)
            .filter(|d| !is_weekend(**d) && !self.working_days.contains(d))
            .count();
        let working_weekend_days = self
            .working_days
            .range(range)
            .filter(|d| is_weekend(**d))
            .count();
        count - i64::try_from(holidays_on_weekdays).expect("fewer than 2^63 holidays")
            + i64::try_from(working_weekend_days).expect("fewer than 2^63 working days")
    }

    /// Whether a listed holiday or working day lies in `from..=to`.
    fn has_exception(&self, from: NaiveDate, to: NaiveDate) -> bool {
        self.holidays.range(from..=to).next().is_some()
            || self.working_days.range(from..=to).next().is_some()
    }

    /// A sentence on the first inconsistency of the lists, if any: a listed
    /// working day that is not a weekend day, or a date that is both.
    pub(super) fn problem(&self) -> Option<String> {
        if let Some(d) = self.holidays.intersection(&self.working_days).next() {
            return Some(format!(
                "{d} is listed both as a holiday and as a working day"
            ));
        }
        self.working_days
            .iter()
            .find(|d| !is_weekend(**d))
            .map(|d| {
                format!(
                    "working day {d} is a {}: only a Saturday or Sunday can be declared working",
                    d.weekday()
                )
            })
    }
}

/// Dates as TOML writes them (`2026-01-01`, a local date) or as JSON does
/// (`"2026-01-01"`), so the catalog reads from the file and from the store.
mod dates {
    use std::collections::BTreeSet;
    use std::fmt;

    use chrono::NaiveDate;
    use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde::Deserialize;

    pub(super) fn set<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<NaiveDate>, D::Error> {
        Vec::<Date>::deserialize(d).map(|v| v.into_iter().map(|Date(d)| d).collect())
    }

    /// One date, from either form.
    struct Date(NaiveDate);

    impl<'de> Deserialize<'de> for Date {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(DateVisitor)
        }
    }

    struct DateVisitor;

    impl<'de> Visitor<'de> for DateVisitor {
        type Value = Date;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a date such as 2026-01-01")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Date, E> {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|e| E::custom(format!("'{s}' is not a date such as 2026-01-01: {e}")))
        }

        /// The toml crate hands a date over as a one-entry map; its own
        /// `Datetime` reads that, and a date without time or offset is kept.
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Date, A::Error> {
            let dt =
                toml::value::Datetime::deserialize(de::value::MapAccessDeserializer::new(map))?;
            match (dt.date, dt.time, dt.offset) {
                (Some(date), None, None) => NaiveDate::from_ymd_opt(
                    i32::from(date.year),
                    u32::from(date.month),
                    u32::from(date.day),
                )
                .map(Date)
                .ok_or_else(|| de::Error::custom(format!("{dt} is not a date"))),
                _ => Err(de::Error::custom(format!(
                    "{dt} has a time of day; write the date alone, such as 2026-01-01"
                ))),
            }
        }

        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Date, A::Error> {
            Err(de::Error::custom(
                "expected a date such as 2026-01-01, found a list",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// The Russian and Tatarstan days off of March 2026 only.
    fn march_2026() -> Calendar {
        Calendar {
            holidays: [d(2026, 3, 8), d(2026, 3, 9), d(2026, 3, 20)].into(),
            working_days: BTreeSet::new(),
        }
    }

    #[test]
    fn weekends_and_holidays_are_not_working_days() {
        let c = march_2026();
        assert!(c.is_working_day(d(2026, 3, 6)), "Friday");
        assert!(!c.is_working_day(d(2026, 3, 7)), "Saturday");
        assert!(
            !c.is_working_day(d(2026, 3, 9)),
            "Monday, the day off moved from 8 March"
        );
        assert!(c.is_working_day(d(2026, 3, 10)));
        assert!(
            !c.is_working_day(d(2026, 3, 20)),
            "Uraza Bayram in Tatarstan"
        );
    }

    #[test]
    fn working_days_skip_weekends_and_holidays() {
        let c = march_2026();
        // Friday 6 March: 10, 11, 12, 13, 16 March.
        assert_eq!(c.add_working_days(d(2026, 3, 6), 5), d(2026, 3, 16));
        // Tuesday 17 March: 18, 19, (20 off) 23, 24, 25 March.
        assert_eq!(c.add_working_days(d(2026, 3, 17), 5), d(2026, 3, 25));
        // Submitted on a Saturday: the count starts on Monday.
        assert_eq!(c.add_working_days(d(2026, 3, 14), 1), d(2026, 3, 16));
        assert_eq!(c.add_working_days(d(2026, 3, 6), 0), d(2026, 3, 6));
    }

    #[test]
    fn a_declared_working_saturday_counts() {
        let mut c = march_2026();
        c.working_days.insert(d(2026, 3, 14));
        assert!(c.is_working_day(d(2026, 3, 14)));
        assert_eq!(c.add_working_days(d(2026, 3, 13), 1), d(2026, 3, 14));
        assert_eq!(c.working_days_between(d(2026, 3, 13), d(2026, 3, 16)), 2);
    }

    #[test]
    fn calendar_days_end_on_a_working_day() {
        let c = march_2026();
        // 14 calendar days from 23 February: 9 March, a day off, so 10 March.
        assert_eq!(c.add_calendar_days(d(2026, 2, 23), 14), d(2026, 3, 10));
        assert_eq!(c.add_calendar_days(d(2026, 3, 2), 3), d(2026, 3, 5));
        assert_eq!(
            c.due(
                d(2026, 3, 6),
                Deadline {
                    days: 5,
                    kind: DeadlineKind::Working
                }
            ),
            d(2026, 3, 16)
        );
    }

    #[test]
    fn between_inverts_add_over_long_spans_and_both_directions() {
        let mut c = march_2026();
        c.working_days.insert(d(2026, 3, 28));
        c.holidays.insert(d(2026, 5, 1));
        let start = d(2026, 2, 25);
        for n in [0, 1, 4, 5, 6, 11, 23, 60, 250] {
            let end = c.add_working_days(start, n);
            assert!(n == 0 || c.is_working_day(end), "{n}: {end}");
            assert_eq!(c.working_days_between(start, end), i64::from(n), "{n}");
            assert_eq!(c.working_days_between(end, start), -i64::from(n), "{n}");
            // The week-skipping path agrees with counting day by day.
            let mut day = start;
            let mut left = n;
            while left > 0 {
                day = day.succ_opt().unwrap();
                if c.is_working_day(day) {
                    left -= 1;
                }
            }
            assert_eq!(day, end, "{n}");
        }
    }

    #[test]
    fn lists_that_contradict_themselves_are_a_problem() {
        let mut c = march_2026();
        c.working_days.insert(d(2026, 3, 10));
        assert!(c.problem().unwrap().contains("2026-03-10"));
        let mut c = march_2026();
        c.working_days.insert(d(2026, 3, 8));
        assert!(c.problem().unwrap().contains("both"));
    }

    #[test]
    fn dates_read_from_toml_and_from_json() {
        let from_toml: Calendar =
            toml::from_str("holidays = [2026-01-01, \"2026-01-02\"]\nworking_days = []").unwrap();
        let from_json: Calendar =
            serde_json::from_str(r#"{"holidays":["2026-01-01","2026-01-02"]}"#).unwrap();
        assert_eq!(from_toml, from_json);
        let json = serde_json::to_string(&from_toml).unwrap();
        assert_eq!(serde_json::from_str::<Calendar>(&json).unwrap(), from_toml);
        let e = toml::from_str::<Calendar>("holidays = [2026-01-01T10:00:00]").unwrap_err();
        assert!(e.to_string().contains("time of day"), "{e}");
        assert!(toml::from_str::<Calendar>("holidays = [\"1 May\"]").is_err());
    }
}
