//! The credential helpers driven by the real tools, or byte for byte as the tools document them:
//! git (`git credential fill` through `setup-git`'s config, a refresh shared by concurrent fills),
//! kubectl (an exec user against a loopback API server that checks the bearer token), docker
//! (docker-credential-helpers' protocol under the `docker-credential-keyhole` name, and the
//! docker CLI's `logout`, which needs no daemon) and Terraform (`terraform-credentials-keyhole`).
//! No helper ever prints the secret on stderr.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{
    COMMAND_DEADLINE, Env, Provider, Run, Spawned, keyhole_bin, require_tool, run_with_input,
};

/// `127.0.0.1:PORT`, the host every URL of the test provider has
fn provider_host(provider: &Provider) -> String {
    let url = url::Url::parse(&provider.issuer).expect("the issuer is a URL");
    format!(
        "{}:{}",
        url.host_str().expect("the issuer has a host"),
        url.port().expect("the provider listens on a chosen port")
    )
}

fn logged_in(provider: &Provider, login: &str) -> Env {
    let mut env = Env::new();
    let root = env.root().to_path_buf();
    env.set(
        "GIT_CONFIG_GLOBAL",
        root.join("gitconfig").to_string_lossy(),
    )
    .set("GIT_CONFIG_NOSYSTEM", "1")
    .set("GIT_TERMINAL_PROMPT", "0")
    .set("DOCKER_CONFIG", root.join("docker").to_string_lossy());
    env.add_remote("dev", provider, &[]);
    env.device_login(provider, login, &[]);
    env
}

fn in_env(env: &Env, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    env.apply(&mut cmd);
    cmd
}

fn run_in(env: &Env, cmd: &mut Command, input: &str) -> Run {
    let _ = env;
    run_with_input(cmd, Some(input.as_bytes()), COMMAND_DEADLINE)
}

#[track_caller]
fn assert_no_secret(run: &Run, secret: &str) {
    assert!(!secret.is_empty());
    assert!(
        !run.stderr.contains(secret),
        "the secret is on stderr:\n{}",
        run.describe()
    );
}

/// `git credential fill` for `https://host`, parsed
fn fill(env: &Env, host: &str) -> (Run, Vec<(String, String)>) {
    let run = run_in(
        env,
        in_env(env, "git").args(["credential", "fill"]),
        &format!("protocol=https\nhost={host}\n\n"),
    );
    let pairs = run
        .stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (run, pairs)
}

fn value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn git_credential_fill_gets_the_stored_oauth_token_through_setup_git() {
    require_tool("git", "the git credential helper test");
    let provider = Provider::start();
    let env = logged_in(&provider, "gina");
    let host = provider_host(&provider);

    let setup = env.run(["setup-git"]);
    setup.expect_ok();
    let config = std::fs::read_to_string(env.root().join("gitconfig")).unwrap();
    let key = format!("[credential \"https://{host}\"]");
    assert!(config.contains(&key), "setup-git wrote {config}");
    assert!(
        config.contains("\thelper = \n") && config.contains("git-credential"),
        "an empty helper first, then ours, as gh does: {config}"
    );

    let token = env.token();
    let (run, pairs) = fill(&env, &host);
    run.expect_ok();
    assert_no_secret(&run, &token);
    assert_eq!(value(&pairs, "username"), Some("oauth2"));
    assert_eq!(value(&pairs, "password"), Some(token.as_str()));
    let expiry: u64 = value(&pairs, "password_expiry_utc")
        .expect("OAuth tokens carry their expiry")
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(expiry > now && expiry < now + 24 * 3600, "expiry {expiry}");

    // git reports success and failure; neither touches keyhole's login.
    let cred = format!("protocol=https\nhost={host}\nusername=oauth2\npassword={token}\n\n");
    for verb in ["approve", "reject"] {
        run_in(&env, in_env(&env, "git").args(["credential", verb]), &cred).expect_ok();
    }
    assert_eq!(env.token(), token, "`git credential reject` kept the login");
    assert_eq!(env.stored_records().len(), 1);
}

