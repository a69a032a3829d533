//! `serde` support (feature `serde`): [`Dtype`] as its header name,
//! [`Header`] as the header's own JSON object, [`TensorInfo`] as a
//! self-contained description. [`Metadata`](crate::Metadata) is a
//! `BTreeMap`, which serde handles already.
//!
//! A deserialized [`Header`] passes every rule a parsed one does (the
//! entries are checked by the same validator). It describes tensors and a
//! data section, not a particular file: its [`Header::data_start`] is that
//! of its compact rendering. Pair it with a data section through
//! [`SafeTensors::from_parts`](crate::SafeTensors::from_parts).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::header::{render, Header, Metadata, TensorInfo};
use crate::limits::ParseOptions;
use crate::Dtype;

impl Serialize for Dtype {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Dtype {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Dtype;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a safetensors dtype name such as \"F32\"")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Dtype, E> {
                Dtype::from_name(name)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(name), &self))
            }
        }
        deserializer.deserialize_str(Name)
    }
}

/// One entry of the header object: the three fields, without the name.
struct Entry<'a>(&'a TensorInfo<'a>);

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("TensorEntry", 3)?;
        s.serialize_field("dtype", &self.0.dtype())?;
        s.serialize_field("shape", self.0.shape())?;
        let (begin, end) = self.0.data_offsets();
        s.serialize_field("data_offsets", &[begin, end])?;
        s.end()
    }
}

/// `{"name": ..., "dtype": ..., "shape": [...], "data_offsets": [b, e]}`.
impl Serialize for TensorInfo<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("TensorInfo", 4)?;
        s.serialize_field("name", self.name())?;
        s.serialize_field("dtype", &self.dtype())?;
        s.serialize_field("shape", self.shape())?;
        let (begin, end) = self.data_offsets();
        s.serialize_field("data_offsets", &[begin, end])?;
        s.end()
    }
}

/// The header object as a file stores it: `__metadata__` first (if any),
/// then each tensor's entry, in data-offset order.
impl Serialize for Header {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let extra = usize::from(self.metadata().is_some());
        let mut map = serializer.serialize_map(Some(self.len() + extra))?;
        if let Some(metadata) = self.metadata() {
            map.serialize_entry("__metadata__", metadata)?;
        }
        for info in self.iter() {
            map.serialize_entry(info.name(), &Entry(&info))?;
        }
        map.end()
    }
}

/// A tensor entry as read, before validation.
struct RawEntry {
    dtype: Dtype,
    shape: Vec<u64>,
    offsets: [u64; 2],
}

impl<'de> Deserialize<'de> for RawEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = RawEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tensor entry with dtype, shape and data_offsets")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEntry, A::Error> {
                let (mut dtype, mut shape, mut offsets) = (None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "dtype" if dtype.is_none() => dtype = Some(map.next_value()?),
                        "shape" if shape.is_none() => shape = Some(map.next_value()?),
                        "data_offsets" if offsets.is_none() => offsets = Some(map.next_value()?),
                        "dtype" | "shape" | "data_offsets" => {
                            return Err(de::Error::custom(alloc::format!("`{key}` twice")))
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(RawEntry {
                    dtype: dtype.ok_or_else(|| de::Error::missing_field("dtype"))?,
                    shape: shape.ok_or_else(|| de::Error::missing_field("shape"))?,
                    offsets: offsets.ok_or_else(|| de::Error::missing_field("data_offsets"))?,
                })
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// A header object (as [`Header`]'s `Serialize` writes it, or as a file
/// stores it), validated by the parser's own rules with default
/// [`ParseOptions`].
impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Header;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a safetensors header object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
                // Re-render the entries as header JSON and parse that: one
                // validator for every way a header arrives.
                let mut json = Vec::from(*b"{");
                let separate = |json: &mut Vec<u8>| {
                    if json.len() > 1 {
                        json.push(b',');
                    }
                };
                while let Some(key) = map.next_key::<String>()? {
                    if key == "__metadata__" {
                        // `null` is no metadata: nothing to render.
                        if let Some(m) = map.next_value::<Option<Metadata>>()? {
                            separate(&mut json);
                            render::metadata(&mut json, &m);
                        }
                    } else {
                        let e: RawEntry = map.next_value()?;
                        separate(&mut json);
                        render::entry(&mut json, &key, e.dtype, e.shape, e.offsets);
                    }
                }
                json.push(b'}');
                Header::from_json(&json, &ParseOptions::default()).map_err(de::Error::custom)
            }
        }
        deserializer.deserialize_map(Object)
    }
}
