//! Endpoint URLs and form encoding, without the `url` crate
//!
//! The core only ever accepts absolute `http`/`https` URLs, so it parses a deliberately small
//! subset of them here instead of carrying a full WHATWG URL parser (and its IDNA tables) into the
//! wasm artefacts.
//!
//! **Contract.** The host's HTTP client parses the same string with the WHATWG parser (reqwest uses
//! the `url` crate). For every string [`HttpUrl::parse`] accepts, the scheme, host, port, path,
//! query, fragment and the serialization ([`HttpUrl::as_str`]) are exactly what
//! `url::Url::parse` gives, so the host connects to the host the core checked. Anything outside
//! the subset is refused, never reinterpreted: a refusal is an inconvenience, a disagreement would
//! be a security bug. `core/tests/url_differential.rs` checks this against the `url` crate.
//!
//! **Accepted:** `scheme://host[:port][path][?query][#fragment]` where
//! - the whole string is visible ASCII (`!` to `~`) without `\`;
//! - the scheme is `http` or `https` in any case (serialized in lower case), followed by exactly
//!   `//`;
//! - the host is a domain name of ASCII letters, digits, `-`, `_` and `.` (non-empty labels, one
//!   trailing `.` allowed, no `xn--` label; serialized in lower case) whose last label does not
//!   start with a digit; or an IPv4 address as four decimal numbers 0-255 without leading zeros;
//!   or an IPv6 address in brackets as hexadecimal pieces with at most one `::` (serialized in
//!   the compressed form, `[::1]`);
//! - the port, when present, is 1 to 5 decimal digits with a value up to 65535 (dropped when it is
//!   the scheme's default);
//! - path, query and fragment use only letters, digits, `-._~!$&()*+,;=:@/%` (and `?` in the query
//!   and fragment), so there is nothing to percent-encode; an empty path is serialized as `/`.
//!
//! **Refused:** user names and passwords (`@` before the path), backslashes, spaces, tabs, line
//! breaks and other control or non-ASCII characters, a missing or extra `/` after the scheme,
//! empty ports, percent-encoded, non-ASCII or punycode (`xn--`) hosts, hosts that end in a number
//! but are not a plain dotted IPv4 address (`0x7f.1`, `2130706433`, `127.1`, `010.0.0.1`,
//! `127.0.0.1.`), IPv6 zone ids and embedded IPv4 (`[::ffff:1.2.3.4]`), `.` and `..` path
//! segments (also as `%2e`), and in the path, query or fragment any character outside the
//! set above (`"`, `<`, `>`, `` ` ``, `{`, `}`, `'`, `|`, `^`, `[`, `]`, a second `#`: the WHATWG
//! parser percent-encodes some of these, differently in each part).

use alloc::string::String;
use alloc::vec::Vec;

/// Why [`HttpUrl::parse`] refused a string
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRefusal {
    /// A URL with a scheme other than `http` or `https`
    OtherScheme,
    /// Not in the subset of URLs keyhole accepts: what is wrong and what to do, as a phrase that
    /// follows the URL (e.g. "is not an absolute URL; write it as https://host/path")
    Unsupported(&'static str),
}

const NOT_ABSOLUTE: &str = "is not an absolute URL; write it as https://host/path";
const BAD_CHARACTER: &str = "contains a space, control character, backslash or non-ASCII \
     character; percent-encode it in the path or query (the host must be a plain ASCII name)";
const USERINFO: &str =
    "has a user name or password before `@`; remove it (keyhole sends credentials itself)";
const BAD_HOST: &str = "has a host keyhole cannot check; use a DNS name of letters, digits, \
     `-`, `_` and `.`, an IPv4 address like 127.0.0.1 or an IPv6 address like [::1]";
const BAD_PORT: &str = "has a port that is not a number from 0 to 65535; fix or remove it";
const DOT_SEGMENT: &str = "has a `.` or `..` path segment; write the path without it";
const NEEDS_ENCODING: &str = "has a character in its path, query or fragment that must be \
     percent-encoded (one of \"<>`{}'|^[]#); encode it";

/// An absolute `http` or `https` URL in the subset described in the module docs
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// The normalized URL, as `url::Url::as_str` gives it
    serialization: String,
    /// `http` (4) or `https` (5)
    scheme_end: usize,
    /// Where the host ends (the port's `:` or the path)
    host_end: usize,
    /// A port other than the scheme's default
    port: Option<u16>,
    /// Where the path (always starting with `/`) begins
    path_start: usize,
    /// The `?`, when there is a query
    query_start: Option<usize>,
    /// The `#`, when there is a fragment
    fragment_start: Option<usize>,
    /// `localhost`, 127.0.0.0/8 or `[::1]`
    loopback: bool,
}

