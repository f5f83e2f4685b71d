//! `cimomd`: the CIM object manager with the Instant Image providers, the
//! imaging engine and its NBD export (interface.md §1). Glue only.
//!
//! ```text
//! cimomd [FLAGS]                                   serve (flags: cimomd::config::Args,
//!                                                  cimom::announce::AnnounceArgs)
//! cimomd [FLAGS] load-mof [--namespace NS] FILES…  compile MOF into <state-dir>'s repository
//! cimomd hash-password [USER]                      read a password on stdin, print a users-file line
//! ```
//!
//! Serving: parse the flags (and `--config`), install the tracing subscriber
//! from `--log`, open the engine (state in `<state-dir>/engine`, volumes under
//! the `--volume-root`s, the default `<state-dir>/volumes` created when
//! missing), open the object manager with the providers registered and
//! `DS_II.mof` bundled, forward engine events as indications, start the NBD
//! server and the HTTP(S) endpoints, and print one line per endpoint on stderr:
//!
//! ```text
//! cimomd: listening on http://127.0.0.1:5988
//! cimomd: listening on nbd://127.0.0.1:10809
//! ```
//!
//! with the real port when port 0 was asked (tests parse these lines). On
//! SIGINT or SIGTERM: stop accepting, drain, stop the NBD server, then
//! `Engine::shutdown` (copies stopped, bitmaps flushed and marked clean).
//! Exit status: 0 after a clean shutdown, 1 on a runtime failure, 2 on bad
//! flags or configuration.

use anyhow::Context;
use cimom::BundledMof;
use cimomd::config::{Args, Config};
use clap::{Parser, Subcommand};
use native::{Engine, EngineConfig, ExportSource};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Debug, Parser)]
#[command(
    name = "cimomd",
    version,
    about = "CIM object manager (CIM-XML over HTTP/HTTPS) with the Instant Image providers and NBD export",
    args_conflicts_with_subcommands = false
)]
struct Cli {
    #[command(flatten)]
    args: Args,
    #[command(flatten)]
    announce: cimom::announce::AnnounceArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compile MOF files into the repository of --state-dir (cimomd must not be running on it)
    LoadMof {
        /// Target namespace (created when missing)
        #[arg(long, default_value = "root/cimv2", value_name = "NS")]
        namespace: String,
        /// Repository location (overrides the --state-dir given before the subcommand)
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// MOF files, compiled in order
        #[arg(required = true, value_name = "FILES")]
        files: Vec<PathBuf>,
    },
    /// Read a password from standard input and print its hash (argon2id) for the users file
    HashPassword {
        /// Print `USER:HASH`, a whole users-file line
        user: Option<String>,
    },
}

/// The MOF compiled into `root/cimv2` at the first start (and when it changes).
fn bundled() -> [BundledMof; 2] {
    [
        BundledMof {
            namespace: providers::NAMESPACE,
            name: providers::DS_II_MOF_NAME,
            text: providers::DS_II_MOF,
        },
        BundledMof {
            namespace: providers::NAMESPACE,
            name: providers::DS_II_MIRROR_MOF_NAME,
            text: providers::DS_II_MIRROR_MOF,
        },
    ]
}

fn main() -> ExitCode {
    if let Some(dir) = clidoc::requested() {
        let code = clidoc::run(<Cli as clap::CommandFactory>::command(), "8", &dir);
        return ExitCode::from(code as u8);
    }
    let cli = Cli::parse();
    match cli.command {
        Some(Command::HashPassword { user }) => exit(hash_password(user.as_deref()), 1),
        Some(Command::LoadMof {
            namespace,
            state_dir,
            files,
        }) => {
            let config = match Config::from_args(&cli.args) {
                Ok(c) => c,
                Err(e) => return usage_error(&e),
            };
            init_tracing(&config.log);
            let dir = state_dir.unwrap_or(config.state_dir);
            exit(load_mof(&dir, &namespace, &files), 1)
        }
        None => {
            let config = match Config::from_args(&cli.args) {
                Ok(c) => c,
                Err(e) => return usage_error(&e),
            };
            init_tracing(&config.log);
            // Before the runtime's threads exist.
            cimom::server::tune_allocator(config.malloc_arenas);
            let peers = match &config.peers {
                Some(path) => match cimomd::peers::PeersFile::load(path) {
                    Ok(p) => p,
                    Err(e) => return usage_error(&e),
                },
                None => cimomd::peers::PeersFile {
                    local_name: providers::peers::local_host_name(),
                    peers: Vec::new(),
                },
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cimomd: cannot start the async runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            exit(runtime.block_on(serve(config, peers, cli.announce)), 1)
        }
    }
}

fn usage_error(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("cimomd: {e}");
    ExitCode::from(2)
}

fn exit(result: anyhow::Result<()>, code: u8) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cimomd: {}", chain(&e));
            ExitCode::from(code)
        }
    }
}

