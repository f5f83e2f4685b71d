"""Indications from the Instant Image providers, received by pywbem's
WBEMListener through subscriptions created in the interop namespace:
creation, modification (state change, copy completion) and deletion of sets,
groups and overflow volumes."""
import time

from pywbem import CIMInstance, Uint32

from indication_util import listener, src, src_class, watch  # noqa: F401 (listener: a fixture)
from iiset import enable, group_path, mkgroup, new_set, ovol_path, vols
from nbd_client import qio

MiB = 1 << 20


def test_set_life_cycle_indications(fresh_cimomd, listener):
    s = fresh_cimomd
    col, conn, stop = watch(s, listener, "SELECT * FROM CIM_InstIndication WHERE SourceInstance ISA DS_IISet", "ii-sets")
    m, sh, b = vols(s, "lc", 4 * MiB)
    p = enable(conn, "independent", m, sh, b)
    created = col.wait_for(lambda i: i.classname == "CIM_InstCreation")
    assert src(created[0])["shadowVolume"] == sh
    assert src(created[0])["setType"] == "independent"
    assert created[0]["IndicationTime"] is not None

    conn.InvokeMethod("waitForCompletion", p, timeoutSeconds=Uint32(120))
    # The end of the initial copy is a modification whose source is idle.
    mods = col.wait_for(lambda i: i.classname == "CIM_InstModification" and src(i)["state"] == "idle"
                        and src(i)["percentCompleted"] == 100)
    assert mods[0]["PreviousInstance"] is not None

    conn.InvokeMethod("setName", p, name="renamed")
    col.wait_for(lambda i: i.classname == "CIM_InstModification" and src(i)["setName"] == "renamed")

    conn.InvokeMethod("suspend", p)
    col.wait_for(lambda i: i.classname == "CIM_InstModification" and src(i)["state"] == "suspended")

    conn.DeleteInstance(p)
    deleted = col.wait_for(lambda i: i.classname == "CIM_InstDeletion")
    assert src(deleted[0])["shadowVolume"] == sh
    stop()


def test_group_and_overflow_indications(fresh_cimomd, listener):
    s = fresh_cimomd
    col, conn, stop = watch(s, listener, "SELECT * FROM CIM_InstIndication", "ii-all")
    mkgroup(conn, "ig")
    col.wait_for(lambda i: i.classname == "CIM_InstCreation" and src_class(i) == "DS_IIGroup")
    ov = s.volume("ov", 4 * MiB)
    conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": ov}))
    col.wait_for(lambda i: i.classname == "CIM_InstCreation" and src_class(i) == "DS_IIOverflowVol")
    conn.DeleteInstance(ovol_path(ov))
    col.wait_for(lambda i: i.classname == "CIM_InstDeletion" and src_class(i) == "DS_IIOverflowVol")
    conn.DeleteInstance(group_path("ig"))
    col.wait_for(lambda i: i.classname == "CIM_InstDeletion" and src_class(i) == "DS_IIGroup")
    stop()


def test_filter_restricts_to_creations(fresh_cimomd, listener):
    s = fresh_cimomd
    col, conn, stop = watch(s, listener, "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA DS_IISet", "ii-create")
    p = new_set(s, conn, "dependent", "fc")
    col.wait_for(lambda i: i.classname == "CIM_InstCreation")
    conn.DeleteInstance(p)
    time.sleep(1.5)
    with col.lock:
        assert all(i.classname == "CIM_InstCreation" for i in col.items), [i.classname for i in col.items]
    stop()


def test_alert_when_a_set_goes_to_error(fresh_cimomd, listener):
    """A compact dependent shadow that runs out of space puts its set in
    status "error": a CIM_AlertIndication names the set and the cause, and
    a modification carries status "error"."""
    s = fresh_cimomd
    col, conn, stop = watch(s, listener, "SELECT * FROM CIM_AlertIndication", "ii-alerts")
    _, _, stop_mods = watch(s, listener, "SELECT * FROM CIM_InstModification WHERE SourceInstance ISA DS_IISet",
                            "ii-mods")
    m, sh, b = vols(s, "al", 8 * MiB, MiB, 256 * 1024)
    p = enable(conn, "dependent", m, sh, b)
    r = qio(s, m, "write -P 0x5a 0 2M")
    assert r.returncode == 0, r.stdout + r.stderr
    assert conn.GetInstance(p)["status"] == "error"
    alerts = col.wait_for(lambda i: i.classname == "CIM_AlertIndication")
    assert sh in alerts[0]["Description"]
    assert "out of space" in alerts[0]["ProbableCauseDescription"]
    assert "DS_IISet" in alerts[0]["AlertingManagedElement"]
    col.wait_for(lambda i: i.classname == "CIM_InstModification" and src(i)["status"] == "error")
    time.sleep(1)
    with col.lock:
        assert sum(1 for i in col.items if i.classname == "CIM_AlertIndication") == 1
    stop()
    stop_mods()
