//! Differential test: `keyhole_core::url` against the `url` crate, the WHATWG parser that hosts'
//! HTTP clients (reqwest) use
//!
//! The contract (see core/src/url.rs): whatever the core accepts, the host's parser reads the same
//! way, down to the serialization; what the core is not sure of, it refuses. So for every input:
//! our accept ⇒ `url` accepts with identical `as_str`, scheme, host, port, path, query, fragment
//! and origin, and our loopback verdict is the one `url::Host` gives. Refusals are not compared.
//! Generated inputs come from an alphabet rich in the characters parsers disagree about; a second
//! generator builds URLs inside the subset and checks they are accepted (so the first property
//! cannot pass by refusing everything).

use std::net::IpAddr;

use keyhole_core::url::{
    HttpUrl, UrlRefusal, append_form_pair, form_pairs, is_loopback_host, target_query,
};
use proptest::prelude::*;

/// The loopback rule computed from the WHATWG parser's own host (what keyhole used before)
fn whatwg_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// `url::Url::parse`, with a panic counted as a refusal
///
/// The ASCII-only `idna_adapter` (1.0.0, which Cargo.lock pins for the hosts) has a
/// `debug_assert!` that some non-ASCII hosts trip (e.g. `http:///0Xé`); release builds refuse
/// those hosts instead. Keyhole refuses every non-ASCII host, which `agrees` then checks.
fn whatwg_parse(raw: &str) -> Result<url::Url, String> {
    match std::panic::catch_unwind(|| url::Url::parse(raw)) {
        Ok(parsed) => parsed.map_err(|e| e.to_string()),
        Err(_) => Err("url panicked".into()),
    }
}

/// Our accept ⇒ the WHATWG parser agrees on every part; `true` when we accepted
fn agrees(raw: &str) -> bool {
    let theirs = whatwg_parse(raw);
    if let Ok(theirs) = &theirs
        && matches!(theirs.scheme(), "http" | "https")
    {
        // host-native checks the host of url's own parse with this function.
        assert_eq!(
            is_loopback_host(theirs.host_str().unwrap_or("")),
            whatwg_loopback(theirs),
            "loopback verdict for the host of {raw:?}"
        );
    }
    let Ok(ours) = HttpUrl::parse(raw) else {
        return false;
    };
    let theirs = theirs.unwrap_or_else(|e| panic!("we accept {raw:?}, url refuses it: {e}"));
    assert_eq!(ours.as_str(), theirs.as_str(), "serialization of {raw:?}");
    assert_eq!(ours.scheme(), theirs.scheme(), "scheme of {raw:?}");
    assert_eq!(Some(ours.host()), theirs.host_str(), "host of {raw:?}");
    assert_eq!(ours.port(), theirs.port(), "port of {raw:?}");
    assert_eq!(
        Some(ours.port_or_default()),
        theirs.port_or_known_default(),
        "port of {raw:?}"
    );
    assert_eq!(ours.path(), theirs.path(), "path of {raw:?}");
    assert_eq!(ours.query(), theirs.query(), "query of {raw:?}");
    assert_eq!(ours.fragment(), theirs.fragment(), "fragment of {raw:?}");
    assert_eq!(
        ours.origin(),
        theirs.origin().ascii_serialization(),
        "origin of {raw:?}"
    );
    assert_eq!(
        ours.is_loopback(),
        whatwg_loopback(&theirs),
        "loopback verdict for {raw:?}"
    );
    true
}

/// `with_query_pairs` is `query_pairs_mut().append_pair(..)` on the same URL
fn appends_like_url(raw: &str, pairs: &[(&str, &str)]) {
    let Ok(ours) = HttpUrl::parse(raw) else {
        return;
    };
    let mut theirs = whatwg_parse(raw).expect("agrees() checked it");
    {
        let mut query = theirs.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
    }
    assert_eq!(ours.with_query_pairs(pairs), theirs.as_str(), "{raw:?}");
}

