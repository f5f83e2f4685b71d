//! Mirror snapshots ⇄ instances: `DS_IIMirror`, `DS_IIMirrorTarget`,
//! `DS_IIMirrorGroup`, and the parsing of the mirror's enumerated values
//! and options (class texts in `mof/DS_IIMirror.mof`).
//!
//! | class | keys | from |
//! |---|---|---|
//! | `DS_IIMirror` | `primaryVolume` (canonical), `secondaryHost` (peer name or `localhost`), `secondaryVolume` (path on that host) | [`MirrorInfo`] |
//! | `DS_IIMirrorTarget` | `volume` (canonical) | [`TargetInfo`] |
//! | `DS_IIMirrorGroup` | `groupName` | the mirrors naming it |

use crate::convert::{path_text, value_u32};
use crate::error::{Error, Result};
use cim::{CimType, DateTime, Instance, ObjectPath, Value};
use native::mirror::{
    LinkPolicy, LinkState, MirrorInfo, MirrorMode, MirrorOptions, MirrorState, QueueFull,
    Secondary, TargetInfo,
};
use std::time::{Duration, UNIX_EPOCH};

/// `DS_IIMirror`.
pub const DS_IIMIRROR: &str = "DS_IIMirror";
/// `DS_IIMirrorTarget`.
pub const DS_IIMIRRORTARGET: &str = "DS_IIMirrorTarget";
/// `DS_IIMirrorGroup`.
pub const DS_IIMIRRORGROUP: &str = "DS_IIMirrorGroup";
/// `secondaryHost` of a secondary on this host.
pub const LOCALHOST: &str = "localhost";

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// `mode` as CIM shows it.
pub fn mode_str(m: MirrorMode) -> &'static str {
    match m {
        MirrorMode::Sync => "sync",
        MirrorMode::Async => "async",
    }
}

/// Parses `mode` / `setMode(mode)`.
pub fn parse_mode(text: &str, what: &str) -> Result<MirrorMode> {
    match text.trim().to_ascii_lowercase().as_str() {
        "sync" => Ok(MirrorMode::Sync),
        "async" => Ok(MirrorMode::Async),
        other => Err(Error::InvalidParameter(format!(
            "{what}: mode {other:?} is not valid: use \"sync\" or \"async\""
        ))),
    }
}

/// `state` as CIM shows it (the engine's names).
pub fn state_str(s: MirrorState) -> &'static str {
    native::mirror::state_name(s)
}

/// How bad a state is, for a group's `state` (worst first).
pub fn state_rank(s: MirrorState) -> u8 {
    match s {
        MirrorState::Failed => 0,
        MirrorState::NeedReverseSync => 1,
        MirrorState::NeedSync => 2,
        MirrorState::Logging => 3,
        MirrorState::ReverseSyncing => 4,
        MirrorState::Syncing => 5,
        MirrorState::Replicating => 6,
    }
}

fn link_str(l: LinkState) -> &'static str {
    match l {
        LinkState::Up => "up",
        LinkState::Down => "down",
        LinkState::Connecting => "connecting",
    }
}

fn queue_full_str(q: QueueFull) -> &'static str {
    match q {
        QueueFull::Block => "block",
        QueueFull::Noblock => "noblock",
    }
}

fn policy_str(p: LinkPolicy) -> &'static str {
    match p {
        LinkPolicy::Logging => "logging",
        LinkPolicy::Freeze => "freeze",
    }
}

/// `(secondaryHost, secondaryVolume)` of a mirror.
pub fn secondary_keys(sec: &Secondary) -> (String, String) {
    match sec {
        Secondary::Local(p) => (LOCALHOST.to_owned(), path_text(p)),
        Secondary::Remote { volume, target } => (target.peer.clone(), path_text(volume)),
    }
}

/// The object path of a mirror.
pub fn mirror_path(info: &MirrorInfo, ns: Option<&str>) -> ObjectPath {
    let (host, vol) = secondary_keys(&info.secondary);
    ObjectPath::class(ns, DS_IIMIRROR)
        .with_key("primaryVolume", s(path_text(&info.primary)))
        .with_key("secondaryHost", s(host))
        .with_key("secondaryVolume", s(vol))
}

