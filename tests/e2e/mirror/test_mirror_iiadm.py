"""`iiadm mirror` against two cimomd: enable, status (text and --json),
logging, update and full sync, wait, mode switch, disable; usage errors
exit 2 and failed operations (a wait that cannot succeed, an unknown peer)
exit 1 with the cause on stderr."""
import json

import pytest

from checks import fails, ok, usage
from mirror_util import Pair, volumes
from nbd_client import raw_write


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    p = Pair(tmp_path_factory.mktemp("mirror-iiadm"))
    yield p
    p.close()


def test_usage_errors_exit_2(pair):
    for args in (["mirror"], ["mirror", "-m"], ["mirror", "-r", "-l", "/v"],
                 ["mirror", "-e", "/p", "/s", "/sb"], ["mirror", "--bogus"]):
        usage(pair.a.iiadm(*args))
    assert "HOST:SECONDARY" in ok(pair.a.iiadm("mirror", "-h"))


def test_unknown_peer_exits_1(pair):
    p, _, sb = volumes(pair.a, pair.b, "cli-unknown")
    fails(pair.a.iiadm("mirror", "-e", p, "nowhere:/x", sb), "unknown peer nowhere")
    assert json.loads(ok(pair.a.iiadm("mirror", "-P", "--json"))) == []


def test_mirror_life_cycle(pair):
    a = pair.a
    p, s, sb = volumes(pair.a, pair.b, "cli")
    out = ok(a.iiadm("--json", "mirror", "-e", p, f"hostb:{s}", sb, "async", "--link-timeout", "3"))
    info = json.loads(out)[0]
    assert info["primaryVolume"] == p and info["secondaryHost"] == "hostb"
    assert info["mode"] == "async" and info["linkTimeout"] == 3
    ok(a.iiadm("mirror", "-m", p))
    ok(a.iiadm("mirror", "-w", p, "-t", "60"))
    status = json.loads(ok(a.iiadm("mirror", "-P", p, "--json")))[0]
    assert status["state"] == "replicating" and status["bytesBehind"] == 0
    text = ok(a.iiadm("mirror", "-P"))
    assert f"{p} -> hostb:{s}" in text and "state: replicating" in text

    ok(a.iiadm("mirror", "-l", p))
    raw_write(a, p, 0, b"Z" * 4096)
    status = json.loads(ok(a.iiadm("mirror", "-P", p, "--json")))[0]
    assert status["state"] == "logging" and status["dirtyChunks"] == 1
    # Waiting on a mirror that is logging cannot succeed: a real exit status.
    fails(a.iiadm("mirror", "-w", p, "-t", "2"), "logging")
    ok(a.iiadm("mirror", "-u", p))
    ok(a.iiadm("mirror", "-w", p, "-t", "60"))
    with open(s, "rb") as f:
        assert f.read(4096) == b"Z" * 4096

    ok(a.iiadm("mirror", "-R", "m", "sync", p))
    assert json.loads(ok(a.iiadm("mirror", "-P", p, "--json")))[0]["mode"] == "sync"
    fails(a.iiadm("mirror", "-R", "m", "fast", p), "fast")

    ok(a.iiadm("mirror", "-d", p))
    assert json.loads(ok(a.iiadm("mirror", "-P", "--json"))) == []
    assert pair.b.conn().EnumerateInstances("DS_IIMirrorTarget") == []
    fails(a.iiadm("mirror", "-m", p), "no mirror of")


def test_group_verbs(pair):
    a = pair.a
    mirrors = []
    for name in ("cg1", "cg2"):
        p, s, sb = volumes(pair.a, pair.b, name)
        ok(a.iiadm("mirror", "-g", "cg", "-E", p, f"hostb:{s}", sb))
        mirrors.append((p, s))
    status = json.loads(ok(a.iiadm("mirror", "-g", "cg", "-P", "--json")))
    assert sorted(m["primaryVolume"] for m in status) == sorted(p for p, _ in mirrors)
    assert all(m["groupName"] == "cg" and m["state"] == "replicating" for m in status)
    ok(a.iiadm("mirror", "-g", "cg", "-l"))
    status = json.loads(ok(a.iiadm("mirror", "-g", "cg", "-P", "--json")))
    assert {m["state"] for m in status} == {"logging"}
    raw_write(a, mirrors[1][0], 0, b"G" * 4096)
    ok(a.iiadm("mirror", "-g", "cg", "-u"))
    ok(a.iiadm("mirror", "-g", "cg", "-w", "-t", "60"))
    with open(mirrors[1][1], "rb") as f:
        assert f.read(4096) == b"G" * 4096
    usage(a.iiadm("mirror", "-g", "cg", "-d"))
    for p, _ in mirrors:
        ok(a.iiadm("mirror", "-d", p))
    fails(a.iiadm("mirror", "-g", "cg", "-u"), "cg")
