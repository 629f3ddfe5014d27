//! The default output validator of the ICPC / Kattis format: token by token, case-insensitive
//! unless `case_sensitive`, any whitespace run equal to any other unless
//! `space_change_sensitive`, and numbers within `float_absolute_tolerance` *or*
//! `float_relative_tolerance` of the answer accepted when either is set.

use judge_common::validator::ValidatorFlags;

/// A run of whitespace or of other bytes.
#[derive(Debug, Clone, Copy)]
struct Run<'a> {
    bytes: &'a [u8],
    space: bool,
}

fn runs(data: &[u8]) -> Vec<Run<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=data.len() {
        if i == data.len() || data[i].is_ascii_whitespace() != data[start].is_ascii_whitespace() {
            if start < i {
                out.push(Run {
                    bytes: &data[start..i],
                    space: data[start].is_ascii_whitespace(),
                });
            }
            start = i;
        }
    }
    out
}

/// A decimal number as a judge writes one: sign, digits, fraction, exponent. Not `inf` or
/// `nan`, which Rust's parser would also take.
fn number(token: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(token).ok()?;
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let mantissa = body.split(['e', 'E']).next()?;
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).count();
    let ok = digits > 0
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

fn show(token: &[u8]) -> String {
    let s = String::from_utf8_lossy(token);
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.into_owned()
    }
}

fn tokens_equal(out: &[u8], ans: &[u8], flags: &ValidatorFlags) -> Result<(), String> {
    let tolerant =
        flags.float_absolute_tolerance.is_some() || flags.float_relative_tolerance.is_some();
    if tolerant {
        if let Some(want) = number(ans) {
            let Some(got) = number(out) else {
                return Err(format!(
                    "expected a number like {}, got {:?}",
                    show(ans),
                    show(out)
                ));
            };
            let diff = (want - got).abs();
            let abs_ok = flags.float_absolute_tolerance.is_some_and(|t| diff <= t);
            let rel_ok = flags
                .float_relative_tolerance
                .is_some_and(|t| diff <= t * want.abs());
            return if abs_ok || rel_ok {
                Ok(())
            } else {
                Err(format!(
                    "expected {}, got {} (difference {diff:e} is too large)",
                    show(ans),
                    show(out)
                ))
            };
        }
    }
    let same = if flags.case_sensitive {
        out == ans
    } else {
        out.eq_ignore_ascii_case(ans)
    };
    if same {
        Ok(())
    } else {
        Err(format!("expected {:?}, got {:?}", show(ans), show(out)))
    }
}

/// `Ok` if `output` is accepted against `answer`; otherwise why not (for the judge message).
pub fn check(output: &[u8], answer: &[u8], flags: &ValidatorFlags) -> Result<(), String> {
    let mut out = runs(output);
    let mut ans = runs(answer);
    if !flags.space_change_sensitive {
        out.retain(|r| !r.space);
        ans.retain(|r| !r.space);
    }
    let mut token = 0;
    for (i, want) in ans.iter().enumerate() {
        let Some(got) = out.get(i) else {
            return Err(format!(
                "output ended early: missing {:?} (token {})",
                show(want.bytes),
                token + 1
            ));
        };
        if want.space || got.space {
            if want.space != got.space || want.bytes != got.bytes {
                return Err(format!("whitespace differs before token {}", token + 1));
            }
            continue;
        }
        token += 1;
        tokens_equal(got.bytes, want.bytes, flags).map_err(|e| format!("token {token}: {e}"))?;
    }
    if let Some(extra) = out.get(ans.len()) {
        return Err(format!(
            "trailing output after the answer: {:?}",
            show(extra.bytes)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(words: &str) -> ValidatorFlags {
        ValidatorFlags::parse(
            &words
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn default_is_token_based_and_case_insensitive() {
        let f = flags("");
        assert!(check(b"1 2\n3\n", b"1  2 3", &f).is_ok());
        assert!(check(b"", b"\n", &f).is_ok());
        assert!(check(b"Yes", b"yes", &f).is_ok());
        assert!(check(b"1 2", b"1 2 3", &f)
            .unwrap_err()
            .contains("ended early"));
        assert!(check(b"1 2 3", b"1 2", &f)
            .unwrap_err()
            .contains("trailing"));
        assert!(check(b"12", b"1 2", &f).is_err());
        assert!(
            check(b"1.0", b"1", &f).is_err(),
            "no tolerance: numbers compare as text"
        );
    }

    #[test]
    fn case_sensitive() {
        assert!(check(b"Yes", b"yes", &flags("case_sensitive"))
            .unwrap_err()
            .contains("token 1"));
        assert!(check(b"yes", b"yes", &flags("case_sensitive")).is_ok());
    }

    #[test]
    fn space_change_sensitive() {
        let f = flags("space_change_sensitive");
        assert!(check(b"1 2\n", b"1 2\n", &f).is_ok());
        assert!(check(b"1  2\n", b"1 2\n", &f)
            .unwrap_err()
            .contains("whitespace"));
        assert!(
            check(b"1 2", b"1 2\n", &f).is_err(),
            "a missing final newline counts"
        );
        assert!(check(b"1\n2\n", b"1 2\n", &f).is_err());
    }

    #[test]
    fn absolute_and_relative_tolerance_either_suffices() {
        let abs = flags("float_absolute_tolerance 0.01");
        assert!(check(b"1.005", b"1", &abs).is_ok());
        assert!(check(b"1.02", b"1", &abs)
            .unwrap_err()
            .contains("too large"));
        let rel = flags("float_relative_tolerance 0.01");
        assert!(check(b"1005", b"1000", &rel).is_ok());
        assert!(check(b"1.005", b"1", &rel).is_ok());
        assert!(check(b"1020", b"1000", &rel).is_err());
        let both = flags("float_tolerance 1e-6");
        assert!(
            check(b"1000000.5", b"1000000", &both).is_ok(),
            "relative saves a large value"
        );
        assert!(
            check(b"0.0000005", b"0", &both).is_ok(),
            "absolute saves a value near zero"
        );
        assert!(
            check(b"1e3", b"1000.0000001", &both).is_ok(),
            "any decimal notation"
        );
    }

    #[test]
    fn with_tolerance_numbers_must_be_numbers_and_words_stay_words() {
        let f = flags("float_tolerance 1e-6");
        assert!(check(b"abc", b"1.5", &f)
            .unwrap_err()
            .contains("expected a number"));
        assert!(check(b"nan", b"1.5", &f).is_err());
        assert!(check(b"inf", b"1e308", &f).is_err());
        assert!(check(b"POSSIBLE 2.0000001", b"possible 2", &f).is_ok());
        assert!(check(b"impossible", b"possible", &f).is_err());
    }
}
