"""DS_IISet and DS_Volume through a real cimomd: the life cycle through
intrinsic operations, every method of the contract (interface.md §4), the
documented precondition failures with their status codes, and sblim wbemcli
against the provider classes."""
import shutil
import subprocess

from pywbem import CIMInstance, CIMInstanceName, Uint32

from checks import (CIM_ERR_ACCESS_DENIED, CIM_ERR_ALREADY_EXISTS, CIM_ERR_FAILED, CIM_ERR_INVALID_PARAMETER,
                    CIM_ERR_NOT_FOUND, cim_error)
from iiset import MiB, NS, call, enable, import_shadow, set_path, vols, wait


def test_set_life_cycle_and_getters(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "lc")
    path = enable(conn, "independent", m, s, b, setName="nightly")
    assert path["shadowVolume"] == s and path["setType"] == "independent"
    wait(conn, set_path(s, "independent"))
    inst = conn.GetInstance(set_path(s, "independent"))
    assert inst["masterVolume"] == m and inst["bitmapVolume"] == b
    assert inst["setName"] == "nightly"
    assert inst["state"] == "idle" and inst["status"] == "normal"
    assert inst["percentCompleted"] == 100
    assert inst["masterCapacity"] == MiB and inst["shadowCapacity"] == MiB
    assert inst["copyUnits"] == 100 and inst["copyDelay"] == 2
    assert inst["overflowVolume"] == "" and inst["groupName"] == ""
    with open(m, "rb") as f1, open(s, "rb") as f2:
        assert f1.read() == f2.read()

    p = set_path(s, "independent")
    assert call(conn, p, "getName") == "nightly"
    assert call(conn, p, "getType") == "independent"
    assert call(conn, p, "getMasterVolume") == m
    assert call(conn, p, "getShadowVolume") == s
    assert call(conn, p, "getBitmapVolume") == b
    assert call(conn, p, "getOverflowVolume") == ""
    assert call(conn, p, "getPercentCompleted") == 100
    assert 0 <= call(conn, p, "getPercentSynchronized") <= 100
    assert call(conn, p, "setName", name="renamed") == "renamed"
    assert conn.GetInstance(p)["setName"] == "renamed"

    names = conn.EnumerateInstanceNames("DS_IISet")
    assert any(n["shadowVolume"] == s for n in names)
    conn.DeleteInstance(p)
    with cim_error(CIM_ERR_NOT_FOUND):
        conn.GetInstance(p)


def test_copy_update_abort_suspend_resume_reset(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "cu", size=4 * MiB)
    enable(conn, "dependent", m, s, b)
    p = set_path(s, "dependent")
    for method in ("updateMasterToShadow", "copyMasterToShadow", "updateShadowToMaster", "copyShadowToMaster"):
        assert call(conn, p, method) is True, method
        wait(conn, p)
    # Abort with nothing running succeeds and changes nothing.
    before = conn.GetInstance(p)
    assert call(conn, p, "abort") is True
    assert conn.GetInstance(p)["state"] == before["state"]
    assert call(conn, p, "suspend") is True
    assert conn.GetInstance(p)["state"] == "suspended"
    assert call(conn, p, "resume") is True
    assert conn.GetInstance(p)["state"] != "suspended"
    assert call(conn, p, "reset") is True
    # A slow copy can be aborted, then its chunks stay pending.
    assert call(conn, p, "setCopyParameters", delay=Uint32(10000), units=Uint32(100)) is True
    assert call(conn, p, "copyMasterToShadow") is True
    assert call(conn, p, "abort") is True
    wait(conn, p)
    assert call(conn, p, "setCopyParameters", delay=Uint32(2), units=Uint32(100)) is True
    conn.DeleteInstance(p)


