//! The core's own JSON: a [`Value`] tree, a parser ([`parse`]) and a compact writer
//! ([`Value::to_json`]), written with `core` and `alloc` only
//!
//! It replaces serde_json, which cost the wasm artefacts its parser and writer plus, through
//! `serde_json::Map` (a `BTreeMap`), the B-tree and several stable sorts, and float
//! parsing/printing. What an auth core reads and writes is small objects of strings and integers,
//! so this module is sized for that:
//!
//! - [`Map`] is a `Vec` of entries kept sorted by key (binary search; no B-tree, no library sort):
//!   iteration is in key order, as with serde_json's default `BTreeMap`, so written text is
//!   byte-identical to `serde_json::to_string`.
//! - [`Number`] keeps integers as integers and any other number as its validated source text;
//!   nothing here parses or prints floats. [`Number::trunc_u64`] reads a fractional count of
//!   seconds (`3600.0`) without a float.
//! - [`parse`] accepts exactly what `serde_json::from_slice::<serde_json::Value>` accepts,
//!   including its nesting limit (127 levels), and never panics; duplicate keys: the last wins.
//!   (One edge: a number within a few units in the last place of `f64::MAX` is judged exactly
//!   here, where serde_json's default, inexact rounding may call it out of range.)
//!   `tests/json.rs` checks all of this against serde_json.
//!
//! The one difference in output: a non-integer number is written as it was read (`1.50`, `1E3`),
//! where serde_json would print its float (`1.5`, `1000.0`). The core writes integers only.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A JSON value
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Value {
    /// `null`
    #[default]
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number (see [`Number`])
    Number(Number),
    /// A string
    String(String),
    /// An array
    Array(Vec<Value>),
    /// An object, its keys in sorted order
    Object(Map),
}

/// A JSON number: an integer, or the validated source text of any other number
#[derive(Clone, PartialEq, Eq)]
pub struct Number(N);

#[derive(Clone, PartialEq, Eq)]
enum N {
    /// A non-negative integer that fits a `u64`
    PosInt(u64),
    /// A negative integer that fits an `i64`
    NegInt(i64),
    /// Any other number (a fraction, an exponent, `-0`, or an integer too large): its JSON text
    Other(Box<str>),
}

impl Number {
    /// The number as a `u64`, if it is written as a non-negative integer that fits (as
    /// serde_json: `1.0`, `1e2` and `-0` are not integers)
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            N::PosInt(n) => Some(n),
            _ => None,
        }
    }

    /// The number as an `i64`, if it is written as an integer that fits
    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            N::PosInt(n) => i64::try_from(n).ok(),
            N::NegInt(n) => Some(n),
            N::Other(_) => None,
        }
    }

    /// Whether the number is an integer that fits a `u64` or an `i64`
    pub fn is_integer(&self) -> bool {
        !matches!(self.0, N::Other(_))
    }

    /// The number truncated towards zero, as serde_json's `as_u64().or(as_f64() as u64)` reads a
    /// non-negative number: `3600.9` is 3600, `1e30` saturates at `u64::MAX`, `-0.0` is 0; `None`
    /// when it is negative
    ///
    /// Computed exactly on the decimal text, without a float: it differs from the float route only
    /// where a float is inexact: above 2^53 (`1234567890123456789.5` is 1234567890123456789 here),
    /// for more than ~16 significant digits (`3599.99999999999999999` is 3599 here, 3600 through
    /// a float), and for negative numbers near 1e-324 that a float rounds to `-0.0`.
    pub fn trunc_u64(&self) -> Option<u64> {
        let text = match &self.0 {
            N::PosInt(n) => return Some(*n),
            N::NegInt(_) => return None,
            N::Other(text) => text,
        };
        let d = Decimal::of(text);
        if d.digits.is_empty() {
            return Some(0); // 0.0, -0, -0e5
        }
        if d.negative {
            // A float rounds magnitudes below about 2.5e-324 to -0.0, which is not negative.
            return (d.exponent < -323).then_some(0);
        }
        if d.exponent <= 0 {
            return Some(0);
        }
        if d.exponent > 20 {
            return Some(u64::MAX);
        }
        let mut n: u64 = 0;
        for i in 0..d.exponent as usize {
            let digit = d.digits.as_bytes().get(i).map_or(0, |b| b - b'0');
            n = match n.checked_mul(10).and_then(|n| n.checked_add(digit.into())) {
                Some(n) => n,
                None => return Some(u64::MAX),
            };
        }
        Some(n)
    }

    /// The number's JSON text (integers as digits, other numbers as they were read)
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// Appends the number's JSON text
    fn write(&self, out: &mut String) {
        match &self.0 {
            N::PosInt(n) => push_u64(out, *n),
            N::NegInt(n) => {
                out.push('-');
                push_u64(out, n.unsigned_abs());
            }
            N::Other(text) => out.push_str(text),
        }
    }
}

