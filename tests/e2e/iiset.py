"""DS_IISet helpers shared by the e2e tests: the volumes of a set (`vols`,
`filled`, `file_bytes`); the instance paths of a set, a group and an overflow
volume; enabling a set over CIM (`enable`, `new_set`, `exported_set`, and
`enabled` for the length of a `with` block); creating a group; invoking a
method, importShadow among them (boolean results read from the raw reply);
waiting for a set's copy; and enabling an independent set whose initial full
copy is still running when the test looks."""
import contextlib
import re

from pywbem import CIMClassName, CIMInstance, CIMInstanceName, Uint32

NS = "root/cimv2"
KiB = 1 << 10
MiB = 1 << 20


def filled(server, name, size, byte):
    """A volume `name` of `size` bytes under the server's root, every byte `byte`."""
    p = server.volume(name, size)
    with open(p, "r+b") as f:
        f.write(bytes([byte]) * size)
    return p


def vols(server, prefix, size=MiB, ssize=None, bsize=64 * KiB, fill=None):
    """The master, shadow and bitmap volumes of one set: `prefix`-m/-s/-b, the
    shadow as large as the master unless `ssize` is given, the master filled
    with the byte `fill` when given."""
    m = server.volume(f"{prefix}-m", size) if fill is None else filled(server, f"{prefix}-m", size, fill)
    return m, server.volume(f"{prefix}-s", ssize or size), server.volume(f"{prefix}-b", bsize)


def file_bytes(path, off, length):
    """`length` bytes at `off` of a volume file, read directly (not through NBD)."""
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(length)


def set_path(shadow, kind):
    return CIMInstanceName("DS_IISet", keybindings={"shadowVolume": shadow, "setType": kind}, namespace=NS)


def group_path(name):
    return CIMInstanceName("DS_IIGroup", keybindings={"groupName": name}, namespace=NS)


def ovol_path(path):
    return CIMInstanceName("DS_IIOverflowVol", keybindings={"overflowVolPath": path}, namespace=NS)


def enable(conn, kind, m, s, b, **extra):
    """Enables a set with CreateInstance; checks that the returned path names
    the set (its keys: the shadow and the type) and returns its path."""
    props = {"masterVolume": m, "shadowVolume": s, "bitmapVolume": b, "setType": kind}
    props.update(extra)
    created = conn.CreateInstance(CIMInstance("DS_IISet", properties=props))
    assert created["shadowVolume"] == s and created["setType"] == kind, created
    return set_path(s, kind)


@contextlib.contextmanager
def enabled(conn, kind, m, s, b, **extra):
    """`enable` for the length of a `with` block: the set is disabled
    (DeleteInstance) when the block ends, however it ends."""
    p = enable(conn, kind, m, s, b, **extra)
    try:
        yield p
    finally:
        conn.DeleteInstance(p)


def new_set(server, conn, kind, prefix, size=MiB, ssize=None, bsize=64 * KiB, fill=None, **extra):
    """`vols` and `enable` in one: a new set of `kind` on fresh volumes named
    after `prefix`; returns its path."""
    m, s, b = vols(server, prefix, size, ssize, bsize, fill)
    return enable(conn, kind, m, s, b, **extra)


def exported_set(server, conn, prefix, fill):
    """An independent 1 MiB set on a master of the byte `fill`, synchronized
    and then exported; returns its path and its master, shadow and bitmap."""
    m, s, b = vols(server, prefix, fill=fill)
    p = enable(conn, "independent", m, s, b)
    wait(conn, p, 60)
    assert call(conn, p, "exportVolume") is True
    return p, m, s, b


def mkgroup(conn, name, kind="dependent"):
    """Creates a group with CreateInstance; checks that the returned path
    names the group and returns its path."""
    created = conn.CreateInstance(CIMInstance("DS_IIGroup", properties={"groupName": name, "groupType": kind}))
    assert created["groupName"] == name, created
    return group_path(name)


# pywbem 1.9's InvokeMethod turns any boolean return value into True (it calls
# bool() on the text, and "FALSE" is a non-empty string), so a test that checks
# a boolean result through pywbem could never see false. `call` reads boolean
# results from the raw reply instead.
_RETURN_BOOL = re.compile(r"<RETURNVALUE[^>]*>\s*<VALUE>\s*([A-Za-z]+)\s*</VALUE>")


def call(conn, path, method, **params):
    """Invokes `method`; a boolean result is taken from the raw reply."""
    conn.debug = True
    rv = conn.InvokeMethod(method, path, **params)[0]
    return raw_bool(conn) if isinstance(rv, bool) else rv


def wait(conn, path, secs=120):
    """waitForCompletion on a set or group, which must answer true."""
    assert call(conn, path, "waitForCompletion", timeoutSeconds=Uint32(secs)) is True


def import_shadow(conn, shadow, bitmap):
    """The static DS_IISet.importShadow; returns its boolean result."""
    return call(conn, CIMClassName("DS_IISet", namespace=NS), "importShadow", shadowVolume=shadow, bitmapVolume=bitmap)


def raw_bool(conn):
    """The boolean RETURNVALUE of the last reply on `conn` (made with
    conn.debug = True), by its text: TRUE or FALSE."""
    raw = conn.last_raw_reply
    if isinstance(raw, bytes):
        raw = raw.decode()
    m = _RETURN_BOOL.search(raw or "")
    assert m and m.group(1).upper() in ("TRUE", "FALSE"), f"no boolean RETURNVALUE in {raw!r}"
    return m.group(1).upper() == "TRUE"


def enable_slow_copy(conn, m, s, b, delay=10000, units=100):
    """Enables an independent set whose initial full copy master→shadow is
    throttled from its first burst: `units` chunks, then a pause of `delay`
    ticks of 10 ms (the defaults: at most one burst, then 100 s). The engine
    applies copyUnits/copyDelay given at CreateInstance before the copy
    starts (test_contract_throttle.py)."""
    return enable(conn, "independent", m, s, b, copyUnits=Uint32(units), copyDelay=Uint32(delay))
