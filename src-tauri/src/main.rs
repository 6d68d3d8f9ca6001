//! The `trove-desktop` binary: starts the Tauri app defined in the library.
//! Everything testable lives in the library crate.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // Before any thread exists: the environment is only safe to change here.
    for (key, value) in trove_desktop::webkit_env(
        |key| std::env::var_os(key).is_some(),
        std::path::Path::new("/dev/dri").exists(),
    ) {
        std::env::set_var(key, value);
    }
    trove_desktop::run();
}
