//! RFC 3339 timestamps (Roblox's `created`) to Unix time and back to a calendar date, by hand:
//! a date library would be most of the component for three functions.

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Unix seconds (UTC) of an RFC 3339 timestamp such as `2013-03-18T21:10:30.163Z` or
/// `2013-03-18T23:10:30+02:00`; fractional seconds are optional and ignored. `None` if it is not
/// one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    // 60 is a leap second; counting it as the next second's start is close enough for a date.
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        rest = &fraction[len..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return None,
    };
    let local = days_from_civil(year, month, day) * DAY + hour * 3600 + minute * 60 + second;
    Some(local - offset)
}

/// The UTC calendar date of Unix time `unix` as `YYYY-MM-DD`.
pub fn format_date(unix: i64) -> String {
    let (year, month, day) = civil_from_days(unix.div_euclid(DAY));
    format!("{year:04}-{month:02}-{day:02}")
}

/// Whole days from `then` to `now` (Unix seconds), rounded down; 0 if `then` is in the future.
pub fn whole_days_between(then: i64, now: i64) -> u64 {
    u64::try_from((now - then).div_euclid(DAY)).unwrap_or(0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `(year, month, day)` that is `days` after 1970-01-01 (Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The value of ASCII decimal digits; `None` if any byte is not one.
fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0, |value, &b| {
        b.is_ascii_digit().then(|| value * 10 + i64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roblox_timestamps_parse_with_or_without_fractions() {
        // 2013-03-18T21:10:30Z, checked with `date -u -d 2013-03-18T21:10:30Z +%s`.
        assert_eq!(
            parse_rfc3339("2013-03-18T21:10:30.163Z"),
            Some(1_363_641_030)
        );
        assert_eq!(parse_rfc3339("2013-03-18T21:10:30Z"), Some(1_363_641_030));
        assert_eq!(parse_rfc3339("2013-03-18t21:10:30.1z"), Some(1_363_641_030));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1));
    }

    #[test]
    fn offsets_are_moved_to_utc() {
        assert_eq!(
            parse_rfc3339("2013-03-18T23:10:30+02:00"),
            Some(1_363_641_030)
        );
        assert_eq!(
            parse_rfc3339("2013-03-18T16:40:30.5-04:30"),
            Some(1_363_641_030)
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "2013-03-18",
            "2013-03-18T21:10:30",
            "2013-03-18T21:10:30.Z",
            "2013-13-18T21:10:30Z",
            "2013-02-29T21:10:30Z",
            "2013-03-18T24:10:30Z",
            "2013-03-18T21:10:30+2:00",
            "2013-03-18T21:10:30Zjunk",
            "20a3-03-18T21:10:30Z",
            "2013/03/18T21:10:30Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
        assert!(
            parse_rfc3339("2012-02-29T00:00:00Z").is_some(),
            "2012 is a leap year"
        );
        assert!(
            parse_rfc3339("2000-02-29T00:00:00Z").is_some(),
            "2000 is a leap year"
        );
        assert!(
            parse_rfc3339("1900-02-29T00:00:00Z").is_none(),
            "1900 is not"
        );
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn dates_are_formatted_in_utc() {
        assert_eq!(format_date(1_363_641_030), "2013-03-18");
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(-1), "1969-12-31");
        // 01:00 on the 19th at +02:00 is 23:00 on the 18th in UTC.
        assert_eq!(
            format_date(parse_rfc3339("2013-03-19T01:00:00+02:00").unwrap_or_default()),
            "2013-03-18"
        );
    }

    #[test]
    fn account_age_counts_whole_days() {
        let created = 1_363_641_030;
        assert_eq!(whole_days_between(created, created), 0);
        assert_eq!(whole_days_between(created, created + DAY - 1), 0);
        assert_eq!(whole_days_between(created, created + DAY), 1);
        assert_eq!(whole_days_between(created, created + 400 * DAY + 5), 400);
        assert_eq!(whole_days_between(created, created - 10), 0, "clock skew");
    }
}