/// The instance of a mirror with its live state.
pub fn mirror_instance(info: &MirrorInfo, ns: Option<&str>) -> Instance {
    let (host, vol) = secondary_keys(&info.secondary);
    let when = info
        .when_synchronized
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| Value::DateTime(DateTime::from_unix_seconds(d.as_secs())))
        .unwrap_or(Value::Null);
    let o = &info.options;
    let mut i = Instance::new(DS_IIMIRROR)
        .with(
            "primaryVolume",
            CimType::String,
            s(path_text(&info.primary)),
        )
        .with("secondaryHost", CimType::String, s(host))
        .with("secondaryVolume", CimType::String, s(vol))
        .with(
            "scoreboardVolume",
            CimType::String,
            s(path_text(&info.scoreboard)),
        )
        .with("mode", CimType::String, s(mode_str(info.mode)))
        .with("state", CimType::String, s(state_str(info.state)))
        .with(
            "percentSynchronized",
            CimType::Real32,
            Value::Real32(info.percent_synchronized),
        )
        .with(
            "bytesBehind",
            CimType::Uint64,
            Value::Uint64(info.bytes_behind),
        )
        .with(
            "queueDepth",
            CimType::Uint32,
            Value::Uint32(info.queue_depth),
        )
        .with(
            "dirtyChunks",
            CimType::Uint64,
            Value::Uint64(info.dirty_chunks),
        )
        .with("capacity", CimType::Uint64, Value::Uint64(info.size))
        .with("linkState", CimType::String, s(link_str(info.link)))
        .with(
            "lastError",
            CimType::String,
            s(info.last_error.clone().unwrap_or_default()),
        )
        .with("whenSynchronized", CimType::DateTime, when)
        .with(
            "groupName",
            CimType::String,
            s(info.group.clone().unwrap_or_default()),
        )
        .with(
            "queueWrites",
            CimType::Uint32,
            Value::Uint32(o.queue_writes),
        )
        .with("queueBytes", CimType::Uint64, Value::Uint64(o.queue_bytes))
        .with(
            "queueFull",
            CimType::String,
            s(queue_full_str(o.queue_full)),
        )
        .with(
            "linkTimeout",
            CimType::Uint32,
            Value::Uint32(o.link_timeout.as_secs().min(u32::MAX as u64) as u32),
        )
        .with("linkPolicy", CimType::String, s(policy_str(o.link_policy)))
        .with("autosync", CimType::Boolean, Value::Boolean(o.autosync))
        .with(
            "protectTarget",
            CimType::Boolean,
            Value::Boolean(o.protect_target),
        );
    i.path = Some(mirror_path(info, ns));
    i
}

/// The object path of a claimed target.
pub fn target_path(volume: &str, ns: Option<&str>) -> ObjectPath {
    ObjectPath::class(ns, DS_IIMIRRORTARGET).with_key("volume", s(volume))
}

/// The instance of a claimed target; the token is never shown.
pub fn target_instance(
    info: &TargetInfo,
    protection: Option<String>,
    ns: Option<&str>,
) -> Instance {
    let vol = path_text(&info.volume);
    let mut i = Instance::new(DS_IIMIRRORTARGET)
        .with("volume", CimType::String, s(vol.clone()))
        .with("owner", CimType::String, s(info.owner.clone()))
        .with("token", CimType::String, Value::Null)
        .with("capacity", CimType::Uint64, Value::Uint64(info.size))
        .with(
            "connected",
            CimType::Boolean,
            Value::Boolean(info.connected),
        )
        .with(
            "protectionShadow",
            CimType::String,
            s(protection.unwrap_or_default()),
        );
    i.path = Some(target_path(&vol, ns));
    i
}

/// The object path of a mirror group.
pub fn mirror_group_path(name: &str, ns: Option<&str>) -> ObjectPath {
    ObjectPath::class(ns, DS_IIMIRRORGROUP).with_key("groupName", s(name))
}

