"""Every intrinsic operation of the object manager, driven by pywbem against a
real cimomd, on classes and static instances created by the test itself."""
import pywbem
import pytest
from pywbem import CIMClass, CIMProperty, CIMQualifier, CIMInstance, CIMInstanceName, CIMError, Uint32, CIMQualifierDeclaration

from checks import cim_error

NS = "root/cimv2"


def _imethod(conn, method, params_xml):
    """Sends an intrinsic call pywbem no longer offers (GetProperty,
    SetProperty) as raw CIM-XML; returns the response body."""
    import http.client
    body = (
        '<?xml version="1.0" encoding="utf-8"?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
        '<MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ>'
        f'<IMETHODCALL NAME="{method}"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/>'
        f'<NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH>{params_xml}</IMETHODCALL>'
        '</SIMPLEREQ></MESSAGE></CIM>'
    )
    host = conn.url.split("//", 1)[1]
    c = http.client.HTTPConnection(host, timeout=30)
    c.request("POST", "/cimom", body=body.encode(), headers={
        "Content-Type": 'application/xml; charset="utf-8"', "CIMOperation": "MethodCall",
        "CIMMethod": method, "CIMObject": "root/cimv2", "CIMProtocolVersion": "1.0"})
    r = c.getresponse()
    data = r.read().decode()
    assert r.status == 200, data
    assert "<ERROR" not in data, data
    return data


def _instancename_xml(path):
    keys = "".join(f'<KEYBINDING NAME="{k}"><KEYVALUE VALUETYPE="string">{v}</KEYVALUE></KEYBINDING>'
                   for k, v in path.keybindings.items())
    return f'<INSTANCENAME CLASSNAME="{path.classname}">{keys}</INSTANCENAME>'


def raw_get_property(conn, path, prop):
    import re
    data = _imethod(conn, "GetProperty",
                    f'<IPARAMVALUE NAME="InstanceName">{_instancename_xml(path)}</IPARAMVALUE>'
                    f'<IPARAMVALUE NAME="PropertyName"><VALUE>{prop}</VALUE></IPARAMVALUE>')
    m = re.search(r"<IRETURNVALUE>\s*<VALUE>([^<]*)</VALUE>", data)
    return m.group(1) if m else None


def raw_set_property(conn, path, prop, value):
    _imethod(conn, "SetProperty",
             f'<IPARAMVALUE NAME="InstanceName">{_instancename_xml(path)}</IPARAMVALUE>'
             f'<IPARAMVALUE NAME="PropertyName"><VALUE>{prop}</VALUE></IPARAMVALUE>'
             f'<IPARAMVALUE NAME="NewValue"><VALUE>{value}</VALUE></IPARAMVALUE>')


def make_classes(conn):
    """A small hierarchy and an association, created through CreateClass."""
    base = CIMClass(
        "TST_Base",
        properties=[
            CIMProperty("Name", None, type="string", qualifiers=[CIMQualifier("Key", True)]),
            CIMProperty("Size", None, type="uint32"),
            CIMProperty("Label", None, type="string"),
        ],
        qualifiers=[CIMQualifier("Description", "test base class")],
    )
    derived = CIMClass(
        "TST_Derived",
        superclass="TST_Base",
        properties=[CIMProperty("Extra", None, type="string")],
    )
    assoc = CIMClass(
        "TST_Link",
        properties=[
            CIMProperty("A", None, type="reference", reference_class="TST_Base", qualifiers=[CIMQualifier("Key", True)]),
            CIMProperty("B", None, type="reference", reference_class="TST_Base", qualifiers=[CIMQualifier("Key", True)]),
        ],
        qualifiers=[CIMQualifier("Association", True)],
    )
    for cls in (base, derived, assoc):
        try:
            conn.DeleteClass(cls.classname)
        except CIMError:
            pass
    conn.CreateClass(base)
    conn.CreateClass(derived)
    conn.CreateClass(assoc)