impl HttpUrl {
    /// Parses an absolute http(s) URL, refusing anything outside the subset in the module docs
    pub fn parse(raw: &str) -> Result<Self, UrlRefusal> {
        use UrlRefusal::Unsupported;
        let colon = raw.find(':').ok_or(Unsupported(NOT_ABSOLUTE))?;
        let scheme = &raw[..colon];
        let valid_scheme = scheme.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphabetic() || (i > 0 && (b.is_ascii_digit() || b"+-.".contains(&b)))
        });
        if scheme.is_empty() || !valid_scheme {
            return Err(Unsupported(NOT_ABSOLUTE));
        }
        let https = scheme.eq_ignore_ascii_case("https");
        if !https && !scheme.eq_ignore_ascii_case("http") {
            return Err(UrlRefusal::OtherScheme);
        }
        if raw.bytes().any(|b| !b.is_ascii_graphic() || b == b'\\') {
            return Err(Unsupported(BAD_CHARACTER));
        }
        let rest = raw[colon + 1..]
            .strip_prefix("//")
            .filter(|rest| !rest.starts_with('/'))
            .ok_or(Unsupported(NOT_ABSOLUTE))?;
        let authority_end = end_before(rest, b"/?#");
        let (authority, tail) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(Unsupported(USERINFO));
        }
        // The port's `:` is the first one outside an IPv6 address's brackets.
        let host_len = match authority.strip_prefix('[') {
            Some(inner) => inner.find(']').map_or(authority.len(), |i| i + 2),
            None => authority.find(':').unwrap_or(authority.len()),
        };
        let (host, port) = authority.split_at(host_len);

        let mut serialization = String::with_capacity(raw.len() + 1);
        serialization.push_str(if https { "https://" } else { "http://" });
        let scheme_end = serialization.len() - 3;
        let loopback = push_host(host, &mut serialization).ok_or(Unsupported(BAD_HOST))?;
        let host_end = serialization.len();
        let port = match port.strip_prefix(':') {
            None if port.is_empty() => None,
            None => return Err(Unsupported(BAD_HOST)),
            Some(digits) => {
                let port = parse_port(digits).ok_or(Unsupported(BAD_PORT))?;
                (port != if https { 443 } else { 80 }).then_some(port)
            }
        };
        if let Some(port) = port {
            serialization.push(':');
            crate::json::push_u64(&mut serialization, u64::from(port));
        }

        // The path ends at the first `?` or `#`, the query at the first `#`; after that, a `?` is
        // plain text and a second `#` is refused with the rest.
        let fragment_at = tail.find('#');
        if !tail
            .bytes()
            .enumerate()
            .all(|(i, b)| is_plain_url_byte(b) || Some(i) == fragment_at)
        {
            return Err(Unsupported(NEEDS_ENCODING));
        }
        let (path, after_path) = tail.split_at(end_before(tail, b"?#"));
        if path.split('/').any(is_dot_segment) {
            return Err(Unsupported(DOT_SEGMENT));
        }
        let path_start = serialization.len();
        serialization.push_str(if path.is_empty() { "/" } else { path });
        let after_path_start = serialization.len();
        serialization.push_str(after_path);
        let query_start = after_path.starts_with('?').then_some(after_path_start);
        let fragment_start = after_path.find('#').map(|i| after_path_start + i);
        Ok(Self {
            serialization,
            scheme_end,
            host_end,
            port,
            path_start,
            query_start,
            fragment_start,
            loopback,
        })
    }

    /// The normalized URL (lower-case scheme and host, no default port, `/` for an empty path)
    pub fn as_str(&self) -> &str {
        &self.serialization
    }

    /// The normalized URL as an owned string
    pub fn into_string(self) -> String {
        self.serialization
    }

    /// `http` or `https`
    pub fn scheme(&self) -> &str {
        &self.serialization[..self.scheme_end]
    }

    /// The host as serialized: a lower-case domain, a dotted IPv4 address or a bracketed IPv6
    /// address (what `url::Url::host_str` gives)
    pub fn host(&self) -> &str {
        &self.serialization[self.scheme_end + 3..self.host_end]
    }

    /// The port, when it is not the scheme's default
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port, or the scheme's default (80, 443)
    pub fn port_or_default(&self) -> u16 {
        let default = if self.scheme_end == 5 { 443 } else { 80 };
        self.port.unwrap_or(default)
    }

    /// `scheme://host[:port]`, as serialized
    pub fn origin(&self) -> &str {
        &self.serialization[..self.path_start]
    }

    /// The path, starting with `/`
    pub fn path(&self) -> &str {
        let end = self
            .query_start
            .or(self.fragment_start)
            .unwrap_or(self.serialization.len());
        &self.serialization[self.path_start..end]
    }

    /// The query without its `?`, when there is one (possibly empty)
    pub fn query(&self) -> Option<&str> {
        let end = self.fragment_start.unwrap_or(self.serialization.len());
        self.query_start
            .map(|start| &self.serialization[start + 1..end])
    }

    /// The fragment without its `#`, when there is one (possibly empty)
    pub fn fragment(&self) -> Option<&str> {
        self.fragment_start
            .map(|start| &self.serialization[start + 1..])
    }

    /// Whether the host is `localhost`, in 127.0.0.0/8 or `[::1]`
    pub fn is_loopback(&self) -> bool {
        self.loopback
    }

    /// The URL with `pairs` form-encoded after any query it has (and before its fragment), as
    /// `url::Url::query_pairs_mut` appends them
    pub fn with_query_pairs(&self, pairs: &[(&str, &str)]) -> String {
        let end = self.fragment_start.unwrap_or(self.serialization.len());
        let mut out = String::with_capacity(self.serialization.len() + 256);
        out.push_str(&self.serialization[..end]);
        let start = match self.query_start {
            Some(start) => start + 1,
            None => {
                out.push('?');
                out.len()
            }
        };
        for (name, value) in pairs {
            append_form_pair(&mut out, start, name, value);
        }
        out.push_str(&self.serialization[end..]);
        out
    }
}

