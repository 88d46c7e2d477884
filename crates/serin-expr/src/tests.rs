//! Conditions as Argo documents and tests them, plus the errors serin adds: positions for syntax
//! errors and named out-of-range indexing.

use super::*;
use proptest::prelude::*;
use serde_json::json;

fn eval(expr: &str, result: Json) -> Result<bool, ConditionError> {
    evaluate(expr, &result)
}

fn err(expr: &str, result: Json) -> ConditionError {
    match evaluate(expr, &result) {
        Ok(b) => panic!("{expr} evaluated to {b}, expected an error"),
        Err(e) => e,
    }
}

/// Every condition shown in Argo Rollouts' analysis and provider documentation, with a value of
/// the shape that provider returns.
#[test]
fn argo_documentation_examples() {
    let cases: &[(&str, Json, bool)] = &[
        ("result[0] >= 0.95", json!([0.97]), true),
        ("result[0] >= 0.95", json!([0.9]), false),
        ("result >= 0.95", json!(0.95), true),
        ("result <= 0.95", json!(0.5), true),
        ("result == 1", json!(1.0), true),
        ("result == 1", json!(1), true),
        ("result == 1.0", json!(1), true),
        ("result[0] >= 10", json!([12]), true),
        ("result[0] < 0.01", json!([0.001]), true),
        ("result[0] >= 0.90", json!([0.95]), true),
        ("result[0] < 0.50", json!([0.95]), false),
        ("all(result, {# > 0.5})", json!([0.6, 0.9]), true),
        ("all(result, {# > 0.5})", json!([0.6, 0.4]), false),
        ("all(result, # > 0.5)", json!([0.6, 0.9]), true),
        ("any(result, {# > 0.5})", json!([0.1, 0.9]), true),
        ("none(result, {# > 0.5})", json!([0.1, 0.2]), true),
        ("one(result, {# > 0.5})", json!([0.1, 0.9]), true),
        ("len(result) > 0 && result[0] < 500", json!([250]), true),
        ("len(result) > 0 && result[0] < 500", json!([]), false),
        ("len(result) == 0 || result[0] >= 0.95", json!([]), true),
        ("len(result) == 0 || result[0] >= 0.95", json!([0.99]), true),
        ("len(result) > 0 && result[0] >= 0.95", json!([]), false),
        ("asFloat(result) >= 0.9", json!("0.95"), true),
        ("asFloat(result) >= 0.9", json!(0.95), true),
        ("asInt(result) == 1", json!("1"), true),
        ("default(result, 0) > 1", json!(null), false),
        ("default(result, 0) > 1", json!(2), true),
        ("default(result, 0) < 0.05", json!(null), true),
        ("isNil(result)", json!(null), true),
        ("isNil(result)", json!([]), false),
        ("result.ok == true", json!({"ok": true}), true),
        ("result.ok == true", json!({"ok": false}), false),
        ("result == 'true'", json!("true"), true),
        ("result == true", json!(true), true),
        ("result.successful == true", json!({"successful": true}), true),
        (
            "(result.requests_made * result.requests_succeeded / 100) >= 90",
            json!({"requests_made": 100, "requests_succeeded": 95}),
            true,
        ),
        ("result.successRate >= 0.95", json!({"successRate": 0.99}), true),
        ("all(result[0].Values, {# <= 0.01})", json!([{"Values": [0.001, 0.002]}]), true),
        ("result.score >= 80", json!({"score": 95}), true),
        ("result.status == 'Success'", json!({"status": "Success"}), true),
    ];
    for (expr, result, expected) in cases {
        assert_eq!(eval(expr, result.clone()), Ok(*expected), "{expr} with result {result}");
        assert_eq!(check_syntax(expr), Ok(()), "{expr}");
    }
}

