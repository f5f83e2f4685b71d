//! `iiadm`: Instant Image administration, a thin front end over
//! [`client::cli`]. Exit status: 0 success, 1 the operation failed, 2 bad usage.

fn main() {
    if let Some(dir) = clidoc::requested() {
        std::process::exit(clidoc::run(client::cli::doc::command(), "1", &dir));
    }
    // Diagnostics only when asked for (`IIADM_LOG=debug`); stdout stays clean.
    if let Ok(filter) = std::env::var("IIADM_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(client::cli::main_with_args(argv));
}
