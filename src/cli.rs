//! The command line: one clap definition, the contract users, scripts and docs rely on.
//!
//! May not touch: the network, the config file, the terminal.
//!
//! Nothing here does work; `commands/` does. Keeping the definition in one file makes the
//! generated completions and man page (tests compare them with the committed copies) follow it
//! automatically.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    other error (server error, config file problem)
  2    usage error (bad option or value)
  3    authentication: not logged in, wrong password, session expired, two-factor needed
  4    connection: unreachable, TLS failure, websocket refused, disconnected with --no-reconnect
  5    doctor found a failing check
  124  --timeout passed before the asked-for result
  130  interrupted (Ctrl-C); 143 terminated (SIGTERM)";

/// Speak Odoo's realtime bus from a shell: log in, tail notifications, send messages, and find
/// the broken hop when "realtime connection lost" shows.
#[derive(Debug, Parser)]
#[command(
    name = "odoo-bus",
    version,
    long_version = crate::version::long(),
    about = "Speak Odoo's realtime bus from a shell: tail notifications, send messages, diagnose websockets",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes. Their own heading keeps each subcommand's `--help` (and man page)
/// from burying the options that are specific to it among these.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Which server/session of the config file to use. tail, send --wait, doctor and probe take several
    /// (repeat -p; a glob such as 'cust-*' picks every matching profile)
    #[arg(short = 'p', long, global = true, env = "ODOO_BUS_PROFILE", default_value = "default", value_name = "NAME", action = ArgAction::Append, add = crate::complete::profiles())]
    pub profile: Vec<String>,

    /// Every logged-in profile of the config file (tail, send --wait, doctor, probe)
    #[arg(long, global = true)]
    pub all: bool,

    /// Config file [default: $XDG_CONFIG_HOME/odoo-bus/config.toml, i.e. ~/.config/odoo-bus/config.toml]
    #[arg(long, global = true, env = "ODOO_BUS_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// When to use colors (NO_COLOR and CLICOLOR_FORCE are honoured with auto)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// More detail on stderr (repeat for more: -vv shows HTTP requests, -vvv frames)
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print nothing on stderr but errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Accept invalid TLS certificates (self-signed, expired, wrong host). Warns every time
    #[arg(long, global = true)]
    pub insecure: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to an Odoo server and save the session in the profile
    #[command(
        after_help = "Examples:\n  odoo-bus login https://erp.example.com --db prod --user admin\n  echo \"$PASS\" | odoo-bus login erp.example.com --user admin --password-stdin"
    )]
    Login(LoginArgs),

    /// Log out: destroy the session on the server and forget it locally
    #[command(after_help = "Examples:\n  odoo-bus logout\n  odoo-bus -p staging logout")]
    Logout,

    /// Show the profile, the server, and whether the saved session is still valid
    #[command(
        visible_alias = "whoami",
        after_help = "Examples:\n  odoo-bus status\n  odoo-bus status --json | jq .session_valid"
    )]
    Status(StatusArgs),

    /// Manage the channels every `tail` of this profile subscribes to
    #[command(
        after_help = "Examples:\n  odoo-bus subscribe discuss.channel_1 odoo-presence-res.partner_7\n  odoo-bus subscribe --remove discuss.channel_1"
    )]
    Subscribe(SubscribeArgs),

    /// Print bus notifications as they arrive (pretty on a terminal, NDJSON in a pipe)
    #[command(
        after_help = "Examples:\n  odoo-bus tail --channel discuss.channel_1 --type 'discuss.channel/*'\n  odoo-bus tail -o ndjson | jq -c 'select(.type == \"mail.record/insert\") | .payload'\n  odoo-bus tail --presence-of 'Marc Demo'"
    )]
    Tail(TailArgs),

    /// Post a chat message to a discuss channel, or send a raw websocket event
    #[command(
        after_help = "Examples:\n  odoo-bus send discuss.channel_1 \"ping\" --wait\n  odoo-bus send --event update_presence --data '{\"inactivity_period\":0,\"im_status_ids_by_model\":{}}'"
    )]
    Send(SendArgs),

    /// Check every hop between you and Odoo's bus and say which one is broken
    #[command(
        after_help = "Examples:\n  odoo-bus doctor\n  odoo-bus doctor https://erp.example.com --json\n  odoo-bus doctor --proxy-conf /etc/nginx/sites-enabled/odoo --odoo-conf /etc/odoo/odoo.conf\n  journalctl -u odoo | odoo-bus doctor --odoo-log -"
    )]
    Doctor(DoctorArgs),

    /// Measure delivery over time: one round trip every --every, metrics, a monitoring-plugin
    /// check, or a capacity test
    ///
    /// Each probe is the round trip doctor's `delivery` check makes (a notification to the user's
    /// own partner that changes nothing) plus one HTTP check. With --check it is a monitoring
    /// plugin: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (these codes replace the ones below).
    #[command(
        after_help = "Examples:\n  odoo-bus probe --every 30s --metrics-listen 127.0.0.1:9464\n  odoo-bus probe --check --warning 500ms --critical 2s --samples 3\n  odoo-bus probe -p prod -p staging --check --warning 500ms --critical 2s\n  odoo-bus probe --connections 100 --ramp 10 --hold 60s --storm"
    )]
    Probe(ProbeArgs),

    /// Run a built-in Odoo emulator with believable traffic and tail it (no server needed)
    #[command(
        after_help = "Examples:\n  odoo-bus demo\n  odoo-bus demo -o ndjson | jq -c 'select(.type == \"discuss.channel/new_message\")'"
    )]
    Demo(DemoArgs),

    /// Print a shell completion script (profile names and saved channels complete too)
    ///
    /// On TAB the script runs odoo-bus to list the candidates: that is how profile names and saved
    /// channels come from the config file. It runs the odoo-bus that printed it, by name when that
    /// was found on PATH, else by its full path; print the script again after an upgrade.
    #[command(
        after_help = "Examples:\n  odoo-bus completions bash > ~/.local/share/bash-completion/completions/odoo-bus\n  odoo-bus completions zsh > ~/.zfunc/_odoo-bus"
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// Server URL (https:// assumed when no scheme; a path prefix is kept). Defaults to the profile's
    pub url: Option<String>,

    /// Database; optional when the server lists exactly one
    #[arg(long, value_name = "DB")]
    pub db: Option<String>,

    /// Login name; defaults to the profile's
    #[arg(short, long, value_name = "LOGIN")]
    pub user: Option<String>,

    /// Read the password from the first line of stdin (else ODOO_PASSWORD, else a prompt)
    #[arg(long)]
    pub password_stdin: bool,

    /// Two-factor code, for accounts with TOTP enabled (prompted on a terminal when missing)
    #[arg(long, value_name = "CODE")]
    pub totp: Option<String>,

    /// Adopt an existing session (e.g. copied from a browser's session_id cookie) instead of a
    /// password; `-` reads it from stdin, which keeps it out of the process list
    #[arg(
        long,
        value_name = "SID",
        // Odoo's ids are URL-safe base64: one may well start with `-`.
        allow_hyphen_values = true,
        env = "ODOO_BUS_SESSION_ID",
        hide_env_values = true
    )]
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Print one JSON document instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SubscribeArgs {
    /// Channels to add: discuss.channel_<id> (mail.channel_<id> or the id are mapped to the
    /// server's form), odoo-presence-res.partner_<id>, odoo-presence-mail.guest_<id>,
    /// mail.guest_<id>|<token>, or any string channel
    #[arg(value_name = "CHANNEL")]
    pub channels: Vec<String>,

    /// Channels to remove
    #[arg(long, value_name = "CHANNEL", num_args = 1.., add = crate::complete::saved_channels())]
    pub remove: Vec<String>,

    /// Print the saved channels, one a line
    #[arg(long)]
    pub list: bool,

    /// Remove every saved channel
    #[arg(long, conflicts_with_all = ["channels", "remove"])]
    pub clear: bool,

    /// Format of --list: one name a line; ndjson prints each as a JSON string
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
}

