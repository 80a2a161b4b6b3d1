//! The smallest useful program: fetch a token and print its header line.
//!
//! `APIAUTH_TOKEN_URL=https://… APIAUTH_CLIENT_ID=… APIAUTH_CLIENT_SECRET=… cargo run --example header`
//! Used by `benches/footprint.sh` to measure what apiauth adds to a binary.

use apiauth::{Credentials, TokenConfig, TokenScheme};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let creds = Credentials::new(var("APIAUTH_CLIENT_ID")?, var("APIAUTH_CLIENT_SECRET")?)?;
    let token = TokenConfig::new(var("APIAUTH_TOKEN_URL")?, creds)
        .build()?
        .token()?;
    let (name, value) = token.header(TokenScheme::Bearer);
    println!("{name}: {}", value.to_str()?);
    Ok(())
}
