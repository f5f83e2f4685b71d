"""DS_IISet and DS_Volume through a real cimomd: the life cycle through
intrinsic operations, every method of the contract (interface.md §4), the
documented precondition failures with their status codes, and sblim wbemcli
against the provider classes."""
import shutil
import subprocess

import pytest
import pywbem
from pywbem import CIMInstance, CIMInstanceName, CIMClassName, CIMError, Uint32

MiB = 1 << 20
NS = "root/cimv2"

CIM_ERR_FAILED = 1
CIM_ERR_ACCESS_DENIED = 2
CIM_ERR_INVALID_PARAMETER = 4
CIM_ERR_NOT_FOUND = 6
CIM_ERR_ALREADY_EXISTS = 11


def set_path(shadow, kind):
    return CIMInstanceName("DS_IISet", keybindings={"shadowVolume": shadow, "setType": kind}, namespace=NS)


def enable(conn, kind, m, s, b, **extra):
    props = {"masterVolume": m, "shadowVolume": s, "bitmapVolume": b, "setType": kind}
    props.update(extra)
    return conn.CreateInstance(CIMInstance("DS_IISet", properties=props))


def volumes(server, prefix, size=MiB, bitmap=64 * 1024):
    return (server.volume(f"{prefix}m", size), server.volume(f"{prefix}s", size),
            server.volume(f"{prefix}b", bitmap))


def call(conn, path, method, **params):
    rv, out = conn.InvokeMethod(method, path, **params)
    return rv, out


def status_of(excinfo):
    return excinfo.value.status_code


def wait(conn, path, secs=120):
    rv, _ = call(conn, path, "waitForCompletion", timeoutSeconds=Uint32(secs))
    assert rv is True


def test_set_life_cycle_and_getters(cimomd):
    conn = cimomd.conn()
    m, s, b = volumes(cimomd, "lc")
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
    assert call(conn, p, "getName")[0] == "nightly"
    assert call(conn, p, "getType")[0] == "independent"
    assert call(conn, p, "getMasterVolume")[0] == m
    assert call(conn, p, "getShadowVolume")[0] == s
    assert call(conn, p, "getBitmapVolume")[0] == b
    assert call(conn, p, "getOverflowVolume")[0] == ""
    assert call(conn, p, "getPercentCompleted")[0] == 100
    assert 0 <= call(conn, p, "getPercentSynchronized")[0] <= 100
    assert call(conn, p, "setName", name="renamed")[0] == "renamed"
    assert conn.GetInstance(p)["setName"] == "renamed"

    names = conn.EnumerateInstanceNames("DS_IISet")
    assert any(n["shadowVolume"] == s for n in names)
    conn.DeleteInstance(p)
    with pytest.raises(CIMError) as e:
        conn.GetInstance(p)
    assert status_of(e) == CIM_ERR_NOT_FOUND


def test_copy_update_abort_suspend_resume_reset(cimomd):
    conn = cimomd.conn()
    m, s, b = volumes(cimomd, "cu", size=4 * MiB)
    enable(conn, "dependent", m, s, b)
    p = set_path(s, "dependent")
    for method in ("updateMasterToShadow", "copyMasterToShadow", "updateShadowToMaster", "copyShadowToMaster"):
        assert call(conn, p, method)[0] is True, method
        wait(conn, p)
    # Abort with nothing running succeeds and changes nothing.
    before = conn.GetInstance(p)
    assert call(conn, p, "abort")[0] is True
    assert conn.GetInstance(p)["state"] == before["state"]
    assert call(conn, p, "suspend")[0] is True
    assert conn.GetInstance(p)["state"] == "suspended"
    assert call(conn, p, "resume")[0] is True
    assert conn.GetInstance(p)["state"] != "suspended"
    assert call(conn, p, "reset")[0] is True
    # A slow copy can be aborted, then its chunks stay pending.
    assert call(conn, p, "setCopyParameters", delay=Uint32(10000), units=Uint32(100))[0] is True
    assert call(conn, p, "copyMasterToShadow")[0] is True
    assert call(conn, p, "abort")[0] is True
    wait(conn, p)
    assert call(conn, p, "setCopyParameters", delay=Uint32(2), units=Uint32(100))[0] is True
    conn.DeleteInstance(p)


