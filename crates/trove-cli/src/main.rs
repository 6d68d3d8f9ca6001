//! The `trove` command line: a thin shell over trove-core. Parses arguments, finds the
//! passphrase, calls one core function per command and prints the result.

mod cmd;
mod ctx;
mod hint;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::ctx::Ctx;

/// Trove: your personal data, encrypted on your own machine, shared on your terms.
#[derive(Parser)]
#[command(name = "trove", version, max_term_width = 100)]
struct Cli {
    /// The vault directory [default: the platform data dir, e.g. ~/.local/share/trove/vault]
    #[arg(
        long,
        global = true,
        env = "TROVE_VAULT",
        hide_env_values = true,
        value_name = "DIR"
    )]
    vault: Option<PathBuf>,

    /// Print one JSON value on stdout instead of text
    #[arg(long, global = true)]
    json: bool,

    /// Read the passphrase from FILE (first line) instead of TROVE_PASSPHRASE or a prompt
    #[arg(long, global = true, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new vault and print its recovery key (once)
    Init(cmd::vault::NewPassphraseArgs),
    /// Show the vault's path, record counts and whether this device remembers it
    Status(cmd::vault::StatusArgs),
    /// Change the passphrase (new one from TROVE_NEW_PASSPHRASE or a prompt)
    Passwd(cmd::vault::NewPassphraseArgs),
    /// Set a new passphrase using the recovery key
    Recover(cmd::vault::NewPassphraseArgs),
    /// Keep the vault key in the OS keyring so this device unlocks without a passphrase
    Remember,
    /// Remove the vault key from the OS keyring
    Forget,
    /// Create a vault filled with realistic sample data
    Demo,
    /// Add a record: trove add TYPE FIELD=VALUE... [--tag T]...
    Add(cmd::records::AddArgs),
    /// Show one record
    Get(cmd::records::IdArg),
    /// List records, newest first
    List(cmd::records::ListArgs),
    /// Full-text search over every field, best match first
    Search(cmd::records::SearchArgs),
    /// Change fields or tags of a record (FIELD= removes a field)
    Edit(cmd::records::EditArgs),
    /// Move a record to the trash (restorable for 30 days; never shared)
    Rm(cmd::records::IdArg),
    /// Removed records: list | restore ID | empty
    #[command(subcommand)]
    Trash(cmd::records::TrashCmd),
    /// List record types and their fields
    Types,
    /// Grants: scoped, revocable read access for an organization
    #[command(subcommand)]
    Grant(cmd::share::GrantCmd),
    /// Your own S3-compatible storage, for grants available while this computer is off
    #[command(subcommand)]
    Storage(cmd::storage::StorageCmd),
    /// Serve the share API (default 127.0.0.1:7878; --remote: also over the internet)
    Serve(cmd::share::ServeArgs),
    /// This vault's remote endpoint: its id and relay (status), a new key (rotate)
    #[command(subcommand)]
    Remote(cmd::remote::RemoteCmd),
    /// The access log: who read what, when (`trove log verify` checks its hash chain)
    Log(cmd::share::LogArgs),
    /// Write a portable bundle: age-encrypted tar of records, grants and log
    Export(cmd::bundle::ExportArgs),
    /// Import a bundle, vCard, CSV or JSON file (merges by record id); `import undo BATCH`
    Import(cmd::bundle::ImportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TROVE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let ctx = match Ctx::new(cli.vault, cli.json, cli.passphrase_file) {
        Ok(mut c) => {
            c.accept_restore = cmd::share::accepts_restore(&cli.command);
            c
        }
        Err(e) => return output::report_error(cli.json, &e),
    };
    let result = match cli.command {
        Command::Init(a) => cmd::vault::init(&ctx, a),
        Command::Status(a) => cmd::vault::status(&ctx, a),
        Command::Passwd(a) => cmd::vault::passwd(&ctx, a),
        Command::Recover(a) => cmd::vault::recover(&ctx, a),
        Command::Remember => cmd::vault::remember(&ctx),
        Command::Forget => cmd::vault::forget(&ctx),
        Command::Demo => cmd::vault::demo(&ctx),
        Command::Add(a) => cmd::records::add(&ctx, a),
        Command::Get(a) => cmd::records::get(&ctx, a),
        Command::List(a) => cmd::records::list(&ctx, a),
        Command::Search(a) => cmd::records::search(&ctx, a),
        Command::Edit(a) => cmd::records::edit(&ctx, a),
        Command::Rm(a) => cmd::records::rm(&ctx, a),
        Command::Trash(c) => cmd::records::trash(&ctx, c),
        Command::Types => cmd::records::types(&ctx),
        Command::Grant(c) => cmd::share::grant(&ctx, c),
        Command::Storage(c) => cmd::storage::storage(&ctx, c),
        Command::Serve(a) => cmd::share::serve(&ctx, a),
        Command::Remote(c) => cmd::remote::remote(&ctx, c),
        Command::Log(a) => cmd::share::log(&ctx, a),
        Command::Export(a) => cmd::bundle::export(&ctx, a),
        Command::Import(a) => cmd::bundle::import(&ctx, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => output::report_error(cli.json, &e),
    }
}
