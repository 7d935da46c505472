//! `odoo-bus doctor [URL] [--json] [--deep [--hold D]] [--odoo-log F] [--odoo-conf F]
//! [--proxy-conf F]`: find the broken hop between this machine and a delivered notification,
//! and read the files users paste. The checks live in [`crate::doctor`]; this file picks the
//! server and session, reads the files (or stdin), and prints the lines (or the JSON document)
//! on stdout.
//!
//! Exit codes: 0 every check that ran passed (file warnings do not fail), 5 at least one
//! failed, 2 a bad URL argument, an unreadable file, or nothing to check.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use colored::Colorize;
use serde_json::{Value, json};

use super::Context;
use super::client::duration_env;
use crate::cli::DoctorArgs;
use crate::doctor::{self, Check, Level, Report, Status, Timing, files};
use crate::ui::{Spinner, Ui};
use odoo_bus_core::bus::connection::ConnectOptions;
use odoo_bus_core::config::Profile;
use odoo_bus_core::error::{Error, Result, exit, profile_flag};
use odoo_bus_core::odoo::client::{ClientOptions, OdooClient, USER_AGENT};
use odoo_bus_core::odoo::url::ServerUrl;
use odoo_bus_core::secret::SessionId;

/// Hidden test knob: how long `--deep` holds the idle connection (humantime, e.g. `1s`).
const IDLE_ENV: &str = "ODOO_BUS_DOCTOR_IDLE";
/// Hidden test knob: how long to wait for the delivered notification.
const DELIVERY_ENV: &str = "ODOO_BUS_DOCTOR_DELIVERY";
/// Hidden test knob: how long the upgrade (and a frame's answer) may take.
const CONNECT_ENV: &str = "ODOO_BUS_DOCTOR_CONNECT";
/// Hidden test knob: how long the server is expected to stay silent before it pings.
const PING_AFTER_ENV: &str = "ODOO_BUS_DOCTOR_PING_AFTER";

/// Budget of one HTTP check: shorter than other commands', a doctor should not hang.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(ctx: &Context, args: DoctorArgs) -> Result<i32> {
    if let super::profiles::Request::Many { .. } = super::profiles::request(ctx) {
        if args.url.is_some() {
            return Err(Error::usage(
                "give either a URL to check or several profiles, not both (with several profiles each one's own server is checked)",
            ));
        }
        if args.origin.is_some() {
            return Err(Error::usage(
                "--origin names the site embedding one server's live chat: give it with one profile",
            ));
        }
        if !read_files(ctx, &args)?.is_empty() {
            return Err(Error::usage(
                "--odoo-log, --odoo-conf and --proxy-conf describe one server: give them with one profile",
            ));
        }
        let names = super::profiles::select(ctx)?;
        return many(ctx, &names, &args).await;
    }
    let pasted = read_files(ctx, &args)?;
    let profile = ctx.load_profile()?;
    // Files and no server anywhere: only the file checks run (nothing needs to be reachable).
    let files_only = !pasted.is_empty() && args.url.is_none() && profile.url.is_none();
    if files_only && args.deep {
        return Err(Error::usage(
            "--deep needs a server to check: give its URL (`odoo-bus doctor URL --deep`)",
        ));
    }
    let mut printer = Printer {
        ui: ctx.ui.clone(),
        lines: !args.json,
        spinner: None,
    };
    let mut report = if files_only {
        Report {
            url: String::new(),
            with_session: false,
            checks: Vec::new(),
        }
    } else {
        let target = Target::choose(ctx, &profile, args.url.as_deref())?;
        if let Some(note) = &target.note {
            ctx.ui.info(note);
        }
        let mut input = build_input(ctx, &profile, &target, args.deep, args.hold)?;
        input.embed_origin = embed_origin(args.origin.as_deref())?;
        let report = doctor::run(input, &mut printer).await;
        drop(printer.spinner.take());
        report
    };
    for check in doctor::files::analyze(&pasted, &doctor::files::read_from_disk) {
        doctor::Observer::finished(&mut printer, &check);
        report.checks.push(check);
    }
    let mut out = std::io::stdout().lock();
    let text = if args.json {
        json_report(&report, ctx.profile_name(), args.deep).to_string()
    } else {
        summary_line(&ctx.ui, &report)
    };
    // A closed stdout (`doctor | head -3`) is not worth an error; the exit code still tells.
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
    Ok(if report.passed() {
        exit::OK
    } else {
        exit::DOCTOR_FAILED
    })
}

