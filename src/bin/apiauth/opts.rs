//! Every option of the command, declared once: its name, its value, the subcommands and
//! providers that take it, how its value is checked, and its line of `--help`.

use crate::urls;

/// The subcommands, as bits of [`Decl::commands`].
pub const HEADER: u8 = 1;
pub const TOKEN: u8 = 2;
pub const REQUEST: u8 = 4;
pub const LIST: u8 = 8;
pub const CLEAR: u8 = 16;
/// The subcommands that present a token (or Basic).
const AUTH: u8 = HEADER | TOKEN | REQUEST;

/// The subcommands by bit, with their names and one line each for `--help`.
pub const COMMANDS: [(u8, &str, &str, &str); 5] = [
    (
        REQUEST,
        "request",
        "--provider PROVIDER [options] PATH|URL",
        "call an API, print the answer",
    ),
    (
        HEADER,
        "header",
        "--provider PROVIDER [options]",
        "print the header for one API",
    ),
    (
        TOKEN,
        "token",
        "--provider PROVIDER [options]",
        "print the bare access token",
    ),
    (
        LIST,
        "cache list",
        "",
        "list the cached tokens (never the tokens)",
    ),
    (
        CLEAR,
        "cache clear",
        "[--provider … | --token-url URL] [--client-id ID]",
        "remove cached tokens (all without a selection)",
    ),
];

/// An option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum O {
    Provider,
    Api,
    Env,
    ClientAuth,
    TokenUrl,
    BaseUrl,
    Scope,
    Param,
    Format,
    CredentialsFile,
    NoCache,
    Refresh,
    Timeout,
    ApiBaseUrl,
    Method,
    Data,
    Header,
    Include,
    CustomerId,
    MaxTime,
    ClientId,
}

/// What an option's value must be; checked as the option is read, before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No value.
    Flag,
    /// Any text (checked later, where its meaning is known).
    Text,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// An http(s) URL as [`urls::check`] allows.
    Url,
    /// A positive number of seconds.
    Seconds,
    /// `NAME=VALUE`, with a name that does not look like a secret.
    Pair,
}

/// An option's declaration.
#[derive(Debug)]
pub struct Decl {
    pub long: &'static str,
    pub short: Option<char>,
    /// The value's placeholder in `--help` (empty for a flag).
    pub value: &'static str,
    pub kind: Kind,
    /// May be given more than once.
    pub repeat: bool,
    /// The subcommands that take it (bits).
    pub commands: u8,
    /// The only provider that takes it, if one.
    pub provider: Option<&'static str>,
    pub help: &'static str,
}

pub const PROVIDERS: &[&str] = &["my-connected-fleet", "motorweb", "generic"];
pub const APIS: &[&str] = &[
    "core",
    "smart-tire",
    "tacho",
    "vehicle-check",
    "job-management",
];
pub const ENVS: &[&str] = &["test", "production"];
pub const FORMATS: &[&str] = &["line", "value", "curl", "json"];
pub const CLIENT_AUTHS: &[&str] = &["basic", "basic-raw", "body"];
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Every option, in `--help`'s order.
pub const ALL: [O; 21] = [
    O::Provider,
    O::Api,
    O::Env,
    O::ClientAuth,
    O::TokenUrl,
    O::BaseUrl,
    O::Scope,
    O::Param,
    O::Format,
    O::CredentialsFile,
    O::NoCache,
    O::Refresh,
    O::Timeout,
    O::ApiBaseUrl,
    O::Method,
    O::Data,
    O::Header,
    O::Include,
    O::CustomerId,
    O::MaxTime,
    O::ClientId,
];

const fn d(long: &'static str, value: &'static str, kind: Kind, commands: u8) -> Decl {
    Decl {
        long,
        short: None,
        value,
        kind,
        repeat: false,
        commands,
        provider: None,
        help: "",
    }
}

