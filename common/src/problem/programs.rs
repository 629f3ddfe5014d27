//! The programs of a package (output validator or interactor, grader), found where the format
//! puts them.
//!
//! The format lets a program be a folder or a single file: under a folder of programs
//! (legacy `output_validators/`, `graders/`) each subfolder is one program, and so is each
//! source file directly in it; the other files there (a `testlib.h`) sit beside a single-file
//! program as they sit beside it in the package, so that its `#include "testlib.h"` works.
//! 2023-07's `output_validator/` is itself the program's folder.

use super::{PackageError, PackageFile};
use crate::pb;

/// Where a kind of program lives.
pub(super) struct Place {
    /// A folder that is the program (2023-07 `output_validator/`), if the kind has one.
    pub folder: Option<&'static str>,
    /// A folder of programs, each a subfolder or a source file.
    pub programs: &'static str,
    /// What people call it, for messages.
    pub what: &'static str,
}

pub(super) const OUTPUT_VALIDATOR: Place = Place {
    folder: Some("output_validator/"),
    programs: "output_validators/",
    what: "output validator",
};

pub(super) const GRADER: Place = Place {
    folder: None,
    programs: "graders/",
    what: "grader",
};

/// The language of a source file by its extension; `None` for anything else (headers, data).
pub fn source_language(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e)?;
    match ext {
        "c" => Some("c"),
        "cpp" | "cc" | "cxx" | "c++" => Some("cpp"),
        "py" => Some("python3"),
        _ => None,
    }
}

/// One program found, before its language is known.
enum Found<'a> {
    /// Every file of a folder (paths relative to it).
    Folder(String, Vec<&'a PackageFile>),
    /// A source file, with the other plain files of its folder.
    File(&'a PackageFile),
}

/// A program found in a package.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// What a worker needs to build and run it.
    pub spec: pb::OutputValidator,
    /// Where its files are in the package: the prefix of their paths in `spec`, e.g.
    /// `output_validators/check/`, or `output_validators/` for a single file.
    pub dir: String,
    /// What it is, for people: "output validator", "interactor", "grader".
    pub what: &'static str,
}

impl Program {
    /// Its name in the package, for people: its single file, or its folder.
    pub fn place(&self) -> String {
        match &self.spec.main {
            Some(main) => format!("{}{main}", self.dir),
            None => self.dir.trim_end_matches('/').to_string(),
        }
    }
}

