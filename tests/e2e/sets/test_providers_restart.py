"""The CIM view of the engine across restarts (same instances, same keys,
same properties), a copy interrupted by a restart that carries on, and 16
concurrent clients issuing mixed requests while a copy runs, with zero
errors."""
import random
import signal
import threading

from pywbem import CIMInstance, Uint32

from iiset import call, group_path, mkgroup, new_set, wait

MiB = 1 << 20
STABLE = ("shadowVolume", "setType", "masterVolume", "bitmapVolume", "setName", "overflowVolume",
          "groupName", "masterCapacity", "shadowCapacity", "bitmapCapacity", "copyUnits", "copyDelay")


def snapshot(conn):
    sets = {}
    for inst in conn.EnumerateInstances("DS_IISet"):
        sets[(inst["shadowVolume"], inst["setType"])] = {k: inst[k] for k in STABLE}
    groups = {(i["groupName"], i["groupType"]) for i in conn.EnumerateInstances("DS_IIGroup")}
    ovols = {i["overflowVolPath"] for i in conn.EnumerateInstances("DS_IIOverflowVol")}
    assocs = len(conn.EnumerateInstanceNames("DS_IIGroupSetAssoc"))
    return sets, groups, ovols, assocs


def test_restart_keeps_instances(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    a = new_set(s, conn, "independent", "ra", setName="alpha")
    b = new_set(s, conn, "dependent", "rb")
    conn.InvokeMethod("waitForCompletion", a, timeoutSeconds=Uint32(120))
    conn.InvokeMethod("setCopyParameters", b, delay=Uint32(9), units=Uint32(900))
    rg = mkgroup(conn, "rg")
    mkgroup(conn, "empty", "independent")
    conn.InvokeMethod("addIISet", rg, set=b)
    ov = s.volume("rov", 4 * MiB)
    conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": ov}))
    before = snapshot(conn)
    assert len(before[0]) == 2 and len(before[1]) == 2 and before[2] == {ov} and before[3] == 1

    s.restart()
    after = snapshot(s.conn())
    assert after == before

    # Also after a hard kill.
    s.restart(sig=signal.SIGKILL)
    assert snapshot(s.conn()) == before


def test_copy_survives_restart(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    p = new_set(s, conn, "independent", "cs", size=16 * MiB, copyUnits=Uint32(100), copyDelay=Uint32(50))
    inst = conn.GetInstance(p)
    assert inst["state"] == "copying"
    s.restart()
    conn = s.conn()
    conn.InvokeMethod("setCopyParameters", p, delay=Uint32(2), units=Uint32(60000))
    conn.InvokeMethod("waitForCompletion", p, timeoutSeconds=Uint32(300))
    inst = conn.GetInstance(p)
    assert inst["state"] == "idle" and inst["percentCompleted"] == 100
    with open(inst["masterVolume"], "rb") as f1, open(inst["shadowVolume"], "rb") as f2:
        assert f1.read() == f2.read()


def test_sixteen_concurrent_clients_while_copying(fresh_cimomd):
    s = fresh_cimomd
    conn = s.conn()
    # A slow copy that keeps running throughout.
    busy = new_set(s, conn, "independent", "busy", size=32 * MiB, copyUnits=Uint32(100), copyDelay=Uint32(200))
    mkgroup(conn, "cg")
    errors = []
    done = []

    def client(n):
        c = s.conn()
        rnd = random.Random(n)
        try:
            own = new_set(s, c, "dependent", f"c{n}")
            g = group_path("cg")
            for i in range(12):
                op = rnd.choice(["enum", "get", "busy", "names", "method", "modify", "volumes", "assoc"])
                if op == "enum":
                    assert len(c.EnumerateInstances("DS_IISet")) >= 2
                elif op == "get":
                    assert c.GetInstance(own)["setType"] == "dependent"
                elif op == "busy":
                    assert c.GetInstance(busy)["masterCapacity"] == 32 * MiB
                elif op == "names":
                    assert any(x["shadowVolume"] == busy["shadowVolume"] for x in c.EnumerateInstanceNames("DS_IISet"))
                elif op == "method":
                    assert call(c, own, "updateMasterToShadow") is True
                    wait(c, own, 60)
                elif op == "modify":
                    inst = c.GetInstance(own, PropertyList=["setName"])
                    mod = CIMInstance("DS_IISet", properties={"setName": f"client-{n}-{i}"}, path=own)
                    c.ModifyInstance(mod, PropertyList=["setName"])
                    assert c.GetInstance(own)["setName"] == f"client-{n}-{i}"
                    assert inst is not None
                elif op == "volumes":
                    assert len(c.EnumerateInstances("DS_Volume")) >= 3
                elif op == "assoc":
                    c.AssociatorNames(g, AssocClass="DS_IIGroupSetAssoc")
            c.DeleteInstance(own)
            done.append(n)
        except Exception as e:  # noqa: BLE001 - every failure counts
            errors.append(f"client {n}: {e!r}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert sorted(done) == list(range(16))
    inst = conn.GetInstance(busy)
    assert inst["state"] in ("copying", "idle")
    conn.InvokeMethod("abort", busy)
    conn.DeleteInstance(busy)
