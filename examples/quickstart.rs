//! `cargo run --example quickstart`: both providers' headers against local stand-ins.
//!
//! The stand-ins are httpmock servers on loopback that answer exactly as the providers'
//! documents show and only when asked exactly as the documents say; nothing leaves the
//! machine.

use std::error::Error;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apiauth::providers::motorweb;
use apiauth::providers::my_connected_fleet::{self, Api};
use apiauth::{AuthScheme, Credentials, TokenScheme, TokenSource};
use base64::Engine as _;
use httpmock::Method::POST;
use httpmock::MockServer;
use serde_json::json;

fn main() -> Result<(), Box<dyn Error>> {
    // myConnectedFleet: the documented token request, and its non-standard answer.
    let fleet = MockServer::start();
    fleet.mock(|when, then| {
        when.method(POST)
            .path(my_connected_fleet::TOKEN_PATH)
            .header("authorization", "Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0")
            .body("grant_type=client_credentials");
        then.status(200).json_body(json!({"success": true,
            "accessToken": "B983854936PF1A7B61B141AB69494046", "token_type": "bearer",
            "expires_in": 2591999}));
    });
    let creds = Credentials::new("clientId", "clientSecret")?;
    println!("myConnectedFleet (token endpoint at {})", fleet.base_url());
    if let AuthScheme::Basic(encoding) = Api::Core.scheme() {
        println!(
            "  Core API         Authorization: {}",
            creds.basic_header(encoding)?.to_str()?
        );
    }
    let source = my_connected_fleet::token_source_at(&fleet.base_url(), creds);
    let token = source.token()?;
    for api in [
        Api::SmartTire,
        Api::Tacho,
        Api::VehicleCheck,
        Api::JobManagement,
    ] {
        let scheme = api.token_scheme();
        let (name, value) = (scheme.header_name(), token.header(scheme).to_str()?);
        println!("  {:<16} {name}: {value}", format!("{api:?}"));
    }
    source.token()?;
    println!(
        "  a second call is served from the cache: {} token request(s)",
        source.stats().fetches
    );

    // Motorweb: credentials in the form body; a JWT whose `exp` bounds its life.
    let gateway = MockServer::start();
    let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 3599;
    let claims =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#));
    let jwt = format!("eyJhbGciOiJSUzI1NiJ9.{claims}.c2lnbmF0dXJl");
    gateway.mock(|when, then| {
        when.method(POST)
            .path(motorweb::TOKEN_PATH)
            .body("grant_type=client_credentials&client_id=CLIENT_ID&client_secret=CLIENT_SECRET");
        then.status(200)
            .json_body(json!({"token_type": "Bearer", "issued_at": "1712272706170",
            "client_id": "CLIENT_ID", "access_token": jwt, "application_name": "quickstart",
            "scope": "", "expires_in": 3599}));
    });
    let source = motorweb::token_source_at(
        &gateway.base_url(),
        Credentials::new("CLIENT_ID", "CLIENT_SECRET")?,
    );
    let token = source.token()?;
    println!("Motorweb (gateway at {})", gateway.base_url());
    println!(
        "  Authorization: {}",
        token.header(TokenScheme::Bearer).to_str()?
    );
    let exp = token
        .jwt_expiry()
        .map(|t| t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()));
    println!(
        "  JWT exp: {:?} (unix seconds); valid for {} s",
        exp.transpose()?,
        token.lifetime().as_secs()
    );

    // Any RFC 6749 server: a 2 s token is refreshed ahead of expiry, in the background.
    let generic = MockServer::start();
    generic.mock(|_, then| {
        then.status(200)
            .json_body(json!({"access_token": "short-lived", "expires_in": 2}));
    });
    let source = TokenSource::new(generic.url("/token"), Credentials::new("id", "secret")?);
    source.token()?;
    std::thread::sleep(Duration::from_millis(1200)); // past half of its life: stale
    source.token()?; // still served at once; a refresh starts in the background
    for _ in 0..500 {
        if source.stats().fetches == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "Generic server: a 2 s token was refreshed ahead of expiry ({} token requests)",
        source.stats().fetches
    );
    Ok(())
}
