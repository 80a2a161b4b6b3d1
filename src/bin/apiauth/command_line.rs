//! The command line, read in one `lexopt` loop into typed [`Settings`]. Every option is
//! declared once, in [`OPTIONS`]: its names, where it applies, its help, and how its value is
//! read (words with `FromStr`: the library's own for library types).
//!
//! No error repeats a value or an unknown option as typed: a misplaced secret could be in it.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use apiauth::http::Method;
use apiauth::providers::motorweb::{self, Environment};
use apiauth::providers::my_connected_fleet::{self, Api};
use apiauth::{BasicEncoding, ClientAuth, TokenScheme};
use lexopt::Arg;

use crate::urls;

/// What was asked for.
#[derive(Debug)]
pub enum Invocation {
    /// `--help`, for the subcommand if one was named.
    Help(Option<Command>),
    Version,
    Run(Box<Settings>),
}

/// A subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Request,
    Header,
    Token,
    CacheList,
    CacheClear,
}

/// Where the header comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderSource {
    /// myConnectedFleet's Core API: raw Basic from the credentials, nothing to fetch.
    CoreBasic,
    /// A token from `token_url` (with the settings' scopes, parameters and timeout).
    Token(String, ClientAuth, TokenScheme),
}

/// Whose token endpoint and APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    MyConnectedFleet,
    Motorweb,
    Generic,
}

/// What `apiauth header` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Line,
    Value,
    Curl,
    Json,
}

/// The command line, read and typed. [`parse`] checks the options against each other and
/// fills in what the provider implies: `source`, `api_base_url` and, for `cache clear`,
/// `token_url`.
#[derive(Debug, Default)]
pub struct Settings {
    /// Always set once parsed.
    pub command: Option<Command>,
    /// The words read: the subcommand's, then `request`'s target.
    words: Vec<String>,
    pub verbose: u8,
    pub provider: Option<Provider>,
    api: Option<Api>,
    env: Option<Environment>,
    client_auth: Option<ClientAuth>,
    pub token_url: Option<String>,
    base_url: Option<String>,
    pub scopes: Vec<String>,
    pub params: Vec<(String, String)>,
    pub format: Option<Format>,
    pub credentials_file: Option<PathBuf>,
    pub no_cache: bool,
    pub refresh: bool,
    timeout: Option<Duration>,
    pub api_base_url: Option<String>,
    pub method: Option<Method>,
    pub data: Option<String>,
    pub headers: Vec<String>,
    pub include: bool,
    pub customer_id: Option<String>,
    max_time: Option<Duration>,
    pub client_id: Option<String>,
    /// For `header`, `token` and `request`.
    pub source: Option<HeaderSource>,
}

impl Settings {
    /// `request`'s target: a path below the API base URL, or a full URL on its origin.
    pub fn target(&self) -> &str {
        self.words.get(1).map_or("", String::as_str)
    }

    /// The limit for each phase of a request (`--timeout`): 10 s unless given.
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(Duration::from_secs(10))
    }

    /// The limit for the whole API call (`--max-time`): 300 s unless given.
    pub fn max_time(&self) -> Duration {
        self.max_time.unwrap_or(Duration::from_secs(300))
    }
}

impl Command {
    /// Its words, as typed and in messages.
    fn name(self) -> &'static str {
        match self {
            Command::Request => "request",
            Command::Header => "header",
            Command::Token => "token",
            Command::CacheList => "cache list",
            Command::CacheClear => "cache clear",
        }
    }
}

impl Provider {
    const ALL: [Provider; 3] = [
        Provider::MyConnectedFleet,
        Provider::Motorweb,
        Provider::Generic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Provider::MyConnectedFleet => "my-connected-fleet",
            Provider::Motorweb => "motorweb",
            Provider::Generic => "generic",
        }
    }
}

impl Format {
    const ALL: [Format; 4] = [Format::Line, Format::Value, Format::Curl, Format::Json];

    fn name(self) -> &'static str {
        match self {
            Format::Line => "line",
            Format::Value => "value",
            Format::Curl => "curl",
            Format::Json => "json",
        }
    }
}

