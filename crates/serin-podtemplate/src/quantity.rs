//! Kubernetes `resource.Quantity` parsing and canonical printing, so that resource values are
//! hashed in the form Go prints them (`"0.5"` and `0.5` become `500m`, `"1.5Gi"` becomes
//! `1536Mi`). Follows `k8s.io/apimachinery/pkg/api/resource` (`ParseQuantity`,
//! `CanonicalizeBytes`, `MarshalJSON`), including its quirks:
//!
//! - a string already in canonical form is remembered and printed back verbatim (this is how
//!   `"1e3"` stays `1e3` while `"1000"` becomes `1k`);
//! - values finer than a nano-unit are rounded away from zero to the next nano-unit;
//! - magnitudes above 2^63-1 are capped (as in the apimachinery releases Argo Rollouts uses).
//!
//! Amounts are kept as decimal digit strings, so no precision is lost on the way.

use crate::gojson::number_text;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DecimalExponent,
    BinarySi,
    DecimalSi,
}

/// A decimal amount: `(-1)^neg * digits * 10^exp`. `digits` has no leading zeros; empty is zero.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Amount {
    neg: bool,
    digits: Vec<u8>,
    exp: i32,
}

/// The digits of the largest magnitude a parsed quantity keeps: 2^63-1.
const MAX_ALLOWED: [u8; 19] = [9, 2, 2, 3, 3, 7, 2, 0, 3, 6, 8, 5, 4, 7, 7, 5, 8, 0, 7];

/// The JSON string content Go prints for a quantity given as this JSON value, or `None` when
/// Go would refuse it. Strings and numbers are accepted, as `Quantity.UnmarshalJSON` does.
pub(crate) fn canonical_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => canonical(s),
        Value::Number(n) => canonical(&number_text(n)),
        _ => None,
    }
}

/// The canonical printed form of a quantity string, or `None` if it does not parse.
pub(crate) fn canonical(input: &str) -> Option<String> {
    let s = input.trim();
    if s.is_empty() {
        return None;
    }
    if s == "0" {
        return Some("0".to_string());
    }
    let parts = split(s)?;
    let (base, exponent, format) = interpret_suffix(parts.suffix)?;

    // Fast path: the value fits an int64 at a scale no finer than nano.
    let (precision, mut scale, mantissa) = match format {
        Format::DecimalExponent | Format::DecimalSi => {
            let digits = i32::try_from(parts.num.len() + parts.denom.len()).ok()?;
            (18 - digits, exponent, 1_i64)
        }
        Format::BinarySi if exponent >= 0 && parts.denom.is_empty() => {
            let num_len = i32::try_from(parts.num.len()).ok()?;
            // Go: 15 - len(num) - int32(float32(exponent)*3/10) - 1
            let rough = (exponent as f32 * 3.0 / 10.0) as i32;
            (15 - num_len - rough - 1, 0, 1_i64.checked_shl(exponent.unsigned_abs())?)
        }
        Format::BinarySi => (-1, 0, 1),
    };
    if precision >= 0 {
        scale -= i32::try_from(parts.denom.len()).ok()?;
        if scale >= -9 {
            let shifted = format!("{}{}", parts.num, parts.denom);
            let value: i64 = shifted.parse().ok()?;
            if let Some(result) = value.checked_mul(mantissa) {
                let result = if parts.positive { result } else { -result };
                let already_canonical = match format {
                    Format::BinarySi => exponent % 10 == 0 && value & 0x07 != 0,
                    _ => scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'),
                };
                if already_canonical {
                    return Some(s.to_string());
                }
                return Some(print(&Amount::from_i64(result, scale), format));
            }
        }
    }

    // Slow path: exact decimal arithmetic.
    if !parts.value.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: Vec<u8> = parts.num.bytes().chain(parts.denom.bytes()).map(|b| b - b'0').collect();
    let mut frac = i64::try_from(parts.denom.len()).ok()?;
    if base == 10 {
        frac -= i64::from(exponent);
    } else {
        for _ in 0..exponent {
            mul_small(&mut digits, 2);
        }
    }
    trim_leading_zeros(&mut digits);
    if !digits.is_empty() && frac > 9 {
        // Round away from zero to nano precision.
        let drop = usize::try_from(frac - 9).ok()?;
        let keep = digits.len().saturating_sub(drop);
        let inexact = digits[keep..].iter().any(|&d| d != 0);
        digits.truncate(keep);
        if inexact {
            add_one(&mut digits);
        }
        frac = 9;
    }
    let mut amount = Amount { neg: false, digits, exp: i32::try_from(-frac).ok()? };
    amount.normalize();
    if amount.exceeds_max() {
        amount = Amount { neg: false, digits: MAX_ALLOWED.to_vec(), exp: 0 };
    }
    amount.neg = !parts.positive && !amount.digits.is_empty();
    Some(print(&amount, format))
}

