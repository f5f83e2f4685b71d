//! Errors in the `--config` TOML file that point at the line: an unknown key,
//! a value of the wrong type, a bad value, or a `state-dir` / `volume-root`
//! that exists but is not a directory. Every message has the form
//!
//! ```text
//! /etc/cimomd/cimomd.toml:7: key "max-connections": invalid type: string "many", expected usize
//! ```
//!
//! so that an administrator (or `systemctl status`) sees what to fix; `cimomd`
//! exits 2 on it.

use crate::config::{Args, Config};
use cimom::Error;
use std::path::{Path, PathBuf};

/// A configuration file and its text, kept to locate keys in errors.
#[derive(Debug, Clone)]
pub struct Source {
    path: PathBuf,
    text: String,
}

impl Source {
    /// Reads the file.
    pub fn read(path: &Path) -> Result<Source, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read configuration file {}: {e}",
                path.display()
            ))
        })?;
        Ok(Source {
            path: path.to_owned(),
            text,
        })
    }

    /// Builds a source from text (tests).
    pub fn from_text(path: &Path, text: &str) -> Source {
        Source {
            path: path.to_owned(),
            text: text.to_owned(),
        }
    }

    /// Deserialises the text; a failure names the file, line and key.
    pub fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        toml::from_str(&self.text).map_err(|e| {
            let message = e.message().trim_end().to_owned();
            match e.span() {
                Some(span) => {
                    let line = self.text[..span.start.min(self.text.len())]
                        .matches('\n')
                        .count()
                        + 1;
                    // The key is on the line: before '=' (a value error) or
                    // the span itself (an unknown key).
                    let text = self.text.lines().nth(line - 1).unwrap_or_default();
                    let key = text.split('=').next().unwrap_or_default().trim();
                    self.error(line, key, &message)
                }
                None => Error::Config(format!("{}: {message}", self.path.display())),
            }
        })
    }

    /// The 1-based line where `key` is set, if the file sets it.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| {
                let l = l.trim_start();
                l.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            })
            .map(|i| i + 1)
    }

    fn error(&self, line: usize, key: &str, message: &str) -> Error {
        Error::Config(format!(
            "{}:{line}: key {key:?}: {message}",
            self.path.display()
        ))
    }

    /// Rewrites a validation error that names a flag (`--listen …`) set in
    /// this file to point at the file's line instead.
    pub fn locate(&self, e: Error) -> Error {
        let Error::Config(msg) = &e else { return e };
        let Some(start) = msg.find("--") else {
            return e;
        };
        let key: String = msg[start + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        match self.line_of(&key) {
            Some(line) => self.error(line, &key, msg),
            None => e,
        }
    }
}

/// Refuses a state directory or volume root that exists but is not a
/// directory (a typo pointing at a file or device would otherwise fail late,
/// or worse, half-work). Missing ones are created at start.
pub fn check_dirs(config: &Config, args: &Args, source: Option<&Source>) -> Result<(), Error> {
    let not_dir = |key: &str, path: &Path, from_flags: bool| -> Result<(), Error> {
        if !path.exists() || path.is_dir() {
            return Ok(());
        }
        let cause = format!("{} exists but is not a directory", path.display());
        match source.filter(|_| !from_flags) {
            Some(s) => Err(match s.line_of(key) {
                Some(line) => s.error(line, key, &cause),
                None => Error::Config(format!("{}: key {key:?}: {cause}", s.path.display())),
            }),
            None => Err(Error::Config(format!("--{key}: {cause}"))),
        }
    };
    not_dir("state-dir", &config.state_dir, args.state_dir.is_some())?;
    for root in &config.volume_roots {
        not_dir("volume-root", root, !args.volume_root.is_empty())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        let s = Source::from_text(Path::new("/etc/c.toml"), text);
        #[derive(serde::Deserialize, Debug)]
        #[serde(rename_all = "kebab-case", deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            log: Option<String>,
            max_connections: Option<usize>,
        }
        s.deserialize::<T>().unwrap_err().to_string()
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_file_line_and_key() {
        let e = err("log = \"info\"\n\nmax-conections = 3\n");
        assert!(e.contains("/etc/c.toml:3: key \"max-conections\""), "{e}");
        let e = err("# comment\nmax-connections = \"many\"\n");
        assert!(e.contains("/etc/c.toml:2: key \"max-connections\""), "{e}");
        assert!(e.contains("invalid type"), "{e}");
    }

    #[test]
    fn flag_errors_are_located_in_the_file() {
        let s = Source::from_text(Path::new("c.toml"), "\nlisten = \"nonsense\"\n");
        let e = s.locate(Error::Config(
            "--listen \"nonsense\" is not an address".into(),
        ));
        assert!(e.to_string().contains("c.toml:2: key \"listen\""), "{e}");
    }

    /// The packaged `/etc/cimomd/cimomd.toml` documents every key (each long
    /// flag but `--config`), parses, and keeps volumes under
    /// `/var/lib/cimomd/volumes`; uncommenting every key still gives values of the right types.
    #[test]
    fn packaged_config_has_every_key_and_parses() {
        use clap::CommandFactory;
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/cimomd.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let c = Config::from_toml(&text).unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/cimomd"));
        assert_eq!(
            c.volume_roots,
            vec![PathBuf::from("/var/lib/cimomd/volumes")]
        );
        let uncommented: String = text
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest)
                    if rest.split('=').next().is_some_and(|k| {
                        let k = k.trim();
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    }) =>
                {
                    rest
                }
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let src = Source::from_text(&path, &uncommented);
        for arg in Args::command().get_arguments() {
            let Some(key) = arg.get_long() else { continue };
            if key == "config" || key == "help" || key == "version" {
                continue;
            }
            assert!(
                src.line_of(key).is_some(),
                "{key} is not in {}",
                path.display()
            );
        }
        // Every key has a value of its type; combinations (socket keys with
        // a TCP endpoint, say) are checked by `Config::from_toml` above.
        src.deserialize::<crate::config::FileConfig>().unwrap();
    }
}
