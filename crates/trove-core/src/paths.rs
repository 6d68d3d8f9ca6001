//! Where the vault lives by default: `$XDG_DATA_HOME/trove/vault` on Linux (the platform
//! data dir elsewhere), overridden by `--vault DIR` or `TROVE_VAULT`.

use std::path::PathBuf;

/// The default vault directory, or `None` when the platform has no data dir.
pub fn default_vault_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("trove").join("vault"))
}