impl fmt::Display for Number {
    /// The number's JSON text
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<u64> for Number {
    fn from(n: u64) -> Self {
        Number(N::PosInt(n))
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Self {
        match u64::try_from(n) {
            Ok(n) => Number(N::PosInt(n)),
            Err(_) => Number(N::NegInt(n)),
        }
    }
}

/// Appends the decimal digits of `n` (no `core::fmt`)
pub(crate) fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[at..] {
        out.push(char::from(b));
    }
}

/// A number's text as `0.digits × 10^exponent`, `digits` without leading or trailing zeros
struct Decimal<'a> {
    negative: bool,
    digits: DigitsRef<'a>,
    exponent: i64,
}

/// The significant digits: borrowed when they are contiguous in the text, else joined
enum DigitsRef<'a> {
    Borrowed(&'a str),
    Joined(String),
}

impl DigitsRef<'_> {
    fn as_str(&self) -> &str {
        match self {
            DigitsRef::Borrowed(s) => s,
            DigitsRef::Joined(s) => s,
        }
    }
    fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }
    fn as_bytes(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl<'a> Decimal<'a> {
    /// Splits validated JSON number text
    fn of(text: &'a str) -> Self {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (int, frac) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        let exp = parse_exponent(exp);
        let int_trimmed = int.trim_start_matches('0');
        let (digits, exponent) = if int_trimmed.is_empty() {
            let frac_trimmed = frac.trim_start_matches('0');
            let skipped = (frac.len() - frac_trimmed.len()) as i64;
            (
                DigitsRef::Borrowed(frac_trimmed.trim_end_matches('0')),
                exp.saturating_sub(skipped),
            )
        } else if frac.is_empty() {
            (
                DigitsRef::Borrowed(int_trimmed.trim_end_matches('0')),
                exp.saturating_add(int_trimmed.len() as i64),
            )
        } else {
            let mut joined = String::with_capacity(int_trimmed.len() + frac.len());
            joined.push_str(int_trimmed);
            joined.push_str(frac);
            let kept = joined.trim_end_matches('0').len();
            joined.truncate(kept);
            (
                DigitsRef::Joined(joined),
                exp.saturating_add(int_trimmed.len() as i64),
            )
        };
        Decimal {
            negative,
            digits,
            exponent,
        }
    }

    /// Whether a float would be infinite: at or above 2^1024 - 2^970, where `f64::MAX` rounds up
    fn overflows_f64(&self) -> bool {
        /// The digits of 2^1024 - 2^970 (= 0.17976931348623158079… × 10^309)
        const LIMIT: &str = "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";
        !self.digits.is_empty()
            && (self.exponent > 309 || (self.exponent == 309 && self.digits.as_str() >= LIMIT))
    }
}

/// An exponent's decimal text (with an optional sign) as an `i64`, saturating far outside the
/// range any float reaches
fn parse_exponent(text: &str) -> i64 {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let mut n: i64 = 0;
    for b in digits.bytes() {
        n = (n * 10 + i64::from(b - b'0')).min(1 << 40);
    }
    if negative { -n } else { n }
}

/// A JSON object: entries kept sorted by key, so iteration is in key order
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Map {
    entries: Vec<(String, Value)>,
}

impl Map {
    /// An empty object
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// Where `key` is, for a lookup: the objects keyhole reads (configs, token responses) are
    /// small, and a scan that compares lengths first rarely compares bytes at all, where a
    /// binary search compares bytes at every step (a byte loop in the wasm artefacts)
    fn position(&self, key: &str) -> Option<usize> {
        if self.entries.len() <= SMALL_OBJECT {
            self.entries
                .iter()
                .position(|(k, _)| k.len() == key.len() && k == key)
        } else {
            self.find(key).ok()
        }
    }

    /// The value under `key`
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// Whether `key` is present
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key` to `value`, returning the value it replaces
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.find(&key) {
            Ok(i) => Some(core::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// The number of entries
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in key order
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys in order
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &String> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Value> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// Builds a map from entries in any order; for a repeated key the last one wins
    ///
    /// Sorting is a merge sort written here: `insert` one by one would be quadratic on a hostile
    /// object with its keys in reverse order, and the library sorts are what this module avoids.
    fn from_entries(mut entries: Vec<(String, Value)>) -> Self {
        if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
            entries = merge_sort(entries);
            // Stable: among equal keys the last one read is last; keep it.
            let mut kept: Vec<(String, Value)> = Vec::with_capacity(entries.len());
            for entry in entries {
                match kept.last_mut() {
                    Some(last) if last.0 == entry.0 => *last = entry,
                    _ => kept.push(entry),
                }
            }
            entries = kept;
        }
        Map { entries }
    }
}

/// Objects up to this size are "small": sorted in place and searched by a scan
const SMALL_OBJECT: usize = 16;

/// A stable merge sort of entries by key; short runs (every object a provider sends) are sorted
/// in place, without the allocations of merging
fn merge_sort(mut left: Vec<(String, Value)>) -> Vec<(String, Value)> {
    if left.len() <= SMALL_OBJECT {
        for i in 1..left.len() {
            let mut j = i;
            while j > 0 && left[j].0 < left[j - 1].0 {
                left.swap(j, j - 1);
                j -= 1;
            }
        }
        return left;
    }
    let right = merge_sort(left.split_off(left.len() / 2));
    let left = merge_sort(left);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_right = match (left.peek(), right.peek()) {
            (Some(l), Some(r)) => r.0 < l.0,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (None, None) => return out,
        };
        let next = if take_right {
            right.next()
        } else {
            left.next()
        };
        out.extend(next);
    }
}

impl FromIterator<(String, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Map::from_entries(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a String, &'a Value);
    type IntoIter = core::iter::Map<
        core::slice::Iter<'a, (String, Value)>,
        fn(&'a (String, Value)) -> (&'a String, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

static NULL: Value = Value::Null;

impl Value {
    /// The string, if this is one
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number as a `u64` (see [`Number::as_u64`])
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// The number as an `i64` (see [`Number::as_i64`])
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// The boolean, if this is one
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The object, if this is one
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    /// The array, if this is one
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Whether this is `null`
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The field `key` of an object (`None` for a missing key or a value that is not an object)
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.get(key)
    }

    /// Looks up an [RFC 6901](https://www.rfc-editor.org/rfc/rfc6901) JSON pointer such as
    /// `/user/email` or `/items/0` (`""` is the whole value), as serde_json's `pointer`
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        let rest = match pointer.strip_prefix('/') {
            Some(rest) => rest,
            None if pointer.is_empty() => return Some(self),
            None => return None,
        };
        let mut target = self;
        for raw in rest.split('/') {
            let token = unescape_pointer_token(raw);
            target = match target {
                Value::Object(map) => map.get(&token)?,
                Value::Array(items) => items.get(array_index(&token)?)?,
                _ => return None,
            };
        }
        Some(target)
    }

    /// The compact JSON text, as `serde_json::to_string` writes it: keys in order, no spaces
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    /// Appends the compact JSON text to `out`
    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Number(n) => n.write(out),
            Value::String(s) => write_string(out, s),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (k, v)) in map.entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(out, k);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

/// `~1` is `/` and `~0` is `~` in a pointer token (any other `~` stays, as in serde_json)
fn unescape_pointer_token(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.peek() {
                Some('1') => {
                    chars.next();
                    out.push('/');
                    continue;
                }
                Some('0') => {
                    chars.next();
                    out.push('~');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// An array index token: decimal digits, no sign, no leading zero
fn array_index(token: &str) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.bytes().try_fold(0usize, |n, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(usize::from(digit))
    })
}

/// Writes a JSON string: `"` and `\` escaped, control characters as short escapes or `\u00xx`,
/// everything else (including `/` and non-ASCII) as it is
fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

impl fmt::Display for Value {
    /// The compact JSON text (see [`Value::to_json`])
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl core::ops::Index<&str> for Value {
    type Output = Value;
    /// The field `key`, or `null` when it is missing or this is not an object (as serde_json)
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl core::ops::Index<usize> for Value {
    type Output = Value;
    /// The item at `index`, or `null` when out of range or this is not an array (as serde_json)
    fn index(&self, index: usize) -> &Value {
        self.as_array()
            .and_then(|items| items.get(index))
            .unwrap_or(&NULL)
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

/// What [`json!`] turns a Rust value into: `json!({"n": x})` takes `&x`, as serde_json's does
pub trait ToValue {
    /// The value as JSON
    fn to_value(&self) -> Value;
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::String(self.into())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::String(self.clone())
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
}

macro_rules! to_value_unsigned {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Number(Number(N::PosInt(*self as u64)))
            }
        }
    )*};
}
to_value_unsigned!(u8, u16, u32, u64, usize);

macro_rules! to_value_signed {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Number(Number::from(*self as i64))
            }
        }
    )*};
}
to_value_signed!(i8, i16, i32, i64, isize);

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_value)
    }
}

