//! The binary record encoding of the repository (see `FORMAT.md`, section
//! "Value encoding"): a one-byte record version, then the object written
//! field by field with LEB128 varints for lengths and integers, zigzag for
//! signed integers, little-endian IEEE 754 for reals and UTF-8 strings
//! prefixed by their byte length.
//!
//! Decoding never panics: every read is bounds-checked and nesting depth is
//! limited, so a corrupt record gives a [`DecodeError`].

use cim::{
    CimName, CimType, Class, DateTime, Flavors, Instance, KeyBinding, Method, ObjectPath,
    Parameter, Property, Qualifier, QualifierDecl, Scopes, Value,
};

/// The record version written in the first byte of every value.
pub const RECORD_VERSION: u8 = 1;
const MAX_DEPTH: u32 = 32;

/// Why a record does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

fn bad(what: &str) -> DecodeError {
    DecodeError(what.to_owned())
}

/// Appends the encoding of values to a buffer.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// A writer whose buffer starts with the record version.
    pub fn record() -> Writer {
        Writer {
            buf: vec![RECORD_VERSION],
        }
    }
    /// The bytes written.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn var(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(b);
                return;
            }
            self.buf.push(b | 0x80);
        }
    }
    fn svar(&mut self, v: i64) {
        self.var(((v << 1) ^ (v >> 63)) as u64);
    }
    fn str(&mut self, s: &str) {
        self.var(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }
    fn name(&mut self, n: &CimName) {
        self.str(n.as_str());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    fn opt_u32(&mut self, v: Option<u32>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.var(v as u64);
            }
        }
    }

    /// A type: one tag byte (and the class name of a typed reference).
    pub fn cim_type(&mut self, t: &CimType) {
        let tag = match t {
            CimType::Boolean => 0,
            CimType::Char16 => 1,
            CimType::String => 2,
            CimType::DateTime => 3,
            CimType::Uint8 => 4,
            CimType::Sint8 => 5,
            CimType::Uint16 => 6,
            CimType::Sint16 => 7,
            CimType::Uint32 => 8,
            CimType::Sint32 => 9,
            CimType::Uint64 => 10,
            CimType::Sint64 => 11,
            CimType::Real32 => 12,
            CimType::Real64 => 13,
            CimType::EmbeddedObject => 14,
            CimType::EmbeddedInstance => 15,
            CimType::Reference(None) => 16,
            CimType::Reference(Some(c)) => {
                self.u8(17);
                self.name(c);
                return;
            }
        };
        self.u8(tag);
    }

    /// A value: one tag byte and its payload.
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.u8(0),
            Value::Boolean(b) => {
                self.u8(1);
                self.u8(*b as u8);
            }
            Value::Char16(c) => {
                self.u8(2);
                self.var(*c as u64);
            }
            Value::String(s) => {
                self.u8(3);
                self.str(s);
            }
            Value::DateTime(d) => {
                self.u8(4);
                self.str(d.as_str());
            }
            Value::Uint8(x) => {
                self.u8(5);
                self.var(*x as u64);
            }
            Value::Sint8(x) => {
                self.u8(6);
                self.svar(*x as i64);
            }
            Value::Uint16(x) => {
                self.u8(7);
                self.var(*x as u64);
            }
            Value::Sint16(x) => {
                self.u8(8);
                self.svar(*x as i64);
            }
            Value::Uint32(x) => {
                self.u8(9);
                self.var(*x as u64);
            }
            Value::Sint32(x) => {
                self.u8(10);
                self.svar(*x as i64);
            }
            Value::Uint64(x) => {
                self.u8(11);
                self.var(*x);
            }
            Value::Sint64(x) => {
                self.u8(12);
                self.svar(*x);
            }
            Value::Real32(x) => {
                self.u8(13);
                self.buf.extend_from_slice(&x.to_le_bytes());
            }
            Value::Real64(x) => {
                self.u8(14);
                self.buf.extend_from_slice(&x.to_le_bytes());
            }
            Value::Reference(p) => {
                self.u8(15);
                self.path(p);
            }
            Value::Instance(i) => {
                self.u8(16);
                self.instance(i);
            }
            Value::Class(c) => {
                self.u8(17);
                self.class(c);
            }
            Value::Array(items) => {
                self.u8(18);
                self.var(items.len() as u64);
                for i in items {
                    self.value(i);
                }
            }
        }
    }

    fn flavors(&mut self, f: &Flavors) {
        self.u8(f.overridable as u8
            | (f.to_subclass as u8) << 1
            | (f.to_instance as u8) << 2
            | (f.translatable as u8) << 3);
    }

    fn qualifiers(&mut self, qs: &[Qualifier]) {
        self.var(qs.len() as u64);
        for q in qs {
            self.name(&q.name);
            self.cim_type(&q.ty);
            self.value(&q.value);
            self.u8(q.propagated as u8);
            self.flavors(&q.flavors);
        }
    }

    fn property(&mut self, p: &Property) {
        self.name(&p.name);
        self.cim_type(&p.ty);
        self.u8(p.is_array as u8 | (p.propagated as u8) << 1);
        self.opt_u32(p.array_size);
        self.opt_str(p.class_origin.as_ref().map(CimName::as_str));
        self.value(&p.value);
        self.qualifiers(&p.qualifiers);
    }

    /// An object path.
    pub fn path(&mut self, p: &ObjectPath) {
        self.opt_str(p.host.as_deref());
        self.opt_str(p.namespace.as_deref());
        self.name(&p.class_name);
        self.var(p.keys.len() as u64);
        for k in &p.keys {
            self.name(&k.name);
            self.value(&k.value);
        }
    }

    /// A class.
    pub fn class(&mut self, c: &Class) {
        self.name(&c.name);
        self.opt_str(c.superclass.as_ref().map(CimName::as_str));
        self.qualifiers(&c.qualifiers);
        self.var(c.properties.len() as u64);
        for p in &c.properties {
            self.property(p);
        }
        self.var(c.methods.len() as u64);
        for m in &c.methods {
            self.name(&m.name);
            self.cim_type(&m.return_type);
            self.u8(m.propagated as u8);
            self.opt_str(m.class_origin.as_ref().map(CimName::as_str));
            self.qualifiers(&m.qualifiers);
            self.var(m.parameters.len() as u64);
            for p in &m.parameters {
                self.name(&p.name);
                self.cim_type(&p.ty);
                self.u8(p.is_array as u8);
                self.opt_u32(p.array_size);
                self.qualifiers(&p.qualifiers);
            }
        }
    }

    /// An instance.
    pub fn instance(&mut self, i: &Instance) {
        self.name(&i.class_name);
        self.var(i.properties.len() as u64);
        for p in &i.properties {
            self.property(p);
        }
        self.qualifiers(&i.qualifiers);
        match &i.path {
            None => self.u8(0),
            Some(p) => {
                self.u8(1);
                self.path(p);
            }
        }
    }

    /// A qualifier declaration.
    pub fn qualifier_decl(&mut self, d: &QualifierDecl) {
        self.name(&d.name);
        self.cim_type(&d.ty);
        self.u8(d.is_array as u8);
        self.opt_u32(d.array_size);
        self.value(&d.default);
        let s = &d.scopes;
        self.u8(s.class as u8
            | (s.association as u8) << 1
            | (s.indication as u8) << 2
            | (s.property as u8) << 3
            | (s.reference as u8) << 4
            | (s.method as u8) << 5
            | (s.parameter as u8) << 6);
        self.flavors(&d.flavors);
    }
}

