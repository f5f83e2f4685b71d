"""Contract check of imaging.md §5 "implicit join at resume" over CIM: an
exported, suspended set whose shadow is imported on the same host is listed
next to the import; resuming it ORs the import's changes in, removes the
import and clears the export, durably across a restart."""
import pytest
from pywbem import CIMClassName, CIMError, Uint32

from iiset import call, enable, set_path
from nbd_client import CMD_WRITE, open_export, vols

KiB = 1 << 10
CHUNK = 32 * KiB
NS = "root/cimv2"


def test_resume_joins_a_local_import_of_the_exported_shadow(fresh_cimomd):
    srv = fresh_cimomd
    conn = srv.conn()
    m, s, b = vols(srv, "ij", fill=0x11)
    p = enable(conn, "independent", m, s, b)
    assert call(conn, p, "waitForCompletion", timeoutSeconds=Uint32(60)) is True
    assert call(conn, p, "exportVolume") is True
    b2 = srv.volume("ij-b2", 64 * KiB)

    # While the exported set is active, the shadow is not importable here.
    with pytest.raises(CIMError) as e:
        conn.InvokeMethod("importShadow", CIMClassName("DS_IISet", namespace=NS),
                          shadowVolume=s, bitmapVolume=b2)
    assert "suspend that set first" in e.value.status_description
    assert call(conn, p, "suspend") is True
    rv, _ = conn.InvokeMethod("importShadow", CIMClassName("DS_IISet", namespace=NS),
                              shadowVolume=s, bitmapVolume=b2)
    assert rv is True
    ip = set_path(s, "imported")
    kinds = sorted(n["setType"] for n in conn.EnumerateInstanceNames("DS_IISet"))
    assert kinds == ["imported", "independent"]
    assert conn.GetInstance(p)["state"] == "exported"
    c = open_export(srv, s)  # the import serves the shadow here
    assert c.cmd(CMD_WRITE, 9 * CHUNK, 512, b"\x33" * 512)[0] == 0
    c.close()
    assert conn.GetInstance(ip)["percentSynchronized"] == 100 * 31 / 32

    srv.restart()
    conn = srv.conn()
    assert len(conn.EnumerateInstanceNames("DS_IISet")) == 2
    assert call(conn, p, "resume") is True
    i = conn.GetInstance(p)
    assert i["state"] == "idle" and i["percentSynchronized"] == 100 * 31 / 32
    with pytest.raises(CIMError) as e:
        conn.GetInstance(ip)
    assert e.value.status_code == 6  # CIM_ERR_NOT_FOUND

    srv.restart()
    conn = srv.conn()
    assert [n["setType"] for n in conn.EnumerateInstanceNames("DS_IISet")] == ["independent"]
    assert conn.GetInstance(p)["percentSynchronized"] == 100 * 31 / 32
    assert call(conn, p, "updateMasterToShadow") is True
    assert call(conn, p, "waitForCompletion", timeoutSeconds=Uint32(60)) is True
    with open(m, "rb") as f1, open(s, "rb") as f2:
        assert f1.read() == f2.read()
