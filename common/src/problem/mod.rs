//! The ICPC / Kattis problem package model: from a package's file listing to a judging manifest.
//!
//! Pure logic: the caller has already stored each file and knows its hash and size; this module
//! decides which files are tests, in which order, and with which limits, or says exactly which
//! file is wrong.

pub mod build;
mod groups;
mod ini;
mod programs;

pub use programs::{source_language, Program};

use serde::Deserialize;

use crate::limits;
use crate::pb;

/// Whether a package file is read as text at push to build the manifest (problem.yaml,
/// `.timelimit`, group settings); such files must be small.
pub fn is_small_file(path: &str) -> bool {
    path == "problem.yaml"
        || path == ".timelimit"
        || path == ini::FILE
        || groups::is_settings_file(path)
}

/// One file of an uploaded package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    /// '/'-separated path inside the package.
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// What judging a problem needs, decided at push time.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub name: String,
    pub time_limit_ms: u32,
    pub memory_limit_bytes: u64,
    pub output_limit_bytes: u64,
    pub compile_time_limit_ms: u32,
    pub compile_memory_limit_bytes: u64,
    pub validator_time_limit_ms: u32,
    pub validator_memory_limit_bytes: u64,
    pub validator_flags: Vec<String>,
    pub tests: Vec<pb::TestCase>,
    /// The problem's own output validator, if it has one (the interactor of an interactive
    /// problem).
    pub output_validator: Option<pb::OutputValidator>,
    /// The package's own programs (output validator or interactor, grader) and where they
    /// are in it: what push builds before storing the package.
    pub programs: Vec<Program>,
    /// Interactive, scoring, and the test groups.
    pub judging: pb::Judging,
}

/// Why a package was refused. Each names the file at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("{0}: not valid YAML for problem.yaml: {1}")]
    BadYaml(String, String),
    #[error("{0}: test input has no matching .ans file")]
    MissingAnswer(String),
    #[error("{0}: answer file has no matching .in file")]
    MissingInput(String),
    #[error("{path}: {what} is not supported yet")]
    Unsupported { path: String, what: String },
    #[error("{0}: bad value: {1}")]
    BadValue(String, String),
    #[error("the package has no tests under data/sample or data/secret")]
    NoTests,
    #[error("{0}: bad path (must be relative, '/'-separated, without '..')")]
    BadPath(String),
}

#[derive(Debug, Default, Deserialize)]
struct ProblemYaml {
    name: Option<serde_yaml_ng::Value>,
    #[serde(rename = "type")]
    kind: Option<serde_yaml_ng::Value>,
    validation: Option<String>,
    validator_flags: Option<String>,
    #[serde(default)]
    limits: Limits,
}

/// `limits` in problem.yaml: every key used is checked against its range (see
/// [`crate::limits`]); keys of the format that judging does not use (time multipliers, code
/// size...) are accepted and ignored.
#[derive(Debug, Default, Deserialize)]
struct Limits {
    time_limit: Option<f64>,
    memory: Option<f64>,
    output: Option<f64>,
    compilation_time: Option<f64>,
    compilation_memory: Option<f64>,
    validation_time: Option<f64>,
    validation_memory: Option<f64>,
    validation_passes: Option<f64>,
}

/// Most passes a multi-pass problem may ask for: far more than any published problem uses,
/// and a bound on how long one test can take.
pub const MAX_VALIDATION_PASSES: u32 = 100;

/// What `judgectl problem verify --calibrate` needs from problem.yaml.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// The package's own time limit (`limits.time_limit`), if it sets one.
    pub time_limit: Option<f64>,
    /// From the slowest accepted run to the time limit: legacy `limits.time_multiplier`
    /// (default 5), 2023-07 `limits.time_multipliers.ac_to_time_limit` (default 2).
    pub multiplier: f64,
}

