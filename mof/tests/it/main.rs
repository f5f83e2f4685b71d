//! The `mof` crate's integration tests, one binary with a module per area:
//! the `mofc` command line, the DMTF schema corpus, diagnostics, the language
//! as compiled, and robustness on arbitrary input. `common` holds the shared
//! qualifier prelude and the `ok`/`errors` compile helpers.

#[cfg(feature = "cli")]
mod cli;
mod common;
mod corpus;
mod diagnostics;
mod language;
mod no_panic;
