"""Contract checks of DS_IISet / DS_IIGroup semantics (interface.md §4, §7;
imaging.md §4-§7) with data verified through the NBD data path: every get*
method's value, the percent definitions, abort/suspend/resume, update to
master, several shadows of one master, compact shadows with and without an
overflow volume, exported shadows, import on the same host, atomic group
updates and the copy-parameter boundaries."""
import subprocess
import time

import pytest
from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint32

from checks import (CIM_ERR_ACCESS_DENIED, CIM_ERR_ALREADY_EXISTS, CIM_ERR_FAILED, CIM_ERR_INVALID_PARAMETER,
                    cim_error)
from iiset import NS, call, enable, enable_slow_copy, enabled, file_bytes, group_path, import_shadow, vols, wait
from nbd_client import nbd_reads, nbd_write, qio

MiB = 1 << 20
KiB = 1 << 10
CHUNK = 32 * KiB


def test_every_getter_of_a_dependent_set(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "get")
    with enabled(conn, "dependent", m, s, b) as p:
        inst = conn.GetInstance(p)
        assert inst["setName"] == s  # defaults to shadowVolume
        assert call(conn, p, "getName") == s
        assert call(conn, p, "getType") == "dependent"
        assert call(conn, p, "getMasterVolume") == m
        assert call(conn, p, "getShadowVolume") == s
        assert call(conn, p, "getBitmapVolume") == b
        assert call(conn, p, "getOverflowVolume") == ""
        assert call(conn, p, "getPercentSynchronized") == 100  # fresh dependent set
        assert call(conn, p, "getPercentCompleted") == 100  # nothing ran
        assert inst["percentSynchronized"] == 100 and inst["percentCompleted"] == 100
        assert inst["bitmapCapacity"] == 64 * KiB
        assert inst["state"] == "idle" and inst["status"] == "normal"
        assert call(conn, p, "setName", name="nm") == "nm"
        assert call(conn, p, "getName") == "nm"


def test_percent_synchronized_counts_marked_chunks(cimomd):
    """§7: 100 × chunks marked in neither bitmap / all chunks. 1 MiB = 32 chunks."""
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "pct", fill=0x11)
    with enabled(conn, "dependent", m, s, b) as p:
        nbd_write(cimomd, m, 0x22, 0, 4096)  # chunk 0 (master)
        assert call(conn, p, "getPercentSynchronized") == pytest.approx(100 * 31 / 32, abs=0.01)
        nbd_write(cimomd, s, 0x33, 5 * CHUNK + 100, 10)  # chunk 5 (shadow)
        assert call(conn, p, "getPercentSynchronized") == pytest.approx(100 * 30 / 32, abs=0.01)
        nbd_write(cimomd, m, 0x44, CHUNK - 1, 2)  # straddles chunks 0 and 1
        assert conn.GetInstance(p)["percentSynchronized"] == pytest.approx(100 * 29 / 32, abs=0.01)
        assert call(conn, p, "updateMasterToShadow") is True
        wait(conn, p)
        assert call(conn, p, "getPercentSynchronized") == 100
        assert call(conn, p, "getPercentCompleted") == 100


def test_percentages_at_start_of_a_slow_full_copy(fresh_cimomd):
    """§7: percentSynchronized is 0 at the start of a full copy;
    percentCompleted is the progress of the running copy."""
    s = fresh_cimomd
    conn = s.conn()
    m, sh, b = vols(s, "slow", size=64 * MiB)  # 2048 chunks; first burst ≤ 100
    p = enable_slow_copy(conn, m, sh, b)
    inst = conn.GetInstance(p)
    assert inst["state"] == "copying"
    assert inst["percentSynchronized"] < 10
    assert inst["percentCompleted"] < 10
    assert call(conn, p, "getPercentCompleted") < 100
    assert call(conn, p, "setCopyParameters", delay=Uint32(2), units=Uint32(60000)) is True
    assert call(conn, p, "abort") is True
    assert call(conn, p, "updateMasterToShadow") is True
    wait(conn, p)
    inst = conn.GetInstance(p)
    assert inst["state"] == "idle"
    assert inst["percentCompleted"] == 100 and inst["percentSynchronized"] == 100


