//! Flags of the default output validator, as the ICPC / Kattis problem format defines them.
//! Parsed at push time (so a typo is refused then) and again by the worker that judges.

/// How the default validator compares output with the answer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ValidatorFlags {
    /// Compare tokens case-sensitively (the default ignores case).
    pub case_sensitive: bool,
    /// Whitespace must match exactly (the default treats any run of whitespace as one).
    pub space_change_sensitive: bool,
    /// Numbers within this absolute error are accepted.
    pub float_absolute_tolerance: Option<f64>,
    /// Numbers within this relative error are accepted.
    pub float_relative_tolerance: Option<f64>,
}

impl ValidatorFlags {
    /// Parses `validator_flags` words, e.g. `["float_tolerance", "1e-6", "case_sensitive"]`.
    pub fn parse(words: &[String]) -> Result<ValidatorFlags, String> {
        let mut flags = ValidatorFlags::default();
        let mut it = words.iter();
        while let Some(word) = it.next() {
            let mut value = |name: &str| -> Result<f64, String> {
                let v = it.next().ok_or_else(|| format!("{name} needs a value"))?;
                let x: f64 = v
                    .parse()
                    .map_err(|_| format!("{name} {v:?}: not a number"))?;
                if x.is_finite() && x >= 0.0 {
                    Ok(x)
                } else {
                    Err(format!("{name} {v:?}: must be a finite number >= 0"))
                }
            };
            match word.as_str() {
                "case_sensitive" => flags.case_sensitive = true,
                "space_change_sensitive" => flags.space_change_sensitive = true,
                "float_absolute_tolerance" => flags.float_absolute_tolerance = Some(value(word)?),
                "float_relative_tolerance" => flags.float_relative_tolerance = Some(value(word)?),
                "float_tolerance" => {
                    let x = value(word)?;
                    flags.float_absolute_tolerance = Some(x);
                    flags.float_relative_tolerance = Some(x);
                }
                other => return Err(format!("unknown validator flag {other:?}")),
            }
        }
        Ok(flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn flags_parse_as_the_format_defines_them() {
        let f = ValidatorFlags::parse(&words("case_sensitive float_tolerance 1e-6")).unwrap();
        assert!(f.case_sensitive && !f.space_change_sensitive);
        assert_eq!(
            (f.float_absolute_tolerance, f.float_relative_tolerance),
            (Some(1e-6), Some(1e-6))
        );
        let f = ValidatorFlags::parse(&words(
            "float_relative_tolerance 0.01 space_change_sensitive",
        ))
        .unwrap();
        assert_eq!(
            (f.float_absolute_tolerance, f.float_relative_tolerance),
            (None, Some(0.01))
        );
        assert!(ValidatorFlags::parse(&words("float_tolerance")).is_err());
        assert!(ValidatorFlags::parse(&words("float_tolerance abc")).is_err());
        assert!(ValidatorFlags::parse(&words("float_tolerance -1")).is_err());
        assert!(ValidatorFlags::parse(&words("ignore_case"))
            .unwrap_err()
            .contains("unknown"));
    }
}
