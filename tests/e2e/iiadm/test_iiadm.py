"""`iiadm` group and overflow-volume commands end to end against a real
cimomd, the forms test_contract_iiadm.py does not drive: -B, -N, -g GROUP -u,
and an overflow volume's whole life from -O to -Z."""
import pytest

from checks import ok

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