def test_abort_with_nothing_running_changes_nothing(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "abn", fill=0x55)
    with enabled(conn, "dependent", m, s, b) as p:
        nbd_write(cimomd, m, 0x66, 3 * CHUNK, CHUNK)
        before = conn.GetInstance(p)
        mb, sb = file_bytes(m, 0, MiB), file_bytes(s, 0, MiB)
        assert call(conn, p, "abort") is True
        after = conn.GetInstance(p)
        for k in ("state", "status", "percentSynchronized", "percentCompleted", "copyUnits", "copyDelay"):
            assert after[k] == before[k], k
        assert file_bytes(m, 0, MiB) == mb and file_bytes(s, 0, MiB) == sb
        assert nbd_reads(cimomd, s, 0x55, 0, MiB)


def test_suspend_pauses_copy_and_resume_continues(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    m, sh, b = vols(s, "sus", size=16 * MiB, fill=0x5a)
    p = enable_slow_copy(conn, m, sh, b, delay=50)
    time.sleep(0.3)
    assert call(conn, p, "suspend") is True
    inst = conn.GetInstance(p)
    assert inst["state"] == "suspended"
    kept = inst["percentCompleted"]
    assert kept < 100
    time.sleep(1.2)  # a running copy would advance by ≥ 100 chunks here
    assert conn.GetInstance(p)["percentCompleted"] == kept
    # Master writes go on and are tracked while suspended.
    nbd_write(s, m, 0x77, 0, 4096)
    assert call(conn, p, "setCopyParameters", delay=Uint32(2), units=Uint32(60000)) is True
    assert call(conn, p, "resume") is True
    assert conn.GetInstance(p)["state"] in ("copying", "idle")
    wait(conn, p)
    inst = conn.GetInstance(p)
    assert inst["state"] == "idle" and inst["percentCompleted"] == 100
    # The copy went on from where it stopped and finished: shadow = master
    # except chunk 0, which was written after the point in time.
    assert file_bytes(sh, CHUNK, 16 * MiB - CHUNK) == file_bytes(m, CHUNK, 16 * MiB - CHUNK)


def test_suspended_dependent_set_still_protects_point_in_time(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "susd", fill=0x21)
    with enabled(conn, "dependent", m, s, b) as p:
        assert call(conn, p, "suspend") is True
        assert conn.GetInstance(p)["state"] == "suspended"
        nbd_write(cimomd, m, 0x31, 2 * CHUNK, CHUNK)
        assert nbd_reads(cimomd, m, 0x31, 2 * CHUNK, CHUNK)
        assert nbd_reads(cimomd, s, 0x21, 0, MiB)  # copy-on-write still happened
        assert call(conn, p, "getPercentSynchronized") < 100  # write tracked
        assert call(conn, p, "resume") is True
        assert conn.GetInstance(p)["state"] == "idle"
        assert call(conn, p, "getPercentSynchronized") == pytest.approx(100 * 31 / 32, abs=0.01)


# --- data semantics -------------------------------------------------------

def test_update_shadow_to_master_data(cimomd):
    """imaging §4.3: after -u m the master equals the shadow as of the update."""
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "u2m", fill=0x11)
    with enabled(conn, "dependent", m, s, b) as p:
        nbd_write(cimomd, m, 0x22, 0, CHUNK)  # master chunk 0 changes after the PIT
        nbd_write(cimomd, s, 0x33, 2 * CHUNK + 4096, 4096)  # partial shadow write in chunk 2
        assert nbd_reads(cimomd, s, 0x11, 2 * CHUNK, 4096)  # rest of chunk 2 kept PIT data
        assert call(conn, p, "updateShadowToMaster") is True
        wait(conn, p)
        expect = bytearray(b"\x11" * MiB)
        expect[2 * CHUNK + 4096:2 * CHUNK + 8192] = b"\x33" * 4096
        assert file_bytes(m, 0, MiB) == bytes(expect)
        assert nbd_reads(cimomd, m, 0x11, 0, CHUNK)  # reverted to the shadow's data
        assert nbd_reads(cimomd, m, 0x33, 2 * CHUNK + 4096, 4096)
        # Nothing differs any more: a following update to the shadow copies nothing.
        assert call(conn, p, "getPercentSynchronized") == 100


def test_copy_shadow_to_master_independent(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "c2m", fill=0x41)
    with enabled(conn, "independent", m, s, b) as p:
        wait(conn, p)
        nbd_write(cimomd, s, 0x42, 7 * CHUNK, 3 * CHUNK)
        nbd_write(cimomd, m, 0x43, 20 * CHUNK, CHUNK)
        assert call(conn, p, "copyShadowToMaster") is True
        wait(conn, p)
        assert file_bytes(m, 0, MiB) == file_bytes(s, 0, MiB)
        assert nbd_reads(cimomd, m, 0x41, 20 * CHUNK, CHUNK)
        assert nbd_reads(cimomd, m, 0x42, 7 * CHUNK, 3 * CHUNK)


