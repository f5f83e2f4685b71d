//! The `iiadm` command: argument parsing ([`args`]), output formats
//! ([`output`]), the runner ([`run`]), the offline `session check`
//! ([`session`]) and `iiadm mirror` ([`mirror`]). `src/bin/iiadm.rs` only wires these
//! to the process; tests drive [`run_capture`] (or [`run::run_async`]) instead.

pub mod args;
pub mod doc;
pub mod mirror;
pub mod output;
pub mod run;
pub mod session;

use std::io::{IsTerminal, Write};

/// Runs `iiadm` with `argv` (without the program name) and the process's
/// environment and standard streams; returns the exit status.
pub fn main_with_args(argv: Vec<String>) -> i32 {
    let env = args::Env::from_process();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let parsed = match args::parse(argv, &env) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "iiadm: {e}");
            let _ = err.write_all(args::USAGE.as_bytes());
            return 2;
        }
    };
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut io = run::Io {
        out: &mut out,
        err: &mut err,
        progress_tty: std::io::stderr().is_terminal(),
        confirm: if interactive { Some(&mut input) } else { None },
    };
    let code = run::run(&parsed, &mut io);
    let _ = io.out.flush();
    code
}

/// Runs `iiadm` with `argv` (without the program name) on the caller's tokio
/// runtime, with `env` instead of the process environment, no terminal and no
/// prompts; returns `(exit status, stdout, stderr)`. Usage errors give status
/// 2 with the message and the usage summary on stderr, as the binary does.
pub async fn run_capture(argv: Vec<String>, env: &args::Env) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = match args::parse(argv, env) {
        Err(e) => {
            let _ = writeln!(err, "iiadm: {e}");
            let _ = err.write_all(args::USAGE.as_bytes());
            2
        }
        Ok(parsed) => {
            let mut io = run::Io {
                out: &mut out,
                err: &mut err,
                progress_tty: false,
                confirm: None,
            };
            run::run_async(&parsed, &mut io).await
        }
    };
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}
