//! `apiauth --help` and `apiauth COMMAND --help`, written from the options' declarations.

use crate::opts::{self, COMMANDS, Kind};

const ABOUT: &str = "\
apiauth: authorized API calls and HTTP auth headers for shell scripts, with a token cache
shared by every process
";

const NOTES: &str = "
Credentials come from APIAUTH_CLIENT_ID and APIAUTH_CLIENT_SECRET, or --credentials-file;
never from the command line, which every user of the host can read with `ps`. The file
must be a regular file of yours that no one else can read or write (chmod 600), with
NAME=value lines (optionally `export NAME=value`, the value optionally in '…' or \"…\"),
blank lines and `#` comments on lines of their own; a `#` after a value, and anything a
shell would read otherwise (single-quote a value with \\, quotes, $ or ;&|<>()), is refused.

Tokens are cached in $XDG_CACHE_HOME/apiauth (or ~/.cache/apiauth), one file per token URL,
client authentication, client id, scopes and parameters, refreshed on the schedule the
README tabulates.

Exit codes:
  0 ok   1 stdout could not be written (closed pipe)   2 usage or configuration
  3 credentials rejected by the server   4 endpoint unreachable or timed out
  5 unusable response   6 endpoint refused (429, 5xx, …)
  7 the API answered with a status other than 2xx (its body is still printed)
";

const REQUEST_NOTES: &str = "
apiauth request prints the answer's body on stdout as it arrives, whatever its status.
After a 401, the call is sent once more with a new token. Redirects are not followed.
Everything is checked before anything is sent: method, headers, URLs, body, credentials.
";

const EXAMPLES: &str = "
Examples:
  apiauth request --provider motorweb --env test /market-data/v1/vehicles/plate/ABC123
  apiauth request --provider my-connected-fleet --api job-management --customer-id 12345 \\
    '/job-management/v1/customer/{customerId}/jobs'
  # With curl, stop when apiauth fails (a failed header must not become a request without
  # auth), and keep the token off curl's command line:
  h=$(apiauth header --provider my-connected-fleet --api tacho) || exit
  printf '%s\\n' \"$h\" | curl -H @- https://api.masternautconnect.com/…
";

/// The help for `command` (an `opts` bit; 0: every command).
pub fn text(command: u8) -> String {
    let mut out = String::from(ABOUT);
    out.push_str("\nUsage:\n");
    for (bit, name, usage, about) in COMMANDS {
        if command == 0 || command == bit {
            out.push_str(&format!("  apiauth {name} {usage}\n      {about}\n"));
        }
    }
    if command == 0 {
        out.push_str("  apiauth [COMMAND] --help | --version\n");
    }
    out.push_str("\nOptions:\n");
    out.push_str(&line(
        "-v, --verbose",
        "log to stderr: -v what apiauth does (Info) and warnings; -vv also apiauth's and \
         ureq's Debug records. Never secrets, tokens, URL queries, request paths or headers \
         other than Host, Content-Type and the like",
    ));
    for o in opts::ALL {
        let decl = o.decl();
        if command != 0 && decl.commands & command == 0 {
            continue;
        }
        let short = decl.short.map_or("    ".to_owned(), |c| format!("-{c}, "));
        let mut help = decl.help.to_owned();
        if let Kind::Choice(words) = decl.kind {
            help = format!("{}: {help}", opts::one_of(words));
        }
        if let Some(provider) = decl.provider {
            help = format!("--provider {provider}: {help}");
        }
        let only = match decl.commands {
            opts::REQUEST if command == 0 => " (request)",
            opts::HEADER if command == 0 => " (header)",
            opts::CLEAR if command == 0 => " (cache clear)",
            _ => "",
        };
        let name = format!("{short}--{} {}", decl.long, decl.value);
        out.push_str(&line(name.trim_end(), &format!("{help}{only}")));
    }
    if command == 0 || command == opts::REQUEST {
        out.push_str(REQUEST_NOTES);
    }
    if command & (opts::LIST | opts::CLEAR) == 0 {
        out.push_str(NOTES);
    }
    if command == 0 {
        out.push_str(EXAMPLES);
    }
    out
}

/// One option's lines: the name in a column of 28, the help wrapped at 92.
fn line(name: &str, help: &str) -> String {
    let mut out = format!("  {name:<26}");
    let mut width = out.len();
    if width > 28 {
        out.push_str(&format!("\n{:28}", ""));
        width = 28;
    }
    for word in help.split(' ').filter(|w| !w.is_empty()) {
        if width + word.len() + 1 > 92 && width > 28 {
            out.push_str(&format!("\n{:28}", ""));
            width = 28;
        }
        out.push(' ');
        out.push_str(word);
        width += word.len() + 1;
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_in_the_help_and_only_its_commands_show_it() {
        let all = text(0);
        for o in opts::ALL {
            assert!(all.contains(&format!("--{} ", o.decl().long)), "{o:?}");
        }
        let header = text(opts::HEADER);
        assert!(header.contains("--format FORMAT"));
        assert!(!header.contains("--data"));
        assert!(!header.contains("apiauth token"));
        assert!(text(opts::REQUEST).contains("-X, --method METHOD"));
        assert!(!text(opts::LIST).contains("--provider"));
        for line in all.lines() {
            assert!(line.chars().count() <= 110, "{line}");
        }
    }

    #[test]
    fn the_curl_example_fails_closed() {
        let all = text(0);
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