/// The one program of `place` in the package, if there is one; more than one is refused.
pub(super) fn find(files: &[PackageFile], place: &Place) -> Result<Option<Program>, PackageError> {
    let mut found: Vec<Found<'_>> = Vec::new();
    if let Some(folder) = place.folder {
        let mine: Vec<&PackageFile> = files
            .iter()
            .filter(|f| f.path.starts_with(folder))
            .collect();
        if !mine.is_empty() {
            found.push(Found::Folder(folder.to_string(), mine));
        }
    }
    // Under the folder of programs: subfolders, source files, and the rest (companions).
    let mut companions: Vec<&PackageFile> = Vec::new();
    for f in files {
        let Some(rest) = f.path.strip_prefix(place.programs) else {
            continue;
        };
        match rest.split_once('/') {
            Some((name, _)) => {
                let dir = format!("{}{name}/", place.programs);
                match found
                    .iter_mut()
                    .find(|p| matches!(p, Found::Folder(d, _) if *d == dir))
                {
                    Some(Found::Folder(_, list)) => list.push(f),
                    _ => found.push(Found::Folder(dir, vec![f])),
                }
            }
            None if source_language(rest).is_some() => found.push(Found::File(f)),
            None => companions.push(f),
        }
    }
    let one = match found.len() {
        0 if companions.is_empty() => return Ok(None),
        0 => {
            return Err(PackageError::BadValue(
                place.programs.trim_end_matches('/').into(),
                format!(
                    "no {} program here (a folder, or a .c, .cpp or .py file), only {}",
                    place.what,
                    companions
                        .iter()
                        .map(|f| f.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
        1 => found.remove(0),
        _ => {
            let names: Vec<String> = found
                .iter()
                .map(|p| match p {
                    Found::Folder(d, _) => d.trim_end_matches('/').to_string(),
                    Found::File(f) => f.path.clone(),
                })
                .collect();
            return Err(PackageError::Unsupported {
                path: names.join(", "),
                what: format!("more than one {}", place.what),
            });
        }
    };
    let file = |f: &PackageFile, dir: &str| pb::ValidatorFile {
        path: f.path[dir.len()..].to_string(),
        file: Some(pb::FileRef {
            sha256: f.sha256.clone(),
            size: f.size,
        }),
    };
    Ok(Some(match one {
        Found::Folder(dir, mine) => {
            let has = |lang: &str| mine.iter().any(|f| source_language(&f.path) == Some(lang));
            let language = ["cpp", "c", "python3"]
                .into_iter()
                .find(|l| has(l))
                .ok_or_else(|| PackageError::Unsupported {
                    path: dir.trim_end_matches('/').to_string(),
                    what: format!("a {} without a .c, .cpp or .py source", place.what),
                })?;
            let spec = pb::OutputValidator {
                language: language.into(),
                files: mine.iter().map(|f| file(f, &dir)).collect(),
                main: None,
            };
            Program {
                spec,
                dir,
                what: place.what,
            }
        }
        Found::File(main) => {
            let language = source_language(&main.path).unwrap_or_default();
            let mut list = vec![file(main, place.programs)];
            list.extend(companions.iter().map(|f| file(f, place.programs)));
            let spec = pb::OutputValidator {
                language: language.into(),
                main: Some(list[0].path.clone()),
                files: list,
            };
            Program {
                spec,
                dir: place.programs.to_string(),
                what: place.what,
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::problem::test_file as file;

    fn paths(p: &pb::OutputValidator) -> Vec<&str> {
        p.files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn a_single_file_program_has_its_folder_s_other_files_beside_it() {
        let files = [
            file("output_validators/validate.cpp"),
            file("output_validators/testlib.h"),
            file("data/secret/1.in"),
        ];
        let p = find(&files, &OUTPUT_VALIDATOR).unwrap().unwrap().spec;
        assert_eq!(p.language, "cpp");
        assert_eq!(p.main.as_deref(), Some("validate.cpp"));
        assert_eq!(paths(&p), ["validate.cpp", "testlib.h"]);
        let g = find(&[file("graders/grade.py")], &GRADER)
            .unwrap()
            .unwrap()
            .spec;
        assert_eq!(
            (g.language.as_str(), g.main.as_deref()),
            ("python3", Some("grade.py"))
        );
    }

    #[test]
    fn folders_are_programs_in_both_layouts() {
        let legacy = [
            file("output_validators/check/check.c"),
            file("output_validators/check/lib/util.h"),
        ];
        let p = find(&legacy, &OUTPUT_VALIDATOR).unwrap().unwrap().spec;
        assert_eq!((p.language.as_str(), p.main.as_deref()), ("c", None));
        assert_eq!(paths(&p), ["check.c", "lib/util.h"]);
        let modern = [file("output_validator/a.py"), file("output_validator/b.py")];
        let p = find(&modern, &OUTPUT_VALIDATOR).unwrap().unwrap().spec;
        assert_eq!(paths(&p), ["a.py", "b.py"]);
        assert_eq!(find(&[file("data/x.in")], &GRADER).unwrap(), None);
    }

    #[test]
    fn two_programs_or_none_among_files_are_refused_with_their_names() {
        let two = [
            file("output_validators/a.cpp"),
            file("output_validators/b/b.cpp"),
        ];
        let e = find(&two, &OUTPUT_VALIDATOR).unwrap_err().to_string();
        assert!(
            e.contains("output_validators/a.cpp") && e.contains("output_validators/b"),
            "{e}"
        );
        assert!(e.contains("more than one output validator"), "{e}");
        let none = [file("graders/readme.txt")];
        let e = find(&none, &GRADER).unwrap_err().to_string();
        assert!(e.starts_with("graders:") && e.contains("readme.txt"), "{e}");
        let no_source = [file("output_validators/v/run.sh")];
        let e = find(&no_source, &OUTPUT_VALIDATOR).unwrap_err().to_string();
        assert!(e.contains("without a .c, .cpp or .py"), "{e}");
    }
}