/// Argo's documented NaN and infinity handling ("Handling Metric Results" in analysis.md).
#[test]
fn nan_and_infinity() {
    let nan = MetricValue::Float(f64::NAN);
    let inf = MetricValue::Float(f64::INFINITY);
    assert_eq!(evaluate_value("isNaN(result) || result >= 0.95", &nan), Ok(true));
    assert_eq!(evaluate_value("result >= 0.95", &nan), Ok(false));
    assert_eq!(evaluate_value("result < 0.95", &nan), Ok(false));
    assert_eq!(evaluate_value("result >= 0.95", &inf), Ok(true));
    assert_eq!(evaluate_value("isInf(result)", &inf), Ok(true));
    assert_eq!(evaluate_value("isInf(result[0])", &MetricValue::Floats(vec![f64::NEG_INFINITY])), Ok(true));
    assert_eq!(evaluate_value("isNaN(result)", &MetricValue::Float(0.5)), Ok(false));
    assert_eq!(eval("isNaN(result)", json!(1)), Ok(false));
    assert_eq!(eval("asFloat(result) > 1", json!("+Inf")), Ok(true));
    assert_eq!(eval("isNaN(asFloat(result))", json!("NaN")), Ok(true));
    assert!(eval("isNaN(result)", json!("x")).unwrap_err().message.contains("expects a number"));
    assert_eq!(MetricValue::Float(f64::NAN).to_measurement_value(), "NaN");
    assert_eq!(MetricValue::Float(f64::INFINITY).to_measurement_value(), "+Inf");
    assert_eq!(MetricValue::Floats(vec![0.5, f64::NEG_INFINITY]).to_measurement_value(), "[0.5,-Inf]");
    assert_eq!(MetricValue::Json(json!("ok")).to_measurement_value(), "ok");
    assert_eq!(MetricValue::Json(json!([1, 2])).to_measurement_value(), "[1,2]");
}

/// utils/evaluate/evaluate_test.go: TestEvaluateConditionWithSuccess, ...WithFailure,
/// TestEvaluateArray, TestEvaluateInOperator, TestEvaluateFloat64, TestEvaluateAsInt,
/// TestEvaluateAsFloat, TestDefaultFunc, TestIsNilFunc.
#[test]
fn argo_evaluate_tests() {
    assert_eq!(eval("result == true", json!(true)), Ok(true));
    assert_eq!(eval("result == false", json!(true)), Ok(false));
    let apdex = json!({"service_apdex": {"label": null, "values": {"values": [2.0, 2.0]}}});
    assert_eq!(eval("all(result.service_apdex.values.values, {# > 1})", apdex), Ok(true));
    assert_eq!(eval("2 in result", json!([2.0, 2.0])), Ok(true));
    assert_eq!(eval("result > 1", json!(5.0)), Ok(true));
    for (input, expr) in
        [(json!("1"), "asInt(result) == 1"), (json!(1), "asInt(result) == 1"), (json!(1.123), "asInt(result) == 1")]
    {
        assert_eq!(eval(expr, input.clone()), Ok(true), "{expr} with {input}");
    }
    for (input, expr) in [
        (json!("1.1"), "asFloat(result) == 1.1"),
        (json!("1.1"), "asFloat(result) >= 1.1"),
        (json!("1.1"), "asFloat(result) <= 1.1"),
        (json!(1.1), "asFloat(result) == 1.1"),
        (json!(1), "asFloat(result) == 1"),
        (json!(1), "asFloat(result) >= 1"),
    ] {
        assert_eq!(eval(expr, input.clone()), Ok(true), "{expr} with {input}");
    }
    assert_eq!(eval("default(result, 2) == 2", json!(null)), Ok(true));
    assert_eq!(eval("default(result, 0) == 1", json!(1)), Ok(true));
    assert_eq!(eval("isNil(result)", json!(1)), Ok(false));
    assert_eq!(eval("isNil(result)", json!(false)), Ok(false));
    assert_eq!(eval("isNil(result)", json!(["hi", "hello"])), Ok(false));
}

/// TestErrorWithNonBoolReturn, TestErrorWithInvalidReference, TestEvaluateInvalidStruct,
/// TestEvaluateAsIntPanic, TestEvaluateAsFloatError.
#[test]
fn argo_evaluate_error_tests() {
    let e = err("1", json!(true));
    assert_eq!(e.kind, ConditionErrorKind::NotBool);
    assert_eq!(e.to_string(), "expected bool, but got int (1)");
    assert_eq!(err("result", json!("yes")).to_string(), "expected bool, but got string (\"yes\")");
    assert_eq!(err("invalidVariable", json!(true)).to_string(), "unknown variable: invalidVariable");
    assert_eq!(err("result.Name() == 'hi'", json!(true)).kind, ConditionErrorKind::Evaluation);
    assert_eq!(err("asInt(result) == 1.1", json!("1.1")).to_string(), "asInt(): cannot parse \"1.1\" as an integer");
    assert_eq!(
        err("asFloat(result) == 1.1", json!("NotANum")).to_string(),
        "asFloat(): cannot parse \"NotANum\" as a number"
    );
    assert_eq!(err("asInt(result) > 1", json!(true)).to_string(), "asInt() not supported on bool (true)");
    // Go expr rejects comparing a float with a string at compile time; expr-lang compares them
    // as unequal. Either way the condition does not pass.
    assert_eq!(eval("asFloat(result) == \"1.1\"", json!("1.1")), Ok(false));
}