def test_several_shadows_of_one_master(cimomd):
    """imaging §1.8: a master write performs every set's copy-on-write."""
    conn = cimomd.conn()
    m = cimomd.volume("multi-m", MiB)
    with open(m, "r+b") as f:
        f.write(b"\x11" * MiB)
    sa, ba = cimomd.volume("multi-sa", MiB), cimomd.volume("multi-ba", 64 * KiB)
    sb, bb = cimomd.volume("multi-sb", MiB), cimomd.volume("multi-bb", 64 * KiB)
    with enabled(conn, "dependent", m, sa, ba) as pa:
        nbd_write(cimomd, m, 0x22, 0, CHUNK)
        pb = enable(conn, "dependent", m, sb, bb)
        try:
            nbd_write(cimomd, m, 0x33, 0, CHUNK)
            nbd_write(cimomd, m, 0x44, CHUNK, CHUNK)
            assert nbd_reads(cimomd, sa, 0x11, 0, 2 * CHUNK)
            assert nbd_reads(cimomd, sb, 0x22, 0, CHUNK)
            assert nbd_reads(cimomd, sb, 0x11, CHUNK, CHUNK)
            assert nbd_reads(cimomd, m, 0x33, 0, CHUNK) and nbd_reads(cimomd, m, 0x44, CHUNK, CHUNK)
            vol = conn.GetInstance(CIMInstanceName("DS_Volume", {"path": m}, namespace=NS))
            assert vol["usedBy"].startswith("master of")
        finally:
            conn.DeleteInstance(pb)


def test_dependent_shadow_reads_through_and_exposes_master_size(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "rt", size=MiB, ssize=2 * MiB, fill=0x7e)
    with enabled(conn, "dependent", m, s, b) as p:
        assert file_bytes(s, 0, 4096) == b"\0" * 4096  # nothing copied
        assert nbd_reads(cimomd, s, 0x7e, 0, MiB)  # read through to the master
        info = subprocess.run(["nbdinfo", "--size", f"{cimomd.nbd_url}/{s}"], capture_output=True, text=True, timeout=60)
        assert info.returncode == 0, info.stderr
        assert int(info.stdout.strip()) == MiB  # imaging §1.1: the exposed size is the master size


def test_compact_shadow_with_overflow_keeps_point_in_time(cimomd):
    conn = cimomd.conn()
    ov = cimomd.volume("cov-ov", 8 * MiB)
    conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": ov}))
    m, s, b = vols(cimomd, "cov", size=4 * MiB, ssize=256 * KiB, bsize=256 * KiB, fill=0x19)
    p = enable(conn, "dependent", m, s, b)
    try:
        assert call(conn, p, "attachIIOverflowVolume", overflowVol=ov) is True
        assert call(conn, p, "getOverflowVolume") == ov
        nbd_write(cimomd, m, 0x91, 0, 2 * MiB)  # 64 chunks > 8 shadow chunks
        assert nbd_reads(cimomd, s, 0x19, 0, 4 * MiB)  # every chunk, incl. spilled ones
        assert nbd_reads(cimomd, m, 0x91, 0, 2 * MiB)
        assert conn.GetInstance(CIMInstanceName("DS_IIOverflowVol", {"overflowVolPath": ov}, namespace=NS))["usedBytes"] >= 56 * CHUNK
        assert call(conn, p, "updateMasterToShadow") is True
        wait(conn, p)
        assert nbd_reads(cimomd, s, 0x91, 0, 2 * MiB)
        assert call(conn, p, "detachOverflowVolume") is True
    finally:
        conn.DeleteInstance(p)
        conn.DeleteInstance(CIMInstanceName("DS_IIOverflowVol", {"overflowVolPath": ov}, namespace=NS))


