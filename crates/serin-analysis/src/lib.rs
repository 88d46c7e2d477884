//! scratch
#[cfg(test)]
mod scratch {
    use expr::{Context, Environment, Value};
    fn ev(code: &str, result: Value) -> String {
        let env = Environment::new();
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
            ("result['ok']", Value::Map([("ok".to_string(), Value::Bool(true))].into_iter().collect())),
        ];
        for (c, v) in cases {
            println!("{c:45} => {}", ev(c, v));
        }
    }
}
