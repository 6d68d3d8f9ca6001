//! A real S3 server (s3s-fs) on loopback for the desktop app's end-to-end test: staged
//! grants are uploaded to it and fetched from it by `trove-org`. Serves ROOT (one folder
//! per bucket; BUCKET is created) with SigV4 authentication for one key pair, prints
//! `http://127.0.0.1:PORT` once it accepts connections, and serves until it is killed.
//!
//! ```text
//! S3_SECRET=… cargo run -p trove-client --features local-s3 --example s3_server -- ROOT BUCKET ACCESS_KEY_ID
//! ```
//! The secret key comes from `S3_SECRET`, not an argument (process listings).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, bucket, key_id] = args.as_slice() else {
        anyhow::bail!("usage: S3_SECRET=… s3_server ROOT BUCKET ACCESS_KEY_ID");
    };
    let secret = std::env::var("S3_SECRET")
        .map_err(|_| anyhow::anyhow!("set S3_SECRET to the secret key"))?;
    std::fs::create_dir_all(std::path::Path::new(root).join(bucket))?;
    let s3 = trove_client::testing::LocalS3::start(std::path::Path::new(root), 0, key_id, &secret)
        .await?;
    println!("{}", s3.endpoint());
    // Runs until the process is stopped (the test kills it); the server goes with it.
    std::future::pending::<()>().await;
    Ok(())
}