def test_compact_shadow_out_of_space_master_write_still_succeeds(cimomd):
    """imaging §4.5: shadow full and no overflow: the master write succeeds,
    later shadow reads of the lost chunks fail; -u s recovers."""
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "oos", size=4 * MiB, ssize=256 * KiB, bsize=256 * KiB, fill=0x29)
    with enabled(conn, "dependent", m, s, b) as p:
        nbd_write(cimomd, m, 0x92, 0, MiB)  # 32 chunks, 8 fit
        assert nbd_reads(cimomd, m, 0x92, 0, MiB)
        assert nbd_reads(cimomd, s, 0x29, 0, CHUNK)  # the first COW fit
        r = qio(cimomd, s, f"read {30 * CHUNK} {CHUNK}")
        assert r.returncode != 0 or "error" in (r.stdout + r.stderr).lower(), r.stdout
        assert conn.GetInstance(p)["status"] in ("degraded", "error")
        assert call(conn, p, "updateMasterToShadow") is True
        wait(conn, p)
        assert nbd_reads(cimomd, s, 0x92, 0, MiB)


def test_exported_shadow_refuses_reads_and_writes(cimomd):
    """§7 Exported shadows: this host's NBD export refuses reads and writes;
    the master stays writable and its changes are tracked."""
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "exp", fill=0x13)
    with enabled(conn, "independent", m, s, b) as p:
        wait(conn, p)
        assert call(conn, p, "exportVolume") is True
        assert conn.GetInstance(p)["state"] == "exported"
        r = qio(cimomd, s, "read 0 4096")
        assert r.returncode != 0 or "Operation not permitted" in (r.stdout + r.stderr), r.stdout
        assert "read 4096/4096" not in r.stdout
        r = qio(cimomd, s, "write -P 0x99 0 4096")
        assert "wrote" not in r.stdout
        assert file_bytes(s, 0, 4096) == b"\x13" * 4096
        nbd_write(cimomd, m, 0x14, 0, 4096)
        assert call(conn, p, "getPercentSynchronized") < 100
        with cim_error(CIM_ERR_FAILED, s):
            call(conn, p, "updateMasterToShadow")


def test_import_on_same_host_is_refused(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "imp")
    with enabled(conn, "independent", m, s, b) as p:
        wait(conn, p)
        assert call(conn, p, "exportVolume") is True
        with cim_error((CIM_ERR_FAILED, CIM_ERR_ALREADY_EXISTS), s):
            import_shadow(conn, s, cimomd.volume("imp-b2", 64 * KiB))
        names = [(n["shadowVolume"], n["setType"]) for n in conn.EnumerateInstanceNames("DS_IISet")]
        assert (s, "imported") not in names


# --- groups -------------------------------------------------------------------

def test_group_update_switches_every_member(cimomd):
    conn = cimomd.conn()
    ma, sa, ba = vols(cimomd, "gu-a", fill=0x01)
    mb, sb, bb = vols(cimomd, "gu-b", fill=0x02)
    pa, pb = enable(conn, "dependent", ma, sa, ba), enable(conn, "dependent", mb, sb, bb)
    conn.CreateInstance(CIMInstance("DS_IIGroup", properties={"groupName": "gu", "groupType": "dependent"}))
    g = group_path("gu")
    try:
        assert call(conn, g, "addIISet", set=pa) is True
        assert call(conn, g, "addIISet", set=pb) is True
        nbd_write(cimomd, ma, 0x0a, 0, CHUNK)
        nbd_write(cimomd, mb, 0x0b, CHUNK, CHUNK)
        assert nbd_reads(cimomd, sa, 0x01, 0, CHUNK) and nbd_reads(cimomd, sb, 0x02, CHUNK, CHUNK)
        assert call(conn, g, "updateMasterToShadow") is True
        wait(conn, pa)
        wait(conn, pb)
        assert nbd_reads(cimomd, sa, 0x0a, 0, CHUNK) and nbd_reads(cimomd, sb, 0x0b, CHUNK, CHUNK)
        assert call(conn, g, "getPercentCompleted") == 100
        # A set belongs to at most one group.
        conn.CreateInstance(CIMInstance("DS_IIGroup", properties={"groupName": "gu2", "groupType": "dependent"}))
        try:
            try:
                moved = call(conn, group_path("gu2"), "addIISet", set=pa) is True
            except CIMError as e:
                assert e.value.status_code in (CIM_ERR_FAILED, CIM_ERR_ALREADY_EXISTS)
                moved = False
            # Refused, or moved (as `iiadm -g NAME -m` does): never in both.
            now = conn.GetInstance(pa)["groupName"]
            assert now == ("gu2" if moved else "gu")
            in_gu = {x["shadowVolume"] for x in conn.InvokeMethod("getIISets", g)[1].get("sets") or []}
            in_gu2 = {x["shadowVolume"] for x in conn.InvokeMethod("getIISets", group_path("gu2"))[1].get("sets") or []}
            assert (sa in in_gu) != (sa in in_gu2), (in_gu, in_gu2)
            if moved:
                assert call(conn, group_path("gu2"), "removeIISet", set=pa) is True
                assert call(conn, g, "addIISet", set=pa) is True
        finally:
            conn.DeleteInstance(group_path("gu2"))
        # Group suspend/resume acts on every member.
        assert call(conn, g, "suspend") is True
        assert conn.GetInstance(pa)["state"] == "suspended" and conn.GetInstance(pb)["state"] == "suspended"
        assert call(conn, g, "resume") is True
        assert conn.GetInstance(pa)["state"] == "idle" and conn.GetInstance(pb)["state"] == "idle"
    finally:
        conn.DeleteInstance(g)
        assert conn.GetInstance(pa)["groupName"] == ""  # released, still enabled
        conn.DeleteInstance(pa)
        conn.DeleteInstance(pb)


