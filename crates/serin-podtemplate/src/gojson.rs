//! Byte-level details of Go's `encoding/json` output that differ from serde_json's: string
//! escaping (HTML-safe by default), float formatting, and the encoding of opaque JSON. The
//! pod-template-hash is computed over these exact bytes, so they must match Go's.

use serde_json::{Number, Value};

/// Appends `s` as a JSON string literal escaped exactly as `json.Marshal` does: `"` and `\`
/// backslash-escaped; `\n`, `\r`, `\t`, `\b`, `\f` as short escapes (Go 1.22 and later);
/// other control characters as `\u00XX` (lower-case hex); `<`, `>`, `&` as `\u003c`, `\u003e`,
/// `\u0026`; U+2028 and U+2029 as `\u2028` and `\u2029`. Everything else is copied as UTF-8.
pub(crate) fn push_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                let b = c as u32 as u8;
                out.push_str("\\u00");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0xf)] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The text Go's `encoding/json` prints for a `float64`: the shortest representation that
/// round-trips, in plain decimal notation for magnitudes in [1e-6, 1e21) and in exponent
/// notation (`1e+21`, `1.5e-7`) outside it.
pub(crate) fn float_text(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits as Go's precision -1.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let abs = f.abs();
    if !(1e-6..1e21).contains(&abs) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{}", exp.unsigned_abs());
    }
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp >= 0 {
        let int_len = usize::try_from(exp).unwrap_or(0) + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', exp.unsigned_abs() as usize - 1));
        out.push_str(&digits);
    }
    out
}

/// The text Go would see for a JSON number that reached it through the Kubernetes API server:
/// integers as decimal integers, other numbers as Go prints a `float64`.
pub(crate) fn number_text(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        float_text(n.as_f64().unwrap_or(0.0))
    }
}

/// Appends an arbitrary JSON value the way Go re-encodes opaque JSON: compact, keys in
/// byte order, strings HTML-escaped.
pub(crate) fn push_raw(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_text(n)),
        Value::String(s) => push_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_raw(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_str(out, k);
                out.push(':');
                push_raw(out, &map[k]);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        let mut out = String::new();
        push_str(&mut out, s);
        out
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(esc("a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(esc("q\"b\\"), r#""q\"b\\""#);
        assert_eq!(esc("l\nr\rt\t"), r#""l\nr\rt\t""#);
        assert_eq!(esc("\u{1}\u{1f}\u{8}\u{c}"), r#""\u0001\u001f\b\f""#);
        assert_eq!(esc("x\u{2028}y\u{2029}"), r#""x\u2028y\u2029""#);
        assert_eq!(esc("é\u{7f}日本"), "\"é\u{7f}日本\"");
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(float_text(0.5), "0.5");
        assert_eq!(float_text(1000.0), "1000");
        assert_eq!(float_text(123.456), "123.456");
        assert_eq!(float_text(-2.5), "-2.5");
        assert_eq!(float_text(0.000_001), "0.000001");
        assert_eq!(float_text(1.5e-7), "1.5e-7");
        assert_eq!(float_text(1e-10), "1e-10");
        assert_eq!(float_text(1e21), "1e+21");
        assert_eq!(float_text(1.25e22), "1.25e+22");
        assert_eq!(float_text(1e20), "100000000000000000000");
        assert_eq!(float_text(0.0), "0");
    }

    #[test]
    fn raw_sorts_keys_and_escapes() {
        let mut out = String::new();
        push_raw(&mut out, &serde_json::json!({"b": [1, 2.5, null], "a": {"f:x": "<"}}));
        assert_eq!(out, r#"{"a":{"f:x":"\u003c"},"b":[1,2.5,null]}"#);
    }
}