def test_copy_parameters_and_modify(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "cp")
    enable(conn, "dependent", m, s, b)
    p = set_path(s, "dependent")
    assert call(conn, p, "setCopyParameters", delay=Uint32(7), units=Uint32(300)) is True
    inst = conn.GetInstance(p)
    assert inst["copyDelay"] == 7 and inst["copyUnits"] == 300
    for delay, units in ((1, 300), (10001, 300), (7, 99), (7, 60001)):
        with cim_error(CIM_ERR_INVALID_PARAMETER, s):
            call(conn, p, "setCopyParameters", delay=Uint32(delay), units=Uint32(units))
    inst = conn.GetInstance(p)
    assert inst["copyDelay"] == 7 and inst["copyUnits"] == 300

    # ModifyInstance: setName, copyUnits, copyDelay only.
    inst["setName"] = "via-modify"
    inst["copyUnits"] = Uint32(1000)
    inst["copyDelay"] = Uint32(20)
    conn.ModifyInstance(inst)
    now = conn.GetInstance(p)
    assert (now["setName"], now["copyUnits"], now["copyDelay"]) == ("via-modify", 1000, 20)
    now["masterVolume"] = "/somewhere/else"
    with cim_error(CIM_ERR_FAILED, "masterVolume"):
        conn.ModifyInstance(now)
    now = conn.GetInstance(p)
    now["copyUnits"] = Uint32(5)
    with cim_error(CIM_ERR_INVALID_PARAMETER):
        conn.ModifyInstance(now)
    now = conn.GetInstance(p)
    now["state"] = "idle-ish"
    with cim_error(CIM_ERR_FAILED, "state"):
        conn.ModifyInstance(now, PropertyList=["state"])
    conn.DeleteInstance(p)


def test_enable_failures(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "ef")
    # Outside every root: access denied, and nothing is created; also when
    # named through a symlink or a `..` that leaves the root.
    outside = cimomd.base / "ef-outside.img"  # beside the volume root, not in it
    outside.write_bytes(b"\0" * MiB)
    with cim_error(CIM_ERR_ACCESS_DENIED, str(outside)):
        enable(conn, "dependent", str(outside), s, b)
    link = cimomd.volume_root / "ef-escape"
    link.symlink_to(outside)
    for bad in (str(link), str(cimomd.volume_root / ".." / outside.name)):
        with cim_error(CIM_ERR_ACCESS_DENIED, note=bad):
            enable(conn, "dependent", bad, s, b)
    assert not any(n["shadowVolume"] == s for n in conn.EnumerateInstanceNames("DS_IISet"))
    # Bad type, missing property.
    with cim_error(CIM_ERR_INVALID_PARAMETER):
        enable(conn, "sideways", m, s, b)
    with cim_error(CIM_ERR_INVALID_PARAMETER):
        conn.CreateInstance(CIMInstance("DS_IISet", properties={"shadowVolume": s, "setType": "dependent"}))
    # Independent shadow smaller than master.
    small = cimomd.volume("ef-small", MiB // 2)
    with cim_error((CIM_ERR_FAILED, CIM_ERR_INVALID_PARAMETER)):
        enable(conn, "independent", m, small, b)
    # Conflicting roles.
    enable(conn, "dependent", m, s, b)
    with cim_error((CIM_ERR_ALREADY_EXISTS, CIM_ERR_FAILED)):
        enable(conn, "dependent", cimomd.volume("ef-m2", MiB), s, cimomd.volume("ef-b2", 64 * 1024))
    with cim_error((CIM_ERR_ALREADY_EXISTS, CIM_ERR_FAILED), m):
        enable(conn, "dependent", cimomd.volume("ef-m3", MiB), cimomd.volume("ef-s3", MiB), m)
    # Not found.
    with cim_error(CIM_ERR_NOT_FOUND):
        call(conn, set_path(cimomd.volume_root.as_posix() + "/nothing", "dependent"), "abort")
    with cim_error(CIM_ERR_NOT_FOUND):
        conn.DeleteInstance(set_path(str(cimomd.volume_root / "nothing"), "dependent"))
    # Export of a dependent shadow is refused, naming the set.
    with cim_error(CIM_ERR_FAILED, s):
        call(conn, set_path(s, "dependent"), "exportVolume")
    # Detach without an overflow attached.
    with cim_error(CIM_ERR_FAILED):
        call(conn, set_path(s, "dependent"), "detachOverflowVolume")
    conn.DeleteInstance(set_path(s, "dependent"))


def test_export_import_join(cimomd, tmp_path):
    """Host A exports an independent shadow, host B (a second cimomd that can
    reach A's volumes) imports it and writes, releases it, and A joins."""
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "ex", size=8 * MiB)
    # A slow initial copy: the shadow is not up to date, so export fails.
    enable(conn, "independent", m, s, b, copyDelay=Uint32(10000), copyUnits=Uint32(100))
    p = set_path(s, "independent")
    with cim_error(CIM_ERR_FAILED, s):
        call(conn, p, "exportVolume")
    # Aborted: chunks are still pending, so export still fails.
    assert call(conn, p, "abort") is True
    wait(conn, p)
    with cim_error(CIM_ERR_FAILED):
        call(conn, p, "exportVolume")
    assert call(conn, p, "setCopyParameters", delay=Uint32(2), units=Uint32(60000)) is True
    assert call(conn, p, "updateMasterToShadow") is True
    wait(conn, p)
    assert call(conn, p, "exportVolume") is True
    assert conn.GetInstance(p)["state"] == "exported"
    with cim_error(CIM_ERR_FAILED):
        call(conn, p, "exportVolume")

    bitmap_b = cimomd.volume("ex-bitmap-b", 64 * 1024)
    other = cimomd.peer(tmp_path / "hostb")
    try:
        oconn = other.conn()
        assert import_shadow(oconn, s, bitmap_b) is True
        imported = oconn.GetInstance(set_path(s, "imported"))
        assert imported["setType"] == "imported" and imported["state"] == "imported"
        oconn.DeleteInstance(set_path(s, "imported"))
    finally:
        other.stop()
    assert call(conn, p, "joinVolume", BitmapVol=bitmap_b) is True
    assert conn.GetInstance(p)["state"] != "exported"
    assert call(conn, p, "updateMasterToShadow") is True
    wait(conn, p)
    conn.DeleteInstance(p)