/// How notifications are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One colored, human line per notification
    Pretty,
    /// One JSON object per line: {"id":N,"type":T,"payload":P}
    Ndjson,
    /// Each websocket frame's text as received
    Raw,
}

/// How the bus is listened to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// The websocket, falling back to polling when a proxy refuses the upgrade
    Auto,
    /// The websocket only (a refused upgrade is an error)
    Websocket,
    /// Polling /websocket/peek_notifications only
    Poll,
}

/// The options shared by `tail` and `demo` (what to print and how).
#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    /// Also subscribe to this channel, for this run only, on top of the profile's saved channels
    /// (repeatable; `odoo-bus subscribe` saves channels)
    #[arg(short, long = "channel", value_name = "CHANNEL")]
    pub channels: Vec<String>,

    /// Only print notifications whose type matches (exact, or a glob with *; repeatable)
    #[arg(short = 't', long = "type", value_name = "PATTERN")]
    pub types: Vec<String>,

    /// Never print notifications whose type matches (wins over --type; repeatable)
    #[arg(short = 'x', long = "exclude-type", value_name = "PATTERN")]
    pub exclude_types: Vec<String>,

    /// Output format [default: pretty on a terminal, ndjson otherwise]
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,

    /// Same as -o ndjson
    #[arg(long, conflicts_with = "output")]
    pub json: bool,

    /// Add the time each notification was received ("received_at" in NDJSON)
    #[arg(long)]
    pub timestamps: bool,

    /// Start after this notification id (without it, the server replays the last 50 seconds)
    #[arg(long, value_name = "ID", conflicts_with = "resume")]
    pub after_id: Option<u64>,

    /// Start where the previous tail of this profile stopped (its last id received and written)
    #[arg(long)]
    pub resume: bool,

    /// Exit 0 after printing N notifications
    #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Stop after this long (30s, 5m); with --count, exit 124 if it passes first
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Exit 4 on the first unexpected disconnect instead of reconnecting
    #[arg(long)]
    pub no_reconnect: bool,

    /// Send update_presence on connect so the user shows as online
    #[arg(long)]
    pub presence: bool,

    /// Follow this person's presence (a res.partner name or id; repeatable): the current status
    /// first, then one line per change, nothing else. 16 and early 17 are asked every 60 s, as
    /// their web client does; later versions push changes on the partner's presence channel
    #[arg(long = "presence-of", value_name = "PARTNER")]
    pub presence_of: Vec<String>,

    /// Only print notifications attributable to a --channel (best effort: Odoo does not say
    /// which channel a notification came from)
    #[arg(long, requires = "channels")]
    pub only_channels: bool,

    /// Also print {"type":"odoo-bus/gap",…} on stdout when notifications may have been missed
    /// (a resume point or an outage older than the ~100 s Odoo keeps; warned on stderr anyway)
    #[arg(long)]
    pub gaps: bool,

    /// websocket, poll, or auto: the websocket, polling when a proxy refuses it [default: the
    /// profile's `transport`, else auto]
    #[arg(long, value_enum, value_name = "TRANSPORT")]
    pub transport: Option<Transport>,

    /// While polling, the longest wait between two polls when nothing arrives (250 ms while
    /// notifications flow) [default: 3s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub poll_interval: Option<Duration>,
}

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// discuss.channel_<id>, mail.channel_<id> (Odoo 16) or just the id, to post in
    #[arg(
        value_name = "CHANNEL",
        required_unless_present = "event",
        conflicts_with = "event"
    )]
    pub channel: Option<String>,

    /// Message text; `-` or absent reads stdin (when it is not a terminal)
    #[arg(value_name = "TEXT")]
    pub text: Option<String>,

    /// Send TEXT as HTML instead of escaping it
    #[arg(long)]
    pub html: bool,

    /// Wait until the message comes back over the bus and print the round-trip latency
    #[arg(long)]
    pub wait: bool,

    /// How long --wait waits (also: how long the post may take)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,

    /// Send a raw websocket event instead of a chat message (e.g. update_presence, subscribe)
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,

    /// The event's data, as JSON
    // `conflicts_with` as well as `requires`: clap waives a requirement that conflicts with an
    // argument present, so `send CHANNEL TEXT --data X` would silently drop --data.
    #[arg(
        long,
        value_name = "JSON",
        requires = "event",
        conflicts_with = "channel"
    )]
    pub data: Option<String>,

    /// With --event: print what arrives for this long afterwards
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2s", requires = "event", conflicts_with = "channel")]
    pub listen: Duration,

    /// Output format for --wait results and --event notifications
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,

    /// With --wait: websocket, poll, or auto (polling when a proxy refuses the websocket)
    /// [default: the profile's `transport`, else auto]
    #[arg(long, value_enum, value_name = "TRANSPORT", requires = "wait")]
    pub transport: Option<Transport>,

    /// With --wait, while polling: the longest wait between two polls [default: 3s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "wait")]
    pub poll_interval: Option<Duration>,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Server to check; defaults to the profile's (and its saved session)
    pub url: Option<String>,

    /// Print one JSON document instead of lines
    #[arg(long)]
    pub json: bool,

    /// Also hold an idle connection (70 s, or --hold) to catch proxies that cut idle websockets
    #[arg(long)]
    pub deep: bool,

    /// With --deep: how long to hold the idle connection (e.g. 5m, for load balancers that cap a connection's lifetime)
    #[arg(long, value_name = "DURATION", requires = "deep", value_parser = parse_duration)]
    pub hold: Option<Duration>,

    /// Read Odoo's log (or nginx's error log) for known realtime failures; `-` reads stdin
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub odoo_log: Vec<String>,

    /// Read odoo.conf for realtime pitfalls (workers, gevent_port, proxy_mode, db_maxconn_gevent); `-` reads stdin
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub odoo_conf: Option<String>,

    /// Read the reverse proxy's config (nginx, or Apache) for realtime pitfalls; `-` reads stdin
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub proxy_conf: Vec<String>,

    /// The site embedding Odoo's live chat (e.g. https://shop.example.com): also load the bus worker script and open a guest socket with its Origin, as a page there does
    #[arg(long, value_name = "URL")]
    pub origin: Option<String>,
}

