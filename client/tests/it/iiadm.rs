//! `iiadm` against a canned responder: classic output, `--json`, exit
//! statuses and messages, both through the library runner and the binary.

use crate::responder::*;
use client::cli::args::{parse, Env};
use client::cli::run::{run, Io};
use std::process::Command;

/// Runs the responder on its own runtime so that `run` can block on another.
fn serve(script: Vec<Exchange>) -> (tokio::runtime::Runtime, Responder) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(Responder::start(script));
    (rt, r)
}

fn iiadm(url: &str, args: &[&str]) -> (i32, String, String) {
    let mut argv = vec!["--url".to_owned(), url.to_owned()];
    argv.extend(args.iter().map(|s| s.to_string()));
    let high = parse(argv, &Env::default()).expect("usage ok");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = {
        let mut io = Io {
            out: &mut out,
            err: &mut err,
            progress_tty: false,
            confirm: None,
        };
        run(&high, &mut io)
    };
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn enum_sets() -> Exchange {
    Exchange {
        method: "EnumerateInstances",
        body_has: vec!["DS_IISet"],
        reply: iresp(
            "EnumerateInstances",
            &format!(
                "{}{}",
                named_set("/vol/s1", "dependent", "idle", Some("g1")),
                named_set("/vol/s2", "independent", "suspended", None)
            ),
        ),
        ..Default::default()
    }
}

#[test]
fn list_status_and_json() {
    let (_rt, r) = serve(vec![enum_sets(), enum_sets(), enum_sets(), enum_sets()]);
    let (code, out, err) = iiadm(&r.url, &["-l"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "dep /vol/master /vol/s1 /vol/s1.bmp\nind /vol/master /vol/s2 /vol/s2.bmp (suspended)\n"
    );
    let (code, out, _) = iiadm(&r.url, &["--json", "-l"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["group"], "g1");
    assert_eq!(v[1]["state"], "suspended");
    let (code, out, _) = iiadm(&r.url, &["-i", "/vol/s1"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("/vol/master: (master volume)\n/vol/s1: (shadow volume)\n/vol/s1.bmp: (bitmap volume)\nGroup name: g1\nDependent copy\n"), "{out}");
    assert!(out.contains("Percent completed: 100\n"), "{out}");
    let (code, out, err) = iiadm(&r.url, &["-i", "/vol/nope"]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert!(err.starts_with("iiadm: set /vol/nope not found"), "{err}");
    r.check();
}

#[test]
fn failures_name_the_set_and_the_cause() {
    let (_rt, r) = serve(vec![
        enum_sets(),
        Exchange {
            method: "DeleteInstance",
            reply: ierror(
                "DeleteInstance",
                1,
                "a copy is running on /vol/s1; wait for it with iiadm -w",
            ),
            ..Default::default()
        },
        Exchange {
            method: "CreateInstance",
            body_has: vec![
                "<VALUE>/m</VALUE>",
                "<VALUE>/s</VALUE>",
                "<VALUE>/b</VALUE>",
                "<VALUE>independent</VALUE>",
            ],
            reply: iresp("CreateInstance", &set_name("/s", "independent")),
            ..Default::default()
        },
        enum_sets(),
        Exchange {
            method: "GetInstance",
            reply: iresp(
                "GetInstance",
                &set_instance("/vol/s1", "dependent", "idle", None, "100"),
            ),
            ..Default::default()
        },
    ]);
    let (code, _, err) = iiadm(&r.url, &["-d", "/vol/s1"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "iiadm: set /vol/s1: CIM_ERR_FAILED (1): a copy is running on /vol/s1; wait for it with iiadm -w\n"
    );
    let (code, out, err) = iiadm(&r.url, &["-e", "ind", "/m", "/s", "/b"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    let (code, out, _) = iiadm(&r.url, &["-P", "/vol/s1"]);
    assert_eq!(code, 0);
    assert_eq!(out, "volume: /vol/s1\ncopy delay: 2\ncopy unit: 100\n");
    r.check();
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_iiadm"));
    c.env_remove("IIADM_URL")
        .env_remove("IIADM_USER")
        .env_remove("IIADM_PASSWORD");
    c
}

#[test]
fn binary_exit_statuses() {
    let o = bin().args(["/vol/s1"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("iiadm: must specify an action flag\nusage: iiadm"),
        "{err}"
    );
    let o = bin().args(["-l", "-L"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("iiadm: too many action flags"));
    let o = bin().args(["-h"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("usage: iiadm"));
    let o = bin().args(["-v"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("Point in Time Copy version"));
    // Nobody listens on this port: the operation fails (1), it is not a usage error.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = bin()
        .env("IIADM_URL", format!("http://127.0.0.1:{port}"))
        .args(["-l"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot reach"),
        "{:?}",
        o
    );
}

#[test]
fn binary_talks_to_the_server_with_credentials_from_the_environment() {
    let (_rt, r) = serve(vec![enum_sets()]);
    let o = bin()
        .env("IIADM_URL", &r.url)
        .env("IIADM_USER", "admin")
        .env("IIADM_PASSWORD", "pw")
        .args(["-l"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("/vol/s2"));
    r.check();
    let seen = r.seen.lock().unwrap();
    assert_eq!(
        seen[0].headers.get("authorization").unwrap(),
        "Basic YWRtaW46cHc="
    );
}

#[tokio::test]
async fn run_capture_works_inside_a_runtime() {
    let r = Responder::start(vec![enum_sets()]).await;
    let env = Env {
        url: Some(r.url.clone()),
        ..Default::default()
    };
    let (code, out, err) = client::cli::run_capture(vec!["-l".into()], &env).await;
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out.lines().count(), 2);
    let (code, out, err) = client::cli::run_capture(vec!["-q".into()], &env).await;
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.starts_with("iiadm: unrecognized argument -q\nusage:"),
        "{err}"
    );
    r.check();
}

#[test]
fn group_actions_try_every_member_and_report_each_failure() {
    let group = "<INSTANCE CLASSNAME=\"DS_IIGroup\"><PROPERTY NAME=\"groupName\" TYPE=\"string\"><VALUE>g1</VALUE></PROPERTY></INSTANCE>";
    let members = format!(
        "<RETURNVALUE PARAMTYPE=\"uint32\"><VALUE>3</VALUE></RETURNVALUE>\
         <PARAMVALUE NAME=\"sets\" PARAMTYPE=\"reference\"><VALUE.REFARRAY>\
         <VALUE.REFERENCE>{}</VALUE.REFERENCE><VALUE.REFERENCE>{}</VALUE.REFERENCE><VALUE.REFERENCE>{}</VALUE.REFERENCE>\
         </VALUE.REFARRAY></PARAMVALUE>",
        set_name("/vol/a", "dependent"),
        set_name("/vol/b", "dependent"),
        set_name("/vol/c", "dependent")
    );
    let del = |ok: bool, who: &'static str| Exchange {
        method: "DeleteInstance",
        body_has: vec![who],
        reply: if ok {
            iresp_empty("DeleteInstance")
        } else {
            ierror("DeleteInstance", 1, "the set is busy")
        },
        ..Default::default()
    };
    let (_rt, r) = serve(vec![
        Exchange {
            method: "GetInstance",
            reply: iresp("GetInstance", group),
            ..Default::default()
        },
        Exchange {
            method: "getIISets",
            reply: mresp("getIISets", &members),
            ..Default::default()
        },
        del(false, "/vol/a"),
        del(true, "/vol/b"),
        del(false, "/vol/c"),
    ]);
    let (code, _, err) = iiadm(&r.url, &["-g", "g1", "-d"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "iiadm: set /vol/a: CIM_ERR_FAILED (1): the set is busy\n\
         iiadm: set /vol/c: CIM_ERR_FAILED (1): the set is busy\n"
    );
    r.check();
}

#[test]
fn a_false_result_is_a_failure() {
    let abort = |v: &str| Exchange {
        method: "abort",
        reply: mresp(
            "abort",
            &format!("<RETURNVALUE><VALUE>{v}</VALUE></RETURNVALUE>"),
        ),
        ..Default::default()
    };
    let (_rt, r) = serve(vec![
        enum_sets(),
        abort("FALSE"),
        enum_sets(),
        Exchange {
            method: "abort",
            reply: mresp_bool("abort", false),
            ..Default::default()
        },
        enum_sets(),
        abort("TRUE"),
    ]);
    for _ in 0..2 {
        let (code, _, err) = iiadm(&r.url, &["-a", "/vol/s1"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("abort on /vol/s1 returned"), "{err}");
    }
    let (code, _, err) = iiadm(&r.url, &["-a", "/vol/s1"]);
    assert_eq!((code, err.as_str()), (0, ""));
    r.check();
}
