"""DS_IISet helpers shared by the e2e tests: the instance paths of a set, a
group and an overflow volume, enabling a set over CIM (CreateInstance),
invoking a method, and enabling an independent set whose initial full copy is
still running when the test looks."""
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


def call(conn, path, method, **params):
    return conn.InvokeMethod(method, path, **params)[0]


def enable_slow_copy(conn, m, s, b, delay=10000, units=100):
    """Enables an independent set whose initial full copy master→shadow is
    throttled from its first burst: `units` chunks, then a pause of `delay`
    ticks of 10 ms (the defaults: at most one burst, then 100 s). The engine
    applies copyUnits/copyDelay given at CreateInstance before the copy
    starts (test_contract_throttle.py)."""
    return enable(conn, "independent", m, s, b, copyUnits=Uint32(units), copyDelay=Uint32(delay))
