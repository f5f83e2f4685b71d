"""DS_IISet helpers shared by the e2e tests: the instance paths of a set, a
group and an overflow volume, enabling a set over CIM (CreateInstance),
invoking a method (boolean results read from the raw reply), and enabling an independent set whose initial full copy is
still running when the test looks."""
import re

from pywbem import CIMInstance, CIMInstanceName, Uint32

NS = "root/cimv2"


def set_path(shadow, kind):
    return CIMInstanceName("DS_IISet", keybindings={"shadowVolume": shadow, "setType": kind}, namespace=NS)


def group_path(name):
    return CIMInstanceName("DS_IIGroup", keybindings={"groupName": name}, namespace=NS)


def ovol_path(path):
    return CIMInstanceName("DS_IIOverflowVol", keybindings={"overflowVolPath": path}, namespace=NS)


def enable(conn, kind, m, s, b, **extra):
    props = {"masterVolume": m, "shadowVolume": s, "bitmapVolume": b, "setType": kind}
    props.update(extra)
    conn.CreateInstance(CIMInstance("DS_IISet", properties=props))
    return set_path(s, kind)


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
