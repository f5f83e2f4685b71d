"""Records the CIM-XML request bodies pywbem sends, into requests/*.xml.

Run: python3 -m venv /tmp/pyv && /tmp/pyv/bin/pip install pywbem
     /tmp/pyv/bin/python cim/tests/data/gen_requests.py
(pywbem 1.9.1 made the checked-in files.) Responses are not needed here: the
capture server answers every request with an error, which pywbem raises.
"""
import os
import pywbem
from pywbem import CIMInstanceName, CIMInstance, CIMClass, CIMProperty, CIMQualifierDeclaration, Uint32, CIMDateTime
import pywbem_server

HERE = os.path.dirname(os.path.abspath(__file__))
for f in os.listdir(os.path.join(HERE, "requests")):
    if f != "ExportIndicationResponse.xml":  # recorded by check_export.py
        os.remove(os.path.join(HERE, "requests", f))

srv, url = pywbem_server.start(record=True)
conn = pywbem.WBEMConnection(url, ("user", "pw"), default_namespace="root/cimv2")

path = CIMInstanceName("DS_IISet", keybindings={"shadowVolume": "/dev/vx/rdsk/g/shadow & <1>", "setType": "dependent"},
                       namespace="root/cimv2")
# pywbem has no GetProperty method; its operations strip the namespace like this.
local_path = path.copy()
local_path.namespace = None
inst = CIMInstance("DS_IISet", properties=[
    CIMProperty("shadowVolume", "/dev/vx/rdsk/g/shadow & <1>"),
    CIMProperty("setType", "dependent"),
    CIMProperty("chunkSize", Uint32(32768)),
    CIMProperty("tags", ["a", "b"], type="string"),
    CIMProperty("created", CIMDateTime("20261122030000.000000+000")),
], path=path)
cls = CIMClass("DS_Example", superclass="CIM_ManagedElement",
               properties=[CIMProperty("Name", None, type="string", qualifiers={"Key": True})])
qd = CIMQualifierDeclaration("Provider", "string", scopes={"CLASS": True}, overridable=False)

calls = [
    ("GetClass", lambda: conn.GetClass("DS_IISet", LocalOnly=False, PropertyList=["setType"])),
    ("EnumerateClasses", lambda: conn.EnumerateClasses(ClassName="CIM_ManagedElement", DeepInheritance=True)),
    ("EnumerateClassNames", lambda: conn.EnumerateClassNames()),
    ("CreateClass", lambda: conn.CreateClass(cls)),
    ("ModifyClass", lambda: conn.ModifyClass(cls)),
    ("DeleteClass", lambda: conn.DeleteClass("DS_Example")),
    ("GetInstance", lambda: conn.GetInstance(path, PropertyList=[])),
    ("EnumerateInstances", lambda: conn.EnumerateInstances("DS_IISet", IncludeClassOrigin=True)),
    ("EnumerateInstanceNames", lambda: conn.EnumerateInstanceNames("DS_IISet")),
    ("CreateInstance", lambda: conn.CreateInstance(inst)),
    ("ModifyInstance", lambda: conn.ModifyInstance(inst, PropertyList=["chunkSize"])),
    ("DeleteInstance", lambda: conn.DeleteInstance(path)),
    ("Associators", lambda: conn.Associators(path, AssocClass="DS_IIGroupSetAssoc", Role="member")),
    ("AssociatorNames", lambda: conn.AssociatorNames(path, ResultClass="DS_IIGroup")),
    ("References", lambda: conn.References("DS_IISet")),
    ("ReferenceNames", lambda: conn.ReferenceNames(path, Role="member")),
    ("GetProperty", lambda: conn._imethodcall("GetProperty", "root/cimv2", InstanceName=local_path, PropertyName="setType")),
    ("ExecQuery", lambda: conn.ExecQuery("WQL", "SELECT * FROM DS_IISet WHERE setType = 'dependent'")),
    ("GetQualifier", lambda: conn.GetQualifier("Key")),
    ("SetQualifier", lambda: conn.SetQualifier(qd)),
    ("DeleteQualifier", lambda: conn.DeleteQualifier("Provider")),
    ("EnumerateQualifiers", lambda: conn.EnumerateQualifiers()),
    ("OpenEnumerateInstances", lambda: conn.OpenEnumerateInstances("DS_IISet", MaxObjectCount=100, OperationTimeout=30)),
    ("OpenEnumerateInstancePaths", lambda: conn.OpenEnumerateInstancePaths("DS_IISet")),
    ("OpenAssociatorInstances", lambda: conn.OpenAssociatorInstances(path, MaxObjectCount=10)),
    ("OpenAssociatorInstancePaths", lambda: conn.OpenAssociatorInstancePaths(path)),
    ("OpenReferenceInstances", lambda: conn.OpenReferenceInstances(path)),
    ("OpenReferenceInstancePaths", lambda: conn.OpenReferenceInstancePaths(path)),
    ("OpenQueryInstances", lambda: conn.OpenQueryInstances("DMTF:CQL", "SELECT * FROM DS_IISet", ReturnQueryResultClass=True)),
    ("PullInstancesWithPath", lambda: conn.PullInstancesWithPath(("ctx-1", "root/cimv2"), 50)),
    ("PullInstancePaths", lambda: conn.PullInstancePaths(("ctx-1", "root/cimv2"), 50)),
    ("PullInstances", lambda: conn.PullInstances(("ctx-1", "root/cimv2"), 50)),
    ("CloseEnumeration", lambda: conn.CloseEnumeration(("ctx-1", "root/cimv2"))),
    ("InvokeMethod", lambda: conn.InvokeMethod("waitForCompletion", path, [("timeoutSeconds", Uint32(30))])),
]
for name, call in calls:
    try:
        call()
    except pywbem.Error:
        pass
srv.shutdown()
print("recorded", len(os.listdir(os.path.join(HERE, "requests"))), "requests")
