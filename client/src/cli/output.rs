//! `iiadm` output: the classic text layouts (imaging.md §2.3) adapted to what
//! the CIM classes report, and the `--json` forms.
//!
//! Text layouts:
//!
//! * `-l`: one line per set, `ind|dep|imp MASTER SHADOW BITMAP`, plus
//!   ` (suspended)` for a suspended set; an imported set shows its master as
//!   `<imported_shadow>`. `-g G -l`: member shadow paths, sorted.
//! * `-i`: per set, separated by a line of 78 `-`:
//!   ```text
//!   /v/master: (master volume)
//!   /v/shadow: (shadow volume)
//!   /v/bitmap: (bitmap volume)
//!   /v/ovfl: (overflow volume)            only if attached
//!   Group name: g1                        only if in a group
//!   Set name: nightly                     only if it differs from the shadow
//!   Dependent copy, copy in progress      type and state texts
//!   State: copying  Status: normal
//!   Percent completed: 42
//!   Percent synchronized: 97
//!   Volume size: <master size in 512-byte sectors, %8>
//!   Copy delay: 2  Copy units: 100
//!   ```
//!   A suspended set prints its three volume lines and `Suspended.`.
//! * `-L`: overflow paths, one a line. `-G`: group names, sorted.
//! * `-Q`: the classic lines, in 32 KiB chunks:
//!   ```text
//!   Total number of attached shadows: <totalAttachedSets>
//!   Number of currently attached shadows: <attachedSets>
//!   Total number of chunks: <capacity / 32 KiB - 1, the header chunk excluded>
//!   Number of chunks ever allocated: <highWaterBytes / 32 KiB>
//!   Number of used chunks: <usedBytes / 32 KiB>
//!   Number of unused chunks: <total - used>
//!   ```
//!   As in the classic tool, "ever allocated" and "used" count the header
//!   chunk (a fresh volume shows 1 of each), so ever allocated >= used. The
//!   total counts every attach ever made (a detach never lowers it) and is
//!   never shown below the sets attached now; from a server that does not
//!   report `totalAttachedSets` both attached lines show the sets attached
//!   now. The classic "Clean shutdown ... did
//!   not occur" warning is never printed: the engine recomputes the usage
//!   from the sets' indexes at every start, so the counters cannot be stale.
//!   "ever allocated" is left out when the server does not report
//!   `highWaterBytes`.
//! * `-P SET`: `volume: S`, `copy delay: D`, `copy unit: U`.
//!
//! JSON: arrays of objects with the [`SetInfo`] / [`GroupInfo`] /
//! [`OverflowInfo`] field names (snake_case), one document per command.

use crate::ii::{CopyParams, GroupInfo, OverflowInfo, SetInfo, VolumeInfo};
use serde::Serialize;
use std::fmt::Write;

/// The separator between sets in `-i`.
pub const SEPARATOR: &str =
    "------------------------------------------------------------------------------";

/// Bytes per chunk (imaging.md §1.3).
const CHUNK: u64 = 32768;

fn short_type(t: &str) -> &str {
    match t {
        "independent" => "ind",
        "dependent" => "dep",
        "imported" => "imp",
        other => other,
    }
}

/// One `-l` line.
pub fn list_line(s: &SetInfo) -> String {
    let master = if s.set_type == "imported" {
        "<imported_shadow>"
    } else {
        s.master.as_str()
    };
    let mut line = format!(
        "{} {} {} {}",
        short_type(&s.set_type),
        master,
        s.shadow,
        s.bitmap
    );
    if s.state == "suspended" {
        line.push_str(" (suspended)");
    }
    line
}

/// `-l` output.
pub fn list(sets: &[SetInfo]) -> String {
    sets.iter().map(|s| list_line(s) + "\n").collect()
}

