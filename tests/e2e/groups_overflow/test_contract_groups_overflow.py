"""Contract checks of explicit groups and shared overflow volumes
(interface.md §4, §7 Groups; imaging.md §1.7, §4.5, §6): group names and
types validated, rename collisions, groups outliving their members, group
shadow→master refused when two members share a master, group operations
all-or-nothing when a member is suspended, group export, and one overflow
volume shared by two compact sets whose chunks are reclaimed per set."""
from pywbem import CIMInstance

from checks import CIM_ERR_ALREADY_EXISTS, CIM_ERR_FAILED, CIM_ERR_INVALID_PARAMETER, CIM_ERR_NOT_FOUND, cim_error
from iiset import call, enable, filled, group_path, mkgroup, ovol_path, wait
from nbd_client import CMD_READ, CMD_WRITE, open_export

MiB = 1 << 20
KiB = 1 << 10
CHUNK = 32 * KiB


def members(conn, g):
    return {p["shadowVolume"] for p in (conn.InvokeMethod("getIISets", g)[1].get("sets") or [])}


def test_group_name_and_type_validation(fresh_cimomd):
    conn = fresh_cimomd.conn()
    for bad in ("-lead", "has space", "tab\there", ""):
        with cim_error((CIM_ERR_INVALID_PARAMETER, CIM_ERR_FAILED), note=bad):
            mkgroup(conn, bad)
    with cim_error(CIM_ERR_INVALID_PARAMETER):
        mkgroup(conn, "okname", "sideways")
    assert conn.EnumerateInstanceNames("DS_IIGroup") == []
    mkgroup(conn, "a")
    mkgroup(conn, "b")
    with cim_error((CIM_ERR_ALREADY_EXISTS, CIM_ERR_FAILED)):
        call(conn, group_path("a"), "rename", newName="b")
    assert {p["groupName"] for p in conn.EnumerateInstanceNames("DS_IIGroup")} == {"a", "b"}
    with cim_error((CIM_ERR_INVALID_PARAMETER, CIM_ERR_FAILED)):
        call(conn, group_path("a"), "rename", newName="bad name")
    with cim_error(CIM_ERR_NOT_FOUND):
        call(conn, group_path("nope"), "getName")