#[test]
fn git_asks_the_next_helper_for_hosts_that_are_not_ours() {
    require_tool("git", "the git credential helper test");
    let provider = Provider::start();
    let env = logged_in(&provider, "nils");
    let ours = format!("!'{}' --remote dev git-credential", keyhole_bin().display());
    for helper in [
        ours.as_str(),
        "!f() { echo username=next; echo password=fallback; }; f",
    ] {
        in_env(&env, "git")
            .args(["config", "--global", "--add", "credential.helper", helper])
            .status()
            .unwrap();
    }
    let (run, pairs) = fill(&env, "forge.example.com");
    run.expect_ok();
    assert_eq!(value(&pairs, "username"), Some("next"));
    assert_eq!(value(&pairs, "password"), Some("fallback"));
    // The same helper chain answers our host with the token, before the fallback.
    let (run, pairs) = fill(&env, &provider_host(&provider));
    run.expect_ok();
    assert_eq!(value(&pairs, "password"), Some(env.token().as_str()));
}

#[test]
fn eight_concurrent_git_fills_refresh_an_expired_token_once() {
    require_tool("git", "the git credential helper test");
    let provider = Provider::start();
    provider.set(json!({ "access_ttl": 1 }));
    let env = logged_in(&provider, "otto");
    env.run(["setup-git"]).expect_ok();
    support::wait_until_due(1);
    provider.set(json!({ "access_ttl": 3600, "delay_ms": 300 }));
    let host = provider_host(&provider);

    let passwords: Vec<String> = std::thread::scope(|s| {
        let fills: Vec<_> = (0..8).map(|_| s.spawn(|| fill(&env, &host))).collect();
        fills
            .into_iter()
            .map(|f| {
                let (run, pairs) = f.join().unwrap();
                run.expect_ok();
                value(&pairs, "password").expect("a password").to_owned()
            })
            .collect()
    });
    assert_eq!(
        provider.token_requests("refresh_token"),
        1,
        "one refresh for eight fills"
    );
    assert!(passwords.iter().all(|p| p == &passwords[0]));
    assert!(provider.introspect(&passwords[0]), "the token is live");
    let records = env.stored_records();
    let refresh = records[0].1["oauth"]["refresh_token"].as_str().unwrap();
    assert!(provider.introspect(refresh), "the grant survived the race");
}

#[test]
fn helpers_without_a_login_fail_in_one_line_without_prompting() {
    let provider = Provider::start();
    let env = Env::new();
    env.add_remote("dev", &provider, &[]);
    let host = provider_host(&provider);
    let cases: [(&[&str], String); 4] = [
        (
            &["git-credential", "get"],
            format!("protocol=https\nhost={host}\n\n"),
        ),
        (&["docker-credential", "get"], host.clone()),
        (&["kube-credential"], String::new()),
        (&["terraform-credential", "get", &host], String::new()),
    ];
    for (args, input) in cases {
        let run = env.run_input(args, &input);
        run.expect_code(4);
        assert_eq!(
            run.stderr.trim_end().lines().count(),
            1,
            "{}",
            run.describe()
        );
        assert!(run.stderr.contains("not logged in"), "{}", run.describe());
    }
}