def test_copy_parameters_and_modify(cimomd):
    conn = cimomd.conn()
    m, s, b = volumes(cimomd, "cp")
    enable(conn, "dependent", m, s, b)
    p = set_path(s, "dependent")
    assert call(conn, p, "setCopyParameters", delay=Uint32(7), units=Uint32(300))[0] is True
    inst = conn.GetInstance(p)
    assert inst["copyDelay"] == 7 and inst["copyUnits"] == 300
    for delay, units in ((1, 300), (10001, 300), (7, 99), (7, 60001)):
        with pytest.raises(CIMError) as e:
            call(conn, p, "setCopyParameters", delay=Uint32(delay), units=Uint32(units))
        assert status_of(e) == CIM_ERR_INVALID_PARAMETER
        assert s in e.value.status_description
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
    with pytest.raises(CIMError) as e:
        conn.ModifyInstance(now)
    assert status_of(e) == CIM_ERR_FAILED and "masterVolume" in e.value.status_description
    now = conn.GetInstance(p)
    now["copyUnits"] = Uint32(5)
    with pytest.raises(CIMError) as e:
        conn.ModifyInstance(now)
    assert status_of(e) == CIM_ERR_INVALID_PARAMETER
    now = conn.GetInstance(p)
    now["state"] = "idle-ish"
    with pytest.raises(CIMError) as e:
        conn.ModifyInstance(now, PropertyList=["state"])
    assert status_of(e) == CIM_ERR_FAILED and "state" in e.value.status_description
    conn.DeleteInstance(p)