impl O {
    /// The option's declaration.
    pub fn decl(self) -> Decl {
        use Kind::*;
        let auth_clear = AUTH | CLEAR;
        match self {
            O::Provider => Decl {
                help: "whose token endpoint and APIs",
                ..d("provider", "PROVIDER", Choice(PROVIDERS), auth_clear)
            },
            O::Api => Decl {
                provider: Some("my-connected-fleet"),
                help: "the API whose header to use (required for header and request)",
                ..d("api", "API", Choice(APIS), auth_clear)
            },
            O::Env => Decl {
                provider: Some("motorweb"),
                help: "the environment (required unless --base-url or --token-url)",
                ..d("env", "ENV", Choice(ENVS), auth_clear)
            },
            O::ClientAuth => Decl {
                provider: Some("generic"),
                help: "how the client authenticates: basic is RFC 6749 Basic (form-encoded id \
                       and secret, the default), basic-raw RFC 7617 Basic, body client_id and \
                       client_secret in the form body",
                ..d("client-auth", "STYLE", Choice(CLIENT_AUTHS), auth_clear)
            },
            O::TokenUrl => Decl {
                help: "the token endpoint (overrides the provider's)",
                ..d("token-url", "URL", Url, auth_clear)
            },
            O::BaseUrl => Decl {
                help: "the provider's base URL, for its token endpoint and its APIs alike \
                       (not for generic)",
                ..d("base-url", "URL", Url, auth_clear)
            },
            O::Scope => Decl {
                repeat: true,
                help: "a scope to ask for (repeatable)",
                ..d("scope", "S", Text, auth_clear)
            },
            O::Param => Decl {
                repeat: true,
                help: "an extra form parameter (repeatable)",
                ..d("param", "NAME=VALUE", Pair, auth_clear)
            },
            O::Format => Decl {
                help: "the output: line is `Name: value` (the default), curl `-H 'Name: value'`, \
                       json {\"name\", \"value\", \"expires_in\", \"expires_at\"} (RFC 3339 UTC)",
                ..d("format", "FORMAT", Choice(FORMATS), HEADER)
            },
            O::CredentialsFile => Decl {
                help: "APIAUTH_CLIENT_ID=… and APIAUTH_CLIENT_SECRET=… lines (see below)",
                ..d("credentials-file", "PATH", Text, AUTH)
            },
            O::NoCache => Decl {
                help: "neither read nor write the disk cache",
                ..d("no-cache", "", Flag, AUTH)
            },
            O::Refresh => Decl {
                help: "ask for a new token now, past any cached token or failure backoff",
                ..d("refresh", "", Flag, AUTH)
            },
            O::Timeout => Decl {
                help: "the limit for each phase of a request (default 10)",
                ..d("timeout", "SECONDS", Seconds, AUTH)
            },
            O::ApiBaseUrl => Decl {
                help: "where the APIs live (default: the provider's, or --base-url); \
                       required for generic with a path",
                ..d("api-base-url", "URL", Url, REQUEST)
            },
            O::Method => Decl {
                short: Some('X'),
                help: "the method (default GET, or POST with --data)",
                ..d("method", "METHOD", Choice(METHODS), REQUEST)
            },
            O::Data => Decl {
                short: Some('d'),
                help: "the body, from a file, stdin or the argument (at most 10 MiB; \
                       Content-Type: application/json unless --header sets one)",
                ..d("data", "@FILE|@-|TEXT", Text, REQUEST)
            },
            O::Header => Decl {
                short: Some('H'),
                repeat: true,
                help: "an extra header (repeatable); auth, cookie, host and body-framing \
                       headers are refused",
                ..d("header", "'NAME: VALUE'", Text, REQUEST)
            },
            O::Include => Decl {
                short: Some('i'),
                help: "print the status line and the response headers first",
                ..d("include", "", Flag, REQUEST)
            },
            O::CustomerId => Decl {
                provider: Some("my-connected-fleet"),
                help: "replaces {customerId} in the path",
                ..d("customer-id", "ID", Text, REQUEST)
            },
            O::MaxTime => Decl {
                help: "the limit for the whole API call, from connecting to the last byte of \
                       the answer (default 300)",
                ..d("max-time", "SECONDS", Seconds, REQUEST)
            },
            O::ClientId => Decl {
                help: "only the entries of this client id",
                ..d("client-id", "ID", Text, CLEAR)
            },
        }
    }
}

/// The option named `--long`, if any.
pub fn by_long(long: &str) -> Option<O> {
    ALL.into_iter().find(|o| o.decl().long == long)
}

/// The option named `-short`, if any.
pub fn by_short(short: char) -> Option<O> {
    ALL.into_iter().find(|o| o.decl().short == Some(short))
}

/// Checks `value` for `o` as its kind says, and returns it (a choice in its canonical
/// spelling: `-X put` is `PUT`). The message never repeats the value.
pub fn check(o: O, value: String) -> Result<String, String> {
    let decl = o.decl();
    let long = decl.long;
    match decl.kind {
        Kind::Flag | Kind::Text => Ok(value),
        Kind::Choice(words) => words
            .iter()
            .find(|w| w.eq_ignore_ascii_case(&value))
            .map(|w| (*w).to_owned())
            .ok_or_else(|| format!("--{long} takes {}", one_of(words))),
        Kind::Url => match urls::check(&value) {
            Ok(()) => Ok(value),
            Err(why) => Err(format!("--{long} {why}")),
        },
        Kind::Seconds => match seconds(&value) {
            Some(_) => Ok(value),
            None => Err(format!(
                "--{long} takes a positive number of seconds, at most 1000000"
            )),
        },
        Kind::Pair => match value.split_once('=') {
            Some((name, _)) if secret_like(name) => Err(SECRET_ON_ARGV.into()),
            Some((name, _)) if !name.is_empty() => Ok(value.clone()),
            _ => Err(format!("--{long} takes NAME=VALUE")),
        },
    }
}

/// `a, b or c`.
pub fn one_of(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// A positive, finite number of seconds.
/// The longest time limit taken: about 11 days (a limit beyond any use, and far from the
/// clock arithmetic's overflow).
const MAX_SECONDS: f64 = 1e6;

pub fn seconds(text: &str) -> Option<std::time::Duration> {
    let secs = text.parse::<f64>().ok().filter(|s| *s <= MAX_SECONDS)?;
    std::time::Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
}

pub const SECRET_ON_ARGV: &str = "refusing a secret on the command line: every user of this host \
    can read it with `ps`; set APIAUTH_CLIENT_SECRET or use --credentials-file (chmod 600)";

/// Whether an option or parameter name looks like it carries a secret.
pub fn secret_like(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "password", "passwd"]
        .iter()
        .any(|word| name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_option_once() {
        for (i, a) in ALL.iter().enumerate() {
            let da = a.decl();
            assert!(!da.help.is_empty(), "{}", da.long);
            assert_eq!(da.value.is_empty(), da.kind == Kind::Flag, "{}", da.long);
            for b in &ALL[i + 1..] {
                assert_ne!(da.long, b.decl().long);
                assert!(da.short.is_none() || da.short != b.decl().short);
            }
        }
    }
}
