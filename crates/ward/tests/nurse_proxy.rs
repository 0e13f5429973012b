//! `ward nurse` behind a real forward proxy (tinyproxy), as kubenurse behind
//! Go's `http.ProxyFromEnvironment`: http checks go to the proxy in absolute
//! form, https checks through a `CONNECT` tunnel, `NO_PROXY` names and
//! loopback addresses are reached directly, and an unusable proxy value is a
//! one-line startup error naming the variable.
//!
//! The test names (`*.ward.test`) resolve to 127.0.0.1 only in the private
//! hosts file the proxy and the nurse each run with: no query leaves the machine.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ward_testkit::forward_proxy::ForwardProxy;
use ward_testkit::isolate::Isolated;
use ward_testkit::net::{free_port, http_get};
use ward_testkit::nginx::Nginx;
use ward_testkit::process::Process;
use ward_testkit::wait;

use support::nurse::alive;

const DEADLINE: Duration = Duration::from_secs(30);
const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

#[test]
fn checks_go_through_the_proxy_from_the_environment_except_no_proxy_and_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let view = Isolated::new()
        .unwrap()
        .hosts(&[
            ("api.ward.test", LOOPBACK),
            ("ingress.ward.test", LOOPBACK),
            ("service.ward.test", LOOPBACK),
        ])
        .unwrap();
    let proxy = ForwardProxy::start(&view).unwrap();
    let nginx = Nginx::builder()
        .http_config("log_format seen '$host $uri auth=[$http_authorization]';")
        .location(
            "= /version",
            "access_log logs/seen.log seen; return 200 '{}';",
        )
        .location(
            "= /alwayshappy",
            "access_log logs/seen.log seen; return 200 'ok';",
        )
        .tls(true)
        .start()
        .unwrap();
    let http_port = nginx.http_addr().port();
    let https_port = nginx.https_addr().unwrap().port().to_string();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let listen = addr.to_string();
    let ingress = format!("http://ingress.ward.test:{http_port}");
    let service = format!("http://service.ward.test:{http_port}");
    let extra = format!("local:http://localhost:{http_port}/alwayshappy");
    let proxy_url = proxy.url();
    let (program, args) = view.wrap(support::ward_bin());
    let mut nurse = Process::spawn_with(
        "ward nurse",
        &program,
        args.into_iter().chain(["nurse".to_string()]),
        &dir.path().join("nurse.log"),
        &[
            ("POD_NAME", "proxied"),
            ("WARD_NURSE_LISTEN", &listen),
            ("WARD_NURSE_JITTER", "0"),
            ("KUBENURSE_CHECK_INTERVAL", "300ms"),
            ("KUBENURSE_SHUTDOWN_DURATION", "0s"),
            // Lower case for http (an empty upper-case one does not count),
            // upper case for https: Go reads both.
            ("HTTP_PROXY", ""),
            ("http_proxy", &proxy_url),
            ("HTTPS_PROXY", &proxy_url),
            ("NO_PROXY", "example.org, service.ward.test"),
            // By IP (loopback: never proxied) and by name (through CONNECT).
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1"),
            ("KUBERNETES_SERVICE_DNS", "api.ward.test"),
            ("KUBERNETES_SERVICE_PORT", &https_port),
            ("WARD_NURSE_TOKEN_FILE", token.to_str().unwrap()),
            ("KUBENURSE_INSECURE", "true"),
            ("KUBENURSE_INGRESS_URL", &ingress),
            ("KUBENURSE_SERVICE_URL", &service),
            ("KUBENURSE_CHECK_NEIGHBOURHOOD", "false"),
            ("KUBENURSE_EXTRA_CHECKS", &extra),
        ],
    )
    .unwrap();
    nurse
        .wait_ready(Duration::from_secs(10), || {
            http_get(addr, "/alwayshappy").is_some()
        })
        .unwrap();
    let checks = [
        "api_server_direct",
        "api_server_dns",
        "me_ingress",
        "me_service",
        "local",
    ];
    let round = wait::until(DEADLINE, || {
        alive(addr).filter(|r| checks.iter().all(|c| r.get(*c).is_some()))
    })
    .unwrap_or_else(|| panic!("no round:\n{}", nurse.log_tail(20)));
    for check in checks {
        assert_eq!(round[check], "ok", "{check}: {round:?}");
    }

    let connect = format!("CONNECT api.ward.test:{https_port} HTTP/1.1");
    let get = format!("GET http://ingress.ward.test:{http_port}/alwayshappy HTTP/1.1");
    let seen = proxy.requests();
    assert!(seen.contains(&connect), "{seen:?}");
    assert!(seen.contains(&get), "{seen:?}");
    assert!(
        seen.iter().all(|r| *r == connect || *r == get),
        "only the api_server_dns and me_ingress checks use the proxy: {seen:?}"
    );

    // nginx saw each host; the token only at the API server, through the tunnel too.
    let log = std::fs::read_to_string(nginx.access_log().with_file_name("seen.log")).unwrap();
    for line in [
        "127.0.0.1 /version auth=[Bearer s3cret-token]",
        "api.ward.test /version auth=[Bearer s3cret-token]",
        "ingress.ward.test /alwayshappy auth=[-]",
        "service.ward.test /alwayshappy auth=[-]",
        "localhost /alwayshappy auth=[-]",
    ] {
        assert!(log.lines().any(|l| l == line), "{line:?} not in:\n{log}");
    }
}

#[test]
fn an_unusable_proxy_is_a_startup_error_naming_the_variable() {
    for (var, value, reason) in [
        (
            "HTTPS_PROXY",
            "socks5://127.0.0.1:1080",
            "proxy scheme \"socks5\" is not supported (only http://)",
        ),
        (
            "http_proxy",
            "10.0.0.1:80a",
            "not a proxy URL: invalid port number",
        ),
    ] {
        let out = support::ward()
            .arg("nurse")
            .env(var, value)
            .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
            .env("KUBENURSE_CHECK_NEIGHBOURHOOD", "false")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("ward: {var}={value:?}: {reason}\n")
        );
    }
}
