//! Django's `dateformat` (PHP-style format characters) for naive datetimes, English locale,
//! `TIME_ZONE = "UTC"` (what the reference project uses).

use crate::datetime::{days_from_civil, days_in_month, is_leap, DateTime};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_AP: [&str; 12] =
    ["Jan.", "Feb.", "March", "April", "May", "June", "July", "Aug.", "Sept.", "Oct.", "Nov.", "Dec."];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// The format characters Django's `DateFormat` knows.
const FORMAT_CHARS: &str = "aAbcdDeEfFgGhHiIjlLmMnNoOPrsStTUuwWyYzZ";
/// The ones `TimeFormat` knows (the `time` filter refuses the others).
const TIME_CHARS: &str = "aAefgGhHiOPsTuZ";

/// `get_format(name)`: the English locale's named formats, or the string itself.
pub(crate) fn named_format(name: &str) -> &str {
    match name {
        "DATE_FORMAT" => "N j, Y",
        "DATETIME_FORMAT" => "N j, Y, P",
        "TIME_FORMAT" => "P",
        "YEAR_MONTH_FORMAT" => "F Y",
        "MONTH_DAY_FORMAT" => "F j",
        "SHORT_DATE_FORMAT" => "m/d/Y",
        "SHORT_DATETIME_FORMAT" => "m/d/Y P",
        other => other,
    }
}

/// Splits a format string as Django's `re_formatchars.split` does: a format character not
/// preceded by a backslash is a specifier; other runs are literal text with `\x` → `x`.
fn pieces(fmt: &str) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut lit = String::new();
    let mut prev: Option<char> = None;
    for c in fmt.chars() {
        if FORMAT_CHARS.contains(c) && prev != Some('\\') {
            if !lit.is_empty() {
                out.push((false, unescape(&lit)));
                lit.clear();
            }
            out.push((true, c.to_string()));
        } else {
            lit.push(c);
        }
        prev = Some(c);
    }
    if !lit.is_empty() {
        out.push((false, unescape(&lit)));
    }
    out
}

/// `re.sub(r"\\(.)", r"\1", s)` (`.` does not match a newline).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(&n) = it.peek() {
                if n != '\n' {
                    out.push(n);
                    it.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// True when `fmt` has no format character at all (then even a non-date value "formats").
pub(crate) fn is_literal(fmt: &str) -> bool {
    pieces(fmt).iter().all(|(spec, _)| !spec)
}

/// The literal text of a format with no specifiers.
pub(crate) fn literal_text(fmt: &str) -> String {
    pieces(fmt).into_iter().map(|(_, s)| s).collect()
}

/// `dateformat.format(dt, fmt)`.
pub(crate) fn format(dt: &DateTime, fmt: &str) -> String {
    let mut out = String::new();
    for (spec, s) in pieces(fmt) {
        if spec {
            out.push_str(&one(dt, s.chars().next().unwrap_or(' ')));
        } else {
            out.push_str(&s);
        }
    }
    out
}

/// `dateformat.time_format(dt, fmt)`: `None` when the format uses a date-only specifier.
pub(crate) fn time_format(dt: &DateTime, fmt: &str) -> Option<String> {
    let ps = pieces(fmt);
    if ps.iter().any(|(spec, s)| *spec && !TIME_CHARS.contains(s.as_str())) {
        return None;
    }
    Some(format(dt, fmt))
}

fn hour12(dt: &DateTime) -> u32 {
    match dt.hour % 12 {
        0 => 12,
        h => h,
    }
}

/// `f`: hours and minutes, minutes left off when zero.
fn f(dt: &DateTime) -> String {
    if dt.minute == 0 {
        hour12(dt).to_string()
    } else {
        format!("{}:{:02}", hour12(dt), dt.minute)
    }
}

fn ampm(dt: &DateTime) -> &'static str {
    if dt.hour > 11 {
        "p.m."
    } else {
        "a.m."
    }
}

fn day_of_year(dt: &DateTime) -> i64 {
    days_from_civil(dt.year, dt.month, dt.day) - days_from_civil(dt.year, 1, 1) + 1
}

fn weeks_in_year(y: i32) -> i64 {
    let jan1 = DateTime { year: y, month: 1, day: 1, hour: 0, minute: 0, second: 0, micro: 0 }.weekday();
    if jan1 == 3 || (jan1 == 2 && is_leap(y)) {
        53
    } else {
        52
    }
}

/// `isocalendar()`: (ISO year, ISO week).
fn iso_week(dt: &DateTime) -> (i32, i64) {
    let isoweekday = dt.weekday() as i64 + 1;
    let week = (day_of_year(dt) - isoweekday + 10) / 7;
    if week < 1 {
        (dt.year - 1, weeks_in_year(dt.year - 1))
    } else if week > weeks_in_year(dt.year) {
        (dt.year + 1, 1)
    } else {
        (dt.year, week)
    }
}