/// A value an option takes as one of a few words, read by its `FromStr`.
trait Word: FromStr {
    /// Every word, in `--help`'s order.
    fn names() -> Vec<&'static str>;
}

/// [`Word`] for the types with an `ALL` and a `name` (the command's and the library's), and
/// `FromStr` for the command's own.
macro_rules! words {
    ($($type:ty),*) => {$(
        impl Word for $type {
            fn names() -> Vec<&'static str> {
                <$type>::ALL.iter().map(|word| word.name()).collect()
            }
        }
    )*};
    ($($type:ty),* ; from_str) => {$(
        impl FromStr for $type {
            type Err = ();
            fn from_str(name: &str) -> Result<$type, ()> {
                <$type>::ALL.into_iter().find(|word| word.name() == name).ok_or(())
            }
        }
    )*};
}
words!(Provider, Format, Api, Environment, ClientAuth);
words!(Provider, Format; from_str);

/// How an option's value goes into [`Settings`]; the error says what the option takes.
type Setter = fn(&mut Settings, String) -> Result<(), String>;

/// An option: `-s, --long VALUE` (no VALUE for a flag), the subcommands that take it, the
/// one provider that does (if only one), the words it takes, its help and its setter.
struct Opt {
    synopsis: &'static str,
    commands: &'static [Command],
    provider: Option<Provider>,
    words: fn() -> Vec<&'static str>,
    help: &'static str,
    set: Setter,
}

const fn opt(synopsis: &'static str, commands: &'static [Command], help: &'static str) -> Opt {
    let (provider, words, set): (_, _, Setter) = (None, Vec::new, |_, _| Ok(()));
    Opt {
        synopsis,
        commands,
        provider,
        words,
        help,
        set,
    }
}

impl Opt {
    const fn set(self, set: Setter) -> Opt {
        Opt { set, ..self }
    }

    /// One of `words`.
    const fn words(self, words: fn() -> Vec<&'static str>) -> Opt {
        Opt { words, ..self }
    }

    /// Only for `--provider provider`, one of `words` (if any).
    const fn only(self, provider: Provider, words: fn() -> Vec<&'static str>) -> Opt {
        Opt {
            provider: Some(provider),
            words,
            ..self
        }
    }

    /// `--long`'s name, and whether a value follows it (the synopsis names one).
    fn long(&self) -> (&'static str, bool) {
        let long = self.synopsis.rsplit(", ").next().unwrap_or_default();
        let (long, value) = long
            .split_once(' ')
            .map_or((long, false), |(long, _)| (long, true));
        (long.trim_start_matches('-'), value)
    }

    /// `-s`'s letter, if any.
    fn short(&self) -> Option<char> {
        let (short, _) = self.synopsis.split_once(", ")?;
        short.chars().nth(1)
    }
}

const AUTH: &[Command] = &[Command::Request, Command::Header, Command::Token];
const AUTH_AND_CLEAR: &[Command] = &[
    Command::Request,
    Command::Header,
    Command::Token,
    Command::CacheClear,
];
const REQUEST: &[Command] = &[Command::Request];