/// The [`Timing`] of a package from its problem.yaml (none: a legacy package's defaults).
pub fn timing(problem_yaml: Option<&str>) -> Result<Timing, PackageError> {
    use serde_yaml_ng::Value;
    let bad = |e: String| PackageError::BadValue("problem.yaml".into(), e);
    let yaml: Value = match problem_yaml {
        Some(t) if !t.trim().is_empty() => serde_yaml_ng::from_str(t)
            .map_err(|e| PackageError::BadYaml("problem.yaml".into(), e.to_string()))?,
        _ => Value::Null,
    };
    let modern = yaml
        .get("problem_format_version")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("2023-07"));
    let limits = yaml.get("limits");
    let number = |v: Option<&Value>, key: &str| -> Result<Option<f64>, PackageError> {
        match v {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() && x > 0.0 && x <= 1000.0 => Ok(Some(x)),
                _ => Err(bad(format!(
                    "{key}: must be a number above 0, at most 1000"
                ))),
            },
        }
    };
    let time_limit = number(
        limits.and_then(|l| l.get("time_limit")),
        "limits.time_limit",
    )?;
    let multiplier = if modern {
        let m = limits
            .and_then(|l| l.get("time_multipliers"))
            .and_then(|m| m.get("ac_to_time_limit"));
        number(m, "limits.time_multipliers.ac_to_time_limit")?.unwrap_or(2.0)
    } else {
        let m = limits.and_then(|l| l.get("time_multiplier"));
        number(m, "limits.time_multiplier")?.unwrap_or(5.0)
    };
    Ok(Timing {
        time_limit,
        multiplier,
    })
}

