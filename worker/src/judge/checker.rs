//! The default output validator: compares whitespace-separated tokens.

/// Whether `output` matches `answer` token by token (case-sensitive, any whitespace).
pub fn tokens_match(output: &[u8], answer: &[u8]) -> bool {
    let mut out = output
        .split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty());
    let mut ans = answer
        .split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty());
    loop {
        match (out.next(), ans.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => continue,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tokens_match;

    #[test]
    fn whitespace_is_free_tokens_are_not() {
        assert!(tokens_match(b"1 2\n3\n", b"1  2 3"));
        assert!(tokens_match(b"", b"\n"));
        assert!(!tokens_match(b"1 2", b"1 2 3"));
        assert!(!tokens_match(b"Yes", b"yes"));
        assert!(!tokens_match(b"12", b"1 2"));
    }
}