/// The loopback stand-in for the Kubernetes API server (tests/support/api-standin.mjs, HTTPS with a
/// fresh self-signed certificate): `GET /version` answers 200 only with the bearer token `token`.
/// Returns the server, its port and the CA file for the kubeconfig.
fn api_server(dir: &Path, token: &str) -> (Spawned, u16, PathBuf) {
    require_tool("openssl", "makes the stand-in API server's certificate");
    let (cert, key) = (dir.join("api-cert.pem"), dir.join("api-key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let script = support::repo_root().join("tests/support/api-standin.mjs");
    let mut server = Spawned::start_with_stdin(
        Command::new("node")
            .arg(script)
            .arg(&cert)
            .arg(&key)
            .env("STANDIN_TOKEN", token),
    );
    let ready = server
        .next_line(Duration::from_secs(20))
        .expect("the stand-in API server starts");
    let port = ready
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {ready}"));
    (server, port, cert)
}

fn kubeconfig(dir: &Path, port: u16, ca: &Path, api_version: &str) -> PathBuf {
    let path = dir.join(format!(
        "kubeconfig-{}",
        api_version.rsplit('/').next().unwrap()
    ));
    let bin = keyhole_bin();
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority: {ca}\n\
         users:\n- name: me\n  user:\n    exec:\n      apiVersion: {api_version}\n      command: {bin}\n      \
         args: [\"--remote\", \"dev\", \"kube-credential\"]\n      interactiveMode: Never\n\
         contexts:\n- name: local\n  context:\n    cluster: local\n    user: me\ncurrent-context: local\n",
        bin = serde_json::to_string(&bin.to_string_lossy()).unwrap(),
        ca = serde_json::to_string(&ca.to_string_lossy()).unwrap(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn kubectl_authenticates_with_the_exec_plugin() {
    require_tool("kubectl", "the kubectl exec plugin test");
    let provider = Provider::start();
    let env = logged_in(&provider, "kara");
    let token = env.token();
    let (server, port, ca) = api_server(env.root(), &token);
    for version in [
        "client.authentication.k8s.io/v1",
        "client.authentication.k8s.io/v1beta1",
    ] {
        let config = kubeconfig(env.root(), port, &ca, version);
        let run = run_in(
            &env,
            in_env(&env, "kubectl")
                .arg("--kubeconfig")
                .arg(&config)
                .args(["get", "--raw", "/version"]),
            "",
        );
        run.expect_ok();
        assert!(run.stdout.contains("v1.32.0-keyhole"), "{}", run.describe());
        assert_no_secret(&run, &token);
    }
    // Every request kubectl made for `get --raw /version` carried the token.
    let requests = request_log(server);
    assert!(
        requests
            .iter()
            .filter(|l| *l == "GET /version authorized")
            .count()
            >= 2,
        "{requests:?}"
    );
    assert!(
        !requests.iter().any(|l| l.ends_with(" unauthorized")),
        "{requests:?}"
    );

    // What kubectl puts in KUBERNETES_EXEC_INFO, and the answer mirrored in that version.
    let mut cmd = env.keyhole(["kube-credential"]);
    cmd.env(
        "KUBERNETES_EXEC_INFO",
        r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#,
    );
    let run = run_in(&env, &mut cmd, "");
    run.expect_ok();
    let answer = run.json();
    assert_eq!(answer["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(answer["kind"], "ExecCredential");
    assert_eq!(answer["status"]["token"], token.as_str());
    let expiry = answer["status"]["expirationTimestamp"].as_str().unwrap();
    assert!(
        humantime::parse_rfc3339(expiry).is_ok(),
        "RFC 3339: {expiry}"
    );

    let mut cmd = env.keyhole(["kube-credential"]);
    cmd.env(
        "KUBERNETES_EXEC_INFO",
        r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1","kind":"ExecCredential"}"#,
    );
    let run = run_in(&env, &mut cmd, "");
    run.expect_code(2);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("v1alpha1"), "{}", run.describe());
}

/// A directory with `docker-credential-keyhole` and `terraform-credentials-keyhole` symlinks
fn helper_links(env: &Env) -> PathBuf {
    let dir = env.root().join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["docker-credential-keyhole", "terraform-credentials-keyhole"] {
        std::os::unix::fs::symlink(keyhole_bin(), dir.join(name)).unwrap();
    }
    dir
}

#[test]
fn docker_credential_helper_speaks_the_protocol_byte_for_byte() {
    let provider = Provider::start();
    let env = logged_in(&provider, "dora");
    let token = env.token();
    let bin = helper_links(&env);
    let helper = bin.join("docker-credential-keyhole");
    let docker = |action: &str, input: &str| run_in(&env, in_env(&env, &helper).arg(action), input);

    // configure-docker keeps every other key of config.json
    let config_path = env.root().join("docker/config.json");
    std::fs::create_dir_all(config_path.parent().unwrap()).unwrap();
    std::fs::write(
        &config_path,
        r#"{"auths":{"other.io":{"auth":"dTpw"}},"credHelpers":{"gcr.io":"gcloud"},"detachKeys":"ctrl-q"}"#,
    )
    .unwrap();
    env.run(["configure-docker", "registry.example.com"])
        .expect_ok();
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    assert_eq!(
        config,
        json!({
            "auths": {"other.io": {"auth": "dTpw"}},
            "credHelpers": {"gcr.io": "gcloud", "registry.example.com": "keyhole"},
            "detachKeys": "ctrl-q"
        })
    );

    let run = docker("get", "registry.example.com");
    run.expect_ok();
    assert_eq!(
        run.stdout,
        format!(
            "{{\"ServerURL\":\"registry.example.com\",\"Username\":\"oauth2\",\"Secret\":\"{token}\"}}\n"
        )
    );
    assert_no_secret(&run, &token);
    // the remote's own hosts are registries too
    docker("get", &provider_host(&provider)).expect_ok();

    let run = docker("get", "https://index.docker.io/v1/");
    run.expect_code(1);
    assert_eq!(run.stdout, "credentials not found in native keychain\n");

    let run = docker("list", "");
    run.expect_ok();
    let list = run.json();
    assert_eq!(list["registry.example.com"], "oauth2");
    assert_eq!(list[provider_host(&provider)], "oauth2");

    docker(
        "store",
        r#"{"ServerURL":"registry.example.com","Username":"oauth2","Secret":"from-docker"}"#,
    )
    .expect_ok();
    let run = docker("erase", "registry.example.com");
    run.expect_ok();
    assert!(run.stdout.is_empty());
    assert_eq!(env.token(), token, "erase kept keyhole's login");

    let run = docker("get", "");
    run.expect_code(2);
    assert_eq!(run.stdout, "no credentials server URL\n");

    // a config.json that is not JSON is refused and left as it was
    std::fs::write(&config_path, "{\"auths\": ").unwrap();
    let run = env.run(["configure-docker", "other.example.com"]);
    run.expect_code(1);
    assert!(run.stderr.contains("not valid JSON"), "{}", run.describe());
    assert_eq!(
        std::fs::read_to_string(&config_path).unwrap(),
        "{\"auths\": "
    );
}

/// The stand-in's request log, once it has stopped
fn request_log(mut server: Spawned) -> Vec<String> {
    let _ = server.stdin.take();
    let mut requests = Vec::new();
    while let Some(line) = server.next_line(Duration::from_secs(5)) {
        requests.push(line);
    }
    requests
}

#[test]
fn the_docker_cli_pulls_a_manifest_with_the_helper_and_logout_keeps_the_login() {
    require_tool("docker", "the docker CLI test");
    let provider = Provider::start();
    let mut env = logged_in(&provider, "dana");
    let token = env.token();
    let bin = helper_links(&env);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.set("PATH", path);
    let (server, port, _ca) = api_server(env.root(), &token);
    let registry = format!("127.0.0.1:{port}");
    env.run(["configure-docker", &registry]).expect_ok();

    // `docker manifest inspect` needs no daemon: the CLI asks `docker-credential-keyhole get`
    // and talks to the registry itself (--insecure: the stand-in's certificate is self-signed).
    let run = run_in(
        &env,
        in_env(&env, "docker")
            .args(["manifest", "inspect", "--insecure"])
            .arg(format!("{registry}/team/app:1")),
        "",
    );
    run.expect_ok();
    assert!(
        run.stdout
            .contains("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"),
        "{}",
        run.describe()
    );
    assert_no_secret(&run, &token);

    // `docker logout` runs the helper's `erase` (it needs no daemon either); the login stays.
    let run = run_in(&env, in_env(&env, "docker").args(["logout", &registry]), "");
    run.expect_ok();
    assert_no_secret(&run, &token);
    assert_eq!(env.token(), token);

    let requests = request_log(server);
    assert!(
        requests
            .iter()
            .any(|l| l.starts_with("GET /v2/team/app/manifests/1 authorized")),
        "{requests:?}"
    );
    assert!(
        !requests.iter().any(|l| l.ends_with(" wrong")),
        "{requests:?}"
    );
}

#[test]
fn terraform_credentials_helper_speaks_the_protocol_byte_for_byte() {
    let provider = Provider::start();
    let env = logged_in(&provider, "tara");
    let token = env.token();
    let helper = helper_links(&env).join("terraform-credentials-keyhole");
    let host = provider_host(&provider);
    // Terraform runs `terraform-credentials-NAME [args…] ACTION HOST`
    let tf = |args: &[&str], input: &str| run_in(&env, in_env(&env, &helper).args(args), input);

    let run = tf(&["--remote", "dev", "get", &host], "");
    run.expect_ok();
    assert_eq!(run.stdout, format!("{{\"token\":\"{token}\"}}\n"));
    assert_no_secret(&run, &token);

    let run = tf(&["get", "app.terraform.io"], "");
    run.expect_ok();
    assert_eq!(run.stdout, "{}\n");

    let run = tf(&["--host", "tf.example.com", "get", "tf.example.com"], "");
    run.expect_ok();
    assert_eq!(run.json()["token"], token.as_str());

    let run = tf(&["store", &host], r#"{"token":"from-terraform-login"}"#);
    run.expect_ok();
    assert!(run.stdout.is_empty());
    let run = tf(&["forget", &host], "");
    run.expect_ok();
    assert!(run.stdout.is_empty());
    assert_eq!(env.token(), token, "forget kept keyhole's login");
    tf(&["store", &host], "not json").expect_code(2);
}

#[test]
fn exec_runs_the_command_with_the_token_and_its_exit_code() {
    let provider = Provider::start();
    let env = logged_in(&provider, "esko");
    let token = env.token();
    let run = env.run([
        "exec",
        "--",
        "sh",
        "-c",
        "printf %s \"$KEYHOLE_TOKEN\"; exit 7",
    ]);
    run.expect_code(7);
    assert_eq!(run.stdout, token);
    assert_no_secret(&run, &token);
    // keyhole becomes the command: a death by signal reaches the caller as such (a shell then
    // reports 128+N, as for the command run directly).
    let run = env.run(["exec", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(run.status.signal(), Some(15), "{}", run.describe());
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg(r#""$0" exec -- sh -c 'kill -KILL $$'; echo "code $?""#)
        .arg(keyhole_bin());
    env.apply(&mut shell);
    let run = run_in(&env, &mut shell, "");
    assert_eq!(run.stdout, "code 137\n", "{}", run.describe());
    env.run(["exec", "--", "/nonexistent/program"])
        .expect_code(127);
}

#[test]
fn acknowledgements_need_no_remote_at_all() {
    let env = Env::new();
    let cases: [(&[&str], &str); 5] = [
        (
            &["git-credential", "store"],
            "protocol=https\nhost=h.example\nusername=u\npassword=p\n",
        ),
        (
            &["git-credential", "erase"],
            "protocol=https\nhost=h.example\n",
        ),
        (&["docker-credential", "erase"], "h.example"),
        (&["terraform-credential", "forget", "h.example"], ""),
        (
            &["terraform-credential", "store", "h.example"],
            r#"{"token":"t"}"#,
        ),
    ];
    for (args, input) in cases {
        let run = env.run_input(args, input);
        run.expect_ok();
        assert!(
            run.stdout.is_empty() && run.stderr.is_empty(),
            "{}",
            run.describe()
        );
    }
    let run = env.run_input(["docker-credential", "version"], "");
    run.expect_ok();
    assert!(
        run.stdout.starts_with("docker-credential-keyhole "),
        "{}",
        run.describe()
    );
}
