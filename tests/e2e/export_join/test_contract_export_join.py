"""Contract check of export / import / join data semantics (interface.md §7
Import; imaging.md §5): writes made on the importing host are tracked in its
bitmap, join ORs that bitmap into the original set, and the following update
resyncs exactly the chunks changed on either host."""

from checks import CIM_ERR_FAILED, cim_error
from iiset import call, exported_set, import_shadow, set_path, wait
from nbd_client import CMD_READ, CMD_WRITE, open_export

MiB = 1 << 20
KiB = 1 << 10
CHUNK = 32 * KiB


def test_join_merges_foreign_changes_and_update_resyncs_them(fresh_cimomd, tmp_path):
    a = fresh_cimomd
    conn = a.conn()
    p, m, s, b = exported_set(a, conn, "ej", 0x11)
    c = open_export(a, m)  # a local master change while exported
    assert c.cmd(CMD_WRITE, 2 * CHUNK, 512, b"\x22" * 512)[0] == 0
    c.close()

    foreign_bitmap = a.volume("b-hostb", 64 * KiB)
    hostb = a.peer(tmp_path / "hostb")
    try:
        bconn = hostb.conn()
        assert import_shadow(bconn, s, foreign_bitmap) is True
        ip = set_path(s, "imported")
        imp = bconn.GetInstance(ip)
        assert imp["state"] == "imported" and imp["percentSynchronized"] == 100
        assert imp["shadowCapacity"] == MiB
        cb = open_export(hostb, s)  # host B uses the shadow
        err, data = cb.cmd(CMD_READ, 0, CHUNK)
        assert err == 0 and data == b"\x11" * CHUNK
        assert cb.cmd(CMD_WRITE, 9 * CHUNK + 100, 100, b"\x33" * 100)[0] == 0
        cb.close()
        assert bconn.GetInstance(ip)["percentSynchronized"] == 100 * 31 / 32  # tracked there
        # imaging §3.2: an imported set neither copies nor exports.
        for method in ("updateMasterToShadow", "copyShadowToMaster", "exportVolume"):
            with cim_error(CIM_ERR_FAILED, s, note=method):
                bconn.InvokeMethod(method, ip)
        bconn.DeleteInstance(ip)  # releases it
    finally:
        hostb.stop()

    with open(s, "rb") as f:
        f.seek(9 * CHUNK + 100)
        assert f.read(100) == b"\x33" * 100  # B's write really landed
    assert call(conn, p, "joinVolume", BitmapVol=foreign_bitmap) is True
    assert conn.GetInstance(p)["state"] == "idle"
    assert conn.InvokeMethod("getPercentSynchronized", p)[0] == 100 * 30 / 32  # both hosts' chunks
    assert call(conn, p, "updateMasterToShadow") is True
    wait(conn, p, 60)
    with open(m, "rb") as f1, open(s, "rb") as f2:
        assert f1.read() == f2.read()
