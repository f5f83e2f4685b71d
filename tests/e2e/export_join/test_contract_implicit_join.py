"""Contract check of imaging.md §5 "implicit join at resume" over CIM: an
exported, suspended set whose shadow is imported on the same host is listed
next to the import; resuming it ORs the import's changes in, removes the
import and clears the export, durably across a restart."""

from checks import CIM_ERR_NOT_FOUND, cim_error
from iiset import call, exported_set, import_shadow, set_path, wait
from nbd_client import CMD_WRITE, open_export

KiB = 1 << 10
CHUNK = 32 * KiB
NS = "root/cimv2"


def test_resume_joins_a_local_import_of_the_exported_shadow(fresh_cimomd):
    srv = fresh_cimomd
    conn = srv.conn()
    p, m, s, b = exported_set(srv, conn, "ij", 0x11)
    b2 = srv.volume("ij-b2", 64 * KiB)

    # While the exported set is active, the shadow is not importable here.
    with cim_error(None, "suspend that set first"):
        import_shadow(conn, s, b2)
    assert call(conn, p, "suspend") is True
    assert import_shadow(conn, s, b2) is True
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
    with cim_error(CIM_ERR_NOT_FOUND):
        conn.GetInstance(ip)

    srv.restart()
    conn = srv.conn()
    assert [n["setType"] for n in conn.EnumerateInstanceNames("DS_IISet")] == ["independent"]
    assert conn.GetInstance(p)["percentSynchronized"] == 100 * 31 / 32
    assert call(conn, p, "updateMasterToShadow") is True
    wait(conn, p, 60)
    with open(m, "rb") as f1, open(s, "rb") as f2:
        assert f1.read() == f2.read()