#[test]
fn index_out_of_range_is_a_clear_error() {
    let e = err("result[0] >= 0.95", json!([]));
    assert_eq!(e.kind, ConditionErrorKind::Evaluation);
    assert_eq!(e.message, "result[0]: index out of range, result is an empty array");
    assert_eq!(err("result[2] > 1", json!([1, 2])).message, "result[2]: index out of range, result has 2 elements");
    assert_eq!(err("result[-3] > 1", json!([1, 2])).message, "result[-3]: index out of range, result has 2 elements");
    assert_eq!(eval("result[-1] == 2", json!([1, 2])), Ok(true));
    assert_eq!(
        err("result.data[1].v > 0", json!({"data": [{"v": 1}]})).message,
        "result.data[1]: index out of range, result.data has 1 element"
    );
    assert_eq!(
        err("all(result, {#[0] > 0})", json!([[1], []])).message,
        "#[0]: index out of range, # is an empty array"
    );
    assert_eq!(err("result[0] > 0", json!(null)).message, "result[0]: cannot index result, it is nil");
    assert_eq!(err("result[0] > 0", json!(5)).message, "result[0]: cannot index result, it is int (5)");
    // Optional indexing and slices keep their forgiving meaning.
    assert_eq!(eval("result?.[0] == nil", json!(null)), Ok(true));
    assert_eq!(eval("result[5:] == []", json!([1])), Ok(true));
    assert_eq!(eval("result['ok']", json!({"ok": true})), Ok(true));
    assert_eq!(eval("result['missing'] == nil", json!({"ok": true})), Ok(true));
}

#[test]
fn field_access_errors_name_the_expression() {
    assert_eq!(
        err("result.ok == true", json!("ok")).message,
        "result.ok: result is string (\"ok\"), not a map, so it has no field \"ok\""
    );
    assert_eq!(
        err("result.a.b == 1", json!({"a": null})).message,
        "result.a.b: result.a is nil, so it has no field \"b\""
    );
    assert_eq!(eval("result.missing == nil", json!({"ok": true})), Ok(true));
    assert_eq!(eval("result?.a?.b == nil", json!({"a": null})), Ok(true));
    assert_eq!(eval("$env.result == 2", json!(2)), Ok(true));
}

#[test]
fn expr_builtins_and_operators() {
    let cases: &[(&str, Json)] = &[
        ("len(result) == 3", json!([1, 2, 3])),
        ("len(result) == 2", json!({"a": 1, "b": 2})),
        ("len('abc') == 3", json!(null)),
        ("abs(result) == 2", json!(-2)),
        ("min(result, 3) == 1 && max(1, 2.5) == 2.5", json!(1)),
        ("filter(result, # > 1) == [2, 3]", json!([1, 2, 3])),
        ("map(result, # * 2) == [2, 4]", json!([1, 2])),
        ("count(result, # > 1) == 2", json!([1, 2, 3])),
        ("sum(result) == 6 && mean(result) == 2", json!([1, 2, 3])),
        ("all(result, {.ok})", json!([{"ok": true}, {"ok": true}])),
        ("any(result, .v > 1)", json!([{"v": 1}, {"v": 2}])),
        ("result contains 'err' && result startsWith 'e' && not (result endsWith 'x')", json!("error")),
        ("result matches '^5..$'", json!("503")),
        ("'a' in result and 'z' not in result", json!({"a": 1})),
        ("result ?? true", json!(null)),
        ("(result > 1 ? 'big' : 'small') == 'big'", json!(2)),
        ("let ok = result.code < 500; ok", json!({"code": 200})),
        ("5 / 2 == 2.5 && 2 ** 3 == 8 && 7 % 3 == 1", json!(null)),
        ("upper(result) == 'OK' && lower('A') == 'a' && trim(' a ') == 'a'", json!("ok")),
        ("int(result) == 2 && float(2) == 2.0", json!(2.7)),
        ("result > 0.9 // trailing comment", json!(1)),
        ("result\n  > 0.9", json!(1)),
    ];
    for (expr, result) in cases {
        assert_eq!(eval(expr, result.clone()), Ok(true), "{expr} with {result}");
    }
    assert!(err("now() > 0", json!(null)).message.contains("not available"));
}