/// `-g G -l` output: member shadows, sorted and unique.
pub fn group_members(sets: &[SetInfo], group: &str) -> String {
    let mut names: Vec<&str> = sets
        .iter()
        .filter(|s| s.group.as_deref() == Some(group))
        .map(|s| s.shadow.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names.iter().map(|n| format!("{n}\n")).collect()
}

fn state_text(s: &SetInfo) -> String {
    let mut t = match s.set_type.as_str() {
        "independent" => "Independent copy".to_owned(),
        "dependent" => "Dependent copy".to_owned(),
        "imported" => "Imported shadow".to_owned(),
        other => format!("{other} copy"),
    };
    let flag = match s.state.as_str() {
        "copying" => Some("copy in progress"),
        "updating" => Some("update in progress"),
        "exported" => Some("shadow volume exported"),
        "imported" => Some("shadow volume imported"),
        "offline" => Some("volume offline"),
        "needs-reset" => Some("needs reset (iiadm -R)"),
        _ => None,
    };
    if let Some(f) = flag {
        t.push_str(", ");
        t.push_str(f);
    }
    if s.status != "normal" && !s.status.is_empty() {
        let _ = write!(t, ", status {}", s.status);
    }
    t
}

fn percent(p: f32) -> String {
    // Whole percent as the classic tool prints; never round 99.6 up to 100.
    format!("{}", p.clamp(0.0, 100.0).floor() as u32)
}

/// The `-i` block of one set (no separator).
pub fn status(s: &SetInfo) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}: (master volume)", s.master);
    let _ = writeln!(o, "{}: (shadow volume)", s.shadow);
    let _ = writeln!(o, "{}: (bitmap volume)", s.bitmap);
    if s.state == "suspended" {
        o.push_str("Suspended.\n");
        return o;
    }
    if let Some(ov) = &s.overflow {
        let _ = writeln!(o, "{ov}: (overflow volume)");
    }
    if let Some(g) = &s.group {
        let _ = writeln!(o, "Group name: {g}");
    }
    if s.name != s.shadow {
        let _ = writeln!(o, "Set name: {}", s.name);
    }
    let _ = writeln!(o, "{}", state_text(s));
    let _ = writeln!(o, "State: {}  Status: {}", s.state, s.status);
    let _ = writeln!(o, "Percent completed: {}", percent(s.percent_completed));
    let _ = writeln!(
        o,
        "Percent synchronized: {}",
        percent(s.percent_synchronized)
    );
    let _ = writeln!(o, "Volume size: {:8}", s.master_capacity / 512);
    let _ = writeln!(
        o,
        "Copy delay: {}  Copy units: {}",
        s.copy_delay, s.copy_units
    );
    o
}

/// `-i` output for several sets.
pub fn status_all(sets: &[SetInfo]) -> String {
    let mut o = String::new();
    for (i, s) in sets.iter().enumerate() {
        if i > 0 {
            o.push_str(SEPARATOR);
            o.push('\n');
        }
        o.push_str(&status(s));
    }
    o
}

/// `-L` output.
pub fn overflows(list: &[OverflowInfo]) -> String {
    list.iter().map(|o| format!("{}\n", o.path)).collect()
}

/// `-V` output: each volume, its use, and how it is reachable over NBD.
pub fn volumes(list: &[VolumeInfo]) -> String {
    let mut out = String::new();
    for v in list {
        let _ = match v.used_by.as_str() {
            "" => writeln!(out, "{}", v.path),
            used => writeln!(out, "{} ({used})", v.path),
        };
        if v.nbd_uris.is_empty() {
            out.push_str("  NBD: not exported\n");
        }
        for uri in &v.nbd_uris {
            let _ = writeln!(out, "  NBD: {uri}");
        }
        if !v.nbd_access.is_empty() {
            let _ = writeln!(out, "  NBD access: {}", v.nbd_access);
        }
    }
    out
}

