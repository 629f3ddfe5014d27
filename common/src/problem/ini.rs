//! `domjudge-problem.ini`: DOMjudge's own settings file, where DOMjudge users' packages keep
//! their time limit and name (`timelimit = 4.0`, `name = 'Hello'`). Only those two keys are
//! used; the others (colours, points, special run and compare scripts) are DOMjudge's and
//! are accepted and ignored, as are `;` and `#` comments and `[section]` lines.

use super::PackageError;

/// Its name in a package.
pub const FILE: &str = "domjudge-problem.ini";

/// What the file says that judging uses.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Settings {
    /// Seconds (checked against the time limit's range with the other sources).
    pub time_limit: Option<f64>,
    pub name: Option<String>,
}

impl Settings {
    /// Reads the file; a line that is not `key = value` or a `timelimit` that is not a
    /// number is refused with its line number.
    pub fn parse(text: &str) -> Result<Settings, PackageError> {
        let mut out = Settings::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with([';', '#']) || line.starts_with('[') {
                continue;
            }
            let bad =
                |why: String| PackageError::BadValue(FILE.into(), format!("line {}: {why}", n + 1));
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| bad(format!("{line:?} is not key = value")))?;
            let value = unquote(value.trim());
            match key.trim() {
                "timelimit" => {
                    let t: f64 = value
                        .parse()
                        .map_err(|_| bad(format!("timelimit {value:?} is not a number")))?;
                    out.time_limit = Some(t);
                }
                "name" if !value.is_empty() => out.name = Some(value.to_string()),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// A value without the quotes around it, if it has a matching pair.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_limit_and_name_are_read_and_the_rest_ignored() {
        let text = "; exported\nprobid = 'A'\nname = \"Hello World\"\ntimelimit = 4.0\ncolor = '#ff0000'\n";
        assert_eq!(
            Settings::parse(text).unwrap(),
            Settings {
                time_limit: Some(4.0),
                name: Some("Hello World".into())
            }
        );
        assert_eq!(
            Settings::parse("timelimit='2'\n").unwrap().time_limit,
            Some(2.0)
        );
        let e = Settings::parse("name = x\ntimelimit = fast\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("domjudge-problem.ini: bad value: line 2") && e.contains("fast"),
            "{e}"
        );
        assert!(Settings::parse("just words\n").is_err());
    }
}
