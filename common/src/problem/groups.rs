//! Tests and test groups: the `data/` folder tree, each folder a group, each `.in`/`.ans` pair
//! a test, and `testdata.yaml` at any level setting how its group is judged and graded,
//! inherited downwards.
//!
//! Order is the format's: within a group, its tests and subgroups sorted by name together,
//! depth first; `sample` before `secret`.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml_ng::Value;

use super::{PackageError, PackageFile};
use crate::grading::GraderFlags;
use crate::pb;

/// The folders under `data/` whose tests are judged.
const TEST_ROOTS: [&str; 2] = ["sample", "secret"];
/// Names of a group's settings file: the legacy format's and the newer drafts'.
const SETTINGS_FILES: [&str; 2] = ["testdata.yaml", "test_group.yaml"];
/// The largest score a package may name: far beyond any contest's, far below overflow.
const SCORE_MAX: f64 = 1e9;

/// Whether `path` is a group settings file, read as text at push.
pub fn is_settings_file(path: &str) -> bool {
    path.starts_with("data/")
        && SETTINGS_FILES
            .iter()
            .any(|n| path == format!("data/{n}") || path.ends_with(&format!("/{n}")))
}

/// A group's settings after inheritance.
#[derive(Debug, Clone)]
struct Settings {
    on_reject_continue: bool,
    accept_score: f64,
    reject_score: f64,
    range: (f64, f64),
    grader_flags: Vec<String>,
    validator_flags: Vec<String>,
    custom_grading: bool,
    /// The problem has its own output validator: validator flags are its words, not the
    /// default validator's.
    custom_validator: bool,
}

impl Settings {
    fn root(validator_flags: &[String], custom_validator: bool) -> Settings {
        Settings {
            on_reject_continue: false,
            accept_score: 1.0,
            reject_score: 0.0,
            range: (f64::NEG_INFINITY, f64::INFINITY),
            grader_flags: Vec::new(),
            validator_flags: validator_flags.to_vec(),
            custom_grading: false,
            custom_validator,
        }
    }
}

/// One entry of a group, in judging order.
enum Item<'a> {
    Test(&'a PackageFile),
    Group(String),
}

/// The tests in judging order and the groups (root first, parents before children).
pub(super) fn collect(
    files: &[PackageFile],
    read: &dyn Fn(&str) -> Option<String>,
    problem_validator_flags: &[String],
    custom_validator: bool,
) -> Result<(Vec<pb::TestCase>, Vec<pb::TestGroup>), PackageError> {
    let by_path: BTreeMap<&str, &PackageFile> =
        files.iter().map(|f| (f.path.as_str(), f)).collect();
    let in_tests = |p: &str| {
        TEST_ROOTS
            .iter()
            .any(|r| p.starts_with(&format!("data/{r}/")))
    };
    // Every test, checked for its answer, by the folder it is in (relative to data/).
    let mut tests_in: BTreeMap<String, Vec<&PackageFile>> = BTreeMap::new();
    let mut folders: BTreeSet<String> = BTreeSet::new();
    for f in files.iter().filter(|f| in_tests(&f.path)) {
        if let Some(stem) = f.path.strip_suffix(".ans") {
            if !by_path.contains_key(format!("{stem}.in").as_str()) {
                return Err(PackageError::MissingInput(f.path.clone()));
            }
        }
        let Some(stem) = f.path.strip_suffix(".in") else {
            continue;
        };
        if !by_path.contains_key(format!("{stem}.ans").as_str()) {
            return Err(PackageError::MissingAnswer(f.path.clone()));
        }
        let rel = &f.path["data/".len()..];
        let folder = rel.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        // The folder and each of its ancestors is a group.
        let mut dir = folder.as_str();
        while !dir.is_empty() {
            folders.insert(dir.to_string());
            dir = dir.rsplit_once('/').map_or("", |(d, _)| d);
        }
        tests_in.entry(folder).or_default().push(f);
    }
    if tests_in.is_empty() {
        return Err(PackageError::NoTests);
    }
    let mut walk = Walk {
        tests_in: &tests_in,
        folders: &folders,
        by_path: &by_path,
        read,
        groups: Vec::new(),
        tests: Vec::new(),
    };
    walk.group(
        "",
        None,
        Settings::root(problem_validator_flags, custom_validator),
        0,
    )?;
    Ok((walk.tests, walk.groups))
}

/// Deepest folder nesting under data/ (the walk is recursive).
const MAX_DEPTH: usize = 32;