/// Reads values back from a record.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: u32,
}

impl<'a> Reader<'a> {
    /// A reader over a record; checks the version byte.
    pub fn record(buf: &'a [u8]) -> Result<Reader<'a>, DecodeError> {
        match buf.first() {
            Some(&RECORD_VERSION) => Ok(Reader {
                buf,
                pos: 1,
                depth: 0,
            }),
            Some(v) => Err(DecodeError(format!("unknown record version {v}"))),
            None => Err(bad("empty record")),
        }
    }
    /// Fails unless every byte was consumed.
    pub fn end(&self) -> Result<(), DecodeError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(bad("trailing bytes"))
        }
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| bad("truncated"))?;
        self.pos += 1;
        Ok(b)
    }
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| bad("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn var(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("varint too long"))
    }
    fn svar(&mut self) -> Result<i64, DecodeError> {
        let u = self.var()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    fn len(&mut self) -> Result<usize, DecodeError> {
        let n = self.var()?;
        // A count can never exceed the remaining bytes (each item takes at least one).
        if n as usize > self.buf.len() - self.pos {
            return Err(bad("count exceeds record"));
        }
        Ok(n as usize)
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        let n = self.len()?;
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| bad("invalid UTF-8"))
    }
    fn name(&mut self) -> Result<CimName, DecodeError> {
        self.str().map(CimName::new)
    }
    fn opt_str(&mut self) -> Result<Option<String>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            _ => Err(bad("bad option tag")),
        }
    }
    fn opt_u32(&mut self) -> Result<Option<u32>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => u32::try_from(self.var()?)
                .map(Some)
                .map_err(|_| bad("u32 out of range")),
            _ => Err(bad("bad option tag")),
        }
    }
    fn enter(&mut self) -> Result<(), DecodeError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(bad("nesting too deep"));
        }
        Ok(())
    }

    /// A type.
    pub fn cim_type(&mut self) -> Result<CimType, DecodeError> {
        Ok(match self.u8()? {
            0 => CimType::Boolean,
            1 => CimType::Char16,
            2 => CimType::String,
            3 => CimType::DateTime,
            4 => CimType::Uint8,
            5 => CimType::Sint8,
            6 => CimType::Uint16,
            7 => CimType::Sint16,
            8 => CimType::Uint32,
            9 => CimType::Sint32,
            10 => CimType::Uint64,
            11 => CimType::Sint64,
            12 => CimType::Real32,
            13 => CimType::Real64,
            14 => CimType::EmbeddedObject,
            15 => CimType::EmbeddedInstance,
            16 => CimType::Reference(None),
            17 => CimType::Reference(Some(self.name()?)),
            t => return Err(DecodeError(format!("unknown type tag {t}"))),
        })
    }

    /// A value.
    pub fn value(&mut self) -> Result<Value, DecodeError> {
        fn int<T: TryFrom<i128>>(v: i128) -> Result<T, DecodeError> {
            T::try_from(v).map_err(|_| bad("integer out of range"))
        }
        Ok(match self.u8()? {
            0 => Value::Null,
            1 => Value::Boolean(self.u8()? != 0),
            2 => Value::Char16(
                char::from_u32(int::<u32>(self.var()? as i128)?)
                    .ok_or_else(|| bad("bad char16"))?,
            ),
            3 => Value::String(self.str()?),
            4 => Value::DateTime(
                DateTime::parse(&self.str()?).map_err(|e| DecodeError(e.to_string()))?,
            ),
            5 => Value::Uint8(int(self.var()? as i128)?),
            6 => Value::Sint8(int(self.svar()? as i128)?),
            7 => Value::Uint16(int(self.var()? as i128)?),
            8 => Value::Sint16(int(self.svar()? as i128)?),
            9 => Value::Uint32(int(self.var()? as i128)?),
            10 => Value::Sint32(int(self.svar()? as i128)?),
            11 => Value::Uint64(self.var()?),
            12 => Value::Sint64(self.svar()?),
            13 => Value::Real32(f32::from_le_bytes(
                self.bytes(4)?.try_into().map_err(|_| bad("truncated"))?,
            )),
            14 => Value::Real64(f64::from_le_bytes(
                self.bytes(8)?.try_into().map_err(|_| bad("truncated"))?,
            )),
            15 => Value::Reference(self.path()?),
            16 => Value::Instance(Box::new(self.instance()?)),
            17 => Value::Class(Box::new(self.class()?)),
            18 => {
                self.enter()?;
                let n = self.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value()?);
                }
                self.depth -= 1;
                Value::Array(items)
            }
            t => return Err(DecodeError(format!("unknown value tag {t}"))),
        })
    }

    fn flavors(&mut self) -> Result<Flavors, DecodeError> {
        let b = self.u8()?;
        Ok(Flavors {
            overridable: b & 1 != 0,
            to_subclass: b & 2 != 0,
            to_instance: b & 4 != 0,
            translatable: b & 8 != 0,
        })
    }

    fn qualifiers(&mut self) -> Result<Vec<Qualifier>, DecodeError> {
        let n = self.len()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(Qualifier {
                name: self.name()?,
                ty: self.cim_type()?,
                value: self.value()?,
                propagated: self.u8()? != 0,
                flavors: self.flavors()?,
            });
        }
        Ok(out)
    }

    fn property(&mut self) -> Result<Property, DecodeError> {
        let name = self.name()?;
        let ty = self.cim_type()?;
        let flags = self.u8()?;
        Ok(Property {
            name,
            ty,
            is_array: flags & 1 != 0,
            propagated: flags & 2 != 0,
            array_size: self.opt_u32()?,
            class_origin: self.opt_str()?.map(CimName::new),
            value: self.value()?,
            qualifiers: self.qualifiers()?,
        })
    }

    /// An object path.
    pub fn path(&mut self) -> Result<ObjectPath, DecodeError> {
        self.enter()?;
        let host = self.opt_str()?;
        let namespace = self.opt_str()?;
        let class_name = self.name()?;
        let n = self.len()?;
        let mut keys = Vec::with_capacity(n);
        for _ in 0..n {
            keys.push(KeyBinding {
                name: self.name()?,
                value: self.value()?,
            });
        }
        self.depth -= 1;
        Ok(ObjectPath {
            host,
            namespace,
            class_name,
            keys,
        })
    }

    /// A class.
    pub fn class(&mut self) -> Result<Class, DecodeError> {
        self.enter()?;
        let name = self.name()?;
        let superclass = self.opt_str()?.map(CimName::new);
        let qualifiers = self.qualifiers()?;
        let n = self.len()?;
        let mut properties = Vec::with_capacity(n);
        for _ in 0..n {
            properties.push(self.property()?);
        }
        let n = self.len()?;
        let mut methods = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.name()?;
            let return_type = self.cim_type()?;
            let propagated = self.u8()? != 0;
            let class_origin = self.opt_str()?.map(CimName::new);
            let qualifiers = self.qualifiers()?;
            let np = self.len()?;
            let mut parameters = Vec::with_capacity(np);
            for _ in 0..np {
                parameters.push(Parameter {
                    name: self.name()?,
                    ty: self.cim_type()?,
                    is_array: self.u8()? != 0,
                    array_size: self.opt_u32()?,
                    qualifiers: self.qualifiers()?,
                });
            }
            methods.push(Method {
                name,
                return_type,
                parameters,
                qualifiers,
                class_origin,
                propagated,
            });
        }
        self.depth -= 1;
        Ok(Class {
            name,
            superclass,
            qualifiers,
            properties,
            methods,
        })
    }

    fn skip_str(&mut self) -> Result<(), DecodeError> {
        let n = self.len()?;
        self.bytes(n).map(|_| ())
    }

    fn skip_opt(
        &mut self,
        inner: fn(&mut Self) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        match self.u8()? {
            0 => Ok(()),
            1 => inner(self),
            _ => Err(bad("bad option tag")),
        }
    }

    fn skip_var(&mut self) -> Result<(), DecodeError> {
        self.var().map(|_| ())
    }

    fn skip_type(&mut self) -> Result<(), DecodeError> {
        match self.u8()? {
            0..=16 => Ok(()),
            17 => self.skip_str(),
            t => Err(DecodeError(format!("unknown type tag {t}"))),
        }
    }

    /// Skips a value without building it (no allocation except for embedded classes).
    fn skip_value(&mut self) -> Result<(), DecodeError> {
        match self.u8()? {
            0 => Ok(()),
            1 => self.u8().map(|_| ()),
            2 | 5..=12 => self.skip_var(),
            3 | 4 => self.skip_str(),
            13 => self.bytes(4).map(|_| ()),
            14 => self.bytes(8).map(|_| ()),
            15 => self.skip_path(),
            16 => self.skip_instance(),
            17 => self.class().map(|_| ()),
            18 => {
                self.enter()?;
                let n = self.len()?;
                for _ in 0..n {
                    self.skip_value()?;
                }
                self.depth -= 1;
                Ok(())
            }
            t => Err(DecodeError(format!("unknown value tag {t}"))),
        }
    }

    fn skip_qualifiers(&mut self) -> Result<(), DecodeError> {
        let n = self.len()?;
        for _ in 0..n {
            self.skip_str()?;
            self.skip_type()?;
            self.skip_value()?;
            self.u8()?;
            self.u8()?;
        }
        Ok(())
    }

    fn skip_property(&mut self) -> Result<(), DecodeError> {
        self.skip_str()?;
        self.skip_type()?;
        self.u8()?;
        self.skip_opt(Self::skip_var)?;
        self.skip_opt(Self::skip_str)?;
        self.skip_value()?;
        self.skip_qualifiers()
    }

    fn skip_path(&mut self) -> Result<(), DecodeError> {
        self.enter()?;
        self.skip_opt(Self::skip_str)?;
        self.skip_opt(Self::skip_str)?;
        self.skip_str()?;
        let n = self.len()?;
        for _ in 0..n {
            self.skip_str()?;
            self.skip_value()?;
        }
        self.depth -= 1;
        Ok(())
    }

    fn skip_instance(&mut self) -> Result<(), DecodeError> {
        self.enter()?;
        self.skip_str()?;
        let n = self.len()?;
        for _ in 0..n {
            self.skip_property()?;
        }
        self.skip_qualifiers()?;
        self.skip_opt(Self::skip_path)?;
        self.depth -= 1;
        Ok(())
    }

    /// Only the path of an instance record, skipping its properties.
    pub fn instance_path(&mut self) -> Result<Option<ObjectPath>, DecodeError> {
        self.skip_str()?;
        let n = self.len()?;
        for _ in 0..n {
            self.skip_property()?;
        }
        self.skip_qualifiers()?;
        match self.u8()? {
            0 => Ok(None),
            1 => self.path().map(Some),
            _ => Err(bad("bad option tag")),
        }
    }

    /// An instance.
    pub fn instance(&mut self) -> Result<Instance, DecodeError> {
        self.enter()?;
        let class_name = self.name()?;
        let n = self.len()?;
        let mut properties = Vec::with_capacity(n);
        for _ in 0..n {
            properties.push(self.property()?);
        }
        let qualifiers = self.qualifiers()?;
        let path = match self.u8()? {
            0 => None,
            1 => Some(self.path()?),
            _ => return Err(bad("bad option tag")),
        };
        self.depth -= 1;
        Ok(Instance {
            class_name,
            properties,
            qualifiers,
            path,
        })
    }

    /// A qualifier declaration.
    pub fn qualifier_decl(&mut self) -> Result<QualifierDecl, DecodeError> {
        let name = self.name()?;
        let ty = self.cim_type()?;
        let is_array = self.u8()? != 0;
        let array_size = self.opt_u32()?;
        let default = self.value()?;
        let s = self.u8()?;
        let scopes = Scopes {
            class: s & 1 != 0,
            association: s & 2 != 0,
            indication: s & 4 != 0,
            property: s & 8 != 0,
            reference: s & 16 != 0,
            method: s & 32 != 0,
            parameter: s & 64 != 0,
        };
        Ok(QualifierDecl {
            name,
            ty,
            is_array,
            array_size,
            default,
            scopes,
            flavors: self.flavors()?,
        })
    }
}

