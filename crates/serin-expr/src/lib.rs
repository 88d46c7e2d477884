//! `successCondition` and `failureCondition`: expressions in the expr language, evaluated against
//! a measurement's value bound as `result`, exactly as Argo Rollouts does it.
//!
//! Evaluation uses expr-lang (the Rust implementation of expr) with Argo's builtins added:
//! `asInt`, `asFloat`, `isNaN`, `isInf`, `isNil` and `default`. On top of expr-lang this module
//! gives errors people can act on: syntax errors carry a line, column and character offset and say
//! what was expected in words rather than grammar rule names; indexing past the end of a list
//! (`result[0]` on an empty Prometheus vector) names the expression and the length instead of
//! yielding nil; and a condition that does not yield a bool is an error, as in Argo.
//!
//! Nothing here reads a clock: the temporal builtins (`now()`, `date()`, ...) are not available.
//!
//! Where this differs from Argo (Go expr): `isNil(x)` and `default(x, d)` look at their argument
//! (Argo's look at `result` whatever the argument, which is the same for `isNil(result)`); expr-lang
//! is dynamically typed, so an unknown name is reported when evaluated rather than when compiled,
//! and comparing mismatched types (`1.1 == "1.1"`) is false rather than a compile error.

mod source;

use expr::{Context, Environment, Value};
use serde_json::Value as Json;
use std::fmt;
use std::sync::LazyLock;

/// What went wrong with a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionErrorKind {
    /// The text is not a valid expression.
    Syntax,
    /// The expression is valid but failed while evaluating (unknown name, bad operand, index out
    /// of range, a builtin's argument it cannot convert, ...).
    Evaluation,
    /// The expression evaluated to something other than a bool.
    NotBool,
}

/// A condition that could not be checked or evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConditionError {
    pub kind: ConditionErrorKind,
    /// What went wrong, without the position.
    pub message: String,
    /// Character (not byte) offset into the expression, when the parser gives a position.
    pub offset: Option<usize>,
    /// 1-based line of `offset`.
    pub line: Option<usize>,
    /// 1-based column (in characters) of `offset`.
    pub column: Option<usize>,
}

impl ConditionError {
    fn evaluation(message: impl Into<String>) -> Self {
        ConditionError {
            kind: ConditionErrorKind::Evaluation,
            message: message.into(),
            offset: None,
            line: None,
            column: None,
        }
    }