/// The depth-first walk over the groups.
struct Walk<'a> {
    tests_in: &'a BTreeMap<String, Vec<&'a PackageFile>>,
    folders: &'a BTreeSet<String>,
    by_path: &'a BTreeMap<&'a str, &'a PackageFile>,
    read: &'a dyn Fn(&str) -> Option<String>,
    groups: Vec<pb::TestGroup>,
    tests: Vec<pb::TestCase>,
}

impl Walk<'_> {
    /// Adds group `name` (then its tests and subgroups, sorted by name together).
    fn group(
        &mut self,
        name: &str,
        parent: Option<u32>,
        inherited: Settings,
        depth: usize,
    ) -> Result<(), PackageError> {
        if depth > MAX_DEPTH {
            return Err(PackageError::BadValue(
                format!("data/{name}"),
                format!("test groups nest deeper than {MAX_DEPTH} folders"),
            ));
        }
        let settings = apply_settings_file(name, inherited, self.read)?;
        let index = u32::try_from(self.groups.len()).unwrap_or(u32::MAX);
        self.groups.push(pb::TestGroup {
            name: name.to_string(),
            parent,
            on_reject_continue: settings.on_reject_continue,
            accept_score: settings.accept_score,
            reject_score: settings.reject_score,
            range_min: settings.range.0,
            range_max: settings.range.1,
            grader_flags: settings.grader_flags.clone(),
            validator_flags: settings.validator_flags.clone(),
            custom_grading: settings.custom_grading,
        });
        let mut items: Vec<(String, Item)> = Vec::new();
        for f in self.tests_in.get(name).into_iter().flatten() {
            let stem = &f.path[..f.path.len() - ".in".len()];
            let base = stem.rsplit('/').next().unwrap_or(stem).to_string();
            items.push((base, Item::Test(f)));
        }
        let prefix = if name.is_empty() {
            String::new()
        } else {
            format!("{name}/")
        };
        for sub in self.folders {
            if let Some(rest) = sub.strip_prefix(&prefix) {
                if !rest.is_empty() && !rest.contains('/') {
                    items.push((rest.to_string(), Item::Group(sub.clone())));
                }
            }
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, item) in items {
            match item {
                Item::Test(f) => {
                    let t = test_case(f, index, self.by_path);
                    self.tests.push(t);
                }
                Item::Group(sub) => self.group(&sub, Some(index), settings.clone(), depth + 1)?,
            }
        }
        Ok(())
    }
}

fn test_case(
    input: &PackageFile,
    group: u32,
    by_path: &BTreeMap<&str, &PackageFile>,
) -> pb::TestCase {
    let stem = &input.path[..input.path.len() - ".in".len()];
    let answer = by_path
        .get(format!("{stem}.ans").as_str())
        .map(|a| pb::FileRef {
            sha256: a.sha256.clone(),
            size: a.size,
        });
    pb::TestCase {
        name: stem["data/".len()..].to_string(),
        input: Some(pb::FileRef {
            sha256: input.sha256.clone(),
            size: input.size,
        }),
        answer,
        group,
    }
}

