//! JSON text as a server sent it: account answers pass through with their key order, nesting and
//! number spelling
//!
//! `serde_json::Value` sorts object keys: keyhole does not enable serde_json's `preserve_order`,
//! whose `IndexMap` seeds its hasher from the OS (std's `RandomState`, a `wasi:random` import in
//! the component) and costs more code than this (docs/performance.md). So the core keeps the
//! server's text (serde_json's `RawValue`) and reads it as a `Value` only to look fields up.
use core::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// Valid JSON text, kept as it came (without surrounding whitespace)
#[derive(Clone)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    /// Checks that `text` is JSON and keeps it unchanged
    pub fn parse(text: &str) -> serde_json::Result<Self> {
        read(text).map(JsonText)
    }

    /// [`JsonText::parse`] for bytes (UTF-8)
    pub fn from_slice(bytes: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(bytes).map(JsonText)
    }

    /// `value` written as JSON (object keys in `Value`'s order: sorted)
    pub fn from_value(value: &Value) -> Self {
        Self::from_raw(&value.to_string())
    }

    /// The text, as it came
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The text read as a `Value`, for looking fields up (object keys sorted); `Null` if the
    /// text holds what a `Value` cannot (a number beyond `f64`)
    pub fn to_value(&self) -> Value {
        read(self.as_str()).unwrap_or(Value::Null)
    }

    /// The JSON at `pointer` (RFC 6901; `""` is the whole text), kept as it came
    pub fn pointer(&self, pointer: &str) -> Option<JsonText> {
        let mut here: &RawValue = &self.0;
        for segment in segments(pointer)? {
            here = child(here, &segment)?;
        }
        Some(Self::from_raw(here.get()))
    }

    /// The items of a JSON array, each kept as it came; `None` when the text is not an array
    pub fn items(&self) -> Option<Vec<JsonText>> {
        let Node::Array(items) = read(self.as_str()).ok()? else {
            return None;
        };
        Some(
            items
                .iter()
                .map(|item| Self::from_raw(item.get()))
                .collect(),
        )
    }

    /// A JSON array of `items`, each kept as it came
    pub fn array(items: &[JsonText]) -> Self {
        let texts: Vec<&str> = items.iter().map(JsonText::as_str).collect();
        Self::from_raw(&format!("[{}]", texts.join(",")))
    }

    /// Takes the object member at `pointer` out: the member, and the text without it (every
    /// member of that name removed, the rest in order); `None` when there is no such member
    pub fn take(&self, pointer: &str) -> Option<(JsonText, JsonText)> {
        let segments = segments(pointer)?;
        if segments.is_empty() {
            return None;
        }
        let (taken, rest) = take_at(&self.0, &segments)?;
        Some((taken, Self::from_raw(&rest)))
    }

    /// Text this module wrote from valid JSON pieces
    fn from_raw(text: &str) -> Self {
        // Joining valid JSON values with `[`, `,`, `:` and `{` stays valid JSON; the fallback
        // cannot be reached, and keeps a keyhole bug from becoming a panic.
        Self::parse(text).unwrap_or_else(|_| JsonText(null()))
    }
}

fn null() -> Box<RawValue> {
    read("null").unwrap_or_else(|_| unreachable!())
}

/// Every read goes through `from_slice`, the one serde_json reader the core already has (a
/// `from_str` would add a second copy of the parser: 17 KB measured in the component)
fn read<'a, T: Deserialize<'a>>(text: &'a str) -> serde_json::Result<T> {
    serde_json::from_slice(text.as_bytes())
}

/// A pointer's reference tokens, unescaped (`~1` is `/`, `~0` is `~`)
fn segments(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// The member or item `segment` of `raw`
fn child<'a>(raw: &'a RawValue, segment: &str) -> Option<&'a RawValue> {
    match read(raw.get()).ok()? {
        // The last of duplicate names wins, as in `Value`.
        Node::Object(members) => members
            .into_iter()
            .rev()
            .find(|(k, _)| k == segment)
            .map(|(_, v)| v),
        Node::Array(items) => items.get(index(segment)?).copied(),
        Node::Scalar => None,
    }
}

/// An array index as RFC 6901 writes it: digits, no leading zero
fn index(segment: &str) -> Option<usize> {
    let digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    if !digits || (segment.len() > 1 && segment.starts_with('0')) {
        return None;
    }
    segment.parse().ok()
}

/// [`JsonText::take`] below `raw`: the taken member and `raw`'s new text
fn take_at(raw: &RawValue, segments: &[String]) -> Option<(JsonText, String)> {
    let (first, rest) = segments.split_first()?;
    match read(raw.get()).ok()? {
        Node::Object(mut members) => {
            // The last of duplicate names is the one a `Value` reads.
            let at = members.iter().rposition(|(k, _)| k == first)?;
            let (taken, replaced) = if rest.is_empty() {
                let taken = JsonText::from_raw(members[at].1.get());
                members.retain(|(k, _)| k != first);
                (taken, None)
            } else {
                let (taken, new) = take_at(members[at].1, rest)?;
                (taken, Some(new))
            };
            let parts: Vec<String> = members
                .iter()
                .enumerate()
                .map(|(i, (key, value))| {
                    let value = match &replaced {
                        Some(new) if i == at => new.as_str(),
                        _ => value.get(),
                    };
                    format!("{}:{value}", Value::String(key.clone()))
                })
                .collect();
            Some((taken, format!("{{{}}}", parts.join(","))))
        }
        Node::Array(items) if !rest.is_empty() => {
            let at = index(first)?;
            let (taken, new) = take_at(items.get(at)?, rest)?;
            let parts: Vec<&str> = items
                .iter()
                .enumerate()
                .map(|(i, item)| if i == at { new.as_str() } else { item.get() })
                .collect();
            Some((taken, format!("[{}]", parts.join(","))))
        }
        _ => None,
    }
}

