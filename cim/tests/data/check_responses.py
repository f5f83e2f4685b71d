"""Checks that pywbem accepts the responses our encoder writes.

Run after `cargo test -p cim --test it golden` (which keeps responses/*.xml in
sync with the encoder):
    /tmp/pyv/bin/python cim/tests/data/check_responses.py
Each recorded pywbem operation is replayed against pywbem_server.py, which
answers with responses/<CIMMethod>.xml; pywbem must parse it into the expected
objects. Exit status 0 when all pass.
"""
import sys
import pywbem
from pywbem import CIMInstanceName, Uint32
import pywbem_server

srv, url = pywbem_server.start()
conn = pywbem.WBEMConnection(url, ("user", "pw"), default_namespace="root/cimv2")
path = CIMInstanceName("DS_IISet", keybindings={"shadowVolume": "/dev/vx/rdsk/g/shadow & <1>", "setType": "dependent"},
                       namespace="root/cimv2")
failures = []


def check(name, call, test):
    try:
        result = call()
        ok = test(result)
        if not ok:
            failures.append("%s: unexpected result %r" % (name, result))
        else:
            print("ok   ", name)
    except Exception as e:  # noqa: BLE001 -- report every failure
        failures.append("%s: %s: %s" % (name, type(e).__name__, e))


def inst_ok(i):
    return (i.classname == "DS_IISet" and i["chunkSize"] == 32768 and i["tags"] == ["a", None]
            and i["shadowVolume"] == "/dev/vx/rdsk/g/shadow & <1>"
            and i["lastError"].classname == "CIM_Error" and i["group"].keybindings["groupName"] == "g1")


check("GetClass", lambda: conn.GetClass("DS_IISet"),
      lambda c: c.classname == "DS_IISet" and c.properties["shadowVolume"].qualifiers["Key"].value is True
      and "waitForCompletion" in c.methods)
check("EnumerateClasses", lambda: conn.EnumerateClasses(), lambda cs: len(cs) == 1)
check("EnumerateClassNames", lambda: conn.EnumerateClassNames(), lambda ns: ns == ["DS_IISet", "DS_IIGroup"])
check("GetInstance", lambda: conn.GetInstance(path), inst_ok)
check("EnumerateInstances", lambda: conn.EnumerateInstances("DS_IISet"),
      lambda l: len(l) == 2 and inst_ok(l[0]) and l[0].path.keybindings["setType"] == "dependent")
check("EnumerateInstanceNames", lambda: conn.EnumerateInstanceNames("DS_IISet"),
      lambda l: l[0].keybindings["shadowVolume"] == "/dev/vx/rdsk/g/shadow & <1>")
check("CreateInstance", lambda: conn.CreateInstance(pywbem.CIMInstance("DS_IISet", path=path)),
      lambda p: p.classname == "DS_IISet")
check("DeleteInstance", lambda: conn.DeleteInstance(path), lambda r: r is None)
check("Associators", lambda: conn.Associators(path), lambda l: inst_ok(l[0]) and l[0].path.host == "acme")
check("AssociatorNames", lambda: conn.AssociatorNames(path), lambda l: l[0].namespace == "root/cimv2")
check("References", lambda: conn.References("DS_IISet"), lambda l: l[0][1].classname == "DS_IISet")
check("ReferenceNames", lambda: conn.ReferenceNames(path), lambda l: l[0].classname == "DS_IISet")
check("ExecQuery", lambda: conn.ExecQuery("WQL", "SELECT * FROM DS_IISet"), lambda l: inst_ok(l[0]))
check("GetQualifier", lambda: conn.GetQualifier("Key"),
      lambda q: q.name == "Key" and q.value is False and q.overridable is False and q.scopes["PROPERTY"])
check("EnumerateQualifiers", lambda: conn.EnumerateQualifiers(), lambda l: l[0].name == "Key")
check("DeleteQualifier", lambda: conn.DeleteQualifier("Key"), lambda r: r is None)
check("OpenEnumerateInstances", lambda: conn.OpenEnumerateInstances("DS_IISet"),
      lambda r: inst_ok(r.instances[0]) and not r.eos and r.context[0] == "ctx-2")
check("OpenEnumerateInstancePaths", lambda: conn.OpenEnumerateInstancePaths("DS_IISet"),
      lambda r: r.paths[0].host == "acme" and not r.eos)
check("OpenAssociatorInstances", lambda: conn.OpenAssociatorInstances(path), lambda r: inst_ok(r.instances[0]))
check("OpenAssociatorInstancePaths", lambda: conn.OpenAssociatorInstancePaths(path), lambda r: len(r.paths) == 1)
check("OpenReferenceInstances", lambda: conn.OpenReferenceInstances(path), lambda r: inst_ok(r.instances[0]))
check("OpenReferenceInstancePaths", lambda: conn.OpenReferenceInstancePaths(path), lambda r: len(r.paths) == 1)
check("OpenQueryInstances", lambda: conn.OpenQueryInstances("DMTF:CQL", "SELECT * FROM DS_IISet", ReturnQueryResultClass=True),
      lambda r: r.eos and inst_ok(r.instances[0]) and r.query_result_class.classname == "DS_IISet")
check("PullInstancesWithPath", lambda: conn.PullInstancesWithPath(("ctx-1", "root/cimv2"), 50),
      lambda r: r.eos and inst_ok(r.instances[0]))
check("PullInstancePaths", lambda: conn.PullInstancePaths(("ctx-1", "root/cimv2"), 50), lambda r: len(r.paths) == 1)
check("PullInstances", lambda: conn.PullInstances(("ctx-1", "root/cimv2"), 50), lambda r: inst_ok(r.instances[0]))
check("CloseEnumeration", lambda: conn.CloseEnumeration(("ctx-1", "root/cimv2")), lambda r: r is None)
check("InvokeMethod", lambda: conn.InvokeMethod("waitForCompletion", path, [("timeoutSeconds", Uint32(30))]),
      lambda r: r[0] is True and r[1]["elapsed"] == 7)


def modify_class():
    try:
        conn.ModifyClass(pywbem.CIMClass("DS_IISet"))
    except pywbem.CIMError as e:
        return e.status_code == 7 and "read-only" in e.status_description
    return False


check("ModifyClass (ERROR)", modify_class, lambda ok: ok)
srv.shutdown()
for f in failures:
    print("FAIL ", f)
sys.exit(1 if failures else 0)
