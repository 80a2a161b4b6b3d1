//! The command line, read in one `lexopt` loop into typed [`Settings`]. Every option is
//! declared once, in [`OPTIONS`]: where it applies, its names and its help; [`set`] reads its
//! value (words with `FromStr`: the library's own for library types).
//!
//! No error repeats a value or an unknown option as typed: a misplaced secret could be in it.

use std::str::FromStr;
use std::time::Duration;

use apiauth::http::Method;
use apiauth::providers::motorweb::{self, Environment};
use apiauth::providers::my_connected_fleet::{self, Api};
use apiauth::{BasicEncoding, ClientAuth, TokenScheme};
use lexopt::{Arg, ValueExt};

use crate::urls;

/// What was asked for.
#[derive(Debug)]
pub enum Invocation {
    /// `--help`, for the subcommand if one was named.
    Help(Option<Command>),
    Version,
    Run(Box<Settings>),
}

/// Where the header comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderSource {
    /// myConnectedFleet's Core API: raw Basic from the credentials, nothing to fetch.
    CoreBasic,
    /// A token from `token_url` (with the settings' scopes, parameters and timeout).
    Token(String, ClientAuth, TokenScheme),
}

/// The command line, read and typed. [`parse`] checks the options against each other and
/// fills in what the provider implies: `source` and `api_base_url`.
#[derive(Debug, Default)]
pub struct Settings {
    /// Always set once parsed.
    pub command: Option<Command>,
    /// The words read: the subcommand's, then `request`'s target.
    pub words: Vec<String>,
    pub provider: Option<Provider>,
    api: Option<Api>,
    env: Option<Environment>,
    /// `--client-auth`: a style of the library's with the shared secret, or a method without.
    client_auth: Option<ClientAuth>,
    pub key_method: Option<KeyMethod>,
    pub alg: Option<Alg>,
    pub format: Option<Format>,
    /// The limit for each phase of a request (`--timeout`): 10 s unless given.
    pub timeout: Duration,
    pub api_base_url: Option<String>,
    pub method: Option<Method>,
    /// The limit for the whole API call (`--max-time`): 300 s unless given.
    pub max_time: Duration,
    /// Every option read, with its value as given (empty for a flag): [`Settings::get`].
    given: Vec<(Opt, String)>,
    /// For `header`, `token`, `request` and `cache clear --provider`.
    pub source: Option<HeaderSource>,
}

impl Settings {
    /// The values given to option `long`, in order.
    pub fn all(&self, long: &str) -> impl Iterator<Item = &str> {
        (self.given.iter()).filter_map(move |(o, v)| (o.long == long).then_some(v.as_str()))
    }

    /// The value of option `long` (empty for a flag), if given.
    pub fn get(&self, long: &str) -> Option<&str> {
        self.all(long).next()
    }

    /// The `--param`s: each NAME and VALUE.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.all("param").filter_map(|param| param.split_once('='))
    }
}

/// The command's own enums, as the library's: `ALL` in `--help`'s order, `name` and
/// `FromStr` (any case).
macro_rules! words {
    ($($(#[$doc:meta])* $type:ident { $($variant:ident = $name:literal),* })*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $type { $($variant),* }
        impl $type {
            const ALL: &[$type] = &[$($type::$variant),*];
            pub fn name(self) -> &'static str {
                match self { $($type::$variant => $name),* }
            }
        }
        impl FromStr for $type {
            type Err = ();
            fn from_str(name: &str) -> Result<$type, ()> {
                Self::ALL.iter().copied().find(|it| it.name().eq_ignore_ascii_case(name)).ok_or(())
            }
        }
    )*};
}
words! {
    /// A subcommand.
    Command { Request = "request", Header = "header", Token = "token",
        CacheClear = "cache clear", CacheList = "cache list" }
    /// Whose token endpoint and APIs.
    Provider { MyConnectedFleet = "my-connected-fleet", Motorweb = "motorweb", Generic = "generic" }
    /// What `apiauth header` prints.
    Format { Line = "line", Value = "value", Curl = "curl", Json = "json" }
    /// `--alg`: the algorithm the `--private-key` must sign with.
    Alg { Rs256 = "RS256", Es256 = "ES256" }
    /// A client authentication without a shared secret (but for client-secret-jwt's HMAC).
    KeyMethod { PrivateKeyJwt = "private-key-jwt", ClientSecretJwt = "client-secret-jwt",
        Assertion = "assertion", TlsClientAuth = "tls-client-auth" }
}

