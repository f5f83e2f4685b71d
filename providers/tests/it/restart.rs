//! Restart: the CIM view read back from the engine after it reopens.

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn restart_keeps_the_cim_view() {
    let f = Fixture::new();
    f.enable("independent", "rm", "rs", "rb").await.unwrap();
    let dep = f.enable("dependent", "dm", "ds", "db").await.unwrap();
    let g = Instance::new("DS_IIGroup")
        .with("groupName", CimType::String, s("g1"))
        .with("groupType", CimType::String, s("dependent"));
    let gp = f
        .groups
        .create_instance(&f.ctx, &class("DS_IIGroup"), g)
        .await
        .unwrap();
    f.call(&gp, "addIISet", vec![refp("set", &dep)])
        .await
        .unwrap();
    f.call(
        &dep,
        "setName",
        vec![ParamValue::new("name", CimType::String, s("dep-set"))],
    )
    .await
    .unwrap();
    f.engine
        .wait(Path::new(&*f.volume("rs", MIB)), None)
        .unwrap();

    let before = f
        .sets
        .enumerate_instances(&f.ctx, &class("DS_IISet"))
        .await
        .unwrap();
    let groups_before = f
        .groups
        .enumerate_instances(&f.ctx, &class("DS_IIGroup"))
        .await
        .unwrap();
    let f = f.reopen();
    let after = f
        .sets
        .enumerate_instances(&f.ctx, &class("DS_IISet"))
        .await
        .unwrap();
    let groups_after = f
        .groups
        .enumerate_instances(&f.ctx, &class("DS_IIGroup"))
        .await
        .unwrap();
    let paths = |v: &[Instance]| {
        v.iter()
            .map(|i| i.path.clone().unwrap().canonical_key())
            .collect::<Vec<_>>()
    };
    assert_eq!(paths(&before), paths(&after));
    assert_eq!(groups_before, groups_after);
    for (b, a) in before.iter().zip(&after) {
        for p in [
            "masterVolume",
            "bitmapVolume",
            "setName",
            "groupName",
            "copyUnits",
            "copyDelay",
            "masterCapacity",
        ] {
            assert_eq!(b.get(p), a.get(p), "{p}");
        }
    }
}
