//! The blog's time zone (`BLOG_TIMEZONE`): how the post form's `published_at`
//! (`YYYY-MM-DDTHH:MM`, wall-clock time there) becomes a UTC moment and back.
//!
//! Zones come from the IANA database built into the binary (jiff's bundled copy), so the
//! image needs no `/usr/share/zoneinfo` and every replica reads times the same way.
//!
//! Wall-clock times that do not exist or exist twice are resolved the way RFC 5545 and
//! JavaScript's Temporal do by default ("compatible"):
//!
//! - **a gap** (clocks jump forward, e.g. 02:30 on the spring change in Europe/Berlin)
//!   is moved forward by the length of the gap: 02:30 is read as 03:30 local time;
//! - **a fold** (clocks go back, e.g. 02:30 on the autumn change happens twice) is read as
//!   the earlier of the two moments (still summer time).

use jiff::civil::DateTime;
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::Timestamp;
use time::OffsetDateTime;

/// The form's format: a `datetime-local` input's value, to the minute.
const FORM_FORMAT: &str = "%Y-%m-%dT%H:%M";

/// The blog's time zone, by its IANA name.
#[derive(Debug, Clone)]
pub struct BlogZone {
    name: String,
    zone: TimeZone,
}

/// Why a `published_at` from the form was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalTimeError {
    /// Not `YYYY-MM-DDTHH:MM`.
    Format,
    /// The shape is right but there is no such date or time (e.g. 31 February).
    NoSuchTime,
}

impl BlogZone {
    /// The zone named `name` (`UTC`, `Europe/Berlin`, …) in the bundled database;
    /// `None` for a name it does not know.
    pub fn named(name: &str) -> Option<BlogZone> {
        let zone = if name == "UTC" {
            TimeZone::UTC
        } else {
            bundled().get(name).ok()?
        };
        Some(BlogZone {
            name: name.to_owned(),
            zone,
        })
    }

    /// UTC.
    pub fn utc() -> BlogZone {
        BlogZone {
            name: "UTC".to_owned(),
            zone: TimeZone::UTC,
        }
    }

    /// The zone's IANA name, as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A form's `YYYY-MM-DDTHH:MM` (surrounding spaces ignored), read as wall-clock time
    /// in this zone, as a UTC moment. Gaps and folds resolve as the module says.
    pub fn parse_local(&self, text: &str) -> Result<OffsetDateTime, LocalTimeError> {
        let text = text.trim();
        let shaped = text.len() == 16
            && text.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                10 => b == b'T',
                13 => b == b':',
                _ => b.is_ascii_digit(),
            });
        if !shaped {
            return Err(LocalTimeError::Format);
        }
        let civil =
            DateTime::strptime(FORM_FORMAT, text).map_err(|_| LocalTimeError::NoSuchTime)?;
        let timestamp = self
            .zone
            .to_ambiguous_timestamp(civil)
            .compatible()
            .map_err(|_| LocalTimeError::NoSuchTime)?;
        to_offset_date_time(timestamp).ok_or(LocalTimeError::NoSuchTime)
    }

    /// `moment` as the form shows it: `YYYY-MM-DDTHH:MM` in this zone.
    pub fn form_value(&self, moment: OffsetDateTime) -> String {
        self.format(moment, FORM_FORMAT)
    }

    /// `moment` for people: `2026-12-07 14:30 Europe/Berlin`.
    pub fn human(&self, moment: OffsetDateTime) -> String {
        format!("{} {}", self.format(moment, "%Y-%m-%d %H:%M"), self.name)
    }

    fn format(&self, moment: OffsetDateTime, format: &str) -> String {
        match Timestamp::from_nanosecond(moment.unix_timestamp_nanos()) {
            Ok(timestamp) => timestamp
                .to_zoned_datetime(self.zone.clone())
                .strftime(format)
                .to_string(),
            Err(_) => String::new(),
        }
    }
}

/// The database built into the binary, loaded once.
fn bundled() -> &'static TimeZoneDatabase {
    static DATABASE: std::sync::OnceLock<TimeZoneDatabase> = std::sync::OnceLock::new();
    DATABASE.get_or_init(TimeZoneDatabase::bundled)
}

fn to_offset_date_time(timestamp: Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(timestamp.as_nanosecond()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn berlin() -> BlogZone {
        BlogZone::named("Europe/Berlin").unwrap()
    }

    #[test]
    fn zones_come_from_the_built_in_database() {
        for name in ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"] {
            assert_eq!(BlogZone::named(name).unwrap().name(), name);
        }
        for bad in ["", "Mars/Olympus", "Europe/Berlin ", "../etc/passwd"] {
            assert!(BlogZone::named(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn form_times_are_wall_clock_time_in_the_zone() {
        let utc = BlogZone::utc();
        assert_eq!(
            utc.parse_local("2026-12-07T14:30").unwrap(),
            datetime!(2026-12-07 14:30 UTC)
        );
        // Winter: Berlin is UTC+1; summer: UTC+2.
        assert_eq!(
            berlin().parse_local(" 2026-12-07T14:30 ").unwrap(),
            datetime!(2026-12-07 13:30 UTC)
        );
        assert_eq!(
            berlin().parse_local("2026-07-01T09:00").unwrap(),
            datetime!(2026-07-01 07:00 UTC)
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_moves_forward_by_the_gap() {
        // 29 March 2026: Berlin's clocks jump from 02:00 to 03:00; 02:30 never happens.
        let moment = berlin().parse_local("2026-03-29T02:30").unwrap();
        assert_eq!(moment, datetime!(2026-03-29 01:30 UTC));
        assert_eq!(berlin().form_value(moment), "2026-03-29T03:30");
    }

    #[test]
    fn a_time_in_the_autumn_fold_is_the_earlier_one() {
        // 25 October 2026: 02:30 happens at 00:30 UTC (summer time) and at 01:30 UTC.
        let moment = berlin().parse_local("2026-10-25T02:30").unwrap();
        assert_eq!(moment, datetime!(2026-10-25 00:30 UTC));
    }

    #[test]
    fn form_values_round_trip() {
        let zone = BlogZone::named("America/New_York").unwrap();
        let moment = datetime!(2026-12-07 23:15 UTC);
        assert_eq!(zone.form_value(moment), "2026-12-07T18:15");
        assert_eq!(zone.parse_local("2026-12-07T18:15").unwrap(), moment);
        assert_eq!(zone.human(moment), "2026-12-07 18:15 America/New_York");
    }

    #[test]
    fn malformed_or_impossible_times_are_refused() {
        let utc = BlogZone::utc();
        for bad in [
            "",
            "2026-12-07",
            "2026-12-07 14:30",
            "2026-12-07T14:30:00",
            "2026-12-7T14:30",
            "２０２６-12-07T14:30",
            "2026-12-07T14:30Z",
        ] {
            assert_eq!(utc.parse_local(bad), Err(LocalTimeError::Format), "{bad:?}");
        }
        for impossible in ["2026-02-30T10:00", "2026-13-01T10:00", "2026-12-07T24:00"] {
            assert_eq!(
                utc.parse_local(impossible),
                Err(LocalTimeError::NoSuchTime),
                "{impossible:?}"
            );
        }
    }
}