/// How probe lines are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeFormat {
    /// One human line per probe
    Pretty,
    /// One JSON object per probe: {"type":"odoo-bus/probe","result":…,"latency_s":…}
    Ndjson,
}

#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// Time between probes [default: 30s; 1s between --check samples; 2s in a capacity test]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub every: Option<Duration>,

    /// Stop after N probes (default: until Ctrl-C)
    #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// How long one probe waits for its notification before it counts as missed
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,

    /// Output format [default: pretty on a terminal, ndjson otherwise]
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<ProbeFormat>,

    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464)
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Write the same metrics to this file after each probe, atomically (node_exporter's
    /// textfile collector)
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,

    /// Monitoring-plugin mode: one status line with performance data, exit 0/1/2/3
    #[arg(long, requires_all = ["warning", "critical"], conflicts_with_all = ["connections", "metrics_listen", "metrics_file", "count"])]
    pub check: bool,

    /// --check: WARNING when the median delivery takes this long or more
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "check")]
    pub warning: Option<Duration>,

    /// --check: CRITICAL when the median delivery takes this long or more
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "check")]
    pub critical: Option<Duration>,

    /// --check: how many probes to take (the median latency is judged)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100), requires = "check")]
    pub samples: u64,

    /// Capacity test: open up to N extra websockets while the probe measures (load!)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub connections: Option<u64>,

    /// Capacity test: sockets opened per second
    #[arg(
        long,
        value_name = "PER_SECOND",
        default_value_t = 10.0,
        requires = "connections"
    )]
    pub ramp: f64,

    /// Capacity test: how long to hold the sockets once all are open
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s", requires = "connections")]
    pub hold: Duration,

    /// Capacity test: then close every socket and reopen all at once, and time the settling
    #[arg(long, requires = "connections")]
    pub storm: bool,

    /// Capacity test: allow more than 200 sockets and longer than 5 minutes
    #[arg(long, requires = "connections")]
    pub lift_load_limits: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Only run the emulator: print its URL and credentials and wait for Ctrl-C
    #[arg(long)]
    pub serve: bool,

    /// Port for the emulator (default: a free one)
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// Which Odoo the emulator plays: 16, 17 (late 17.0), 17-early, 18 or 19
    #[arg(long, value_name = "VERSION", default_value = "18", value_parser = parse_odoo_version)]
    pub odoo_version: odoo_bus_emulator::OdooVersion,

    #[command(flatten)]
    pub tail: TailArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to print the script for
    #[arg(value_enum)]
    pub shell: crate::complete::Shell,
}

