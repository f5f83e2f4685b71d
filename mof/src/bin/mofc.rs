//! `mofc`: the MOF compiler front end.
//!
//! * `mofc check FILES...` — compile, print every diagnostic and a summary;
//!   exit 0 when there are no errors, 1 when there are, 2 on bad usage.
//! * `mofc dump --format mof|xml FILES...` — compile and print the model as
//!   MOF (the round-tripping printer) or as CIM-XML declarations.

use clap::{Parser, Subcommand, ValueEnum};
use mof::{compile_files, Compiled, Options};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "mofc", version, about = "DSP0004 MOF compiler")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
struct Common {
    /// Directories searched for `#pragma include` files, and for `<Class>.mof`
    /// files defining classes used but not declared (as pywbem does).
    #[arg(short = 'I', long = "include")]
    include: Vec<PathBuf>,
    /// Namespace for declarations before any `#pragma namespace`.
    #[arg(short, long, default_value = mof::DEFAULT_NAMESPACE)]
    namespace: String,
    /// MOF files to compile.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compile and report diagnostics.
    Check {
        #[command(flatten)]
        common: Common,
        /// Print nothing but diagnostics.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Compile and print the model.
    Dump {
        #[command(flatten)]
        common: Common,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Mof)]
        format: Format,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Mof,
    Xml,
}

fn options(c: &Common) -> Options {
    Options {
        namespace: c.namespace.clone(),
        include_dirs: c.include.clone(),
        ..Options::default()
    }
}

fn compile(c: &Common) -> Result<Compiled, ExitCode> {
    match compile_files(&c.files, &options(c)) {
        Ok(out) => {
            for w in &out.warnings {
                eprintln!("{w}");
            }
            Ok(out)
        }
        Err(diags) => {
            eprintln!("{diags}");
            Err(ExitCode::from(1))
        }
    }
}

fn main() -> ExitCode {
    if let Some(dir) = clidoc::requested() {
        let code = clidoc::run(<Cli as clap::CommandFactory>::command(), "1", &dir);
        return ExitCode::from(code as u8);
    }
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Check { common, quiet } => {
            let start = Instant::now();
            let out = match compile(&common) {
                Ok(o) => o,
                Err(code) => return code,
            };
            if !quiet {
                let assoc = out.classes.iter().filter(|c| c.is_association()).count();
                let ind = out.classes.iter().filter(|c| c.is_indication()).count();
                println!(
                    "ok: {} qualifier declarations, {} classes ({assoc} associations, {ind} indications), {} instances, {} warnings in {:.3} s",
                    out.qualifiers.len(),
                    out.classes.len(),
                    out.instances.len(),
                    out.warnings.len(),
                    start.elapsed().as_secs_f64()
                );
            }
            // The process ends here: let the OS reclaim the model instead of
            // freeing hundreds of thousands of allocations one by one.
            std::mem::forget(out);
            ExitCode::SUCCESS
        }
        Cmd::Dump { common, format } => {
            let out = match compile(&common) {
                Ok(o) => o,
                Err(code) => return code,
            };
            match format {
                Format::Mof => print!("{}", mof::print::to_mof(&out)),
                Format::Xml => print!("{}", mof::print::to_xml(&out)),
            }
            ExitCode::SUCCESS
        }
    }
}