/// Observes nothing: with several profiles only the table is printed, at the end.
struct Quiet;

impl doctor::Observer for Quiet {
    fn finished(&mut self, _check: &Check) {}
}

/// One profile's doctor, for the table.
async fn one_report(ctx: &Context, args: &DoctorArgs) -> Result<Report> {
    let profile = ctx.load_profile()?;
    let target = Target::choose(ctx, &profile, None)?;
    let input = build_input(ctx, &profile, &target, args.deep, args.hold)?;
    Ok(doctor::run(input, &mut Quiet).await)
}

/// `doctor` over several profiles: every profile checked at once, then one table, one row per
/// profile (`--json`: one document with each profile's report). Exit 5 when any fails.
async fn many(ctx: &Context, names: &[String], args: &DoctorArgs) -> Result<i32> {
    if ctx.ui.interactive {
        ctx.ui.info(format!("checking {} profiles…", names.len()));
    }
    let contexts: Vec<Context> = names.iter().map(|n| ctx.for_profile(n)).collect();
    let runs = contexts.iter().map(|c| one_report(c, args)).collect();
    let reports = super::profiles::join_all(runs).await;
    let ok = reports.iter().all(|r| r.as_ref().is_ok_and(Report::passed));
    let code = if ok { exit::OK } else { exit::DOCTOR_FAILED };
    let text = if args.json {
        let profiles: Vec<Value> = names
            .iter()
            .zip(&reports)
            .map(|(name, r)| match r {
                Ok(r) => json_report(r, name, args.deep),
                Err(e) => json!({"profile": name, "error": e.message, "summary": {"ok": false}}),
            })
            .collect();
        json!({"profiles": profiles, "summary": {"ok": ok, "exit_code": code}}).to_string()
    } else {
        table(&ctx.ui, names, &reports)
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
    Ok(code)
}

/// `PROFILE  SERVER  RESULT  DETAIL`, one row per profile: the verdict, and for a failure the
/// broken hop and its fix (the full lines: `odoo-bus doctor -p NAME`).
fn table(ui: &Ui, names: &[String], reports: &[Result<Report>]) -> String {
    let rows: Vec<[String; 4]> = names
        .iter()
        .zip(reports)
        .map(|(name, r)| match r {
            Ok(r) => {
                let (passed, failed) = (r.count(Status::Pass), r.count(Status::Fail));
                match r.first_failure() {
                    None => [
                        name.clone(),
                        r.url.clone(),
                        "ok".into(),
                        format!("all {passed} checks passed"),
                    ],
                    Some(first) => [
                        name.clone(),
                        r.url.clone(),
                        "FAIL".into(),
                        format!(
                            "{failed} failed, {passed} passed: broken hop `{}`: {}{}",
                            first.name,
                            first.detail,
                            first
                                .hint
                                .as_ref()
                                .map(|h| format!(" (fix: {h})"))
                                .unwrap_or_default()
                        ),
                    ],
                }
            }
            Err(e) => [name.clone(), "-".into(), "FAIL".into(), e.message.clone()],
        })
        .collect();
    let width = |col: usize, title: &str| {
        rows.iter()
            .map(|r| r[col].chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0, "PROFILE"), width(1, "SERVER"), width(2, "RESULT"));
    let mut lines = vec![format!(
        "{:<w0$}  {:<w1$}  {:<w2$}  DETAIL",
        "PROFILE", "SERVER", "RESULT"
    )];
    for [name, url, result, detail] in &rows {
        let padded = format!("{result:<w2$}");
        let result = if result == "ok" {
            ui.paint_stdout(&padded, |t| t.green())
        } else {
            ui.paint_stdout(&padded, |t| t.red().bold())
        };
        lines.push(format!("{name:<w0$}  {url:<w1$}  {result}  {detail}"));
    }
    lines.join("\n")
}

/// The files given with `--odoo-log`, `--odoo-conf` and `--proxy-conf`, read before anything
/// else so a bad path is a usage error (exit 2) before any network check.
fn read_files(ctx: &Context, args: &DoctorArgs) -> Result<Vec<files::Pasted>> {
    let mut wanted: Vec<(files::Kind, &str, &str)> = Vec::new();
    wanted.extend(
        args.odoo_conf
            .iter()
            .map(|p| (files::Kind::OdooConf, "--odoo-conf", p.as_str())),
    );
    wanted.extend(
        args.proxy_conf
            .iter()
            .map(|p| (files::Kind::ProxyConf, "--proxy-conf", p.as_str())),
    );
    wanted.extend(
        args.odoo_log
            .iter()
            .map(|p| (files::Kind::OdooLog, "--odoo-log", p.as_str())),
    );
    if wanted.iter().filter(|(_, _, p)| *p == "-").count() > 1 {
        return Err(Error::usage(
            "only one of --odoo-log, --odoo-conf and --proxy-conf can read stdin (`-`): give the others as files",
        ));
    }
    let mut pasted = Vec::new();
    for (kind, flag, path) in wanted {
        let (name, location, bytes) = if path == "-" {
            if std::io::stdin().is_terminal() {
                ctx.ui
                    .info(format!("reading {flag} from stdin: paste it, then Ctrl-D"));
            }
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .map_err(|e| Error::usage(format!("cannot read {flag} from stdin: {e}")))?;
            ("stdin".to_string(), None, bytes)
        } else {
            let bytes = std::fs::read(path).map_err(|e| {
                Error::usage(format!(
                    "cannot read {flag} {path}: {e}; give the path of a readable file, or `-` to read stdin"
                ))
            })?;
            (path.to_string(), Some(PathBuf::from(path)), bytes)
        };
        pasted.push(files::Pasted {
            kind,
            name,
            path: location,
            // Valid UTF-8 (the usual case) is kept without a copy: logs can be large.
            text: String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        });
    }
    Ok(pasted)
}

/// The server to check and whether the profile's session goes with it.
struct Target {
    url: ServerUrl,
    session: Option<SessionId>,
    /// The URL is the profile's (its saved data applies).
    own: bool,
    note: Option<String>,
}

impl Target {
    fn choose(ctx: &Context, profile: &Profile, arg: Option<&str>) -> Result<Target> {
        let saved = match profile.url.as_deref().map(ServerUrl::parse) {
            Some(Ok(u)) => Some(u),
            Some(Err(e)) if arg.is_none() => {
                return Err(Error::usage(format!(
                    "profile `{}` holds a bad URL ({e}); give the URL to check, or run `odoo-bus login{} URL` again",
                    ctx.profile_name(),
                    profile_flag(ctx.profile_name())
                )));
            }
            _ => None,
        };
        let url = match (arg, &saved) {
            (Some(a), _) => ServerUrl::parse(a)?,
            (None, Some(u)) => u.clone(),
            (None, None) => {
                return Err(Error::usage(format!(
                    "no server to check: give its URL (`odoo-bus doctor https://erp.example.com`) or log in first (`odoo-bus login{} URL --db DB --user LOGIN`)",
                    profile_flag(ctx.profile_name())
                )));
            }
        };
        let own = saved.as_ref() == Some(&url);
        let session = if own {
            profile.session_id.clone()
        } else {
            None
        };
        let note = match (&saved, own, profile.session_id.is_some()) {
            (Some(s), false, true) => Some(format!(
                "checking {url} without a session (profile `{}` is logged in to {s})",
                ctx.profile_name()
            )),
            _ => None,
        };
        Ok(Target {
            url,
            session,
            own,
            note,
        })
    }

    /// The command that logs in to this server, for hints.
    fn login_command(&self, profile: &str) -> String {
        if self.own {
            format!("odoo-bus login{}", profile_flag(profile))
        } else {
            format!(
                "odoo-bus login{} {} --db DB --user LOGIN",
                profile_flag(profile),
                self.url
            )
        }
    }
}

/// `--origin` as a browser sends it (`scheme://host[:port]`), or a usage error.
fn embed_origin(given: Option<&str>) -> Result<Option<String>> {
    let Some(given) = given else {
        return Ok(None);
    };
    match url::Url::parse(given) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(Some(u.origin().ascii_serialization()))
        }
        _ => Err(Error::usage(format!(
            "--origin {given:?} is not a site's address: give it as a browser shows it, e.g. https://shop.example.com"
        ))),
    }
}

