//! Which program runs for a container image on the local platform.
//!
//! A container with a `command` runs that; otherwise its image is looked up in a table of
//! patterns (`--images FILE`, then the built-in entries) where `{tag}` matches and passes on
//! the image tag. The built-in table maps `ikubernetes/myapp:<tag>` to serin's own demo app,
//! which answers like the seed's image, so the seed's manifests run unchanged.

use anyhow::{Context, Result};
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub struct ImageRule {
    /// `ikubernetes/myapp:{tag}`; `{tag}` matches any tag.
    pub pattern: String,
    /// The command, each word may contain `{tag}`.
    pub command: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct ImageTable {
    rules: Vec<ImageRule>,
}

impl ImageTable {
    /// The built-in table: the seed's demo image runs `serin demo-app`.
    pub fn builtin(serin: &Path) -> Self {
        let serin = serin.display().to_string();
        ImageTable {
            rules: vec![ImageRule {
                pattern: "ikubernetes/myapp:{tag}".into(),
                command: vec![serin, "demo-app".into(), "--version".into(), "{tag}".into()],
            }],
        }
    }

    /// Reads `--images FILE`: one rule a line, `PATTERN COMMAND...` (words split on spaces;
    /// `#` starts a comment). Its rules come before the built-in ones.
    pub fn with_file(mut self, path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the image table {}", path.display()))?;
        let mut rules = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace().map(str::to_string);
            let pattern = words.next().unwrap_or_default();
            let command: Vec<String> = words.collect();
            if command.is_empty() {
                anyhow::bail!("{}:{}: {pattern:?} has no command", path.display(), number + 1);
            }
            rules.push(ImageRule { pattern, command });
        }
        rules.append(&mut self.rules);
        self.rules = rules;
        Ok(self)
    }

    /// The command for an image, or None when no rule matches.
    pub fn command_for(&self, image: &str) -> Option<Vec<String>> {
        let (name, tag) = match image.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, tag),
            _ => (image, "latest"),
        };
        self.rules.iter().find_map(|rule| {
            let matches = match rule.pattern.strip_suffix(":{tag}") {
                Some(prefix) => prefix == name,
                None => rule.pattern == image,
            };
            matches.then(|| rule.command.iter().map(|w| w.replace("{tag}", tag)).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_pass_the_tag_and_files_come_first() {
        let table = ImageTable::builtin(Path::new("/bin/serin"));
        assert_eq!(table.command_for("ikubernetes/myapp:v2").unwrap(), ["/bin/serin", "demo-app", "--version", "v2"]);
        assert_eq!(table.command_for("nginx:1.27"), None);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("images");
        std::fs::write(
            &file,
            "# mine\nikubernetes/myapp:{tag} python3 -m http.server\nredis:7 redis-server --port 0\n",
        )
        .unwrap();
        let table = table.with_file(&file).unwrap();
        assert_eq!(table.command_for("ikubernetes/myapp:v1").unwrap(), ["python3", "-m", "http.server"]);
        assert_eq!(table.command_for("redis:7").unwrap(), ["redis-server", "--port", "0"]);
        std::fs::write(&file, "lonely-pattern\n").unwrap();
        let error = ImageTable::default().with_file(&file).unwrap_err().to_string();
        assert!(error.ends_with("images:1: \"lonely-pattern\" has no command"), "{error}");
    }
}
