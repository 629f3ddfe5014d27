//! The known-answer probe: a program that prints one line, in each language a worker may
//! offer. A quarantined worker runs one after its cool-down; if it prints exactly
//! [`PROBE_OUTPUT`] and exits 0, its sandbox and that toolchain work again.

use crate::pb;

/// What every probe prints.
pub const PROBE_OUTPUT: &str = "judge probe ok\n";

/// Languages with a probe, in the order one is picked, and its source.
const PROBES: &[(&str, &str)] = &[
    ("c", "#include <stdio.h>\nint main(void) { fputs(\"judge probe ok\\n\", stdout); return 0; }\n"),
    ("cpp", "#include <cstdio>\nint main() { std::fputs(\"judge probe ok\\n\", stdout); return 0; }\n"),
    ("python3", "print(\"judge probe ok\")\n"),
    ("rust", "fn main() { println!(\"judge probe ok\"); }\n"),
    ("java", "public class Main { public static void main(String[] a) { System.out.println(\"judge probe ok\"); } }\n"),
    ("javascript", "console.log(\"judge probe ok\");\n"),
];

/// The probe for the first of `languages` that has one: (language, source).
pub fn probe_for(languages: &[String]) -> Option<(&str, &'static str)> {
    PROBES.iter().find_map(|(lang, source)| {
        languages
            .iter()
            .find(|l| l.as_str() == *lang)
            .map(|l| (l.as_str(), *source))
    })
}

/// Whether a probe's run result is the known answer.
pub fn passed(run: Option<&pb::RunResult>) -> bool {
    run.is_some_and(|r| {
        r.outcome == pb::RunOutcome::Exited as i32
            && r.exit_code == Some(0)
            && r.stdout == PROBE_OUTPUT.as_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_language_with_a_probe_is_picked_and_only_the_known_answer_passes() {
        let langs = vec!["cobol".to_string(), "python3".into(), "c".into()];
        assert_eq!(probe_for(&langs).map(|(l, _)| l), Some("c"));
        assert_eq!(probe_for(&["cobol".to_string()]), None);
        let ok = pb::RunResult {
            outcome: pb::RunOutcome::Exited as i32,
            exit_code: Some(0),
            stdout: PROBE_OUTPUT.as_bytes().to_vec(),
            ..Default::default()
        };
        assert!(passed(Some(&ok)));
        assert!(!passed(None));
        let wrong = pb::RunResult {
            stdout: b"judge probe ok".to_vec(),
            ..ok.clone()
        };
        assert!(!passed(Some(&wrong)));
        let failed = pb::RunResult {
            exit_code: Some(1),
            ..ok
        };
        assert!(!passed(Some(&failed)));
    }
}
