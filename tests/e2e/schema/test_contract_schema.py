"""Contract check of the Instant Image class shapes against interface.md §4:
every property's type and key qualifier, every method's return type and
parameters (names, types, IN/OUT, reference classes, arrays), the Static
importShadow, the association references, and the exact spellings (§7)."""
import pytest

PROPS = {
    "DS_IISet": {
        "shadowVolume": "string", "setType": "string", "masterVolume": "string", "bitmapVolume": "string",
        "setName": "string", "overflowVolume": "string", "groupName": "string", "state": "string",
        "status": "string", "percentCompleted": "real32", "percentSynchronized": "real32",
        "masterCapacity": "uint64", "shadowCapacity": "uint64", "bitmapCapacity": "uint64",
        "copyUnits": "uint32", "copyDelay": "uint32",
        # Additions beyond interface.md §4 (volatile bitmaps, -Q statistics).
        "volatileBitmap": "boolean"},
    "DS_IIGroup": {"groupName": "string", "groupType": "string"},
    "DS_IIOverflowVol": {"overflowVolPath": "string", "capacity": "uint64", "usedBytes": "uint64",
                         "attachedSets": "uint32", "highWaterBytes": "uint64", "totalAttachedSets": "uint32"},
    "DS_Volume": {"path": "string", "capacity": "uint64", "usedBy": "string",
                  # NBD reachability (issue 19).
                  "nbdURIs": "string", "nbdAccess": "string"},
}
KEYS = {"DS_IISet": {"shadowVolume", "setType"}, "DS_IIGroup": {"groupName"},
        "DS_IIOverflowVol": {"overflowVolPath"}, "DS_Volume": {"path"}}

# method -> (return type, [(param, type, direction, refclass, is_array)])
SET_METHODS = {
    "getName": ("string", []), "setName": ("string", [("name", "string", "IN", None, False)]),
    "getPercentCompleted": ("real32", []), "getPercentSynchronized": ("real32", []),
    "getType": ("string", []), "getMasterVolume": ("string", []), "getShadowVolume": ("string", []),
    "getBitmapVolume": ("string", []), "getOverflowVolume": ("string", []),
    "copyMasterToShadow": ("boolean", []), "updateMasterToShadow": ("boolean", []),
    "copyShadowToMaster": ("boolean", []), "updateShadowToMaster": ("boolean", []),
    "abort": ("boolean", []), "suspend": ("boolean", []), "resume": ("boolean", []), "reset": ("boolean", []),
    "waitForCompletion": ("boolean", [("timeoutSeconds", "uint32", "IN", None, False)]),
    "setCopyParameters": ("boolean", [("delay", "uint32", "IN", None, False), ("units", "uint32", "IN", None, False)]),
    "exportVolume": ("boolean", []),
    "joinVolume": ("boolean", [("BitmapVol", "string", "IN", None, False)]),
    "importShadow": ("boolean", [("shadowVolume", "string", "IN", None, False),
                                 ("bitmapVolume", "string", "IN", None, False)]),
    "attachIIOverflowVolume": ("boolean", [("overflowVol", "string", "IN", None, False)]),
    "detachOverflowVolume": ("boolean", []),
}
SETREF = ("set", "reference", "IN", "DS_IISet", False)
GROUP_METHODS = {
    "getName": ("string", []), "getGroupType": ("string", []),
    "rename": ("boolean", [("newName", "string", "IN", None, False)]),
    "addIISet": ("boolean", [SETREF]), "removeIISet": ("boolean", [SETREF]),
    "isSetInGroup": ("boolean", [SETREF]),
    "getIISets": ("uint32", [("sets", "reference", "OUT", "DS_IISet", True)]),
    "copyMasterToShadow": ("boolean", []), "updateMasterToShadow": ("boolean", []),
    "copyShadowToMaster": ("boolean", []), "updateShadowToMaster": ("boolean", []),
    "getPercentCompleted": ("real32", []),
    "abort": ("boolean", []), "suspend": ("boolean", []), "resume": ("boolean", []),
    "lock": ("boolean", []), "unlock": ("boolean", []),
}
OVOL_METHODS = {"getIISets": ("uint32", [("sets", "reference", "OUT", "DS_IISet", True)])}


