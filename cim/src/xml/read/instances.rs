//! Reading instances: `INSTANCE`, and the named forms the operations return
//! (`VALUE.NAMEDINSTANCE`, `VALUE.INSTANCEWITHPATH`, `VALUE.OBJECTWITHPATH`,
//! `VALUE.OBJECT` and kin).

use super::parser::{lossy, Elem, Parser, Result};
use crate::instance::Instance;
use crate::ops::CimObject;
use crate::path::ObjectPath;

impl<'a> Parser<'a> {
    /// `<!ELEMENT INSTANCE (QUALIFIER*,(PROPERTY|PROPERTY.ARRAY|PROPERTY.REFERENCE)*)>
    /// <!ATTLIST INSTANCE %ClassName; xml:lang>`
    pub(in crate::xml) fn parse_instance(&mut self, e: &Elem<'a>) -> Result<Instance> {
        self.expect(e, "INSTANCE")?;
        let mut inst = Instance::new(self.name_attr(e, "CLASSNAME")?);
        inst.properties.reserve(self.prop_hint.min(1024));
        while let Some(c) = self.child()? {
            match c.name {
                b"PROPERTY" | b"PROPERTY.ARRAY" | b"PROPERTY.REFERENCE" => {
                    self.parse_property(&c, &mut inst.properties)?
                }
                b"QUALIFIER" if inst.properties.is_empty() => {
                    inst.qualifiers.push(self.parse_qualifier(&c)?)
                }
                _ => return Err(self.err(&c, "not allowed in INSTANCE")),
            }
        }
        self.prop_hint = inst.properties.len();
        Ok(inst)
    }

    /// `<!ELEMENT VALUE.NAMEDINSTANCE (INSTANCENAME,INSTANCE)>`: the instance
    /// with its `path` set.
    pub(in crate::xml) fn parse_value_named_instance(&mut self, e: &Elem<'a>) -> Result<Instance> {
        self.expect(e, "VALUE.NAMEDINSTANCE")?;
        let n = self.required_child(e, "INSTANCENAME")?;
        let path = self.parse_instance_name(&n)?;
        let i = self.required_child(e, "INSTANCE")?;
        let mut inst = self.parse_instance(&i)?;
        self.no_children(e)?;
        inst.path = Some(path);
        Ok(inst)
    }

    /// `<!ELEMENT VALUE.INSTANCEWITHPATH (INSTANCEPATH,INSTANCE)>`
    pub(super) fn parse_value_instance_with_path(&mut self, e: &Elem<'a>) -> Result<Instance> {
        let n = self.required_child(e, "INSTANCEPATH")?;
        let path = self.parse_instance_path(&n)?;
        let i = self.required_child(e, "INSTANCE")?;
        let mut inst = self.parse_instance(&i)?;
        self.no_children(e)?;
        inst.path = Some(path);
        Ok(inst)
    }

    /// `VALUE.OBJECTWITHPATH ((CLASSPATH,CLASS)|(INSTANCEPATH,INSTANCE))` and
    /// `VALUE.OBJECTWITHLOCALPATH ((LOCALCLASSPATH,CLASS)|(LOCALINSTANCEPATH,INSTANCE))`.
    pub(super) fn parse_object_with_path(
        &mut self,
        e: &Elem<'a>,
    ) -> Result<(ObjectPath, CimObject)> {
        let p = self.required_child(e, "path")?;
        let path = match (e.name, p.name) {
            (b"VALUE.OBJECTWITHPATH", b"CLASSPATH") => self.parse_class_path(&p)?,
            (b"VALUE.OBJECTWITHPATH", b"INSTANCEPATH") => self.parse_instance_path(&p)?,
            (b"VALUE.OBJECTWITHLOCALPATH", b"LOCALCLASSPATH") => self.parse_local_class_path(&p)?,
            (b"VALUE.OBJECTWITHLOCALPATH", b"LOCALINSTANCEPATH") => {
                self.parse_local_instance_path(&p)?
            }
            _ => return Err(self.err(&p, format!("not allowed in <{}>", lossy(e.name)))),
        };
        let o = self.required_child(e, "CLASS or INSTANCE")?;
        let obj = match (p.name, o.name) {
            (b"CLASSPATH" | b"LOCALCLASSPATH", b"CLASS") => CimObject::Class(self.parse_class(&o)?),
            (b"INSTANCEPATH" | b"LOCALINSTANCEPATH", b"INSTANCE") => {
                let mut i = self.parse_instance(&o)?;
                i.path = Some(path.clone());
                CimObject::Instance(i)
            }
            _ => return Err(self.err(&o, "does not match the path kind")),
        };
        self.no_children(e)?;
        Ok((path, obj))
    }

    /// `<!ELEMENT VALUE.OBJECT (CLASS|INSTANCE)>` and
    /// `<!ELEMENT VALUE.NAMEDOBJECT (CLASS|(INSTANCENAME,INSTANCE))>`.
    pub(super) fn parse_value_object(&mut self, e: &Elem<'a>) -> Result<(ObjectPath, CimObject)> {
        let c = self.required_child(e, "CLASS or INSTANCE")?;
        let r = match (e.name, c.name) {
            (_, b"CLASS") => {
                let class = self.parse_class(&c)?;
                (
                    ObjectPath::class(None, class.name.clone()),
                    CimObject::Class(class),
                )
            }
            (b"VALUE.OBJECT", b"INSTANCE") => {
                let i = self.parse_instance(&c)?;
                (
                    ObjectPath::class(None, i.class_name.clone()),
                    CimObject::Instance(i),
                )
            }
            (b"VALUE.NAMEDOBJECT", b"INSTANCENAME") => {
                let path = self.parse_instance_name(&c)?;
                let ie = self.required_child(e, "INSTANCE")?;
                let mut i = self.parse_instance(&ie)?;
                i.path = Some(path.clone());
                (path, CimObject::Instance(i))
            }
            _ => return Err(self.err(&c, format!("not allowed in <{}>", lossy(e.name)))),
        };
        self.no_children(e)?;
        Ok(r)
    }
}
