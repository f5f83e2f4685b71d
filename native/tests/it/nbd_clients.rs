//! The NBD server driven by real clients: `qemu-io`, `qemu-img` (Debian
//! `qemu-utils`), `nbdinfo` and `nbdcopy` (Debian `libnbd-bin`). A missing tool
//! fails the test with the package to install; nothing is skipped.

use crate::nbd_common::*;
use native::nbd::{FileDevice, FileExport};
use std::sync::Arc;

const MIB: usize = 1 << 20;

#[test]
fn qemu_io_writes_and_reads_back_a_pattern() {
    let dir = tempfile::tempdir().unwrap();
    let path = volume(dir.path(), "vol.img", 4 * MIB, 0);
    let (ex, names) = exports(&[(&path, false)]);
    let srv = TestServer::start(ex);
    let uri = srv.uri(&names[0]);
    assert!(
        uri.contains("//"),
        "absolute path export gives a double slash: {uri}"
    );

    let out = qemu_io(
        &uri,
        &[
            "write -P 0xab 0 64k",
            "read -P 0xab 0 64k",
            "read -P 0 64k 64k",
        ],
    );
    assert!(out.contains("wrote 65536/65536 bytes at offset 0"), "{out}");
    assert!(out.contains("read 65536/65536 bytes at offset 0"), "{out}");
    let file = std::fs::read(&path).unwrap();
    assert!(file[..65536].iter().all(|&b| b == 0xab));
    assert!(file[65536..].iter().all(|&b| b == 0));
}

#[test]
fn qemu_io_zeroes_discard_flush_fua_and_parallel_aio() {
    let dir = tempfile::tempdir().unwrap();
    let path = volume(dir.path(), "vol.img", 4 * MIB, 0x33);
    let (ex, names) = exports(&[(&path, false)]);
    let srv = TestServer::start(ex);
    let uri = srv.uri(&names[0]);

    let mut cmds = vec![
        "write -z 0 128k".to_string(),
        "read -P 0 0 128k".to_string(),
        "write -f -P 0x44 128k 4k".to_string(),
        "discard 1M 64k".to_string(),
        "flush".to_string(),
    ];
    // Sixteen overlapping-in-time writes, then read them all back.
    for i in 0..16 {
        cmds.push(format!("aio_write -P {} {}k 64k", 0x60 + i, 2048 + i * 64));
    }
    cmds.push("aio_flush".into());
    for i in 0..16 {
        cmds.push(format!("read -P {} {}k 64k", 0x60 + i, 2048 + i * 64));
    }
    let cmds: Vec<&str> = cmds.iter().map(String::as_str).collect();
    qemu_io(&uri, &cmds);

    let file = std::fs::read(&path).unwrap();
    assert!(file[..128 * 1024].iter().all(|&b| b == 0));
    assert!(file[128 * 1024..132 * 1024].iter().all(|&b| b == 0x44));
    for i in 0..16usize {
        let start = (2048 + i * 64) * 1024;
        assert!(file[start..start + 65536]
            .iter()
            .all(|&b| b == 0x60 + i as u8));
    }
}

#[test]
fn qemu_img_info_and_convert_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.img");
    std::fs::write(&src, pattern(8 * MIB, 7)).unwrap();
    let target = volume(dir.path(), "target.img", 8 * MIB, 0);
    let (ex, names) = exports(&[(&src, true), (&target, false)]);
    let srv = TestServer::start(ex);

    let info = run_ok("qemu-img", &["info", "-f", "raw", &srv.uri(&names[1])]);
    assert!(
        info.contains("virtual size: 8 MiB (8388608 bytes)"),
        "{info}"
    );

    // NBD -> file.
    let out = dir.path().join("out.img");
    run_ok(
        "qemu-img",
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "raw",
            &srv.uri(&names[0]),
            out.to_str().unwrap(),
        ],
    );
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&src).unwrap());

    // File -> NBD (an existing target, hence -n).
    run_ok(
        "qemu-img",
        &[
            "convert",
            "-n",
            "-f",
            "raw",
            "-O",
            "raw",
            src.to_str().unwrap(),
            &srv.uri(&names[1]),
        ],
    );
    assert!(std::fs::read(&target).unwrap() == std::fs::read(&src).unwrap());
    run_ok(
        "qemu-img",
        &[
            "compare",
            "-f",
            "raw",
            "-F",
            "raw",
            &srv.uri(&names[0]),
            &srv.uri(&names[1]),
        ],
    );
}

