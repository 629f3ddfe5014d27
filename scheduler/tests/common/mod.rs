//! What the scheduler's integration tests share.

use judge_common::problem::PackageFile;

/// The files of a package with one test (`data/secret/1`), as a push lists them.
pub fn one_test_package() -> Vec<PackageFile> {
    vec![
        PackageFile {
            path: "data/secret/1.in".into(),
            sha256: "a".repeat(64),
            size: 4,
        },
        PackageFile {
            path: "data/secret/1.ans".into(),
            sha256: "b".repeat(64),
            size: 2,
        },
    ]
}
