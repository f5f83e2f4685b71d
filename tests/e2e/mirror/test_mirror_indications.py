"""Indications of mirrors, received by pywbem's WBEMListener: the primary's
host reports a mirror's creation, its state changes (InstModification with
the previous instance) and its deletion, and a CIM_AlertIndication naming
the mirror when its link is lost; the secondary's host reports the claim
and the release of its target."""
import pytest
from pywbem import Uint32

from indication_util import listener, src, src_class, watch  # noqa: F401 (listener: a fixture)
from mirror_util import KiB, Pair, call, enable_mirror, record, volumes, wait_state
from nbd_client import CMD_WRITE, Nbd


@pytest.fixture
def pair(tmp_path):
    p = Pair(tmp_path)
    yield p
    p.close()


def test_mirror_life_cycle_and_link_loss_are_indicated(pair, listener):
    # One listener collects for every subscription: predicates name the class.
    col, conn, stop = watch(pair.a, listener, "SELECT * FROM CIM_InstIndication WHERE SourceInstance ISA DS_IIMirror", "mirrors")
    alerts, _, stop_alerts = watch(pair.a, listener, "SELECT * FROM CIM_AlertIndication", "mirror-alerts")
    targets, _, stop_targets = watch(pair.b, listener, "SELECT * FROM CIM_InstIndication WHERE SourceInstance ISA DS_IIMirrorTarget", "targets")
    p, s, sb = volumes(pair.a, pair.b, "ind")
    path = enable_mirror(conn, p, s, sb, linkTimeout=2)
    created = col.wait_for(lambda i: i.classname == "CIM_InstCreation" and src_class(i) == "DS_IIMirror")
    assert src(created[0])["primaryVolume"] == p and src(created[0])["secondaryHost"] == "hostb"
    claimed = targets.wait_for(lambda i: i.classname == "CIM_InstCreation" and src_class(i) == "DS_IIMirrorTarget")
    assert src(claimed[0])["volume"] == s and src(claimed[0])["token"] is None

    call(conn, path, "fullSync")
    assert call(conn, path, "waitForSync", timeoutSeconds=Uint32(60)) is True
    mods = col.wait_for(lambda i: i.classname == "CIM_InstModification" and src(i)["state"] == "replicating")
    assert mods[0]["PreviousInstance"] is not None

    pair.proxy.cut()
    c = Nbd(pair.a.nbd_port).go(p)
    assert c.cmd(CMD_WRITE, 0, 4 * KiB, record(1))[0] == 0
    c.close()
    wait_state(conn, path, "logging", timeout=15)
    col.wait_for(lambda i: i.classname == "CIM_InstModification" and src(i)["state"] == "logging")
    alert = alerts.wait_for(lambda i: i.classname == "CIM_AlertIndication" and p in i["Description"])
    assert "DS_IIMirror" in alert[0]["AlertingManagedElement"]

    conn.DeleteInstance(path)
    deleted = col.wait_for(lambda i: i.classname == "CIM_InstDeletion" and src_class(i) == "DS_IIMirror")
    assert src(deleted[0])["primaryVolume"] == p
    targets.wait_for(lambda i: i.classname == "CIM_InstDeletion" and src_class(i) == "DS_IIMirrorTarget")
    for s_ in (stop, stop_alerts, stop_targets):
        s_()
