//! Presets for the providers apiauth is built from: token URLs, client authentication and
//! header schemes, as data (the base URL is moved with
//! [`TokenConfig::with_base_url`](crate::TokenConfig::with_base_url)).

pub mod motorweb;
pub mod my_connected_fleet;