    fn syntax_at(expr: &str, char_offset: Option<usize>, message: String) -> Self {
        let (line, column) = match char_offset {
            Some(offset) => {
                let before: String = expr.chars().take(offset).collect();
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        ConditionError { kind: ConditionErrorKind::Syntax, message, offset: char_offset, line, column }
    }
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.line, self.column) {
            (ConditionErrorKind::Syntax, Some(1), Some(column)) => {
                write!(f, "syntax error at column {column}: {}", self.message)
            }
            (ConditionErrorKind::Syntax, Some(line), Some(column)) => {
                write!(f, "syntax error at line {line}, column {column}: {}", self.message)
            }
            (ConditionErrorKind::Syntax, _, _) => write!(f, "syntax error: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// A measured value as a condition sees it: JSON from most providers, or floats, which may be NaN
/// or infinite (Prometheus returns those, and JSON cannot carry them).
#[derive(Clone, Debug, PartialEq)]
pub enum MetricValue {
    Json(Json),
    Float(f64),
    Floats(Vec<f64>),
}

impl From<Json> for MetricValue {
    fn from(value: Json) -> Self {
        MetricValue::Json(value)
    }
}

impl From<f64> for MetricValue {
    fn from(value: f64) -> Self {
        MetricValue::Float(value)
    }
}

impl From<Vec<f64>> for MetricValue {
    fn from(value: Vec<f64>) -> Self {
        MetricValue::Floats(value)
    }
}

impl MetricValue {
    /// The text Argo stores in `Measurement.value`: a string as is, other JSON compact, floats as
    /// Go prints them (`NaN`, `+Inf`), a vector as `[0.5,NaN]`.
    pub fn to_measurement_value(&self) -> String {
        match self {
            MetricValue::Json(Json::String(s)) => s.clone(),
            MetricValue::Json(json) => json.to_string(),
            MetricValue::Float(f) => go_float(*f),
            MetricValue::Floats(v) => format!("[{}]", v.iter().map(|f| go_float(*f)).collect::<Vec<_>>().join(",")),
        }
    }

    fn to_expr(&self) -> Value {
        match self {
            MetricValue::Json(json) => json_to_expr(json),
            MetricValue::Float(f) => Value::Float(*f),
            MetricValue::Floats(v) => Value::Array(v.iter().map(|f| Value::Float(*f)).collect()),
        }
    }
}

fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        f.to_string()
    }
}

/// Checks that `expr` is a valid condition, without evaluating it.
pub fn check_syntax(expr: &str) -> Result<(), ConditionError> {
    compile(expr).map(|_| ())
}

/// Evaluates `expr` with `result` bound to the JSON value; the expression must yield a bool.
pub fn evaluate(expr: &str, result: &Json) -> Result<bool, ConditionError> {
    evaluate_expr(expr, json_to_expr(result))
}

/// Evaluates `expr` with `result` bound to a measured value that may hold NaN or infinities.
pub fn evaluate_value(expr: &str, result: &MetricValue) -> Result<bool, ConditionError> {
    evaluate_expr(expr, result.to_expr())
}

fn evaluate_expr(expr: &str, result: Value) -> Result<bool, ConditionError> {
    let program = compile(expr)?;
    let mut ctx = Context::default();
    ctx.insert("result", result.clone());
    match ENV.run(&program, &ctx) {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(ConditionError {
            kind: ConditionErrorKind::NotBool,
            message: format!("expected bool, but got {}", describe(&other)),
            offset: None,
            line: None,
            column: None,
        }),
        Err(err) => {
            let message = err.to_string();
            // expr-lang's own operand errors do not say what the operands were.
            if message.starts_with("Invalid operand") {
                Err(ConditionError::evaluation(format!("{message} (result is {})", describe(&result))))
            } else {
                Err(ConditionError::evaluation(message))
            }
        }
    }
}

/// Compiles the condition, preferring the rewritten text (checked indexing, `.field` shorthand)
/// and reporting errors against the text as written.
fn compile(expr: &str) -> Result<expr::Program, ConditionError> {
    let tokens = source::Tokens::read(expr);
    if let Ok(tokens) = &tokens {
        if tokens.is_empty() {
            return Err(ConditionError::syntax_at(expr, Some(0), "the condition is empty".into()));
        }
        let expanded = source::expand_shorthand(tokens);
        if let Ok(expanded_tokens) = source::Tokens::read(&expanded)
            && let Ok(program) = expr::compile(&source::checked_access(&expanded_tokens))
        {
            return Ok(program);
        }
        if let Ok(program) = expr::compile(&expanded) {
            return Ok(program);
        }
    }
    match expr::compile(expr) {
        Ok(program) => Ok(program),
        Err(err) => Err(match tokens {
            Err(lex) => {
                let offset = expr[..lex.byte_offset].chars().count();
                ConditionError::syntax_at(expr, Some(offset), lex.message)
            }
            Ok(_) => translate_parse_error(expr, &err),
        }),
    }
}

/// Turns a pest error (` --> 1:13 ... = expected conditional_if, negation_op, ...`) into a
/// position and a sentence.
fn translate_parse_error(expr: &str, err: &expr::Error) -> ConditionError {
    let text = err.to_string();
    let position = text.lines().find_map(|l| l.trim().strip_prefix("--> ")).and_then(|pos| {
        let (line, column) = pos.trim().split_once(':')?;
        Some((line.parse::<usize>().ok()?, column.parse::<usize>().ok()?))
    });
    let Some((line, column)) = position else {
        return ConditionError::syntax_at(expr, None, text);
    };
    let offset: usize = expr.split('\n').take(line.saturating_sub(1)).map(|l| l.chars().count() + 1).sum::<usize>()
        + column.saturating_sub(1);
    let remaining: String = expr.chars().skip(offset).collect();
    let found = match remaining.trim_start().chars().next() {
        None => "unexpected end of expression".to_string(),
        Some(c) if c.is_alphanumeric() || c == '_' => {
            let word: String =
                remaining.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            format!("unexpected `{word}`")
        }
        Some(c) => format!("unexpected `{c}`"),
    };
    let detail = text.lines().find_map(|l| l.trim().strip_prefix("= ")).unwrap_or("");
    let message = match detail.strip_prefix("expected ") {
        Some(rules) => format!("{found}, expected {}", describe_rules(rules)),
        None if detail.is_empty() => found,
        None => format!("{found}: {detail}"),
    };
    ConditionError::syntax_at(expr, Some(offset), message)
}

/// `conditional_if, negation_op, sign_op, value, array, map, or ident` -> `a value`.
fn describe_rules(rules: &str) -> String {
    const OPERANDS: &[&str] = &[
        "conditional_if",
        "negation_op",
        "sign_op",
        "value",
        "array",
        "map",
        "ident",
        "expr",
        "predicate",
        "literal",
        "string",
        "integer",
        "decimal",
        "int",
        "float",
    ];
    let mut operand = false;
    let mut operator = false;
    let mut end = false;
    let mut other = Vec::new();
    for rule in rules.split(", ").flat_map(|r| r.split(" or ")).map(|r| r.trim().trim_start_matches("or ")) {
        match rule {
            "" => {}
            "EOI" => end = true,
            r if OPERANDS.contains(&r) => operand = true,
            r if r.ends_with("_op") || matches!(r, "pipe" | "method_call" | "ternary") => operator = true,
            r => other.push(r.replace('_', " ")),
        }
    }
    let mut parts = Vec::new();
    if operand {
        parts.push("a value (a number, string, name, list, map or `(`)".to_string());
    }
    if operator {
        parts.push("an operator".to_string());
    }
    if end {
        parts.push("the end of the expression".to_string());
    }
    parts.extend(other);
    match parts.len() {
        0 => rules.to_string(),
        1 => parts.remove(0),
        _ => {
            let last = parts.pop().unwrap_or_default();
            format!("{} or {last}", parts.join(", "))
        }
    }
}

fn json_to_expr(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(json_to_expr).collect()),
        Json::Object(map) => map.iter().map(|(k, v)| (k.clone(), json_to_expr(v))).collect(),
    }
}

