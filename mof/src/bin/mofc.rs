//! `mofc`: the MOF compiler front end (`mofc check FILES...`, `mofc dump --format mof|xml FILES...`).
fn main() {}
