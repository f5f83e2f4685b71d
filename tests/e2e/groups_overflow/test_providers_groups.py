"""DS_IIGroup, DS_IIOverflowVol and the two associations through a real
cimomd: every method, the group rules (a member is driven on its own, except
while its group is locked; a group copy is all or nothing and refused while a
member is busy), overflow attach/detach, and Associators /
References in both directions (plain and pull forms)."""
from pywbem import CIMInstance, Uint32

from checks import CIM_ERR_ALREADY_EXISTS, CIM_ERR_FAILED, CIM_ERR_INVALID_PARAMETER, CIM_ERR_NOT_FOUND, cim_error
from iiset import call, group_path, mkgroup, new_set, ovol_path, wait
from nbd_client import qio

MiB = 1 << 20


def synchronized_pair(server, conn, group, *prefixes):
    """An independent group `group` of two synchronized 4 MiB sets named
    after `prefixes`; returns the group's and the sets' paths."""
    sets = [new_set(server, conn, "independent", prefix, size=4 * MiB) for prefix in prefixes]
    for p in sets:
        wait(conn, p)
    g = mkgroup(conn, group, "independent")
    for p in sets:
        assert call(conn, g, "addIISet", set=p) is True
    return (g, *sets)


def keyset(paths):
    return {(p.classname.lower(), tuple(sorted((k.lower(), str(v)) for k, v in p.keybindings.items()))) for p in paths}


def test_group_methods_and_rules(cimomd):
    conn = cimomd.conn()
    a = new_set(cimomd, conn, "dependent", "ga")
    b = new_set(cimomd, conn, "dependent", "gb")
    ind = new_set(cimomd, conn, "independent", "gi")
    wait(conn, ind)
    gp = mkgroup(conn, "g-nightly", "dependent")
    assert gp["groupName"] == "g-nightly"
    with cim_error(CIM_ERR_ALREADY_EXISTS):
        mkgroup(conn, "g-nightly", "dependent")
    g = group_path("g-nightly")
    inst = conn.GetInstance(g)
    assert inst["groupType"] == "dependent"
    assert conn.InvokeMethod("getName", g)[0] == "g-nightly"
    assert conn.InvokeMethod("getGroupType", g)[0] == "dependent"

    with cim_error(CIM_ERR_FAILED):  # empty group
        conn.InvokeMethod("copyMasterToShadow", g)

    assert call(conn, g, "addIISet", set=a) is True
    assert call(conn, g, "addIISet", set=b) is True
    with cim_error((CIM_ERR_FAILED, CIM_ERR_INVALID_PARAMETER)):
        conn.InvokeMethod("addIISet", g, set=ind)  # type mismatch
    assert call(conn, g, "isSetInGroup", set=a) is True
    # `call` reads booleans from the raw reply: pywbem alone says True here.
    assert call(conn, g, "isSetInGroup", set=ind) is False
    assert conn.InvokeMethod("isSetInGroup", g, set=ind)[0] is True, "pywbem 1.9 quirk gone: simplify call()"
    rv, out = conn.InvokeMethod("getIISets", g)
    assert rv == 2
    assert keyset(out["sets"]) == keyset([a, b])
    assert conn.GetInstance(a)["groupName"] == "g-nightly"

    # A member is driven on its own, as an ungrouped set (interface.md §7);
    # the group's own methods act on every member.
    for method in ("copyMasterToShadow", "updateMasterToShadow", "copyShadowToMaster", "updateShadowToMaster"):
        assert call(conn, a, method) is True, method
        wait(conn, a)
        assert call(conn, g, method) is True, method
        wait(conn, a)
        wait(conn, b)
    for method in ("abort", "suspend", "resume"):
        assert call(conn, a, method) is True, method
    assert conn.InvokeMethod("getPercentCompleted", g)[0] == 100
    for method in ("abort", "suspend", "resume", "lock", "unlock"):
        assert call(conn, g, method) is True, method

    # While the group is locked, member-level changes are refused, naming the
    # group and the lock; reads and waits still work.
    assert call(conn, g, "lock") is True
    for method in ("updateMasterToShadow", "copyMasterToShadow", "abort", "suspend", "resume"):
        with cim_error(None, "g-nightly", "locked", a["shadowVolume"], note=method):
            conn.InvokeMethod(method, a)
    assert conn.GetInstance(a)["state"] == "idle"
    assert conn.InvokeMethod("getPercentCompleted", a)[0] == 100
    wait(conn, a)
    assert call(conn, g, "unlock") is True
    assert call(conn, a, "updateMasterToShadow") is True
    wait(conn, a)

    assert call(conn, g, "removeIISet", set=b) is True
    assert call(conn, g, "isSetInGroup", set=b) is False
    assert call(conn, g, "isSetInGroup", set=a) is True
    with cim_error(CIM_ERR_FAILED):
        conn.InvokeMethod("removeIISet", g, set=b)
    assert call(conn, g, "rename", newName="g-weekly") is True
    with cim_error(CIM_ERR_NOT_FOUND):
        conn.GetInstance(g)
    assert conn.GetInstance(a)["groupName"] == "g-weekly"
    # Deleting a group releases its members, which stay enabled.
    conn.DeleteInstance(group_path("g-weekly"))
    assert conn.GetInstance(a)["groupName"] == ""
    for p in (a, b, ind):
        conn.DeleteInstance(p)


