//! Integration tests of the Redis store against a real redis-server: "hosts" are this test
//! binary run again as child processes (the `host` test below), each with its own memory
//! and no disk cache, counting requests at a loopback token endpoint.

mod cluster;
mod faults;
mod hosts;
mod server;
mod store;
mod support;
mod tls;

/// A host of the fleet when `FLEET_REDIS` is set (a child process of another test); does
/// nothing otherwise.
#[test]
fn host() {
    support::run_host();
}
