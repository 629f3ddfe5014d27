//! What a multi-pass test costs against a batch test: the same 10 tests and the same
//! submission judged as a batch problem with the default checker, as a batch problem with a
//! custom validator (the fair baseline: a multi-pass problem always has one), and as a
//! multi-pass problem whose validator asks for 3 passes per test; each submitted `rounds`
//! times, by turns, to one warm worker: submit to verdict.

use anyhow::Result;
use judge_tests::{admin_client, push};

/// A validator for the sum problem that accepts the right sum and, while the feedback folder
/// has seen fewer than PASSES passes, asks for another on the same input.
const VALIDATOR_C: &str = r#"
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    char path[4096];
    long want, got, passes = 0;
    FILE *ans = fopen(argv[2], "r");
    if (!ans || fscanf(ans, "%ld", &want) != 1 || scanf("%ld", &got) != 1) return 43;
    if (got != want) return 43;
    snprintf(path, sizeof path, "%s/passes", argv[3]);
    FILE *seen = fopen(path, "r");
    if (seen) { if (fscanf(seen, "%ld", &passes) != 1) passes = 0; fclose(seen); }
    passes++;
    seen = fopen(path, "w");
    if (!seen) return 1;
    fprintf(seen, "%ld\n", passes);
    fclose(seen);
    if (passes < PASSES) {
        char buf[4096];
        size_t n;
        FILE *in = fopen(argv[1], "r");
        snprintf(path, sizeof path, "%s/nextpass.in", argv[3]);
        FILE *next = fopen(path, "w");
        if (!in || !next) return 1;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, next);
        fclose(next);
    }
    return 42;
}
"#;

/// A sum problem in `dir` with the validator above, asking for `passes` passes.
fn write(dir: &std::path::Path, passes: u32) -> Result<()> {
    super::write_sum_problem(dir, 10)?;
    std::fs::create_dir_all(dir.join("output_validator"))?;
    std::fs::write(
        dir.join("output_validator/validate.c"),
        VALIDATOR_C.replace("PASSES", &passes.to_string()),
    )?;
    let kind = if passes > 1 {
        format!("type: multi-pass\nlimits:\n  validation_passes: {passes}\n")
    } else {
        "validation: custom\n".to_string()
    };
    std::fs::write(
        dir.join("problem.yaml"),
        format!("problem_format_version: 2023-07-draft\n{kind}"),
    )?;
    Ok(())
}

pub async fn run(rounds: usize) -> Result<()> {
    let s = super::setup().await?;
    let root = s._dir.path();
    super::write_sum_problem(&root.join("batch"), 10)?;
    write(&root.join("validated"), 1)?;
    write(&root.join("passes"), 3)?;
    let mut admin = admin_client(&s.sched.url(), &s.admin).await?;
    for p in ["batch", "validated", "passes"] {
        push(&mut admin, &root.join(p), p, None).await?;
    }
    let times = super::side_by_side(&s, &["batch", "validated", "passes"], rounds).await?;
    let [batch, validated, passes] =
        [&times[0], &times[1], &times[2]].map(|t| super::median(t.clone()));
    let ratio = |a: std::time::Duration, b: std::time::Duration| a.as_secs_f64() / b.as_secs_f64();
    // Two more passes on each of 10 tests than the validated batch.
    let extra = passes.saturating_sub(validated) / 20;
    println!(
        "judging 10 tests (median of {rounds}, warm worker, submit to verdict): batch with the \
         default checker {batch:.2?}; batch with a custom validator {validated:.2?} = x{:.2}; \
         multi-pass, 3 passes a test {passes:.2?} = x{:.2} of the custom validator's batch; \
         each pass past the first {extra:.2?} (a run of the submission and one of the validator)",
        ratio(validated, batch),
        ratio(passes, validated),
    );
    Ok(())
}