impl<T: ToValue> ToValue for [T] {
    fn to_value(&self) -> Value {
        Value::Array(self.iter().map(T::to_value).collect())
    }
}

impl<T: ToValue> ToValue for Vec<T> {
    fn to_value(&self) -> Value {
        self.as_slice().to_value()
    }
}

impl<T: ToValue> ToValue for alloc::collections::BTreeMap<String, T> {
    fn to_value(&self) -> Value {
        // Already in key order: `from_entries` only checks it.
        Value::Object(Map::from_entries(
            self.iter()
                .map(|(k, v)| (k.clone(), v.to_value()))
                .collect(),
        ))
    }
}

impl ToValue for Map {
    fn to_value(&self) -> Value {
        Value::Object(self.clone())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Number(n.into())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Map> for Value {
    fn from(map: Map) -> Self {
        Value::Object(map)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::Array(items)
    }
}

/// Builds a [`Value`] from JSON-like syntax, as serde_json's `json!` for the cases the core
/// writes: `json!({"type": "wait", "until_ms": until, "nested": {"a": [1, null]}})`
///
/// Keys are string literals; values are `null`, nested `{…}` / `[…]`, or any Rust expression
/// whose type implements [`ToValue`] (taken by reference).
macro_rules! json {
    (null) => {
        $crate::json::Value::Null
    };
    ([ $($items:tt)* ]) => {
        $crate::json::Value::Array($crate::json::json_items!([] $($items)*))
    };
    ({ $($fields:tt)* }) => {{
        #[allow(unused_mut)]
        let mut map = $crate::json::Map::new();
        $crate::json::json_fields!(map; $($fields)*);
        $crate::json::Value::Object(map)
    }};
    ($value:expr) => {
        $crate::json::ToValue::to_value(&$value)
    };
}

/// [`json!`]'s object fields, one at a time
macro_rules! json_fields {
    ($map:ident;) => {};
    ($map:ident; $key:literal : null $(, $($rest:tt)*)?) => {
        $map.insert($key.into(), $crate::json::Value::Null);
        $($crate::json::json_fields!($map; $($rest)*);)?
    };
    ($map:ident; $key:literal : { $($inner:tt)* } $(, $($rest:tt)*)?) => {
        $map.insert($key.into(), $crate::json::json!({ $($inner)* }));
        $($crate::json::json_fields!($map; $($rest)*);)?
    };
    ($map:ident; $key:literal : [ $($inner:tt)* ] $(, $($rest:tt)*)?) => {
        $map.insert($key.into(), $crate::json::json!([ $($inner)* ]));
        $($crate::json::json_fields!($map; $($rest)*);)?
    };
    ($map:ident; $key:literal : $value:expr $(, $($rest:tt)*)?) => {
        $map.insert($key.into(), $crate::json::json!($value));
        $($crate::json::json_fields!($map; $($rest)*);)?
    };
}

/// [`json!`]'s array items, one at a time, gathered into `vec![…]`
macro_rules! json_items {
    ([$($done:expr,)*]) => {
        ::alloc::vec![$($done),*]
    };
    ([$($done:expr,)*] null $(, $($rest:tt)*)?) => {
        $crate::json::json_items!([$($done,)* $crate::json::Value::Null,] $($($rest)*)?)
    };
    ([$($done:expr,)*] { $($inner:tt)* } $(, $($rest:tt)*)?) => {
        $crate::json::json_items!([$($done,)* $crate::json::json!({ $($inner)* }),] $($($rest)*)?)
    };
    ([$($done:expr,)*] [ $($inner:tt)* ] $(, $($rest:tt)*)?) => {
        $crate::json::json_items!([$($done,)* $crate::json::json!([ $($inner)* ]),] $($($rest)*)?)
    };
    ([$($done:expr,)*] $value:expr $(, $($rest:tt)*)?) => {
        $crate::json::json_items!([$($done,)* $crate::json::json!($value),] $($($rest)*)?)
    };
}

pub(crate) use {json, json_fields, json_items};

/// Why text is not JSON, and where
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    what: &'static str,
    line: usize,
    column: usize,
}

impl Error {
    /// What is wrong, such as `expected value`
    pub fn what(&self) -> &'static str {
        self.what
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.what, self.line, self.column
        )
    }
}