/// Whether a host as a URL serializes it (`url::Url::host_str`) is `localhost`, in 127.0.0.0/8
/// or `[::1]`; hosts outside [`HttpUrl`]'s subset are not loopback
pub fn is_loopback_host(host: &str) -> bool {
    push_host(host, &mut String::new()) == Some(true)
}

/// Where `text` reaches one of the ASCII `stops`, or its length
fn end_before(text: &str, stops: &[u8]) -> usize {
    text.bytes()
        .position(|b| stops.contains(&b))
        .unwrap_or(text.len())
}

/// Letters, digits and `-._~!$&()*+,;=:@/?%`: what a path, query or fragment may hold without the
/// WHATWG parser changing it (a `?` only ever reaches the query or fragment)
fn is_plain_url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&()*+,;=:@/?%".contains(&b)
}

/// Whether a path segment is made only of `.` and `%2e` (the parser would treat `.`, `..` and
/// their encoded forms as dot segments; longer runs are refused too, to stay simple)
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', b'e' | b'E', tail @ ..] => tail,
            _ => return false,
        };
    }
    !segment.is_empty()
}

/// Appends the serialized host; `Some(loopback)`, or `None` outside the subset
fn push_host(host: &str, out: &mut String) -> Option<bool> {
    if let Some(inner) = host.strip_prefix('[') {
        let pieces = parse_ipv6(inner.strip_suffix(']')?)?;
        push_ipv6(&pieces, out);
        return Some(pieces == [0, 0, 0, 0, 0, 0, 0, 1]);
    }
    let labels = host.strip_suffix('.').unwrap_or(host);
    let last = labels.rsplit('.').next().unwrap_or(labels);
    if last.starts_with(|c: char| c.is_ascii_digit()) {
        // The WHATWG parser reads a host ending in a number as IPv4, in forms (hex, octal, fewer
        // parts) that this parser does not implement: only the plain dotted form is accepted.
        let octets = parse_ipv4(host)?;
        out.push_str(host);
        return Some(octets[0] == 127);
    }
    let valid = labels.split('.').all(|label| {
        !label.is_empty()
            && !label
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if !valid {
        return None;
    }
    let start = out.len();
    out.push_str(host);
    out[start..].make_ascii_lowercase();
    Some(&out[start..] == "localhost")
}

/// Four decimal numbers 0-255 without leading zeros, separated by dots
fn parse_ipv4(host: &str) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut parts = host.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part.starts_with('0')) {
            return None;
        }
        *octet = u8::try_from(parse_decimal(part)?).ok()?;
    }
    parts.next().is_none().then_some(octets)
}

