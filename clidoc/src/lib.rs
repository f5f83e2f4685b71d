//! Man pages and shell completions generated from a command's clap
//! definition, so the documentation cannot drift from the parser.
//!
//! Each binary (`cimomd`, `iiadm`, `mofc`, `iimgr`) answers a hidden first
//! argument `--generate-docs DIR` ([`requested`]) by writing ([`generate`]):
//!
//! ```text
//! DIR/man/NAME.SECTION                     roff (clap_mangen)
//! DIR/completions/bash/NAME                bash-completion (clap_complete)
//! DIR/completions/zsh/_NAME                zsh
//! DIR/completions/fish/NAME.fish           fish
//! ```
//!
//! `scripts/package.sh` calls it and cargo-deb installs the files under
//! `/usr/share/man/manN`, `/usr/share/bash-completion/completions`,
//! `/usr/share/zsh/vendor-completions` and
//! `/usr/share/fish/vendor_completions.d`.

pub use clap;
use clap_complete::Shell;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The directory of a leading `--generate-docs DIR` in the process's
/// arguments, if that is how the binary was invoked.
pub fn requested() -> Option<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    (args.next()? == "--generate-docs").then(|| args.next().map(PathBuf::from))?
}

/// Writes the man page (in `section`) and the bash, zsh and fish completions
/// of `cmd` under `dir`.
pub fn generate(cmd: clap::Command, section: &str, dir: &Path) -> io::Result<()> {
    let name = cmd.get_name().to_owned();
    let man_dir = dir.join("man");
    std::fs::create_dir_all(&man_dir)?;
    let mut out = BufWriter::new(File::create(man_dir.join(format!("{name}.{section}")))?);
    clap_mangen::Man::new(cmd.clone())
        .section(section)
        .manual(if section == "8" {
            "System Manager's Manual"
        } else {
            "User Commands"
        })
        .render(&mut out)?;
    out.flush()?;
    for (shell, file) in [
        (Shell::Bash, name.clone()),
        (Shell::Zsh, format!("_{name}")),
        (Shell::Fish, format!("{name}.fish")),
    ] {
        let sub = dir.join("completions").join(shell.to_string());
        std::fs::create_dir_all(&sub)?;
        let mut out = BufWriter::new(File::create(sub.join(file))?);
        clap_complete::generate(shell, &mut cmd.clone(), &name, &mut out);
        out.flush()?;
    }
    Ok(())
}

/// Runs [`generate`] for a binary's `main` and turns the result into its exit
/// status (0, or 1 with the error on stderr).
pub fn run(cmd: clap::Command, section: &str, dir: &Path) -> i32 {
    match generate(cmd, section, dir) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cannot write the documentation into {}: {e}", dir.display());
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_page_and_completions() {
        let dir = std::env::temp_dir().join(format!("clidoc-test-{}", std::process::id()));
        let cmd = clap::Command::new("demo")
            .about("A demo")
            .arg(clap::Arg::new("level").long("level").help("How much"));
        generate(cmd, "1", &dir).unwrap();
        let page = std::fs::read_to_string(dir.join("man/demo.1")).unwrap();
        assert!(
            page.contains(".TH demo 1") && page.contains("How much"),
            "{page}"
        );
        let bash = std::fs::read_to_string(dir.join("completions/bash/demo")).unwrap();
        assert!(bash.contains("--level"));
        assert!(dir.join("completions/zsh/_demo").exists());
        assert!(dir.join("completions/fish/demo.fish").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