/// The names of the types' `ALL`, in order: the library's own for library types.
macro_rules! names {
    ($($type:ty),*) => { [$(<$type>::ALL.iter().map(|it| it.name()).collect::<Vec<_>>()),*].concat() };
}

/// Every option but `-h` and `-V`, in `--help`'s order, one a line: the subcommands it
/// applies to (`all`; `auth`: request, header, token; `auth+clear`: and cache clear) and,
/// after a `/`, the providers or client authentications it is only for (`--provider=a,b`);
/// its synopsis (`-s, --long VALUE`; no VALUE for a flag), two spaces, its help.
/// [`words_of`] says the words it takes.
const OPTIONS: &str = "\
all -v, --verbose  log what apiauth does to stderr; -vv also Debug records (see below)
auth+clear --provider PROVIDER  whose token endpoint and APIs
auth+clear/--provider=my-connected-fleet --api API  the API whose header to use (header, request)
auth+clear/--provider=motorweb --env ENV  the environment (unless --base-url or --token-url)
auth+clear --token-url URL  the token endpoint (overrides the provider's)
auth+clear --base-url URL  the provider's base URL, for token endpoint and APIs
auth+clear --scope S  a scope to ask for (repeatable)
auth+clear --param NAME=VALUE  an extra form parameter (repeatable)
header --format FORMAT  what to print (see below)
auth --credentials-file PATH  where the client id and secret are (see below)
auth/--provider=generic --client-auth STYLE  how the client authenticates (see below)
auth/--client-auth=private-key-jwt --private-key FILE  the PEM key that signs private-key-jwt assertions
auth/--client-auth=private-key-jwt,client-secret-jwt --key-id KID  the kid of the signed assertions
auth/--client-auth=private-key-jwt --alg ALG  refuse a --private-key that does not sign with ALG
auth/--client-auth=assertion --client-assertion-file FILE  the assertion, read again for every token request
auth/--client-auth=assertion --client-assertion-command PROG  the program that prints the assertion (no shell)
auth/--client-auth=assertion --client-assertion-arg ARG  an argument of that program (repeatable)
auth --cert FILE  the client certificate chain (PEM), with --key
auth --key FILE  the client certificate's private key (PEM)
auth --cacert FILE  trust only these CA certificates (PEM)
auth --no-cache  neither read nor write the disk cache
auth --refresh  ask for a new token now, past any cached token or backoff
auth --timeout SECONDS  the limit for each phase of a request (default 10)
request --api-base-url URL  where the APIs live (default: the provider's)
request -X, --method METHOD  the method (default GET, or POST with --data)
request -d, --data @FILE|@-|TEXT  the body: a file, stdin or the text itself
request -H, --header 'NAME: VALUE'  an extra header (repeatable)
request -i, --include  print the status line and the response headers first
request/--provider=my-connected-fleet --customer-id ID  replaces {customerId} in the path
request --max-time SECONDS  the limit for the whole API call (default 300)
clear --client-id ID  only the entries of this client id";

/// One line of [`OPTIONS`].
#[derive(Debug, Clone)]
struct Opt {
    commands: &'static [Command],
    /// The option whose values it is only for (`--provider`, `--client-auth`), and those
    /// values (`--provider=a,b` in the table), if any.
    only: Option<(&'static str, Vec<&'static str>)>,
    synopsis: &'static str,
    short: Option<char>,
    long: &'static str,
    takes_value: bool,
    help: &'static str,
}

fn options() -> impl Iterator<Item = Opt> {
    OPTIONS.lines().map(|line| {
        let (group, rest) = line.split_once(' ').unwrap_or_default();
        let (group, only) = group.split_once('/').unwrap_or((group, ""));
        let (synopsis, help) = rest.split_once("  ").unwrap_or_default();
        let (short, long) = synopsis.split_once(", ").unwrap_or(("", synopsis));
        let (long, value) = long.split_once(' ').unwrap_or((long, ""));
        let commands = match group {
            "auth" => &Command::ALL[..3],
            "auth+clear" => &Command::ALL[..4],
            "request" => &[Command::Request],
            "header" => &[Command::Header],
            "clear" => &[Command::CacheClear],
            _ => Command::ALL,
        };
        Opt {
            commands,
            only: (only.split_once('=')).map(|(what, names)| (what, names.split(',').collect())),
            synopsis,
            short: short.chars().nth(1),
            long: long.trim_start_matches('-'),
            takes_value: !value.is_empty(),
            help: help.trim(),
        }
    })
}

/// The words `long` takes, for `--help` and its messages.
fn words_of(long: &str) -> Vec<&'static str> {
    match long {
        "provider" => names!(Provider),
        "api" => names!(Api),
        "env" => names!(Environment),
        "client-auth" => names!(ClientAuth, KeyMethod),
        "alg" => names!(Alg),
        "format" => names!(Format),
        "method" => METHODS.split(' ').collect(),
        _ => Vec::new(),
    }
}

/// `--method`'s words.
const METHODS: &str = "GET HEAD POST PUT PATCH DELETE OPTIONS";

/// Reads the `value` of option `long` into the typed settings (the others keep it as given).
fn set(s: &mut Settings, long: &str, value: &str) -> Result<(), String> {
    match long {
        "provider" => s.provider = Some(word(value, long)?),
        "api" => s.api = Some(word(value, long)?),
        "env" => s.env = Some(word(value, long)?),
        "client-auth" => match value.parse() {
            Ok(style) => s.client_auth = Some(style),
            Err(_) => s.key_method = Some(word(value, long)?),
        },
        "alg" => s.alg = Some(word(value, long)?),
        "token-url" | "base-url" | "api-base-url" => urls::check(value)?,
        "param" if value.starts_with('=') || !value.contains('=') => Err("takes NAME=VALUE")?,
        "format" => s.format = Some(word(value, long)?),
        "timeout" => s.timeout = seconds(value)?,
        "method" => s.method = Some(word(value, long)?),
        "max-time" => s.max_time = seconds(value)?,
        _ => {}
    }
    Ok(())
}

pub const SECRET_ON_ARGV: &str = "refusing a secret on the command line: every user of this host \
    can read it with `ps`; set APIAUTH_CLIENT_SECRET or use --credentials-file (chmod 600)";

/// Parses the arguments after the program name. The error is a one-line usage message.
pub fn parse(args: Vec<String>) -> Result<Invocation, String> {
    let total = args.len();
    let mut parser = lexopt::Parser::from_args(args);
    let mut settings = Settings {
        timeout: Duration::from_secs(10),
        max_time: Duration::from_secs(300),
        ..Settings::default()
    };
    // The 1-based position of the argument being read (for messages that cannot quote it);
    // within a cluster of short options (`-iv`), the cluster's.
    let mut at = 1;
    loop {
        at = (parser.try_raw_args()).map_or(at, |rest| total - rest.as_slice().len() + 1);
        let Some(arg) = parser.next().map_err(lex_error)? else {
            break;
        };
        let found = match arg {
            Arg::Short('h') | Arg::Long("help") => return Ok(Invocation::Help(settings.command)),
            Arg::Short('V') | Arg::Long("version") => return Ok(Invocation::Version),
            Arg::Long(name) if carries_secret(name, 3) => return Err(SECRET_ON_ARGV.into()),
            Arg::Short(short) => options().find(|o| o.short == Some(short)),
            Arg::Long(long) => options().find(|o| o.long == long),
            // A word: the subcommand's, or `request`'s target.
            Arg::Value(value) => {
                let value = value.into_string().map_err(|_| "arguments must be UTF-8")?;
                let words: Vec<&str> = settings.words.iter().map(String::as_str).collect();
                // The words so far name a command (`cache clear`), one word at a time.
                let said = [words.as_slice(), &[value.as_str()]].concat().join(" ");
                let named = Command::ALL.iter().copied().find(|c| c.name() == said);
                settings.command = match (words.as_slice(), value.as_str()) {
                    _ if named.is_some() && !value.contains(' ') => named,
                    ([], "help") => return Ok(Invocation::Help(None)),
                    ([], "cache") => None,
                    ([], _) => Err("unknown command: say request, header, token or cache")?,
                    (["cache"], _) => Err("say `apiauth cache list` or `apiauth cache clear`")?,
                    (["request"], _) => settings.command,
                    _ => Err(format!("unexpected argument at position {at}"))?,
                };
                settings.words.push(value);
                continue;
            }
        };
        let option = found.ok_or_else(|| format!("unknown option at argument {at}"))?;
        let long = option.long;
        let value = match option.takes_value {
            false => String::new(),
            true => parser.value().and_then(|v| v.string()).map_err(lex_error)?,
        };
        let repeats = long == "verbose" || option.help.ends_with("(repeatable)");
        if !repeats && settings.get(long).is_some() {
            return Err(format!("--{long} is given more than once"));
        }
        set(&mut settings, long, &value).map_err(|why| format!("--{long} {why}"))?;
        settings.given.push((option, value));
    }
    // A parameter can also carry an assertion, a token or a key: never on argv.
    if settings.params().any(|(name, _)| carries_secret(name, 6)) {
        return Err(SECRET_ON_ARGV.into());
    }
    (settings.given.iter()).try_for_each(|(option, _)| applies(&settings, option))?;
    finish(&mut settings)?;
    Ok(Invocation::Run(Box::new(settings)))
}

/// Refuses `option` where it does not apply: another subcommand, another provider, another
/// client authentication.
fn applies(settings: &Settings, option: &Opt) -> Result<(), String> {
    let (long, commands) = (option.long, option.commands);
    if settings.command.is_some_and(|c| !commands.contains(&c)) {
        let names: Vec<&str> = commands.iter().map(|c| c.name()).collect();
        return Err(format!("--{long} applies to apiauth {}", one_of(&names)));
    }
    // The value of `--provider` or `--client-auth`, read: lowercase, as every name it may be.
    let given = |what: &str| settings.get(&what[2..]).map(str::to_ascii_lowercase);
    match &option.only {
        Some((what, names)) if !names.contains(&given(what).unwrap_or_default().as_str()) => {
            Err(format!("--{long} applies only to {what} {}", one_of(names)))
        }
        _ => Ok(()),
    }
}

/// Checks what the options mean together (the provider's, the client key's), and fills in
/// what the provider implies: the header's source and where its APIs live.
fn finish(settings: &mut Settings) -> Result<(), String> {
    let command = match (settings.command, settings.words.is_empty()) {
        (Some(command), _) => command,
        (None, true) => Err("say `apiauth request`, `apiauth header` or `apiauth token`")?,
        (None, false) => Err("say `apiauth cache list` or `apiauth cache clear`")?,
    };
    let clear_all = (command, settings.provider) == (Command::CacheClear, None);
    if command == Command::CacheList || clear_all {
        return Ok(());
    }
    let (base_url, token_url) = (settings.get("base-url"), settings.get("token-url"));
    let (api, env) = (settings.api, settings.env);
    let (url, apis, client_auth) = match settings.provider.ok_or("--provider is required")? {
        Provider::MyConnectedFleet => {
            if api.is_none() && matches!(command, Command::Header | Command::Request) {
                return Err("--api is required".into());
            }
            if api == Some(Api::Core) && command == Command::Token {
                return Err("the core api takes Basic, not a token: use `apiauth header`".into());
            }
            let url = urls::preset_url(my_connected_fleet::token_config, base_url);
            let apis = base_url.unwrap_or(Api::Core.base_url());
            (url, Some(apis), ClientAuth::Basic(BasicEncoding::Raw))
        }
        Provider::Motorweb => {
            let base = base_url.or(env.map(Environment::base_url));
            if base.is_none() && token_url.is_none() {
                return Err("--env is required (test or production)".into());
            }
            let env = env.unwrap_or(Environment::Test);
            let url = urls::preset_url(|c| motorweb::token_config(env, c), base);
            (url, base, ClientAuth::RequestBody)
        }
        Provider::Generic => {
            if base_url.is_some() {
                return Err("--provider generic takes --token-url, not --base-url".into());
            }
            let url = (token_url.ok_or("--provider generic needs --token-url")?).to_owned();
            let form_encoded = ClientAuth::Basic(BasicEncoding::FormUrlEncoded);
            (url, None, settings.client_auth.unwrap_or(form_encoded))
        }
    };
    let scheme = api.map_or(TokenScheme::Bearer, Api::token_scheme);
    let source = match api {
        Some(Api::Core) => HeaderSource::CoreBasic,
        _ => HeaderSource::Token(token_url.map_or(url, Into::into), client_auth, scheme),
    };
    settings.api_base_url = settings.get("api-base-url").or(apis).map(Into::into);
    settings.source = Some(source);
    if command == Command::Request && settings.words.len() < 2 {
        return Err("`apiauth request` needs a path or URL".into());
    }
    if command == Command::CacheClear && api == Some(Api::Core) {
        return Err("the core api has no tokens to clear".into());
    }
    // The options of the client key and certificate come together.
    let has = |long| settings.get(long).is_some();
    let program = has("client-assertion-command");
    let missing = match settings.key_method {
        Some(KeyMethod::PrivateKeyJwt) if !has("private-key") => "--private-key FILE",
        Some(KeyMethod::Assertion) if has("client-assertion-file") == program => {
            "one of --client-assertion-file FILE and --client-assertion-command PROG"
        }
        Some(KeyMethod::TlsClientAuth) if !has("cert") => "--cert FILE and --key FILE",
        _ if has("cert") != has("key") => Err("--cert and --key go together")?,
        _ if has("client-assertion-arg") && !program => {
            Err("--client-assertion-arg needs --client-assertion-command")?
        }
        _ => return Ok(()),
    };
    let method = settings.key_method.map(KeyMethod::name).unwrap_or_default();
    Err(format!("--client-auth {method} needs {missing}"))
}

/// One of the words of option `long`, in any case, read by `T`'s `FromStr` as it spells it.
fn word<T: FromStr>(value: &str, long: &str) -> Result<T, String> {
    let words = words_of(long);
    let found = words.iter().find(|word| word.eq_ignore_ascii_case(value));
    (found.and_then(|word| word.parse().ok())).ok_or_else(|| format!("takes {}", one_of(&words)))
}

/// A positive, finite number of seconds, at most 1,000,000 (about 11 days: a limit beyond any
/// use, and far from the clock arithmetic's overflow).
fn seconds(value: &str) -> Result<Duration, String> {
    let secs = value.parse::<f64>().ok().filter(|secs| *secs <= 1e6);
    let time = secs.and_then(|secs| Duration::try_from_secs_f64(secs).ok());
    let time = time.filter(|time| !time.is_zero());
    time.ok_or_else(|| "takes a positive number of seconds, at most 1000000".into())
}

/// `a, b or c`.
fn one_of(words: &[&str]) -> String {
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => words.concat(),
    }
}

