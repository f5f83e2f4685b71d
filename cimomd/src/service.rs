//! Running `cimomd` as a system service (systemd `Type=notify`, see
//! `packaging/cimomd.service`):
//!
//! * [`init_logging`]: journald (crate `tracing-journald`) when systemd
//!   started us — `JOURNAL_STREAM` names our stderr, or `INVOCATION_ID` is
//!   set and the journal socket exists — plain stderr otherwise.
//! * [`ready`]: `READY=1` (crate `sd-notify`) once HTTP and NBD listen and
//!   every set is restored; a no-op without `NOTIFY_SOCKET`.
//! * [`watchdog`]: `WATCHDOG=1` every half `WATCHDOG_USEC` while the engine
//!   answers a status query in time; when it does not, the keepalive is
//!   withheld and systemd restarts the service (`WatchdogSec=`).
//! * [`reload_on_sighup`]: `systemctl reload` (SIGHUP) re-reads the users
//!   file and the TLS certificate and key ([`cimom::server::Reloader`]),
//!   announcing `RELOADING=1` then `READY=1`. Connections and copies go on.

use cimom::server::Reloader;
use native::Engine;
use sd_notify::NotifyState;
use std::io::IsTerminal;
use std::time::Duration;

/// Whether systemd's journal should get our logs.
fn journald_wanted() -> bool {
    if let Ok(stream) = std::env::var("JOURNAL_STREAM") {
        // "DEV:INODE" of the stream systemd connected; only if it is still
        // our stderr (not redirected by a wrapper).
        use std::os::unix::fs::MetadataExt;
        let stderr = std::fs::metadata("/proc/self/fd/2");
        if let (Some((dev, ino)), Ok(meta)) = (stream.split_once(':'), stderr) {
            if dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino()) {
                return true;
            }
        }
    }
    std::env::var_os("INVOCATION_ID").is_some()
        && std::path::Path::new("/run/systemd/journal/socket").exists()
}

/// Installs the tracing subscriber for `filter` (an `EnvFilter` directive).
pub fn init_logging(filter: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("cimomd: --log {filter:?} is not a valid filter ({e}); using info");
        EnvFilter::new("info")
    });
    if journald_wanted() {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer.with_syslog_identifier("cimomd".into());
                let _ = tracing_subscriber::registry()
                    .with(filter)
                    .with(layer)
                    .try_init();
                return;
            }
            Err(e) => eprintln!("cimomd: journald is not reachable ({e}); logging to stderr"),
        }
    }
    // Colours only on a terminal: logs redirected to a file stay plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// Tells the service manager that the service is ready.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells the service manager that the service is stopping.
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

/// Sends `WATCHDOG=1` while the engine is healthy, if the service manager
/// asked for keepalives. Runs until the task is dropped.
pub async fn watchdog(engine: Engine) {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let period = Duration::from_micros(usec) / 2;
    tracing::info!(period_ms = period.as_millis() as u64, "systemd watchdog on");
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let e = engine.clone();
        let probe = tokio::task::spawn_blocking(move || e.sets().len());
        match tokio::time::timeout(period, probe).await {
            Ok(Ok(_)) => notify(&[NotifyState::Watchdog]),
            _ => tracing::error!(
                "the imaging engine did not answer in time: watchdog keepalive withheld"
            ),
        }
    }
}

/// Re-reads credentials and certificates on every SIGHUP. Runs until the
/// task is dropped.
pub async fn reload_on_sighup(reloader: Reloader) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install the SIGHUP handler: reload is off");
            return;
        }
    };
    while hup.recv().await.is_some() {
        notify(&[NotifyState::Reloading]);
        match reloader.reload() {
            Ok(()) => {
                tracing::info!("reloaded the users file and TLS certificates");
                eprintln!("cimomd: reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, "reload failed; the previous settings stay in use")
            }
        }
        notify(&[NotifyState::Ready]);
    }
}
