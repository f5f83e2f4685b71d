"""DS_IIMirror and DS_IIMirrorTarget between two cimomd on loopback: the
classes are there, and bad input is refused before anything moves, with the
DSP0200 code and a description naming the object and the cause; afterwards
neither host holds a mirror or a claim. A foreign NBD client gets EPERM on a
claimed target, and the claim's token is never shown."""
import subprocess

import pytest
from pywbem import CIMInstance, CIMInstanceName, Uint32

from checks import (
    CIM_ERR_ACCESS_DENIED,
    CIM_ERR_ALREADY_EXISTS,
    CIM_ERR_INVALID_PARAMETER,
    CIM_ERR_NOT_FOUND,
    CIM_ERR_FAILED,
    cim_error,
    expect_cim_error,
)
from conftest import CIMOMD
from iiset import enable_slow_copy
from mirror_util import MiB, NS, Pair, call, enable_mirror, mirror_path, volumes
from nbd_client import CMD_WRITE, EPERM, Nbd


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    p = Pair(tmp_path_factory.mktemp("mirror-refusals"))
    yield p
    p.close()


def nothing_left(pair):
    assert pair.a.conn().EnumerateInstances("DS_IIMirror") == []
    assert pair.b.conn().EnumerateInstances("DS_IIMirrorTarget") == []


def test_classes_are_served(pair):
    conn = pair.a.conn()
    for cls in ("DS_IIMirror", "DS_IIMirrorTarget", "DS_IIMirrorGroup",
                "DS_IIMirrorPrimaryVolume", "DS_IIMirrorTargetVolume", "DS_IIMirrorGroupMember"):
        c = conn.GetClass(cls, IncludeQualifiers=True)
        assert c.qualifiers["Description"].value
    mirror = conn.GetClass("DS_IIMirror", IncludeQualifiers=True)
    keys = {n for n, p in mirror.properties.items() if "Key" in p.qualifiers}
    assert keys == {"primaryVolume", "secondaryHost", "secondaryVolume"}
    assert list(mirror.properties["mode"].qualifiers["ValueMap"].value) == ["sync", "async"]
    for m in ("fullSync", "updateSync", "reverseSync", "logging", "setMode", "waitForSync", "reverseRoles"):
        assert m in mirror.methods, m
    nothing_left(pair)


def test_unknown_peer_is_invalid(pair):
    p, _, sb = volumes(pair.a, pair.b, "unknown")
    expect_cim_error(lambda: enable_mirror(pair.a.conn(), p, "/x", sb, host="hostz"),
                     CIM_ERR_INVALID_PARAMETER, "unknown peer hostz", "hostb")
    nothing_left(pair)


def test_unknown_mode_is_invalid(pair):
    p, s, sb = volumes(pair.a, pair.b, "mode")
    expect_cim_error(lambda: enable_mirror(pair.a.conn(), p, s, sb, mode="semisync"),
                     CIM_ERR_INVALID_PARAMETER, "semisync", p)
    expect_cim_error(lambda: enable_mirror(pair.a.conn(), p, s, sb, linkPolicy="panic"),
                     CIM_ERR_INVALID_PARAMETER, "linkPolicy", "panic")
    nothing_left(pair)


def test_primary_outside_roots_is_denied(pair):
    _, s, sb = volumes(pair.a, pair.b, "proot")
    expect_cim_error(lambda: enable_mirror(pair.a.conn(), "/etc/passwd", s, sb),
                     CIM_ERR_ACCESS_DENIED, "/etc/passwd")
    nothing_left(pair)


def test_secondary_outside_target_roots_is_denied(pair):
    p, _, sb = volumes(pair.a, pair.b, "sroot")
    expect_cim_error(lambda: enable_mirror(pair.a.conn(), p, "/etc/hostname", sb),
                     CIM_ERR_ACCESS_DENIED, "/etc/hostname", "hostb")
    nothing_left(pair)


def test_missing_secondary_is_not_found(pair):
    p, _, sb = volumes(pair.a, pair.b, "smissing")
    gone = str(pair.b.volume_root / "no-such-volume")
    expect_cim_error(lambda: enable_mirror(pair.a.conn(), p, gone, sb),
                     CIM_ERR_NOT_FOUND, "no-such-volume")
    nothing_left(pair)


def test_smaller_secondary_is_invalid(pair):
    p = pair.a.volume("small-p", 4 * MiB)
    sb = pair.a.volume("small-sb", MiB)
    s = pair.b.volume("small-s", 2 * MiB)
    expect_cim_error(lambda: enable_mirror(pair.a.conn(), p, s, sb),
                     CIM_ERR_INVALID_PARAMETER, "smaller", s)
    nothing_left(pair)