fn type_name(value: &Value) -> &'static str {
    // Written as a chain rather than a match: expr-lang has more variants when another crate turns
    // on its `temporal` feature.
    if value.is_nil() {
        "nil"
    } else if value.as_bool().is_some() {
        "bool"
    } else if value.as_integer().is_some() {
        "int"
    } else if value.as_float().is_some() {
        "float"
    } else if value.as_string().is_some() {
        "string"
    } else if value.as_array().is_some() {
        "array"
    } else if value.as_map().is_some() || value.as_keyed_map().is_some() {
        "map"
    } else if value.as_bytes().is_some() {
        "bytes"
    } else {
        "value"
    }
}

/// `int (1)`, `string ("a")`, `array of 2 elements`, `nil`, for messages.
fn describe(value: &Value) -> String {
    let name = type_name(value);
    if let Some(items) = value.as_array() {
        return match items.len() {
            0 => "an empty array".to_string(),
            1 => "an array of 1 element".to_string(),
            n => format!("an array of {n} elements"),
        };
    }
    if let Some(map) = value.as_map() {
        let keys: Vec<&str> = map.keys().map(String::as_str).take(5).collect();
        let more = if map.len() > keys.len() { ", ..." } else { "" };
        return format!("a map with keys [{}{more}]", keys.join(", "));
    }
    if value.is_nil() {
        return "nil".to_string();
    }
    let mut shown = value.to_string();
    if shown.chars().count() > 60 {
        shown = shown.chars().take(57).collect::<String>() + "...";
    }
    format!("{name} ({shown})")
}

type CallResult = expr::Result<Value>;

fn fail(message: String) -> CallResult {
    Err(expr::Error::ExprError(message))
}

fn one_arg(name: &str, args: &[Value]) -> Result<Value, expr::Error> {
    match args {
        [value] => Ok(value.clone()),
        _ => Err(expr::Error::ExprError(format!("{name}() takes 1 argument, got {}", args.len()))),
    }
}

fn as_int(args: &[Value]) -> CallResult {
    let value = one_arg("asInt", args)?;
    if let Some(i) = value.as_integer() {
        return Ok(Value::Integer(i));
    }
    if let Some(f) = value.as_float() {
        // Go's int64(f) truncates toward zero.
        return Ok(Value::Integer(f.trunc() as i64));
    }
    if let Some(s) = value.as_string() {
        return match s.parse::<i64>() {
            Ok(i) => Ok(Value::Integer(i)),
            Err(_) => fail(format!("asInt(): cannot parse {s:?} as an integer")),
        };
    }
    fail(format!("asInt() not supported on {}", describe(&value)))
}

fn as_float(args: &[Value]) -> CallResult {
    let value = one_arg("asFloat", args)?;
    if let Some(f) = value.as_float() {
        return Ok(Value::Float(f));
    }
    if let Some(i) = value.as_integer() {
        return Ok(Value::Float(i as f64));
    }
    if let Some(s) = value.as_string() {
        return match s.parse::<f64>() {
            Ok(f) => Ok(Value::Float(f)),
            Err(_) => fail(format!("asFloat(): cannot parse {s:?} as a number")),
        };
    }
    fail(format!("asFloat() not supported on {}", describe(&value)))
}

