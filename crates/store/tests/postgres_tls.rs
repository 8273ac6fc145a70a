//! TLS to a real PostgreSQL: a private cluster started with `ssl=on` and a certificate signed by
//! a CA made here; `sslmode` and `sslrootcert` behave as docs/OPERATIONS.md ("TLS") says.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use test_support::PostgresServer;

/// A CA of the test's own, as PEM, and the issuer that signs with it.
fn certificate_authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("a key")).expect("a CA")
}

/// Whether the connection `client` runs over TLS, as the server sees it.
fn over_tls(client: &mut postgres::Client) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .expect("pg_stat_ssl")
        .get(0)
}

#[test]
fn sslmode_verifies_as_libpq_does_against_a_private_ca() {
    let ca = certificate_authority("the test's CA");
    let other_ca = certificate_authority("another CA");
    // The server's certificate names 127.0.0.1 only: `localhost` is another name.
    let server_key = KeyPair::generate().expect("a key");
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&server_key, &ca)
        .expect("a server certificate");
    let server = PostgresServer::start_with_tls(&server_cert.pem(), &server_key.serialize_pem());

    let dir = tempfile::tempdir().expect("a folder");
    let ca_file = dir.path().join("ca.pem");
    let other_file = dir.path().join("other.pem");
    std::fs::write(&ca_file, ca.pem()).expect("writes");
    std::fs::write(&other_file, other_ca.pem()).expect("writes");
    let url = server.database();
    let with = |query: &str| format!("{url}?{query}");

    // verify-full against the right CA: connected, encrypted, and the store migrates over it.
    let verified = with(&format!(
        "sslmode=verify-full&sslrootcert={}",
        ca_file.display()
    ));
    let mut client = store::pg::connect(&verified).expect("verify-full with the right CA");
    assert!(over_tls(&mut client));
    drop(store::pg::PgWriter::open(&verified).expect("migrates over TLS"));

    // A wrong CA is refused, saying why, and without the password.
    let wrong = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        url.replace("postgres@", "postgres:s3cret@"),
        other_file.display()
    );
    let error = store::pg::connect(&wrong)
        .err()
        .expect("a certificate from another CA is refused")
        .to_string();
    assert!(
        error.contains("TLS") && error.contains("UnknownIssuer"),
        "{error}"
    );
    assert!(!error.contains("s3cret"), "{error}");
    let error = store::pg::connect(&with(&format!(
        "sslmode=verify-ca&sslrootcert={}",
        other_file.display()
    )))
    .err()
    .expect("verify-ca checks the chain too")
    .to_string();
    assert!(error.contains("UnknownIssuer"), "{error}");

    // A name the certificate does not hold: verify-full refuses, verify-ca does not look.
    let by_name = url.replace("127.0.0.1", "localhost");
    let error = store::pg::connect(&format!(
        "{by_name}?sslmode=verify-full&sslrootcert={}",
        ca_file.display()
    ))
    .err()
    .expect("verify-full checks the name")
    .to_string();
    assert!(
        error.contains("not valid for name \"localhost\""),
        "{error}"
    );
    let mut client = store::pg::connect(&format!(
        "{by_name}?sslmode=verify-ca&sslrootcert={}",
        ca_file.display()
    ))
    .expect("verify-ca ignores the name");
    assert!(over_tls(&mut client));

    // require and prefer encrypt without checking (as libpq without roots); disable does not.
    for mode in ["require", "prefer"] {
        let mut client = store::pg::connect(&with(&format!("sslmode={mode}"))).expect(mode);
        assert!(over_tls(&mut client), "{mode}");
    }
    let mut client = store::pg::connect(&with("sslmode=disable")).expect("disable");
    assert!(!over_tls(&mut client));
    // require with roots checks the chain, as libpq does.
    assert!(
        store::pg::connect(&with(&format!(
            "sslmode=require&sslrootcert={}",
            other_file.display()
        )))
        .is_err()
    );
}

#[test]
fn prefer_falls_back_to_plain_text_when_the_server_has_no_tls() {
    let server = PostgresServer::start();
    let mut client = store::pg::connect(&server.database()).expect("prefer, the default");
    assert!(!over_tls(&mut client));
    let refused = store::pg::connect(&format!("{}?sslmode=require", server.database()))
        .err()
        .expect("require never falls back")
        .to_string();
    assert!(refused.contains("ssl=off"), "{refused}");
}
