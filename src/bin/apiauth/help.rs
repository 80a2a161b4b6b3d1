//! The text of `apiauth --help`.

pub const HELP: &str = "\
apiauth: authorized API calls and HTTP auth headers for shell scripts, with a token cache
shared by every process

Usage:
  apiauth request --provider PROVIDER [options] PATH|URL   call an API, print the answer
  apiauth header  --provider PROVIDER [options]   print the header for one API
  apiauth token   --provider PROVIDER [options]   print the bare access token
  apiauth cache list                              list the cached tokens (never the tokens)
  apiauth cache clear [--provider … | --token-url URL] [--client-id ID]
                                                  remove cached tokens (all without a selection)
  apiauth --help | --version

Providers:
  --provider my-connected-fleet --api core|smart-tire|tacho|vehicle-check|job-management
  --provider motorweb --env test|production
  --provider generic --token-url URL [--client-auth basic|basic-raw|body]
        basic: RFC 6749 Basic (form-encoded id and secret, the default); basic-raw: RFC 7617
        Basic; body: client_id and client_secret in the form body

Options:
  -v, --verbose            log to stderr: -v what apiauth does (Info) and warnings; -vv also
                           apiauth's and ureq's Debug records. Never secrets, tokens, request
                           paths or headers other than Host, Content-Type and the like
  --token-url URL          the token endpoint (overrides the provider's)
  --base-url URL           the provider's base URL (the token path is appended)
  --scope S                a scope to ask for (repeatable)
  --param NAME=VALUE       an extra form parameter (repeatable)
  --format FORMAT          header output: line (`Name: value`, the default), value, curl
                           (`-H 'Name: value'`), json ({\"name\", \"value\", \"expires_in\",
                           \"expires_at\"}, expires_at in RFC 3339 UTC)
  --credentials-file PATH  APIAUTH_CLIENT_ID=… and APIAUTH_CLIENT_SECRET=… lines; the file
                           must not be readable by group or others (chmod 600)
  --no-cache               neither read nor write the disk cache
  --refresh                replace the cached token with a new one (after a server rejected it)
  --timeout SECONDS        the limit for each phase of a request (default 10)

Request options (apiauth request):
  PATH|URL                 a path below the API base URL, or a full URL on its origin
  --api-base-url URL       where the APIs live: myConnectedFleet https://api.masternautconnect.com,
                           Motorweb the environment's (or --base-url); required for generic
                           with a path
  -X, --method M           the method (default GET, or POST with --data)
  -d, --data @FILE|@-|TEXT the body, from a file, stdin or the argument (at most 10 MiB;
                           Content-Type: application/json unless --header sets one)
  -H, --header 'N: v'      an extra header (repeatable); auth, cookie, host and
                           body-framing headers are refused
  -i, --include            print the status line and the response headers first
  --customer-id ID         myConnectedFleet: replaces {customerId} in the path
  The answer's body goes to stdout, whatever its status. After a 401, the call is sent once
  more with a new token. Redirects are not followed.

Credentials come from APIAUTH_CLIENT_ID and APIAUTH_CLIENT_SECRET, or --credentials-file;
never from the command line, which every user of the host can read with `ps`.

Tokens are cached in $XDG_CACHE_HOME/apiauth (or ~/.cache/apiauth), one file per token URL,
client id, scopes and parameters, refreshed on the schedule the README tabulates.

Exit codes:
  0 ok   2 usage or configuration   3 credentials rejected by the server
  4 endpoint unreachable or timed out   5 unusable response   6 endpoint refused (429, 5xx, …)
  7 the API answered with a status other than 2xx (its body is still printed)

Examples:
  apiauth request --provider motorweb --env test /market-data/v1/vehicles/plate/ABC123
  apiauth request --provider my-connected-fleet --api job-management --customer-id 12345 \\
    '/job-management/v1/customer/{customerId}/jobs'
  apiauth header --provider motorweb --env test | curl -H @- https://api.tst.motorweb.app/…
  curl -H \"$(apiauth header --provider my-connected-fleet --api tacho)\" https://api.masternautconnect.com/…
";
