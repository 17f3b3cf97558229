//! TLS trusts the OS store and `SSL_CERT_FILE`, not only the bundled roots
//!
//! One test only: it sets `SSL_CERT_FILE` for the whole process, and this file is its own process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use keyhole_core::{HttpRequest, Io};
use keyhole_native::io::NativeIo;
use keyhole_native::store::{Backend, Store};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// An HTTPS server (python3's ssl) on 127.0.0.1 with the given chain; it answers `{"ok":true}`
const SERVER: &str = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header('content-type', 'application/json')
        self.send_header('content-length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(('127.0.0.1', 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_private_ca_in_ssl_cert_file_is_trusted_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "keyhole test private CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let (ca_pem, chain_pem, key_pem) = (
        dir.path().join("ca.pem"),
        dir.path().join("chain.pem"),
        dir.path().join("key.pem"),
    );
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    std::fs::write(&chain_pem, server_cert.pem()).unwrap();
    std::fs::write(&key_pem, server_key.serialize_pem()).unwrap();

    let mut child = Command::new("python3")
        .arg("-c")
        .arg(SERVER)
        .arg(&chain_pem)
        .arg(&key_pem)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);
    let mut port = String::new();
    BufReader::new(stdout).read_line(&mut port).unwrap();
    let url = format!("https://localhost:{}/", port.trim());

    let request = |tag: &str| {
        let store = Store::open(tag, dir.path(), Backend::File);
        NativeIo::new("keyhole-test", store).send(&HttpRequest::get_json(url.parse().unwrap()))
    };
    // SAFETY: the only test in this process; reqwest reads the variable when a client is built.
    unsafe {
        std::env::remove_var("SSL_CERT_FILE");
        std::env::remove_var("SSL_CERT_DIR");
    }
    let untrusted = request("without");
    assert!(
        untrusted.is_err(),
        "an unknown CA was trusted: {untrusted:?}"
    );

    unsafe { std::env::set_var("SSL_CERT_FILE", &ca_pem) };
    let trusted = request("with").expect("the CA in SSL_CERT_FILE is trusted");
    assert_eq!(trusted.status, 200);
    assert_eq!(trusted.body, b"{\"ok\":true}");
}
