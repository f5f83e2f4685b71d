//! Serves plain files over NBD, for trying clients by hand.
//!
//! `cargo run -p native --example nbd_serve -- [--ro] FILE...` listens on
//! `$NBD_LISTEN` (default `127.0.0.1:10809`) and exports each file under its
//! absolute path, read-only after `--ro`; Ctrl-C stops it.

use native::nbd::{FileExport, NbdServer};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = std::env::var("NBD_BLOCKING_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        rt.max_blocking_threads(n);
    }
    rt.build()?.block_on(serve())
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let exports = FileExport::new();
    let mut read_only = false;
    for arg in std::env::args().skip(1) {
        if arg == "--ro" {
            read_only = true;
            continue;
        }
        let name = exports.add_file(&arg, read_only)?;
        println!(
            "exporting {name}{}",
            if read_only { " (read-only)" } else { "" }
        );
    }
    let addr = std::env::var("NBD_LISTEN").unwrap_or_else(|_| "127.0.0.1:10809".into());
    let server = NbdServer::bind(addr, Arc::new(exports)).await?;
    println!("listening on {}", server.local_addr()?);
    server
        .run_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