def test_shadow_mid_copy_is_refused(pair):
    conn = pair.a.conn()
    m = pair.a.volume("busy-m", 16 * MiB)
    sh = pair.a.volume("busy-s", 16 * MiB)
    bm = pair.a.volume("busy-b", 64 * 1024)
    path = enable_slow_copy(conn, m, sh, bm)
    try:
        s = pair.b.volume("busy-sec", 16 * MiB)
        sb = pair.a.volume("busy-sb", MiB)
        expect_cim_error(lambda: enable_mirror(conn, sh, s, sb),
                         CIM_ERR_FAILED, sh, "middle of a copy")
        nothing_left(pair)
    finally:
        call(conn, path, "abort")
        conn.DeleteInstance(path)


def test_claimed_secondary_is_taken(pair):
    """A volume claimed for one mirror cannot be the secondary of another,
    and a foreign NBD client cannot write it."""
    b = pair.b.conn()
    s = pair.b.volume("taken-s", 4 * MiB)
    claim = CIMInstance("DS_IIMirrorTarget", properties={
        "volume": s, "owner": "elsewhere:/v/x", "token": "0123456789abcdef0123"})
    path = b.CreateInstance(claim)
    try:
        got = b.GetInstance(path)
        assert got["owner"] == "elsewhere:/v/x"
        assert got["token"] is None, "the token is write-only"
        assert all(i["token"] is None for i in b.EnumerateInstances("DS_IIMirrorTarget"))
        vol = b.GetInstance(CIMInstanceName("DS_Volume", keybindings={"path": s}, namespace=NS))
        assert "mirror target of elsewhere:/v/x" in vol["usedBy"], vol["usedBy"]
        refs = b.ReferenceNames(path, ResultClass="DS_IIMirrorTargetVolume")
        assert len(refs) == 1

        # A foreign client (plain export name, or a wrong token) gets EPERM.
        for name in (s, f"{s}?mirror=ffffffffffffffffffff"):
            try:
                c = Nbd(pair.b.nbd_port).go(name)
            except Exception:
                continue  # refusing the export outright is as good
            err, _ = c.cmd(CMD_WRITE, 0, 512, b"x" * 512)
            c.close()
            assert err == EPERM, (name, err)

        p = pair.a.volume("taken-p", 4 * MiB)
        sb = pair.a.volume("taken-sb", MiB)
        with cim_error(CIM_ERR_ALREADY_EXISTS, s, "in use"):
            enable_mirror(pair.a.conn(), p, s, sb)
        assert pair.a.conn().EnumerateInstances("DS_IIMirror") == []
    finally:
        b.DeleteInstance(path)
    nothing_left(pair)


def test_methods_on_a_missing_mirror_are_not_found(pair):
    path = mirror_path(str(pair.a.volume_root / "never"), "/x")
    expect_cim_error(lambda: call(pair.a.conn(), path, "fullSync"), CIM_ERR_NOT_FOUND, "never")


def test_bad_peers_file_stops_cimomd(tmp_path):
    bad = tmp_path / "peers.toml"
    bad.write_text('[[peer]]\nname = "b"\ncim-url = "http://127.0.0.1:1"\nnbd-address = "127.0.0.1:2"\ncolour = 1\n')
    for peers, word in ((bad, "colour"), (tmp_path / "missing.toml", "missing.toml")):
        r = subprocess.run([CIMOMD, "--state-dir", str(tmp_path / "s"), "--listen", "127.0.0.1:0",
                            "--nbd-listen", "off", "--peers", str(peers)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, r
        assert "peers file" in r.stderr and word in r.stderr, r.stderr


def test_modify_changes_mode_and_options_only(pair):
    conn = pair.a.conn()
    p, s, sb = volumes(pair.a, pair.b, "modify")
    path = enable_mirror(conn, p, s, sb, volumesEqual=True)
    try:
        inst = conn.GetInstance(path)
        inst["mode"] = "async"
        inst["linkTimeout"] = Uint32(9)
        inst["protectTarget"] = True
        conn.ModifyInstance(inst)
        got = conn.GetInstance(path)
        assert (got["mode"], got["linkTimeout"], got["protectTarget"]) == ("async", 9, True)
        got["scoreboardVolume"] = str(pair.a.volume_root / "other")
        expect_cim_error(lambda: conn.ModifyInstance(got), CIM_ERR_FAILED, "scoreboardVolume", "read-only")
        got = conn.GetInstance(path)
        got["queueFull"] = "sometimes"
        expect_cim_error(lambda: conn.ModifyInstance(got), CIM_ERR_INVALID_PARAMETER, "queueFull")
        assert conn.GetInstance(path)["queueFull"] == "block"
    finally:
        conn.DeleteInstance(path)
    nothing_left(pair)