/// The groups the mirrors name, with their members (sorted by name).
pub fn mirror_groups(mirrors: &[MirrorInfo]) -> Vec<(String, Vec<&MirrorInfo>)> {
    let mut groups: Vec<(String, Vec<&MirrorInfo>)> = Vec::new();
    for m in mirrors {
        let Some(g) = m.group.as_deref() else {
            continue;
        };
        match groups.iter_mut().find(|(n, _)| n == g) {
            Some((_, members)) => members.push(m),
            None => groups.push((g.to_owned(), vec![m])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups
}

/// The instance of a mirror group.
pub fn mirror_group_instance(name: &str, members: &[&MirrorInfo], ns: Option<&str>) -> Instance {
    let mut states: Vec<MirrorState> = members.iter().map(|m| m.state).collect();
    states.sort_by_key(|s| state_rank(*s));
    states.dedup();
    let state: Vec<&str> = states.into_iter().map(state_str).collect();
    let mut i = Instance::new(DS_IIMIRRORGROUP)
        .with("groupName", CimType::String, s(name))
        .with(
            "mirrorCount",
            CimType::Uint32,
            Value::Uint32(members.len() as u32),
        )
        .with("state", CimType::String, s(state.join(",")));
    i.path = Some(mirror_group_path(name, ns));
    i
}

/// Options from an instance: `base` with every option property the
/// instance gives (NULL or absent: unchanged), checked.
pub fn options_from(inst: &Instance, base: &MirrorOptions, subject: &str) -> Result<MirrorOptions> {
    let mut o = base.clone();
    let given = |name: &str| inst.get(name).filter(|v| !v.is_null());
    let text = |name: &str, v: &Value| match v {
        Value::String(t) => Ok(t.trim().to_ascii_lowercase()),
        other => Err(Error::InvalidParameter(format!(
            "{subject}: property {name} must be a string, not {other:?}"
        ))),
    };
    if let Some(v) = given("queueWrites") {
        let n = value_u32(v, "queueWrites")?.unwrap_or(o.queue_writes);
        if n == 0 {
            return Err(Error::InvalidParameter(format!(
                "{subject}: queueWrites must be at least 1"
            )));
        }
        o.queue_writes = n;
    }
    if let Some(v) = given("queueBytes") {
        let n = match v {
            Value::String(t) => t.trim().parse::<u64>().ok(),
            other => other.as_i128().and_then(|n| u64::try_from(n).ok()),
        };
        match n {
            Some(n) if n >= native::CHUNK_SIZE => o.queue_bytes = n,
            _ => {
                return Err(Error::InvalidParameter(format!(
                    "{subject}: queueBytes must be a number of bytes of at least {}, not {v:?}",
                    native::CHUNK_SIZE
                )))
            }
        }
    }
    if let Some(v) = given("queueFull") {
        o.queue_full = match text("queueFull", v)?.as_str() {
            "block" => QueueFull::Block,
            "noblock" => QueueFull::Noblock,
            other => {
                return Err(Error::InvalidParameter(format!(
                    "{subject}: queueFull {other:?} is not valid: use \"block\" or \"noblock\""
                )))
            }
        };
    }
    if let Some(v) = given("linkTimeout") {
        let n = value_u32(v, "linkTimeout")?.unwrap_or(5);
        if !(1..=3600).contains(&n) {
            return Err(Error::InvalidParameter(format!(
                "{subject}: linkTimeout {n} is out of range: use 1 to 3600 seconds"
            )));
        }
        o.link_timeout = Duration::from_secs(n.into());
    }
    if let Some(v) = given("linkPolicy") {
        o.link_policy = match text("linkPolicy", v)?.as_str() {
            "logging" => LinkPolicy::Logging,
            "freeze" => LinkPolicy::Freeze,
            other => {
                return Err(Error::InvalidParameter(format!(
                    "{subject}: linkPolicy {other:?} is not valid: use \"logging\" or \"freeze\""
                )))
            }
        };
    }
    for (name, field) in [
        ("autosync", &mut o.autosync),
        ("protectTarget", &mut o.protect_target),
    ] {
        if let Some(v) = given(name) {
            *field = match v {
                Value::Boolean(b) => *b,
                Value::String(t) if t.eq_ignore_ascii_case("true") => true,
                Value::String(t) if t.eq_ignore_ascii_case("false") => false,
                other => {
                    return Err(Error::InvalidParameter(format!(
                        "{subject}: property {name} must be a boolean, not {other:?}"
                    )))
                }
            };
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use native::mirror::RemoteTarget;
    use std::path::PathBuf;

    fn info(group: Option<&str>, state: MirrorState) -> MirrorInfo {
        MirrorInfo {
            primary: PathBuf::from("/v/p"),
            secondary: Secondary::Remote {
                volume: PathBuf::from("/w/s"),
                target: RemoteTarget {
                    peer: "b".into(),
                    address: "127.0.0.1:1".into(),
                    export: "/w/s?mirror=x".into(),
                    tls: None,
                },
            },
            scoreboard: PathBuf::from("/v/sb"),
            size: 1 << 20,
            mode: MirrorMode::Async,
            state,
            link: LinkState::Up,
            percent_synchronized: 50.0,
            bytes_behind: 4096,
            queue_depth: 1,
            dirty_chunks: 2,
            last_error: None,
            when_synchronized: None,
            group: group.map(str::to_owned),
            options: MirrorOptions::default(),
        }
    }

    #[test]
    fn instance_has_keys_state_and_no_export_token() {
        let i = mirror_instance(&info(Some("g"), MirrorState::Logging), Some("root/cimv2"));
        let p = i.path.as_ref().unwrap();
        assert_eq!(p.key_str("secondaryHost"), Some("b"));
        assert_eq!(p.key_str("secondaryVolume"), Some("/w/s"));
        assert_eq!(i.get_str("state"), Some("logging"));
        assert_eq!(i.get_str("mode"), Some("async"));
        assert_eq!(i.get("linkTimeout"), Some(&Value::Uint32(5)));
        assert_eq!(i.get("whenSynchronized"), Some(&Value::Null));
        for p in &i.properties {
            if let Value::String(t) = &p.value {
                assert!(!t.contains("mirror="), "{} leaks the token", p.name);
            }
        }
    }

    #[test]
    fn groups_collect_members_and_worst_state() {
        let ms = vec![
            info(Some("g"), MirrorState::Replicating),
            info(None, MirrorState::Failed),
            info(Some("g"), MirrorState::Logging),
        ];
        let gs = mirror_groups(&ms);
        assert_eq!(gs.len(), 1);
        let g = mirror_group_instance(&gs[0].0, &gs[0].1, None);
        assert_eq!(g.get("mirrorCount"), Some(&Value::Uint32(2)));
        assert_eq!(g.get_str("state"), Some("logging,replicating"));
    }

    #[test]
    fn options_and_modes_are_checked() {
        assert_eq!(parse_mode("ASYNC", "m").unwrap(), MirrorMode::Async);
        let e = parse_mode("semi", "mirror /v/p").unwrap_err();
        assert!(matches!(e, Error::InvalidParameter(_)));
        assert!(e.to_string().contains("semi") && e.to_string().contains("/v/p"));
        let base = MirrorOptions::default();
        let inst = Instance::new(DS_IIMIRROR)
            .with("linkTimeout", CimType::Uint32, Value::Uint32(2))
            .with("queueFull", CimType::String, s("noblock"))
            .with("protectTarget", CimType::Boolean, Value::Boolean(true));
        let o = options_from(&inst, &base, "m").unwrap();
        assert_eq!(o.link_timeout, Duration::from_secs(2));
        assert_eq!(o.queue_full, QueueFull::Noblock);
        assert!(o.protect_target && !o.autosync);
        let bad = Instance::new(DS_IIMIRROR).with("linkPolicy", CimType::String, s("panic"));
        assert!(matches!(
            options_from(&bad, &base, "m"),
            Err(Error::InvalidParameter(_))
        ));
        let zero =
            Instance::new(DS_IIMIRROR).with("linkTimeout", CimType::Uint32, Value::Uint32(0));
        assert!(options_from(&zero, &base, "m").is_err());
    }
}