def test_group_outlives_its_members(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    g = mkgroup(conn, "g")
    p = enable(conn, "dependent", s.volume("m", MiB), s.volume("s", MiB), s.volume("b", 64 * KiB))
    assert call(conn, g, "addIISet", set=p) is True
    conn.DeleteInstance(p)  # disabling the only member
    assert conn.GetInstance(g)["groupName"] == "g"
    assert members(conn, g) == set()
    assert conn.EnumerateInstanceNames("DS_IIGroupSetAssoc") == []


def test_group_copy_back_refused_when_members_share_a_master(fresh_cimomd):
    """imaging §6 step 2: shadow→master for a group refuses two members that
    share a master; nothing starts."""
    s = fresh_cimomd
    conn = s.conn()
    m = filled(s, "m", MiB, 0x01)
    pa = enable(conn, "dependent", m, s.volume("sa", MiB), s.volume("ba", 64 * KiB))
    pb = enable(conn, "dependent", m, s.volume("sb", MiB), s.volume("bb", 64 * KiB))
    g = mkgroup(conn, "shared")
    call(conn, g, "addIISet", set=pa)
    call(conn, g, "addIISet", set=pb)
    c = open_export(s, pa["shadowVolume"])
    assert c.cmd(CMD_WRITE, 0, 512, b"\x0f" * 512)[0] == 0
    c.close()
    for method in ("updateShadowToMaster", "copyShadowToMaster"):
        with cim_error((CIM_ERR_FAILED, CIM_ERR_INVALID_PARAMETER)) as e:
            call(conn, g, method)
        assert m in e.value.status_description or "shared" in e.value.status_description
    with open(m, "rb") as f:
        assert f.read(512) == b"\x01" * 512
    assert call(conn, g, "updateMasterToShadow") is True  # towards the shadows is fine


def test_group_update_all_or_nothing_with_a_suspended_member(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    ma, mb = filled(s, "ma", MiB, 0x01), filled(s, "mb", MiB, 0x02)
    pa = enable(conn, "dependent", ma, s.volume("sa", MiB), s.volume("ba", 64 * KiB))
    pb = enable(conn, "dependent", mb, s.volume("sb", MiB), s.volume("bb", 64 * KiB))
    g = mkgroup(conn, "g")
    call(conn, g, "addIISet", set=pa)
    call(conn, g, "addIISet", set=pb)
    for mv, byte in ((ma, 0x11), (mb, 0x12)):
        c = open_export(s, mv)
        assert c.cmd(CMD_WRITE, 0, CHUNK, bytes([byte]) * CHUNK)[0] == 0
        c.close()
    assert call(conn, pb, "suspend") is True
    with cim_error(None, pb["shadowVolume"]):
        call(conn, g, "updateMasterToShadow")
    c = open_export(s, pa["shadowVolume"])
    err, data = c.cmd(CMD_READ, 0, CHUNK)
    c.close()
    assert err == 0 and data == b"\x01" * CHUNK  # member a was not updated either
    assert call(conn, pa, "getPercentSynchronized") < 100


def test_group_export_and_wait(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    pa = enable(conn, "independent", filled(s, "ma", MiB, 3), s.volume("sa", MiB), s.volume("ba", 64 * KiB))
    pb = enable(conn, "independent", filled(s, "mb", MiB, 4), s.volume("sb", MiB), s.volume("bb", 64 * KiB))
    mkgroup(conn, "gx", "independent")
    ok = s.iiadm("-M", pa["shadowVolume"], "gx")
    assert ok.returncode == 0, ok.stderr
    ok = s.iiadm("-M", pb["shadowVolume"], "gx")
    assert ok.returncode == 0, ok.stderr
    assert s.iiadm("-g", "gx", "-w").returncode == 0
    r = s.iiadm("-g", "gx", "-E")
    assert r.returncode == 0, r.stderr
    assert conn.GetInstance(pa)["state"] == "exported" and conn.GetInstance(pb)["state"] == "exported"


def test_one_overflow_shared_by_two_compact_sets(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    ov = s.volume("ov", 8 * MiB)
    conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": ov}))
    ma, mb = filled(s, "ma", 2 * MiB, 0xa1), filled(s, "mb", 2 * MiB, 0xb1)
    pa = enable(conn, "dependent", ma, s.volume("sa", 128 * KiB), s.volume("ba", 256 * KiB))
    pb = enable(conn, "dependent", mb, s.volume("sb", 128 * KiB), s.volume("bb", 256 * KiB))
    for p in (pa, pb):
        assert call(conn, p, "attachIIOverflowVolume", overflowVol=ov) is True
    inst = conn.GetInstance(ovol_path(ov))
    assert inst["attachedSets"] == 2
    assert members(conn, ovol_path(ov)) == {pa["shadowVolume"], pb["shadowVolume"]}
    base = inst["usedBytes"]
    for mv, byte in ((ma, 0xa2), (mb, 0xb2)):
        c = open_export(s, mv)
        assert c.cmd(CMD_WRITE, 0, MiB, bytes([byte]) * MiB)[0] == 0  # 32 chunks, 4 fit
        c.close()
    spilled = conn.GetInstance(ovol_path(ov))["usedBytes"]
    assert spilled - base == 2 * 28 * CHUNK
    # Updating set a reclaims only a's overflow chunks; b's spilled PIT stays.
    assert call(conn, pa, "updateMasterToShadow") is True
    wait(conn, pa, 60)
    assert conn.GetInstance(ovol_path(ov))["usedBytes"] - base == 28 * CHUNK
    c = open_export(s, pb["shadowVolume"])
    err, data = c.cmd(CMD_READ, 0, 2 * MiB)
    c.close()
    assert err == 0 and data == b"\xb1" * (2 * MiB)
    c = open_export(s, pa["shadowVolume"])
    err, data = c.cmd(CMD_READ, 0, MiB)
    c.close()
    assert err == 0 and data == b"\xa2" * MiB
    assert call(conn, pa, "detachOverflowVolume") is True
    with cim_error(CIM_ERR_FAILED):
        call(conn, pb, "detachOverflowVolume")  # b still has data there
    assert conn.GetInstance(ovol_path(ov))["attachedSets"] == 1
    conn.DeleteInstance(pb)  # disable reclaims b's chunks
    assert conn.GetInstance(ovol_path(ov))["usedBytes"] == base


def test_overflow_too_small_or_outside_is_refused(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    tiny = s.volume("tiny", 32 * KiB)  # only the header chunk
    with cim_error((CIM_ERR_FAILED, CIM_ERR_INVALID_PARAMETER), tiny):
        conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": tiny}))
    assert conn.EnumerateInstanceNames("DS_IIOverflowVol") == []