/// Every option but `-h` and `-V`, in `--help`'s order (no subcommands: every one).
#[rustfmt::skip] // A table: an option's names, subcommands and help, then how it is read.
const OPTIONS: [Opt; 22] = [
    opt("-v, --verbose", &[], "log what apiauth does to stderr; -vv also Debug records (see below)")
        .set(|opts, _| { opts.verbose = opts.verbose.saturating_add(1); Ok(()) }),
    opt("--provider PROVIDER", AUTH_AND_CLEAR, "whose token endpoint and APIs")
        .words(Provider::names).set(|opts, value| put(&mut opts.provider, word(&value))),
    opt("--api API", AUTH_AND_CLEAR, "the API whose header to use (header, request)")
        .only(Provider::MyConnectedFleet, Api::names)
        .set(|opts, value| put(&mut opts.api, word(&value))),
    opt("--env ENV", AUTH_AND_CLEAR, "the environment (unless --base-url or --token-url)")
        .only(Provider::Motorweb, Environment::names)
        .set(|opts, value| put(&mut opts.env, word(&value))),
    opt("--client-auth STYLE", AUTH_AND_CLEAR, "how the client authenticates (see below)")
        .only(Provider::Generic, ClientAuth::names)
        .set(|opts, value| put(&mut opts.client_auth, word(&value))),
    opt("--token-url URL", AUTH_AND_CLEAR, "the token endpoint (overrides the provider's)")
        .set(|opts, value| put(&mut opts.token_url, url(value))),
    opt("--base-url URL", AUTH_AND_CLEAR, "the provider's base URL, for token endpoint and APIs")
        .set(|opts, value| put(&mut opts.base_url, url(value))),
    opt("--scope S", AUTH_AND_CLEAR, "a scope to ask for (repeatable)")
        .set(|opts, value| { opts.scopes.push(value); Ok(()) }),
    opt("--param NAME=VALUE", AUTH_AND_CLEAR, "an extra form parameter (repeatable)")
        .set(|opts, value| { opts.params.push(pair(&value)?); Ok(()) }),
    opt("--format FORMAT", &[Command::Header], "what to print (see below)")
        .words(Format::names).set(|opts, value| put(&mut opts.format, word(&value))),
    opt("--credentials-file PATH", AUTH, "where the client id and secret are (see below)")
        .set(|opts, value| put(&mut opts.credentials_file, Ok(value.into()))),
    opt("--no-cache", AUTH, "neither read nor write the disk cache")
        .set(|opts, _| flag(&mut opts.no_cache)),
    opt("--refresh", AUTH, "ask for a new token now, past any cached token or backoff")
        .set(|opts, _| flag(&mut opts.refresh)),
    opt("--timeout SECONDS", AUTH, "the limit for each phase of a request (default 10)")
        .set(|opts, value| put(&mut opts.timeout, seconds(&value))),
    opt("--api-base-url URL", REQUEST, "where the APIs live (default: the provider's)")
        .set(|opts, value| put(&mut opts.api_base_url, url(value))),
    opt("-X, --method METHOD", REQUEST, "the method (default GET, or POST with --data)")
        .words(method_names).set(|opts, value| put(&mut opts.method, method(&value))),
    opt("-d, --data @FILE|@-|TEXT", REQUEST, "the body: a file, stdin or the text itself")
        .set(|opts, value| put(&mut opts.data, Ok(value))),
    opt("-H, --header 'NAME: VALUE'", REQUEST, "an extra header (repeatable)")
        .set(|opts, value| { opts.headers.push(value); Ok(()) }),
    opt("-i, --include", REQUEST, "print the status line and the response headers first")
        .set(|opts, _| flag(&mut opts.include)),
    opt("--customer-id ID", REQUEST, "replaces {customerId} in the path")
        .only(Provider::MyConnectedFleet, Vec::new)
        .set(|opts, value| put(&mut opts.customer_id, Ok(value))),
    opt("--max-time SECONDS", REQUEST, "the limit for the whole API call (default 300)")
        .set(|opts, value| put(&mut opts.max_time, seconds(&value))),
    opt("--client-id ID", &[Command::CacheClear], "only the entries of this client id")
        .set(|opts, value| put(&mut opts.client_id, Ok(value))),
];

/// `--method`'s words.
const METHODS: &str = "GET HEAD POST PUT PATCH DELETE OPTIONS";

pub const SECRET_ON_ARGV: &str = "refusing a secret on the command line: every user of this host \
    can read it with `ps`; set APIAUTH_CLIENT_SECRET or use --credentials-file (chmod 600)";