/// Whether an option's name (the first 3 words) or a parameter's name (all 6) holds a word
/// of a secret, in any case.
fn carries_secret(name: &str, words: usize) -> bool {
    let name = name.to_ascii_lowercase();
    let secret = ["secret", "password", "passwd", "assertion", "token", "key"];
    secret[..words].iter().any(|word| name.contains(word))
}

/// lexopt's error, without the value it may quote.
fn lex_error(error: lexopt::Error) -> String {
    match error {
        lexopt::Error::MissingValue { option: Some(o) } => format!("{o} needs a value"),
        lexopt::Error::UnexpectedValue { option, .. } => format!("{option} takes no value"),
        _ => "the arguments could not be read".into(),
    }
}

/// The help for `command` (every command for `None`): the sections of `help.txt` that concern
/// it, with the options where `[options]` stands.
pub fn help(command: Option<Command>) -> String {
    // help.txt: a line on its layout, then sections, each under the subcommands whose help
    // shows it (`[request,header,token]`; `[always]`; `[all]`: the full help only).
    let shown = |tag: &str| tag == "always" || command.is_none_or(|c| c.name() == tag);
    let mut out = String::new();
    for section in include_str!("help.txt").split("\n[").skip(1) {
        let (tags, text) = section.split_once("]\n").unwrap_or_default();
        match tags {
            "options" => options_help(command, &mut out),
            _ if tags.split(',').any(shown) => out += &format!("{}\n", text.trim_end()),
            _ => {}
        }
    }
    out
}

