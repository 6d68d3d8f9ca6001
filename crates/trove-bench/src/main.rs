//! trove-bench: Trove's benchmark suites, each measured against a baseline in the same
//! run. `cargo run --release -p trove-bench -- SUITE [--records N] [options]`.
//!
//! Every suite prints progress on stderr and, as the LAST line of stdout, one JSON object
//! with its figures (docs/benchmarks.md names them). To add a suite: write `src/NAME.rs`
//! with `pub fn run(args: &mut Args) -> anyhow::Result<serde_json::Value>`, add `mod NAME;`
//! below and replace its `None` in [`SUITES`] with `Some(NAME::run)`.

mod app;
mod bundle;
mod common;
mod import;
mod procs;
mod remote;
mod share;
mod share_import;
mod staged;
mod vault;
mod webdriver;

use std::process::ExitCode;

use common::{Args, UsageError};

/// A suite's entry point: reads its options from `args`, returns the final JSON object.
type SuiteFn = fn(&mut Args) -> anyhow::Result<serde_json::Value>;

/// The suites, in the order `--help` lists them. `None`: not built yet.
const SUITES: &[(&str, Option<SuiteFn>)] = &[
    ("vault", Some(vault::run)),
    ("share", Some(share::run)),
    ("bundle", Some(bundle::run)),
    ("app", Some(app::run)),
    ("remote", Some(remote::run)),
    ("staged", Some(staged::run)),
    ("import", Some(import::run)),
    ("share-during-import", Some(share_import::run)),
];

const USAGE: &str = "usage: trove-bench SUITE [--records N] [--dir DIR] [--keep] [suite options]
suites: vault, share, bundle, app, remote, staged, import, share-during-import
  --records N   how many records the suite works on (each suite has its own default)
  --dir DIR     work in DIR (must not exist yet) instead of a temporary directory
  --keep        keep the work directory afterwards
The last line of stdout is one JSON object with the suite's figures; progress goes to stderr.";

fn main() -> ExitCode {
    let mut args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => return usage(&e.0),
    };
    if args.help {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let Some((name, suite)) = SUITES.iter().find(|(n, _)| *n == args.suite) else {
        return usage(&format!("unknown suite {:?}", args.suite));
    };
    let Some(run) = suite else {
        eprintln!("trove-bench: suite {name} is not built yet (see docs/benchmarks.md)");
        return ExitCode::from(2);
    };
    match run(&mut args) {
        Ok(mut json) => {
            if let Some(obj) = json.as_object_mut() {
                obj.insert("suite".into(), (*name).into());
            }
            common::print_json_last_line(&json);
            ExitCode::SUCCESS
        }
        Err(e) if e.is::<UsageError>() => usage(&e.to_string()),
        Err(e) => {
            eprintln!("trove-bench: suite {name} failed: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("trove-bench: {msg}\n{USAGE}");
    ExitCode::from(2)
}
