//! The bounds of a live console, written once: the scheduler refuses what passes them and the
//! worker keeps to them.

/// Most rows and most columns of a console's terminal.
pub const MAX_SIDE: u32 = 1000;
/// Largest input message a client may send.
pub const MAX_INPUT: usize = 64 * 1024;
/// Largest output message: the worker reads the terminal in pieces of at most this size,
/// and the scheduler refuses a larger one.
pub const MAX_OUTPUT: usize = 64 * 1024;

/// Whether a terminal of `rows` × `cols` is within the bounds (at least 1 × 1).
pub fn size_ok(rows: u32, cols: u32) -> bool {
    (1..=MAX_SIDE).contains(&rows) && (1..=MAX_SIDE).contains(&cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_is_one_to_max_side_each_way() {
        assert!(size_ok(1, 1) && size_ok(MAX_SIDE, MAX_SIDE) && size_ok(24, 80));
        assert!(!size_ok(0, 80) && !size_ok(24, 0) && !size_ok(MAX_SIDE + 1, 80));
    }
}