@pytest.fixture(scope="module")
def populated(cimomd):
    conn = cimomd.conn()
    make_classes(conn)
    names = []
    for i in range(5):
        cls = "TST_Base" if i < 3 else "TST_Derived"
        inst = CIMInstance(cls, properties={"Name": f"n{i}", "Size": Uint32(i * 10), "Label": f"label {i}"})
        if cls == "TST_Derived":
            inst["Extra"] = "x"
        names.append(conn.CreateInstance(inst))
    link = CIMInstance("TST_Link", properties={"A": names[0], "B": names[3]})
    conn.CreateInstance(link)
    return conn, names


def test_class_operations(populated):
    conn, _ = populated
    cls = conn.GetClass("TST_Derived", LocalOnly=False, IncludeQualifiers=True)
    assert cls.superclass == "TST_Base"
    assert set(cls.properties) >= {"Name", "Size", "Label", "Extra"}
    local = conn.GetClass("TST_Derived", LocalOnly=True)
    assert "Extra" in local.properties and "Size" not in local.properties
    names = conn.EnumerateClassNames(ClassName="TST_Base", DeepInheritance=True)
    assert "TST_Derived" in names
    classes = conn.EnumerateClasses(ClassName="TST_Base")
    assert [c.classname for c in classes] == ["TST_Derived"]
    with cim_error(pywbem.CIM_ERR_NOT_FOUND):
        conn.GetClass("TST_NoSuchClass")
    with cim_error(pywbem.CIM_ERR_ALREADY_EXISTS):
        conn.CreateClass(CIMClass("TST_Base"))
    with cim_error(pywbem.CIM_ERR_INVALID_SUPERCLASS):
        conn.CreateClass(CIMClass("TST_Orphan", superclass="TST_Missing"))
    with cim_error((pywbem.CIM_ERR_CLASS_HAS_CHILDREN, pywbem.CIM_ERR_CLASS_HAS_INSTANCES)):
        conn.DeleteClass("TST_Base")


def test_modify_class(populated):
    conn, _ = populated
    try:
        conn.DeleteClass("TST_Mod")
    except CIMError:
        pass
    conn.CreateClass(CIMClass("TST_Mod", superclass="TST_Base"))
    cls = conn.GetClass("TST_Mod", LocalOnly=True)
    cls.properties["Added"] = CIMProperty("Added", None, type="uint32")
    conn.ModifyClass(cls)
    again = conn.GetClass("TST_Mod", LocalOnly=False)
    assert "Added" in again.properties and "Size" in again.properties
    # As in OpenPegasus, a class with instances cannot change shape.
    derived = conn.GetClass("TST_Derived", LocalOnly=True)
    derived.properties["Other"] = CIMProperty("Other", None, type="uint32")
    with cim_error(pywbem.CIM_ERR_CLASS_HAS_INSTANCES):
        conn.ModifyClass(derived)
    conn.DeleteClass("TST_Mod")


def test_instance_operations(populated):
    conn, names = populated
    inst = conn.GetInstance(names[1])
    assert inst["Size"] == 10 and inst["Label"] == "label 1"
    partial = conn.GetInstance(names[1], PropertyList=["Size"])
    assert "Size" in partial.properties and "Label" not in partial.properties
    all_base = conn.EnumerateInstances("TST_Base")
    assert len(all_base) == 5
    assert {i.path["Name"] for i in all_base} == {f"n{i}" for i in range(5)}
    inames = conn.EnumerateInstanceNames("TST_Derived")
    assert len(inames) == 2
    inst["Label"] = "changed"
    conn.ModifyInstance(inst, PropertyList=["Label"])
    assert conn.GetInstance(names[1])["Label"] == "changed"
    assert raw_get_property(conn, names[2], "Size") == "20"
    raw_set_property(conn, names[2], "Size", "99")
    assert raw_get_property(conn, names[2], "Size") == "99"
    assert conn.GetInstance(names[2])["Size"] == 99
    with cim_error(pywbem.CIM_ERR_ALREADY_EXISTS):
        conn.CreateInstance(CIMInstance("TST_Base", properties={"Name": "n0"}))
    missing = CIMInstanceName("TST_Base", keybindings={"Name": "nope"}, namespace=NS)
    with cim_error(pywbem.CIM_ERR_NOT_FOUND):
        conn.GetInstance(missing)
    tmp = conn.CreateInstance(CIMInstance("TST_Base", properties={"Name": "tmp"}))
    conn.DeleteInstance(tmp)
    with cim_error(pywbem.CIM_ERR_NOT_FOUND):
        conn.DeleteInstance(tmp)


