//! Writes `$OUT_DIR/vehicles.json`: fetched with a token when credentials are set, else the
//! checked-in `snapshot.json`, with a warning and `cfg(vehicles_snapshot)` for the crate.

use std::env;
use std::fs;
use std::path::Path;

use apiauth::http::Request;
use apiauth::providers::motorweb::{self, Environment};
use apiauth::{ApiClient, Auth, Credentials, TokenScheme};

/// What the fetch reads: credentials, and what to fetch.
const INPUTS: [&str; 3] = ["APIAUTH_CLIENT_ID", "APIAUTH_CLIENT_SECRET", "VEHICLES_URL"];
/// Where the token endpoint is, when not Motorweb's test gateway (a proxy, a test server).
const BASE_URL: &str = "APIAUTH_BASE_URL";
/// The variables ureq's default agent reads for its proxy (upper and lower case).
const PROXY: [&str; 8] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Run again when an input changes, and only then: not on every edit of src/.
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=snapshot.json");
    for name in INPUTS.iter().chain(&PROXY).chain(&[BASE_URL, "DOCS_RS"]) {
        println!("cargo::rerun-if-env-changed={name}");
    }
    println!("cargo::rustc-check-cfg=cfg(vehicles_snapshot)");
    let out = Path::new(&env::var("OUT_DIR")?).join("vehicles.json");

    let var = |name: &str| env::var(name).ok();
    let docs_rs = env::var_os("DOCS_RS");
    let (Some(id), Some(secret), Some(url), None) =
        (var(INPUTS[0]), var(INPUTS[1]), var(INPUTS[2]), docs_rs)
    else {
        // No credentials (or docs.rs): no request at all, the snapshot instead.
        println!(
            "cargo::warning=vehicles.json is the checked-in snapshot: set {} to fetch it",
            INPUTS.join(", ")
        );
        println!("cargo::rustc-cfg=vehicles_snapshot");
        fs::copy("snapshot.json", &out)?;
        return Ok(());
    };
    // Credentials given: a failure fails the build (its message holds no secret), rather
    // than quietly shipping the snapshot.
    // The provider's preset: its token URL and the client authentication it takes
    // (Motorweb: the credentials in the form body). For myConnectedFleet,
    // `my_connected_fleet::token_config`; for any other RFC 6749 server,
    // `TokenConfig::new(url, creds)` with the `ClientAuth` that server documents.
    let config = motorweb::token_config(Environment::Test, Credentials::new(id, secret)?);
    let config = match var(BASE_URL) {
        Some(base) => config.with_base_url(&base),
        None => config,
    };
    let source = config.build()?;
    let client = ApiClient::new(Auth::Token(source, TokenScheme::Bearer));
    let mut response = client.run(Request::get(url).body(())?)?;
    if !response.status().is_success() {
        return Err(format!("VEHICLES_URL answered {}", response.status()).into());
    }
    fs::write(&out, response.body_mut().read_to_vec()?)?;
    Ok(())
}