def test_vols(cimomd, tmp_path):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "vol")
    free = cimomd.volume("vol-free", 3 * MiB)
    enable(conn, "dependent", m, s, b)
    by_path = {v["path"]: v for v in conn.EnumerateInstances("DS_Volume")}
    assert by_path[free]["capacity"] == 3 * MiB and by_path[free]["usedBy"] == ""
    assert by_path[m]["usedBy"].startswith("master of") and s in by_path[m]["usedBy"]
    assert by_path[b]["usedBy"].startswith("bitmap of")
    got = conn.GetInstance(CIMInstanceName("DS_Volume", {"path": free}, namespace=NS))
    assert got["capacity"] == 3 * MiB
    outside = tmp_path / "secret"
    outside.write_bytes(b"x" * 4096)
    link = cimomd.volume_root / "vol-link"
    link.symlink_to(outside)
    for bad in (str(outside), str(link), str(cimomd.volume_root / ".." / "secret")):
        with cim_error(CIM_ERR_ACCESS_DENIED, note=bad):
            conn.GetInstance(CIMInstanceName("DS_Volume", {"path": bad}, namespace=NS))
    conn.DeleteInstance(set_path(s, "dependent"))


def test_wbemcli_sees_the_sets(cimomd):
    assert shutil.which("wbemcli"), "wbemcli missing: apt-get install sblim-wbemcli"
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "wc")
    enable(conn, "dependent", m, s, b)
    base = f"http://127.0.0.1:{cimomd.port}/root/cimv2"
    out = subprocess.run(["wbemcli", "ei", f"{base}:DS_IISet"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert s in out.stdout and "dependent" in out.stdout
    out = subprocess.run(["wbemcli", "cm", f'{base}:DS_IISet.shadowVolume="{s}",setType="dependent"', "getType"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "dependent" in out.stdout
    conn.DeleteInstance(set_path(s, "dependent"))


def test_queries_and_pull_over_provider_instances(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "q1")
    enable(conn, "dependent", m, s, b, setName="query-me")
    got = conn.ExecQuery("WQL", "SELECT shadowVolume, state FROM DS_IISet WHERE setName = 'query-me'")
    assert [i["shadowVolume"] for i in got] == [s]
    assert got[0]["state"] == "idle"
    assert conn.ExecQuery("WQL", "SELECT * FROM DS_IISet WHERE setName = 'nobody'") == []
    pulled = conn.OpenEnumerateInstances("DS_IISet", MaxObjectCount=1)
    insts = list(pulled.instances)
    ctx = pulled.context
    while not pulled.eos:
        pulled = conn.PullInstancesWithPath(ctx, MaxObjectCount=1)
        insts.extend(pulled.instances)
    assert s in [i["shadowVolume"] for i in insts]
    conn.DeleteInstance(set_path(s, "dependent"))