/// Whether `path` is a safe relative package path.
pub fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Builds the manifest of a package.
///
/// `read` returns the text of a small file of the package (problem.yaml, .timelimit,
/// domjudge-problem.ini) if it is there. Time limit: `time_limit_override`, else
/// problem.yaml's `limits.time_limit`, else domjudge-problem.ini's `timelimit`, else
/// `.timelimit`, else 2 s. Name: problem.yaml's, else domjudge-problem.ini's, else
/// `default_name`.
pub fn build_manifest(
    default_name: &str,
    files: &[PackageFile],
    read: impl Fn(&str) -> Option<String>,
    time_limit_override: Option<f64>,
) -> Result<Manifest, PackageError> {
    for f in files {
        if !valid_path(&f.path) {
            return Err(PackageError::BadPath(f.path.clone()));
        }
    }
    let yaml: ProblemYaml = match read("problem.yaml") {
        Some(text) if !text.trim().is_empty() => serde_yaml_ng::from_str(&text)
            .map_err(|e| PackageError::BadYaml("problem.yaml".into(), e.to_string()))?,
        _ => ProblemYaml::default(),
    };
    let kind = problem_type(&yaml)?;
    let (interactive, scoring) = (kind.interactive, kind.scoring);
    let domjudge = match read(ini::FILE) {
        Some(text) => ini::Settings::parse(&text)?,
        None => ini::Settings::default(),
    };
    let default_name = domjudge.name.as_deref().unwrap_or(default_name);
    let name = match yaml.name {
        Some(serde_yaml_ng::Value::String(s)) => s,
        // 2023-07 allows a map of language -> name; take English or the first one.
        Some(serde_yaml_ng::Value::Mapping(m)) => m
            .get("en")
            .or_else(|| m.values().next())
            .and_then(|v| v.as_str())
            .unwrap_or(default_name)
            .to_string(),
        _ => default_name.to_string(),
    };
    let time_limit = match (
        time_limit_override,
        yaml.limits.time_limit,
        domjudge.time_limit,
    ) {
        (Some(t), _, _) | (None, Some(t), _) | (None, None, Some(t)) => t,
        (None, None, None) => match read(".timelimit") {
            Some(text) => text.trim().parse::<f64>().map_err(|_| {
                PackageError::BadValue(
                    ".timelimit".into(),
                    format!("{:?} is not a number", text.trim()),
                )
            })?,
            None => limits::TIME_LIMIT.default,
        },
    };
    let bad = |e: String| PackageError::BadValue("problem.yaml".into(), e);
    let l = &yaml.limits;
    let time_limit_ms = limits::TIME_LIMIT.millis(Some(time_limit)).map_err(bad)?;
    let memory_limit_bytes = limits::MEMORY.bytes(l.memory).map_err(bad)?;
    let output_limit_bytes = limits::OUTPUT.bytes(l.output).map_err(bad)?;
    let compile_time_limit_ms = limits::COMPILATION_TIME
        .millis(l.compilation_time)
        .map_err(bad)?;
    let compile_memory_limit_bytes = limits::COMPILATION_MEMORY
        .bytes(l.compilation_memory)
        .map_err(bad)?;
    let validator_time_limit_ms = limits::VALIDATION_TIME
        .millis(l.validation_time)
        .map_err(bad)?;
    let validator_memory_limit_bytes = limits::VALIDATION_MEMORY
        .bytes(l.validation_memory)
        .map_err(bad)?;
    let validator_flags: Vec<String> = yaml
        .validator_flags
        .map(|f| f.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    // A custom validator's flags are its own words; the default validator's must parse.
    let mut output_validator = programs::find(files, &programs::OUTPUT_VALIDATOR)?;
    if let Some(v) = output_validator.as_mut().filter(|_| interactive) {
        v.what = "interactor";
    }
    if output_validator.is_none() {
        crate::validator::ValidatorFlags::parse(&validator_flags).map_err(|e| {
            PackageError::BadValue("problem.yaml".into(), format!("validator_flags: {e}"))
        })?;
    }

    let validation_passes = match (kind.multi_pass, l.validation_passes) {
        (false, None) => 0,
        (false, Some(_)) => {
            return Err(bad(
                "limits.validation_passes: only for a multi-pass problem".into(),
            ))
        }
        (true, None) => 2,
        (true, Some(n))
            if n.fract() == 0.0 && (2.0..=f64::from(MAX_VALIDATION_PASSES)).contains(&n) =>
        {
            n as u32
        }
        (true, Some(n)) => {
            return Err(bad(format!(
                "limits.validation_passes: {n} is not a whole number from 2 to \
                 {MAX_VALIDATION_PASSES}"
            )))
        }
    };

    let (tests, test_groups) =
        groups::collect(files, &read, &validator_flags, output_validator.is_some())?;
    let grader = programs::find(files, &programs::GRADER)?;
    if let Some(g) = test_groups.iter().find(|g| g.custom_grading) {
        if grader.is_none() {
            return Err(PackageError::BadValue(
                "graders".into(),
                format!(
                    "grading: custom in {}, but there is no grader",
                    if g.name.is_empty() {
                        "data".to_string()
                    } else {
                        format!("data/{}", g.name)
                    }
                ),
            ));
        }
    }
    if grader.is_some() && !scoring {
        return Err(PackageError::BadValue(
            "graders".into(),
            "a grader, but the problem is pass-fail (graders are for scoring problems)".into(),
        ));
    }
    if output_validator.is_none() {
        let why = if interactive {
            Some("an interactive problem needs its interactor")
        } else if kind.multi_pass {
            Some("a multi-pass problem needs its output validator")
        } else if yaml
            .validation
            .as_deref()
            .is_some_and(|v| v.starts_with("custom"))
        {
            Some("validation: custom")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(PackageError::BadValue(
                "problem.yaml".into(),
                format!(
                    "{why}, but there is no output validator \
                     (output_validator/, output_validators/<name>/ or \
                     output_validators/<file>)"
                ),
            ));
        }
    }
    let judging = pb::Judging {
        interactive,
        scoring,
        groups: test_groups,
        multi_pass: kind.multi_pass,
        validation_passes,
        grader: grader.as_ref().map(|g| g.spec.clone()),
    };
    Ok(Manifest {
        output_validator: output_validator.as_ref().map(|v| v.spec.clone()),
        programs: output_validator.into_iter().chain(grader).collect(),
        name,
        time_limit_ms,
        memory_limit_bytes,
        output_limit_bytes,
        compile_time_limit_ms,
        compile_memory_limit_bytes,
        validator_time_limit_ms,
        validator_memory_limit_bytes,
        validator_flags,
        tests,
        judging,
    })
}

/// What kind of problem a package is.
struct Kind {
    interactive: bool,
    scoring: bool,
    multi_pass: bool,
}

/// The [`Kind`] from `type` (2023-07: a word, words, or a list of them) and `validation`
/// (legacy: `custom interactive`, `custom score`).
fn problem_type(yaml: &ProblemYaml) -> Result<Kind, PackageError> {
    let unsupported = |what: String| PackageError::Unsupported {
        path: "problem.yaml".into(),
        what,
    };
    let bad = |what: String| PackageError::BadValue("problem.yaml".into(), what);
    let mut types: Vec<String> = Vec::new();
    match &yaml.kind {
        None => {}
        Some(serde_yaml_ng::Value::String(s)) => {
            types.extend(s.split_whitespace().map(str::to_string))
        }
        Some(serde_yaml_ng::Value::Sequence(items)) => {
            for item in items {
                let word = item
                    .as_str()
                    .ok_or_else(|| bad("type: each entry must be text".into()))?;
                types.push(word.to_string());
            }
        }
        Some(_) => return Err(bad("type: must be text or a list".into())),
    }
    let (mut interactive, mut scoring, mut multi_pass) = (false, false, false);
    for t in &types {
        match t.as_str() {
            "pass-fail" => {}
            "scoring" => scoring = true,
            "interactive" => interactive = true,
            "multi-pass" => multi_pass = true,
            "submit-answer" => {
                return Err(unsupported(format!("type: {t}")));
            }
            other => return Err(bad(format!("type: unknown problem type {other:?}"))),
        }
    }
    if types.iter().any(|t| t == "pass-fail") && scoring {
        return Err(bad(
            "type: pass-fail and scoring contradict each other".into()
        ));
    }
    if let Some(v) = yaml.validation.as_deref() {
        let mut words = v.split_whitespace();
        match words.next() {
            Some("default") if words.next().is_none() => {}
            Some("default") => {
                return Err(bad(format!("validation: {v:?}: default takes no options")))
            }
            Some("custom") => {
                for w in words {
                    match w {
                        "interactive" => interactive = true,
                        "score" => {}
                        other => return Err(bad(format!("validation: unknown option {other:?}"))),
                    }
                }
            }
            _ => {
                return Err(bad(format!(
                    "validation: {v:?}: must be default or custom ..."
                )))
            }
        }
    }
    Ok(Kind {
        interactive,
        scoring,
        multi_pass,
    })
}

/// A package file for tests: its hash made from its path.
#[cfg(test)]
fn test_file(path: &str) -> PackageFile {
    PackageFile {
        path: path.into(),
        sha256: format!("h-{path}"),
        size: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    use super::test_file as file;

    fn no_files(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn samples_come_first_then_secret_groups_sorted() {
        let files = [
            file("data/secret/b/2.in"),
            file("data/secret/b/2.ans"),
            file("data/secret/a.in"),
            file("data/secret/a.ans"),
            file("data/sample/1.in"),
            file("data/sample/1.ans"),
        ];
        let m = build_manifest("p", &files, no_files, None).unwrap();
        let names: Vec<_> = m.tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["sample/1", "secret/a", "secret/b/2"]);
        assert_eq!(m.time_limit_ms, 2000);
        assert_eq!(m.memory_limit_bytes, 1024 * MIB);
        assert_eq!(m.output_limit_bytes, 8 * MIB);
    }

    #[test]
    fn time_limit_precedence_is_flag_then_yaml_then_timelimit_file() {
        let files = [file("data/secret/1.in"), file("data/secret/1.ans")];
        let read = |p: &str| match p {
            "problem.yaml" => Some("limits:\n  time_limit: 1.5\n  memory: 256\n".to_string()),
            ".timelimit" => Some("7\n".to_string()),
            _ => None,
        };
        assert_eq!(
            build_manifest("p", &files, read, Some(3.0))
                .unwrap()
                .time_limit_ms,
            3000
        );
        let m = build_manifest("p", &files, read, None).unwrap();
        assert_eq!((m.time_limit_ms, m.memory_limit_bytes), (1500, 256 * MIB));
        let only_file = |p: &str| (p == ".timelimit").then(|| "7\n".to_string());
        assert_eq!(
            build_manifest("p", &files, only_file, None)
                .unwrap()
                .time_limit_ms,
            7000
        );
    }

    #[test]
    fn custom_validators_are_found_in_either_layout() {
        let mut files = vec![file("data/secret/1.in"), file("data/secret/1.ans")];
        files.push(file("output_validators/check/check.cpp"));
        files.push(file("output_validators/check/testlib.h"));
        let yaml = |p: &str| (p == "problem.yaml").then(|| "validation: custom".to_string());
        let v = build_manifest("p", &files, yaml, None)
            .unwrap()
            .output_validator
            .unwrap();
        assert_eq!(v.language, "cpp");
        assert_eq!(
            v.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["check.cpp", "testlib.h"]
        );
        let new_layout = [
            file("data/secret/1.in"),
            file("data/secret/1.ans"),
            file("output_validator/validate.py"),
        ];
        let v = build_manifest("p", &new_layout, no_files, None)
            .unwrap()
            .output_validator
            .unwrap();
        assert_eq!(
            (v.language.as_str(), v.files[0].path.as_str()),
            ("python3", "validate.py")
        );
        let missing = [file("data/secret/1.in"), file("data/secret/1.ans")];
        assert!(build_manifest("p", &missing, yaml, None)
            .unwrap_err()
            .to_string()
            .contains("no output validator"));
    }

    #[test]
    fn malformed_packages_name_the_file_at_fault() {
        let missing = [file("data/secret/1.in")];
        assert_eq!(
            build_manifest("p", &missing, no_files, None),
            Err(PackageError::MissingAnswer("data/secret/1.in".into()))
        );
        let files = [file("data/secret/1.in"), file("data/secret/1.ans")];
        let bad_yaml = |p: &str| (p == "problem.yaml").then(|| "limits: [".to_string());
        let err = build_manifest("p", &files, bad_yaml, None).unwrap_err();
        assert!(err.to_string().starts_with("problem.yaml:"), "{err}");
        let interactive = |p: &str| (p == "problem.yaml").then(|| "type: interactive".to_string());
        let err = build_manifest("p", &files, interactive, None).unwrap_err();
        assert!(err.to_string().contains("needs its interactor"), "{err}");
        let multi = |p: &str| (p == "problem.yaml").then(|| "type: multi-pass".to_string());
        let err = build_manifest("p", &files, multi, None).unwrap_err();
        assert!(
            err.to_string().contains("needs its output validator"),
            "{err}"
        );
        assert_eq!(
            build_manifest("p", &[], no_files, None),
            Err(PackageError::NoTests)
        );
        let escape = [file("../etc/passwd")];
        assert!(matches!(
            build_manifest("p", &escape, no_files, None),
            Err(PackageError::BadPath(_))
        ));
    }

    #[test]
    fn timing_follows_the_layout() {
        assert_eq!(
            timing(None).unwrap(),
            Timing {
                time_limit: None,
                multiplier: 5.0
            }
        );
        let modern = "problem_format_version: 2023-07-draft\nlimits:\n  time_limit: 1.5\n";
        assert_eq!(timing(Some(modern)).unwrap().multiplier, 2.0);
        assert_eq!(timing(Some(modern)).unwrap().time_limit, Some(1.5));
        let legacy = "limits:\n  time_multiplier: 3\n";
        assert_eq!(timing(Some(legacy)).unwrap().multiplier, 3.0);
        assert!(timing(Some("limits:\n  time_multiplier: -1\n")).is_err());
    }

    #[test]
    fn interactive_and_scoring_in_either_layout() {
        let mut files = vec![
            file("data/sample/1.in"),
            file("data/sample/1.ans"),
            file("data/sample/1.interaction"),
            file("data/secret/1.in"),
            file("data/secret/1.ans"),
        ];
        let yaml =
            |text: &'static str| move |p: &str| (p == "problem.yaml").then(|| text.to_string());
        files.push(file("output_validators/io/interactor.cpp"));
        let legacy =
            build_manifest("p", &files, yaml("validation: custom interactive"), None).unwrap();
        assert!(legacy.judging.interactive && !legacy.judging.scoring);
        // The .interaction file is kept with the package, not run as a test.
        assert_eq!(legacy.tests.len(), 2);
        let both = build_manifest("p", &files, yaml("type: [scoring, interactive]"), None).unwrap();
        assert!(both.judging.interactive && both.judging.scoring);
        let words = build_manifest("p", &files, yaml("type: scoring interactive"), None).unwrap();
        assert_eq!(words.judging, both.judging);
        let scoring = build_manifest("p", &files, yaml("type: scoring"), None).unwrap();
        assert!(scoring.judging.scoring && !scoring.judging.interactive);
        assert_eq!(scoring.judging.groups.len(), 3);
        for (text, says) in [
            ("type: [pass-fail, scoring]", "contradict"),
            ("type: puzzle", "unknown problem type"),
            ("validation: custom interactiv", "unknown option"),
            ("type: submit-answer", "not supported yet"),
        ] {
            let err = build_manifest("p", &files, yaml(text), None)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("problem.yaml") && err.contains(says),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn domjudge_settings_give_the_time_limit_and_name_when_problem_yaml_does_not() {
        let files = [file("data/secret/1.in"), file("data/secret/1.ans")];
        let ini = "name = 'Hello'\ntimelimit = 4.0\n";
        let only_ini = |p: &str| (p == "domjudge-problem.ini").then(|| ini.to_string());
        let m = build_manifest("p", &files, only_ini, None).unwrap();
        assert_eq!((m.name.as_str(), m.time_limit_ms), ("Hello", 4000));
        let both = |p: &str| match p {
            "domjudge-problem.ini" => Some(ini.to_string()),
            "problem.yaml" => Some("name: Yaml\nlimits:\n  time_limit: 1.5\n".to_string()),
            ".timelimit" => Some("7".to_string()),
            _ => None,
        };
        let m = build_manifest("p", &files, both, None).unwrap();
        assert_eq!((m.name.as_str(), m.time_limit_ms), ("Yaml", 1500));
        let ini_and_file = |p: &str| match p {
            "domjudge-problem.ini" => Some(ini.to_string()),
            ".timelimit" => Some("7".to_string()),
            _ => None,
        };
        assert_eq!(
            build_manifest("p", &files, ini_and_file, None)
                .unwrap()
                .time_limit_ms,
            4000
        );
        let absurd = |p: &str| (p == "domjudge-problem.ini").then(|| "timelimit = 1e9".to_string());
        assert!(build_manifest("p", &files, absurd, None).is_err());
    }

    #[test]
    fn multi_pass_problems_carry_their_pass_limit() {
        let files = [
            file("data/secret/1.in"),
            file("data/secret/1.ans"),
            file("output_validators/validate.py"),
        ];
        let yaml =
            |text: &'static str| move |p: &str| (p == "problem.yaml").then(|| text.to_string());
        let m = build_manifest("p", &files, yaml("type: multi-pass"), None).unwrap();
        assert!(m.judging.multi_pass && m.judging.validation_passes == 2);
        let m = build_manifest(
            "p",
            &files,
            yaml("type: [multi-pass, interactive]\nlimits:\n  validation_passes: 5\n"),
            None,
        )
        .unwrap();
        assert!(m.judging.interactive && m.judging.validation_passes == 5);
        for (text, says) in [
            (
                "type: multi-pass\nlimits:\n  validation_passes: 1\n",
                "from 2 to 100",
            ),
            (
                "type: multi-pass\nlimits:\n  validation_passes: 2.5\n",
                "whole number",
            ),
            (
                "type: multi-pass\nlimits:\n  validation_passes: 1000\n",
                "from 2 to 100",
            ),
            ("limits:\n  validation_passes: 3\n", "only for a multi-pass"),
        ] {
            let e = build_manifest("p", &files, yaml(text), None)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_grader_belongs_to_a_scoring_problem_with_custom_grading() {
        let mut files = vec![
            file("data/secret/1.in"),
            file("data/secret/1.ans"),
            file("graders/grade.py"),
        ];
        let read = |text: &'static str| {
            move |p: &str| match p {
                "problem.yaml" => Some(text.to_string()),
                "data/testdata.yaml" => Some("grading: custom\ngrader_flags: half\n".to_string()),
                _ => None,
            }
        };
        files.push(file("data/testdata.yaml"));
        let m = build_manifest("p", &files, read("type: scoring"), None).unwrap();
        assert_eq!(
            m.judging.grader.as_ref().unwrap().main.as_deref(),
            Some("grade.py")
        );
        assert!(m.judging.groups[0].custom_grading && m.judging.groups[1].custom_grading);
        let e = build_manifest("p", &files, read("type: pass-fail"), None).unwrap_err();
        assert!(e.to_string().contains("pass-fail"), "{e}");
        files.retain(|f| !f.path.starts_with("graders/"));
        let e = build_manifest("p", &files, read("type: scoring"), None).unwrap_err();
        assert!(e.to_string().contains("no grader"), "{e}");
    }

    #[test]
    fn a_custom_validator_s_flags_are_its_own_words() {
        let mut files = vec![
            file("data/secret/1.in"),
            file("data/secret/1.ans"),
            file("data/secret/testdata.yaml"),
        ];
        let read = |p: &str| match p {
            "problem.yaml" => Some("validator_flags: strict lines 3\n".to_string()),
            "data/secret/testdata.yaml" => Some("output_validator_flags: exact\n".to_string()),
            _ => None,
        };
        let e = build_manifest("p", &files, read, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown validator flag"), "{e}");
        files.push(file("output_validators/check.cpp"));
        let m = build_manifest("p", &files, read, None).unwrap();
        assert_eq!(m.validator_flags, ["strict", "lines", "3"]);
        assert_eq!(
            m.judging.groups[1].validator_flags,
            ["strict", "lines", "3", "exact"]
        );
    }
}