/// Hand-picked inputs where parsers are known to differ, or that try to smuggle a host
const NASTY: &[&str] = &[
    "https://idp.example.com/token",
    "HTTPS://IDP.EXAMPLE.COM",
    "https://idp.example.com:443/",
    "http://idp.example.com:80",
    "https://idp.example.com:0443/a",
    "https://idp.example.com:/",
    "https://idp.example.com:65535/",
    "https://idp.example.com:65536/",
    "https://idp.example.com:99999999999999999999/",
    "https://idp.example.com:+1/",
    "http://127.0.0.1:8080/token",
    "http://127.9.9.9/token",
    "http://[::1]:9/token",
    "http://localhost:9/token",
    "http://LocalHost/",
    "http://localhost./",
    "http://localhost.evil.com/",
    "http://127.0.0.1.evil.com/token",
    "http://127.0.0.1./",
    "http://127.1/",
    "http://127.0.1/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://127.000.000.001/",
    "http://0/",
    "http://0.0.0.0/",
    "http://256.0.0.1/",
    "http://1.2.3.4.5/",
    "http://foo.1/",
    "http://foo.0x1/",
    "http://1foo.example/",
    "http://example.1a/",
    "http://%31%32%37.0.0.1/",
    "http://%6c%6fcalhost/",
    "http://loc%61lhost/",
    "http://[::1]/",
    "http://[::]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[0000:0000:0000:0000:0000:0000:0000:0001]/",
    "http://[::0:1]/",
    "http://[1::]/",
    "http://[1:2:3:4:5:6:7::]/",
    "http://[::1:2:3:4:5:6:7]/",
    "http://[1:2:3:4:5:6:7:8]/",
    "http://[::1:2:3:4:5:6:7:8]/",
    "http://[1:2:3:4:5:6:7:8::]/",
    "http://[1:0:0:2:0:0:0:3]/",
    "http://[1:0:0:0:2:0:0:3]/",
    "http://[0:0:1:0:0:0:0:0]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::1%25eth0]/",
    "http://[::1]x/",
    "http://[::1/",
    "http://::1/",
    "http://[:1]/",
    "http://[1:::2]/",
    "http://[12345::]/",
    "http://[gg::]/",
    "https://user:pw@idp.example.com/",
    "https://@idp.example.com/",
    "http://evil.com#@localhost/",
    "http://evil.com?@localhost/",
    "http://localhost\\@evil.com/",
    "http://evil.com\\@localhost/",
    "http://[::1]@evil.com/",
    "https://evil.com:443@localhost/",
    "http:evil.com",
    "http:/evil.com",
    "http:///evil.com",
    "http:\\\\evil.com",
    "http:/\\evil.com",
    " http://localhost/",
    "http://localhost/ ",
    "http://local\thost/",
    "http://localhost\n.evil.com/",
    "http://local host/",
    "https://idp.example.com/a b",
    "https://idp.example.com/a\u{7f}b",
    "https://idp.exámple.com/",
    "https://ｌｏｃａｌｈｏｓｔ/",
    "https://xn--nxasmq6b.example/",
    "https://XN--nxasmq6b.example/",
    "https://xn--.example/",
    "https://a..b/",
    "https://a./",
    "https://.a/",
    "https://a_b.example/",
    "https://-a-.example/",
    "https://a--b.example/",
    "https://ab--c.example/",
    "https://idp.example.com/tenant/./x",
    "https://idp.example.com/tenant/../x",
    "https://idp.example.com/tenant/%2e%2E/x",
    "https://idp.example.com/tenant/.%2e",
    "https://idp.example.com/tenant/...",
    "https://idp.example.com/.well-known/openid-configuration",
    "https://idp.example.com/a%2fb%zz",
    "https://idp.example.com/a;b=c,d!$&'()*+",
    "https://idp.example.com/a{b}",
    "https://idp.example.com/a^b|c",
    "https://idp.example.com/a[b]",
    "https://idp.example.com/a`b",
    "https://idp.example.com/a\"b",
    "https://idp.example.com/?",
    "https://idp.example.com?",
    "https://idp.example.com#",
    "https://idp.example.com/?a=b&c=d/?e:@",
    "https://idp.example.com/?a='b'",
    "https://idp.example.com/?a=<b>",
    "https://idp.example.com/#f?g/h",
    "https://idp.example.com/#f#g",
    "https://idp.example.com/?q#f",
    "https://idp.example.com//double//slash",
    "ftp://idp.example.com/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "localhost:8080",
    "not a url",
    "",
    "https:",
    "https://",
    "https:///",
    "https://:443/",
];

#[test]
fn nasty_inputs_are_refused_or_read_the_same_way() {
    let accepted = NASTY.iter().filter(|raw| agrees(raw)).count();
    for raw in NASTY {
        appends_like_url(raw, &[("response_type", "code"), ("scope", "openid email")]);
    }
    // The table mixes both on purpose: make sure it still does.
    assert!(accepted > 40, "only {accepted} accepted");
}

