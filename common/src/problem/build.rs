//! How a program of a package (output validator, interactor, grader) is built and run: one
//! recipe, used by the worker that runs it and by the scheduler that tries the build at push.

use crate::pb;

/// The commands of one program, run in its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// Builds it (or, for Python, byte-compiles it, so a syntax error shows at build time).
    pub build: Vec<String>,
    /// Runs it; its own arguments follow.
    pub run: Vec<String>,
}

/// The sources of `program` in `exts`, sorted: the single file of a single-file program, or
/// every such file of a folder.
fn sources(program: &pb::OutputValidator, exts: &[&str]) -> Vec<String> {
    if let Some(main) = &program.main {
        return vec![main.clone()];
    }
    let mut v: Vec<String> = program
        .files
        .iter()
        .map(|f| f.path.clone())
        .filter(|p| exts.iter().any(|e| p.ends_with(e)))
        .collect();
    v.sort();
    v
}

/// The recipe of `program`, or why it has none.
pub fn recipe(program: &pb::OutputValidator) -> Result<Recipe, String> {
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let binary = vec!["./program".to_string()];
    match program.language.as_str() {
        "cpp" => {
            let mut build = words("g++ -std=gnu++20 -O2 -o program");
            build.extend(sources(program, &[".cpp", ".cc", ".cxx", ".c++"]));
            Ok(Recipe { build, run: binary })
        }
        "c" => {
            let mut build = words("gcc -std=gnu17 -O2 -o program");
            build.extend(sources(program, &[".c"]));
            build.push("-lm".into());
            Ok(Recipe { build, run: binary })
        }
        "python3" => {
            let py = sources(program, &[".py"]);
            let main = py
                .iter()
                .find(|p| p.ends_with("validate.py"))
                .or(py.first())
                .cloned()
                .ok_or("a Python program without a .py file")?;
            let mut build = words("/usr/bin/python3 -m py_compile");
            build.push(main.clone());
            Ok(Recipe {
                build,
                run: vec!["/usr/bin/python3".into(), main],
            })
        }
        other => Err(format!("programs in {other:?} are not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(language: &str, paths: &[&str], main: Option<&str>) -> pb::OutputValidator {
        pb::OutputValidator {
            language: language.into(),
            files: paths
                .iter()
                .map(|p| pb::ValidatorFile {
                    path: p.to_string(),
                    file: None,
                })
                .collect(),
            main: main.map(str::to_string),
        }
    }

    #[test]
    fn a_single_file_program_builds_only_its_file() {
        let single = program(
            "cpp",
            &["validate.cpp", "other.cpp", "testlib.h"],
            Some("validate.cpp"),
        );
        let r = recipe(&single).unwrap();
        assert_eq!(r.build.last().map(String::as_str), Some("validate.cpp"));
        assert!(!r.build.contains(&"other.cpp".to_string()));
        let folder = program("cpp", &["b.cpp", "a.cc", "x.h"], None);
        let r = recipe(&folder).unwrap();
        assert_eq!(&r.build[r.build.len() - 2..], ["a.cc", "b.cpp"]);
        let py = program("python3", &["util.py", "validate.py"], None);
        assert_eq!(
            recipe(&py).unwrap().run,
            ["/usr/bin/python3", "validate.py"]
        );
        assert!(recipe(&program("cobol", &["a.cob"], None)).is_err());
    }
}