@pytest.mark.parametrize("classname", sorted(PROPS))
def test_properties_types_and_keys(cimomd, classname):
    cls = cimomd.conn().GetClass(classname, IncludeQualifiers=True, LocalOnly=False)
    assert cls.classname == classname
    got = {name: p.type for name, p in cls.properties.items()}
    for name, typ in PROPS[classname].items():
        assert name in got, f"{classname}.{name} missing (spelling: {sorted(got)})"
        assert got[name] == typ, f"{classname}.{name}: {got[name]} != {typ}"
    keys = {n for n, p in cls.properties.items() if "Key" in p.qualifiers and p.qualifiers["Key"].value}
    assert keys == KEYS[classname]


def check_methods(cls, spec):
    for name, (ret, params) in spec.items():
        assert name in cls.methods, f"{cls.classname}.{name} missing"
        meth = cls.methods[name]
        assert meth.name == name
        assert meth.return_type == ret, f"{cls.classname}.{name} returns {meth.return_type}, contract {ret}"
        assert [p for p in meth.parameters] == [p[0] for p in params], (name, list(meth.parameters))
        for pname, ptype, direction, refclass, is_array in params:
            par = meth.parameters[pname]
            assert par.type == ptype, (name, pname, par.type)
            assert bool(par.is_array) == is_array, (name, pname)
            if refclass:
                assert par.reference_class == refclass, (name, pname, par.reference_class)
            quals = {q.lower(): v.value for q, v in par.qualifiers.items()}
            if direction == "OUT":
                assert quals.get("out") is True, (name, pname, quals)
                assert quals.get("in") is False, (name, pname, quals)  # IN defaults to true
            else:
                assert quals.get("in", True) is True and not quals.get("out", False), (name, pname, quals)


def test_set_methods(cimomd):
    cls = cimomd.conn().GetClass("DS_IISet", IncludeQualifiers=True, LocalOnly=False)
    check_methods(cls, SET_METHODS)
    assert cls.methods["importShadow"].qualifiers["Static"].value is True
    assert "Static" not in cls.methods["exportVolume"].qualifiers or not cls.methods["exportVolume"].qualifiers["Static"].value


def test_group_and_overflow_methods(cimomd):
    conn = cimomd.conn()
    check_methods(conn.GetClass("DS_IIGroup", IncludeQualifiers=True, LocalOnly=False), GROUP_METHODS)
    check_methods(conn.GetClass("DS_IIOverflowVol", IncludeQualifiers=True, LocalOnly=False), OVOL_METHODS)


@pytest.mark.parametrize("assoc,refs", [
    ("DS_IIGroupSetAssoc", {"groups": "DS_IIGroup", "groupedby": "DS_IISet"}),
    ("DS_IISetOverflowVolAssoc", {"owns": "DS_IISet", "ownedby": "DS_IIOverflowVol"}),
])
def test_associations(cimomd, assoc, refs):
    cls = cimomd.conn().GetClass(assoc, IncludeQualifiers=True, LocalOnly=False)
    assert cls.qualifiers["Association"].value is True
    assert cls.qualifiers["Provider"].value == "IIAssociationProvider"
    assert cls.qualifiers["Description"].value
    for name, target in refs.items():
        p = cls.properties[name]
        assert p.type == "reference" and p.reference_class == target
        assert p.qualifiers["Key"].value is True


@pytest.mark.parametrize("classname,provider", [
    ("DS_IISet", "IISetProvider"), ("DS_IIGroup", "IIGroupProvider"),
    ("DS_IIOverflowVol", "IIOverflowVolumeProvider"), ("DS_Volume", "SVVolumeProvider")])
def test_provider_qualifiers(cimomd, classname, provider):
    cls = cimomd.conn().GetClass(classname, IncludeQualifiers=True)
    assert cls.qualifiers["Provider"].value == provider
    assert cls.qualifiers["Description"].value
