//! Fuzzes the analysis condition language (crates/serin-expr: Argo's expr conditions). The input
//! is a condition, optionally followed by a NUL and the JSON of the measured `result` (else a
//! Prometheus-like vector). Checks that checking and evaluating agree on what is a syntax error,
//! that a syntax error's position lies inside the condition, that evaluating is deterministic,
//! and that a condition's negation evaluates to the opposite bool.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serin_expr::{ConditionErrorKind, MetricValue, check_syntax, evaluate, evaluate_value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (condition, result) = match text.split_once('\0') {
        Some((condition, json)) => match serde_json::from_str(json) {
            Ok(result) => (condition, result),
            Err(_) => return,
        },
        None => (text, serde_json::json!([0.97, 12])),
    };
    let checked = check_syntax(condition);
    if let Err(error) = &checked {
        assert_eq!(error.kind, ConditionErrorKind::Syntax, "{condition:?}: {error}");
        if let Some(offset) = error.offset {
            assert!(offset <= condition.chars().count(), "{condition:?}: {error}");
            assert!(error.line.is_some() && error.column.is_some(), "{condition:?}: {error:?}");
        }
    }
    let evaluated = evaluate(condition, &result);
    assert_eq!(evaluate(condition, &result), evaluated, "{condition:?} changed its mind");
    match &evaluated {
        Err(error) if error.kind == ConditionErrorKind::Syntax => {
            assert!(checked.is_err(), "{condition:?} checks but evaluates to {error}");
        }
        _ => assert!(checked.is_ok(), "{condition:?} evaluates to {evaluated:?} but checks as {checked:?}"),
    }
    if let Ok(value) = evaluated {
        let negated = format!("!(\n{condition}\n)");
        assert_eq!(evaluate(&negated, &result), Ok(!value), "{condition:?} is {value} for {result}, {negated:?}");
    }
    // Floats JSON cannot hold, as Prometheus returns them.
    for measured in [MetricValue::Float(f64::NAN), MetricValue::Floats(vec![f64::INFINITY, -0.0])] {
        let _ = evaluate_value(condition, &measured);
    }
});