/// The options of `command`'s help (every option for `None`), each with where it applies and
/// the words it takes on lines of their own.
fn options_help(command: Option<Command>, out: &mut String) {
    out.push_str("\nOptions:\n");
    for option in options().filter(|o| command.is_none_or(|c| o.commands.contains(&c))) {
        let pad = if option.short.is_some() { "" } else { "    " };
        let name = format!("{pad}{}", option.synopsis);
        *out += &format!("  {name:<27} {}\n", option.help);
        let only =
            (option.only.as_ref()).map(|(what, names)| format!("{what} {} only", one_of(names)));
        let words = Some(one_of(&words_of(option.long))).filter(|words| !words.is_empty());
        let command = (command.is_none() && option.commands.len() == 1)
            .then(|| format!("apiauth {} only", option.commands[0].name()));
        for more in [only, words, command].into_iter().flatten() {
            // At most 80 columns a line, broken after a comma.
            let mut line = String::new();
            for piece in more.split_inclusive(", ") {
                if line.len() + piece.len() > 80 {
                    *out += &format!("{:30}{}\n", "", std::mem::take(&mut line).trim_end());
                }
                line += piece;
            }
            *out += &format!("{:30}{line}\n", "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value no message may repeat.
    const PROBE: &str = "Zq7PROBE";

    fn parse_words(words: &[&str]) -> Result<Invocation, String> {
        parse(words.iter().map(|w| w.replace("{P}", PROBE)).collect())
    }

    fn parse_str(line: &str) -> Result<Invocation, String> {
        parse_words(&line.split_whitespace().collect::<Vec<_>>())
    }

    fn error(line: &str) -> String {
        let message = parse_str(line).unwrap_err();
        assert!(!message.contains(PROBE), "{line}: {message}");
        message
    }

    fn settings(line: &str) -> Settings {
        match parse_str(line).unwrap() {
            Invocation::Run(settings) => *settings,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn secrets_on_argv_are_refused_without_being_echoed() {
        for line in [
            "header --provider motorweb --env test --client-secret {P}",
            "header --provider motorweb --env test --client-secret={P}",
            "header --provider generic --token-url http://127.0.0.1/t --param client_secret={P}",
            "token --password {P} --provider motorweb",
            "header --provider generic --token-url http://127.0.0.1/t --param assertion={P}",
            "header --provider generic --token-url http://127.0.0.1/t --param Client_Assertion={P}",
            "header --provider generic --token-url http://127.0.0.1/t --param api_key={P}",
            "header --provider generic --token-url http://127.0.0.1/t --param access_token={P}",
        ] {
            assert_eq!(error(line), SECRET_ON_ARGV, "{line}");
        }
        assert_eq!(error("header {P}"), "unexpected argument at position 2");
    }

    #[test]
    fn nothing_typed_is_echoed() {
        let mw = "request --provider motorweb --env test";
        for (line, expected) in [
            ("header --{P}", "unknown option at argument 2"),
            (
                "header --provider motorweb -iq{P}",
                "unknown option at argument 4",
            ),
            (
                "{P}",
                "unknown command: say request, header, token or cache",
            ),
            (
                "cache {P}",
                "say `apiauth cache list` or `apiauth cache clear`",
            ),
            (
                "header --provider {P}",
                "--provider takes my-connected-fleet, motorweb or generic",
            ),
            (
                "header --provider motorweb --env {P}",
                "--env takes test or production",
            ),
            (
                "header --provider my-connected-fleet --api {P}",
                "--api takes core, smart-tire, tacho, vehicle-check or job-management",
            ),
            (
                "header --format {P}",
                "--format takes line, value, curl or json",
            ),
            (
                "header --client-auth {P}",
                "--client-auth takes basic, basic-raw, body, private-key-jwt, client-secret-jwt, \
                 assertion or tls-client-auth",
            ),
            (
                &format!("{mw} -X{PROBE} /p"),
                "--method takes GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS",
            ),
            (
                &format!("{mw} --method PROPFIND /p"),
                "--method takes GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS",
            ),
            (
                "header --token-url https://u:{P}@a.example/t",
                "--token-url takes an http(s) URL without user or password",
            ),
            (
                "header --base-url http://{P}.example/",
                "--base-url must be https: plain http is allowed only to loopback \
                 (127.0.0.0/8, [::1], localhost)",
            ),
            (
                "header --timeout {P}",
                "--timeout takes a positive number of seconds, at most 1000000",
            ),
            (
                "header --timeout 1e19",
                "--timeout takes a positive number of seconds, at most 1000000",
            ),
            (
                &format!("{mw} --max-time 0 /p"),
                "--max-time takes a positive number of seconds, at most 1000000",
            ),
            ("header --param {P}", "--param takes NAME=VALUE"),
            ("header --alg {P}", "--alg takes RS256 or ES256"),
            ("header --no-cache={P}", "--no-cache takes no value"),
            ("header --provider", "--provider needs a value"),
            (
                &format!("{mw} /p {PROBE}"),
                "unexpected argument at position 7",
            ),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }

    #[test]
    fn values_are_checked_whatever_else_is_given() {
        // A typo in --env is refused even where --base-url makes it unused.
        assert_eq!(
            error("header --provider motorweb --env prod --base-url https://a.example"),
            "--env takes test or production"
        );
        assert_eq!(
            error("header --provider motorweb --provider generic"),
            "--provider is given more than once"
        );
        assert_eq!(
            error("header --provider generic --client-auth body --client-auth assertion"),
            "--client-auth is given more than once"
        );
    }

    #[test]
    fn options_apply_to_their_commands_and_providers() {
        for (line, expected) in [
            (
                "header --provider motorweb --env test --api-base-url https://a.example",
                "--api-base-url applies to apiauth request",
            ),
            (
                "cache list --format json",
                "--format applies to apiauth header",
            ),
            (
                "cache list --provider motorweb",
                "--provider applies to apiauth request, header, token or cache clear",
            ),
            (
                "token --provider motorweb --env test --client-id a",
                "--client-id applies to apiauth cache clear",
            ),
            (
                "header --provider motorweb --api tacho",
                "--api applies only to --provider my-connected-fleet",
            ),
            (
                "header --provider generic --env test",
                "--env applies only to --provider motorweb",
            ),
            (
                "header --provider motorweb --env test --client-auth body",
                "--client-auth applies only to --provider generic",
            ),
            (
                "request --provider motorweb --env test --customer-id 1 /p",
                "--customer-id applies only to --provider my-connected-fleet",
            ),
            (
                "header --provider generic --token-url http://127.0.0.1/t --private-key k",
                "--private-key applies only to --client-auth private-key-jwt",
            ),
            (
                "header --provider generic --client-auth body --key-id k",
                "--key-id applies only to --client-auth private-key-jwt or client-secret-jwt",
            ),
            (
                "header --provider generic --client-assertion-arg a",
                "--client-assertion-arg applies only to --client-auth assertion",
            ),
            (
                "header --provider generic --token-url http://127.0.0.1/t \
                 --client-auth private-key-jwt",
                "--client-auth private-key-jwt needs --private-key FILE",
            ),
            (
                "header --provider generic --token-url http://127.0.0.1/t --client-auth assertion \
                 --client-assertion-file f --client-assertion-command c",
                "--client-auth assertion needs one of --client-assertion-file FILE and \
                 --client-assertion-command PROG",
            ),
            (
                "header --provider generic --token-url http://127.0.0.1/t --client-auth assertion \
                 --client-assertion-file f --client-assertion-arg a",
                "--client-assertion-arg needs --client-assertion-command",
            ),
            (
                "header --provider generic --token-url http://127.0.0.1/t \
                 --client-auth tls-client-auth",
                "--client-auth tls-client-auth needs --cert FILE and --key FILE",
            ),
            (
                "header --provider motorweb --env test --cert c",
                "--cert and --key go together",
            ),
            ("header --provider my-connected-fleet", "--api is required"),
            (
                "header --provider motorweb",
                "--env is required (test or production)",
            ),
            (
                "header --provider generic",
                "--provider generic needs --token-url",
            ),
            ("header", "--provider is required"),
            (
                "",
                "say `apiauth request`, `apiauth header` or `apiauth token`",
            ),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }

    #[test]
    fn spellings_lexopt_reads() {
        let call = settings("request --provider=motorweb --env test -XPUT -vv -iH A:b -- /p");
        assert_eq!(call.all("verbose").count(), 2);
        assert_eq!(call.method, Some(Method::PUT));
        assert_eq!(call.all("header").collect::<Vec<_>>(), ["A:b"]);
        assert_eq!(call.get("include"), Some(""));
        assert_eq!(call.words, ["request", "/p"]);
        let words = [
            "request",
            "--provider",
            "generic",
            "--token-url=https://a/t",
            "-d-x",
            "--",
            "-i",
        ];
        let call = match parse_words(&words).unwrap() {
            Invocation::Run(settings) => settings,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (call.get("data"), call.words[1].as_str()),
            (Some("-x"), "-i")
        );
        assert_eq!(call.max_time, Duration::from_secs(300));
        assert_eq!(call.timeout, Duration::from_secs(10));
    }

    #[test]
    fn help_per_command() {
        let help = |line| match parse_str(line).unwrap() {
            Invocation::Help(command) => command,
            other => panic!("{other:?}"),
        };
        assert_eq!(help("--help"), None);
        assert_eq!(help("help"), None);
        assert_eq!(help("header --help"), Some(Command::Header));
        assert_eq!(help("request -h"), Some(Command::Request));
        assert_eq!(help("cache clear --help"), Some(Command::CacheClear));
    }

    #[test]
    fn token_endpoints_per_provider() {
        let endpoint = |line: &str| match settings(line).source {
            Some(HeaderSource::Token(token_url, client_auth, _)) => (token_url, client_auth.name()),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            endpoint("token --provider motorweb --env test"),
            ("https://api.tst.motorweb.app/auth/v1/token".into(), "body")
        );
        assert_eq!(
            endpoint("token --provider my-connected-fleet --base-url http://127.0.0.1:1/"),
            (
                "http://127.0.0.1:1/masternauth-oauth/oauth/accessToken".into(),
                "basic-raw"
            )
        );
        assert_eq!(
            endpoint(
                "header --provider generic --token-url https://a.example/t --client-auth body"
            ),
            ("https://a.example/t".into(), "body")
        );
        assert_eq!(
            endpoint("header --provider generic --token-url https://a.example/t"),
            ("https://a.example/t".into(), "basic")
        );
    }

    #[test]
    fn base_url_moves_token_endpoint_and_apis_alike() {
        let base = "http://127.0.0.1:9";
        for provider in ["my-connected-fleet --api tacho", "motorweb"] {
            let call = settings(&format!(
                "request --provider {provider} --base-url {base} /p"
            ));
            assert_eq!(call.api_base_url.as_deref(), Some(base), "{provider}");
            let Some(HeaderSource::Token(token_url, ..)) = call.source else {
                panic!()
            };
            assert!(token_url.starts_with(base), "{provider}");
        }
        let line =
            "request --provider my-connected-fleet --api core --base-url http://127.0.0.1:9 /p";
        assert_eq!(settings(line).api_base_url.as_deref(), Some(base));
        assert_eq!(settings(line).source, Some(HeaderSource::CoreBasic));
    }

    #[test]
    fn every_option_once_with_help() {
        let all: Vec<Opt> = options().collect();
        for (i, option) in all.iter().enumerate() {
            assert!(!option.help.is_empty(), "{}", option.synopsis);
            assert!(!option.commands.is_empty() || option.long == "verbose");
            for other in &all[i + 1..] {
                assert_ne!(option.long, other.long);
                assert!(option.short.is_none() || option.short != other.short);
            }
        }
    }

    #[test]
    fn every_option_is_in_the_help_and_only_its_commands_show_it() {
        let all = help(None);
        for option in options() {
            assert!(all.contains(option.synopsis), "{}", option.synopsis);
        }
        let header = help(Some(Command::Header));
        assert!(header.contains("--format FORMAT"));
        assert!(!header.contains("--data"));
        assert!(!header.contains("apiauth token"));
        assert!(help(Some(Command::Request)).contains("-X, --method METHOD"));
        assert!(!help(Some(Command::CacheList)).contains("--provider"));
        for line in all.lines() {
            assert!(line.chars().count() <= 110, "{line}");
        }
        // The library's names, as the library spells them.
        let styles = "basic, basic-raw, body, private-key-jwt, client-secret-jwt,\n";
        assert!(all.contains(&format!("\n                              {styles}")));
        let apis = "core, smart-tire, tacho, vehicle-check or job-management";
        assert!(all.contains(&format!("\n                              {apis}\n")));
    }

    #[test]
    fn the_curl_example_fails_closed() {
        let all = help(None);
        // `curl -H "$(apiauth …)"` and `apiauth … | curl` send the request without auth
        // when apiauth fails; the example stops first.
        assert!(!all.contains("\"$(apiauth"), "{all}");
        let piped = |l: &str| l.trim_start().starts_with("apiauth") && l.contains("| curl");
        assert!(!all.lines().any(piped), "{all}");
        assert!(
            all.contains("h=$(apiauth header --provider my-connected-fleet --api tacho) || exit")
        );
    }
}
