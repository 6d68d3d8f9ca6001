//! Trove's desktop app: a thin Tauri 2 shell over trove-core. The UI (ui/) calls the
//! commands in [`commands`]; errors cross the IPC boundary as `{code, message}`.
// No unsafe code, except the one allocator call in `memory` (allowed there, explained).
#![deny(unsafe_code)]

pub mod api_error;
pub mod bench;
pub mod bindings;
pub mod commands;
pub mod dto;
pub mod hint;
pub mod link;
pub mod memory;
pub mod notify;
pub mod remote;
pub mod sharing;
pub mod state;
pub mod transfer;

use std::path::PathBuf;

use trove_core::{KdfParams, OsKeyring};

/// The vault directory, as for the CLI: `--vault DIR` on the command line, else
/// `TROVE_VAULT`, else the platform default.
pub fn vault_dir(args: &[String]) -> Option<PathBuf> {
    let mut from_args = None;
    for (i, a) in args.iter().enumerate() {
        if let Some(d) = a.strip_prefix("--vault=") {
            from_args = Some(d.to_string());
        } else if a == "--vault" {
            from_args = args.get(i + 1).cloned();
        }
    }
    if let Some(d) = from_args.filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    match std::env::var_os("TROVE_VAULT") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => trove_core::paths::default_vault_dir(),
    }
}

/// WebKitGTK's switch for its DMA-BUF renderer.
pub const DMABUF_ENV: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";

/// JavaScriptCore's switch for its just-in-time compilers.
pub const JIT_ENV: &str = "JSC_useJIT";

/// The WebKit settings to apply at start (Linux only), each unless the person set
/// that variable themselves (`is_set`):
/// - Without a GPU (no `/dev/dri`, e.g. a VM or Xvfb) WebKitGTK's DMA-BUF renderer draws
///   through software GL, which costs seconds at start and ~100 MB (docs/benchmarks.md,
///   `app`); the shared-memory path is then faster. With a GPU nothing changes.
/// - JavaScript runs in JavaScriptCore's interpreter, without its JIT compilers: the page
///   is only Trove's own small UI, and the idle app takes ~7 MB less anonymous memory
///   (~13 MB PSS) for search-as-you-type ~15 ms slower (docs/benchmarks.md, `app`). It
///   also means no memory that is both writable and executable in the page.
pub fn webkit_env(
    is_set: impl Fn(&str) -> bool,
    has_gpu: bool,
) -> Vec<(&'static str, &'static str)> {
    if !cfg!(target_os = "linux") {
        return Vec::new();
    }
    [(DMABUF_ENV, "1", !has_gpu), (JIT_ENV, "false", true)]
        .into_iter()
        .filter(|(key, _, wanted)| *wanted && !is_set(key))
        .map(|(key, value, _)| (key, value))
        .collect()
}

/// Builds and runs the app until its window closes.
pub fn run() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = vault_dir(&args) else {
        eprintln!("trove-desktop: no data directory on this platform; pass --vault DIR or set TROVE_VAULT");
        std::process::exit(1);
    };
    // A new vault's Argon2id cost is calibrated on this machine (~0.5 s); an existing
    // vault keeps the parameters in its key file, so nothing is measured then.
    let kdf = if dir.join(trove_core::vault::KEY_FILE).exists() {
        KdfParams::DEFAULT
    } else {
        KdfParams::for_new_key()
    };
    let state = state::AppState::new(dir, kdf, Box::new(OsKeyring))
        .with_anchors(trove_core::anchor::AnchorStore::default_location());
    if args.iter().any(|a| a == "--create-demo-if-missing") {
        // For `make app`: set up the demo vault once, without opening a window.
        std::process::exit(match state.create_demo_if_missing() {
            Ok(true) => {
                println!(
                    "created the demo vault at {} (passphrase: {})",
                    state.dir().display(),
                    state::DEMO_PASSPHRASE
                );
                0
            }
            Ok(false) => 0,
            Err(e) => {
                eprintln!("trove-desktop: {e}");
                if let Some(h) = hint::hint(&e) {
                    eprintln!("hint: {h}");
                }
                1
            }
        });
    }
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .manage(state)
        .setup(|app| {
            notify::spawn_watcher(app.handle().clone());
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            bench::bench_painted,
            commands::vault_status,
            commands::create_vault,
            commands::save_recovery_kit,
            commands::create_demo_vault,
            commands::unlock,
            commands::unlock_remembered,
            commands::recover,
            commands::lock,
            commands::change_passphrase,
            commands::remember_device,
            commands::forget_device,
            commands::record_types,
            commands::record_counts,
            commands::check_record_fields,
            commands::list_records,
            commands::search_records,
            commands::get_record,
            commands::take_migration_notice,
            commands::add_record,
            commands::edit_record,
            commands::remove_record,
            commands::list_trash,
            commands::restore_record,
            commands::empty_trash,
            commands::undo_import,
            commands::sharing_status,
            commands::start_sharing,
            commands::stop_sharing,
            commands::remote_settings,
            commands::set_remote,
            commands::set_notifications,
            commands::list_storage,
            commands::add_storage,
            commands::remove_storage,
            commands::test_storage,
            commands::list_grants,
            commands::create_grant,
            commands::revoke_grant,
            commands::grant_receipts,
            commands::access_log,
            commands::access_log_len,
            commands::access_log_orgs,
            commands::access_share_counts,
            commands::access_summary,
            commands::verify_access_log,
            commands::inspect_import,
            commands::export_bundle,
            commands::import_file,
        ])
        .run(tauri::generate_context!())
        .unwrap_or_else(|e| {
            eprintln!("trove-desktop: {e}");
            std::process::exit(1);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webkit_settings_apply_only_where_wanted_and_never_over_a_choice() {
        let none = |_: &str| false;
        assert_eq!(
            webkit_env(none, false),
            vec![(DMABUF_ENV, "1"), (JIT_ENV, "false")]
        );
        assert_eq!(
            webkit_env(none, true),
            vec![(JIT_ENV, "false")],
            "a GPU keeps WebKit's default renderer"
        );
        assert_eq!(
            webkit_env(|k: &str| k == JIT_ENV, false),
            vec![(DMABUF_ENV, "1")],
            "the person's JIT setting wins"
        );
        assert_eq!(
            webkit_env(|k: &str| k == DMABUF_ENV, true),
            vec![(JIT_ENV, "false")],
            "the person's renderer setting wins"
        );
    }

    #[test]
    fn vault_flag_wins_over_the_environment() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            vault_dir(&args(&["--vault", "/tmp/a"])),
            Some(PathBuf::from("/tmp/a"))
        );
        assert_eq!(
            vault_dir(&args(&["--vault=/tmp/b"])),
            Some(PathBuf::from("/tmp/b"))
        );
    }
}