/// The error and its causes joined by ": ", skipping a cause whose text the
/// previous message already ends with (errors that print their source).
fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn init_tracing(filter: &str) {
    cimomd::service::init_logging(filter);
}

fn hash_password(user: Option<&str>) -> anyhow::Result<()> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(
        !password.is_empty(),
        "empty password: give it on standard input"
    );
    let hash = cimom::auth::hash_password(password);
    match user {
        Some(u) => {
            anyhow::ensure!(
                !u.is_empty() && !u.contains(':') && !u.contains(char::is_whitespace),
                "user name {u:?} must be non-empty without ':' or whitespace"
            );
            println!("{u}:{hash}");
        }
        None => println!("{hash}"),
    }
    Ok(())
}

fn load_mof(state_dir: &Path, namespace: &str, files: &[PathBuf]) -> anyhow::Result<()> {
    // No providers: compiling needs the repository only.
    let cimom = cimom::Cimom::open(
        state_dir,
        cimom::provider::ProviderRegistry::new(),
        &bundled(),
    )
    .with_context(|| format!("cannot open the repository in {}", state_dir.display()))?;
    let report = cimom
        .load_mof(namespace, files)
        .with_context(|| format!("cannot compile into namespace {namespace}"))?;
    // A load commits once per declaration; compacting returns the pages those
    // commits left behind (the file shrinks several times over).
    drop(cimom);
    cimom::repository::compact(&state_dir.join(cimom::repository::FILE_NAME))
        .with_context(|| format!("cannot compact the repository in {}", state_dir.display()))?;
    println!(
        "cimomd: loaded into {namespace}: {} qualifier(s), {} class(es) created, {} modified, {} instance(s)",
        report.qualifiers, report.classes_created, report.classes_modified, report.instances
    );
    Ok(())
}