/// `-G` / `-g -L` output: group names sorted.
pub fn groups(list: &[GroupInfo]) -> String {
    let mut names: Vec<&str> = list.iter().map(|g| g.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.iter().map(|n| format!("{n}\n")).collect()
}

/// `-Q` output.
pub fn overflow_status(o: &OverflowInfo) -> String {
    let total = (o.capacity / CHUNK).saturating_sub(1);
    let used = o.used_bytes.div_ceil(CHUNK).min(total);
    // An older server reports no total: the sets attached now are the
    // least it can be.
    let ever = o
        .total_attached_sets
        .unwrap_or(o.attached_sets)
        .max(o.attached_sets);
    let mut out = format!(
        "Total number of attached shadows: {ever}\n\
         Number of currently attached shadows: {}\n\
         Total number of chunks: {total}\n",
        o.attached_sets,
    );
    if let Some(hw) = o.high_water_bytes {
        // Clamped like `used`, so that it never reads below it.
        let ever = hw.div_ceil(CHUNK).min(total).max(used);
        let _ = writeln!(out, "Number of chunks ever allocated: {ever}");
    }
    let _ = write!(
        out,
        "Number of used chunks: {used}\nNumber of unused chunks: {}\n",
        total - used
    );
    out
}

/// `-P SET` output.
pub fn copy_params(volume: &str, p: &CopyParams) -> String {
    format!(
        "volume: {volume}\ncopy delay: {}\ncopy unit: {}\n",
        p.delay, p.units
    )
}

/// `-P SET --json` document.
#[derive(Debug, Serialize)]
pub struct CopyParamsJson<'a> {
    /// The set's shadow volume.
    pub volume: &'a str,
    /// Copy delay.
    pub copy_delay: u32,
    /// Copy units.
    pub copy_units: u32,
}

