//! The serde `Deserializer` over one node of saphyr's tree: each method checks the
//! node's kind against what the target type asked for, and locates every error that
//! comes out of it (its own or the visitor's) at this node unless an inner node already
//! did.

use saphyr::{MarkedYaml, Scalar, YamlData};
use serde::de::{self, DeserializeSeed, Visitor};

use super::{join, key_text, position, resolve, DeError};

/// One node of the tree with its key path.
pub(super) struct Node<'a, 'i> {
    node: &'a MarkedYaml<'i>,
    path: String,
    /// Mapping keys: any scalar reads as a string.
    key: bool,
}

impl<'a, 'i> Node<'a, 'i> {
    pub(super) fn new(node: &'a MarkedYaml<'i>, path: String, key: bool) -> Self {
        Self {
            node: resolve(node),
            path,
            key,
        }
    }

    fn data(&self) -> &'a YamlData<'i, MarkedYaml<'i>> {
        &self.node.data
    }

    fn locate(&self, mut e: DeError) -> DeError {
        if e.at.is_none() {
            let (line, column) = position(self.node);
            e.at = Some((self.path.clone(), line, column));
        }
        e
    }

    fn found(&self) -> String {
        match self.data() {
            YamlData::Value(Scalar::Null) => "null".to_owned(),
            YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
            YamlData::Value(Scalar::Integer(i)) => i.to_string(),
            YamlData::Value(Scalar::FloatingPoint(x)) => x.to_string(),
            YamlData::Value(Scalar::String(s)) => format!("{:?}", s.as_ref()),
            YamlData::Representation(s, ..) => format!("{:?}", s.as_ref()),
            YamlData::Sequence(_) => "a list".to_owned(),
            YamlData::Mapping(_) => "a mapping".to_owned(),
            _ => "an unreadable value".to_owned(),
        }
    }

    fn mismatch(&self, expected: &str) -> DeError {
        self.locate(DeError::new(format!(
            "expected {expected}, found {}",
            self.found()
        )))
    }

    fn text(&self) -> Option<String> {
        match self.data() {
            YamlData::Value(Scalar::String(s)) | YamlData::Representation(s, ..) => {
                Some(s.to_string())
            }
            YamlData::Value(_) if self.key => Some(key_text(self.node)),
            _ => None,
        }
    }
}

macro_rules! integers {
    ($($method:ident => $visit:ident, $kind:ident;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            match self.data() {
                YamlData::Value(Scalar::Integer(i)) => integers!(@visit self, visitor, $visit, $kind, *i),
                _ => Err(self.mismatch(integers!(@name $kind))),
            }
        }
    )*};
    (@visit $self:ident, $visitor:ident, $visit:ident, signed, $i:expr) => {
        $visitor.visit_i64($i).map_err(|e| $self.locate(e))
    };
    (@visit $self:ident, $visitor:ident, $visit:ident, unsigned, $i:expr) => {
        match u64::try_from($i) {
            Ok(u) => $visitor.$visit(u).map_err(|e| $self.locate(e)),
            Err(_) => Err($self.mismatch("a non-negative integer")),
        }
    };
    (@name signed) => { "an integer" };
    (@name unsigned) => { "a non-negative integer" };
}

