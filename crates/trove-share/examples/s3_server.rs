//! A real S3 server (s3s-fs) on loopback for the desktop app's end-to-end test: staged
//! grants are uploaded to it and fetched from it by `trove-org`. Serves ROOT (one folder
//! per bucket; BUCKET is created) with SigV4 authentication for one key pair, prints
//! `http://127.0.0.1:PORT` once it accepts connections, and serves until it is killed.
//!
//! ```text
//! S3_SECRET=… cargo run -p trove-share --example s3_server -- ROOT BUCKET ACCESS_KEY_ID
//! ```
//! The secret key comes from `S3_SECRET`, not an argument (process listings).

use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, bucket, key_id] = args.as_slice() else {
        return Err("usage: S3_SECRET=… s3_server ROOT BUCKET ACCESS_KEY_ID".into());
    };
    let secret = std::env::var("S3_SECRET").map_err(|_| "set S3_SECRET to the secret key")?;
    std::fs::create_dir_all(std::path::Path::new(root).join(bucket))?;
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| format!("can't serve {root}: {e:?}"))?;
    let mut b = S3ServiceBuilder::new(fs);
    b.set_auth(SimpleAuth::from_single(key_id.as_str(), secret.as_str()));
    let svc = b.build();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    println!("http://{}", listener.local_addr()?);
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        let svc = svc.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(sock);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
    }
}
