"""Contract checks of the precondition rules of imaging.md §2.3 / §3.2 / §8
as seen through CIM (interface.md §4: failures are CIM errors whose text
names the set, never a silent false): copies refused while copying, while
suspended, towards the master while a master→shadow copy is pending; disable
of a copying independent set; pairwise-different volumes; bitmap size;
role conflicts with overflow volumes; waitForCompletion timeouts; disable
invalidation of a dependent shadow; DS_Volume.usedBy for every role."""
import time

from pywbem import CIMInstance, CIMInstanceName, Uint32

from checks import (CIM_ERR_ALREADY_EXISTS, CIM_ERR_FAILED, CIM_ERR_INVALID_CLASS, CIM_ERR_INVALID_PARAMETER,
                    CIM_ERR_NOT_FOUND, cim_error, expect_cim_error)
from iiset import NS, call, enable, enable_slow_copy, enabled, set_path, vols, wait
from nbd_client import qio

MiB = 1 << 20
KiB = 1 << 10
REFUSED = (CIM_ERR_FAILED, CIM_ERR_INVALID_PARAMETER, CIM_ERR_ALREADY_EXISTS)


def refused(conn, path, method, needle, codes=(CIM_ERR_FAILED,), **params):
    return expect_cim_error(lambda: call(conn, path, method, **params), codes, needle, note=method)


def slow_independent(server, conn, prefix, size=16 * MiB):
    m, s, b = vols(server, prefix, size=size)
    p = enable_slow_copy(conn, m, s, b)
    return p, s


def finish(conn, p):
    call(conn, p, "setCopyParameters", delay=Uint32(2), units=Uint32(60000))
    call(conn, p, "abort")
    call(conn, p, "updateMasterToShadow")
    call(conn, p, "waitForCompletion", timeoutSeconds=Uint32(120))


def test_copy_refused_while_copying(cimomd):
    conn = cimomd.conn()
    p, s = slow_independent(cimomd, conn, "busy")
    try:
        for method in ("copyMasterToShadow", "updateMasterToShadow", "copyShadowToMaster", "updateShadowToMaster"):
            refused(conn, p, method, s)
        assert conn.GetInstance(p)["state"] == "copying"
    finally:
        finish(conn, p)
        conn.DeleteInstance(p)


def test_disable_refused_while_independent_copy_runs(cimomd):
    """imaging §2.3 -d: refused if the set is independent and a copy is in
    progress (DSW_EDEPENDENCY) — use -w first."""
    conn = cimomd.conn()
    p, s = slow_independent(cimomd, conn, "dis")
    try:
        with cim_error(CIM_ERR_FAILED, s):
            conn.DeleteInstance(p)
        assert conn.GetInstance(p)["state"] == "copying"
    finally:
        finish(conn, p)
        conn.DeleteInstance(p)


def test_towards_master_refused_while_master_to_shadow_pending(cimomd):
    """imaging §2.3: towards master while a master→shadow copy is pending
    (even aborted) → ECOPYING; towards the shadow continues it."""
    conn = cimomd.conn()
    p, s = slow_independent(cimomd, conn, "pend")
    try:
        assert call(conn, p, "abort") is True
        assert conn.GetInstance(p)["state"] != "copying"
        assert conn.GetInstance(p)["percentCompleted"] < 100
        for method in ("updateShadowToMaster", "copyShadowToMaster"):
            refused(conn, p, method, s)
        call(conn, p, "setCopyParameters", delay=Uint32(2), units=Uint32(60000))
        assert call(conn, p, "updateMasterToShadow") is True  # continues
        wait(conn, p)
        inst = conn.GetInstance(p)
        assert inst["percentCompleted"] == 100 and inst["state"] == "idle"
        with open(inst["masterVolume"], "rb") as f1, open(s, "rb") as f2:
            assert f1.read() == f2.read()
    finally:
        conn.DeleteInstance(p)


def test_copy_refused_while_suspended(cimomd):
    """imaging §2.3: copy/update of a suspended set is refused ("Shadow group
    suspended"); it works again after resume."""
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "susp")
    with enabled(conn, "dependent", m, s, b) as p:
        assert call(conn, p, "suspend") is True
        refused(conn, p, "updateMasterToShadow", s)
        assert conn.GetInstance(p)["state"] == "suspended"
        assert call(conn, p, "resume") is True
        assert call(conn, p, "updateMasterToShadow") is True


def test_wait_for_completion_timeout_is_an_error(cimomd):
    """§4: never a silent false — a wait that times out is a CIM error."""
    conn = cimomd.conn()
    p, s = slow_independent(cimomd, conn, "wto")
    try:
        t0 = time.time()
        with cim_error(None, s):
            call(conn, p, "waitForCompletion", timeoutSeconds=Uint32(1))
        assert time.time() - t0 < 10
        assert conn.GetInstance(p)["state"] == "copying"  # the copy goes on
    finally:
        finish(conn, p)
        conn.DeleteInstance(p)


