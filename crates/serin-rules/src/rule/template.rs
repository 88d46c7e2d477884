//! Traefik v2's rule templates. Traefik 2 matched `Host`-`Regexp`, `Path`, `PathPrefix` and
//! `Query` arguments with gorilla/mux, whose arguments are literal text with variables in
//! braces: `{name}` (any text up to the next `.` in a host, `/` in a path) or `{name:regexp}`.
//! `HostRegexp(`{sub:[a-z]+}.example.com`)` and `Path(`/users/{id:[0-9]+}`)` are written that
//! way, and `traefik.containo.us` IngressRoutes are full of them.
//!
//! A template becomes one anchored regular expression: the literal parts quoted, each variable
//! its pattern. Host templates ignore case; a path prefix is anchored at the start only; a
//! query template `key=` with no value accepts any value.

use regex::Regex;

use super::goregex;

/// Where a template is matched, which decides a variable's default pattern and the anchoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Host,
    Path,
    PathPrefix,
    /// `key=value`, matched against `key=` and the key's first value.
    Query,
}

/// Compiles a template. The error says what is wrong in gorilla/mux's terms (unbalanced
/// braces, an empty name or pattern, a pattern that is not a Go regexp).
pub(crate) fn compile(template: &str, place: Place) -> Result<Regex, String> {
    let variables = brace_spans(template)?;
    let mut pattern = String::from(if place == Place::Host { "(?i)^" } else { "^" });
    let mut literal_from = 0;
    for (number, &(open, close)) in variables.iter().enumerate() {
        pattern.push_str(&quote_meta(&template[literal_from..open]));
        literal_from = close + 1;
        let inside = &template[open + 1..close];
        let (name, variable) = match inside.split_once(':') {
            Some((name, variable)) => (name, variable),
            None => (inside, default_pattern(place)),
        };
        if name.is_empty() || variable.is_empty() {
            return Err(format!("missing name or pattern in {:?}", &template[open..=close]));
        }
        // Each variable's pattern must stand on its own, as gorilla/mux compiles it alone too.
        goregex::compile(&format!("^{variable}$")).map_err(|e| format!("variable {name:?}: {e}"))?;
        pattern.push_str(&format!("(?P<v{number}>{variable})"));
    }
    pattern.push_str(&quote_meta(&template[literal_from..]));
    if place == Place::Query && template.split_once('=').is_none_or(|(_, value)| value.is_empty()) {
        pattern.push_str(default_pattern(place));
    }
    if place != Place::PathPrefix {
        pattern.push('$');
    }
    goregex::compile(&pattern)
}

/// Whether an argument holds a variable, so that it needs a regexp rather than a comparison.
pub(crate) fn has_variables(argument: &str) -> bool {
    argument.contains('{')
}

fn default_pattern(place: Place) -> &'static str {
    match place {
        Place::Host => "[^.]+",
        Place::Path | Place::PathPrefix => "[^/]+",
        Place::Query => ".*",
    }
}

/// The byte ranges of the outermost `{...}` pairs.
fn brace_spans(template: &str) -> Result<Vec<(usize, usize)>, String> {
    let unbalanced = || format!("unbalanced braces in {template:?}");
    let mut spans = Vec::new();
    let mut depth = 0usize;
    let mut open = 0;
    for (i, byte) in template.bytes().enumerate() {
        match byte {
            b'{' => {
                if depth == 0 {
                    open = i;
                }
                depth += 1;
            }
            b'}' => {
                depth = depth.checked_sub(1).ok_or_else(unbalanced)?;
                if depth == 0 {
                    spans.push((open, i));
                }
            }
            _ => {}
        }
    }
    if depth == 0 { Ok(spans) } else { Err(unbalanced()) }
}

/// Go's `regexp.QuoteMeta`: the characters that mean something in a pattern, escaped.
fn quote_meta(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(template: &str, place: Place, text: &str) -> bool {
        compile(template, place).unwrap_or_else(|e| panic!("{template}: {e}")).is_match(text)
    }

    #[test]
    fn host_templates_ignore_case_and_default_to_one_label() {
        assert!(matches("{sub:[a-z]+}.example.com", Place::Host, "WWW.example.com"));
        assert!(!matches("{sub:[a-z]+}.example.com", Place::Host, "a.b.example.com"));
        assert!(matches("{sub}.example.com", Place::Host, "api.example.com"));
        assert!(!matches("{sub}.example.com", Place::Host, "a.api.example.com"));
        // Literal text is literal: the dot is not "any character", the parenthesis not a group.
        assert!(!matches("a.example.com", Place::Host, "abexample.com"));
        assert!(matches("(example.com", Place::Host, "(example.com"));
        assert!(matches("{subdomain:(foo\\.)?bar\\.com}", Place::Host, "bar.com"));
        assert!(!matches("{subdomain:(foo\\.)?bar\\.com}", Place::Host, "fooubar.com"));
    }

    #[test]
    fn paths_are_anchored_and_prefixes_only_at_the_start() {
        assert!(matches("/users/{id:[0-9]+}", Place::Path, "/users/42"));
        assert!(!matches("/users/{id:[0-9]+}", Place::Path, "/users/42/x"));
        assert!(matches("/users/{id}", Place::Path, "/users/abc"));
        assert!(!matches("/users/{id}", Place::Path, "/users/a/b"));
        assert!(matches("/css{path:(/.*)?}", Place::Path, "/css/components/c.css"));
        assert!(!matches("/css{path:(/.*)?}", Place::Path, "/css.css"));
        assert!(matches("/css-{name:[0-9]?}", Place::PathPrefix, "/css-333333/x"));
        assert!(!matches("/css-{name:[0-9]?}", Place::PathPrefix, "/x/css-1"));
    }

    #[test]
    fn query_templates_match_key_and_value() {
        assert!(matches("q=a.b", Place::Query, "q=a.b"));
        assert!(!matches("q=a.b", Place::Query, "q=axb"));
        assert!(matches("q=", Place::Query, "q=anything"));
        assert!(matches("id={id:[0-9]+}", Place::Query, "id=12"));
        assert!(!matches("id={id:[0-9]+}", Place::Query, "id=12a"));
    }

    #[test]
    fn malformed_templates_are_refused() {
        for (template, needle) in [
            ("{a", "unbalanced braces"),
            ("a}", "unbalanced braces"),
            ("{:x}", "missing name or pattern"),
            ("{a:}", "missing name or pattern"),
            ("/{id:[0-9}", "variable \"id\""),
            ("{a:(}", "variable \"a\""),
        ] {
            let error = compile(template, Place::Path).unwrap_err();
            assert!(error.contains(needle), "{template}: {error}");
        }
    }
}
