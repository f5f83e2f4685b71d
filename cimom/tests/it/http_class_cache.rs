//! The class caches seen from a client: every cached class read (GetClass,
//! EnumerateClasses with and without qualifiers, EnumerateClassNames, and the
//! class-level Associators, AssociatorNames, References, ReferenceNames) shows a
//! schema change (CreateClass, ModifyClass, DeleteClass, a MOF load) to the
//! very next request, and tiny cache bounds give the same answers as the
//! defaults.

use crate::http_common::*;

const CIMV2: &str = "root/cimv2";

fn class_param(name: &str, xml: &str) -> String {
    format!("<IPARAMVALUE NAME=\"{name}\">{xml}</IPARAMVALUE>")
}

/// Every cached read the test repeats, by a label for failure messages.
fn reads() -> Vec<(&'static str, &'static str, String)> {
    vec![
        (
            "GetClass T_Base",
            "GetClass",
            classname_param("ClassName", "T_Base") + &bool_param("LocalOnly", false),
        ),
        (
            "GetClass T_Sub",
            "GetClass",
            classname_param("ClassName", "T_Sub") + &bool_param("LocalOnly", false),
        ),
        (
            "EnumerateClasses deep with qualifiers",
            "EnumerateClasses",
            bool_param("DeepInheritance", true)
                + &bool_param("LocalOnly", false)
                + &bool_param("IncludeQualifiers", true),
        ),
        (
            "EnumerateClasses deep without qualifiers",
            "EnumerateClasses",
            bool_param("DeepInheritance", true)
                + &bool_param("LocalOnly", false)
                + &bool_param("IncludeQualifiers", false),
        ),
        (
            "EnumerateClassNames deep",
            "EnumerateClassNames",
            bool_param("DeepInheritance", true),
        ),
        (
            "EnumerateClassNames of T_Base",
            "EnumerateClassNames",
            classname_param("ClassName", "T_Base"),
        ),
    ]
}

/// Runs every read twice (the second from the cache) and returns the bodies.
async fn read_all(c: &mut Client) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (label, op, params) in reads() {
        let first = c.imethod(op, CIMV2, &params).await;
        let again = c.imethod(op, CIMV2, &params).await;
        assert_eq!(first.status, 200, "{label}: {first:?}");
        assert_eq!(first.body, again.body, "{label}: a cached answer differs");
        out.push((label, again.body));
    }
    out
}