def test_group_associations_both_directions(cimomd):
    conn = cimomd.conn()
    a = new_set(cimomd, conn, "independent", "aa")
    b = new_set(cimomd, conn, "independent", "ab")
    wait(conn, a)
    wait(conn, b)
    mkgroup(conn, "g-assoc", "independent")
    g = group_path("g-assoc")
    conn.InvokeMethod("addIISet", g, set=a)
    conn.InvokeMethod("addIISet", g, set=b)

    sets = conn.AssociatorNames(g, AssocClass="DS_IIGroupSetAssoc", Role="groups", ResultRole="groupedby")
    assert keyset(sets) == keyset([a, b])
    insts = conn.Associators(g, AssocClass="DS_IIGroupSetAssoc")
    assert {i["shadowVolume"] for i in insts} == {a["shadowVolume"], b["shadowVolume"]}
    groups = conn.AssociatorNames(a, AssocClass="DS_IIGroupSetAssoc", Role="groupedby")
    assert [p["groupName"] for p in groups] == ["g-assoc"]
    refs = conn.References(a, ResultClass="DS_IIGroupSetAssoc")
    assert len(refs) == 1
    assert refs[0]["groups"]["groupName"] == "g-assoc"
    assert len(conn.ReferenceNames(g, ResultClass="DS_IIGroupSetAssoc", Role="groups")) == 2
    assert conn.ReferenceNames(g, ResultClass="DS_IIGroupSetAssoc", Role="groupedby") == []
    pulled = conn.OpenAssociatorInstancePaths(g, AssocClass="DS_IIGroupSetAssoc", MaxObjectCount=10)
    assert keyset(pulled.paths) == keyset([a, b])
    assert len(conn.EnumerateInstances("DS_IIGroupSetAssoc")) == 2

    conn.DeleteInstance(g)
    assert conn.AssociatorNames(a, AssocClass="DS_IIGroupSetAssoc") == []
    conn.DeleteInstance(a)
    conn.DeleteInstance(b)


def test_group_copy_is_all_or_nothing(cimomd):
    """A group copy validates every member first: when one member cannot
    copy (its shadow is exported), no member starts."""
    conn = cimomd.conn()
    g, a, b = synchronized_pair(cimomd, conn, "g-atomic", "an", "bn")
    # A slow copy on `a` would show as "copying" if it had started.
    conn.InvokeMethod("setCopyParameters", a, delay=Uint32(10000), units=Uint32(100))
    assert call(conn, b, "exportVolume") is True
    with cim_error(CIM_ERR_FAILED, b["shadowVolume"]):
        conn.InvokeMethod("copyMasterToShadow", g)
    assert conn.GetInstance(a)["state"] == "idle"
    assert conn.GetInstance(a)["percentCompleted"] == 100
    assert call(conn, b, "joinVolume") is True
    conn.DeleteInstance(g)
    for p in (a, b):
        conn.DeleteInstance(p)


