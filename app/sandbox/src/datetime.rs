//! Naive datetimes and the proleptic Gregorian calendar: what Python's `datetime`, SQLite's
//! date text and Django's date formats all read. No Python values here: `py/` and the template
//! engine wrap these.

use std::fmt;

/// A naive datetime, as Django returns with `USE_TZ = False` (SQLite stores text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micro: u32,
}

impl DateTime {
    /// Parses SQLite's `YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]` (also with a `T`).
    pub fn parse(s: &str) -> Option<DateTime> {
        let s = s.trim();
        let (date, time) = match s.find([' ', 'T']) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let mut dp = date.split('-');
        let year: i32 = dp.next()?.parse().ok()?;
        let month: u32 = dp.next()?.parse().ok()?;
        let day: u32 = dp.next()?.parse().ok()?;
        if dp.next().is_some() || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let (mut hour, mut minute, mut second, mut micro) = (0, 0, 0, 0);
        if let Some(t) = time {
            let (hms, frac) = match t.find('.') {
                Some(i) => (&t[..i], Some(&t[i + 1..])),
                None => (t, None),
            };
            let mut tp = hms.split(':');
            hour = tp.next()?.parse().ok()?;
            minute = tp.next()?.parse().ok()?;
            second = tp.next().map(|x| x.parse().ok()).unwrap_or(Some(0))?;
            if let Some(f) = frac {
                let digits: String = f.chars().take_while(|c| c.is_ascii_digit()).take(6).collect();
                micro = format!("{digits:0<6}").parse().ok()?;
            }
            if hour > 23 || minute > 59 || second > 59 {
                return None;
            }
        }
        Some(DateTime { year, month, day, hour, minute, second, micro })
    }

    /// 0 = Monday, as Python's `weekday()`.
    pub fn weekday(&self) -> u32 {
        let days = days_from_civil(self.year, self.month, self.day);
        ((days + 3).rem_euclid(7)) as u32
    }

    /// The SQL text Django's SQLite backend stores.
    pub fn to_sql(&self) -> String {
        self.to_string()
    }

    pub fn repr(&self) -> String {
        let mut s = format!("datetime.datetime({}, {}, {}, {}, {}", self.year, self.month, self.day, self.hour, self.minute);
        if self.second != 0 || self.micro != 0 {
            s.push_str(&format!(", {}", self.second));
        }
        if self.micro != 0 {
            s.push_str(&format!(", {}", self.micro));
        }
        s.push(')');
        s
    }

    /// Microseconds since 1970-01-01 00:00:00.
    pub fn to_micros(&self) -> i64 {
        let days = days_from_civil(self.year, self.month, self.day);
        ((days * 86_400 + self.hour as i64 * 3600 + self.minute as i64 * 60 + self.second as i64) * 1_000_000)
            + self.micro as i64
    }

    pub fn from_micros(us: i64) -> DateTime {
        let secs = us.div_euclid(1_000_000);
        let micro = us.rem_euclid(1_000_000) as u32;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            micro,
        }
    }

    pub fn from_unix_seconds(s: f64) -> DateTime {
        DateTime::from_micros((s * 1_000_000.0).round() as i64)
    }
}

impl fmt::Display for DateTime {
    /// Python's `str(datetime)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02} {:02}:{:02}:{:02}", self.year, self.month, self.day, self.hour, self.minute, self.second)?;
        if self.micro != 0 {
            write!(f, ".{:06}", self.micro)?;
        }
        Ok(())
    }
}

pub fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar.
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_round_trips_and_knows_its_weekday() {
        let d = DateTime::parse("2024-01-07 09:00:00").unwrap();
        assert_eq!(d.to_string(), "2024-01-07 09:00:00");
        assert_eq!(d.weekday(), 6); // a Sunday
        assert_eq!(DateTime::parse("2024-02-30"), None);
        assert_eq!(DateTime::parse("2024-01-17").unwrap().to_string(), "2024-01-17 00:00:00");
        assert_eq!(DateTime::parse("2024-01-17 10:11:12.5").unwrap().micro, 500000);
        assert_eq!(DateTime::from_micros(d.to_micros()), d);
        assert_eq!(DateTime::from_unix_seconds(1767258000.0).to_string(), "2026-01-01 09:00:00");
    }

    #[test]
    fn unix_times_round_trip() {
        let d = DateTime::from_micros(1_704_618_303_000_000);
        assert_eq!(d.to_string(), "2024-01-07 09:05:03");
        let d = DateTime::from_micros(951_782_400_000_000); // 2000-02-29
        assert_eq!((d.year, d.month, d.day), (2000, 2, 29));
    }
}