fn one(dt: &DateTime, c: char) -> String {
    let m = (dt.month.clamp(1, 12) - 1) as usize;
    let wd = dt.weekday() as usize;
    match c {
        'a' => ampm(dt).into(),
        'A' => (if dt.hour > 11 { "PM" } else { "AM" }).into(),
        'b' => MONTHS[m][..3].to_lowercase(),
        'c' => {
            let mut s = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second
            );
            if dt.micro != 0 {
                s.push_str(&format!(".{:06}", dt.micro));
            }
            s
        }
        'd' => format!("{:02}", dt.day),
        'D' => WEEKDAYS[wd][..3].into(),
        'e' => String::new(),
        'E' | 'F' => MONTHS[m].into(),
        'f' => f(dt),
        'g' => hour12(dt).to_string(),
        'G' => dt.hour.to_string(),
        'h' => format!("{:02}", hour12(dt)),
        'H' => format!("{:02}", dt.hour),
        'i' => format!("{:02}", dt.minute),
        'I' => "0".into(),
        'j' => dt.day.to_string(),
        'l' => WEEKDAYS[wd].into(),
        'L' => (if is_leap(dt.year) { "True" } else { "False" }).into(),
        'm' => format!("{:02}", dt.month),
        'M' => MONTHS[m][..3].into(),
        'n' => dt.month.to_string(),
        'N' => MONTHS_AP[m].into(),
        'o' => iso_week(dt).0.to_string(),
        'O' => "+0000".into(),
        'P' => {
            if dt.minute == 0 && dt.hour == 0 {
                "midnight".into()
            } else if dt.minute == 0 && dt.hour == 12 {
                "noon".into()
            } else {
                format!("{} {}", f(dt), ampm(dt))
            }
        }
        'r' => format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
            &WEEKDAYS[wd][..3],
            dt.day,
            &MONTHS[m][..3],
            dt.year,
            dt.hour,
            dt.minute,
            dt.second
        ),
        's' => format!("{:02}", dt.second),
        'S' => (if (11..=13).contains(&dt.day) {
            "th"
        } else {
            match dt.day % 10 {
                1 => "st",
                2 => "nd",
                3 => "rd",
                _ => "th",
            }
        })
        .into(),
        't' => days_in_month(dt.year, dt.month).to_string(),
        'T' => "UTC".into(),
        'u' => format!("{:06}", dt.micro),
        'U' => {
            let days = days_from_civil(dt.year, dt.month, dt.day);
            (days * 86400 + dt.hour as i64 * 3600 + dt.minute as i64 * 60 + dt.second as i64).to_string()
        }
        'w' => ((wd + 1) % 7).to_string(),
        'W' => iso_week(dt).1.to_string(),
        'y' => format!("{:02}", dt.year.rem_euclid(100)),
        'Y' => format!("{:04}", dt.year),
        'z' => day_of_year(dt).to_string(),
        'Z' => "0".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> DateTime {
        DateTime::parse(s).unwrap()
    }

    #[test]
    fn formats_like_django() {
        let x = dt("2024-01-07 09:05:03.000120");
        assert_eq!(
            format(&x, "r|c|e|O|T|U|Z|I|o|W|z|t|L|S|u|E|b"),
            "Sun, 07 Jan 2024 09:05:03 +0000|2024-01-07T09:05:03.000120||+0000|UTC|1704618303|0|0|2024|1|7|31|True|th|000120|January|jan"
        );
        assert_eq!(format(&x, r"\\Y \Y \\\Y a\\b"), r"\Y Y \Y a.m.\b");
        assert_eq!(format(&dt("2024-01-07 09:00"), named_format("DATETIME_FORMAT")), "Jan. 7, 2024, 9 a.m.");
        assert_eq!(format(&dt("2024-01-17 14:30"), "N j, Y, P"), "Jan. 17, 2024, 2:30 p.m.");
        assert_eq!(format(&dt("2024-09-01 12:00"), "N j, Y, P"), "Sept. 1, 2024, noon");
        assert_eq!(format(&dt("2024-03-01 00:00"), "N j, Y, P"), "March 1, 2024, midnight");
        assert_eq!(
            format(&dt("2024-01-07 09:05"), "D, d M Y H:i l F n m y G g h A a f s w"),
            "Sun, 07 Jan 2024 09:05 Sunday January 1 01 24 9 9 09 AM a.m. 9:05 00 0"
        );
        assert_eq!(format(&dt("2021-01-01 00:00"), "o-W"), "2020-53");
        assert_eq!(format(&dt("2024-12-30 00:00"), "o-W"), "2025-1");
        assert_eq!(format(&dt("2024-01-22 00:00"), "jS"), "22nd");
        assert_eq!(format(&dt("2024-01-12 00:00"), "jS"), "12th");
        assert_eq!(time_format(&x, "Y"), None);
        assert_eq!(time_format(&x, "H:i").as_deref(), Some("09:05"));
    }
}