/// Installs the SIGINT and SIGTERM handlers now, and returns a future that
/// resolves when either signal arrives. The handlers are installed before
/// the future is spawned so that a signal sent right after the ports are
/// printed is never lost to the default action. When SIGTERM cannot be
/// installed the future waits for SIGINT only, after logging why (better to
/// stop than to be unkillable).
fn signalled() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        let mut int = match int {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot install the SIGINT handler");
                None
            }
        };
        let interrupted = async {
            match int.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        match term {
            Ok(mut term) => tokio::select! {
                _ = interrupted => tracing::info!("SIGINT received, shutting down"),
                _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot install the SIGTERM handler");
                interrupted.await;
                tracing::info!("SIGINT received, shutting down");
            }
        }
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn serve(
    mut config: Config,
    peers: cimomd::peers::PeersFile,
    announce: cimom::announce::AnnounceArgs,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create the state dir {}", config.state_dir.display()))?;
    if config.server.https_listen.is_some() && config.server.tls.is_none() {
        let pair = cimom::selfsigned::ensure(&config.state_dir)?;
        let verb = if pair.created { "made" } else { "using" };
        eprintln!(
            "cimomd: {verb} self-signed certificate {} (SHA-256 fingerprint {})",
            pair.files.cert.display(),
            pair.fingerprint
        );
        config.server.tls = Some(pair.files);
    }
    for root in &config.volume_roots {
        if !root.exists() {
            std::fs::create_dir_all(root)
                .with_context(|| format!("cannot create the volume root {}", root.display()))?;
            tracing::info!(root = %root.display(), "volume root created");
        }
    }

    let mut engine_cfg =
        EngineConfig::new(config.state_dir.join("engine"), config.volume_roots.clone());
    // Mirrors reach their secondaries through the peers file.
    let peers = Arc::new(peers);
    engine_cfg.links = Some(native::mirror::Links(Arc::new(
        cimomd::peers::PeerLinks::new(
            peers.clone(),
            cimomd::peers::nbd_links()?,
            tokio::runtime::Handle::current(),
        ),
    )));
    // The engine and the repository open side by side (both mostly wait on
    // the disk); the providers are registered once both are there.
    let state_dir = config.state_dir.clone();
    let options = config.caches.options();
    let (engine, cimom) = tokio::join!(
        tokio::task::spawn_blocking(move || Engine::open(engine_cfg)),
        tokio::task::spawn_blocking(move || {
            let none = cimom::provider::ProviderRegistry::new();
            cimom::Cimom::open_with_options(&state_dir, none, &bundled(), options)
        }),
    );
    let engine = engine
        .context("the engine start panicked")?
        .context("cannot open the imaging engine")?;
    tracing::info!(sets = engine.sets().len(), "imaging engine open");
    let cimom = cimom
        .context("the repository start panicked")?
        .with_context(|| {
            format!(
                "cannot open the repository in {}",
                config.state_dir.display()
            )
        })?;

    // NBD bound first: DS_Volume reports its real address.
    let source: Arc<dyn ExportSource> = Arc::new(engine.clone());
    let nbd = cimomd::nbd::bind(&config, source)
        .await
        .map_err(anyhow::Error::msg)?;
    let reach = nbd.as_ref().map(|(_, r)| r.clone()).unwrap_or_default();
    let backend = providers::backend::Backend::new(engine.clone())
        .with_peers(Arc::new(cimomd::peers::PeerDirectory(peers)));
    cimom.set_providers(providers::registry_for(backend, reach));

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let on_signal = stop_tx.clone();
    let signal = signalled();
    tokio::spawn(async move {
        signal.await;
        let _ = on_signal.send(true);
    });

    // NBD first, so that its port is known before clients see the CIM port.
    let nbd_task = match nbd {
        Some((server, reach)) => {
            for uri in reach.uris("") {
                eprintln!("cimomd: listening on {}", uri.trim_end_matches('/'));
            }
            Some(tokio::spawn(server.run_until(stopped(stop_rx.clone()))))
        }
        None => None,
    };

    let metrics_task = match config.server.metrics_listen {
        Some(addr) => {
            let endpoint = cimom::metrics::Endpoint::bind(addr)
                .await
                .context("cannot start the metrics endpoint")?;
            cimomd::metrics::install(&engine);
            if let Some(a) = endpoint.local_addr() {
                eprintln!("cimomd: metrics on http://{a}/metrics");
            }
            Some(tokio::spawn(endpoint.run(stopped(stop_rx.clone()))))
        }
        None => None,
    };
    let server = cimom::server::Server::bind(&config.server, cimom.clone())
        .await
        .context("cannot start the CIM-XML endpoints")?;
    let reload_task = tokio::spawn(cimomd::service::reload_on_sighup(
        server.reloader(&config.server),
    ));
    // After `bind`, which installs indication delivery: nothing published is lost.
    let forwarder = providers::indication::Forwarder::start(engine.clone(), cimom.handle())
        .context("cannot start the indication forwarder")?;
    if let Some(a) = server.local_addr() {
        eprintln!("cimomd: listening on http://{a}");
    }
    if let Some(a) = server.https_local_addr() {
        eprintln!("cimomd: listening on https://{a}");
    }
    let announcer = cimom::announce::Announcer::from_args(
        &announce,
        server.local_addr().map(|a| format!("http://{a}")),
    )?
    .map(|a| tokio::spawn(a.run()));
    cimomd::service::ready(&format!("serving {} set(s)", engine.sets().len()));
    let watchdog_task = tokio::spawn(cimomd::service::watchdog(engine.clone()));
    let served = server.run(stopped(stop_rx.clone())).await;
    cimomd::service::stopping();
    for task in [reload_task, watchdog_task] {
        task.abort();
    }
    if let Some(task) = metrics_task {
        task.abort();
    }
    if let Some(a) = announcer {
        a.abort();
    }

    // Whatever ended the HTTP side, stop everything else in order.
    let _ = stop_tx.send(true);
    if let Some(task) = nbd_task {
        match tokio::time::timeout(std::time::Duration::from_secs(15), task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "NBD server ended with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "NBD server task failed"),
            Err(_) => tracing::warn!("NBD server did not drain in time"),
        }
    }
    forwarder.stop();
    tokio::task::spawn_blocking(move || engine.shutdown())
        .await
        .context("engine shutdown panicked")?;
    tracing::info!("cimomd stopped");
    served.context("the CIM-XML server failed")
}
