//! scratch
#[cfg(test)]
mod scratch {
    use expr::{Context, Environment, Value};
    fn ev(code: &str, result: Value) -> String {
        let mut env = Environment::new();
        env.add_function("__serin_x", |c| Ok(c.args[0].clone()));
        env.add_function("default", |c| Ok(c.args[1].clone()));
        env.add_function("isNil", |c| Ok(c.args[0].is_nil().into()));
        let mut ctx = Context::default();
        ctx.insert("result", result);
        match env.eval(code, &ctx) {
            Ok(v) => format!("OK {v:?}"),
            Err(e) => format!("ERR {e:?}"),
        }
    }
    #[test]
    fn explore() {
        let arr = Value::Array(vec![Value::Float(0.97), Value::Float(0.6)]);
        let cases: Vec<(&str, Value)> = vec![
            ("result == 1", Value::Float(1.0)),
            ("result == 1.0", Value::Integer(1)),
            ("result >= 1", Value::Float(1.0)),
            ("result[0] >= 0.95", arr.clone()),
            ("result[5] >= 0.95", arr.clone()),
            ("result[-1] >= 0.5", arr.clone()),
            ("all(result, {# > 0.5})", arr.clone()),
            ("all(result, # > 0.5)", arr.clone()),
            ("any(result, .x > 1)", arr.clone()),
            ("len(result) > 0 && result[0] < 500", arr.clone()),
            ("result.ok == true", Value::Map([("ok".to_string(), Value::Bool(true))].into_iter().collect())),
            ("result.missing == nil", Value::Map([("ok".to_string(), Value::Bool(true))].into_iter().collect())),
            ("result.ok.x", Value::Map([("ok".to_string(), Value::Bool(true))].into_iter().collect())),
            ("result.a", Value::Integer(1)),
            ("1", Value::Nil),
            ("result < 1", Value::Nil),
            ("result < 1", Value::String("a".into())),
            ("result == 'a'", Value::String("a".into())),
            ("2 in result", Value::Array(vec![Value::Float(2.0)])),
            ("result > (1", Value::Nil),
            ("result >", Value::Nil),
            ("result ==== 1", Value::Nil),
            ("foo(1)", Value::Nil),
            ("invalidVariable", Value::Nil),
            ("abs(-1) == 1 && min(1,2) == 1 && max(1, 2.5) == 2.5", Value::Nil),
            ("filter(result, # > 0.9)[0] == 0.97", arr.clone()),
            ("map(result, # * 2)[1] == 1.2", arr.clone()),
            ("none(result, # > 1) && one(result, # > 0.9)", arr.clone()),
            ("1 / 0 > 1", Value::Nil),
            ("1 / 2 == 0.5", Value::Nil),
            ("'abc' matches '^a'", Value::Nil),
            ("result ?? 3", Value::Nil),
            ("result[1:] ", arr.clone()),
            ("result ** 2", Value::Integer(3)),
            ("result % 2", Value::Float(3.0)),
            ("mean(result)", arr.clone()),
            ("now()", arr.clone()),
            ("float('NaN')", arr.clone()),
            ("result == result", Value::Float(f64::NAN)),
            ("result > 0.5", Value::Float(f64::INFINITY)),
            ("result.ok == true", Value::String("x".into())),
            (
                "all(result, {#.x > 1})",
                Value::Array(vec![[("x".to_string(), Value::Integer(2))].into_iter().collect()]),
            ),
            ("all(result, {#[0] > 1})", Value::Array(vec![Value::Array(vec![Value::Integer(2)])])),
            ("all(result, #[0] > 1)", Value::Array(vec![Value::Array(vec![Value::Integer(2)])])),
            ("'success-rate' matches result", Value::String("succ.*".into())),
            ("'success-rate' matches result", Value::String("*".into())),
            ("'success-rate' matches result", Value::String("rate".into())),
            ("not (result == 1) or result contains 'a'", Value::String("ab".into())),
            ("result startsWith 'a' and result endsWith 'b'", Value::String("ab".into())),
            ("'a' in result", Value::Map([("a".to_string(), Value::Integer(1))].into_iter().collect())),
            ("sum(result) == 3 && count(result, # > 1) == 1", Value::Array(vec![Value::Integer(1), Value::Integer(2)])),
            ("len('abc') == 3 && 1e3 == 1000 && 5 / 2 == 2.5 && int(2.7) == 2 && float(2) == 2.0", Value::Nil),
            ("let x = result; x > 1", Value::Integer(2)),
            ("result > 1 // comment", Value::Integer(2)),
            ("result > 1 /* c */", Value::Integer(2)),
            ("result?.ok", Value::Nil),
            ("result == nil", Value::Nil),
            ("`raw` == 'raw'", Value::Nil),
            ("result ? 1 : 2", Value::Bool(true)),
            ("if result { 1 } else { 2 }", Value::Bool(true)),
            ("1..3 == [1,2,3]", Value::Bool(true)),
            ("result.a.b", Value::Map([("a".to_string(), Value::Nil)].into_iter().collect())),
            ("result | len() > 1", Value::Array(vec![Value::Integer(1), Value::Integer(2)])),
            ("$env.result == 2", Value::Integer(2)),
            ("result[1:2][0] == 2", Value::Array(vec![Value::Integer(1), Value::Integer(2)])),
            ("upper('a') == 'A' && lower('A') == 'a' && trim(' a ') == 'a'", Value::Nil),
            ("result == 1", Value::Integer(i64::MAX)),
            ("\n result \n >= \n", Value::Nil),
            ("__serin_x(1)", Value::Nil),
            ("default(result, 0) > 1", Value::Nil),
            ("isNil(result)", Value::Nil),
            ("résultat > 1 ∧", Value::Nil),
            ("'é' + x >", Value::Nil),
            ("result[0.0]", arr.clone()),
            ("result['a']", arr.clone()),
            ("'abc'[0]", arr.clone()),
            ("result['ok']", Value::Map([("ok".to_string(), Value::Bool(true))].into_iter().collect())),
        ];
        for t in ["Inf", "+Inf", "-inf", "NaN", "infinity", "1e3", "+1", " 1"] {
            println!("{t} => {:?} / {:?}", t.parse::<f64>(), t.parse::<i64>());
        }
        for (c, v) in cases {
            println!("{c:45} => {}", ev(c, v));
        }
    }
}