def test_group_copy_is_refused_while_a_member_is_busy(cimomd):
    """A member updated on its own is busy: a group update is refused, naming
    that member, and no other member starts."""
    conn = cimomd.conn()
    g, a, b = synchronized_pair(cimomd, conn, "g-busy", "ab1", "ab2")
    assert call(conn, a, "setCopyParameters", delay=Uint32(10000), units=Uint32(100)) is True
    assert call(conn, a, "copyMasterToShadow") is True  # 128 chunks: pauses after 100
    assert conn.GetInstance(a)["state"] == "copying"
    for method in ("updateMasterToShadow", "copyMasterToShadow"):
        with cim_error(None, a["shadowVolume"]):
            conn.InvokeMethod(method, g)
        inst = conn.GetInstance(b)
        assert inst["state"] == "idle" and inst["percentCompleted"] == 100
    assert call(conn, a, "setCopyParameters", delay=Uint32(2), units=Uint32(60000)) is True
    wait(conn, a)
    assert call(conn, g, "updateMasterToShadow") is True
    wait(conn, a)
    wait(conn, b)
    conn.DeleteInstance(g)
    for p in (a, b):
        conn.DeleteInstance(p)


def test_overflow_volumes_and_association(cimomd):
    conn = cimomd.conn()
    ov = cimomd.volume("ovol", 8 * MiB)
    op = conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": ov}))
    assert op["overflowVolPath"] == ov
    inst = conn.GetInstance(ovol_path(ov))
    assert inst["capacity"] == 8 * MiB and inst["attachedSets"] == 0 and inst["usedBytes"] > 0
    with cim_error((CIM_ERR_ALREADY_EXISTS, CIM_ERR_FAILED)):
        conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": ov}))

    # A compact dependent set: shadow smaller than master.
    sp = new_set(cimomd, conn, "dependent", "oc", size=8 * MiB, ssize=MiB, bsize=256 * 1024)
    assert call(conn, sp, "attachIIOverflowVolume", overflowVol=ov) is True
    assert conn.InvokeMethod("getOverflowVolume", sp)[0] == ov
    assert conn.GetInstance(sp)["overflowVolume"] == ov
    assert conn.GetInstance(ovol_path(ov))["attachedSets"] == 1
    rv, out = conn.InvokeMethod("getIISets", ovol_path(ov))
    assert rv == 1 and keyset(out["sets"]) == keyset([sp])

    owners = conn.AssociatorNames(ovol_path(ov), AssocClass="DS_IISetOverflowVolAssoc", Role="ownedby")
    assert keyset(owners) == keyset([sp])
    owned = conn.AssociatorNames(sp, AssocClass="DS_IISetOverflowVolAssoc", Role="owns")
    assert [p["overflowVolPath"] for p in owned] == [ov]
    assert len(conn.References(ovol_path(ov), ResultClass="DS_IISetOverflowVolAssoc")) == 1

    with cim_error(CIM_ERR_FAILED):
        conn.DeleteInstance(ovol_path(ov))  # still attached

    # Spill into the overflow: write more chunks to the master than the
    # shadow holds, through NBD so the engine copies on write.
    m = sp["shadowVolume"][:-1] + "m"
    r = qio(cimomd, m, "write -P 0x5a 0 3M")
    assert r.returncode == 0, r.stdout + r.stderr
    assert conn.GetInstance(ovol_path(ov))["usedBytes"] > inst["usedBytes"]
    # Detaching an overflow volume that holds the set's data fails.
    with cim_error(CIM_ERR_FAILED, sp["shadowVolume"]):
        conn.InvokeMethod("detachOverflowVolume", sp)
    # An update of the shadow releases the overflow chunks; then detach works.
    assert call(conn, sp, "updateMasterToShadow") is True
    wait(conn, sp)
    conn.DeleteInstance(sp)
    conn.DeleteInstance(ovol_path(ov))
    assert all(i["overflowVolPath"] != ov for i in conn.EnumerateInstances("DS_IIOverflowVol"))


def test_detach_then_delete_overflow(cimomd):
    conn = cimomd.conn()
    ov = cimomd.volume("ovol2", 4 * MiB)
    conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": ov}))
    sp = new_set(cimomd, conn, "dependent", "od", size=4 * MiB, ssize=MiB, bsize=256 * 1024)
    conn.InvokeMethod("attachIIOverflowVolume", sp, overflowVol=ov)
    assert call(conn, sp, "detachOverflowVolume") is True
    assert conn.GetInstance(sp)["overflowVolume"] == ""
    assert conn.AssociatorNames(sp, AssocClass="DS_IISetOverflowVolAssoc") == []
    conn.DeleteInstance(ovol_path(ov))
    with cim_error(CIM_ERR_NOT_FOUND):
        conn.GetInstance(ovol_path(ov))
    conn.DeleteInstance(sp)
