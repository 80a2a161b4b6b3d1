//! `cargo run --example quickstart`: both providers' headers, and authorized API calls,
//! against local stand-ins.
//!
//! The stand-ins are httpmock servers on loopback that answer as the providers' documents
//! show, and only when asked exactly as the documents say; nothing leaves the machine.

use std::error::Error;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apiauth::providers::motorweb::{self, Environment};
use apiauth::providers::my_connected_fleet::{self, Api};
use apiauth::{ApiClient, Auth, BasicEncoding, Credentials, TokenConfig, TokenScheme};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use httpmock::Method::{GET, POST};
use httpmock::MockServer;
use serde_json::{Value, json};

fn main() -> Result<(), Box<dyn Error>> {
    my_connected_fleet_headers()?;
    motorweb_token_and_api_call()?;
    refresh_ahead_of_expiry()
}

/// Basic for the Core API; one token as Bearer and as `x-connect-token`; a cache hit.
fn my_connected_fleet_headers() -> Result<(), Box<dyn Error>> {
    let fleet = MockServer::start();
    fleet.mock(|when, then| {
        when.method(POST)
            .path("/masternauth-oauth/oauth/accessToken")
            .header("authorization", "Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0")
            .body("grant_type=client_credentials");
        then.status(200).json_body(json!({"success": true,
            "accessToken": "B983854936PF1A7B61B141AB69494046", "token_type": "bearer",
            "expires_in": 2591999}));
    });
    let creds = Credentials::new("clientId", "clientSecret")?;
    println!("myConnectedFleet (token endpoint at {})", fleet.base_url());
    println!(
        "  {:<14} authorization: {}",
        "Core",
        creds.basic_header(BasicEncoding::Raw)?.to_str()?
    );
    let source = my_connected_fleet::token_config(creds)
        .with_base_url(&fleet.base_url())
        .build()?;
    let token = source.token()?;
    for api in [
        Api::SmartTire,
        Api::Tacho,
        Api::VehicleCheck,
        Api::JobManagement,
    ] {
        let scheme = api.token_scheme();
        let (name, value) = token.header(scheme);
        println!("  {:<14} {name}: {}", format!("{api:?}"), value.to_str()?);
    }
    source.token()?;
    println!(
        "  second call served from the cache: {} token request",
        source.stats().fetches
    );
    Ok(())
}

/// A JWT with its expiry, then a plate lookup whose first token the gateway rejects.
fn motorweb_token_and_api_call() -> Result<(), Box<dyn Error>> {
    let gateway = MockServer::start();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let (first, second) = (jwt(now + 3599), jwt(now + 3600));
    let token_request =
        "grant_type=client_credentials&client_id=CLIENT_ID&client_secret=CLIENT_SECRET";
    for (token, times) in [(&first, Some(1)), (&second, None)] {
        gateway.mock(|when, then| {
            when.method(POST).path("/auth/v1/token").body(token_request);
            let then = then.status(200).json_body(json!({"token_type": "Bearer",
                "issued_at": "1712272706170", "client_id": "CLIENT_ID", "access_token": token,
                "application_name": "quickstart", "scope": "", "expires_in": 3599}));
            if let Some(n) = times {
                then.up_to_n_times(n);
            }
        });
    }
    let plate = "/market-data/v1/vehicles/plate/ABC123";
    gateway.mock(|when, then| {
        when.method(GET)
            .path(plate)
            .header("authorization", format!("Bearer {first}"));
        then.status(401)
            .json_body(json!({"fault": {"faultstring": "Access Token expired",
            "detail": {"errorcode": "keymanagement.service.access_token_expired"}}}));
    });
    gateway.mock(|when, then| {
        when.method(GET)
            .path(plate)
            .header("authorization", format!("Bearer {second}"));
        then.status(200)
            .json_body(json!({"plate": "ABC123", "make": "TOYOTA"}));
    });

    let creds = Credentials::new("CLIENT_ID", "CLIENT_SECRET")?;
    let source = motorweb::token_config(Environment::Test, creds)
        .with_base_url(&gateway.base_url())
        .build()?;
    let client = ApiClient::new(Auth::Token(source.clone(), TokenScheme::Bearer));
    println!("Motorweb (gateway at {})", gateway.base_url());
    {
        let token = source.token()?;
        let (name, value) = token.header(TokenScheme::Bearer);
        println!("  {name}: {}", value.to_str()?);
        let exp = token
            .jwt_expiry()
            .map(|t| t.duration_since(UNIX_EPOCH))
            .transpose()?;
        println!(
            "  JWT exp: {} (unix seconds); used for {} s",
            exp.map_or(0, |d| d.as_secs()),
            token.lifetime().as_secs()
        );
        let vehicle: Value = client.get_json(&format!("{}{plate}", gateway.base_url()))?;
        println!(
            "  GET {plate}: 401 (token expired) -> new token -> {vehicle} ({} token requests)",
            source.stats().fetches
        );
    }
    Ok(())
}

/// Any RFC 6749 server: a 2 s token is refreshed in the background before it expires.
fn refresh_ahead_of_expiry() -> Result<(), Box<dyn Error>> {
    let server = MockServer::start();
    server.mock(|_, then| {
        then.status(200)
            .json_body(json!({"access_token": "short-lived", "expires_in": 2}));
    });
    let source =
        TokenConfig::new(server.url("/token"), Credentials::new("id", "secret")?).build()?;
    source.token()?;
    std::thread::sleep(Duration::from_millis(1200)); // past half its life: stale, still valid
    let token = source.token()?; // served at once; one refresh starts in the background
    for _ in 0..500 {
        if source.stats().fetches == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "Generic server: {} served while a 2 s token was refreshed ahead of expiry ({} token requests)",
        token.header(TokenScheme::Bearer).1.to_str()?,
        source.stats().fetches
    );
    Ok(())
}

/// An unsigned JWT with the given `exp`, as the gateway's would look.
fn jwt(exp: u64) -> String {
    let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"CLIENT_ID","exp":{exp}}}"#));
    format!("eyJhbGciOiJSUzI1NiJ9.{claims}.c2lnbmF0dXJl")
}