/// The pieces `parseQuantityString` extracts: sign, the raw numeric text (`value`), the
/// integer digits without leading zeros (`num`, at least `"0"`), the fraction digits and
/// the suffix.
struct Parts<'a> {
    positive: bool,
    value: &'a str,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

fn split(s: &str) -> Option<Parts<'_>> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => {
            positive = false;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    let done = |value, num, denom| Parts { positive, value, num, denom, suffix: "" };
    // Leading zeros.
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Some(done("0", "0", ""));
    }
    // Integer digits.
    let start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos >= end {
        return Some(done(s, &s[start..], ""));
    }
    let num = if pos == start { "0" } else { &s[start..pos] };
    // Fraction digits.
    let mut denom = "";
    if b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos >= end {
            return Some(done(s, num, &s[start..]));
        }
        denom = &s[start..pos];
    }
    let value = &s[..pos];
    // Suffix: letters from "eEinumkKMGTP", an optional sign, then digits only.
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    if !b[pos..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(Parts { positive, value, num, denom, suffix: &s[suffix_start..] })
}

/// `(base, exponent, format)` for a suffix.
fn interpret_suffix(suffix: &str) -> Option<(u32, i32, Format)> {
    let dec = |e| Some((10, e, Format::DecimalSi));
    let bin = |e| Some((2, e, Format::BinarySi));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Go converts the parsed int64 to int32 without a range check.
            let exponent = rest.parse::<i64>().ok()? as i32;
            Some((10, exponent, Format::DecimalExponent))
        }
    }
}

impl Amount {
    fn from_i64(value: i64, exp: i32) -> Self {
        let mut a = Amount {
            neg: value < 0,
            digits: value.unsigned_abs().to_string().bytes().map(|b| b - b'0').collect(),
            exp,
        };
        a.normalize();
        a
    }

    /// Drops leading zeros and moves trailing zeros into the exponent.
    fn normalize(&mut self) {
        trim_leading_zeros(&mut self.digits);
        while self.digits.last() == Some(&0) {
            self.digits.pop();
            self.exp += 1;
        }
        if self.digits.is_empty() {
            self.neg = false;
            self.exp = 0;
        }
    }

    /// Whether the magnitude is above 2^63-1 (expects a normalized amount).
    fn exceeds_max(&self) -> bool {
        let int_len = i64::try_from(self.digits.len()).unwrap_or(i64::MAX) + i64::from(self.exp);
        if int_len != 19 {
            return int_len > 19;
        }
        // Same number of integer digits: compare digit by digit; a fraction left over after
        // equal integer parts (only possible when exp < 0) makes the amount larger.
        for (i, &max) in MAX_ALLOWED.iter().enumerate() {
            let d = self.digits.get(i).copied().unwrap_or(0);
            if d != max {
                return d > max;
            }
        }
        self.digits.len() > MAX_ALLOWED.len()
    }

    /// The value as an integer, if it has no fractional part and fits.
    fn as_integer(&self) -> Option<u128> {
        let exp = u32::try_from(self.exp).ok()?;
        let mut v: u128 = 0;
        for &d in &self.digits {
            v = v.checked_mul(10)?.checked_add(u128::from(d))?;
        }
        v.checked_mul(10_u128.checked_pow(exp)?)
    }

    /// Whether the magnitude is below 1024.
    fn below_1024(&self) -> bool {
        let int_len = i64::try_from(self.digits.len()).unwrap_or(i64::MAX) + i64::from(self.exp);
        if int_len > 4 {
            return false;
        }
        let Ok(int_len) = usize::try_from(int_len) else {
            return true;
        };
        let int_part =
            (0..int_len).fold(0_u32, |acc, i| acc * 10 + u32::from(self.digits.get(i).copied().unwrap_or(0)));
        int_part < 1024
    }
}

