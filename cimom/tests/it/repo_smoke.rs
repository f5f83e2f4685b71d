//! Smoke test: a fresh state dir gets the bundled MOF.
use crate::core_support::open;

#[test]
fn fresh_state_dir_has_interop_classes() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let repo = c.repository();
    assert!(repo
        .get_class("interop", "CIM_IndicationSubscription")
        .is_some());
    assert!(repo.get_class("root/cimv2", "CIM_InstCreation").is_some());
    let ns = repo.namespaces();
    assert_eq!(ns, vec!["interop".to_string(), "root/cimv2".to_string()]);
}
