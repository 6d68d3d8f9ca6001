//! An iroh relay on loopback for the desktop app's end-to-end test (and for trying
//! remote sharing on one computer): prints `http://127.0.0.1:PORT` once it accepts
//! connections, then relays until it is killed. Never a public relay.
//!
//! ```text
//! cargo run -p trove-client --features test-utils --example local_relay
//! ```

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let relay = trove_client::testing::LocalRelay::spawn().await?;
    println!("{}", relay.url());
    // Runs until the process is stopped (the test kills it); the relay goes with it.
    std::future::pending::<()>().await;
    Ok(())
}