/// `CanonicalizeBytes` followed by `MarshalJSON`'s concatenation of number and suffix.
fn print(a: &Amount, format: Format) -> String {
    if a.digits.is_empty() {
        return "0".to_string();
    }
    let sign = if a.neg { "-" } else { "" };
    // Binary SI only for magnitudes of at least 1024 that are whole numbers; anything else
    // would need rounding and is printed as decimal SI instead.
    if format == Format::BinarySi
        && !a.below_1024()
        && let Some(mut n) = a.as_integer()
    {
        let mut k = 0;
        while n >= 1024 && n % 1024 == 0 {
            n /= 1024;
            k += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].get(k).copied().unwrap_or("");
        return format!("{sign}{n}{suffix}");
    }
    // Decimal: make the exponent a multiple of three, rounding it down.
    let mut digits: String = a.digits.iter().map(|d| char::from(b'0' + d)).collect();
    let mut exp = a.exp;
    while exp % 3 != 0 {
        digits.push('0');
        exp -= 1;
    }
    let suffix = match (format, exp) {
        (Format::DecimalExponent, 0) => String::new(),
        (Format::DecimalExponent, e) => format!("e{e}"),
        (_, -9) => "n".into(),
        (_, -6) => "u".into(),
        (_, -3) => "m".into(),
        (_, 0) => String::new(),
        (_, 3) => "k".into(),
        (_, 6) => "M".into(),
        (_, 9) => "G".into(),
        (_, 12) => "T".into(),
        (_, 15) => "P".into(),
        (_, 18) => "E".into(),
        (_, e) => format!("e{e}"),
    };
    format!("{sign}{digits}{suffix}")
}

fn trim_leading_zeros(digits: &mut Vec<u8>) {
    let first = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
    digits.drain(..first);
}

fn mul_small(digits: &mut Vec<u8>, m: u8) {
    let mut carry = 0_u16;
    for d in digits.iter_mut().rev() {
        let v = u16::from(*d) * u16::from(m) + carry;
        *d = (v % 10) as u8;
        carry = v / 10;
    }
    while carry > 0 {
        digits.insert(0, (carry % 10) as u8);
        carry /= 10;
    }
}

fn add_one(digits: &mut Vec<u8>) {
    for d in digits.iter_mut().rev() {
        if *d == 9 {
            *d = 0;
        } else {
            *d += 1;
            return;
        }
    }
    digits.insert(0, 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_forms() {
        let cases = [
            // The examples from the brief.
            ("0.5", "500m"),
            ("1000m", "1"),
            ("1", "1"),
            ("128Mi", "128Mi"),
            ("1e3", "1e3"),
            ("1.5Gi", "1536Mi"),
            ("0.1", "100m"),
            // Decimal SI.
            ("100m", "100m"),
            ("1500m", "1500m"),
            ("1.5", "1500m"),
            ("2000m", "2"),
            ("1000", "1k"),
            ("1.0", "1"),
            ("0.0", "0"),
            ("0", "0"),
            ("250M", "250M"),
            ("12000k", "12M"),
            ("1n", "1n"),
            ("1.5n", "2n"),
            ("0.0000000001", "1n"),
            ("10E", "10E"),
            ("-1", "-1"),
            ("-0.5", "-500m"),
            // Binary SI.
            ("1Ki", "1Ki"),
            ("1024Mi", "1Gi"),
            ("1000Mi", "1000Mi"),
            ("0.5Gi", "512Mi"),
            ("1.1Ki", "1126400m"),
            ("512Ki", "512Ki"),
            ("1024", "1024"),
            ("2048Ki", "2Mi"),
            ("8Ei", "9223372036854775807"),
            // Decimal exponent.
            ("1e1", "10"),
            ("1E3", "1E3"),
            ("12e6", "12e6"),
            ("1.5e3", "1500"),
            ("2.5e-7", "250e-9"),
            // Whitespace is trimmed, as UnmarshalJSON does.
            (" 2 ", "2"),
            // Go's scanner lets the number be empty; it then reads as zero.
            ("e3", "0"),
            ("m", "0"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical(input).as_deref(), Some(want), "input {input:?}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "12xyz", "1.2.3", "abc", "1Kb", "1K", "1e", "1e+", "--1", "1 Gi", "1.5.Gi"] {
            assert_eq!(canonical(bad), None, "input {bad:?}");
        }
    }

    #[test]
    fn numbers_are_read_as_go_prints_them() {
        assert_eq!(canonical_value(&json!(0.5)).as_deref(), Some("500m"));
        assert_eq!(canonical_value(&json!(1)).as_deref(), Some("1"));
        assert_eq!(canonical_value(&json!(1000)).as_deref(), Some("1k"));
        assert_eq!(canonical_value(&json!(1e3)).as_deref(), Some("1k"));
        assert_eq!(canonical_value(&json!(1.5)).as_deref(), Some("1500m"));
        assert_eq!(canonical_value(&json!(1e21)).as_deref(), Some("1e+21"));
        assert_eq!(canonical_value(&json!(true)), None);
    }
}
