//! Tests of the `iiadm` parser: every option's accepted form and every usage error.

use super::*;

fn env() -> Env {
    Env::default()
}

fn ok(args: &[&str]) -> Action {
    match parse(args.iter().copied(), &env()) {
        Ok(h) => h.action,
        Err(e) => panic!("{args:?} should parse, got {e}"),
    }
}

fn err(args: &[&str]) -> UsageError {
    match parse(args.iter().copied(), &env()) {
        Ok(h) => panic!("{args:?} should fail, got {:?}", h.action),
        Err(e) => e,
    }
}

fn set(s: &str) -> Target {
    Target::Set(s.to_owned())
}

fn grp(s: &str) -> Target {
    Target::Group(s.to_owned())
}

#[test]
fn enable_forms() {
    assert_eq!(
        ok(&["-e", "ind", "/m", "/s", "/b"]),
        Action::Enable {
            set_type: SetType::Independent,
            master: "/m".into(),
            shadow: "/s".into(),
            bitmap: "/b".into(),
            name: None,
            group: None,
        }
    );
    assert_eq!(
        ok(&["-g", "g1", "-e", "dep", "/m", "/s", "/b", "nightly"]),
        Action::Enable {
            set_type: SetType::Dependent,
            master: "/m".into(),
            shadow: "/s".into(),
            bitmap: "/b".into(),
            name: Some("nightly".into()),
            group: Some("g1".into()),
        }
    );
    assert_eq!(err(&["-e", "shd", "/m", "/s", "/b"]), UsageError::SetType);
    assert_eq!(err(&["-e"]), UsageError::SetType);
    assert_eq!(err(&["-e", "ind", "/m", "/s"]), UsageError::EnableVolumes);
    assert_eq!(
        err(&["-e", "ind", "/m", "/s", "/b", "n", "x"]),
        UsageError::EnableVolumes
    );
}

#[test]
fn set_actions_take_one_set_or_a_group() {
    assert_eq!(ok(&["-d", "/s"]), Action::Disable(set("/s")));
    assert_eq!(ok(&["-g", "g", "-d"]), Action::Disable(grp("g")));
    assert_eq!(ok(&["-a", "/s"]), Action::Abort(set("/s")));
    assert_eq!(ok(&["-w", "/s"]), Action::Wait(set("/s")));
    assert_eq!(ok(&["-g", "g", "-w"]), Action::Wait(grp("g")));
    assert_eq!(ok(&["-R", "/s"]), Action::Reset(set("/s")));
    assert_eq!(ok(&["-D", "/s"]), Action::Detach(set("/s")));
    assert_eq!(ok(&["-E", "/s"]), Action::Export(set("/s")));
    assert_eq!(err(&["-d"]), UsageError::MissingOperand('d', "a set"));
    assert_eq!(
        err(&["-w", "/a", "/b"]),
        UsageError::TooManyOperands('w', "/b".into())
    );
    assert_eq!(
        err(&["-g", "g", "-a", "/s"]),
        UsageError::TooManyOperands('a', "/s".into())
    );
}

#[test]
fn copy_and_update_need_a_direction() {
    assert_eq!(
        ok(&["-c", "s", "/s"]),
        Action::Copy(Direction::ToShadow, vec![set("/s")])
    );
    assert_eq!(
        ok(&["-u", "m", "/a", "/b"]),
        Action::Update(Direction::ToMaster, vec![set("/a"), set("/b")])
    );
    // getopt style: attached value and clusters.
    assert_eq!(
        ok(&["-cs", "/s"]),
        Action::Copy(Direction::ToShadow, vec![set("/s")])
    );
    assert_eq!(
        ok(&["-nu", "m", "/s"]),
        Action::Update(Direction::ToMaster, vec![set("/s")])
    );
    assert_eq!(
        ok(&["-g", "g", "-u", "s"]),
        Action::Update(Direction::ToShadow, vec![grp("g")])
    );
    assert_eq!(err(&["-c", "x", "/s"]), UsageError::Direction('c'));
    assert_eq!(err(&["-u", "/s"]), UsageError::Direction('u'));
    assert_eq!(err(&["-u"]), UsageError::Direction('u'));
    assert_eq!(err(&["-c", "s"]), UsageError::MissingOperand('c', "a set"));
}

