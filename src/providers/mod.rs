//! Presets for the providers apiauth is built from: token URLs, client authentication and
//! header schemes, each with a base-URL override.

pub mod motorweb;
pub mod my_connected_fleet;
