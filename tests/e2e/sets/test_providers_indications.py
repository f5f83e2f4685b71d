"""Indications from the Instant Image providers, received by pywbem's
WBEMListener through subscriptions created in the interop namespace:
creation, modification (state change, copy completion) and deletion of sets,
groups and overflow volumes."""
import threading
import time

import pytest
from pywbem import CIMInstance, Uint32, WBEMListener

from conftest import free_port
from iiset import NS, enable, group_path, mkgroup, new_set, ovol_path, vols
from nbd_client import qio

MiB = 1 << 20


class Collector:
    def __init__(self):
        self.items = []
        self.lock = threading.Lock()

    def __call__(self, indication, host):
        with self.lock:
            self.items.append(indication)

    def wait_for(self, pred, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                found = [i for i in self.items if pred(i)]
            if found:
                return found
            time.sleep(0.1)
        with self.lock:
            seen = [(i.classname, src_class(i)) for i in self.items]
        raise AssertionError(f"indication not received within {timeout}s; got {seen}")


def src_class(ind):
    src = ind.properties.get("SourceInstance")
    return getattr(src.value, "classname", None) if src is not None else None


def src(ind):
    return ind["SourceInstance"]


@pytest.fixture
def listener():
    port = free_port()
    lst = WBEMListener("127.0.0.1", http_port=port)
    col = Collector()

    def on_indication(indication, host):
        col(indication, host)

    lst.add_callback(on_indication)
    lst.start()
    yield port, col
    lst.stop()


def subscribe(server, port, query, name):
    iconn = server.conn("interop")
    flt = iconn.CreateInstance(CIMInstance("CIM_IndicationFilter", properties={
        "Name": name, "Query": query, "QueryLanguage": "WQL", "SourceNamespace": NS}))
    dest = iconn.CreateInstance(CIMInstance("CIM_ListenerDestinationCIMXML", properties={
        "Name": name + "-dest", "Destination": f"http://127.0.0.1:{port}"}))
    sub = iconn.CreateInstance(CIMInstance("CIM_IndicationSubscription", properties={
        "Filter": flt, "Handler": dest}))
    return iconn, [sub, dest, flt]


def unsubscribe(iconn, paths):
    for p in paths:
        iconn.DeleteInstance(p)


def watch(server, listener, query, name):
    """Subscribes the `listener` fixture's collector to `query`; returns the
    collector, a connection to `server` and a function that unsubscribes."""
    port, col = listener
    iconn, subs = subscribe(server, port, query, name)
    return col, server.conn(), lambda: unsubscribe(iconn, subs)


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