def test_enable_failures(cimomd):
    conn = cimomd.conn()
    m, s, b = volumes(cimomd, "ef")
    # Outside every root: access denied, and nothing is created; also when
    # named through a symlink or a `..` that leaves the root.
    outside = cimomd.base / "ef-outside.img"  # beside the volume root, not in it
    outside.write_bytes(b"\0" * MiB)
    with pytest.raises(CIMError) as e:
        enable(conn, "dependent", str(outside), s, b)
    assert status_of(e) == CIM_ERR_ACCESS_DENIED
    assert str(outside) in e.value.status_description
    link = cimomd.volume_root / "ef-escape"
    link.symlink_to(outside)
    for bad in (str(link), str(cimomd.volume_root / ".." / outside.name)):
        with pytest.raises(CIMError) as e:
            enable(conn, "dependent", bad, s, b)
        assert status_of(e) == CIM_ERR_ACCESS_DENIED, bad
    assert not any(n["shadowVolume"] == s for n in conn.EnumerateInstanceNames("DS_IISet"))
    # Bad type, missing property.
    with pytest.raises(CIMError) as e:
        enable(conn, "sideways", m, s, b)
    assert status_of(e) == CIM_ERR_INVALID_PARAMETER
    with pytest.raises(CIMError) as e:
        conn.CreateInstance(CIMInstance("DS_IISet", properties={"shadowVolume": s, "setType": "dependent"}))
    assert status_of(e) == CIM_ERR_INVALID_PARAMETER
    # Independent shadow smaller than master.
    small = cimomd.volume("ef-small", MiB // 2)
    with pytest.raises(CIMError) as e:
        enable(conn, "independent", m, small, b)
    assert status_of(e) in (CIM_ERR_FAILED, CIM_ERR_INVALID_PARAMETER)
    # Conflicting roles.
    enable(conn, "dependent", m, s, b)
    with pytest.raises(CIMError) as e:
        enable(conn, "dependent", cimomd.volume("ef-m2", MiB), s, cimomd.volume("ef-b2", 64 * 1024))
    assert status_of(e) in (CIM_ERR_ALREADY_EXISTS, CIM_ERR_FAILED)
    with pytest.raises(CIMError) as e:
        enable(conn, "dependent", cimomd.volume("ef-m3", MiB), cimomd.volume("ef-s3", MiB), m)
    assert status_of(e) in (CIM_ERR_ALREADY_EXISTS, CIM_ERR_FAILED)
    assert m in e.value.status_description
    # Not found.
    with pytest.raises(CIMError) as e:
        call(conn, set_path(cimomd.volume_root.as_posix() + "/nothing", "dependent"), "abort")
    assert status_of(e) == CIM_ERR_NOT_FOUND
    with pytest.raises(CIMError) as e:
        conn.DeleteInstance(set_path(str(cimomd.volume_root / "nothing"), "dependent"))
    assert status_of(e) == CIM_ERR_NOT_FOUND
    # Export of a dependent shadow is refused, naming the set.
    with pytest.raises(CIMError) as e:
        call(conn, set_path(s, "dependent"), "exportVolume")
    assert status_of(e) == CIM_ERR_FAILED and s in e.value.status_description
    # Detach without an overflow attached.
    with pytest.raises(CIMError) as e:
        call(conn, set_path(s, "dependent"), "detachOverflowVolume")
    assert status_of(e) == CIM_ERR_FAILED
    conn.DeleteInstance(set_path(s, "dependent"))


def test_export_import_join(cimomd, tmp_path):
    """Host A exports an independent shadow, host B (a second cimomd that can
    reach A's volumes) imports it and writes, releases it, and A joins."""
    from conftest import Cimomd
    conn = cimomd.conn()
    m, s, b = volumes(cimomd, "ex", size=8 * MiB)
    # A slow initial copy: the shadow is not up to date, so export fails.
    enable(conn, "independent", m, s, b, copyDelay=Uint32(10000), copyUnits=Uint32(100))
    p = set_path(s, "independent")
    with pytest.raises(CIMError) as e:
        call(conn, p, "exportVolume")
    assert status_of(e) == CIM_ERR_FAILED and s in e.value.status_description
    # Aborted: chunks are still pending, so export still fails.
    assert call(conn, p, "abort")[0] is True
    wait(conn, p)
    with pytest.raises(CIMError) as e:
        call(conn, p, "exportVolume")
    assert status_of(e) == CIM_ERR_FAILED
    assert call(conn, p, "setCopyParameters", delay=Uint32(2), units=Uint32(60000))[0] is True
    assert call(conn, p, "updateMasterToShadow")[0] is True
    wait(conn, p)
    assert call(conn, p, "exportVolume")[0] is True
    assert conn.GetInstance(p)["state"] == "exported"
    with pytest.raises(CIMError) as e:
        call(conn, p, "exportVolume")
    assert status_of(e) == CIM_ERR_FAILED

    bitmap_b = cimomd.volume("ex-bitmap-b", 64 * 1024)
    other = Cimomd(tmp_path / "hostb", extra_args=["--volume-root", str(cimomd.volume_root)])
    try:
        oconn = other.conn()
        rv, _ = oconn.InvokeMethod("importShadow", CIMClassName("DS_IISet", namespace=NS),
                                   shadowVolume=s, bitmapVolume=bitmap_b)
        assert rv is True
        imported = oconn.GetInstance(set_path(s, "imported"))
        assert imported["setType"] == "imported" and imported["state"] == "imported"
        oconn.DeleteInstance(set_path(s, "imported"))
    finally:
        other.stop()
    assert call(conn, p, "joinVolume", BitmapVol=bitmap_b)[0] is True
    assert conn.GetInstance(p)["state"] != "exported"
    assert call(conn, p, "updateMasterToShadow")[0] is True
    wait(conn, p)
    conn.DeleteInstance(p)


def test_volumes(cimomd, tmp_path):
    conn = cimomd.conn()
    m, s, b = volumes(cimomd, "vol")
    free = cimomd.volume("vol-free", 3 * MiB)
    enable(conn, "dependent", m, s, b)
    vols = {v["path"]: v for v in conn.EnumerateInstances("DS_Volume")}
    assert vols[free]["capacity"] == 3 * MiB and vols[free]["usedBy"] == ""
    assert vols[m]["usedBy"].startswith("master of") and s in vols[m]["usedBy"]
    assert vols[b]["usedBy"].startswith("bitmap of")
    got = conn.GetInstance(CIMInstanceName("DS_Volume", {"path": free}, namespace=NS))
    assert got["capacity"] == 3 * MiB
    outside = tmp_path / "secret"
    outside.write_bytes(b"x" * 4096)
    link = cimomd.volume_root / "vol-link"
    link.symlink_to(outside)
    for bad in (str(outside), str(link), str(cimomd.volume_root / ".." / "secret")):
        with pytest.raises(CIMError) as e:
            conn.GetInstance(CIMInstanceName("DS_Volume", {"path": bad}, namespace=NS))
        assert status_of(e) == CIM_ERR_ACCESS_DENIED, bad
    conn.DeleteInstance(set_path(s, "dependent"))


def test_wbemcli_sees_the_sets(cimomd):
    assert shutil.which("wbemcli"), "wbemcli missing: apt-get install sblim-wbemcli"
    conn = cimomd.conn()
    m, s, b = volumes(cimomd, "wc")
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
    m, s, b = volumes(cimomd, "q1")
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