impl core::error::Error for Error {}

/// How deep arrays and objects may nest: serde_json's limit (it refuses the 128th level)
pub const MAX_DEPTH: usize = 127;

/// Parses JSON text: one value, optionally surrounded by whitespace
///
/// Accepts what `serde_json::from_slice::<serde_json::Value>` accepts: RFC 8259 JSON in UTF-8,
/// nesting at most [`MAX_DEPTH`] deep, numbers a float would not overflow; a repeated object key
/// keeps its last value. Never panics.
pub fn parse(bytes: &[u8]) -> Result<Value, Error> {
    let text = match core::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            return Err(error_at(
                bytes,
                e.valid_up_to(),
                "invalid unicode code point",
            ));
        }
    };
    let mut parser = Parser {
        text,
        bytes,
        at: 0,
        depth: 0,
    };
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.at < bytes.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

fn error_at(bytes: &[u8], at: usize, what: &'static str) -> Error {
    let before = &bytes[..at.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    Error {
        what,
        line: 1 + before.iter().filter(|b| **b == b'\n').count(),
        column: before.len() - line_start + 1,
    }
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &'static str) -> Error {
        error_at(self.bytes, self.at, what)
    }

    // Inlined even in the size-optimised artefacts: a call per byte read made the parser the
    // largest cost of a transcript replay through the component (docs/performance.md).
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<Value, Error> {
        self.skip_whitespace();
        match self.peek() {
            None => Err(self.error("EOF while parsing a value")),
            Some(b'n') => self.word("null", Value::Null),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => Ok(Value::Number(self.number()?)),
            Some(b'[') => self.nested(Self::array),
            Some(b'{') => self.nested(Self::object),
            Some(_) => Err(self.error("expected value")),
        }
    }

    fn word(&mut self, word: &str, value: Value) -> Result<Value, Error> {
        for expected in word.bytes() {
            match self.peek() {
                Some(b) if b == expected => self.at += 1,
                Some(_) => return Err(self.error("expected ident")),
                None => return Err(self.error("EOF while parsing a value")),
            }
        }
        Ok(value)
    }

    fn nested(&mut self, read: fn(&mut Self) -> Result<Value, Error>) -> Result<Value, Error> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        self.depth += 1;
        self.at += 1; // the `[` or `{`
        let value = read(self);
        self.depth -= 1;
        value
    }

    fn array(&mut self) -> Result<Value, Error> {
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            if self.closes(b']', "expected `,` or `]`", "EOF while parsing a list")? {
                return Ok(Value::Array(items));
            }
        }
    }

    /// After an item: `true` past the closing bracket, `false` past a comma (one that another item
    /// follows)
    fn closes(
        &mut self,
        close: u8,
        unexpected: &'static str,
        eof: &'static str,
    ) -> Result<bool, Error> {
        self.skip_whitespace();
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                self.skip_whitespace();
                if self.peek() == Some(close) {
                    return Err(self.error("trailing comma"));
                }
                Ok(false)
            }
            Some(b) if b == close => {
                self.at += 1;
                Ok(true)
            }
            Some(_) => Err(self.error(unexpected)),
            None => Err(self.error(eof)),
        }
    }

    fn object(&mut self) -> Result<Value, Error> {
        let mut entries = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(Map::new()));
        }
        loop {
            match self.peek() {
                Some(b'"') => {}
                Some(_) => return Err(self.error("key must be a string")),
                None => return Err(self.error("EOF while parsing an object")),
            }
            let key = self.string()?;
            self.skip_whitespace();
            match self.peek() {
                Some(b':') => self.at += 1,
                Some(_) => return Err(self.error("expected `:`")),
                None => return Err(self.error("EOF while parsing an object")),
            }
            entries.push((key, self.value()?));
            if self.closes(b'}', "expected `,` or `}`", "EOF while parsing an object")? {
                return Ok(Value::Object(Map::from_entries(entries)));
            }
        }
    }

    /// A string starting at the `"`; the text is valid UTF-8, so runs between escapes are copied
    fn string(&mut self) -> Result<String, Error> {
        self.at += 1; // the opening quote
        let mut start = self.at;
        let mut out = String::new();
        loop {
            match self.plain_run() {
                None => return Err(self.error("EOF while parsing a string")),
                Some(b'"') => {
                    let run = &self.text[start..self.at];
                    self.at += 1;
                    if out.is_empty() {
                        // No escape before it (each writes a character): one copy, exact size.
                        return Ok(run.into());
                    }
                    out.push_str(run);
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(&self.text[start..self.at]);
                    self.at += 1;
                    self.escape(&mut out)?;
                    start = self.at;
                }
                Some(_) => {
                    return Err(self.error(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
            }
        }
    }

    /// Moves past the characters a string copies as they are; returns the byte that stopped it (a
    /// quote, a backslash or a control character), `None` at the end of the text
    fn plain_run(&mut self) -> Option<u8> {
        while let Some(b) = self.peek() {
            if b == b'"' || b == b'\\' || b < 0x20 {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    /// One escape, after its backslash
    fn escape(&mut self, out: &mut String) -> Result<(), Error> {
        let Some(b) = self.peek() else {
            return Err(self.error("EOF while parsing a string"));
        };
        self.at += 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(out),
            _ => return Err(self.error("invalid escape")),
        };
        out.push(c);
        Ok(())
    }

    /// `\uXXXX` after its `\u`: a BMP character, or a surrogate pair written as two escapes
    fn unicode_escape(&mut self, out: &mut String) -> Result<(), Error> {
        let first = self.hex4()?;
        let code = match first {
            0xDC00..=0xDFFF => return Err(self.error("lone leading surrogate in hex escape")),
            0xD800..=0xDBFF => {
                if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                    return Err(self.error("unexpected end of hex escape"));
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                0x10000 + ((u32::from(first) - 0xD800) << 10) + (u32::from(second) - 0xDC00)
            }
            other => u32::from(other),
        };
        match char::from_u32(code) {
            Some(c) => {
                out.push(c);
                Ok(())
            }
            None => Err(self.error("invalid unicode code point")),
        }
    }

    fn hex4(&mut self) -> Result<u16, Error> {
        let mut n: u16 = 0;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                Some(_) => return Err(self.error("invalid escape")),
                None => return Err(self.error("EOF while parsing a string")),
            };
            self.at += 1;
            n = (n << 4) | u16::from(digit);
        }
        Ok(n)
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<Number, Error> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.error("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            Some(_) => return Err(self.error("invalid number")),
            None => return Err(self.error("EOF while parsing a value")),
        }
        let int_end = self.at;
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.bad_number_end());
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.bad_number_end());
            }
        }
        let text = &self.text[start..self.at];
        if integer {
            let digits = &self.text[start + usize::from(negative)..int_end];
            if let Some(n) = parse_u64(digits) {
                if !negative {
                    return Ok(Number(N::PosInt(n)));
                }
                if n != 0
                    && let Some(n) = 0i64.checked_sub_unsigned(n)
                {
                    return Ok(Number(N::NegInt(n)));
                }
            }
        }
        if Decimal::of(text).overflows_f64() {
            return Err(error_at(self.bytes, start, "number out of range"));
        }
        Ok(Number(N::Other(text.into())))
    }

    /// A `.` or exponent with no digits after it
    fn bad_number_end(&self) -> Error {
        if self.at >= self.bytes.len() {
            self.error("EOF while parsing a value")
        } else {
            self.error("invalid number")
        }
    }
}