/// `--odoo-version`: the emulator's own spellings (`16`, `17`, `17-early`, `17-late`, `18`, `19`).
fn parse_odoo_version(s: &str) -> Result<odoo_bus_emulator::OdooVersion, String> {
    s.parse()
}

/// Whether the command line is `probe --check` (a monitoring plugin, whose usage errors are
/// UNKNOWN with exit 3, not the tool's exit 2).
pub fn is_plugin_check(args: &[std::ffi::OsString]) -> bool {
    args.iter().any(|a| a == "probe") && args.iter().any(|a| a == "--check")
}

/// `30s`, `5m`, `1h30m`, `250ms`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration: use e.g. 30s, 5m or 250ms".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return if secs.is_finite() && (0.0..1e12).contains(&secs) {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(format!(
                "`{s}` is not a duration: use e.g. 30s, 5m or 250ms"
            ))
        };
    }
    match humantime::parse_duration(s) {
        // Past this a deadline computed from now can overflow the clock (and panic).
        Ok(d) if d.as_secs_f64() < MAX_DURATION_SECS => Ok(d),
        Ok(_) => Err(format!(
            "`{s}` is too long a duration: give less than 30,000 years"
        )),
        Err(_) => Err(format!(
            "`{s}` is not a duration: use e.g. 30s, 5m or 250ms"
        )),
    }
}