fn float_test(name: &str, args: &[Value], test: fn(f64) -> bool) -> CallResult {
    let value = one_arg(name, args)?;
    if let Some(f) = value.as_float() {
        return Ok(Value::Bool(test(f)));
    }
    if value.as_integer().is_some() {
        return Ok(Value::Bool(false));
    }
    fail(format!("{name}() expects a number, got {}", describe(&value)))
}

/// `x[i]` with an error, not nil, when `i` is out of range or `x` cannot be indexed.
fn checked_index(args: &[Value], env: &Environment) -> CallResult {
    let [subject, index, text] = args else { return fail("invalid index".into()) };
    let text = text.as_string().unwrap_or("value");
    let shown_index = index.to_string();
    if let (Some(items), Some(i)) = (subject.as_array(), index.as_integer()) {
        let len = items.len() as i64;
        let at = if i < 0 { len + i } else { i };
        return match usize::try_from(at).ok().and_then(|at| items.get(at)) {
            Some(item) => Ok(item.clone()),
            None if len == 0 => fail(format!("{text}[{shown_index}]: index out of range, {text} is an empty array")),
            None => fail(format!(
                "{text}[{shown_index}]: index out of range, {text} has {len} element{}",
                if len == 1 { "" } else { "s" }
            )),
        };
    }
    if subject.is_nil() {
        return fail(format!("{text}[{shown_index}]: cannot index {text}, it is nil"));
    }
    if subject.as_map().is_none() && subject.as_keyed_map().is_none() && subject.as_array().is_none() {
        return fail(format!("{text}[{shown_index}]: cannot index {text}, it is {}", describe(subject)));
    }
    let mut ctx = Context::default();
    ctx.insert("v", subject.clone());
    ctx.insert("i", index.clone());
    env.eval("v[i]", &ctx).map_err(|err| {
        expr::Error::ExprError(format!("{text}[{shown_index}]: {err} ({text} is {})", describe(subject)))
    })
}

/// `x.name` with an error naming the expression when `x` is nil or not a map.
fn checked_field(args: &[Value], env: &Environment) -> CallResult {
    let [subject, name, text] = args else { return fail("invalid field access".into()) };
    let (Some(name), text) = (name.as_string(), text.as_string().unwrap_or("value")) else {
        return fail("invalid field access".into());
    };
    if let Some(map) = subject.as_map() {
        return Ok(map.get(name).cloned().unwrap_or(Value::Nil));
    }
    if subject.as_keyed_map().is_some() {
        let mut ctx = Context::default();
        ctx.insert("v", subject.clone());
        ctx.insert("k", name);
        return env.eval("v[k]", &ctx);
    }
    if subject.is_nil() {
        return fail(format!("{text}.{name}: {text} is nil, so it has no field {name:?}"));
    }
    fail(format!("{text}.{name}: {text} is {}, not a map, so it has no field {name:?}", describe(subject)))
}

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.add_function("asInt", |c| as_int(&c.args));
    env.add_function("asFloat", |c| as_float(&c.args));
    env.add_function("isNaN", |c| float_test("isNaN", &c.args, f64::is_nan));
    env.add_function("isInf", |c| float_test("isInf", &c.args, f64::is_infinite));
    env.add_function("isNil", |c| Ok(Value::Bool(one_arg("isNil", &c.args)?.is_nil())));
    env.add_function("default", |c| match c.args.as_slice() {
        [value, fallback] => Ok(if value.is_nil() { fallback.clone() } else { value.clone() }),
        args => fail(format!("default() takes 2 arguments, got {}", args.len())),
    });
    env.add_function(source::INDEX_FN, |c| checked_index(&c.args, c.env));
    env.add_function(source::FIELD_FN, |c| checked_field(&c.args, c.env));
    // Conditions must not depend on the time they are evaluated at, even if another crate turns
    // on expr-lang's `temporal` feature.
    for name in ["now", "date", "duration", "timezone"] {
        env.add_function(name, move |_| fail(format!("{name}() is not available in analysis conditions")));
    }
    env
});

/// Whether the Go-style regular expression `pattern` matches anywhere in `text` (as Go's
/// `regexp.MatchString`), using the `matches` operator; `None` if the pattern is invalid.
pub fn regex_search(pattern: &str, text: &str) -> Option<bool> {
    let mut ctx = Context::default();
    ctx.insert("text", text);
    ctx.insert("pattern", pattern);
    ENV.eval("text matches pattern", &ctx).ok().and_then(|v| v.as_bool())
}

#[cfg(test)]
mod tests;
