//! The `trove-desktop` binary: starts the Tauri app defined in the library.
//! Everything testable lives in the library crate.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    trove_desktop::run();
}
