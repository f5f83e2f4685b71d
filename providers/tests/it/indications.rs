//! Indications: engine events become `CIM_Inst*` indications, and set
//! errors raise one `CIM_AlertIndication`.

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn engine_events_become_indications() {
    let f = Fixture::new();
    let rx = f.engine.subscribe();
    let mut state = providers::indication::State::new(f.engine.clone(), Vec::new());
    state.prime();
    let path = f.enable("independent", "im", "is", "ib").await.unwrap();
    drain(&rx, &mut state);
    f.call(&path, "waitForCompletion", vec![u32p("timeoutSeconds", 30)])
        .await
        .unwrap();
    drain(&rx, &mut state);
    f.sets
        .delete_instance(&f.ctx, &class("DS_IISet"), &path)
        .await
        .unwrap();
    drain(&rx, &mut state);
    let got = state.sink();
    let classes: Vec<String> = got
        .iter()
        .map(|i| i.class_name.as_str().to_owned())
        .collect();
    assert_eq!(
        classes.first().map(String::as_str),
        Some("CIM_InstCreation"),
        "{classes:?}"
    );
    assert_eq!(
        classes.last().map(String::as_str),
        Some("CIM_InstDeletion"),
        "{classes:?}"
    );
    let del = got.last().unwrap();
    match del.get("SourceInstance") {
        Some(Value::Instance(i)) => {
            assert_eq!(i.get_str("shadowVolume"), path.key_str("shadowVolume"))
        }
        other => panic!("{other:?}"),
    }
    // The full copy's end is a modification with a previous instance.
    assert!(
        got.iter().any(|i| i.class_name.is("CIM_InstModification") && i.get("PreviousInstance").is_some()),
        "{classes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn set_errors_raise_one_alert() {
    let f = Fixture::new();
    let path = f.enable("dependent", "em", "es", "eb").await.unwrap();
    let shadow = PathBuf::from(path.key_str("shadowVolume").unwrap());
    let mut state = providers::indication::State::new(f.engine.clone(), Vec::new());
    state.prime();
    for _ in 0..2 {
        state.handle(native::EngineEvent::SetError {
            shadow: shadow.clone(),
            reason: "master volume I/O error".into(),
        });
    }
    let alerts: Vec<&Instance> = state
        .sink()
        .iter()
        .filter(|i| i.class_name.is("CIM_AlertIndication"))
        .collect();
    assert_eq!(alerts.len(), 1, "{:?}", state.sink());
    let a = alerts[0];
    assert!(a
        .get_str("Description")
        .unwrap()
        .contains(&*shadow.to_string_lossy()));
    assert_eq!(
        a.get_str("ProbableCauseDescription"),
        Some("master volume I/O error")
    );
    assert!(a
        .get_str("AlertingManagedElement")
        .unwrap()
        .contains("DS_IISet"));
}
