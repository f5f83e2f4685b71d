//! `iiadm session check FILE [--json]`: reads a `copy-session/1` document
//! and validates it offline with the `sessions` parser (the same one
//! `cimomd` applies at CreateInstance of `DS_CopySession`, minus what needs
//! the hosts: volume roots, peers, scripts). Exit 0 with a summary when
//! valid, 1 with `FILE:LINE:COLUMN: message` lines (or their JSON form) when
//! not. The other `session` verbs need the runtime and do not exist yet.

use super::output;
use super::run::Io;
use serde_json::{json, Value};
use sessions::{Action, Session};
use std::path::Path;

fn action_text(a: &Action) -> String {
    match a {
        Action::Command { to_seq, cmd } => format!("{} {}", cmd.value, to_seq.value),
        Action::Notify(who) => format!("notify {}", who.value),
        Action::Run { script, timeout } => match timeout {
            Some(t) => format!(
                "run {} (timeout {})",
                script.value,
                sessions::format_duration(t.value)
            ),
            None => format!("run {}", script.value),
        },
    }
}

fn schedule_text(s: &sessions::Schedule) -> String {
    match s {
        sessions::Schedule::Every(d) => format!("every {}", sessions::format_duration(*d)),
        sessions::Schedule::At(m) => format!("at {:02}:{:02}", m / 60, m % 60),
    }
}

/// The human summary of a valid session.
pub fn summary(file: &str, s: &Session) -> String {
    let mut o = String::new();
    o.push_str(&format!(
        "{file}: valid copy-session/1 session {}\n",
        s.name.value
    ));
    let hosts: Vec<String> = s
        .hosts
        .iter()
        .map(|h| format!("{} ({})", h.id.value, h.url.value))
        .collect();
    o.push_str(&format!("  hosts: {}\n", hosts.join(", ")));
    let sols: Vec<&str> = s.solutions.iter().map(|x| x.name.value.as_str()).collect();
    o.push_str(&format!(
        "  solutions: {} ({} volumes each); home host {}\n",
        sols.join(", "),
        s.sequences.len() + 1,
        s.home_host().unwrap_or("-")
    ));
    for q in &s.sequences {
        let mut head = format!(
            "  sequence {}: {} {}",
            q.num.value, q.kind.value, q.characteristic.value
        );
        if let Some(m) = &q.mode {
            head.push_str(&format!(", mode {}", m.value));
        }
        if let Some(sc) = &q.schedule {
            head.push_str(&format!(", {}", schedule_text(&sc.value)));
        }
        o.push_str(&head);
        o.push('\n');
        for e in &q.events {
            let acts: Vec<String> = e.actions.iter().map(|a| action_text(&a.value)).collect();
            o.push_str(&format!("    {}: {}\n", e.event.value, acts.join(", ")));
        }
    }
    o
}

/// The `--json` form of a valid session.
pub fn summary_json(file: &str, s: &Session) -> Value {
    json!({
        "file": file,
        "valid": true,
        "session": s.name.value,
        "home": s.home_host(),
        "hosts": s.hosts.iter().map(|h| json!({"id": h.id.value, "url": h.url.value})).collect::<Vec<_>>(),
        "solutions": s.solutions.iter().map(|x| json!({
            "name": x.name.value,
            "volumes": x.volumes.iter().map(|v| json!({"host": v.host.value, "path": v.path.value})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "sequences": s.sequences.iter().map(|q| json!({
            "seq": q.num.value,
            "type": q.kind.value.to_string(),
            "characteristic": q.characteristic.value.to_string(),
            "mode": q.mode.as_ref().map(|m| m.value.to_string()),
            "schedule": q.schedule.as_ref().map(|x| schedule_text(&x.value)),
            "events": q.events.iter().map(|e| json!({
                "event": e.event.value.to_string(),
                "actions": e.actions.iter().map(|a| action_text(&a.value)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Runs `session check`; returns the exit status.
pub fn check(file: &Path, json: bool, io: &mut Io<'_>) -> i32 {
    let name = file.display().to_string();
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(io.err, "iiadm: cannot read {name}: {e}");
            return 1;
        }
    };
    match sessions::parse_bytes(&bytes) {
        Ok(s) => {
            let text = if json {
                output::json(&summary_json(&name, &s))
            } else {
                summary(&name, &s)
            };
            let _ = io.out.write_all(text.as_bytes());
            0
        }
        Err(e) => {
            if json {
                let messages: Vec<Value> = e
                    .diagnostics()
                    .iter()
                    .map(|d| json!({"line": d.pos.line, "column": d.pos.col, "message": d.message}))
                    .collect();
                let doc = json!({"file": name, "valid": false, "messages": messages});
                let _ = io.out.write_all(output::json(&doc).as_bytes());
            } else {
                for d in e.diagnostics() {
                    let _ = writeln!(io.err, "{name}:{d}");
                }
            }
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sessions/fixtures")
            .join(rel)
    }

    fn run(file: &Path, json: bool) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut io = Io {
            out: &mut out,
            err: &mut err,
            progress_tty: false,
            confirm: None,
        };
        let code = check(file, json, &mut io);
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    #[test]
    fn valid_document_prints_a_summary() {
        let (code, out, err) = run(&fixture("good/cppc.xml"), false);
        assert_eq!((code, err.as_str()), (0, ""));
        assert!(
            out.contains("valid copy-session/1 session cppc-demo"),
            "{out}"
        );
        assert!(
            out.contains("    onError: freeze 1, start 2, run site-switch.sh (timeout 30s)"),
            "{out}"
        );
        let (code, out, _) = run(&fixture("good/design-example.xml"), true);
        assert_eq!(code, 0);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["valid"], true);
        assert_eq!(v["sequences"][0]["events"][0]["actions"][0], "freeze 1");
        assert_eq!(v["sequences"][2]["characteristic"], "Synchronous");
    }

    #[test]
    fn invalid_document_gives_file_line_column_messages() {
        let f = fixture("bad/freeze-on-pit.xml");
        let (code, out, err) = run(&f, false);
        assert_eq!((code, out.as_str()), (1, ""));
        assert_eq!(
            err,
            format!(
                "{}:15:41: freeze of sequence 2: only Continuous sequences can be frozen (2 is Point-In-Time)\n",
                f.display()
            )
        );
        let (code, out, _) = run(&fixture("bad/unknown-attribute.xml"), true);
        assert_eq!(code, 1);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["valid"], false);
        assert_eq!(v["messages"][1]["line"], 7);
        assert_eq!(v["messages"][1]["column"], 23);
        assert_eq!(
            v["messages"][1]["message"],
            "unknown attribute pth on <VOLUME>"
        );
        let (code, _, err) = run(Path::new("/nonexistent/s.xml"), false);
        assert_eq!(code, 1);
        assert!(
            err.starts_with("iiadm: cannot read /nonexistent/s.xml:"),
            "{err}"
        );
    }
}