/// Encodes a class record.
pub fn encode_class(c: &Class) -> Vec<u8> {
    let mut w = Writer::record();
    w.class(c);
    w.finish()
}
/// Decodes a class record.
pub fn decode_class(b: &[u8]) -> Result<Class, DecodeError> {
    let mut r = Reader::record(b)?;
    let c = r.class()?;
    r.end()?;
    Ok(c)
}
/// Decodes only the head of a class record for the class index: name,
/// superclass and the class's own `Association` qualifier when it declares
/// one (the rest is decoded when the class is resolved).
pub fn decode_class_head(b: &[u8]) -> Result<(CimName, Option<String>, Option<bool>), DecodeError> {
    let mut r = Reader::record(b)?;
    let name = r.name()?;
    let superclass = r.opt_str()?;
    let qs = r.qualifiers()?;
    use cim::QualifierList;
    let association = qs.find("Association").map(|_| qs.is_true("Association"));
    Ok((name, superclass, association))
}
/// Encodes an instance record.
pub fn encode_instance(i: &Instance) -> Vec<u8> {
    let mut w = Writer::record();
    w.instance(i);
    w.finish()
}
/// Decodes an instance record.
pub fn decode_instance(b: &[u8]) -> Result<Instance, DecodeError> {
    let mut r = Reader::record(b)?;
    let i = r.instance()?;
    r.end()?;
    Ok(i)
}
/// Decodes only the path of an instance record.
pub fn decode_instance_path(b: &[u8]) -> Result<Option<ObjectPath>, DecodeError> {
    let mut r = Reader::record(b)?;
    let p = r.instance_path()?;
    r.end()?;
    Ok(p)
}
/// Encodes a qualifier declaration record.
pub fn encode_qualifier(d: &QualifierDecl) -> Vec<u8> {
    let mut w = Writer::record();
    w.qualifier_decl(d);
    w.finish()
}
/// Decodes a qualifier declaration record.
pub fn decode_qualifier(b: &[u8]) -> Result<QualifierDecl, DecodeError> {
    let mut r = Reader::record(b)?;
    let d = r.qualifier_decl()?;
    r.end()?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_truncation_is_an_error() {
        let path = ObjectPath::class(Some("root/cimv2"), "DS_IISet")
            .with_key("shadowVolume", Value::String("/v/s".into()))
            .with_key("n", Value::Sint64(-5));
        let inst = Instance::new("X")
            .with("a", CimType::Real64, Value::Real64(-0.25))
            .with("b", CimType::Char16, Value::Char16('é'))
            .with(
                "r",
                CimType::Reference(Some("DS_IISet".into())),
                Value::Reference(path),
            )
            .with(
                "arr",
                CimType::Sint8,
                Value::Array(vec![Value::Sint8(-128), Value::Null, Value::Sint8(127)]),
            )
            .with(
                "e",
                CimType::EmbeddedInstance,
                Value::Instance(Box::new(Instance::new("Y"))),
            );
        let mut inst = inst;
        inst.path = Some(ObjectPath::class(None, "X").with_key("k", Value::Uint8(1)));
        let enc = encode_instance(&inst);
        assert_eq!(decode_instance(&enc).unwrap(), inst);
        assert_eq!(decode_instance_path(&enc).unwrap(), inst.path);
        for cut in 0..enc.len() {
            assert!(decode_instance_path(&enc[..cut]).is_err(), "cut at {cut}");
        }
        for cut in 0..enc.len() {
            assert!(decode_instance(&enc[..cut]).is_err(), "cut at {cut}");
        }
    }
}