#[test]
fn the_subset_is_what_the_module_docs_promise() {
    let refused = |raw: &str| matches!(HttpUrl::parse(raw), Err(UrlRefusal::Unsupported(_)));
    for raw in [
        "https://user:pw@idp.example.com/",
        "http://evil.com\\@localhost/",
        "http:evil.com",
        "http:///evil.com",
        "http://0x7f.1/",
        "http://2130706433/",
        "http://127.1/",
        "http://0177.0.0.1/",
        "http://127.0.0.1./",
        "http://%6c%6fcalhost/",
        "https://idp.exámple.com/",
        "https://xn--nxasmq6b.example/",
        "http://[::1%25eth0]/",
        "http://[::ffff:127.0.0.1]/",
        "https://idp.example.com/tenant/%2e%2E/x",
        "https://idp.example.com/a b",
        "https://idp.example.com/?a='b'",
        "https://idp.example.com:/",
    ] {
        assert!(refused(raw), "{raw}");
    }
    assert_eq!(HttpUrl::parse("ftp://x/"), Err(UrlRefusal::OtherScheme));
    let loopback = |raw: &str| HttpUrl::parse(raw).map(|u| u.is_loopback());
    assert_eq!(loopback("http://LOCALHOST:1/"), Ok(true));
    assert_eq!(loopback("http://127.200.1.1/"), Ok(true));
    assert_eq!(loopback("http://[0::1]/"), Ok(true));
    assert_eq!(loopback("http://localhost./"), Ok(false));
    assert_eq!(loopback("http://[::ffff:7f00:1]/"), Ok(false));
    assert_eq!(loopback("http://127.0.0.1.evil.com/"), Ok(false));
}

fn strung(pieces: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(pieces), 0..max).prop_map(|parts| parts.concat())
}

/// What a host might be made of
#[rustfmt::skip]
const HOSTISH: &[&str] = &[
    "127", "0", "1", "255", "256", "0x7f", "0X", "010", "08", ".", "localhost", "LOCALHOST",
    "example", "com", "xn--", "xn--nxasmq6b", "a", "B", "_", "-", "[", "]", "::", "::1", ":1",
    "ffff", ":", ":80", ":443", ":08080", ":65535", ":65536", ":0", "%6c", "%2e", "@", "é",
    "1.2.3.4",
];

/// What a path, query or fragment might be made of
#[rustfmt::skip]
const RESTISH: &[&str] = &[
    ".", "..", "%2e", "%2E", "/", "/", "?", "#", "a", "%", "%41", "%zz", "'", "\"", "{", "}",
    "|", "^", "[", "]", "\\", "@", ":", "&", "=", "+", " ", "é", "~", "`", "<", ">", "\t",
    "!", "$", "(", "*", ",", ";",
];

/// What else parsers treat specially: schemes, slashes, controls, look-alike letters
#[rustfmt::skip]
const ODD: &[&str] = &[
    "http", "https", "HtTpS", "ftp", "//", "\n", "\r", "\u{0}", "\u{7f}", "ß", "ａ",
    "\u{200b}",
];

/// Any of the pieces above, strung together
fn tricky_string(max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(HOSTISH),
        prop::sample::select(RESTISH),
        prop::sample::select(ODD),
    ];
    prop::collection::vec(piece, 0..max).prop_map(|parts| parts.concat())
}

/// Mostly `scheme://authority/rest`, so that the interesting part is the host and what follows
fn hostile_url() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(&["http", "https", "HTTP", "hTtPs", "ftp", "h"][..]);
    let slashes =
        prop::sample::select(&["://", "://", "://", ":/", ":///", ":\\\\", ":", ":/\\"][..]);
    prop_oneof![
        tricky_string(16),
        (scheme.clone(), slashes, tricky_string(8), tricky_string(10))
            .prop_map(|(s, sl, host, rest)| format!("{s}{sl}{host}{rest}")),
        (scheme.clone(), strung(HOSTISH, 6), strung(RESTISH, 8))
            .prop_map(|(s, host, rest)| format!("{s}://{host}/{rest}")),
        (scheme, strung(RESTISH, 12)).prop_map(|(s, rest)| format!("{s}://example.com/{rest}")),
    ]
}

