//! `metav1.Time` as Go round-trips it: parsed as RFC 3339 and printed back in UTC at
//! second precision (`2024-05-01T10:00:00Z`), with the zero time printed as `null`.

/// A parsed timestamp: seconds since 0001-01-01T00:00:00Z, and whether it had a non-zero
/// fraction of a second (which Go keeps in memory but does not print).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp {
    secs: i64,
    has_fraction: bool,
}

impl Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, as `time.Parse(time.RFC3339, …)` does.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let num = |from: usize, len: usize| -> Option<i64> {
            let part = b.get(from..from + len)?;
            if !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(part.iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0')))
        };
        let lit = |at: usize, c: u8| b.get(at) == Some(&c);
        if !(lit(4, b'-') && lit(7, b'-') && lit(10, b'T') && lit(13, b':') && lit(16, b':')) {
            return None;
        }
        let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
        let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || min > 59 || sec > 59 {
            return None;
        }
        let mut pos = 19;
        let mut has_fraction = false;
        if lit(pos, b'.') {
            let start = pos + 1;
            pos = start;
            while b.get(pos).is_some_and(u8::is_ascii_digit) {
                has_fraction |= b[pos] != b'0';
                pos += 1;
            }
            if pos == start {
                return None;
            }
        }
        let offset = match b.get(pos) {
            Some(b'Z') if pos + 1 == b.len() => 0,
            Some(&sign @ (b'+' | b'-')) if pos + 6 == b.len() && lit(pos + 3, b':') => {
                let (oh, om) = (num(pos + 1, 2)?, num(pos + 4, 2)?);
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = oh * 3600 + om * 60;
                if sign == b'-' { -off } else { off }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset;
        Some(Timestamp { secs, has_fraction })
    }

    /// What `metav1.Time.MarshalJSON` prints: `null` for the zero time, else the UTC
    /// RFC 3339 form in quotes. `None` when Go would refuse (year outside 0..=9999).
    pub(crate) fn go_json(self) -> Option<String> {
        if self.secs == 0 && !self.has_fraction {
            return Some("null".to_string());
        }
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        if !(0..=9999).contains(&y) {
            return None;
        }
        Some(format!("\"{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z\"", rem / 3600, rem % 3600 / 60, rem % 60))
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 0001-01-01 (proleptic Gregorian) for a civil date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // Days since 0000-03-01, shifted so that 0001-01-01 is day zero.
    era * 146_097 + doe - 306
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 306;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(s: &str) -> Option<String> {
        Timestamp::parse(s).and_then(Timestamp::go_json)
    }

    #[test]
    fn prints_utc_at_second_precision() {
        assert_eq!(go("2024-05-01T10:00:00Z").as_deref(), Some("\"2024-05-01T10:00:00Z\""));
        assert_eq!(go("2024-05-01T10:00:00.5Z").as_deref(), Some("\"2024-05-01T10:00:00Z\""));
        assert_eq!(go("2024-01-01T01:30:00+02:00").as_deref(), Some("\"2023-12-31T23:30:00Z\""));
        assert_eq!(go("2024-02-28T23:00:00-01:00").as_deref(), Some("\"2024-02-29T00:00:00Z\""));
        assert_eq!(go("0001-01-01T00:00:00Z").as_deref(), Some("null"));
    }

    #[test]
    fn rejects_non_rfc3339() {
        for bad in [
            "2024-05-01",
            "2024-05-01 10:00:00Z",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-05-01T10:00:00",
            "2024-05-01T10:00:00.Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn civil_round_trip() {
        for days in [-1000, 0, 1, 59, 365, 738_000, 3_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1, 1, 1));
    }
}