/// Parses the arguments after the program name. The error is a one-line usage message.
pub fn parse(args: Vec<String>) -> Result<Invocation, String> {
    let total = args.len();
    let mut parser = lexopt::Parser::from_args(args);
    let mut settings = Settings::default();
    let mut seen: Vec<&Opt> = Vec::new();
    // The 1-based position of the argument being read (for messages that cannot quote it);
    // within a cluster of short options (`-iv`), the cluster's.
    let mut at = 1;
    loop {
        if let Some(rest) = parser.try_raw_args() {
            at = total - rest.as_slice().len() + 1;
        }
        let Some(arg) = parser.next().map_err(lex_error)? else {
            break;
        };
        let found = match arg {
            Arg::Short('h') | Arg::Long("help") => return Ok(Invocation::Help(settings.command)),
            Arg::Short('V') | Arg::Long("version") => return Ok(Invocation::Version),
            Arg::Long(name) if secret_like(name) => return Err(SECRET_ON_ARGV.into()),
            Arg::Short(short) => OPTIONS.iter().find(|o| o.short() == Some(short)),
            Arg::Long(long) => OPTIONS.iter().find(|o| o.long().0 == long),
            Arg::Value(value) => {
                let value = value.into_string().map_err(|_| "arguments must be UTF-8")?;
                if value == "help" && settings.words.is_empty() {
                    return Ok(Invocation::Help(None));
                }
                read_word(&mut settings, value, at)?;
                continue;
            }
        };
        let option = found.ok_or_else(|| format!("unknown option at argument {at}"))?;
        let (long, takes_value) = option.long();
        let value = match takes_value {
            false => String::new(),
            true => (parser.value().map_err(lex_error)?.into_string())
                .map_err(|_| format!("--{long} takes UTF-8 text"))?,
        };
        (option.set)(&mut settings, value).map_err(|why| format!("--{long} {why}"))?;
        seen.push(option);
    }
    if settings.params.iter().any(|(name, _)| secret_like(name)) {
        return Err(SECRET_ON_ARGV.into());
    }
    for option in seen {
        applies(&settings, option)?;
    }
    finish(&mut settings)?;
    Ok(Invocation::Run(Box::new(settings)))
}

/// Takes a word: the subcommand's, or `request`'s target.
fn read_word(settings: &mut Settings, value: String, at: usize) -> Result<(), String> {
    let words: Vec<&str> = settings.words.iter().map(String::as_str).collect();
    settings.command = match (words.as_slice(), value.as_str()) {
        ([], "request") => Some(Command::Request),
        ([], "header") => Some(Command::Header),
        ([], "token") => Some(Command::Token),
        ([], "cache") => None,
        ([], _) => return Err("unknown command: say request, header, token or cache".into()),
        (["cache"], "list") => Some(Command::CacheList),
        (["cache"], "clear") => Some(Command::CacheClear),
        (["cache"], _) => return Err("say `apiauth cache list` or `apiauth cache clear`".into()),
        (["request"], _) => settings.command,
        _ => return Err(format!("unexpected argument at position {at}")),
    };
    settings.words.push(value);
    Ok(())
}

/// Refuses `option` where it does not apply: another subcommand, another provider.
fn applies(settings: &Settings, option: &Opt) -> Result<(), String> {
    let (long, _) = option.long();
    if let Some(command) = settings.command
        && !option.commands.is_empty()
        && !option.commands.contains(&command)
    {
        let names: Vec<&str> = option.commands.iter().map(|c| c.name()).collect();
        return Err(format!("--{long} applies to apiauth {}", one_of(&names)));
    }
    match option.provider {
        Some(only) if settings.provider != Some(only) => Err(format!(
            "--{long} applies only to --provider {}",
            only.name()
        )),
        _ => Ok(()),
    }
}

/// Checks what the options mean together, and fills in what the provider implies.
fn finish(settings: &mut Settings) -> Result<(), String> {
    let command = match (settings.command, settings.words.is_empty()) {
        (Some(command), _) => command,
        (None, true) => {
            return Err("say `apiauth request`, `apiauth header` or `apiauth token`".into());
        }
        (None, false) => return Err("say `apiauth cache list` or `apiauth cache clear`".into()),
    };
    if command == Command::CacheList
        || settings.provider.is_none() && command == Command::CacheClear
    {
        return Ok(());
    }
    settings.source = Some(header_source(settings, command)?);
    if command == Command::Request && settings.words.len() < 2 {
        return Err("`apiauth request` needs a path or URL".into());
    }
    if command == Command::CacheClear {
        let Some(HeaderSource::Token(token_url, ..)) = settings.source.take() else {
            return Err("the core api has no tokens to clear".into());
        };
        settings.token_url = Some(token_url);
    }
    Ok(())
}

