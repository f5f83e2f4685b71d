"""Contract check of imaging.md §8 "mount checks" over CIM: while an NBD
client holds a volume, an update towards it, the export of a shadow and the
disable of a dependent shadow fail with CIM_ERR_FAILED naming the set, the
volume and the client count; after the client disconnects they work."""
import time

from pywbem import CIMError

from checks import CIM_ERR_FAILED, expect_cim_error
from iiset import call, enable, vols, wait
from nbd_client import open_export


def refused(call, volume, what):
    expect_cim_error(call, CIM_ERR_FAILED, f"{what} refused: volume {volume} is in use by 1 NBD client(s)")


def eventually(call, timeout=10):
    """Retries while the server is still dropping a closed connection."""
    deadline = time.time() + timeout
    while True:
        try:
            return call()
        except CIMError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def test_volumes_held_by_nbd_clients_refuse_changes(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "inuse", fill=0x42)
    p = enable(conn, "independent", m, s, b)
    wait(conn, p, 60)

    c = open_export(cimomd, s)
    refused(lambda: conn.InvokeMethod("updateMasterToShadow", p), s, "copy/update to the shadow")
    refused(lambda: conn.InvokeMethod("exportVolume", p), s, "export")
    c.close()
    assert eventually(lambda: conn.InvokeMethod("updateMasterToShadow", p))[0] is True
    wait(conn, p, 60)

    cm = open_export(cimomd, m)
    refused(lambda: conn.InvokeMethod("updateShadowToMaster", p), m, "copy/update to the master")
    cm.close()
    conn.DeleteInstance(p)

    dm, ds, db = vols(cimomd, "inuse-dep")
    dp = enable(conn, "dependent", dm, ds, db)
    cd = open_export(cimomd, ds)
    refused(lambda: conn.DeleteInstance(dp), ds, "disable")
    cd.close()
    eventually(lambda: conn.DeleteInstance(dp))
