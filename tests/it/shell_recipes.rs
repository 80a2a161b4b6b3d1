//! The README's shell recipe, run as written under `bash -eu -o pipefail` with the real
//! `apiauth` and curl against loopback: it must fail closed.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use crate::cli::{User, stderr};
use crate::fixture::TokenServer;

/// The README's recipe: the `sh` block after the `tests/it/shell_recipes.rs` marker.
fn readme_recipe() -> String {
    let readme = include_str!("../../README.md");
    let marker = "<!-- tested by tests/it/shell_recipes.rs -->\n```sh\n";
    let found = readme.split_once(marker);
    let after = found.expect("the recipe marker in README.md").1;
    after.split_once("```").unwrap().0.to_owned()
}

/// Runs the recipe, pointed at `server`, as `user`, with the built `apiauth` first on PATH.
fn run_recipe(user: &User, server: &TokenServer) -> Output {
    let script = readme_recipe().replace("https://auth.example.com/token", &server.url("/token"));
    let script = script.replace("https://api.example.com", &server.url(""));
    let bin = Path::new(env!("CARGO_BIN_EXE_apiauth")).parent().unwrap();
    let mut bash = Command::new("bash");
    bash.args(["-eu", "-o", "pipefail", "-c", &script])
        .env_clear();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    bash.envs(user.env.iter().cloned()).env("PATH", path);
    bash.output().unwrap()
}

/// Whether curl is missing (then the test says so and passes, except in CI, where
/// `.ci/run` installs curl and a missing one is a failure).
fn curl_missing() -> bool {
    let found = Command::new("curl").arg("--version").output().is_ok();
    let ci = std::env::var_os("CI").is_some();
    assert!(found || !ci, "curl is missing in CI");
    if !found {
        eprintln!("curl is not installed: the README's recipe cannot run here");
    }
    !found
}

#[test]
fn a_wrong_secret_stops_the_recipe_before_the_api_is_called() {
    if curl_missing() {
        return;
    }
    let server = TokenServer::start();
    let token = server.json(401, json!({"error": "invalid_client"}));
    let api = server.any(200, json!("sent"));
    let out = run_recipe(&User::new("recipe-wrong", "id", "wrong"), &server);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(out.stdout, b"");
    assert_eq!((token.calls(), api.calls()), (1, 0));
}

#[test]
fn the_recipe_sends_the_header_once_credentials_are_right() {
    if curl_missing() {
        return;
    }
    let server = TokenServer::start();
    let token = server.token("T", 3600);
    let api = server.api("/v1/things", ("authorization", "Bearer T"), 200);
    let out = run_recipe(&User::new("recipe-right", "id", "secret"), &server);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, br#"{"for":"Bearer T"}"#);
    assert_eq!((token.calls(), api.calls()), (1, 1));
}