/// Hexadecimal pieces of 1-4 digits separated by `:`, with at most one `::` standing for one or
/// more zero pieces
fn parse_ipv6(text: &str) -> Option<[u16; 8]> {
    let (head, tail) = match text.split_once("::") {
        Some((head, tail)) => (head, Some(tail)),
        None => (text, None),
    };
    let mut pieces = [0u16; 8];
    let head_len = parse_hex_pieces(head, &mut pieces)?;
    match tail {
        None if head_len == 8 => Some(pieces),
        None => None,
        Some(tail) => {
            let mut tail_pieces = [0u16; 8];
            let tail_len = parse_hex_pieces(tail, &mut tail_pieces)?;
            if head_len + tail_len > 7 {
                return None;
            }
            pieces[8 - tail_len..].copy_from_slice(&tail_pieces[..tail_len]);
            Some(pieces)
        }
    }
}

/// Fills `pieces` from `a:b:c` (or nothing from an empty string); the number of pieces read
fn parse_hex_pieces(text: &str, pieces: &mut [u16; 8]) -> Option<usize> {
    if text.is_empty() {
        return Some(0);
    }
    let mut count = 0;
    for piece in text.split(':') {
        if piece.is_empty() || piece.len() > 4 || count == 8 {
            return None;
        }
        let mut value = 0u16;
        for c in piece.chars() {
            value = (value << 4) | c.to_digit(16)? as u16;
        }
        pieces[count] = value;
        count += 1;
    }
    Some(count)
}

/// The WHATWG IPv6 serializer: lower-case hex, the first longest run of two or more zero
/// pieces written as `::`, in brackets
fn push_ipv6(pieces: &[u16; 8], out: &mut String) {
    let (mut run_start, mut run_len) = (8, 1);
    let mut i = 0;
    while i < 8 {
        let start = i;
        while i < 8 && pieces[i] == 0 {
            i += 1;
        }
        if i - start > run_len {
            (run_start, run_len) = (start, i - start);
        }
        i = i.max(start + 1);
    }
    out.push('[');
    let mut i = 0;
    while i < 8 {
        if i == run_start {
            out.push_str(if i == 0 { "::" } else { ":" });
            i += run_len;
            if i == 8 {
                break;
            }
        }
        let piece = pieces[i];
        let mut shift = 12;
        while shift > 0 && piece >> shift == 0 {
            shift -= 4;
        }
        loop {
            out.push(hex_digit((piece >> shift) as u8, false));
            if shift == 0 {
                break;
            }
            shift -= 4;
        }
        if i < 7 {
            out.push(':');
        }
        i += 1;
    }
    out.push(']');
}

/// A port: 1-5 decimal digits, at most 65535
fn parse_port(digits: &str) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 {
        return None;
    }
    u16::try_from(parse_decimal(digits)?).ok()
}

/// ASCII decimal digits (at most five) as a number
fn parse_decimal(digits: &str) -> Option<u32> {
    digits.bytes().try_fold(0u32, |value, b| {
        b.is_ascii_digit().then(|| value * 10 + u32::from(b - b'0'))
    })
}

/// The hexadecimal digit of the low four bits, in upper or lower case
fn hex_digit(nibble: u8, upper: bool) -> char {
    let digit = char::from(b"0123456789ABCDEF"[usize::from(nibble & 15)]);
    if upper {
        digit
    } else {
        digit.to_ascii_lowercase()
    }
}

/// Appends `name=value` as `application/x-www-form-urlencoded`, exactly as the `url` crate's
/// `form_urlencoded::Serializer::append_pair` does: `&` first when `out` is longer than `start`
/// (where the form begins), letters, digits and `*-._` as they are, space as `+`, every other
/// byte as upper-case `%XX`
pub fn append_form_pair(out: &mut String, start: usize, name: &str, value: &str) {
    if out.len() > start {
        out.push('&');
    }
    push_form_encoded(out, name);
    out.push('=');
    push_form_encoded(out, value);
}

fn push_form_encoded(out: &mut String, text: &str) {
    // Unreserved runs are copied whole: byte-by-byte pushes each check the capacity, which is
    // most of a form's cost in the component.
    out.reserve(text.len());
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if matches!(b, b'*' | b'-' | b'.' | b'_') || b.is_ascii_alphanumeric() {
            continue;
        }
        // A run of unreserved bytes is ASCII, so a non-empty one starts on a char boundary
        // (`start` may sit inside a multi-byte char whose bytes are all escaped).
        if start < i {
            out.push_str(&text[start..i]);
        }
        if b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(hex_digit(b >> 4, true));
            out.push(hex_digit(b, true));
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

/// The `name=value` pairs of a form-encoded query, decoded as the `url` crate's
/// `form_urlencoded::parse` (and so `Url::query_pairs`) does: split on `&` (skipping empty
/// parts), then on the first `=`, `+` as space, `%XX` decoded (a malformed `%` kept as it is),
/// invalid UTF-8 replaced by U+FFFD
pub fn form_pairs(query: &str) -> FormPairs<'_> {
    FormPairs { rest: query }
}