/// URLs built inside the subset: all must be accepted
fn subset_url() -> impl Strategy<Value = String> {
    let scheme = "[hH][tT][tT][pP][sS]?";
    let label = "[a-zA-Z0-9_-]{1,8}";
    let domain = (
        prop::collection::vec(label, 0..3),
        "[a-zA-Z_-][a-zA-Z0-9_-]{0,6}",
        "\\.?",
    )
        .prop_map(|(labels, last, dot)| {
            let mut host = labels.join(".");
            if !host.is_empty() {
                host.push('.');
            }
            format!("{host}{last}{dot}")
        })
        .prop_filter("no punycode", |h| {
            !h.split('.')
                .any(|l| l.to_ascii_lowercase().starts_with("xn--"))
        });
    let ipv4 = any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]));
    let ipv6 = (
        any::<[u16; 8]>(),
        prop::collection::vec(any::<bool>(), 8),
        0usize..9,
        0usize..8,
    )
        .prop_map(|(mut pieces, zero, run_at, run_len)| {
            for (piece, zero) in pieces.iter_mut().zip(zero) {
                if zero {
                    *piece = 0;
                }
            }
            let text: Vec<String> = pieces
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    if i % 2 == 0 {
                        format!("{p:x}")
                    } else {
                        format!("{p:04X}")
                    }
                })
                .collect();
            // Write a run of pieces as `::` when they are all zero and there are at least 1.
            let end = (run_at + run_len).min(8);
            if run_at < 8 && end > run_at && pieces[run_at..end].iter().all(|&p| p == 0) {
                format!("[{}::{}]", text[..run_at].join(":"), text[end..].join(":"))
            } else {
                format!("[{}]", text.join(":"))
            }
        });
    let host = prop_oneof![domain, ipv4, ipv6, Just("localhost".to_owned())];
    let port = prop::option::of(any::<u16>().prop_map(|p| format!(":{p}")));
    // Segments of only `.` and `%2e` are refused (dot segments and their look-alikes).
    let segment = "[a-zA-Z0-9._~!$&()*+,;=:@%-]{0,6}".prop_filter("no dot segments", |s| {
        let t = s.to_ascii_lowercase().replace("%2e", ".");
        t.is_empty() || t.chars().any(|c| c != '.')
    });
    let path = prop::collection::vec(segment, 0..4)
        .prop_map(|s| s.iter().map(|s| format!("/{s}")).collect::<String>());
    let query = prop::option::of("[a-zA-Z0-9._~!$&()*+,;=:@%/?-]{0,12}");
    let fragment = prop::option::of("[a-zA-Z0-9._~!$&()*+,;=:@%/?-]{0,6}");
    (scheme, host, port, path, query, fragment).prop_map(|(s, h, p, path, q, f)| {
        let mut url = format!("{s}://{h}{}{path}", p.unwrap_or_default());
        if let Some(q) = q {
            url.push('?');
            url.push_str(&q);
        }
        if let Some(f) = f {
            url.push('#');
            url.push_str(&f);
        }
        url
    })
}

/// Request targets a browser, or something pretending to be one, might send to the callback
fn hostile_target() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(
        &[
            "/callback",
            "/callback",
            "/",
            "?",
            "#",
            "&",
            "=",
            "+",
            "%",
            "%2",
            "%20",
            "%2B",
            "%zz",
            "%C3%A9",
            "%FF",
            "%e9",
            "é",
            "code",
            "state",
            "iss",
            " ",
            "\t",
            "\\",
            "..",
            "//",
            "x",
            "'",
            "\"",
            "<",
            ";",
        ][..],
    );
    prop::collection::vec(pieces, 0..12).prop_map(|p| p.concat())
}

fn form_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop::sample::select(
                &[
                    "a", "Z", "0", " ", "+", "%", "%2", "%41", "&", "=", "é", "*", "~", "-", "._",
                    "\u{0}", "/"
                ][..]
            ),
            0..10
        )
        .prop_map(|p| p.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn hostile_strings_are_refused_or_read_the_same_way(raw in hostile_url()) {
        if agrees(&raw) {
            appends_like_url(&raw, &[("state", "s t"), ("redirect_uri", "http://127.0.0.1:1/callback")]);
        }
    }

    #[test]
    fn urls_in_the_subset_are_accepted(raw in subset_url()) {
        prop_assert!(agrees(&raw), "refused {raw:?}: {:?}", HttpUrl::parse(&raw));
    }

    #[test]
    fn the_callback_reader_reads_what_url_reads(target in hostile_target()) {
        if let Some(query) = target_query(&target, "/callback") {
            let base = url::Url::parse("http://127.0.0.1/").unwrap();
            let theirs = base.join(&target).unwrap();
            prop_assert_eq!(theirs.path(), "/callback");
            let ours: Vec<(String, String)> = form_pairs(query).collect();
            let theirs: Vec<(String, String)> =
                theirs.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn form_decoding_matches_url(query in form_text()) {
        let ours: Vec<(String, String)> = form_pairs(&query).collect();
        let theirs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn form_encoding_matches_url(pairs in prop::collection::vec((form_text(), form_text()), 0..4)) {
        let mut ours = String::new();
        let mut theirs = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &pairs {
            append_form_pair(&mut ours, 0, name, value);
            theirs.append_pair(name, value);
        }
        prop_assert_eq!(ours, theirs.finish());
    }
}
