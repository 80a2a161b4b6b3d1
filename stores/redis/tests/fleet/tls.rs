//! `rediss://` against a redis-server with TLS and a private CA whose certificates the test
//! makes with the openssl command; and the error of a build without TLS.

#[cfg(not(feature = "tls-rustls"))]
#[test]
fn rediss_in_a_build_without_tls_is_a_clear_error() {
    let error = apiauth_redis::RedisStore::open("rediss://u:hunter2@127.0.0.1:6380/0", "p:")
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "invalid configuration: rediss:// (TLS) needs apiauth-redis's `tls-rustls` feature, which this build lacks"
    );
}

#[cfg(feature = "tls-rustls")]
mod with_tls {
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::Duration;

    use apiauth::store::Store;
    use apiauth_redis::RedisStore;

    use crate::server::{Answer, TokenServer};
    use crate::support::{Fleet, Redis, credentials, free_port, key_of, prefix};

    /// A CA, a server certificate for 127.0.0.1 and a client certificate, in a directory
    /// of their own.
    struct Certs {
        dir: PathBuf,
    }

    impl Certs {
        fn make(test: &str) -> Certs {
            let dir = std::env::temp_dir()
                .join(format!("apiauth-redis-tls-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let openssl = |args: &[&str]| {
                let status = Command::new("openssl")
                    .args(args)
                    .current_dir(&dir)
                    .output()
                    .expect("the openssl command");
                assert!(status.status.success(), "openssl {args:?}: {status:?}");
            };
            let ec = [
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ];
            let mut ca = vec!["req", "-x509"];
            ca.extend(ec);
            ca.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]);
            ca.extend(["-subj", "/CN=apiauth test CA"]);
            openssl(&ca);
            std::fs::write(
                dir.join("san.ext"),
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
            )
            .unwrap();
            for name in ["server", "client"] {
                let (key, csr, pem) = (
                    format!("{name}.key"),
                    format!("{name}.csr"),
                    format!("{name}.pem"),
                );
                let mut req = vec!["req"];
                req.extend(ec);
                req.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"]);
                openssl(&req);
                openssl(&[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "2",
                    "-extfile",
                    "san.ext",
                ]);
            }
            Certs { dir }
        }

        fn path(&self, name: &str) -> String {
            self.dir.join(name).to_str().unwrap().to_owned()
        }

        /// A redis-server with a TLS port (and its plain port for the test's own look).
        fn redis(&self, test: &str, clients: bool) -> Option<(Redis, u16)> {
            let tls_port = free_port().to_string();
            let (cert, key, ca) = (
                self.path("server.pem"),
                self.path("server.key"),
                self.path("ca.pem"),
            );
            let redis = Redis::own_with(
                test,
                &[
                    "--tls-port",
                    &tls_port,
                    "--tls-cert-file",
                    &cert,
                    "--tls-key-file",
                    &key,
                    "--tls-ca-cert-file",
                    &ca,
                    "--tls-auth-clients",
                    if clients { "yes" } else { "no" },
                ],
            )?;
            Some((redis, tls_port.parse().unwrap()))
        }
    }

    impl Drop for Certs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn a_private_ca_given_in_code_is_trusted_and_eight_hosts_send_one_request() {
        let certs = Certs::make("private");
        let Some((redis, port)) = certs.redis("a_private_ca_given_in_code", false) else {
            return;
        };
        let url = format!("rediss://127.0.0.1:{port}/0");
        let server = TokenServer::start(Answer::Token);
        let key = key_of(&server, credentials());
        let store = RedisStore::open(&url, prefix("tls"))
            .unwrap()
            .with_ca_file(certs.path("ca.pem"))
            .unwrap();
        let mut guard = store
            .lock(&key, Duration::ZERO, Duration::from_secs(5))
            .unwrap()
            .unwrap();
        guard.write(b"over tls", Duration::from_secs(5)).unwrap();
        drop(guard);
        assert_eq!(redis.cmd(&["GET", &store.record_key(&key)]), "over tls");
        assert!(store.now().is_some());
        // A fleet: 8 hosts, one token request (tok-2: the key lookup took tok-1).
        let mut fleet = Fleet::new(&redis, &prefix("tls-fleet"), &server.url);
        fleet.ca_file = Some(certs.path("ca.pem"));
        for host in fleet.run_on(&[&url], 8) {
            assert_eq!(host.result, "token=tok-2", "{host:?}");
        }
        assert_eq!(server.requests(), 2);
    }

    #[test]
    fn a_private_ca_is_not_trusted_by_default_but_is_through_ssl_cert_file() {
        let certs = Certs::make("platform");
        let Some((redis, port)) = certs.redis("a_private_ca_is_not_trusted", false) else {
            return;
        };
        let url = format!("rediss://127.0.0.1:{port}/0");
        let server = TokenServer::start(Answer::Token);
        let key = key_of(&server, credentials());
        // This process's platform roots (SSL_CERT_FILE unset here, or not this CA).
        if std::env::var_os("SSL_CERT_FILE").is_none() {
            let store = RedisStore::open(&url, prefix("platform")).unwrap();
            let error = store.read(&key).unwrap_err().to_string();
            assert!(error.contains("UnknownIssuer"), "{error}");
        }
        // A host whose SSL_CERT_FILE names the CA trusts it.
        let mut fleet = Fleet::new(&redis, &prefix("ssl-cert-file"), &server.url);
        fleet.ssl_cert_file = Some(certs.path("ca.pem"));
        let hosts = fleet.run_on(&[&url], 1);
        assert_eq!(hosts[0].result, "token=tok-2");
        assert_eq!(hosts[0].logged("token store failed"), 0, "{hosts:?}");
        assert_eq!(redis.keys(&prefix("ssl-cert-file")).len(), 1);
    }

    #[test]
    fn a_client_certificate_is_shown_when_the_server_asks() {
        let certs = Certs::make("client");
        let Some((_redis, port)) = certs.redis("a_client_certificate_is_shown", true) else {
            return;
        };
        let url = format!("rediss://127.0.0.1:{port}/0");
        let server = TokenServer::start(Answer::Token);
        let key = key_of(&server, credentials());
        let without = RedisStore::open(&url, prefix("client"))
            .unwrap()
            .with_ca_file(certs.path("ca.pem"))
            .unwrap();
        assert!(without.read(&key).is_err());
        let with = RedisStore::open(&url, prefix("client"))
            .unwrap()
            .with_ca_file(certs.path("ca.pem"))
            .unwrap()
            .with_client_cert(certs.path("client.pem"), certs.path("client.key"))
            .unwrap();
        assert_eq!(with.read(&key).unwrap(), None);
    }

    #[test]
    fn a_ca_file_that_cannot_be_used_is_a_configuration_error() {
        let store = RedisStore::open("rediss://127.0.0.1:1/0", "p:").unwrap();
        let error = store
            .with_ca_file("/nonexistent/ca.pem")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("invalid configuration: CA file /nonexistent/ca.pem:"),
            "{error}"
        );
    }
}
