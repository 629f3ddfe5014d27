//! How each language is compiled and run. Built-in defaults, replaceable per language from the
//! worker's TOML config (`[[language]]` tables with the same fields).

use std::collections::BTreeMap;

use serde::Deserialize;

/// One language's toolchain. Command words may use `{class}`, the public class of a Java
/// source (`Main` when none is found).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Language {
    pub id: String,
    /// Name the source is saved under.
    pub source_file: String,
    /// Compile command, run in the submission's directory; `None` for interpreted languages
    /// that need no step.
    pub compile: Option<Vec<String>>,
    pub run: Vec<String>,
    /// Prints the toolchain's version; the worker offers the language only if this works.
    pub version: Vec<String>,
    /// Processes and threads a run may have at once (the JVM needs many threads).
    #[serde(default = "default_processes")]
    pub max_processes: u32,
}

fn default_processes() -> u32 {
    64
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn lang(id: &str, source_file: &str, compile: Option<&str>, run: &str, version: &str) -> Language {
    Language {
        id: id.into(),
        source_file: source_file.into(),
        compile: compile.map(words),
        run: words(run),
        version: words(version),
        max_processes: if id == "java" {
            512
        } else {
            default_processes()
        },
    }
}

/// The built-in languages.
pub fn defaults() -> BTreeMap<String, Language> {
    [
        lang(
            "c",
            "main.c",
            Some("gcc -std=c17 -O2 -o main main.c -lm"),
            "./main",
            "gcc --version",
        ),
        lang(
            "cpp",
            "main.cpp",
            Some("g++ -std=c++20 -O2 -o main main.cpp"),
            "./main",
            "g++ --version",
        ),
        lang(
            "python3",
            "main.py",
            // Byte-compiling first turns a syntax error into CE instead of RTE on every test.
            Some("/usr/bin/python3 -m py_compile main.py"),
            "/usr/bin/python3 main.py",
            "/usr/bin/python3 --version",
        ),
        lang(
            "rust",
            "main.rs",
            Some("rustc --edition=2021 -O -o main main.rs"),
            "./main",
            "rustc --version",
        ),
        lang(
            "java",
            "{class}.java",
            Some("javac {class}.java"),
            "java -Xss64m -cp . {class}",
            "javac -version",
        ),
    ]
    .into_iter()
    .map(|l| (l.id.clone(), l))
    .collect()
}

/// The public class a Java source declares, so the file can be named after it.
pub fn java_class(source: &str) -> String {
    let mut tokens = source
        .split(|c: char| c.is_whitespace() || c == '{')
        .filter(|t| !t.is_empty());
    while let Some(t) = tokens.next() {
        if t == "public" {
            let mut next = tokens.next();
            while matches!(next, Some("final") | Some("abstract") | Some("static")) {
                next = tokens.next();
            }
            if next == Some("class") {
                if let Some(name) = tokens.next() {
                    if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        return name.to_string();
                    }
                }
            }
        }
    }
    "Main".to_string()
}

impl Language {
    /// `words` with `{class}` filled in.
    pub fn expand(&self, words: &[String], class: &str) -> Vec<String> {
        words.iter().map(|w| w.replace("{class}", class)).collect()
    }

    /// First line of the version command's output, if the toolchain is there.
    pub fn probe_version(&self) -> Option<String> {
        let (prog, args) = self.version.split_first()?;
        let out = std::process::Command::new(prog).args(args).output().ok()?;
        if !out.status.success() {
            return None;
        }
        let text = if out.stdout.is_empty() {
            out.stderr
        } else {
            out.stdout
        };
        let line = String::from_utf8_lossy(&text)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_files_are_named_after_the_public_class() {
        assert_eq!(
            java_class("import x;\npublic final class Solver {\n}"),
            "Solver"
        );
        assert_eq!(java_class("class Helper {}\npublic class Main{}"), "Main");
        assert_eq!(java_class("class NoPublic {}"), "Main");
    }

    #[test]
    fn all_five_languages_have_defaults() {
        let d = defaults();
        assert_eq!(
            d.keys().cloned().collect::<Vec<_>>(),
            ["c", "cpp", "java", "python3", "rust"]
        );
        let java = &d["java"];
        assert_eq!(
            java.expand(&java.run, "Solver"),
            ["java", "-Xss64m", "-cp", ".", "Solver"]
        );
    }
}