#[test]
fn listings_and_status() {
    assert_eq!(ok(&[]), Action::List(None));
    assert_eq!(ok(&["-l"]), Action::List(None));
    assert_eq!(ok(&["--json"]), Action::List(None));
    assert_eq!(ok(&["-g", "g", "-l"]), Action::List(Some("g".into())));
    assert_eq!(ok(&["-L"]), Action::ListOverflows);
    assert_eq!(ok(&["-V"]), Action::ListVolumes(None));
    assert_eq!(
        ok(&["-V", "/v/m"]),
        Action::ListVolumes(Some("/v/m".into()))
    );
    assert_eq!(err(&["-g", "g", "-V"]), UsageError::GroupNotAllowed);
    assert_eq!(ok(&["-G"]), Action::ListGroups);
    assert_eq!(ok(&["-g", "-L"]), Action::ListGroups);
    assert_eq!(ok(&["-i"]), Action::Status(Scope::All));
    assert_eq!(ok(&["-i", "all"]), Action::Status(Scope::All));
    assert_eq!(ok(&["-i", "/s"]), Action::Status(Scope::Target(set("/s"))));
    assert_eq!(
        ok(&["-g", "g", "-i"]),
        Action::Status(Scope::Target(grp("g")))
    );
    assert_eq!(
        err(&["-l", "x"]),
        UsageError::TooManyOperands('l', "x".into())
    );
    assert_eq!(
        err(&["-i", "a", "b"]),
        UsageError::TooManyOperands('i', "b".into())
    );
    assert_eq!(err(&["-g", "g", "-L"]), UsageError::GroupNotAllowed);
    assert_eq!(err(&["-g", "g", "-G"]), UsageError::GroupNotAllowed);
}

#[test]
fn overflow_options() {
    assert_eq!(
        ok(&["-A", "/o", "/s"]),
        Action::Attach {
            overflow: "/o".into(),
            target: set("/s")
        }
    );
    assert_eq!(
        ok(&["-g", "g", "-A", "/o"]),
        Action::Attach {
            overflow: "/o".into(),
            target: grp("g")
        }
    );
    assert_eq!(ok(&["-O", "/o"]), Action::InitOverflow("/o".into()));
    assert_eq!(ok(&["-Q", "/o"]), Action::QueryOverflow("/o".into()));
    assert_eq!(ok(&["-Z", "/o"]), Action::DeleteOverflow("/o".into()));
    assert_eq!(
        err(&["-A", "/o"]),
        UsageError::MissingOperand('A', "an overflow volume and a set")
    );
    for opt in ["-O", "-Q", "-Z"] {
        assert_eq!(err(&["-g", "g", opt, "/o"]), UsageError::GroupNotAllowed);
    }
}

#[test]
fn export_import_join() {
    assert_eq!(
        ok(&["-I", "/s", "/b"]),
        Action::Import {
            shadow: "/s".into(),
            bitmap: "/b".into()
        }
    );
    assert_eq!(
        ok(&["-J", "/s"]),
        Action::Join {
            shadow: "/s".into(),
            bitmap: None
        }
    );
    assert_eq!(
        ok(&["-J", "/s", "/b"]),
        Action::Join {
            shadow: "/s".into(),
            bitmap: Some("/b".into())
        }
    );
    assert_eq!(
        err(&["-I", "/s"]),
        UsageError::MissingOperand('I', "a shadow and a bitmap volume")
    );
    assert_eq!(
        err(&["-g", "g", "-I", "/s", "/b"]),
        UsageError::GroupNotAllowed
    );
    assert_eq!(err(&["-g", "g", "-J", "/s"]), UsageError::GroupNotAllowed);
    assert_eq!(
        err(&["-J", "/s", "/b", "/c"]),
        UsageError::TooManyOperands('J', "/c".into())
    );
}

