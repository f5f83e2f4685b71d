//! `mofc`: the MOF compiler front end.
//!
//! * `mofc check FILES...` — compile, print every diagnostic and a summary;
//!   exit 0 when there are no errors, 1 when there are, 2 on bad usage.
//! * `mofc dump --format mof|xml FILES...` — compile and print the model as
//!   MOF (the round-tripping printer) or as CIM-XML declarations.

use cim::{CimError, Class, Instance, QualifierDecl};
use clap::{Parser, Subcommand, ValueEnum};
use mof::{compile_files, Compiled, Compiler, MofSink, Options};
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

/// What `mofc check` reports: counts only, so that checking a whole schema
/// does not keep every resolved class.
#[derive(Default)]
struct Counts {
    qualifiers: usize,
    classes: usize,
    associations: usize,
    indications: usize,
    instances: usize,
}

impl MofSink for Counts {
    fn qualifier_decl(&mut self, _ns: &str, _q: QualifierDecl) -> Result<(), CimError> {
        self.qualifiers += 1;
        Ok(())
    }
    fn class(&mut self, ns: &str, c: Class) -> Result<(), CimError> {
        self.class_ref(ns, &c)
    }
    fn class_ref(&mut self, _ns: &str, c: &Class) -> Result<(), CimError> {
        self.classes += 1;
        self.associations += usize::from(c.is_association());
        self.indications += usize::from(c.is_indication());
        Ok(())
    }
    fn instance(&mut self, _ns: &str, _i: Instance) -> Result<(), CimError> {
        self.instances += 1;
        Ok(())
    }
}

/// Compiles for `mofc check`: prints the diagnostics; the counts and the
/// number of warnings when there is no error.
fn check(c: &Common) -> Result<(Counts, usize), ExitCode> {
    let options = options(c);
    let mut counts = Counts::default();
    let diags = {
        let mut compiler = Compiler::new(&options, &mut counts);
        compiler.deliver_as_checked(true);
        for f in &c.files {
            compiler.compile_file(f);
        }
        compiler.finish()
    };
    if diags.has_errors() {
        eprintln!("{diags}");
        return Err(ExitCode::from(1));
    }
    for w in &diags.0 {
        eprintln!("{w}");
    }
    Ok((counts, diags.0.len()))
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
            let (n, warnings) = match check(&common) {
                Ok(o) => o,
                Err(code) => return code,
            };
            if !quiet {
                println!(
                    "ok: {} qualifier declarations, {} classes ({} associations, {} indications), {} instances, {warnings} warnings in {:.3} s",
                    n.qualifiers,
                    n.classes,
                    n.associations,
                    n.indications,
                    n.instances,
                    start.elapsed().as_secs_f64()
                );
            }
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
