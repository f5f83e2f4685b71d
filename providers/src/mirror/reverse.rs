//! Role reversal (`DS_IIMirror.reverseRoles`, failover) and the peer's half
//! of it (`mergePeerChanges`).
//!
//! On the old primary A, for a mirror A → B:
//! 1. wait briefly for the mirror to drain (a planned reversal loses
//!    nothing), then fence it: host writes on A are refused from here on;
//! 2. read the chunks B may lack (A's scoreboard), disable the mirror and
//!    release B's claim;
//! 3. create the mirror B → A on B (its provider claims A's volume as B's
//!    target, so A stays fenced) with `volumesEqual`;
//! 4. hand B the chunks of step 2 (`mergePeerChanges`) and start B's update
//!    sync, which makes A equal to B again.
//!
//! If B has marks of its own when the chunks arrive (it was written while
//! apart), the engine refuses to guess: B's mirror goes to `need-sync` with
//! both scoreboards kept until an operator starts a sync in the direction
//! of their choice.

use super::convert::{mode_str, DS_IIMIRROR};
use crate::backend::Backend;
use crate::convert::path_text;
use crate::error::{Error, Result};
use cim::ops::ParamValue;
use cim::{CimType, Instance, Value};
use native::mirror::{MirrorInfo, Secondary};
use std::time::Duration;

/// Runs a role reversal of `info` (a mirror of this host); `scoreboard` is
/// the new primary's scoreboard volume on the secondary's host.
pub async fn reverse_roles(backend: &Backend, info: &MirrorInfo, scoreboard: &str) -> Result<()> {
    let primary = info.primary.clone();
    let subject = format!("reverseRoles on mirror of {}", primary.display());
    let Secondary::Remote { volume, target } = &info.secondary else {
        return Err(Error::NotSupported(format!(
            "{subject}: the secondary is on this host; disable the mirror and enable it the other way round"
        )));
    };
    let peer = target.peer.clone();
    let secondary = path_text(volume);
    let peers = backend.peers().clone();
    let drain = info.options.link_timeout;
    let p = primary.clone();
    let chunks = backend
        .call(format!("fence {subject}"), move |e| {
            // Best effort: a mirror in step sends what it has queued.
            let _ = e.mirror_wait(&p, Some(drain.min(Duration::from_secs(10))));
            e.mirror_fence(&p, true)?;
            let chunks = e.mirror_dirty_chunks(&p)?;
            e.disable_mirror(&p)?;
            Ok(chunks)
        })
        .await?;
    let stage = |what: &str| {
        format!(
            "{subject}: {what} (this host's mirror is disabled; the volumes are unchanged: enable the mirror again from the host that should be primary)"
        )
    };
    peers
        .release(&peer, &secondary)
        .await
        .map_err(|source| Error::Peer {
            action: stage(&format!("release {secondary} on {peer}")),
            source,
        })?;
    let s = |v: String| Value::String(v);
    let o = &info.options;
    let inst = Instance::new(DS_IIMIRROR)
        .with("primaryVolume", CimType::String, s(secondary.clone()))
        .with("secondaryHost", CimType::String, s(peers.local_name()))
        .with("secondaryVolume", CimType::String, s(path_text(&primary)))
        .with(
            "scoreboardVolume",
            CimType::String,
            s(scoreboard.to_owned()),
        )
        .with("mode", CimType::String, s(mode_str(info.mode).to_owned()))
        .with("volumesEqual", CimType::Boolean, Value::Boolean(true))
        .with(
            "linkTimeout",
            CimType::Uint32,
            Value::Uint32(o.link_timeout.as_secs().max(1) as u32),
        )
        .with("autosync", CimType::Boolean, Value::Boolean(o.autosync))
        .with(
            "protectTarget",
            CimType::Boolean,
            Value::Boolean(o.protect_target),
        );
    let path = peers
        .create_instance(&peer, inst)
        .await
        .map_err(|source| Error::Peer {
            action: stage(&format!("enable the mirror of {secondary} on {peer}")),
            source,
        })?;
    if !chunks.is_empty() {
        let list = Value::Array(chunks.iter().map(|c| Value::Uint64(*c)).collect());
        let param = ParamValue::new("chunks", CimType::Uint64, list);
        for (method, params) in [("mergePeerChanges", vec![param]), ("updateSync", vec![])] {
            peers
                .invoke(&peer, &path, method, params)
                .await
                .map_err(|source| Error::Peer {
                    action: format!(
                        "{subject}: {method} on the new primary {secondary} of {peer} (the roles are reversed; finish with iiadm mirror -u there)"
                    ),
                    source,
                })?;
        }
    }
    tracing::info!(primary = %primary.display(), peer = %peer, chunks = chunks.len(), "mirror roles reversed");
    Ok(())
}

/// `mergePeerChanges(chunks)`: the chunks the old primary had not sent.
pub async fn merge_peer_changes(
    backend: &Backend,
    info: &MirrorInfo,
    chunks: &Value,
) -> Result<()> {
    let list: Vec<u64> = match chunks {
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_u64())
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| {
                Error::InvalidParameter("mergePeerChanges: chunks must be uint64 numbers".into())
            })?,
        Value::Null => Vec::new(),
        other => {
            return Err(Error::InvalidParameter(format!(
                "mergePeerChanges: chunks must be an array of uint64, not {other:?}"
            )))
        }
    };
    let p = info.primary.clone();
    backend
        .call(
            format!("merge the peer's changes into mirror of {}", p.display()),
            move |e| e.mirror_merge_peer(&p, &list).map(|_| ()),
        )
        .await
}