/// One level of JSON: an object's members in the order they came or an array's items, each
/// kept as text (one visitor, so the core holds one more instance of serde_json's parser, not two)
enum Node<'a> {
    Object(Vec<(String, &'a RawValue)>),
    Array(Vec<&'a RawValue>),
    Scalar,
}

impl<'de: 'a, 'a> Deserialize<'de> for Node<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Level<'a>(core::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Level<'a> {
            type Value = Node<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'a>, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'a RawValue>()? {
                    members.push(member);
                }
                Ok(Node::Object(members))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'a>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<&'a RawValue>()? {
                    items.push(item);
                }
                Ok(Node::Array(items))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node<'a>, E> {
                Ok(Node::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node<'a>, E> {
                Ok(Node::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node<'a>, E> {
                Ok(Node::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node<'a>, E> {
                Ok(Node::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<Node<'a>, E> {
                Ok(Node::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Node<'a>, E> {
                Ok(Node::Scalar)
            }
        }
        deserializer.deserialize_any(Level(core::marker::PhantomData))
    }
}

/// The text compared as text: the same JSON with its keys in another order is another answer
impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for JsonText {}

/// Its shape, never its values (an answer may hold anything)
impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str().as_bytes().first() {
            Some(b'{') => f.write_str("JsonText({…})"),
            Some(b'[') => f.write_str("JsonText([…])"),
            _ => f.write_str("JsonText([scalar])"),
        }
    }
}

/// Written as it came (serde_json's `RawValue`)
impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENT: &str = r#"{"id": 123456, "email": "you@example.com", "credit": 25.00,
        "billing": {"zone": "eu", "amount": 1e21}, "ssh_key": "ssh-rsa AAAAB3..."}"#;

    #[test]
    fn the_text_is_kept_as_sent() {
        let text = JsonText::parse(&format!("  {SENT}\n")).unwrap();
        assert_eq!(text.as_str(), SENT, "order, spacing and `25.00` kept");
        assert_eq!(text.to_value()["credit"], 25.0);
        assert!(JsonText::parse("{\"a\": 1,}").is_err());
        assert!(JsonText::from_slice(b"\xff").is_err());
    }

    #[test]
    fn pointers_and_items_keep_the_text() {
        let text = JsonText::parse(SENT).unwrap();
        assert_eq!(
            text.pointer("/billing").unwrap().as_str(),
            r#"{"zone": "eu", "amount": 1e21}"#
        );
        assert_eq!(text.pointer("").unwrap(), text);
        assert_eq!(text.pointer("/nope"), None);
        let list = JsonText::parse(r#"{"keys": [{"b": 1, "a": 2}, 3], "x~/y": [0]}"#).unwrap();
        let items = list.pointer("/keys").unwrap().items().unwrap();
        assert_eq!(items[0].as_str(), r#"{"b": 1, "a": 2}"#);
        assert_eq!(list.pointer("/keys/1").unwrap().as_str(), "3");
        assert_eq!(list.pointer("/x~0~1y/0").unwrap().as_str(), "0");
        assert_eq!(list.pointer("/keys/01"), None, "no leading zeros");
        assert_eq!(JsonText::array(&items).as_str(), r#"[{"b": 1, "a": 2},3]"#);
        assert!(text.items().is_none());
    }

    #[test]
    fn take_removes_a_member_and_keeps_the_rest_in_order() {
        let text = JsonText::parse(r#"{"z": 1, "key": "k-1", "a": {"key": 2, "b": [1]}}"#).unwrap();
        let (taken, rest) = text.take("/key").unwrap();
        assert_eq!(taken.as_str(), r#""k-1""#);
        assert_eq!(rest.as_str(), r#"{"z":1,"a":{"key": 2, "b": [1]}}"#);
        let (taken, rest) = text.take("/a/key").unwrap();
        assert_eq!(taken.as_str(), "2");
        assert_eq!(rest.as_str(), r#"{"z":1,"key":"k-1","a":{"b":[1]}}"#);
        let nested = JsonText::parse(r#"{"data": [{"k": "s", "id": 1}]}"#).unwrap();
        let (taken, rest) = nested.take("/data/0/k").unwrap();
        assert_eq!(
            (taken.as_str(), rest.as_str()),
            (r#""s""#, r#"{"data":[{"id":1}]}"#)
        );
        // Duplicates: the last is the one taken, and none is left behind.
        let twice = JsonText::parse(r#"{"key": "old", "n": 1, "key": "new"}"#).unwrap();
        let (taken, rest) = twice.take("/key").unwrap();
        assert_eq!((taken.as_str(), rest.as_str()), (r#""new""#, r#"{"n":1}"#));
        assert_eq!(text.take("/missing"), None);
        assert_eq!(text.take(""), None);
        assert_eq!(text.take("key"), None, "not a pointer");
    }

    #[test]
    fn debug_shows_the_shape_only() {
        let text = JsonText::parse(r#"{"email": "ada@example.com"}"#).unwrap();
        assert_eq!(format!("{text:?}"), "JsonText({…})");
        assert_eq!(
            serde_json::to_string(&text).unwrap(),
            r#"{"email": "ada@example.com"}"#
        );
    }
}
