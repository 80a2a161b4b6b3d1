//! The API calls the provider clients of earlier versions wrapped, on `ApiClient` with the
//! header each API wants: myConnectedFleet's live tracking (Core, Basic), tire events (Smart
//! Tire, Bearer) and jobs (Job Management, `x-connect-token`), and Motorweb's vehicle lookup.
//!
//! `APIAUTH_CLIENT_ID=… APIAUTH_CLIENT_SECRET=… cargo run --example fleet_api -- CUSTOMER_ID`
//! calls myConnectedFleet's production APIs (`-- --motorweb PLATE`: Motorweb's test gateway).

use apiauth::providers::motorweb::{self, Environment};
use apiauth::providers::my_connected_fleet::{self, Api};
use apiauth::{ApiClient, Auth, Credentials, Error, TokenScheme};
use serde_json::Value;

/// `id` as one URL path segment (letters, digits, `-`, `_`, `.`): an id never changes the
/// path it is put in.
fn segment(id: &str) -> Result<&str, Error> {
    let plain = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    match plain && !id.is_empty() && id != "." && id != ".." {
        true => Ok(id),
        false => Err(Error::Config(format!("{id:?} is not a plain path segment"))),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (Ok(id), Ok(secret)) = (
        std::env::var("APIAUTH_CLIENT_ID"),
        std::env::var("APIAUTH_CLIENT_SECRET"),
    ) else {
        eprintln!("set APIAUTH_CLIENT_ID and APIAUTH_CLIENT_SECRET");
        std::process::exit(2);
    };
    let creds = Credentials::new(id, secret)?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, plate] = &args[..]
        && flag == "--motorweb"
    {
        let source = motorweb::token_config(Environment::Test, creds).build()?;
        let api = ApiClient::new(Auth::Token(source, TokenScheme::Bearer));
        let base = Environment::Test.base_url();
        let url = format!("{base}/market-data/v1/vehicles/plate/{}", segment(plate)?);
        println!("{}", api.get_json::<Value>(&url)?);
        return Ok(());
    }
    let customer = segment(args.first().map_or("", String::as_str))?;
    let source = my_connected_fleet::token_config(creds.clone()).build()?;
    let base = Api::Core.base_url();
    let calls = [
        (
            Api::Core,
            format!("/connect-webservices/services/public/v1/customer/{customer}/tracking/live"),
        ),
        (
            Api::SmartTire,
            format!("/connect-webservices/services/public/v1/customer/{customer}/tire/events"),
        ),
        (
            Api::JobManagement,
            format!("/job-management/v1/customer/{customer}/jobs"),
        ),
    ];
    for (api, path) in calls {
        // The right header for each API, and one retry with a new token after a 401.
        let client = ApiClient::new(api.auth(&creds, &source));
        println!(
            "{}: {}",
            api.name(),
            client.get_json::<Value>(&format!("{base}{path}"))?
        );
    }
    Ok(())
}