#[test]
fn syntax_errors_have_positions() {
    let e = check_syntax("result >").unwrap_err();
    assert_eq!(e.kind, ConditionErrorKind::Syntax);
    assert_eq!((e.offset, e.line, e.column), (Some(8), Some(1), Some(9)));
    assert_eq!(
        e.to_string(),
        "syntax error at column 9: unexpected end of expression, expected a value (a number, string, name, list, map or `(`)"
    );

    let e = check_syntax("result ==== 1").unwrap_err();
    assert_eq!((e.offset, e.column), (Some(9), Some(10)));
    assert!(e.message.starts_with("unexpected `=`, expected a value"), "{}", e.message);

    let e = check_syntax("result > 1 1").unwrap_err();
    assert_eq!(e.column, Some(12));
    assert!(e.message.starts_with("unexpected `1`, expected"), "{}", e.message);
    assert!(e.message.contains("an operator"), "{}", e.message);

    let e = check_syntax("result[0] >= (0.95").unwrap_err();
    assert_eq!(e.to_string(), "syntax error at column 14: this `(` is never closed");
    assert_eq!(e.offset, Some(13));

    let e = check_syntax("result == 'ok").unwrap_err();
    assert_eq!(e.to_string(), "syntax error at column 11: this string is never closed with '");

    let e = check_syntax("all(result, {# > 0.5)").unwrap_err();
    assert_eq!(e.to_string(), "syntax error at column 21: `)` does not match the `{` at column 13");

    let e = check_syntax("len(result) > 0 &&\n  result[0] <").unwrap_err();
    assert_eq!((e.line, e.column, e.offset), (Some(2), Some(14), Some(32)));
    assert!(e.to_string().starts_with("syntax error at line 2, column 14: unexpected end of expression"));

    // Columns count characters, not bytes.
    let e = check_syntax("'é' + x >").unwrap_err();
    assert_eq!((e.offset, e.column), (Some(9), Some(10)));

    // A syntax error is reported by evaluate too.
    assert_eq!(evaluate("result >", &json!(1)).unwrap_err().kind, ConditionErrorKind::Syntax);
    assert_eq!(
        check_syntax("  // nothing").unwrap_err().to_string(),
        "syntax error at column 1: the condition is empty"
    );
}

proptest! {
    /// Checked indexing agrees with plain indexing in range, and errors out of range.
    #[test]
    fn indexing_matches_direct_access(
        values in prop::collection::vec(-1e6f64..1e6, 0..8),
        index in -10i64..10,
        threshold in -1e6f64..1e6,
    ) {
        let expr = format!("result[{index}] >= {threshold:?}");
        let len = values.len() as i64;
        let at = if index < 0 { len + index } else { index };
        match evaluate(&expr, &json!(values)) {
            Ok(b) => {
                prop_assert!((0..len).contains(&at));
                prop_assert_eq!(b, values[at as usize] >= threshold);
            }
            Err(e) => {
                prop_assert!(!(0..len).contains(&at), "{}", e);
                prop_assert!(e.message.contains("index out of range"), "{}", e);
            }
        }
    }

    /// Whatever the text, checking and evaluating return rather than panic.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
        let _ = check_syntax(&text);
        let _ = evaluate(&text, &json!([1, {"a": [2.5, null]}, "x"]));
    }

    /// Text built from the language's own pieces, valid or not, never panics either, and what
    /// `check_syntax` accepts `evaluate` compiles too.
    #[test]
    fn expression_fragments_never_panic(parts in prop::collection::vec(prop::sample::select(vec![
        "result", "[", "]", "(", ")", "{", "}", ".", "?.", "0", "1.5", "-1", ",", ":", "#", "ok",
        "len", "all", "==", ">=", "&&", "||", "!", "not", "in", "'s'", "\"t\"", "?", "??", "..",
    ]), 0..12)) {
        let text = parts.join(" ");
        let syntax = check_syntax(&text);
        if let Err(e) = evaluate(&text, &json!({"ok": [1, 2]})) {
            prop_assert!(syntax.is_ok() || e.kind == ConditionErrorKind::Syntax);
        }
    }
}
