//! Overflow volumes: `DS_IIOverflowVol` and compact dependent shadows spilling
//! into it.

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn overflow_volumes() {
    let f = Fixture::new();
    let ov = f.volume("ov", 4 * MIB);
    let inst = Instance::new("DS_IIOverflowVol").with(
        "overflowVolPath",
        CimType::String,
        Value::String(ov.clone()),
    );
    let op = f
        .overflows
        .create_instance(&f.ctx, &class("DS_IIOverflowVol"), inst)
        .await
        .unwrap();
    let got = f
        .overflows
        .get_instance(&f.ctx, &class("DS_IIOverflowVol"), &op)
        .await
        .unwrap();
    assert_eq!(got.get("capacity"), Some(&Value::Uint64(4 * MIB)));
    assert_eq!(got.get("attachedSets"), Some(&Value::Uint32(0)));
    assert_eq!(got.get("totalAttachedSets"), Some(&Value::Uint32(0)));
    // Only the header chunk so far, in both counts.
    assert_eq!(got.get("usedBytes"), Some(&Value::Uint64(CHUNK)));
    assert_eq!(got.get("highWaterBytes"), Some(&Value::Uint64(CHUNK)));

    // A compact dependent set (shadow smaller than master).
    let m = f.volume("cm", 4 * MIB);
    let sh = f.volume("cs", MIB);
    let bm = f.volume("cb", 256 * 1024);
    let inst = set_instance(m.clone(), sh, bm, "dependent");
    let sp = f
        .sets
        .create_instance(&f.ctx, &class("DS_IISet"), inst)
        .await
        .unwrap();
    assert_eq!(
        f.call(
            &sp,
            "attachIIOverflowVolume",
            vec![ParamValue::new(
                "overflowVol",
                CimType::String,
                Value::String(ov.clone())
            )]
        )
        .await
        .unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(
        f.call(&sp, "getOverflowVolume", vec![]).await.unwrap(),
        Value::String(ov.clone())
    );
    match f.call(&op, "getIISets", vec![]).await.unwrap() {
        Value::Array(v) => assert_eq!(v[0], Value::Uint32(1)),
        other => panic!("{other:?}"),
    }
    // (attachedSets, totalAttachedSets) as GetInstance reports them.
    let attached = || async {
        let i = f
            .overflows
            .get_instance(&f.ctx, &class("DS_IIOverflowVol"), &op)
            .await
            .unwrap();
        let n = |p: &str| match i.get(p) {
            Some(Value::Uint32(n)) => *n,
            other => panic!("{p}: {other:?}"),
        };
        (n("attachedSets"), n("totalAttachedSets"))
    };
    assert_eq!(attached().await, (1, 1));
    let ac = class("DS_IISetOverflowVolAssoc");
    assert_eq!(
        f.assocs
            .references(&f.ctx, &ac, &op, Some("ownedby"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        f.assocs
            .references(&f.ctx, &ac, &sp, Some("owns"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        f.assocs
            .enumerate_instances(&f.ctx, &ac)
            .await
            .unwrap()
            .len(),
        1
    );

    // Spill: the 1 MiB shadow holds 32 chunks, the next 3 go to the overflow.
    let md = f.engine.device(Path::new(&m)).unwrap();
    for c in 0..35u64 {
        md.write_at(&[0x5A; 512], c * CHUNK, false).unwrap();
    }
    drop(md);
    let ov_bytes = |i: &Instance, name: &str| match i.get(name) {
        Some(Value::Uint64(n)) => *n,
        other => panic!("{name}: {other:?}"),
    };
    let got = f
        .overflows
        .get_instance(&f.ctx, &class("DS_IIOverflowVol"), &op)
        .await
        .unwrap();
    assert_eq!(ov_bytes(&got, "usedBytes"), 4 * CHUNK);
    assert_eq!(ov_bytes(&got, "highWaterBytes"), 4 * CHUNK);
    // A new point in time frees the chunks; the high-water mark stays.
    assert_eq!(
        f.call(&sp, "updateMasterToShadow", vec![]).await.unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(
        f.call(
            &sp,
            "waitForCompletion",
            vec![ParamValue::new(
                "timeoutSeconds",
                CimType::Uint32,
                Value::Uint32(60)
            )]
        )
        .await
        .unwrap(),
        Value::Boolean(true)
    );
    let listed = f
        .overflows
        .enumerate_instances(&f.ctx, &class("DS_IIOverflowVol"))
        .await
        .unwrap();
    assert_eq!(ov_bytes(&listed[0], "usedBytes"), CHUNK);
    assert_eq!(ov_bytes(&listed[0], "highWaterBytes"), 4 * CHUNK);

    // Attached: delete refused.
    assert_eq!(
        code(
            f.overflows
                .delete_instance(&f.ctx, &class("DS_IIOverflowVol"), &op)
                .await
        ),
        StatusCode::Failed
    );
    assert_eq!(
        f.call(&sp, "detachOverflowVolume", vec![]).await.unwrap(),
        Value::Boolean(true)
    );
    assert_eq!(attached().await, (0, 1), "none attached now, one ever");
    f.overflows
        .delete_instance(&f.ctx, &class("DS_IIOverflowVol"), &op)
        .await
        .unwrap();
    assert!(f
        .overflows
        .enumerate_instances(&f.ctx, &class("DS_IIOverflowVol"))
        .await
        .unwrap()
        .is_empty());
}
