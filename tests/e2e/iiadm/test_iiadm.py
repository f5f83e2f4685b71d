"""`iiadm` end to end against a real cimomd: every option's exit status,
classic output and JSON."""
import json

import pytest

MiB = 1 << 20


@pytest.fixture
def vols(fresh_cimomd):
    s = fresh_cimomd
    return {
        "m": s.volume("m1", 8 * MiB),
        "s": s.volume("s1", 8 * MiB),
        "b": s.volume("b1", 1 * MiB),
        "m2": s.volume("m2", 8 * MiB),
        "s2": s.volume("s2", 8 * MiB),
        "b2": s.volume("b2", 1 * MiB),
        "cs": s.volume("cs", 2 * MiB),
        "cb": s.volume("cb", 1 * MiB),
        "ov": s.volume("ov", 8 * MiB),
    }


def ok(res):
    assert res.returncode == 0, f"exit {res.returncode}: {res.stderr}"
    return res.stdout


def test_usage_errors_exit_2(fresh_cimomd):
    assert fresh_cimomd.iiadm("-e", "ind").returncode == 2
    assert fresh_cimomd.iiadm("-q").returncode == 2
    assert fresh_cimomd.iiadm("-l", "-L").returncode == 2
    assert fresh_cimomd.iiadm("-u", "x", "/nope").returncode == 2
    h = fresh_cimomd.iiadm("-h")
    assert h.returncode == 0 and "-e" in h.stdout
    v = fresh_cimomd.iiadm("-v")
    assert v.returncode == 0 and v.stdout.strip()


def test_enable_list_status_wait_update_disable(fresh_cimomd, vols):
    s = fresh_cimomd
    ok(s.iiadm("-e", "ind", vols["m"], vols["s"], vols["b"], "first"))
    ok(s.iiadm("-w", vols["s"]))
    listing = ok(s.iiadm("-l"))
    assert vols["m"] in listing and vols["s"] in listing and vols["b"] in listing
    data = json.loads(ok(s.iiadm("--json", "-l")))
    assert isinstance(data, (list, dict))
    assert vols["s"] in json.dumps(data)
    status = ok(s.iiadm("-i", vols["s"]))
    assert vols["s"] in status
    st = json.loads(ok(s.iiadm("--json", "-i", vols["s"])))
    assert vols["s"] in json.dumps(st)
    ok(s.iiadm("-u", "s", vols["s"]))
    ok(s.iiadm("-w", vols["s"]))
    ok(s.iiadm("-c", "s", vols["s"]))
    ok(s.iiadm("-a", vols["s"]))
    ok(s.iiadm("-P", "10", "200", vols["s"]))
    params = ok(s.iiadm("-P", vols["s"]))
    assert "10" in params and "200" in params
    bad = s.iiadm("-P", "1", "200", vols["s"])
    assert bad.returncode == 1 and bad.stderr
    ok(s.iiadm("-d", vols["s"]))
    gone = s.iiadm("-i", vols["s"])
    assert gone.returncode == 1 and vols["s"] in gone.stderr


def test_errors_name_the_set(fresh_cimomd, vols):
    s = fresh_cimomd
    res = s.iiadm("-d", vols["s"])
    assert res.returncode == 1 and vols["s"] in res.stderr
    res = s.iiadm("-e", "ind", "/etc/passwd", vols["s"], vols["b"])
    assert res.returncode == 1
    assert "/etc/passwd" in res.stderr


def test_groups(fresh_cimomd, vols):
    s = fresh_cimomd
    ok(s.iiadm("-C", "g1", "dep"))
    ok(s.iiadm("-e", "dep", vols["m"], vols["s"], vols["b"]))
    ok(s.iiadm("-e", "dep", vols["m2"], vols["s2"], vols["b2"]))
    ok(s.iiadm("-M", vols["s"], "g1"))
    ok(s.iiadm("-g", "g1", "-m", vols["s2"]))
    groups = ok(s.iiadm("-G"))
    assert "g1" in groups
    ok(s.iiadm("-g", "g1", "-u", "s"))
    ok(s.iiadm("-g", "g1", "-w"))
    ok(s.iiadm("-B", vols["s2"]))
    ok(s.iiadm("-N", "g1", "g2"))
    assert "g2" in ok(s.iiadm("-G"))
    ok(s.iiadm("-X", "g2"))
    assert "g2" not in ok(s.iiadm("-G"))
    assert vols["s"] in ok(s.iiadm("-l"))


def test_overflow(fresh_cimomd, vols):
    s = fresh_cimomd
    ok(s.iiadm("-O", vols["ov"]))
    assert vols["ov"] in ok(s.iiadm("-L"))
    ok(s.iiadm("-e", "dep", vols["m"], vols["cs"], vols["cb"]))
    ok(s.iiadm("-A", vols["ov"], vols["cs"]))
    q = ok(s.iiadm("-Q", vols["ov"]))
    assert "1" in q
    ok(s.iiadm("-D", vols["cs"]))
    ok(s.iiadm("-d", vols["cs"]))
    ok(s.iiadm("-Z", vols["ov"]))
    assert vols["ov"] not in ok(s.iiadm("-L"))


def test_suspend_resume_reset(fresh_cimomd, vols):
    s = fresh_cimomd
    ok(s.iiadm("-e", "dep", vols["m"], vols["s"], vols["b"]))
    ok(s.iiadm("-s", vols["s"]))
    assert "suspended" in ok(s.iiadm("-i", vols["s"])).lower()
    ok(s.iiadm("-r", vols["s"]))
    ok(s.iiadm("-R", vols["s"]))
    ok(s.iiadm("-s", "all"))
    ok(s.iiadm("-r", "all"))
