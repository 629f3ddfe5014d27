//! A package's own programs built at push, with the real compilers: a program that does not
//! build is refused with the compiler's words, one that builds passes.

use std::collections::BTreeMap;
use std::time::Duration;

use judge_common::pb;
use judge_common::problem::Program;
use judge_scheduler::app::program_check::{check, BuildLimits, CheckError};
use judge_scheduler::store::blobs::{BlobStore, StagedBlob};

const LIMITS: BuildLimits = BuildLimits {
    time: Duration::from_secs(60),
    memory_bytes: 2 << 30,
};

/// Stages `files` (package path, text) as a push would, and describes them as one program
/// (a `what`) whose files are the ones under `dir`, `main` its single file if any.
async fn stage(
    blobs: &BlobStore,
    files: &[(&str, &str)],
    (dir, what): (&str, &'static str),
    language: &str,
    main: Option<&str>,
) -> (BTreeMap<String, StagedBlob>, Program) {
    let mut staged = BTreeMap::new();
    let mut program = pb::OutputValidator {
        language: language.into(),
        files: Vec::new(),
        main: main.map(str::to_string),
    };
    for (path, text) in files {
        let mut w = blobs.writer().await.unwrap();
        w.write(text.as_bytes()).await.unwrap();
        let b = w.finish().await.unwrap();
        program.files.push(pb::ValidatorFile {
            path: path.strip_prefix(dir).unwrap().to_string(),
            file: Some(pb::FileRef {
                sha256: b.sha256.clone(),
                size: b.size,
            }),
        });
        staged.insert(path.to_string(), b);
    }
    let program = Program {
        spec: program,
        dir: dir.into(),
        what,
    };
    (staged, program)
}

#[tokio::test]
async fn a_program_that_does_not_build_is_refused_with_the_compiler_s_words() {
    let tmp = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(tmp.path().join("blobs")).await.unwrap();
    let scratch = blobs.root().join("tmp");
    let header = (
        "output_validators/lib.h",
        "inline int answer() { return 42; }\n",
    );
    let good = (
        "output_validators/validate.cpp",
        "#include \"lib.h\"\nint main() { return answer(); }\n",
    );
    let (staged, program) = stage(
        &blobs,
        &[good, header],
        ("output_validators/", "output validator"),
        "cpp",
        Some("validate.cpp"),
    )
    .await;
    let got = check(&program, &staged, &scratch, LIMITS).await;
    assert!(matches!(got, Ok(None)), "{got:?}");

    let bad = (
        "output_validators/validate.cpp",
        "#include \"lib.h\"\nint main() { return undeclared_thing; }\n",
    );
    let (staged, program) = stage(
        &blobs,
        &[bad, header],
        ("output_validators/", "output validator"),
        "cpp",
        Some("validate.cpp"),
    )
    .await;
    let err = check(&program, &staged, &scratch, LIMITS)
        .await
        .unwrap_err();
    let CheckError::DoesNotBuild { words, .. } = &err else {
        panic!("{err}");
    };
    assert!(
        words.contains("undeclared_thing") && words.contains("validate.cpp:2"),
        "{words}"
    );
    // The scratch folder's path is not in it, and nothing is left behind.
    assert!(!words.contains(&scratch.display().to_string()), "{words}");
    let left = std::fs::read_dir(&scratch)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("build-")
        })
        .count();
    assert_eq!(left, 0);

    let (staged, program) = stage(
        &blobs,
        &[("graders/grade.py", "print('AC 1'\n")],
        ("graders/", "grader"),
        "python3",
        Some("grade.py"),
    )
    .await;
    let err = check(&program, &staged, &scratch, LIMITS)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("the grader (graders/grade.py) does not build") && err.contains("grade.py"),
        "{err}"
    );
}