/// `inherited`, changed by the group's own settings file if it has one.
fn apply_settings_file(
    group: &str,
    mut s: Settings,
    read: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, PackageError> {
    let dir = if group.is_empty() {
        "data".to_string()
    } else {
        format!("data/{group}")
    };
    let Some((path, text)) = SETTINGS_FILES.iter().find_map(|n| {
        let p = format!("{dir}/{n}");
        read(&p).map(|t| (p, t))
    }) else {
        return Ok(s);
    };
    let bad = |what: String| PackageError::BadValue(path.clone(), what);
    if text.trim().is_empty() {
        return Ok(s);
    }
    let map = match serde_yaml_ng::from_str::<Value>(&text) {
        Ok(Value::Mapping(m)) => m,
        Ok(Value::Null) => return Ok(s),
        Ok(_) => return Err(bad("not a map of settings".into())),
        Err(e) => return Err(PackageError::BadYaml(path.clone(), e.to_string())),
    };
    let mut flags_set = false;
    for (key, value) in &map {
        let key = key
            .as_str()
            .ok_or_else(|| bad("a key that is not text".into()))?;
        let bad_value = |why: &str| bad(format!("{key}: {why}"));
        match key {
            "on_reject" => {
                s.on_reject_continue = match value.as_str() {
                    Some("break") => false,
                    Some("continue") => true,
                    _ => return Err(bad_value("must be break or continue")),
                }
            }
            "accept_score" => s.accept_score = score(value).map_err(|e| bad_value(&e))?,
            "reject_score" => s.reject_score = score(value).map_err(|e| bad_value(&e))?,
            "range" => {
                let text = scalar_text(value).ok_or_else(|| bad_value("must be \"MIN MAX\""))?;
                s.range = range(&text).map_err(|e| bad_value(&e))?;
            }
            // Checked below, once it is known which grader they are for.
            "grader_flags" => {
                s.grader_flags = words(value).ok_or_else(|| bad_value("must be text"))?;
                flags_set = true;
            }
            "grading" => match value.as_str() {
                Some("default") => s.custom_grading = false,
                Some("custom") => s.custom_grading = true,
                _ => return Err(bad_value("must be default or custom")),
            },
            "output_validator_flags" | "output_validator_args" | "args" => {
                let words = words(value).ok_or_else(|| bad_value("must be text or a list"))?;
                if !s.custom_validator {
                    crate::validator::ValidatorFlags::parse(&words).map_err(|e| bad_value(&e))?;
                }
                s.validator_flags.extend(words);
            }
            // Input validators are the problem setter's tool, not the judge's.
            "input_validator_flags"
            | "input_validator_args"
            | "full_feedback"
            | "static_validation" => {}
            // The 2023-07 drafts' names for the same ideas.
            "score_aggregation" => {
                let mode = match value.as_str() {
                    Some("sum") => "sum",
                    Some("min") => "min",
                    _ => return Err(bad_value("must be sum or min")),
                };
                s.grader_flags
                    .retain(|f| !matches!(f.as_str(), "sum" | "avg" | "min" | "max"));
                s.grader_flags.push(mode.into());
            }
            "verdict_aggregation" => {
                s.grader_flags.retain(|f| {
                    !matches!(
                        f.as_str(),
                        "first_error" | "worst_error" | "always_accept" | "accept_if_any_accepted"
                    )
                });
                match value.as_str() {
                    Some("first_error") => {
                        s.grader_flags.push("first_error".into());
                        s.on_reject_continue = false;
                    }
                    Some("accept_if_any_accepted") => {
                        s.grader_flags.push("accept_if_any_accepted".into());
                        s.on_reject_continue = true;
                    }
                    _ => return Err(bad_value("must be first_error or accept_if_any_accepted")),
                }
            }
            "max_score" => {
                let max = score(value).map_err(|e| bad_value(&e))?;
                if max < 0.0 {
                    return Err(bad_value("must be at least 0"));
                }
                s.range = (0.0, max);
            }
            other => return Err(bad(format!("unknown key {other:?}"))),
        }
    }
    // A custom grader's flags are its own words; the default grader's must parse.
    if flags_set && !s.custom_grading {
        let bad_flags = |why: &str| bad(format!("grader_flags: {why}"));
        let flags = GraderFlags::parse(&s.grader_flags).map_err(|e| bad_flags(&e))?;
        if flags.ignore_sample && !group.is_empty() {
            return Err(bad_flags(
                "ignore_sample belongs in data/testdata.yaml (the root group) only",
            ));
        }
    }
    Ok(s)
}

/// A number from YAML (a number, or text holding one), finite and within ±[`SCORE_MAX`].
fn score(v: &Value) -> Result<f64, String> {
    let x = match v {
        Value::Number(n) => n.as_f64().ok_or("not a number")?,
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{s:?} is not a number"))?,
        _ => return Err("must be a number".into()),
    };
    if !x.is_finite() || x.abs() > SCORE_MAX {
        return Err(format!(
            "{x} is out of range (at most {SCORE_MAX} either way)"
        ));
    }
    Ok(x)
}

/// `"MIN MAX"`, each a number or `-inf` / `+inf` / `inf`, MIN ≤ MAX.
fn range(text: &str) -> Result<(f64, f64), String> {
    let ends: Vec<&str> = text.split_whitespace().collect();
    let [lo, hi] = ends.as_slice() else {
        return Err(format!("{text:?}: must be two numbers, \"MIN MAX\""));
    };
    let end = |s: &str| -> Result<f64, String> {
        match s {
            "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
            "inf" | "+inf" | "infinity" => Ok(f64::INFINITY),
            _ => score(&Value::String(s.to_string())),
        }
    };
    let (lo, hi) = (end(lo)?, end(hi)?);
    if lo > hi {
        return Err(format!("{text:?}: the ends are reversed ({lo} > {hi})"));
    }
    Ok((lo, hi))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Words of a flags setting: text split on whitespace, or a list of texts.
fn words(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Sequence(items) => items.iter().map(scalar_text).collect(),
        other => scalar_text(other).map(|t| t.split_whitespace().map(str::to_string).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::problem::test_file as file;

    fn pairs(stems: &[&str]) -> Vec<PackageFile> {
        stems
            .iter()
            .flat_map(|s| [file(&format!("{s}.in")), file(&format!("{s}.ans"))])
            .collect()
    }

    fn collect_with(
        files: &[PackageFile],
        settings: &[(&str, &str)],
    ) -> Result<(Vec<pb::TestCase>, Vec<pb::TestGroup>), PackageError> {
        let map: BTreeMap<String, String> = settings
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        collect(files, &|p| map.get(p).cloned(), &[], false)
    }

    #[test]
    fn groups_follow_the_folders_and_settings_are_inherited() {
        let files = pairs(&[
            "data/sample/1",
            "data/secret/g1/a",
            "data/secret/g1/b",
            "data/secret/g2/deep/x",
        ]);
        let (tests, groups) = collect_with(
            &files,
            &[
                (
                    "data/testdata.yaml",
                    "on_reject: continue\ngrader_flags: ignore_sample\n",
                ),
                (
                    "data/secret/testdata.yaml",
                    "accept_score: 5\nrange: 0 100\n",
                ),
                ("data/secret/g2/testdata.yaml", "grader_flags: min\n"),
            ],
        )
        .unwrap();
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "",
                "sample",
                "secret",
                "secret/g1",
                "secret/g2",
                "secret/g2/deep"
            ]
        );
        let order: Vec<(&str, u32)> = tests.iter().map(|t| (t.name.as_str(), t.group)).collect();
        assert_eq!(
            order,
            [
                ("sample/1", 1),
                ("secret/g1/a", 3),
                ("secret/g1/b", 3),
                ("secret/g2/deep/x", 5)
            ]
        );
        let deep = &groups[5];
        assert_eq!(deep.parent, Some(4));
        assert!(deep.on_reject_continue, "inherited from the root");
        assert_eq!(
            (deep.accept_score, deep.range_min, deep.range_max),
            (5.0, 0.0, 100.0)
        );
        assert_eq!(deep.grader_flags, ["min"]);
        assert_eq!(groups[1].range_max, f64::INFINITY);
    }

    #[test]
    fn bad_settings_name_the_file_the_key_and_the_problem() {
        let files = pairs(&["data/secret/g1/a"]);
        let err = |path: &str, text: &str| {
            collect_with(&files, &[(path, text)])
                .unwrap_err()
                .to_string()
        };
        let e = err("data/secret/testdata.yaml", "range: 10 0\n");
        assert!(
            e.starts_with("data/secret/testdata.yaml:")
                && e.contains("range:")
                && e.contains("reversed"),
            "{e}"
        );
        let e = err("data/secret/g1/testdata.yaml", "on_rejct: break\n");
        assert!(e.contains("unknown key \"on_rejct\""), "{e}");
        let e = err("data/testdata.yaml", "accept_score: lots\n");
        assert!(
            e.contains("accept_score") && e.contains("not a number"),
            "{e}"
        );
        let e = err("data/testdata.yaml", "grader_flags: sum max\n");
        assert!(
            e.contains("grader_flags") && e.contains("contradict"),
            "{e}"
        );
        let e = err("data/secret/testdata.yaml", "grader_flags: ignore_sample\n");
        assert!(e.contains("root group"), "{e}");
        let e = err("data/testdata.yaml", "on_reject: maybe\n");
        assert!(e.contains("break or continue"), "{e}");
        let e = err("data/testdata.yaml", "grading: sometimes\n");
        assert!(e.contains("default or custom"), "{e}");
        let e = err("data/testdata.yaml", "accept_score: 1e300\n");
        assert!(e.contains("out of range"), "{e}");
    }

    #[test]
    fn the_newer_drafts_keys_map_onto_the_same_rules() {
        let files = pairs(&["data/secret/g1/a"]);
        let (_, groups) = collect_with(
            &files,
            &[(
                "data/secret/g1/test_group.yaml",
                "score_aggregation: min\nverdict_aggregation: accept_if_any_accepted\nmax_score: 30\n",
            )],
        )
        .unwrap();
        let g = &groups[2];
        assert_eq!(g.grader_flags, ["min", "accept_if_any_accepted"]);
        assert!(g.on_reject_continue);
        assert_eq!((g.range_min, g.range_max), (0.0, 30.0));
    }

    #[test]
    fn settings_files_are_recognised_anywhere_under_data() {
        assert!(is_settings_file("data/testdata.yaml"));
        assert!(is_settings_file("data/secret/g1/test_group.yaml"));
        assert!(!is_settings_file("testdata.yaml"));
        assert!(!is_settings_file("data/secret/mytestdata.yaml"));
    }
}
