"""Contract check of imaging.md §8 "mount checks" over CIM: while an NBD
client holds a volume, an update towards it, the export of a shadow and the
disable of a dependent shadow fail with CIM_ERR_FAILED naming the set, the
volume and the client count; after the client disconnects they work."""
import time

import pytest
from pywbem import CIMError, Uint32

from iiset import call, enable
from nbd_client import open_export, vols


def refused(call, volume, what):
    with pytest.raises(CIMError) as e:
        call()
    d = e.value.status_description
    assert e.value.status_code == 1, d
    assert f"{what} refused: volume {volume} is in use by 1 NBD client(s)" in d, d


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
    assert call(conn, p, "waitForCompletion", timeoutSeconds=Uint32(60)) is True

    c = open_export(cimomd, s)
    refused(lambda: conn.InvokeMethod("updateMasterToShadow", p), s, "copy/update to the shadow")
    refused(lambda: conn.InvokeMethod("exportVolume", p), s, "export")
    c.close()
    assert eventually(lambda: conn.InvokeMethod("updateMasterToShadow", p))[0] is True
    assert call(conn, p, "waitForCompletion", timeoutSeconds=Uint32(60)) is True

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
