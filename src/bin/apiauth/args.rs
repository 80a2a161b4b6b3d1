//! The command line: the words and options given, read with `lexopt` against the
//! declarations of `opts.rs`, then turned into what the command will do (`build.rs`).
//!
//! No error repeats a value or an unknown option as typed: a misplaced secret could be in it.

use std::path::PathBuf;
use std::time::Duration;

mod build;

use apiauth::{ClientAuth, TokenScheme};
use lexopt::Arg;

use crate::opts::{self, O};

/// What was asked for.
#[derive(Debug)]
pub enum Invocation {
    /// `--help`, for the subcommand (bit) if one was named.
    Help(u8),
    Version,
    /// A task, and how many `-v`s were given.
    Run(Task, u8),
}

/// A command that does something.
#[derive(Debug)]
pub enum Task {
    /// `header`, `token` or `request`.
    Auth(Job),
    /// `cache list`.
    CacheList,
    /// `cache clear`: the entries that match all of the given criteria.
    CacheClear {
        /// The token endpoint of a provider's options, or `--token-url`.
        token_url: Option<String>,
        client_id: Option<String>,
    },
}

/// A `header`, `token` or `request` run.
#[derive(Debug)]
pub struct Job {
    pub command: Command,
    pub header: HeaderSource,
    pub format: Format,
    pub credentials_file: Option<PathBuf>,
    pub cache: bool,
    /// Drop the cached token first.
    pub refresh: bool,
}

/// Where the header comes from.
#[derive(Debug)]
pub enum HeaderSource {
    /// myConnectedFleet's Core API: raw Basic from the credentials, nothing to fetch.
    CoreBasic,
    /// A token asked for as `TokenSettings` say, presented in `TokenScheme`.
    Token(TokenSettings, TokenScheme),
}

/// Where and how to ask for a token.
#[derive(Debug, PartialEq, Eq)]
pub struct TokenSettings {
    pub token_url: String,
    pub client_auth: ClientAuth,
    pub scopes: Vec<String>,
    pub params: Vec<(String, String)>,
    pub timeout: Duration,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Header,
    Token,
    Request(Box<Call>),
}

/// What `apiauth request` sends, as given (checked by `request.rs`).
#[derive(Debug, PartialEq, Eq)]
pub struct Call {
    /// A path below `api_base_url`, or a full URL on its origin.
    pub target: String,
    /// The provider's API base URL (or `--api-base-url`); `None` for generic without one.
    pub api_base_url: Option<String>,
    pub method: Option<String>,
    /// `@file`, `@-` or the body itself.
    pub data: Option<String>,
    /// `Name: value` lines.
    pub headers: Vec<String>,
    pub include: bool,
    pub customer_id: Option<String>,
    pub timeout: Duration,
    /// The limit for the whole call.
    pub max_time: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Line,
    Value,
    Curl,
    Json,
}

/// The words and options given, each option's value checked as its declaration says.
#[derive(Default)]
struct Given {
    /// The subcommand (an `opts` bit), once its words are read.
    command: u8,
    words: Vec<&'static str>,
    target: Option<String>,
    verbose: u8,
    options: Vec<(O, String)>,
}

impl Given {
    fn one(&self, o: O) -> Option<&str> {
        self.options
            .iter()
            .find(|(given, _)| *given == o)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, o: O) -> impl Iterator<Item = &str> {
        self.options
            .iter()
            .filter(move |(given, _)| *given == o)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, o: O) -> bool {
        self.one(o).is_some()
    }
}

/// Parses the arguments after the program name. The error is a one-line usage message.
pub fn parse(args: Vec<String>) -> Result<Invocation, String> {
    let total = args.len();
    let mut parser = lexopt::Parser::from_args(args);
    let mut g = Given::default();
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
        let o = match arg {
            Arg::Short('h') | Arg::Long("help") => return Ok(Invocation::Help(g.command)),
            Arg::Short('V') | Arg::Long("version") => return Ok(Invocation::Version),
            Arg::Short('v') | Arg::Long("verbose") => {
                g.verbose = g.verbose.saturating_add(1);
                continue;
            }
            Arg::Long(name) if opts::secret_like(name) => return Err(opts::SECRET_ON_ARGV.into()),
            Arg::Short(c) => opts::by_short(c),
            Arg::Long(name) => opts::by_long(name),
            Arg::Value(value) => {
                let value = value.into_string().map_err(|_| "arguments must be UTF-8")?;
                if value == "help" && g.words.is_empty() {
                    return Ok(Invocation::Help(0));
                }
                word(&mut g, value, at)?;
                continue;
            }
        };
        let Some(o) = o else {
            return Err(format!("unknown option at argument {at}"));
        };
        let decl = o.decl();
        let value = match decl.kind {
            opts::Kind::Flag => String::new(),
            _ => parser
                .value()
                .map_err(lex_error)?
                .into_string()
                .map_err(|_| format!("--{} takes UTF-8 text", decl.long))?,
        };
        let value = opts::check(o, value)?;
        if !decl.repeat && g.one(o).is_some() {
            return Err(format!("--{} is given more than once", decl.long));
        }
        g.options.push((o, value));
    }
    for (o, _) in &g.options {
        applies(&g, *o)?;
    }
    let verbose = g.verbose;
    let task = match g.command {
        0 if g.words.is_empty() => {
            return Err("say `apiauth request`, `apiauth header` or `apiauth token`".into());
        }
        0 => return Err("say `apiauth cache list` or `apiauth cache clear`".into()),
        opts::LIST => Task::CacheList,
        opts::CLEAR => build::clear(&g)?,
        _ => Task::Auth(build::job(&mut g)?),
    };
    Ok(Invocation::Run(task, verbose))
}

/// Takes a word: the subcommand's, or `request`'s target.
fn word(g: &mut Given, value: String, at: usize) -> Result<(), String> {
    let known = |words: &[&'static str]| words.iter().copied().find(|w| *w == value);
    match (g.words.as_slice(), g.command) {
        ([], _) => {
            let w = known(&["request", "header", "token", "cache"])
                .ok_or("unknown command: say request, header, token or cache")?;
            g.words.push(w);
            g.command = opts::COMMANDS.iter().find(|c| c.1 == w).map_or(0, |c| c.0);
        }
        (["cache"], 0) => {
            let w = known(&["list", "clear"])
                .ok_or("say `apiauth cache list` or `apiauth cache clear`")?;
            g.words.push(w);
            g.command = if w == "list" { opts::LIST } else { opts::CLEAR };
        }
        (_, opts::REQUEST) if g.target.is_none() => g.target = Some(value),
        _ => return Err(format!("unexpected argument at position {at}")),
    }
    Ok(())
}

/// Refuses `o` where its declaration does not take it: another subcommand, another provider.
fn applies(g: &Given, o: O) -> Result<(), String> {
    let decl = o.decl();
    if decl.commands & g.command == 0 && g.command != 0 {
        let names: Vec<&str> = opts::COMMANDS
            .iter()
            .filter(|c| decl.commands & c.0 != 0)
            .map(|c| c.1)
            .collect();
        return Err(format!(
            "--{} applies to apiauth {}",
            decl.long,
            opts::one_of(&names)
        ));
    }
    match decl.provider {
        Some(only) if g.one(O::Provider) != Some(only) => {
            Err(format!("--{} applies only to --provider {only}", decl.long))
        }
        _ => Ok(()),
    }
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

#[cfg(test)]
mod tests;