def test_empty_group_persists_and_type_must_match(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    conn.CreateInstance(CIMInstance("DS_IIGroup", properties={"groupName": "keep", "groupType": "independent"}))
    s.restart()
    conn = s.conn()
    g = conn.GetInstance(group_path("keep"))
    assert g["groupType"] == "independent"
    rv, out = conn.InvokeMethod("getIISets", group_path("keep"))
    assert rv == 0 and not out.get("sets")
    m, sh, b = vols(s, "tm")
    p = enable(conn, "dependent", m, sh, b)
    with cim_error((CIM_ERR_FAILED, CIM_ERR_INVALID_PARAMETER)):
        call(conn, group_path("keep"), "addIISet", set=p)
    assert conn.GetInstance(p)["groupName"] == ""


# --- parameters and roots -----------------------------------------------------

def test_copy_parameter_boundaries(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "cpb")
    with enabled(conn, "dependent", m, s, b) as p:
        for delay, units in ((2, 100), (10000, 60000), (2, 60000), (10000, 100)):
            assert call(conn, p, "setCopyParameters", delay=Uint32(delay), units=Uint32(units)) is True
            inst = conn.GetInstance(p)
            assert (inst["copyDelay"], inst["copyUnits"]) == (delay, units)
        # Out of range at CreateInstance time too.
        m2, s2, b2 = vols(cimomd, "cpb2")
        with cim_error(CIM_ERR_INVALID_PARAMETER):
            enable(conn, "dependent", m2, s2, b2, copyUnits=Uint32(99))
        assert not any(n["shadowVolume"] == s2 for n in conn.EnumerateInstanceNames("DS_IISet"))


def test_paths_inside_roots_are_canonicalised(fresh_cimomd, tmp_path):
    """§7 Volume roots: a symlink inside a root pointing inside a root and a
    `..` that stays inside are fine; the stored path is the canonical one
    (or the given one) but the set works."""
    s = fresh_cimomd
    conn = s.conn()
    m, sh, b = vols(s, "can")
    (s.volume_root / "sub").mkdir()
    link = s.volume_root / "sub" / "link-to-m"
    link.symlink_to(m)
    dotted = str(s.volume_root / "sub" / ".." / "can-s")
    conn.CreateInstance(CIMInstance("DS_IISet", properties={
        "masterVolume": str(link), "shadowVolume": dotted, "bitmapVolume": b, "setType": "dependent"}))
    names = conn.EnumerateInstanceNames("DS_IISet")
    assert len(names) == 1
    conn.DeleteInstance(names[0])
    # `..` leaving the root, even into a sibling dir that exists.
    (tmp_path / "sibling").mkdir()
    (tmp_path / "sibling" / "x").write_bytes(b"\0" * MiB)
    with cim_error(CIM_ERR_ACCESS_DENIED):
        enable(conn, "dependent", str(s.volume_root / ".." / "sibling" / "x"), sh, b)
    # A symlinked directory inside the root that leads outside.
    (s.volume_root / "dirlink").symlink_to(tmp_path / "sibling")
    with cim_error(CIM_ERR_ACCESS_DENIED):
        enable(conn, "dependent", str(s.volume_root / "dirlink" / "x"), sh, b)
    # A shadow or bitmap outside is refused as well, not only the master.
    with cim_error(CIM_ERR_ACCESS_DENIED):
        enable(conn, "dependent", m, sh, str(tmp_path / "sibling" / "x"))
    # An overflow volume outside.
    with cim_error(CIM_ERR_ACCESS_DENIED):
        conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": str(tmp_path / "sibling" / "x")}))
