//! How each language is compiled and run. Built-in defaults, replaceable per language from the
//! worker's TOML config (`[[language]]` tables with the same fields).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One language's toolchain. Command words may use `{class}`, the public class of a Java
/// source (`Main` when none is found), and `{memory_mib}`, the run's memory limit in MiB.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
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
    /// Paths the toolchain needs besides the sandbox's base view (`/usr`, `/lib`...), bound
    /// read-only; a last component ending in `*` matches by prefix (`/etc/java-*`).
    #[serde(default)]
    pub read_only: Vec<String>,
    /// Text on standard error by which the runtime says it ran out of memory on its own (the
    /// JVM's heap limit), judged MLE rather than RTE.
    #[serde(default)]
    pub memory_error: Option<String>,
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
        max_processes: default_processes(),
        read_only: Vec::new(),
        memory_error: None,
    }
}

/// The built-in languages.
pub fn defaults() -> BTreeMap<String, Language> {
    [
        lang(
            "c",
            "main.c",
            // The GNU dialect, as contests compile C: POSIX (clock_gettime, pid_t, fork) is
            // there, and ONLINE_JUDGE tells a submission where it runs.
            Some("gcc -std=gnu17 -O2 -pipe -DONLINE_JUDGE -o main main.c -lm"),
            "./main",
            "gcc --version",
        ),
        lang(
            "cpp",
            "main.cpp",
            Some("g++ -std=gnu++20 -O2 -pipe -DONLINE_JUDGE -o main main.cpp"),
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
            // PyPy, where installed (Debian's pypy3): contests offer it beside CPython for
            // the solutions that need its speed.
            "pypy3",
            "main.py",
            Some("/usr/bin/pypy3 -m py_compile main.py"),
            "/usr/bin/pypy3 main.py",
            "/usr/bin/pypy3 --version",
        ),
        lang(
            "rust",
            "main.rs",
            Some("rustc --edition=2021 -O -o main main.rs"),
            "./main",
            "rustc --version",
        ),
        Language {
            // The JVM: many threads; its configuration lives under /etc; its own diagnostics
            // go to standard error, never into the judged output; the heap gets the memory
            // limit, and running out of it is MLE.
            max_processes: 512,
            read_only: vec!["/etc/java-*".into()],
            memory_error: Some("java.lang.OutOfMemoryError".into()),
            ..lang(
                "java",
                "{class}.java",
                Some("javac -J-XX:-UsePerfData {class}.java"),
                "java -XX:-UsePerfData -XX:+DisplayVMOutputToStderr -Xlog:disable \
                 -Xlog:all=warning:stderr -XX:+UseSerialGC -Xss64m -Xmx{memory_mib}m -cp . {class}",
                "javac -version",
            )
        },
        Language {
            // V8's heap gets the memory limit, and running out of it is MLE.
            memory_error: Some("JavaScript heap out of memory".into()),
            ..lang(
                "javascript",
                "main.js",
                // A syntax error is CE, not RTE on every test.
                Some("node --check main.js"),
                "node --max-old-space-size={memory_mib} --stack-size=65500 main.js",
                "node --version",
            )
        },
        Language {
            max_processes: 512,
            read_only: vec!["/etc/java-*".into()],
            memory_error: Some("java.lang.OutOfMemoryError".into()),
            ..lang(
                "kotlin",
                "main.kt",
                Some("kotlinc -J-XX:-UsePerfData main.kt -include-runtime -d main.jar"),
                "java -XX:-UsePerfData -XX:+UseSerialGC -Xss64m -Xmx{memory_mib}m -jar main.jar",
                "kotlinc -version",
            )
        },
        Language {
            // The go tool runs many processes and keeps its build cache under $HOME (/tmp).
            max_processes: 512,
            ..lang(
                "go",
                "main.go",
                Some("go build -o main main.go"),
                "./main",
                "go version",
            )
        },
        lang(
            "csharp",
            "main.cs",
            Some("mcs -optimize+ -out:main.exe main.cs"),
            "mono main.exe",
            "mcs --version",
        ),
    ]
    .into_iter()
    .map(|l| (l.id.clone(), l))
    .collect()
}

/// The binary a rustup proxy named `tool` runs (`rustup which tool`).
fn rustup_which(rustup: &std::path::Path, tool: &str) -> Option<std::path::PathBuf> {
    let out = std::process::Command::new(rustup)
        .args(["which", tool])
        .output()
        .ok()?;
    let path = String::from_utf8(out.stdout).ok()?;
    let path = std::path::PathBuf::from(path.trim());
    (out.status.success() && path.is_absolute()).then_some(path)
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
    /// `words` with `{class}` and `{memory_mib}` filled in.
    pub fn expand(&self, words: &[String], class: &str, memory_bytes: u64) -> Vec<String> {
        let mib = (memory_bytes >> 20).to_string();
        words
            .iter()
            .map(|w| w.replace("{class}", class).replace("{memory_mib}", &mib))
            .collect()
    }

    /// Finds each command's program on `PATH` and names it by its full path, so runs need no
    /// search path of the worker's, and adds what the sandbox must show for it: the
    /// installation a program outside the base view lives in, or, for a rustup proxy (which
    /// needs rustup's home and settings), the toolchain binary it stands for and that
    /// toolchain's directory. Programs not found are left as they are (the version probe
    /// decides whether the language is offered).
    pub fn locate(&mut self) {
        let mut extra = Vec::new();
        for cmd in self
            .compile
            .iter_mut()
            .chain(std::iter::once(&mut self.run))
        {
            let Some(prog) = cmd.first_mut() else {
                continue;
            };
            if prog.starts_with("./") {
                continue; // the submission's own program, in its directory
            }
            let found = std::env::var_os("PATH")
                .and_then(|path| crate::sandbox::spawn::find_program(prog, &path));
            let Some(found) = found else {
                continue;
            };
            let real = std::fs::canonicalize(&found).unwrap_or_else(|_| found.clone());
            let (path, real) = if real.file_name().is_some_and(|n| n == "rustup") {
                match rustup_which(&real, prog) {
                    Some(tool) => (tool.clone(), tool),
                    None => continue,
                }
            } else {
                (found, real)
            };
            let outside = !crate::sandbox::rootfs::BASE_VIEW
                .iter()
                .any(|base| real.starts_with(base));
            if outside {
                // <installation>/bin/<program>: show the installation.
                if let Some(home) = real.parent().and_then(|bin| bin.parent()) {
                    extra.push(home.display().to_string());
                }
            }
            *prog = path.display().to_string();
        }
        for e in extra {
            if !self.read_only.contains(&e) {
                self.read_only.push(e);
            }
        }
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
    fn programs_are_located_by_full_path() {
        let mut c = defaults()["c"].clone();
        c.locate();
        let gcc = &c.compile.as_ref().unwrap()[0];
        assert!(gcc.starts_with('/') && gcc.ends_with("gcc"), "{gcc}");
        assert_eq!(
            c.run,
            ["./main"],
            "the submission's own program stays relative"
        );
    }

    #[test]
    fn every_built_in_language_has_defaults() {
        let d = defaults();
        assert_eq!(
            d.keys().cloned().collect::<Vec<_>>(),
            [
                "c",
                "cpp",
                "csharp",
                "go",
                "java",
                "javascript",
                "kotlin",
                "pypy3",
                "python3",
                "rust"
            ]
        );
        let java = &d["java"];
        assert_eq!(
            java.expand(&java.run, "Solver", 256 << 20)[7..],
            ["-Xmx256m", "-cp", ".", "Solver"]
        );
    }
}
