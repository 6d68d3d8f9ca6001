//! The start-to-paint hook for `trove-bench app`: the UI calls [`bench_painted`] once its
//! first screen has painted, and the shell prints one line, only when asked to by the bench.
//!
//! Inert unless the environment has `TROVE_BENCH_PAINT=1` (the bench sets it on the app it
//! launches): then it prints `trove-bench: painted SCREEN` on stdout. Nothing else.

use std::io::Write;

/// The environment variable that turns the hook on (value `1`).
pub const PAINT_ENV: &str = "TROVE_BENCH_PAINT";

/// What the painted line starts with; the screen's name follows.
pub const PAINTED_PREFIX: &str = "trove-bench: painted ";

/// The line to print for `screen`, or `None` when the name is not a plain screen name
/// (lowercase letters and `-`, at most 32): the page cannot make the shell print anything
/// else.
pub fn painted_line(screen: &str) -> Option<String> {
    let plain = !screen.is_empty()
        && screen.len() <= 32
        && screen.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    plain.then(|| format!("{PAINTED_PREFIX}{screen}"))
}

/// Is the hook on for this process?
fn enabled() -> bool {
    std::env::var_os(PAINT_ENV).is_some_and(|v| v == "1")
}

/// Called by the UI two animation frames after its first screen was mounted. Prints the
/// painted line when [`PAINT_ENV`] is `1`; does nothing otherwise.
#[tauri::command]
pub fn bench_painted(screen: String) {
    if !enabled() {
        return;
    }
    if let Some(line) = painted_line(&screen) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painted_line_names_the_screen() {
        assert_eq!(
            painted_line("unlock").as_deref(),
            Some("trove-bench: painted unlock")
        );
        assert_eq!(
            painted_line("first-run").as_deref(),
            Some("trove-bench: painted first-run")
        );
    }

    #[test]
    fn painted_line_refuses_anything_but_a_screen_name() {
        for bad in ["", "Unlock", "unlock\nforged line", "a b", &"x".repeat(33)] {
            assert_eq!(painted_line(bad), None, "{bad:?} must not be printed");
        }
    }
}
