//! The Instant Image providers (`DS_IISet`, `DS_IIGroup`, `DS_IIOverflowVol`,
//! the associations between them) and the storage-volume provider
//! (`DS_Volume`), which translate CIM operations in `root/cimv2` into calls on
//! the imaging engine ([`native::Engine`]). They see the object manager only
//! through its provider API (`cimom-provider`); `cimomd` hosts them.
//!
//! **Architecture invariant:** no XML, no HTTP, no state of its own — the
//! truth lives in `native`; every answer is read from the engine at request
//! time, so the CIM view and the engine configuration agree across restarts.
//!
//! * [`mod@error`] — the crate's error type and the only `native::Error` →
//!   `CimError` mapping.
//! * [`convert`] — engine snapshots ⇄ instances, paths and parameters.
//! * [`set`], [`group`], [`overflow`], [`assoc`], [`volume`] — the providers.
//! * [`mod@mirror`] — continuous copy: `DS_IIMirror`, `DS_IIMirrorGroup`,
//!   `DS_IIMirrorTarget` and their associations (`mof/DS_IIMirror.mof`),
//!   reaching other hosts through [`peers`].
//! * [`indication`] — engine events to `CIM_Inst*` and `CIM_AlertIndication`.
//! * [`nbd_reach`] — how `DS_Volume` describes the NBD export it is given.
//!
//! Use [`register`] to add every provider to a [`ProviderRegistry`] under the
//! names the `Provider` qualifiers of [`DS_II_MOF`] and [`DS_II_MIRROR_MOF`]
//! give, and pass both (in that order) to the object manager as bundled MOF
//! for `root/cimv2`.

pub mod assoc;
pub mod backend;
pub mod convert;
pub mod error;
pub mod group;
pub mod indication;
pub mod mirror;
pub mod nbd_reach;
pub mod overflow;
pub mod peers;
pub mod set;
pub mod volume;

pub use error::Error;

use cimom_provider::{ProviderEntry, ProviderRegistry};
use native::Engine;
use std::sync::Arc;

/// `DS_II.mof`: every class served here, compiled into [`NAMESPACE`] at the
/// first start of an empty state dir.
pub const DS_II_MOF: &str = include_str!("../mof/DS_II.mof");

/// File name to report in MOF diagnostics for [`DS_II_MOF`].
pub const DS_II_MOF_NAME: &str = "DS_II.mof";

/// `DS_IIMirror.mof`: the continuous-copy classes, compiled after
/// [`DS_II_MOF`] (its associations refer to `DS_Volume`).
pub const DS_II_MIRROR_MOF: &str = include_str!("../mof/DS_IIMirror.mof");

/// File name to report in MOF diagnostics for [`DS_II_MIRROR_MOF`].
pub const DS_II_MIRROR_MOF_NAME: &str = "DS_IIMirror.mof";

/// The namespace of the Instant Image classes.
pub const NAMESPACE: &str = "root/cimv2";

/// Provider names, as in the classes' `Provider` qualifiers.
pub mod names {
    /// `DS_IISet`.
    pub const SET: &str = "IISetProvider";
    /// `DS_IIGroup`.
    pub const GROUP: &str = "IIGroupProvider";
    /// `DS_IIOverflowVol`.
    pub const OVERFLOW: &str = "IIOverflowVolumeProvider";
    /// `DS_IIGroupSetAssoc`, `DS_IISetOverflowVolAssoc`.
    pub const ASSOCIATION: &str = "IIAssociationProvider";
    /// `DS_Volume`.
    pub const VOLUME: &str = "SVVolumeProvider";
    /// `DS_IIMirror`, `DS_IIMirrorGroup`.
    pub const MIRROR: &str = "IIMirrorProvider";
    /// `DS_IIMirrorTarget`.
    pub const MIRROR_TARGET: &str = "IIMirrorTargetProvider";
    /// The mirror associations.
    pub const MIRROR_ASSOCIATION: &str = "IIMirrorAssociationProvider";
}

/// Registers every provider of this crate over `engine`.
pub fn register(registry: &mut ProviderRegistry, engine: &Engine) {
    register_with(registry, backend::Backend::new(engine.clone()));
}

/// Registers every provider of this crate over a configured [`backend::Backend`].
pub fn register_with(registry: &mut ProviderRegistry, backend: backend::Backend) {
    let set = Arc::new(set::SetProvider::new(backend.clone()));
    registry.register(
        names::SET,
        ProviderEntry {
            instance: Some(set.clone()),
            method: Some(set),
            association: None,
        },
    );
    let group = Arc::new(group::GroupProvider::new(backend.clone()));
    registry.register(
        names::GROUP,
        ProviderEntry {
            instance: Some(group.clone()),
            method: Some(group),
            association: None,
        },
    );
    let overflow = Arc::new(overflow::OverflowProvider::new(backend.clone()));
    registry.register(
        names::OVERFLOW,
        ProviderEntry {
            instance: Some(overflow.clone()),
            method: Some(overflow),
            association: None,
        },
    );
    let assoc = Arc::new(assoc::AssocProvider::new(backend.clone()));
    registry.register(
        names::ASSOCIATION,
        ProviderEntry {
            instance: Some(assoc.clone()),
            method: None,
            association: Some(assoc),
        },
    );
    let mirror = Arc::new(mirror::MirrorProvider::new(backend.clone()));
    registry.register(
        names::MIRROR,
        ProviderEntry {
            instance: Some(mirror.clone()),
            method: Some(mirror),
            association: None,
        },
    );
    let target = Arc::new(mirror::target::TargetProvider::new(backend.clone()));
    registry.register(
        names::MIRROR_TARGET,
        ProviderEntry {
            instance: Some(target.clone()),
            method: Some(target),
            association: None,
        },
    );
    let massoc = Arc::new(mirror::assoc::MirrorAssocProvider::new(backend.clone()));
    registry.register(
        names::MIRROR_ASSOCIATION,
        ProviderEntry {
            instance: Some(massoc.clone()),
            method: None,
            association: Some(massoc),
        },
    );
    registry.register(
        names::VOLUME,
        ProviderEntry {
            instance: Some(Arc::new(volume::VolumeProvider::new(backend))),
            method: None,
            association: None,
        },
    );
}

/// A registry holding this crate's providers, with `DS_Volume` reporting how
/// the volumes in use are reachable over NBD.
pub fn registry_with_nbd(engine: &Engine, reach: nbd_reach::NbdReach) -> ProviderRegistry {
    registry_for(backend::Backend::new(engine.clone()), reach)
}

/// A registry holding this crate's providers over a configured backend
/// (peers, volume roots), with `DS_Volume` reporting NBD reach.
pub fn registry_for(backend: backend::Backend, reach: nbd_reach::NbdReach) -> ProviderRegistry {
    let mut r = ProviderRegistry::new();
    register_with(&mut r, backend.clone());
    let volumes = volume::VolumeProvider::new(backend).with_nbd(reach);
    r.register(
        names::VOLUME,
        ProviderEntry {
            instance: Some(Arc::new(volumes)),
            method: None,
            association: None,
        },
    );
    r
}

/// A registry holding just this crate's providers.
pub fn registry(engine: &Engine) -> ProviderRegistry {
    let mut r = ProviderRegistry::new();
    register(&mut r, engine);
    r
}