/// The header's source for the provider given; sets where its APIs live.
fn header_source(settings: &mut Settings, command: Command) -> Result<HeaderSource, String> {
    let (base_url, token_url) = (settings.base_url.as_deref(), settings.token_url.clone());
    let mut client_auth = ClientAuth::RequestBody;
    let mut scheme = TokenScheme::Bearer;
    let provider = match settings.provider {
        None => return Err("--provider is required".into()),
        Some(Provider::MyConnectedFleet) => {
            let api = settings.api;
            if api.is_none() && matches!(command, Command::Header | Command::Request) {
                return Err("--api is required".into());
            }
            if api == Some(Api::Core) && command == Command::Token {
                return Err("the core api takes Basic, not a token: use `apiauth header`".into());
            }
            let apis = base_url.unwrap_or(Api::Core.base_url()).to_owned();
            client_auth = ClientAuth::Basic(BasicEncoding::Raw);
            scheme = api.map_or(scheme, Api::token_scheme);
            let url = urls::preset_url(my_connected_fleet::token_config, base_url);
            (url, Some(apis))
        }
        Some(Provider::Motorweb) => {
            let base = base_url.or(settings.env.map(Environment::base_url));
            if base.is_none() && token_url.is_none() {
                return Err("--env is required (test or production)".into());
            }
            let env = settings.env.unwrap_or(Environment::Test);
            let url = urls::preset_url(|c| motorweb::token_config(env, c), base);
            (url, base.map(str::to_owned))
        }
        Some(Provider::Generic) => {
            if base_url.is_some() {
                return Err("--provider generic takes --token-url, not --base-url".into());
            }
            let form_encoded = ClientAuth::Basic(BasicEncoding::FormUrlEncoded);
            client_auth = settings.client_auth.unwrap_or(form_encoded);
            (
                token_url
                    .clone()
                    .ok_or("--provider generic needs --token-url")?,
                None,
            )
        }
    };
    let (token_url, apis) = provider;
    settings.api_base_url = settings.api_base_url.take().or(apis);
    if settings.api == Some(Api::Core) {
        return Ok(HeaderSource::CoreBasic);
    }
    let token_url = settings.token_url.clone().unwrap_or(token_url);
    Ok(HeaderSource::Token(token_url, client_auth, scheme))
}

/// Sets an option's `slot` once.
fn put<T>(slot: &mut Option<T>, value: Result<T, String>) -> Result<(), String> {
    if slot.is_some() {
        return Err("is given more than once".into());
    }
    *slot = Some(value?);
    Ok(())
}

/// Sets a flag once.
fn flag(slot: &mut bool) -> Result<(), String> {
    match std::mem::replace(slot, true) {
        true => Err("is given more than once".into()),
        false => Ok(()),
    }
}

/// `NAME=VALUE`.
fn pair(value: &str) -> Result<(String, String), String> {
    let (name, value) = value
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .ok_or("takes NAME=VALUE")?;
    Ok((name.into(), value.into()))
}

/// One of `T`'s words, in any case.
fn word<T: Word>(value: &str) -> Result<T, String> {
    let names = T::names();
    (value.to_ascii_lowercase().parse()).map_err(|_| format!("takes {}", one_of(&names)))
}

/// One of [`METHODS`], in any case.
fn method(value: &str) -> Result<Method, String> {
    let found = method_names()
        .into_iter()
        .find(|m| m.eq_ignore_ascii_case(value));
    let found = found.and_then(|name| Method::from_bytes(name.as_bytes()).ok());
    found.ok_or_else(|| format!("takes {}", one_of(&method_names())))
}

fn method_names() -> Vec<&'static str> {
    METHODS.split(' ').collect()
}