#[test]
fn copy_parameters() {
    assert_eq!(
        ok(&["-P", "10", "200", "/s"]),
        Action::SetCopyParams(
            CopyParams {
                delay: 10,
                units: 200
            },
            set("/s")
        )
    );
    assert_eq!(ok(&["-P", "/s"]), Action::GetCopyParams(set("/s")));
    assert_eq!(ok(&["-g", "g", "-P"]), Action::GetCopyParams(grp("g")));
    assert_eq!(
        ok(&["-g", "g", "-P", "2", "100"]),
        Action::SetCopyParams(
            CopyParams {
                delay: 2,
                units: 100
            },
            grp("g")
        )
    );
    assert_eq!(
        err(&["-P", "ten", "200", "/s"]),
        UsageError::Number("ten".into())
    );
    assert_eq!(
        err(&["-P", "1", "/s"]),
        UsageError::MissingOperand('P', "DELAY UNITS SET")
    );
    assert_eq!(err(&["-P"]), UsageError::MissingOperand('P', "a set"));
}

#[test]
fn suspend_resume() {
    assert_eq!(ok(&["-s", "all"]), Action::Suspend(Scope::All));
    assert_eq!(ok(&["-s", "/s"]), Action::Suspend(Scope::Target(set("/s"))));
    assert_eq!(ok(&["-r", "all"]), Action::Resume(Scope::All));
    assert_eq!(
        ok(&["-g", "g", "-r"]),
        Action::Resume(Scope::Target(grp("g")))
    );
    assert_eq!(
        err(&["-s"]),
        UsageError::MissingOperand('s', "a set or all")
    );
}

#[test]
fn group_management() {
    assert_eq!(
        ok(&["-C", "g"]),
        Action::CreateGroup {
            name: "g".into(),
            group_type: None
        }
    );
    assert_eq!(
        ok(&["-C", "g", "dep"]),
        Action::CreateGroup {
            name: "g".into(),
            group_type: Some(SetType::Dependent)
        }
    );
    assert_eq!(
        err(&["-C", "g", "shd"]),
        UsageError::GroupType("shd".into())
    );
    assert_eq!(
        err(&["-C", "bad name"]),
        UsageError::BadGroupName("bad name".into())
    );
    assert_eq!(
        ok(&["-M", "/s", "g"]),
        Action::AddToGroup {
            sets: vec!["/s".into()],
            group: "g".into()
        }
    );
    assert_eq!(
        ok(&["-g", "g", "-m", "/a", "/b"]),
        Action::AddToGroup {
            sets: vec!["/a".into(), "/b".into()],
            group: "g".into()
        }
    );
    assert_eq!(
        ok(&["-g", "", "-m", "/a"]),
        Action::RemoveFromGroup(vec!["/a".into()])
    );
    assert_eq!(
        ok(&["-B", "/a"]),
        Action::RemoveFromGroup(vec!["/a".into()])
    );
    assert_eq!(
        ok(&["-N", "a", "b"]),
        Action::RenameGroup {
            old: "a".into(),
            new: "b".into()
        }
    );
    assert_eq!(ok(&["-X", "g"]), Action::DeleteGroup("g".into()));
    assert_eq!(err(&["-m", "/a"]), UsageError::GroupRequired);
    assert_eq!(
        err(&["-g", "g", "-m"]),
        UsageError::MissingOperand('m', "one or more sets")
    );
    assert_eq!(err(&["-g", "g", "-X", "g"]), UsageError::GroupNotAllowed);
    assert_eq!(err(&["-g", "-d"]), UsageError::GroupName);
    assert_eq!(err(&["-g", "", "-d"]), UsageError::GroupName);
}