fn build_input(
    ctx: &Context,
    profile: &Profile,
    target: &Target,
    deep: bool,
    hold: Option<Duration>,
) -> Result<doctor::Input> {
    let insecure = ctx.global.insecure;
    let client_options = ClientOptions {
        timeout: HTTP_TIMEOUT,
        ..ClientOptions::new(ctx.ui.trace(), insecure)
    };
    let mut client = OdooClient::new(
        target.url.clone(),
        target.session.clone(),
        client_options.clone(),
    )?;
    if target.session.is_some() {
        // The session checks may rotate the cookie like any call: keep the profile current.
        ctx.persist_session_rotations(&mut client);
    }
    let saved_worker_version = target
        .own
        .then(|| profile.websocket_worker_version.clone())
        .flatten();
    let idle_hold = if deep {
        Some(match hold {
            Some(h) => h,
            None => duration_env(IDLE_ENV)?.unwrap_or(doctor::deep::DEFAULT_IDLE_HOLD),
        })
    } else {
        None
    };
    let timing = Timing {
        delivery: duration_env(DELIVERY_ENV)?.unwrap_or(Timing::default().delivery),
        connect: duration_env(CONNECT_ENV)?.unwrap_or(Timing::default().connect),
        ping_after: duration_env(PING_AFTER_ENV)?.unwrap_or(Timing::default().ping_after),
        idle_hold,
    };
    let connect = ConnectOptions {
        url: target.url.clone(),
        worker_version: saved_worker_version.clone(),
        tls: odoo_bus_core::tls::client_config(insecure)?,
        user_agent: USER_AGENT.to_string(),
        connect_timeout: timing.connect,
    };
    Ok(doctor::Input {
        url: target.url.clone(),
        session: target.session.clone(),
        client,
        client_options,
        connect,
        saved_worker_version,
        partner_id: target.own.then_some(profile.partner_id).flatten(),
        insecure,
        login_command: target.login_command(ctx.profile_name()),
        timing,
        embed_origin: None,
    })
}

