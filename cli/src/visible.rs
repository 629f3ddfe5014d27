//! Text that another person controls (a student's program output, compiler messages, job
//! messages, names) is shown with its control characters made visible, so that it cannot
//! drive the reader's terminal: no clipboard writes (OSC 52), title changes, screen clears,
//! cursor moves that overwrite a line with a forged verdict, or bidirectional overrides that
//! reorder what is read. Newline and tab are kept. `--raw` turns this off.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

static RAW: AtomicBool = AtomicBool::new(false);

/// Shows untrusted text byte for byte from now on (`--raw`).
pub fn set_raw(raw: bool) {
    RAW.store(raw, Ordering::Relaxed);
}

/// Whether `--raw` was given.
pub fn is_raw() -> bool {
    RAW.load(Ordering::Relaxed)
}

/// Whether `c` would be acted on by a terminal (or reorder text) rather than drawn.
fn hidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` as it may be written to a terminal: C0 controls and DEL in caret notation (`^[`
/// for ESC, `^M` for a carriage return, as `cat -v` shows them), other controls and
/// direction overrides as `<U+XXXX>`. Unchanged under `--raw`.
pub fn visible(text: &str) -> Cow<'_, str> {
    if is_raw() || !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !hidden(c) => out.push(c),
            '\u{7f}' => out.push_str("^?"),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(b'@' + c as u8));
            }
            c => out.push_str(&format!("<U+{:04X}>", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// Bytes that should be text (invalid UTF-8 replaced), made visible.
pub fn visible_bytes(bytes: &[u8]) -> String {
    visible(&String::from_utf8_lossy(bytes)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_shown_not_obeyed() {
        let osc52 = "a\x1b]52;c;cm0gLXJmIH4=\x07b";
        assert_eq!(visible(osc52), "a^[]52;c;cm0gLXJmIH4=^Gb");
        assert_eq!(visible("x\x1b[2J\x1b[H"), "x^[[2J^[[H");
        assert_eq!(visible("WA\rverdict: AC"), "WA^Mverdict: AC");
        assert_eq!(visible("\u{9b}31m"), "<U+009B>31m");
        assert_eq!(visible("abc\u{202e}fed"), "abc<U+202E>fed");
        assert_eq!(visible("del\x7f"), "del^?");
        // Lines and columns stay.
        assert_eq!(visible("line 1\n\tline 2\n"), "line 1\n\tline 2\n");
        assert!(matches!(visible("plain"), Cow::Borrowed(_)));
        assert_eq!(visible_bytes(b"\xff\x1b"), "\u{fffd}^[");
    }
}
