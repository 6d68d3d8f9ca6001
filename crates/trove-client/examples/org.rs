//! An organization reading what a person granted, from the command line: the end-to-end
//! test of the desktop app uses it as the "organization". Prints one JSON value.
//!
//! ```text
//! TROVE_TOKEN=trove_… cargo run -p trove-client --example org -- http://127.0.0.1:7878 records [TYPE]
//!                                                               … grant | record ID | revoke
//! ```
//! The token comes from `TROVE_TOKEN` (not an argument, so it stays out of process
//! listings). Exit codes: 0 ok, 2 usage, 3 unauthorized (unknown, revoked, expired or
//! used-up token), 4 insufficient scope, 5 not found, 6 rate limited, 7 unavailable
//! (vault locked), 1 anything else. On an error the JSON is `{"error", "message"}`.

use std::process::ExitCode;

use serde_json::{json, Value};
use trove_client::{Client, ClientError};

const USAGE: &str =
    "usage: TROVE_TOKEN=trove_… org BASE_URL (grant | records [TYPE] | record ID | revoke)";

fn code(e: &ClientError) -> (&'static str, u8) {
    let exit = match e {
        ClientError::Unauthorized(_) => 3,
        ClientError::InsufficientScope(_) => 4,
        ClientError::NotFound => 5,
        ClientError::RateLimited { .. } => 6,
        ClientError::Unavailable(_) => 7,
        ClientError::Config(_) => 2,
        _ => 1,
    };
    (e.code(), exit)
}

async fn run(client: &Client, cmd: &str, arg: Option<&str>) -> Result<Value, ClientError> {
    let to_json =
        |v: Result<Value, serde_json::Error>| v.map_err(|e| ClientError::Transport(e.to_string()));
    match (cmd, arg) {
        ("grant", None) => to_json(serde_json::to_value(client.grant().await?)),
        ("records", t) => Ok(json!({ "records": client.records(t).await? })),
        ("record", Some(id)) => to_json(serde_json::to_value(client.record(id).await?)),
        ("revoke", None) => client.revoke().await.map(|()| json!({ "revoked": true })),
        _ => Err(ClientError::Config(USAGE.into())),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(base), Some(cmd), Ok(token)) =
        (args.first(), args.get(1), std::env::var("TROVE_TOKEN"))
    else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match Client::new(base, &token) {
        Ok(client) => run(&client, cmd, args.get(2).map(String::as_str)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let (name, exit) = code(&e);
            println!("{}", json!({ "error": name, "message": e.to_string() }));
            eprintln!("org: {e}");
            ExitCode::from(exit)
        }
    }
}