/// Prints each check as it finishes (line mode), with a spinner on stderr meanwhile.
struct Printer {
    ui: Ui,
    lines: bool,
    spinner: Option<Spinner>,
}

impl doctor::Observer for Printer {
    fn started(&mut self, name: &'static str, what: &str) {
        if self.ui.interactive {
            self.spinner = Some(self.ui.spinner(format!("{name}: {what}…")));
        } else if name == doctor::names::IDLE {
            // The one long check: say why nothing happens for a minute.
            self.ui.info(format!("{what}…"));
        }
    }

    fn finished(&mut self, check: &Check) {
        drop(self.spinner.take());
        if self.lines {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", check_line(&self.ui, check)).and_then(|()| out.flush());
        }
        // `-vv`: the upgrade as it went over the wire, as bug reports ask for it.
        if let Some(exchange) = &check.exchange {
            self.ui.debug(
                2,
                format!(
                    "websocket upgrade ({}), cookie values redacted:\n{}",
                    check.name,
                    exchange.text().trim_end()
                ),
            );
        }
    }
}

/// Width of the name column: the longest check name plus a space.
const NAME_WIDTH: usize = 12;

fn took(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `✔ upgrade      12 ms  101 Switching Protocols …`, plus a `fix:` line for a failure (or a
/// `note:`/`hint:` line for a pass or skip that carries advice). A file finding shows its place
/// and cause instead of a time: `✘ proxy-conf   nginx.conf:14 F2  …`, `!` marking a warning
/// and `i` a harmless line.
pub fn check_line(ui: &Ui, c: &Check) -> String {
    let level = c.located.as_ref().map(|l| l.level);
    let (mark, time, label) = match (c.status, level) {
        (_, Some(Level::Warning)) => (
            ui.paint_stdout("!", |t| t.yellow().bold()),
            String::new(),
            "fix",
        ),
        (_, Some(Level::Info)) => (ui.paint_stdout("i", |t| t.dimmed()), String::new(), "note"),
        (Status::Pass, _) => (ui.paint_stdout("✔", |t| t.green()), took(c.elapsed), "note"),
        (Status::Fail, _) => (
            ui.paint_stdout("✘", |t| t.red().bold()),
            took(c.elapsed),
            "fix",
        ),
        (Status::Skip, _) => (ui.paint_stdout("–", |t| t.dimmed()), String::new(), "hint"),
    };
    let detail = if c.status == Status::Skip {
        format!("skipped: {}", c.detail)
    } else {
        c.detail.clone()
    };
    let name = format!("{:<NAME_WIDTH$}", c.name);
    let name = match c.status {
        Status::Fail => ui.paint_stdout(&name, |t| t.bold()),
        _ => name,
    };
    let mut line = match &c.located {
        Some(l) => {
            let cause = l.cause_code().map(|c| format!(" {c}")).unwrap_or_default();
            format!("{mark} {name} {}{cause}  {detail}", l.place())
        }
        None => format!("{mark} {name} {time:>7}  {detail}"),
    };
    if let Some(hint) = &c.hint {
        let label = ui.paint_stdout(label, |t| match (c.status, level) {
            (Status::Fail, _) | (_, Some(Level::Warning)) => t.yellow().bold(),
            _ => t.dimmed(),
        });
        let indent = " ".repeat(2 + NAME_WIDTH + 1 + 7 + 2);
        line.push_str(&format!("\n{indent}{label}: {hint}"));
    }
    line
}

/// The last line: the verdict, naming the first broken hop (and, with files, what they showed).
pub fn summary_line(ui: &Ui, r: &Report) -> String {
    let live = |s: Status| {
        r.checks
            .iter()
            .filter(|c| c.located.is_none() && c.status == s)
            .count()
    };
    let (passed, failed, skipped) = (live(Status::Pass), live(Status::Fail), live(Status::Skip));
    let skipped_note = if skipped > 0 {
        format!(", {skipped} skipped")
    } else {
        String::new()
    };
    let first_live = r
        .checks
        .iter()
        .find(|c| c.located.is_none() && c.status == Status::Fail);
    let mut text = match (r.live(), first_live) {
        (false, _) => String::new(),
        (true, None) => format!("all {passed} checks passed{skipped_note}"),
        (true, Some(first)) => format!(
            "{failed} failed, {passed} passed{skipped_note}: the broken hop is `{}`; fix it first, later failures may follow from it",
            first.name
        ),
    };
    if let Some(files) = files_summary(r) {
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(&files);
    }
    if r.passed() {
        ui.paint_stdout(&text, |t| t.green())
    } else {
        ui.paint_stdout(&text, |t| t.red().bold())
    }
}

/// `files: 2 failed, 1 warning, 1 harmless line: fix proxy-conf at nginx.conf:14 (F2) first`.
fn files_summary(r: &Report) -> Option<String> {
    let read = r.count_level(Level::Ok);
    let found = r.checks.iter().filter(|c| c.located.is_some()).count();
    if found == 0 {
        return None;
    }
    let (failed, warnings, harmless) = (
        r.count_level(Level::Failure),
        r.count_level(Level::Warning),
        r.count_level(Level::Info),
    );
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = Vec::new();
    if failed > 0 {
        parts.push(format!("{failed} failed"));
    }
    if warnings > 0 {
        parts.push(plural(warnings, "warning", "warnings"));
    }
    if harmless > 0 {
        parts.push(plural(harmless, "harmless line", "harmless lines"));
    }
    let first = r
        .checks
        .iter()
        .find(|c| c.status == Status::Fail && c.located.is_some());
    Some(match first {
        Some(c) => {
            let l = c.located.as_ref().expect("a file finding");
            let cause = l
                .cause_code()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            format!(
                "files: {}: fix `{}` at {}{cause} first",
                parts.join(", "),
                c.name,
                l.place()
            )
        }
        None if parts.is_empty() => format!(
            "files: {} read, nothing wrong found",
            plural(read, "file", "files")
        ),
        None => format!("files: no failure, {}", parts.join(", ")),
    })
}

/// The whole report as one JSON document.
pub fn json_report(r: &Report, profile: &str, deep: bool) -> Value {
    let checks: Vec<Value> = r
        .checks
        .iter()
        .map(|c| {
            let mut v = json!({
                "name": c.name,
                "status": c.status.as_str(),
                "ms": u64::try_from(c.elapsed.as_millis()).unwrap_or(u64::MAX),
                "detail": c.detail,
                "hint": c.hint,
            });
            if let Some(e) = &c.exchange {
                v["headers"] = json!({
                    "request_line": e.request_line,
                    "request": e.request,
                    "status_line": e.status_line,
                    "response": e.response,
                });
            }
            if !c.evidence.is_empty() {
                let evidence: serde_json::Map<String, Value> = c
                    .evidence
                    .iter()
                    .map(|(k, val)| (k.to_string(), json!(val)))
                    .collect();
                v["evidence"] = Value::Object(evidence);
            }
            if let Some(l) = &c.located {
                v["file"] = json!(l.file);
                v["line"] = json!(l.line);
                v["cause"] = json!(l.cause_code());
                v["severity"] = json!(l.level.as_str());
            }
            v
        })
        .collect();
    json!({
        "url": if r.live() { json!(r.url) } else { Value::Null },
        "profile": profile,
        "session": r.with_session,
        "deep": deep,
        "checks": checks,
        "summary": {
            "ok": r.passed(),
            "passed": r.count(Status::Pass),
            "failed": r.count(Status::Fail),
            "skipped": r.count(Status::Skip),
            "first_failure": r.first_failure().map(|c| c.name),
            "files": {
                "read": r.count_level(Level::Ok),
                "failed": r.count_level(Level::Failure),
                "warnings": r.count_level(Level::Warning),
                "harmless": r.count_level(Level::Info),
            },
            "exit_code": if r.passed() { exit::OK } else { exit::DOCTOR_FAILED },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Verdict;

    fn report() -> Report {
        Report {
            url: "http://127.0.0.1:8069".into(),
            with_session: true,
            checks: vec![
                Check::new("dns", Verdict::pass("127.0.0.1"), Duration::from_millis(1)),
                Check::new(
                    "upgrade",
                    Verdict::fail("HTTP 400 instead of 101", "proxy_http_version 1.1;"),
                    Duration::from_millis(12),
                ),
                Check::new(
                    "delivery",
                    Verdict::skip("needs the websocket upgrade"),
                    Duration::ZERO,
                ),
            ],
        }
    }

    #[test]
    fn lines_show_mark_time_detail_and_fix() {
        let ui = Ui::silent();
        let r = report();
        let pass = check_line(&ui, &r.checks[0]);
        assert!(pass.starts_with("✔ dns"), "{pass}");
        assert!(pass.contains("1 ms"));
        let fail = check_line(&ui, &r.checks[1]);
        assert!(fail.starts_with("✘ upgrade"), "{fail}");
        assert!(
            fail.contains("\n") && fail.contains("fix: proxy_http_version 1.1;"),
            "{fail}"
        );
        let skip = check_line(&ui, &r.checks[2]);
        assert!(skip.starts_with("– delivery"), "{skip}");
        assert!(skip.contains("skipped: needs the websocket upgrade"));
        assert!(!skip.contains("ms"), "{skip}");
        let summary = summary_line(&ui, &r);
        assert!(summary.contains("the broken hop is `upgrade`"), "{summary}");
    }

    #[test]
    fn colors_only_when_asked() {
        // As `Ui::new` does: the decision is per stream, not colored's global one.
        colored::control::set_override(true);
        let mut ui = Ui::silent();
        let r = report();
        assert!(!check_line(&ui, &r.checks[1]).contains('\x1b'));
        ui.color_stdout = true;
        assert!(check_line(&ui, &r.checks[1]).contains('\x1b'));
    }

    #[test]
    fn json_has_the_same_verdicts() {
        let v = json_report(&report(), "default", false);
        assert_eq!(v["checks"][1]["name"], "upgrade");
        assert_eq!(v["checks"][1]["status"], "fail");
        assert_eq!(v["checks"][1]["ms"], 12);
        assert_eq!(v["checks"][2]["status"], "skip");
        assert_eq!(v["checks"][0]["hint"], Value::Null);
        assert_eq!(v["summary"]["ok"], false);
        assert_eq!(v["summary"]["first_failure"], "upgrade");
        assert_eq!(v["summary"]["exit_code"], 5);
    }
}