#[test]
fn general_usage_errors() {
    assert_eq!(err(&["/s"]), UsageError::NoAction);
    assert_eq!(err(&["-g", "g"]), UsageError::NoAction);
    assert_eq!(err(&["-l", "-L"]), UsageError::TooManyActions);
    assert_eq!(err(&["-d", "/s", "-a"]), UsageError::TooManyActions);
    assert_eq!(err(&["-l", "-v"]), UsageError::TooManyActions);
    assert_eq!(err(&["-x"]), UsageError::Unrecognized("-x".into()));
    assert_eq!(
        err(&["--frobnicate"]),
        UsageError::Unrecognized("--frobnicate".into())
    );
    assert_eq!(
        err(&["--json=yes"]),
        UsageError::Unrecognized("--json=yes".into())
    );
    assert_eq!(err(&["--url"]), UsageError::MissingValue("--url".into()));
    assert_eq!(err(&["-p", "-w", "/s"]), UsageError::PidLock);
    assert_eq!(
        err(&["--timeout", "soon", "-l"]),
        UsageError::Number("soon".into())
    );
    // Messages are the classic ones.
    assert_eq!(
        UsageError::NoAction.to_string(),
        "must specify an action flag"
    );
    assert_eq!(
        UsageError::TooManyActions.to_string(),
        "too many action flags"
    );
    assert_eq!(
        UsageError::GroupNotAllowed.to_string(),
        "can't use a group with this option"
    );
}

#[test]
fn help_version_and_operands_after_double_dash() {
    assert_eq!(ok(&["-h"]), Action::Help);
    assert_eq!(ok(&["--help", "-l"]), Action::Help);
    assert_eq!(ok(&["-v"]), Action::Version);
    assert_eq!(ok(&["--version"]), Action::Version);
    assert_eq!(
        ok(&["-d", "--", "-odd-name"]),
        Action::Disable(set("-odd-name"))
    );
}

#[test]
fn connection_options_and_environment() {
    let e = Env {
        url: Some("http://env:1".into()),
        user: Some("envuser".into()),
        password: Some("envpw".into()),
    };
    let h = parse(["-l"], &e).unwrap();
    assert_eq!(h.conn.url, "http://env:1");
    assert_eq!(h.conn.user.as_deref(), Some("envuser"));
    assert_eq!(h.conn.password_env.as_deref(), Some("envpw"));
    let h = parse(
        [
            "--url=https://x:5989",
            "--user",
            "u",
            "--password-file",
            "/pw",
            "--json",
            "--no-verify",
            "--ca-file",
            "/ca.pem",
            "--timeout",
            "9",
            "-l",
        ],
        &e,
    )
    .unwrap();
    assert_eq!(h.conn.url, "https://x:5989");
    assert_eq!(h.conn.user.as_deref(), Some("u"));
    assert_eq!(
        h.conn.password_file.as_deref(),
        Some(std::path::Path::new("/pw"))
    );
    assert!(h.json && h.conn.no_verify);
    assert_eq!(h.conn.timeout, Some(9));
    let h = parse(["-l"], &Env::default()).unwrap();
    assert_eq!(h.conn.url, "http://127.0.0.1:5988");
    assert!(parse(["-n", "-c", "m", "/s"], &env()).unwrap().no_confirm);
}

#[test]
fn session_check_and_the_verbs_that_need_the_runtime() {
    assert_eq!(
        ok(&["session", "check", "s.xml"]),
        Action::SessionCheck("s.xml".into())
    );
    let h = parse(["--json", "session", "check", "s.xml"], &env()).unwrap();
    assert!(h.json);
    for (args, text) in [
        (&["session"][..], "session requires a command: check FILE"),
        (&["session", "check"][..], "session check requires a FILE"),
        (
            &["session", "check", "a", "b"][..],
            "too many arguments for session check: b",
        ),
        (&["session", "frob"][..], "unknown session command \"frob\""),
    ] {
        assert_eq!(err(args).to_string(), text, "{args:?}");
    }
    for verb in ["start", "stop", "status", "list"] {
        let e = err(&["session", verb, "x"]).to_string();
        assert!(e.contains("needs the sessions runtime"), "{e}");
    }
    // `session` as an operand of a classic action stays an operand.
    assert_eq!(
        ok(&["-i", "session"]),
        Action::Status(Scope::Target(set("session")))
    );
}
