//! Environment proxies: loopback traffic never reaches them, remote traffic does
//!
//! One test only: it sets proxy variables for the whole process, and this file is its own process.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;

use keyhole_core::{HttpRequest, Io};
use keyhole_native::io::NativeIo;
use keyhole_native::store::{Backend, Store};

/// A proxy that records the first line of every request it gets and answers 502
fn recording_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let text = String::from_utf8_lossy(&buf[..n]);
            log.lock()
                .unwrap()
                .push(text.lines().next().unwrap_or("").to_owned());
            let _ = stream.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        }
    });
    (format!("http://{addr}"), seen)
}

/// A provider on `host` answering `{"ok":true}` to every request
fn provider(bind: &str) -> u16 {
    let listener = TcpListener::bind(bind).unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}",
            );
        }
    });
    port
}

#[test]
fn loopback_bypasses_environment_proxies_and_remote_hosts_use_them() {
    let (proxy, seen) = recording_proxy();
    // SAFETY: the only test in this process; no other thread reads the environment yet.
    unsafe {
        for name in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
        ] {
            std::env::set_var(name, &proxy);
        }
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open("keyhole-proxy-test", dir.path(), Backend::File);
    let mut io = NativeIo::new("keyhole-test", store);

    let v4 = provider("127.0.0.1:0");
    let v4_other = provider("127.0.0.2:0");
    let mut urls = vec![
        format!("http://127.0.0.1:{v4}/token"),
        format!("http://localhost:{v4}/token"),
        format!("http://127.0.0.2:{v4_other}/token"),
    ];
    if let Ok(l) = TcpListener::bind("[::1]:0") {
        drop(l);
        let v6 = provider("[::1]:0");
        urls.push(format!("http://[::1]:{v6}/token"));
    }
    for url in &urls {
        let response = io
            .send(&HttpRequest::get_json(url.parse().unwrap()))
            .unwrap_or_else(|e| panic!("{url}: {e:?}"));
        assert_eq!(response.status, 200, "{url}");
        assert_eq!(response.body, b"{\"ok\":true}", "{url}");
    }
    assert_eq!(
        *seen.lock().unwrap(),
        Vec::<String>::new(),
        "loopback requests went through the proxy"
    );

    // A remote host does go through HTTPS_PROXY (a CONNECT; the proxy refuses it, so nothing
    // leaves this machine).
    let remote = io.send(&HttpRequest::get_json(
        "https://provider.keyhole.invalid/token".parse().unwrap(),
    ));
    assert!(remote.is_err(), "{remote:?}");
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["CONNECT provider.keyhole.invalid:443 HTTP/1.1".to_owned()]
    );
}