def test_associations(populated):
    conn, names = populated
    assoc = conn.Associators(names[0])
    assert [a.path["Name"] for a in assoc] == ["n3"]
    assert [a["Name"] for a in conn.AssociatorNames(names[3], Role="B", ResultRole="A")] == ["n0"]
    assert conn.AssociatorNames(names[3], Role="A") == []
    refs = conn.References(names[0], ResultClass="TST_Link")
    assert len(refs) == 1 and refs[0].classname.lower() == "tst_link"
    assert len(conn.ReferenceNames(names[3])) == 1
    assert conn.ReferenceNames(names[1]) == []


def test_queries(populated):
    conn, _ = populated
    rows = conn.ExecQuery("WQL", "SELECT Name, Size FROM TST_Base WHERE Size >= 20 AND NOT Name = 'n4'")
    got = sorted(r["Name"] for r in rows)
    assert got == ["n2", "n3"]
    like = conn.ExecQuery("WQL", "SELECT * FROM TST_Base WHERE Label LIKE 'label%'")
    assert len(like) >= 3
    with cim_error(pywbem.CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED):
        conn.ExecQuery("XQL", "whatever")
    with cim_error(pywbem.CIM_ERR_INVALID_QUERY):
        conn.ExecQuery("WQL", "SELECT FROM WHERE")


def test_pull_operations(populated):
    conn, names = populated
    result = conn.OpenEnumerateInstances("TST_Base", MaxObjectCount=2)
    got = list(result.instances)
    while not result.eos:
        result = conn.PullInstancesWithPath(result.context, MaxObjectCount=2)
        got.extend(result.instances)
    assert len(got) == 5
    paths = list(conn.IterEnumerateInstancePaths("TST_Base", MaxObjectCount=1))
    assert len(paths) == 5
    refs = list(conn.IterReferenceInstances(names[0], MaxObjectCount=1))
    assert len(refs) == 1
    assocs = list(conn.IterAssociatorInstancePaths(names[0], MaxObjectCount=1))
    assert len(assocs) == 1
    q = conn.OpenQueryInstances("WQL", "SELECT * FROM TST_Base WHERE Size < 15", MaxObjectCount=10)
    assert len(q.instances) == 2 and q.eos
    opened = conn.OpenEnumerateInstances("TST_Base", MaxObjectCount=0)
    conn.CloseEnumeration(opened.context)
    with cim_error(pywbem.CIM_ERR_INVALID_ENUMERATION_CONTEXT):
        conn.PullInstancesWithPath(opened.context, MaxObjectCount=1)


def test_qualifier_operations(cimomd):
    conn = cimomd.conn()
    quals = conn.EnumerateQualifiers()
    assert {"Key", "Description", "Association"} <= {q.name for q in quals}
    key = conn.GetQualifier("Key")
    assert key.type == "boolean"
    decl = CIMQualifierDeclaration("TstQual", "string", value="dflt", scopes={"CLASS": True}, overridable=True, tosubclass=True)
    conn.SetQualifier(decl)
    assert conn.GetQualifier("TstQual").value == "dflt"
    conn.DeleteQualifier("TstQual")
    with cim_error(pywbem.CIM_ERR_NOT_FOUND):
        conn.GetQualifier("TstQual")


def test_invalid_namespace(cimomd):
    conn = cimomd.conn(namespace="root/nowhere")
    with cim_error(pywbem.CIM_ERR_INVALID_NAMESPACE):
        conn.EnumerateClassNames()


def test_interop_server_discovery(cimomd):
    server = pywbem.WBEMServer(cimomd.conn())
    assert server.interop_ns.lower() in ("interop", "root/interop")
    namespaces = [n.lower() for n in server.namespaces]
    assert "root/cimv2" in namespaces
    assert server.brand  # CIM_ObjectManager is there