fn body<'a>(all: &'a [(&'static str, String)], label: &str) -> &'a str {
    &all.iter().find(|(l, _)| *l == label).expect("label").1
}

/// Asserts that each labelled answer contains `needle` after the step `after`.
fn all_contain(all: &[(&'static str, String)], labels: &[&str], needle: &str, after: &str) {
    for label in labels {
        assert!(body(all, label).contains(needle), "{label} after {after}");
    }
}

async fn ok(c: &mut Client, op: &str, params: &str) {
    let r = c.imethod(op, CIMV2, params).await;
    assert_eq!(r.status, 200, "{op}: {r:?}");
    assert!(!r.body.contains("<ERROR"), "{op}: {}", r.body);
}

#[tokio::test]
async fn every_cached_class_read_sees_each_schema_change_at_once() {
    // A working set of two classes: resolution from the store is exercised too.
    let s = TestServer::start(|c, _| c.caches.class_cache = 2).await;
    let mut c = Client::connect(s.addr).await;
    ok(
        &mut c,
        "CreateClass",
        &class_param(
            "NewClass",
            "<CLASS NAME=\"T_Base\"><QUALIFIER NAME=\"Description\" TYPE=\"string\">\
             <VALUE>the base</VALUE></QUALIFIER><PROPERTY NAME=\"Id\" TYPE=\"string\"/></CLASS>",
        ),
    )
    .await;
    let before = read_all(&mut c).await;
    assert!(
        body(&before, "GetClass T_Sub").contains("CIM_ERR_NOT_FOUND")
            || body(&before, "GetClass T_Sub").contains("CODE=\"6\"")
    );
    assert!(!body(&before, "EnumerateClassNames deep").contains("T_Sub"));

    // CreateClass: the new class is in every enumeration at once.
    ok(
        &mut c,
        "CreateClass",
        &class_param(
            "NewClass",
            "<CLASS NAME=\"T_Sub\" SUPERCLASS=\"T_Base\"><PROPERTY NAME=\"Extra\" TYPE=\"uint32\"/></CLASS>",
        ),
    )
    .await;
    let created = read_all(&mut c).await;
    all_contain(
        &created,
        &[
            "EnumerateClasses deep with qualifiers",
            "EnumerateClasses deep without qualifiers",
            "EnumerateClassNames deep",
            "EnumerateClassNames of T_Base",
        ],
        "\"T_Sub\"",
        "CreateClass",
    );
    assert!(body(&created, "GetClass T_Sub").contains("NAME=\"Extra\""));

    // ModifyClass of the base: the class and its subclass show the new property.
    ok(
        &mut c,
        "ModifyClass",
        &class_param(
            "ModifiedClass",
            "<CLASS NAME=\"T_Base\"><QUALIFIER NAME=\"Description\" TYPE=\"string\">\
             <VALUE>the base, modified</VALUE></QUALIFIER><PROPERTY NAME=\"Id\" TYPE=\"string\"/>\
             <PROPERTY NAME=\"Added\" TYPE=\"string\"/></CLASS>",
        ),
    )
    .await;
    let modified = read_all(&mut c).await;
    all_contain(
        &modified,
        &[
            "GetClass T_Base",
            "GetClass T_Sub",
            "EnumerateClasses deep with qualifiers",
            "EnumerateClasses deep without qualifiers",
        ],
        "NAME=\"Added\"",
        "ModifyClass",
    );
    assert!(body(&modified, "EnumerateClasses deep with qualifiers").contains("the base, modified"));

    // DeleteClass: gone from every answer.
    ok(
        &mut c,
        "DeleteClass",
        &classname_param("ClassName", "T_Sub"),
    )
    .await;
    let deleted = read_all(&mut c).await;
    for (label, b) in &deleted {
        if *label == "GetClass T_Sub" {
            assert!(b.contains("CODE=\"6\""), "{label} after DeleteClass: {b}");
        } else {
            assert!(!b.contains("\"T_Sub\""), "{label} after DeleteClass");
        }
    }

    // A MOF load (what `cimomd load-mof` runs) into the same namespace.
    let mof = s.dir.path().join("more.mof");
    std::fs::write(
        &mof,
        "class T_Sub : T_Base { [Description(\"loaded\")] string FromMof; };\n",
    )
    .unwrap();
    s.cimom.load_mof(CIMV2, &[mof]).expect("load mof");
    let loaded = read_all(&mut c).await;
    assert!(body(&loaded, "GetClass T_Sub").contains("NAME=\"FromMof\""));
    assert!(body(&loaded, "GetClass T_Sub").contains("NAME=\"Added\""));
    all_contain(
        &loaded,
        &["EnumerateClassNames deep", "EnumerateClassNames of T_Base"],
        "\"T_Sub\"",
        "the MOF load",
    );
    s.stop().await;
}

#[tokio::test]
async fn tiny_cache_bounds_give_the_same_answers_as_the_defaults() {
    let small = TestServer::start(|c, _| {
        c.caches.class_cache = 1;
        c.caches.class_answer_cache_bytes = 0;
    })
    .await;
    let usual = TestServer::start(|_, _| {}).await;
    let mut a = Client::connect(small.addr).await;
    let mut b = Client::connect(usual.addr).await;
    for ns in [CIMV2, NS] {
        for (label, op, params) in reads() {
            let x = a.imethod(op, ns, &params).await;
            let y = b.imethod(op, ns, &params).await;
            assert_eq!(x.body, y.body, "{label} in {ns}");
        }
    }
    // And the associations of the object manager's own classes.
    let params =
        "<IPARAMVALUE NAME=\"ObjectName\"><CLASSNAME NAME=\"CIM_Namespace\"/></IPARAMVALUE>";
    for op in [
        "References",
        "Associators",
        "ReferenceNames",
        "AssociatorNames",
    ] {
        let x = a.imethod(op, NS, params).await;
        let y = b.imethod(op, NS, params).await;
        assert_eq!(x.status, 200);
        assert_eq!(x.body, y.body, "{op}");
    }
    small.stop().await;
    usual.stop().await;
}

fn instance_xml(id: &str, label: &str) -> String {
    format!(
        "<INSTANCE CLASSNAME=\"T_Item\"><PROPERTY NAME=\"Id\" TYPE=\"string\"><VALUE>{id}</VALUE>\
         </PROPERTY><PROPERTY NAME=\"Label\" TYPE=\"string\"><VALUE>{label}</VALUE></PROPERTY></INSTANCE>"
    )
}

fn instance_name_xml(id: &str) -> String {
    format!(
        "<INSTANCENAME CLASSNAME=\"T_Item\"><KEYBINDING NAME=\"Id\">\
         <KEYVALUE VALUETYPE=\"string\">{id}</KEYVALUE></KEYBINDING></INSTANCENAME>"
    )
}

/// EnumerateInstances of T_Item twice (the second from the cache), and
/// checks that EnumerateInstanceNames (cached too) names the same instances.
async fn items(c: &mut Client) -> String {
    let params = classname_param("ClassName", "T_Item");
    let a = c.imethod("EnumerateInstances", CIMV2, &params).await;
    let b = c.imethod("EnumerateInstances", CIMV2, &params).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body, b.body, "a cached enumeration differs");
    let names = c.imethod("EnumerateInstanceNames", CIMV2, &params).await;
    let again = c.imethod("EnumerateInstanceNames", CIMV2, &params).await;
    assert_eq!(names.body, again.body, "cached names differ");
    let count = |s: &str, what: &str| s.matches(what).count();
    assert_eq!(
        count(&a.body, "<VALUE.NAMEDINSTANCE>"),
        count(&names.body, "<INSTANCENAME "),
        "{}\n{}",
        a.body,
        names.body
    );
    a.body
}

#[tokio::test]
async fn cached_instance_enumerations_see_every_write_at_once() {
    let s = TestServer::start(|_, _| {}).await;
    let mut c = Client::connect(s.addr).await;
    ok(
        &mut c,
        "CreateClass",
        &class_param(
            "NewClass",
            "<CLASS NAME=\"T_Item\"><PROPERTY NAME=\"Id\" TYPE=\"string\"><QUALIFIER NAME=\"Key\" \
             TYPE=\"boolean\"><VALUE>TRUE</VALUE></QUALIFIER></PROPERTY>\
             <PROPERTY NAME=\"Label\" TYPE=\"string\"/></CLASS>",
        ),
    )
    .await;
    assert!(!items(&mut c).await.contains("VALUE.NAMEDINSTANCE"));
    ok(
        &mut c,
        "CreateInstance",
        &class_param("NewInstance", &instance_xml("a", "first")),
    )
    .await;
    assert!(items(&mut c).await.contains("first"));
    ok(
        &mut c,
        "CreateInstance",
        &class_param("NewInstance", &instance_xml("b", "second")),
    )
    .await;
    let both = items(&mut c).await;
    assert!(both.contains("first") && both.contains("second"), "{both}");
    let modified = format!(
        "<VALUE.NAMEDINSTANCE>{}{}</VALUE.NAMEDINSTANCE>",
        instance_name_xml("a"),
        instance_xml("a", "changed")
    );
    ok(
        &mut c,
        "ModifyInstance",
        &class_param("ModifiedInstance", &modified),
    )
    .await;
    let after = items(&mut c).await;
    assert!(
        after.contains("changed") && !after.contains("first"),
        "{after}"
    );
    ok(
        &mut c,
        "DeleteInstance",
        &class_param("InstanceName", &instance_name_xml("b")),
    )
    .await;
    let after = items(&mut c).await;
    assert!(
        !after.contains("second") && after.contains("changed"),
        "{after}"
    );
    // A subclass created later adds its instances to the deep enumeration.
    ok(
        &mut c,
        "CreateClass",
        &class_param(
            "NewClass",
            "<CLASS NAME=\"T_SubItem\" SUPERCLASS=\"T_Item\"/>",
        ),
    )
    .await;
    let sub = instance_xml("c", "of the subclass")
        .replace("CLASSNAME=\"T_Item\"", "CLASSNAME=\"T_SubItem\"");
    ok(&mut c, "CreateInstance", &class_param("NewInstance", &sub)).await;
    assert!(items(&mut c).await.contains("of the subclass"));
    s.stop().await;
}

/// The class-level association reads (object name without keys), each
/// twice (the second from the cache), by operation.
async fn class_assoc_reads(c: &mut Client, class: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for op in [
        "References",
        "ReferenceNames",
        "Associators",
        "AssociatorNames",
    ] {
        let params = classname_param("ObjectName", class);
        let first = c.imethod(op, CIMV2, &params).await;
        let again = c.imethod(op, CIMV2, &params).await;
        assert_eq!(first.status, 200, "{op}: {first:?}");
        assert!(!first.body.contains("<ERROR"), "{op}: {}", first.body);
        assert_eq!(first.body, again.body, "{op}: a cached answer differs");
        out.push((op, again.body));
    }
    out
}

#[tokio::test]
async fn class_level_association_reads_see_each_schema_change_at_once() {
    let s = TestServer::start(|c, _| c.caches.class_cache = 2).await;
    let mut c = Client::connect(s.addr).await;
    ok(
        &mut c,
        "CreateClass",
        &class_param(
            "NewClass",
            "<CLASS NAME=\"T_End\"><PROPERTY NAME=\"Id\" TYPE=\"string\"/></CLASS>",
        ),
    )
    .await;
    let before = class_assoc_reads(&mut c, "T_End").await;
    assert!(before.iter().all(|(_, b)| !b.contains("T_Link")));

    // CreateClass of an association reaching T_End.
    ok(
        &mut c,
        "CreateClass",
        &class_param(
            "NewClass",
            "<CLASS NAME=\"T_Link\"><QUALIFIER NAME=\"Association\" TYPE=\"boolean\">\
             <VALUE>TRUE</VALUE></QUALIFIER>\
             <PROPERTY.REFERENCE NAME=\"Left\" REFERENCECLASS=\"T_End\"/>\
             <PROPERTY.REFERENCE NAME=\"Right\" REFERENCECLASS=\"T_End\"/></CLASS>",
        ),
    )
    .await;
    let created = class_assoc_reads(&mut c, "T_End").await;
    all_contain(
        &created,
        &["References", "ReferenceNames"],
        "\"T_Link\"",
        "CreateClass",
    );
    all_contain(
        &created,
        &["Associators", "AssociatorNames"],
        "\"T_End\"",
        "CreateClass",
    );

    // ModifyClass of the association: References shows the new property.
    ok(
        &mut c,
        "ModifyClass",
        &class_param(
            "ModifiedClass",
            "<CLASS NAME=\"T_Link\"><QUALIFIER NAME=\"Association\" TYPE=\"boolean\">\
             <VALUE>TRUE</VALUE></QUALIFIER>\
             <PROPERTY.REFERENCE NAME=\"Left\" REFERENCECLASS=\"T_End\"/>\
             <PROPERTY.REFERENCE NAME=\"Right\" REFERENCECLASS=\"T_End\"/>\
             <PROPERTY NAME=\"Weight\" TYPE=\"uint32\"/></CLASS>",
        ),
    )
    .await;
    let modified = class_assoc_reads(&mut c, "T_End").await;
    all_contain(&modified, &["References"], "NAME=\"Weight\"", "ModifyClass");

    // A MOF load adds another association.
    let mof = s.dir.path().join("assoc.mof");
    std::fs::write(
        &mof,
        "[Association] class T_Other { T_End REF Here; T_End REF There; };\n",
    )
    .unwrap();
    s.cimom.load_mof(CIMV2, &[mof]).expect("load mof");
    let loaded = class_assoc_reads(&mut c, "T_End").await;
    all_contain(
        &loaded,
        &["References", "ReferenceNames"],
        "\"T_Other\"",
        "the MOF load",
    );

    // DeleteClass: the association is gone from every answer.
    ok(
        &mut c,
        "DeleteClass",
        &classname_param("ClassName", "T_Link"),
    )
    .await;
    let deleted = class_assoc_reads(&mut c, "T_End").await;
    for (op, b) in &deleted {
        assert!(!b.contains("\"T_Link\""), "{op} after DeleteClass: {b}");
    }
    all_contain(&deleted, &["References"], "\"T_Other\"", "DeleteClass");
    s.stop().await;
}