def test_volumes_must_be_pairwise_different(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "pair")
    for args in ((m, m, b), (m, s, m), (m, s, s)):
        with cim_error(REFUSED, note=args):
            enable(conn, "dependent", *args)
    assert not any(n["shadowVolume"] in (m, s) for n in conn.EnumerateInstanceNames("DS_IISet"))


def test_bitmap_too_small_is_refused(cimomd):
    """imaging §1.5: bitmap ≥ 2L+16 sectors (24 KiB for a 1 MiB master)."""
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "tiny", bsize=4 * KiB)
    with cim_error(REFUSED, b):
        enable(conn, "dependent", m, s, b)
    # Exactly the minimum works.
    b2 = cimomd.volume("tiny-b2", 24 * KiB)
    p = enable(conn, "dependent", m, s, b2)
    conn.DeleteInstance(p)


def test_overflow_and_set_volumes_do_not_mix(cimomd):
    """imaging §8: an overflow volume cannot be a set volume, and a set
    volume cannot be initialised as an overflow volume."""
    conn = cimomd.conn()
    ov = cimomd.volume("mix-ov", 4 * MiB)
    conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": ov}))
    m, s, b = vols(cimomd, "mix")
    try:
        with cim_error(REFUSED):
            enable(conn, "dependent", m, ov, b)
        p = enable(conn, "dependent", m, s, b)
        with cim_error(REFUSED):
            conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": s}))
        # Attaching an overflow to a non-compact set: "Not a compact dependent shadow".
        with cim_error(REFUSED, s):
            call(conn, p, "attachIIOverflowVolume", overflowVol=ov)
        conn.DeleteInstance(p)
    finally:
        conn.DeleteInstance(CIMInstanceName("DS_IIOverflowVol", {"overflowVolPath": ov}, namespace=NS))


def test_used_by_names_every_role(cimomd):
    conn = cimomd.conn()
    ov = cimomd.volume("ub-ov", 4 * MiB)
    conn.CreateInstance(CIMInstance("DS_IIOverflowVol", properties={"overflowVolPath": ov}))
    m, s, b = vols(cimomd, "ub", size=4 * MiB, bsize=256 * KiB)
    s_small = cimomd.volume("ub-cs", 256 * KiB)
    p = enable(conn, "dependent", m, s_small, b)
    try:
        call(conn, p, "attachIIOverflowVolume", overflowVol=ov)

        def used(path):
            return conn.GetInstance(CIMInstanceName("DS_Volume", {"path": path}, namespace=NS))["usedBy"]
        assert used(m).startswith("master of") and s_small in used(m)
        assert used(s_small).startswith("shadow of")
        assert used(b).startswith("bitmap of") and s_small in used(b)
        assert "overflow" in used(ov)
        assert used(s) == ""
        call(conn, p, "detachOverflowVolume")
    finally:
        conn.DeleteInstance(p)
        conn.DeleteInstance(CIMInstanceName("DS_IIOverflowVol", {"overflowVolPath": ov}, namespace=NS))


def test_disable_invalidates_dependent_shadow(cimomd):
    """imaging §2.3 -d: a dependent shadow gets bytes 8192..65535 zeroed on
    disable so a partial image is not mistaken for a file system; an
    independent shadow after a completed copy keeps its data."""
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "inv", fill=0x3c)
    with open(s, "r+b") as f:
        f.write(b"\x4d" * MiB)
    p = enable(conn, "dependent", m, s, b)
    conn.DeleteInstance(p)
    with open(s, "rb") as f:
        data = f.read()
    assert data[8192:65536] == b"\0" * (65536 - 8192)
    assert data[:8192] == b"\x4d" * 8192 and data[65536:] == b"\x4d" * (MiB - 65536)

    m2, s2, b2 = vols(cimomd, "keep", fill=0x3d)
    p = enable(conn, "independent", m2, s2, b2)
    call(conn, p, "waitForCompletion", timeoutSeconds=Uint32(60))
    conn.DeleteInstance(p)
    with open(s2, "rb") as f:
        assert f.read() == b"\x3d" * MiB


def test_wrong_set_type_key_is_not_found(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "key")
    with enabled(conn, "dependent", m, s, b) as p:
        with cim_error(CIM_ERR_NOT_FOUND):
            conn.GetInstance(set_path(s, "independent"))
        with cim_error(CIM_ERR_NOT_FOUND):
            call(conn, set_path(s, "independent"), "abort")


def test_provider_classes_not_in_interop(cimomd):
    conn = cimomd.conn("interop")
    with cim_error((CIM_ERR_INVALID_CLASS, CIM_ERR_NOT_FOUND)):
        conn.EnumerateInstances("DS_IISet")


def test_reset_of_a_healthy_set_is_a_no_op(cimomd):
    conn = cimomd.conn()
    m, s, b = vols(cimomd, "rst", fill=0x61)
    with enabled(conn, "dependent", m, s, b) as p:
        qwrite = qio(cimomd, m, "write -P 0x62 0 4k", timeout=60)
        assert qwrite.returncode == 0
        before = conn.GetInstance(p)["percentSynchronized"]
        assert call(conn, p, "reset") is True
        assert conn.GetInstance(p)["percentSynchronized"] == before < 100
