//! `iimgr`: the Instant Image management server (see the `iiconsole` crate (directory `console/`)).
//!
//! ```text
//! iimgr [--listen ADDR] [--https-listen ADDR --tls-cert PEM --tls-key PEM]
//!       [--users FILE] [--config console.toml] [--insecure] [--announce-token-file FILE]
//! ```
//!
//! Prints `iimgr: listening on http://ADDR` per endpoint (with the real port
//! when port 0 was asked). Exit status 2 on bad flags or configuration, 1 on
//! a runtime failure. `iimgr --generate-docs DIR` writes iimgr(8) and the
//! shell completions (crate `clidoc`).

use clap::Parser;
use iiconsole::config::{Args, Config};
use iiconsole::events::Journal;
use iiconsole::hosts::Registry;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    if let Some(dir) = clidoc::requested() {
        let code = clidoc::run(<Args as clap::CommandFactory>::command(), "8", &dir);
        return ExitCode::from(code as u8);
    }
    let args = Args::parse();
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("iimgr: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("iimgr: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let r = rt.block_on(async move {
        let registry = Registry::new(
            Arc::new(Journal::default()),
            config.host_timeout,
            config.indication_listen,
            config.announce_token.clone(),
        );
        for h in &config.hosts {
            registry.add_configured(h)?;
        }
        registry.start_sweeper();
        tokio::select! {
            r = iiconsole::server::run(config, registry) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = terminated() => Ok(()),
        }
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ iiconsole::Error::Config(_)) => {
            eprintln!("iimgr: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("iimgr: {e}");
            ExitCode::from(1)
        }
    }
}

async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