impl<'de> de::Deserializer<'de> for Node<'_, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.key {
            if let Some(text) = self.text() {
                return visitor.visit_string(text).map_err(|e| self.locate(e));
            }
        }
        let out = match self.data() {
            YamlData::Value(Scalar::Null) => visitor.visit_unit(),
            YamlData::Value(Scalar::Boolean(b)) => visitor.visit_bool(*b),
            YamlData::Value(Scalar::Integer(i)) => visitor.visit_i64(*i),
            YamlData::Value(Scalar::FloatingPoint(x)) => visitor.visit_f64(x.into_inner()),
            YamlData::Value(Scalar::String(s)) | YamlData::Representation(s, ..) => {
                visitor.visit_str(s)
            }
            YamlData::Sequence(items) => visitor.visit_seq(Seq {
                items: items.iter().enumerate(),
                path: &self.path,
            }),
            YamlData::Mapping(map) => visitor.visit_map(Map {
                entries: map.iter(),
                path: &self.path,
                value: None,
            }),
            _ => return Err(self.mismatch("a value")),
        };
        out.map_err(|e| self.locate(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.data() {
            YamlData::Value(Scalar::Boolean(b)) => {
                visitor.visit_bool(*b).map_err(|e| self.locate(e))
            }
            _ => Err(self.mismatch("true or false")),
        }
    }

    integers! {
        deserialize_i8 => visit_i64, signed;
        deserialize_i16 => visit_i64, signed;
        deserialize_i32 => visit_i64, signed;
        deserialize_i64 => visit_i64, signed;
        deserialize_u8 => visit_u64, unsigned;
        deserialize_u16 => visit_u64, unsigned;
        deserialize_u32 => visit_u64, unsigned;
        deserialize_u64 => visit_u64, unsigned;
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let out = match self.data() {
            YamlData::Value(Scalar::Integer(i)) => visitor.visit_i64(*i),
            YamlData::Value(Scalar::FloatingPoint(x)) => visitor.visit_f64(x.into_inner()),
            _ => return Err(self.mismatch("a number")),
        };
        out.map_err(|e| self.locate(e))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.text() {
            Some(text) => visitor.visit_string(text).map_err(|e| self.locate(e)),
            None => Err(self.mismatch("a string")),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if matches!(self.data(), YamlData::Value(Scalar::Null)) {
            visitor.visit_none().map_err(|e| self.locate(e))
        } else {
            let (node, path, key) = (self.node, self.path.clone(), self.key);
            visitor
                .visit_some(Node { node, path, key })
                .map_err(|e| self.locate(e))
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.data() {
            YamlData::Value(Scalar::Null) => visitor.visit_unit().map_err(|e| self.locate(e)),
            _ => Err(self.mismatch("null")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.data() {
            YamlData::Sequence(items) => visitor
                .visit_seq(Seq {
                    items: items.iter().enumerate(),
                    path: &self.path,
                })
                .map_err(|e| self.locate(e)),
            _ => Err(self.mismatch("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.data() {
            YamlData::Mapping(map) => visitor
                .visit_map(Map {
                    entries: map.iter(),
                    path: &self.path,
                    value: None,
                })
                .map_err(|e| self.locate(e)),
            _ => Err(self.mismatch("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.data() {
            YamlData::Value(Scalar::String(_)) | YamlData::Representation(..) => {
                let (node, path) = (self.node, self.path.clone());
                visitor
                    .visit_enum(Enum {
                        variant: Node {
                            node,
                            path,
                            key: true,
                        },
                        value: None,
                    })
                    .map_err(|e| self.locate(e))
            }
            YamlData::Mapping(map) if map.len() == 1 => {
                let (k, v) = map
                    .iter()
                    .next()
                    .expect("a mapping of length 1 has an entry");
                let path = join(&self.path, &key_text(k));
                visitor
                    .visit_enum(Enum {
                        variant: Node::new(k, path.clone(), true),
                        value: Some(Node::new(v, path, false)),
                    })
                    .map_err(|e| self.locate(e))
            }
            _ => Err(self.mismatch(&format!("one of: {}", variants.join(", ")))),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct Seq<'a, 'i, 'p> {
    items: std::iter::Enumerate<std::slice::Iter<'a, MarkedYaml<'i>>>,
    path: &'p str,
}

impl<'de> de::SeqAccess<'de> for Seq<'_, '_, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some((i, item)) => seed
                .deserialize(Node::new(item, format!("{}[{i}]", self.path), false))
                .map(Some),
            None => Ok(None),
        }
    }
}

struct Map<'a, 'i, 'p, I: Iterator<Item = (&'a MarkedYaml<'i>, &'a MarkedYaml<'i>)>> {
    entries: I,
    path: &'p str,
    value: Option<(&'a MarkedYaml<'i>, String)>,
}

impl<'de, 'a, 'i: 'a, I> de::MapAccess<'de> for Map<'a, 'i, '_, I>
where
    I: Iterator<Item = (&'a MarkedYaml<'i>, &'a MarkedYaml<'i>)>,
{
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((k, v)) => {
                let path = join(self.path, &key_text(k));
                self.value = Some((v, path.clone()));
                seed.deserialize(Node::new(k, path, true)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (node, path) = self
            .value
            .take()
            .expect("serde calls next_value_seed once after each key");
        seed.deserialize(Node::new(node, path, false))
    }
}

struct Enum<'a, 'i> {
    variant: Node<'a, 'i>,
    value: Option<Node<'a, 'i>>,
}

impl<'de, 'a, 'i> de::EnumAccess<'de> for Enum<'a, 'i> {
    type Error = DeError;
    type Variant = Variant<'a, 'i>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Variant<'a, 'i>), DeError> {
        let name = self.variant.text().unwrap_or_default();
        let (node, path) = (self.variant.node, self.variant.path.clone());
        let v = seed.deserialize(self.variant)?;
        Ok((
            v,
            Variant {
                name,
                at: Node {
                    node,
                    path,
                    key: false,
                },
                value: self.value,
            },
        ))
    }
}

struct Variant<'a, 'i> {
    name: String,
    at: Node<'a, 'i>,
    value: Option<Node<'a, 'i>>,
}

impl<'a, 'i> Variant<'a, 'i> {
    fn value(self) -> Result<Node<'a, 'i>, DeError> {
        let name = self.name;
        self.value.ok_or_else(|| {
            self.at.locate(DeError::new(format!(
                "\"{name}\" needs a value: write {{ {name}: ... }}"
            )))
        })
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, '_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.value {
            None => Ok(()),
            Some(v) if matches!(v.data(), YamlData::Value(Scalar::Null)) => Ok(()),
            Some(v) => Err(v.locate(DeError::new(format!("\"{}\" takes no value", self.name)))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self.value()?)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self.value()?, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_map(self.value()?, visitor)
    }
}
