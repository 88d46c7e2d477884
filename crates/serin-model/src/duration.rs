//! Durations as Argo Rollouts writes them: Go's `time.ParseDuration` syntax (`30s`, `5m`,
//! `1h30m`, `1.5h`, `250ms`), plus the pause step's integers and unitless strings in seconds.

use crate::intstr::IntOrString;

/// Parses Go's duration syntax into milliseconds; sub-millisecond parts are rounded down.
pub fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid duration {text:?}");
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
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("invalid duration {text:?}: missing unit")),
            _ => return Err(format!("invalid duration {text:?}: unknown unit {unit:?}")),
        };
        total_ns += number.parse::<f64>().map_err(|_| invalid())? * scale;
        rest = tail;
    }
    if total_ns > i64::MAX as f64 {
        return Err(format!("invalid duration {text:?}: too large"));
    }
    let millis = (total_ns / 1e6).floor() as i64;
    Ok(if negative { -millis } else { millis })
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