/// Pretty JSON with a trailing newline.
pub fn json<T: Serialize + ?Sized>(v: &T) -> String {
    let mut s =
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// `-v` output: "Point in Time Copy version M.m" (".u" when the micro number is not 0).
pub fn version() -> String {
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    let minor = env!("CARGO_PKG_VERSION_MINOR");
    let patch = env!("CARGO_PKG_VERSION_PATCH");
    if patch == "0" {
        format!("Point in Time Copy version {major}.{minor}\n")
    } else {
        format!("Point in Time Copy version {major}.{minor}.{patch}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cim::ObjectPath;

    fn info(shadow: &str, ty: &str, state: &str) -> SetInfo {
        SetInfo {
            name: shadow.into(),
            shadow: shadow.into(),
            master: "/v/m".into(),
            bitmap: "/v/b".into(),
            set_type: ty.into(),
            state: state.into(),
            status: "normal".into(),
            percent_completed: 99.7,
            percent_synchronized: 50.0,
            overflow: None,
            group: None,
            master_capacity: 1 << 20,
            shadow_capacity: 1 << 20,
            bitmap_capacity: 65536,
            copy_units: 100,
            copy_delay: 2,
            path: ObjectPath::default(),
        }
    }

    #[test]
    fn list_lines_are_classic() {
        let mut imp = info("/v/i", "imported", "imported");
        imp.bitmap = "/v/ib".into();
        let sets = vec![
            info("/v/s", "independent", "idle"),
            info("/v/t", "dependent", "suspended"),
            imp,
        ];
        assert_eq!(
            list(&sets),
            "ind /v/m /v/s /v/b\ndep /v/m /v/t /v/b (suspended)\nimp <imported_shadow> /v/i /v/ib\n"
        );
    }

    #[test]
    fn status_block_has_every_field_in_order() {
        let mut s = info("/v/s", "dependent", "copying");
        s.overflow = Some("/v/o".into());
        s.group = Some("g1".into());
        s.name = "nightly".into();
        let text = status(&s);
        let expected = "/v/m: (master volume)\n/v/s: (shadow volume)\n/v/b: (bitmap volume)\n\
                        /v/o: (overflow volume)\nGroup name: g1\nSet name: nightly\n\
                        Dependent copy, copy in progress\nState: copying  Status: normal\n\
                        Percent completed: 99\nPercent synchronized: 50\n\
                        Volume size:     2048\nCopy delay: 2  Copy units: 100\n";
        assert_eq!(text, expected);
        let susp = status(&info("/v/s", "independent", "suspended"));
        assert!(susp.ends_with("(bitmap volume)\nSuspended.\n"), "{susp}");
        let two = status_all(&[
            info("/a", "dependent", "idle"),
            info("/b", "dependent", "idle"),
        ]);
        assert_eq!(two.matches(SEPARATOR).count(), 1);
        assert_eq!(SEPARATOR.len(), 78);
    }

    #[test]
    fn groups_members_and_overflows() {
        let mut a = info("/v/b2", "dependent", "idle");
        a.group = Some("g".into());
        let mut b = info("/v/a1", "dependent", "idle");
        b.group = Some("g".into());
        let c = info("/v/c", "dependent", "idle");
        assert_eq!(group_members(&[a, b, c], "g"), "/v/a1\n/v/b2\n");
        let g = |n: &str| GroupInfo {
            name: n.into(),
            group_type: "dependent".into(),
            members: vec![],
            path: ObjectPath::default(),
        };
        assert_eq!(groups(&[g("zeta"), g("alpha")]), "alpha\nzeta\n");
        let o = OverflowInfo {
            path: "/v/o".into(),
            capacity: 100 * CHUNK,
            used_bytes: 3 * CHUNK + 1,
            attached_sets: 2,
            total_attached_sets: Some(5),
            high_water_bytes: Some(7 * CHUNK),
            object_path: ObjectPath::default(),
        };
        assert_eq!(overflows(std::slice::from_ref(&o)), "/v/o\n");
        assert_eq!(
            overflow_status(&o),
            "Total number of attached shadows: 5\nNumber of currently attached shadows: 2\n\
             Total number of chunks: 99\nNumber of chunks ever allocated: 7\n\
             Number of used chunks: 4\nNumber of unused chunks: 95\n"
        );
        // A fresh volume: the header chunk counts in both, as classically.
        let fresh = OverflowInfo {
            used_bytes: CHUNK,
            high_water_bytes: Some(CHUNK),
            ..o.clone()
        };
        assert!(overflow_status(&fresh).contains(
            "Number of chunks ever allocated: 1\nNumber of used chunks: 1\nNumber of unused chunks: 98\n"
        ));
        // Never beyond the total, never below used.
        let full = OverflowInfo {
            used_bytes: 100 * CHUNK,
            high_water_bytes: Some(100 * CHUNK),
            ..o.clone()
        };
        assert!(overflow_status(&full).contains(
            "Total number of chunks: 99\nNumber of chunks ever allocated: 99\nNumber of used chunks: 99\n"
        ));
        let inconsistent = OverflowInfo {
            high_water_bytes: Some(CHUNK),
            ..o.clone()
        };
        assert!(overflow_status(&inconsistent).contains("ever allocated: 4\n"));
        // A total below the sets attached now (never from this engine)
        // shows them.
        let low = OverflowInfo {
            total_attached_sets: Some(1),
            ..o.clone()
        };
        assert!(overflow_status(&low).starts_with("Total number of attached shadows: 2\n"));
        // An older server without the properties: the chunk line is left
        // out, the total falls back to the sets attached now.
        let old = OverflowInfo {
            high_water_bytes: None,
            total_attached_sets: None,
            ..o.clone()
        };
        assert_eq!(
            overflow_status(&old),
            "Total number of attached shadows: 2\nNumber of currently attached shadows: 2\n\
             Total number of chunks: 99\nNumber of used chunks: 4\nNumber of unused chunks: 95\n"
        );
    }

    #[test]
    fn copy_params_json_and_version() {
        let p = CopyParams {
            delay: 2,
            units: 100,
        };
        assert_eq!(
            copy_params("/v/s", &p),
            "volume: /v/s\ncopy delay: 2\ncopy unit: 100\n"
        );
        let j: serde_json::Value =
            serde_json::from_str(&json(&[info("/v/s", "dependent", "idle")])).unwrap();
        assert_eq!(j[0]["shadow"], "/v/s");
        assert_eq!(j[0]["set_type"], "dependent");
        assert_eq!(j[0]["copy_units"], 100);
        assert!(j[0].get("path").is_none());
        assert!(version().starts_with("Point in Time Copy version 0.1"));
    }
}