/// Decimal digits as a `u64`, `None` when it would overflow
fn parse_u64(digits: &str) -> Option<u64> {
    digits.bytes().try_fold(0u64, |n, b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn p(text: &str) -> Value {
        parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn round_trips_compactly_with_sorted_keys() {
        let v = p(r#" {"b": [1, -2, true, null], "a": {"z": "x\"\\/\u00e9\n\u0001\u007f"}} "#);
        assert_eq!(
            v.to_json(),
            "{\"a\":{\"z\":\"x\\\"\\\\/\u{e9}\\n\\u0001\u{7f}\"},\"b\":[1,-2,true,null]}"
        );
    }

    #[test]
    fn last_duplicate_key_wins() {
        let v = p(r#"{"k": 1, "a": 0, "k": 2, "c": 3, "b": 4, "k": 3}"#);
        assert_eq!(v.to_json(), r#"{"a":0,"b":4,"c":3,"k":3}"#);
    }

    #[test]
    fn numbers_keep_integers_and_source_text() {
        assert_eq!(p("18446744073709551615").as_u64(), Some(u64::MAX));
        assert_eq!(p("18446744073709551616").as_u64(), None);
        assert_eq!(p("-9223372036854775808").as_i64(), Some(i64::MIN));
        assert_eq!(p("-0").as_i64(), None);
        assert_eq!(p("1.0").as_u64(), None);
        assert_eq!(p("1.50E+2").to_json(), "1.50E+2");
        assert!(parse(b"1e309").is_err());
        assert!(parse(b"1.7976931348623157e308").is_ok());
        assert!(parse(b"1.7976931348623159e308").is_err());
        assert!(parse(b"0e99999999999999999999").is_ok());
        assert!(parse(b"1e-99999999999999999999").is_ok());
    }

    #[test]
    fn trunc_u64_reads_fractional_seconds() {
        let t = |text: &str| match p(text) {
            Value::Number(n) => n.trunc_u64(),
            other => panic!("{other:?}"),
        };
        assert_eq!(t("3600"), Some(3600));
        assert_eq!(t("3600.0"), Some(3600));
        assert_eq!(t("3600.9"), Some(3600));
        assert_eq!(t("36.5e2"), Some(3650));
        assert_eq!(t("0.0036e6"), Some(3600));
        assert_eq!(t("5e-1"), Some(0));
        assert_eq!(t("1e30"), Some(u64::MAX));
        assert_eq!(t("18446744073709551616"), Some(u64::MAX));
        assert_eq!(t("-0"), Some(0));
        assert_eq!(t("-0.0"), Some(0));
        assert_eq!(t("-0.5"), None);
        assert_eq!(t("-5"), None);
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(p(r#""\ud83d\ude00""#), Value::String("\u{1f600}".into()));
        for bad in [
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83d\u0041""#,
            r#""\x""#,
            "\"a\nb\"",
            r#""abc"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(parse(b"\"\xff\"").is_err());
    }

    #[test]
    fn rejects_what_is_not_one_json_value() {
        for bad in [
            "",
            " ",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            "1e",
            "-",
            "+1",
            "[1 2]",
            "{1:2}",
            "nul",
            "truex",
            "1 2",
            "{\"a\" 1}",
            "[",
            "{",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn nesting_stops_at_the_limit() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(
            parse(deep.as_bytes()).unwrap_err().what(),
            "recursion limit exceeded"
        );
    }

    #[test]
    fn pointers() {
        let v = p(r#"{"a/b": {"~x": [10, {"e": "m"}]}, "": 1}"#);
        assert_eq!(v.pointer("/a~1b/~0x/1/e"), Some(&Value::String("m".into())));
        assert_eq!(v.pointer("/a~1b/~0x/01"), None);
        assert_eq!(v.pointer("/"), Some(&json!(1)));
        assert_eq!(v.pointer(""), Some(&v));
        assert_eq!(v.pointer("a"), None);
    }

    #[test]
    fn the_macro_builds_nested_values() {
        let name = String::from("n");
        let until: Option<u64> = None;
        let v = json!({"type": "x", "name": name, "until": until, "list": [1, null, {"k": true}], "o": {}});
        assert_eq!(
            v.to_json(),
            r#"{"list":[1,null,{"k":true}],"name":"n","o":{},"type":"x","until":null}"#
        );
        assert_eq!(json!([]).to_json(), "[]");
        assert_eq!(json!(-3).to_json(), "-3");
    }

    #[test]
    fn errors_say_where() {
        let e = parse(b"{\n  \"a\": x}").unwrap_err();
        assert_eq!(e.to_string(), "expected value at line 2 column 8");
    }
}