/// The longest duration accepted, in seconds (about 31,700 years), for bare numbers and units alike.
const MAX_DURATION_SECS: f64 = 1e12;

/// A clap error (bad option, bad value, conflict) as ONE line, like every other error of the
/// tool: clap's message (with the arguments it lists), its tips, the usage, and where to read
/// more, e.g. `unexpected argument '--jsn' found (tip: a similar argument exists: '--json');
/// usage: odoo-bus tail --json; see `odoo-bus tail --help``. `args` is the command line
/// (program name first), to name the subcommand whose help to read.
pub fn one_line_usage_error(e: &clap::Error, args: &[std::ffi::OsString]) -> String {
    let rendered = e.render().to_string();
    let mut message = Vec::new();
    let mut tips = Vec::new();
    let mut usage = None;
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(tip) = line.strip_prefix("tip:") {
            tips.push(tip.trim());
        } else if let Some(u) = line.strip_prefix("Usage:") {
            usage = Some(u.trim());
        } else if line.starts_with("For more information") {
        } else {
            message.push(line.trim_start_matches("error:").trim());
        }
    }
    let mut out = message.join(" ");
    if out.is_empty() {
        out.push_str("invalid command line");
    }
    if !tips.is_empty() {
        out.push_str(&format!(" (tip: {})", tips.join("; ")));
    }
    if let Some(u) = usage {
        out.push_str(&format!("; usage: {u}"));
    }
    let subcommands: Vec<String> = command()
        .get_subcommands()
        .flat_map(|c| {
            std::iter::once(c.get_name().to_string()).chain(c.get_all_aliases().map(str::to_string))
        })
        .collect();
    let sub = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .find(|a| subcommands.iter().any(|s| s == a));
    match sub {
        Some(sub) => out.push_str(&format!("; see `odoo-bus {sub} --help`")),
        None => out.push_str("; see `odoo-bus --help`"),
    }
    out
}

/// The clap command, for completions, the man page and tests.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        for bad in ["", "abc", "-1", "5 parsecs", "NaN", "1e300"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_too_long_for_a_deadline_are_refused() {
        // 500,000,000,000 years overflowed `Instant::now() + d` in `tail --timeout` (a panic).
        for absurd in [
            "500000000000y",
            "100000000000y",
            "40000y",
            "18446744073709551615s",
        ] {
            let err = parse_duration(absurd).unwrap_err();
            assert!(err.contains(absurd), "{err}");
        }
        assert!(parse_duration("29000y").is_ok());
    }

    #[test]
    fn clap_errors_become_one_line_naming_the_fix() {
        let cases: &[&[&str]] = &[
            &["odoo-bus", "tail", "--jsn"],
            &["odoo-bus", "tail", "--json", "-o", "raw"],
            &["odoo-bus", "tail", "--timeout", "soon"],
            &["odoo-bus", "nosuch"],
            &["odoo-bus", "-v", "-q", "status"],
        ];
        let os =
            |args: &[&str]| -> Vec<std::ffi::OsString> { args.iter().map(Into::into).collect() };
        for args in cases {
            let err = command().try_get_matches_from(*args).unwrap_err();
            let line = one_line_usage_error(&err, &os(args));
            assert!(!line.contains('\n'), "{line}");
            assert!(line.contains("--help`"), "{line}");
            assert!(!line.starts_with("error"), "{line}");
        }
        let args = ["odoo-bus", "tail", "--jsn"];
        let err = command().try_get_matches_from(args).unwrap_err();
        let line = one_line_usage_error(&err, &os(&args));
        assert!(
            line.contains("'--jsn'") && line.contains("'--json'"),
            "{line}"
        );
        assert!(line.ends_with("see `odoo-bus tail --help`"), "{line}");
        // The arguments clap lists on lines of their own stay in the message.
        let args = ["odoo-bus", "tail", "--only-channels"];
        let err = command().try_get_matches_from(args).unwrap_err();
        let line = one_line_usage_error(&err, &os(&args));
        assert!(line.contains("not provided: --channel <CHANNEL>"), "{line}");
    }
}