/// An http(s) URL as [`urls::check`] allows.
fn url(value: String) -> Result<String, String> {
    urls::check(&value).map(|()| value)
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
    match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Whether an option or parameter name looks like it carries a secret.
fn secret_like(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "password", "passwd"]
        .iter()
        .any(|word| name.contains(word))
}

/// lexopt's error, without the value it may quote.
fn lex_error(error: lexopt::Error) -> String {
    match error {
        lexopt::Error::MissingValue {
            option: Some(option),
        } => format!("{option} needs a value"),
        lexopt::Error::UnexpectedValue { option, .. } => format!("{option} takes no value"),
        lexopt::Error::NonUnicodeValue(_) => "arguments must be UTF-8".into(),
        _ => "the arguments could not be read".into(),
    }
}

/// The prose of `--help`: what the command is and its usage, then notes, each under a line
/// that names the subcommands whose help shows it (`[request header token]`).
const HELP: &str = include_str!("help.txt");

/// The help for `command` (every command for `None`): the usage lines, the options, then
/// the notes of `help.txt` that concern it.
pub fn help(command: Option<Command>) -> String {
    let shown =
        |commands: &[Command]| command.is_none_or(|c| commands.contains(&c)) || commands.is_empty();
    let (usage, notes) = HELP.split_once("\n[").unwrap_or_default();
    let mut out = String::new();
    let mut keep = true;
    for line in usage.lines() {
        // `  apiauth NAME …` and its line of about, for the command asked for.
        if let Some(rest) = line.strip_prefix("  apiauth ") {
            let name = command.map(|c| c.name()).unwrap_or_default();
            keep = command.is_none() || rest.strip_prefix(name).is_some_and(|r| r.starts_with(' '));
        }
        if keep || !line.starts_with("  ") {
            out += &format!("{line}\n");
        }
    }
    out.push_str("\nOptions:\n");
    for option in OPTIONS.iter().filter(|o| shown(o.commands)) {
        let pad = if option.short().is_some() { "" } else { "    " };
        let name = format!("{pad}{}", option.synopsis);
        out += &format!("  {name:<27} {}\n", option.help);
        // Where it applies and what it takes, on a line of their own.
        let provider = option
            .provider
            .map(|p| format!("--provider {} only", p.name()));
        let words = Some(one_of(&(option.words)())).filter(|words| !words.is_empty());
        let command = match (option.commands, command) {
            ([only], None) => Some(format!("apiauth {} only", only.name())),
            _ => None,
        };
        for more in [provider, words, command].into_iter().flatten() {
            out += &format!("{:30}{more}\n", "");
        }
    }

    // Each note under `[the commands whose help shows it]`; `[all]` for the full help only.
    let tagged = |tag: &str| command.is_none_or(|c| c.name() == tag);
    for section in notes.split("\n[") {
        let (tags, text) = section.split_once("]\n").unwrap_or_default();
        if tags.split(' ').any(tagged) {
            out.push_str(&format!("\n{}\n", text.trim_end()));
        }
    }
    out
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
                "--client-auth takes basic, basic-raw or body",
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
        assert_eq!(call.verbose, 2);
        assert_eq!(call.method, Some(Method::PUT));
        assert_eq!(call.headers, ["A:b"]);
        assert!(call.include);
        assert_eq!(call.target(), "/p");
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
        assert_eq!((call.data.as_deref(), call.target()), (Some("-x"), "-i"));
        assert_eq!(call.max_time(), Duration::from_secs(300));
        assert_eq!(call.timeout(), Duration::from_secs(10));
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
        for (i, option) in OPTIONS.iter().enumerate() {
            assert!(!option.help.is_empty(), "{}", option.synopsis);
            for other in &OPTIONS[i + 1..] {
                assert_ne!(option.long().0, other.long().0);
                assert!(option.short().is_none() || option.short() != other.short());
            }
        }
    }

    #[test]
    fn every_option_is_in_the_help_and_only_its_commands_show_it() {
        let all = help(None);
        for option in &OPTIONS {
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
        assert!(all.contains("\n                              basic, basic-raw or body\n"));
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