#[test]
fn nbdinfo_lists_and_describes_exports() {
    let dir = tempfile::tempdir().unwrap();
    let a = volume(dir.path(), "a.img", MIB, 0);
    let b = volume(dir.path(), "b.img", 2 * MIB, 0);
    let (ex, names) = exports(&[(&a, false), (&b, true)]);
    let srv = TestServer::start(ex);

    let list = run_ok("nbdinfo", &["--list", &srv.base_uri()]);
    for name in &names {
        assert!(list.contains(&format!("export=\"{name}\"")), "{list}");
    }
    assert!(list.contains("export-size: 1048576"), "{list}");
    assert!(list.contains("export-size: 2097152"), "{list}");

    let one = run_ok("nbdinfo", &[&srv.uri(&names[0])]);
    for want in [
        "export-size: 1048576",
        "is_read_only: false",
        "can_flush: true",
        "can_fua: true",
        "can_trim: true",
        "can_zero: true",
        "can_multi_conn: true",
        "block_size_minimum: 1",
        "block_size_maximum: 33554432",
    ] {
        assert!(one.contains(want), "missing {want:?} in:\n{one}");
    }
    let ro = run_ok("nbdinfo", &[&srv.uri(&names[1])]);
    assert!(ro.contains("is_read_only: true"), "{ro}");
    let size = run_ok("nbdinfo", &["--size", &srv.uri(&names[1])]);
    assert_eq!(size.trim(), "2097152");

    let missing = run_tool("nbdinfo", &[&srv.uri("/no/such/volume")]);
    assert!(!missing.status.success(), "unknown export must fail");
}

#[test]
fn nbdcopy_round_trip_over_several_connections() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.img");
    std::fs::write(&src, pattern(16 * MIB, 11)).unwrap();
    let vol = volume(dir.path(), "vol.img", 16 * MIB, 0);
    let (ex, names) = exports(&[(&vol, false)]);
    let srv = TestServer::start(ex);
    let uri = srv.uri(&names[0]);

    // nbdcopy opens several connections because the export allows multi-conn.
    run_ok("nbdcopy", &[src.to_str().unwrap(), &uri]);
    assert!(std::fs::read(&vol).unwrap() == std::fs::read(&src).unwrap());
    let back = dir.path().join("back.img");
    run_ok(
        "nbdcopy",
        &["--request-size=1048576", &uri, back.to_str().unwrap()],
    );
    assert!(std::fs::read(&back).unwrap() == std::fs::read(&src).unwrap());
    run_ok(
        "nbdcopy",
        &["--connections=1", "--requests=16", &uri, "null:"],
    );
}

#[test]
fn read_only_export_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = volume(dir.path(), "ro.img", MIB, 0x5a);
    let (ex, names) = exports(&[(&path, true)]);
    let srv = TestServer::start(ex);
    let uri = srv.uri(&names[0]);

    // Reading works; qemu sees the READ_ONLY flag and will not open it for writing.
    let out = run_ok(
        "qemu-io",
        &["-r", "-f", "raw", &uri, "-c", "read -P 0x5a 0 64k"],
    );
    assert!(!out.contains("failed"), "{out}");
    let w = run_tool("qemu-io", &["-f", "raw", &uri, "-c", "write -P 1 0 4k"]);
    let text = String::from_utf8_lossy(&w.stderr).to_string() + &String::from_utf8_lossy(&w.stdout);
    assert!(!w.status.success(), "{text}");
    assert!(
        text.contains("Permission denied") || text.contains("read-only"),
        "{text}"
    );
    // nbdcopy into it fails as well.
    let src = volume(dir.path(), "src.img", MIB, 1);
    let c = run_tool("nbdcopy", &[src.to_str().unwrap(), &uri]);
    assert!(!c.status.success());
    assert!(std::fs::read(&path).unwrap().iter().all(|&b| b == 0x5a));
}

#[test]
fn refused_writes_reach_qemu_io_as_operation_not_permitted() {
    // A device that refuses writes after negotiation (an exported shadow, an
    // offline set): the server answers EPERM and qemu-io says so.
    let dir = tempfile::tempdir().unwrap();
    let path = volume(dir.path(), "shadow.img", MIB, 0x21);
    let ex = FileExport::new();
    let name = path.to_str().unwrap().to_string();
    ex.insert(
        name.clone(),
        Arc::new(RefusingDevice(Arc::new(
            FileDevice::open(&path, false).unwrap(),
        ))),
    );
    let srv = TestServer::start(Arc::new(ex));
    let uri = srv.uri(&name);

    let o = run_tool("qemu-io", &["-f", "raw", &uri, "-c", "write -P 0xab 0 64k"]);
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(text.contains("Operation not permitted"), "{text}");
    qemu_io(&uri, &["read -P 0x21 0 64k"]);
    assert!(std::fs::read(&path).unwrap().iter().all(|&b| b == 0x21));
}
