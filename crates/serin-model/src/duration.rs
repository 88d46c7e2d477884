//! Durations as Argo Rollouts writes them: Go's `time.ParseDuration` syntax (`30s`, `5m`,
//! `1h30m`, `1.5h`, `250ms`), plus the pause step's integers and unitless strings in seconds.

use crate::intstr::IntOrString;

/// Parses Go's duration syntax into milliseconds, as `time.ParseDuration` reads it: whole
/// nanoseconds in integers (`4.1s` is 4100 ms, not 4099), each fraction scaled to its unit the
/// way Go does, sub-millisecond parts rounded towards zero.
pub fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid duration {text:?}");
    let too_large = || format!("invalid duration {text:?}: too large");
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total_ns: u64 = 0;
    while !rest.is_empty() {
        let (whole, after_whole) = leading_digits(rest);
        let whole_digits = rest.len() - after_whole.len();
        let (fraction, scale, after_fraction) = match after_whole.strip_prefix('.') {
            Some(tail) => leading_fraction(tail),
            None => (0, 1.0, after_whole),
        };
        let fraction_digits = after_whole.len() - after_fraction.len();
        if whole_digits == 0 && fraction_digits <= 1 {
            return Err(invalid()); // no digits at all ("", ".")
        }
        let whole = whole.ok_or_else(too_large)?;
        let unit_len = after_fraction.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after_fraction.len());
        let (unit, tail) = after_fraction.split_at(unit_len);
        let unit_ns: u64 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("invalid duration {text:?}: missing unit")),
            _ => return Err(format!("invalid duration {text:?}: unknown unit {unit:?}")),
        };
        let mut part = whole.checked_mul(unit_ns).ok_or_else(too_large)?;
        if fraction > 0 {
            // As Go does: the fraction's digits times the unit over their scale, in float64.
            part = part.checked_add((fraction as f64 * (unit_ns as f64 / scale)) as u64).ok_or_else(too_large)?;
        }
        total_ns = total_ns.checked_add(part).filter(|&t| t <= 1 << 63).ok_or_else(too_large)?;
        rest = tail;
    }
    if total_ns == 1 << 63 && !negative {
        return Err(too_large());
    }
    let millis = (total_ns / 1_000_000) as i64;
    Ok(if negative { -millis } else { millis })
}

/// The digits at the start of `text` as a number (`None` if it overflows), and what follows.
fn leading_digits(text: &str) -> (Option<u64>, &str) {
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let value = text[..end].bytes().try_fold(0u64, |v, d| v.checked_mul(10)?.checked_add(u64::from(d - b'0')));
    (value, &text[end..])
}

/// The digits after a decimal point as Go's `leadingFraction` keeps them: the value and its
/// scale (10 to the number of digits kept; digits past 63 bits of precision are dropped), and
/// what follows them.
fn leading_fraction(text: &str) -> (u64, f64, &str) {
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (mut value, mut scale, mut overflowed) = (0u64, 1.0f64, false);
    for digit in text[..end].bytes() {
        if overflowed {
            continue;
        }
        match value.checked_mul(10).and_then(|v| v.checked_add(u64::from(digit - b'0'))).filter(|&v| v < 1 << 63) {
            Some(next) => {
                value = next;
                scale *= 10.0;
            }
            None => overflowed = true,
        }
    }
    (value, scale, &text[end..])
}

/// A pause step's duration: an integer or a unitless numeric string means seconds.
pub fn parse_pause_duration(value: &IntOrString) -> Result<i64, String> {
    let millis = match value {
        IntOrString::Int(seconds) => seconds.checked_mul(1000).ok_or("duration too large")?,
        IntOrString::String(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            text.parse::<i64>().map_err(|e| e.to_string())?.checked_mul(1000).ok_or("duration too large")?
        }
        IntOrString::String(text) => parse_go_duration(text)?,
    };
    if millis < 0 {
        return Err(format!("invalid duration {value}: must not be negative"));
    }
    Ok(millis)
}

/// Formats milliseconds as Go prints a duration with whole units: `1h5m0s`, `30s`, `1.5s`.
pub fn format_duration(millis: i64) -> String {
    if millis == 0 {
        return "0s".to_string();
    }
    let sign = if millis < 0 { "-" } else { "" };
    let millis = millis.unsigned_abs();
    let (hours, minutes) = (millis / 3_600_000, millis / 60_000 % 60);
    let seconds = millis % 60_000;
    let seconds = if seconds.is_multiple_of(1000) {
        format!("{}s", seconds / 1000)
    } else {
        format!("{}s", format!("{}.{:03}", seconds / 1000, seconds % 1000).trim_end_matches('0'))
    };
    match (hours, minutes) {
        (0, 0) if millis < 1000 => format!("{sign}{millis}ms"),
        (0, 0) => format!("{sign}{seconds}"),
        (0, m) => format!("{sign}{m}m{seconds}"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5m"), Ok(300_000));
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_go_duration("1.5s"), Ok(1500));
        assert_eq!(parse_go_duration("250ms"), Ok(250));
        assert_eq!(parse_go_duration("-5s"), Ok(-5000));
        assert!(parse_go_duration("5x").unwrap_err().contains("unknown unit \"x\""));
        assert!(parse_go_duration("30").unwrap_err().contains("missing unit"));
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("m").is_err());
        assert!(parse_go_duration(".s").is_err());
        assert!(parse_go_duration("1..5s").is_err());
        assert!(parse_go_duration("99999999999h").unwrap_err().contains("too large"));
    }

    #[test]
    fn fractions_are_exact_as_in_go() {
        // float64 arithmetic gave 4099 and 2009.
        assert_eq!(parse_go_duration("4.1s"), Ok(4100));
        assert_eq!(parse_go_duration("2.01s"), Ok(2010));
        assert_eq!(parse_go_duration("0.3s"), Ok(300));
        assert_eq!(parse_go_duration("1.001s"), Ok(1001));
        assert_eq!(parse_go_duration("1.1m"), Ok(66_000));
        assert_eq!(parse_go_duration("1.s"), Ok(1000), "Go takes a point with no digits after it");
        assert_eq!(parse_go_duration(".5s"), Ok(500));
        assert_eq!(parse_go_duration("1h2m3.5s4ms"), Ok(3_723_504));
        assert_eq!(parse_go_duration("2562047h47m16.854775807s"), Ok(9_223_372_036_854));
        assert!(parse_go_duration("2562047h47m16.854775808s").is_err(), "past Go's largest duration");
        assert_eq!(parse_go_duration("1500us"), Ok(1), "sub-millisecond parts round towards zero");
        assert_eq!(parse_go_duration("1500\u{b5}s"), Ok(1));
    }

    #[test]
    fn pause_durations_accept_seconds() {
        assert_eq!(parse_pause_duration(&IntOrString::Int(30)), Ok(30_000));
        assert_eq!(parse_pause_duration(&"45".into()), Ok(45_000));
        assert_eq!(parse_pause_duration(&"1m".into()), Ok(60_000));
        assert!(parse_pause_duration(&"-1m".into()).unwrap_err().contains("negative"));
        assert!(parse_pause_duration(&IntOrString::Int(-3)).is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_duration(300_000), "5m0s");
        assert_eq!(format_duration(30_000), "30s");
        assert_eq!(format_duration(3_930_000), "1h5m30s");
        assert_eq!(format_duration(1500), "1.5s");
        assert_eq!(format_duration(250), "250ms");
    }
}
