//! The canonical XML form of a session: what `DS_CopySession.document`
//! holds and what is transmitted. Stable (same session, same bytes): UTF-8
//! declaration, two-space indentation, elements in schema order, sequences by
//! SEQ_NUM, enumerations in their canonical spelling, CHARACTERISTIC always
//! written, durations in their largest whole unit, no comments.
//! `parse(to_xml(s)) == s` for every valid session.

use crate::model::*;
use crate::NAMESPACE;
use std::fmt::Write;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// The canonical document of `s`.
pub fn to_xml(s: &Session) -> String {
    let mut o = String::new();
    // Writing into a String cannot fail.
    let _ = write_session(&mut o, s);
    o
}

fn write_session(o: &mut String, s: &Session) -> std::fmt::Result {
    writeln!(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        o,
        "<SESSION name=\"{}\" xmlns=\"{NAMESPACE}\">",
        esc(&s.name.value)
    )?;
    for h in &s.hosts {
        writeln!(
            o,
            "  <HOST id=\"{}\" url=\"{}\"/>",
            esc(&h.id.value),
            esc(&h.url.value)
        )?;
    }
    for sol in &s.solutions {
        writeln!(o, "  <SOLUTION name=\"{}\">", esc(&sol.name.value))?;
        for v in &sol.volumes {
            writeln!(
                o,
                "    <VOLUME host=\"{}\" path=\"{}\"/>",
                esc(&v.host.value),
                esc(&v.path.value)
            )?;
        }
        writeln!(o, "  </SOLUTION>")?;
    }
    for q in &s.sequences {
        writeln!(o, "  <SEQUENCE>")?;
        writeln!(o, "    <SEQ_NUM>{}</SEQ_NUM>", q.num.value)?;
        writeln!(o, "    <TYPE>{}</TYPE>", q.kind.value)?;
        writeln!(
            o,
            "    <CHARACTERISTIC>{}</CHARACTERISTIC>",
            q.characteristic.value
        )?;
        if let Some(m) = &q.mode {
            writeln!(
                o,
                "    <CMDFLAGS><CMD>startFlags</CMD><MODE>{}</MODE></CMDFLAGS>",
                m.value
            )?;
        }
        match q.schedule.as_ref().map(|s| s.value) {
            Some(Schedule::Every(d)) => {
                writeln!(o, "    <SCHEDULE every=\"{}\"/>", format_duration(d))?
            }
            Some(Schedule::At(m)) => {
                writeln!(o, "    <SCHEDULE at=\"{:02}:{:02}\"/>", m / 60, m % 60)?
            }
            None => {}
        }
        for e in &q.events {
            writeln!(o, "    <EVENTFLAGS>")?;
            writeln!(o, "      <EVENT>{}</EVENT>", e.event.value)?;
            for a in &e.actions {
                match &a.value {
                    Action::Command { to_seq, cmd } => writeln!(
                        o,
                        "      <ACTION><TO_SEQ>{}</TO_SEQ><DO_CMD>{}</DO_CMD></ACTION>",
                        to_seq.value, cmd.value
                    )?,
                    Action::Notify(who) => writeln!(
                        o,
                        "      <ACTION><NOTIFY>{}</NOTIFY></ACTION>",
                        esc(&who.value)
                    )?,
                    Action::Run { script, timeout } => {
                        let t = timeout
                            .as_ref()
                            .map(|t| format!(" timeout=\"{}\"", format_duration(t.value)))
                            .unwrap_or_default();
                        writeln!(
                            o,
                            "      <ACTION><RUN{t}>{}</RUN></ACTION>",
                            esc(&script.value)
                        )?
                    }
                }
            }
            writeln!(o, "    </EVENTFLAGS>")?;
        }
        writeln!(o, "  </SEQUENCE>")?;
    }
    writeln!(o, "</SESSION>")
}
