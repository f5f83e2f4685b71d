//! What a session will own and where: per sequence, the pair of volumes of
//! each solution, the base copy type, the name of the set or mirror per pair,
//! the group per sequence (a `DS_IIGroup` for point-in-time steps, a mirror
//! consistency group for continuous ones), and for point-in-time pairs the
//! bitmap volume in the reserved folder of the target's volume root.
//!
//! Names are derived, never chosen by the runtime, so that a restart finds
//! what it made: `cs.<session>.<seq>.<solution>` per pair, `cs.<session>.<seq>`
//! per group; bitmaps at `<root>/.copy-sessions/<session>/<seq>.<solution>.bitmap`.

use crate::check::{Resolved, ResolvedVolume};
use crate::model::*;

/// The folder of a volume root that sessions keep their bitmaps in; no
/// session volume may lie under it.
pub const RESERVED_DIR: &str = ".copy-sessions";

/// Everything a session makes, step by step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The session name.
    pub session: String,
    /// The home host (runs the orchestration): the host of the first volume.
    pub home: String,
    /// One step per sequence, in SEQ_NUM order.
    pub steps: Vec<Step>,
}

/// One sequence applied to every solution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// SEQ_NUM.
    pub seq: u32,
    /// The base copy type.
    pub kind: SeqType,
    /// Independent/Dependent (PIT) or Synchronous/Asynchronous (Continuous).
    pub characteristic: Characteristic,
    /// PIT: copy or update on start (absent MODE: copy the first time,
    /// update after). Continuous: the characteristic.
    pub mode: Option<Mode>,
    /// The group all pairs of the step belong to.
    pub group: String,
    /// One pair per solution, in document order.
    pub pairs: Vec<Pair>,
}

/// One pair: volume k → k+1 of one solution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The solution's name.
    pub solution: String,
    /// Volume k: PIT master or mirror primary.
    pub source: ResolvedVolume,
    /// Volume k+1: PIT shadow or mirror secondary.
    pub target: ResolvedVolume,
    /// The name of the set or mirror.
    pub name: String,
    /// PIT: the bitmap volume (on the target's host); Continuous: none.
    pub bitmap: Option<String>,
}

/// Plans the session: pure, from the resolved volumes.
pub fn plan(r: &Resolved) -> Plan {
    let s = &r.session;
    let name = &s.name.value;
    let steps = s
        .sequences
        .iter()
        .map(|q| {
            let k = q.num.value as usize;
            let pairs = s
                .solutions
                .iter()
                .zip(&r.volumes)
                .filter_map(|(sol, vols)| {
                    let (source, target) = (vols.get(k - 1)?, vols.get(k)?);
                    let sol_name = &sol.name.value;
                    Some(Pair {
                        solution: sol_name.clone(),
                        source: source.clone(),
                        target: target.clone(),
                        name: format!("cs.{name}.{k}.{sol_name}"),
                        bitmap: (q.kind.value == SeqType::PointInTime).then(|| {
                            let root = target.root.trim_end_matches('/');
                            format!("{root}/{RESERVED_DIR}/{name}/{k}.{sol_name}.bitmap")
                        }),
                    })
                })
                .collect();
            Step {
                seq: q.num.value,
                kind: q.kind.value,
                characteristic: q.characteristic.value,
                mode: q.mode.as_ref().map(|m| m.value),
                group: format!("cs.{name}.{k}"),
                pairs,
            }
        })
        .collect();
    Plan {
        session: name.clone(),
        home: s.home_host().unwrap_or_default().to_owned(),
        steps,
    }
}