/// The iterator [`form_pairs`] returns
///
/// Without `Debug`: it holds the rest of a query such as a browser login's callback, whose `code`
/// is a secret.
#[derive(Clone)]
pub struct FormPairs<'a> {
    rest: &'a str,
}

impl Iterator for FormPairs<'_> {
    type Item = (String, String);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            let (part, rest) = self.rest.split_once('&').unwrap_or((self.rest, ""));
            self.rest = rest;
            if !part.is_empty() {
                let (name, value) = part.split_once('=').unwrap_or((part, ""));
                return Some((form_decode(name), form_decode(value)));
            }
        }
        None
    }
}

fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|&b| char::from(b).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
            (b'+', ..) => out.push(b' '),
            (b, ..) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query of an HTTP request target (origin-form, `/path?query`) whose path is exactly
/// `path`; `None` for another path or a target holding spaces or control characters
///
/// What `url::Url::parse("http://127.0.0.1/").join(target)` then `path()`/`query()` give for such
/// targets, without the relative-reference resolution: `/a/../callback`, `//host/callback` and
/// absolute URLs are simply not `path`.
pub fn target_query<'a>(target: &'a str, path: &str) -> Option<&'a str> {
    if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return None;
    }
    let before_fragment = target.split('#').next().unwrap_or(target);
    let (target_path, query) = before_fragment
        .split_once('?')
        .unwrap_or((before_fragment, ""));
    (target_path == path).then_some(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> String {
        HttpUrl::parse(raw)
            .map(HttpUrl::into_string)
            .unwrap_or_default()
    }

    #[test]
    fn normalizes_like_the_whatwg_parser() {
        assert_eq!(
            parsed("HTTPS://IdP.Example.COM"),
            "https://idp.example.com/"
        );
        assert_eq!(
            parsed("https://x.example:443/a?b#c"),
            "https://x.example/a?b#c"
        );
        assert_eq!(
            parsed("http://127.0.0.1:08080/t"),
            "http://127.0.0.1:8080/t"
        );
        assert_eq!(parsed("http://[0:0::1]:9/"), "http://[::1]:9/");
        assert_eq!(
            parsed("https://[1:0:0:2:0:0:0:3]/"),
            "https://[1:0:0:2::3]/"
        );
        assert_eq!(parsed("https://x.example?"), "https://x.example/?");
    }

    #[test]
    fn refuses_what_it_does_not_implement() {
        for raw in [
            "https://user:pw@x.example/",
            "https://x.example\\@evil.example/",
            "http:/x.example/",
            "http:///x.example/",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://127.1/",
            "http://127.0.0.1./",
            "http://[::1%25eth0]/",
            "http://[::ffff:127.0.0.1]/",
            "https://x.example/a/../b",
            "https://x.example/a/%2E%2e/b",
            "https://x.example/a b",
            "https://xn--nxasmq6b.example/",
            "https://%6c%6fcalhost/",
            "https://x.example:/",
            "https://x.example:65536/",
        ] {
            assert!(
                matches!(HttpUrl::parse(raw), Err(UrlRefusal::Unsupported(_))),
                "{raw}"
            );
        }
        assert_eq!(
            HttpUrl::parse("ftp://x.example/"),
            Err(UrlRefusal::OtherScheme)
        );
    }

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "127.0.0.1", "127.255.0.9", "[::1]"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "localhost.",
            "128.0.0.1",
            "[::2]",
            "[::ffff:7f00:1]",
            "127.0.0.1.x",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn form_round_trip() {
        let mut out = String::new();
        append_form_pair(&mut out, 0, "a b", "c&d=é*~");
        append_form_pair(&mut out, 0, "", "");
        assert_eq!(out, "a+b=c%26d%3D%C3%A9*%7E&=");
        let pairs: Vec<_> = form_pairs(&out).collect();
        assert_eq!(pairs[0], ("a b".into(), "c&d=é*~".into()));
        assert_eq!(form_decode("%zz%4+%e9"), "%zz%4 \u{fffd}");
    }
}
