//! `odoo-bus doctor [URL] [--json] [--deep]`: find the broken hop between this machine and a
//! delivered notification. The checks live in [`crate::doctor`]; this file picks the server and
//! session, and prints the lines (or the JSON document) on stdout.
//!
//! Exit codes: 0 every check that ran passed, 5 at least one failed, 2 a bad URL argument or
//! nothing to check.

use std::io::Write;
use std::time::Duration;

use colored::Colorize;
use serde_json::{Value, json};

use super::Context;
use super::client::duration_env;
use crate::cli::DoctorArgs;
use crate::doctor::{self, Check, Report, Status, Timing};
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

/// Budget of one HTTP check: shorter than other commands', a doctor should not hang.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(ctx: &Context, args: DoctorArgs) -> Result<i32> {
    if let super::profiles::Request::Many { .. } = super::profiles::request(ctx) {
        if args.url.is_some() {
            return Err(Error::usage(
                "give either a URL to check or several profiles, not both (with several profiles each one's own server is checked)",
            ));
        }
        let names = super::profiles::select(ctx)?;
        return many(ctx, &names, &args).await;
    }
    let profile = ctx.load_profile()?;
    let target = Target::choose(ctx, &profile, args.url.as_deref())?;
    if let Some(note) = &target.note {
        ctx.ui.info(note);
    }
    let input = build_input(ctx, &profile, &target, args.deep)?;
    let mut printer = Printer {
        ui: ctx.ui.clone(),
        lines: !args.json,
        spinner: None,
    };
    let report = doctor::run(input, &mut printer).await;
    drop(printer.spinner.take());
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
async fn one_report(ctx: &Context, deep: bool) -> Result<Report> {
    let profile = ctx.load_profile()?;
    let target = Target::choose(ctx, &profile, None)?;
    let input = build_input(ctx, &profile, &target, deep)?;
    Ok(doctor::run(input, &mut Quiet).await)
}

/// `doctor` over several profiles: every profile checked at once, then one table, one row per
/// profile (`--json`: one document with each profile's report). Exit 5 when any fails.
async fn many(ctx: &Context, names: &[String], args: &DoctorArgs) -> Result<i32> {
    if ctx.ui.interactive {
        ctx.ui.info(format!("checking {} profiles…", names.len()));
    }
    let contexts: Vec<Context> = names.iter().map(|n| ctx.for_profile(n)).collect();
    let runs = contexts.iter().map(|c| one_report(c, args.deep)).collect();
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

fn build_input(
    ctx: &Context,
    profile: &Profile,
    target: &Target,
    deep: bool,
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
        Some(duration_env(IDLE_ENV)?.unwrap_or(doctor::deep::DEFAULT_IDLE_HOLD))
    } else {
        None
    };
    let timing = Timing {
        delivery: duration_env(DELIVERY_ENV)?.unwrap_or(Timing::default().delivery),
        idle_hold,
        ..Timing::default()
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
/// `note:`/`hint:` line for a pass or skip that carries advice).
pub fn check_line(ui: &Ui, c: &Check) -> String {
    let (mark, time, label) = match c.status {
        Status::Pass => (ui.paint_stdout("✔", |t| t.green()), took(c.elapsed), "note"),
        Status::Fail => (
            ui.paint_stdout("✘", |t| t.red().bold()),
            took(c.elapsed),
            "fix",
        ),
        Status::Skip => (ui.paint_stdout("–", |t| t.dimmed()), String::new(), "hint"),
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
    let mut line = format!("{mark} {name} {time:>7}  {detail}");
    if let Some(hint) = &c.hint {
        let label = ui.paint_stdout(label, |t| match c.status {
            Status::Fail => t.yellow().bold(),
            _ => t.dimmed(),
        });
        let indent = " ".repeat(2 + NAME_WIDTH + 1 + 7 + 2);
        line.push_str(&format!("\n{indent}{label}: {hint}"));
    }
    line
}

/// The last line: the verdict, naming the first broken hop.
pub fn summary_line(ui: &Ui, r: &Report) -> String {
    let (passed, failed, skipped) = (
        r.count(Status::Pass),
        r.count(Status::Fail),
        r.count(Status::Skip),
    );
    let skipped_note = if skipped > 0 {
        format!(", {skipped} skipped")
    } else {
        String::new()
    };
    match r.first_failure() {
        None => ui.paint_stdout(
            &format!("all {passed} checks passed{skipped_note}"),
            |t| t.green(),
        ),
        Some(first) => ui.paint_stdout(
            &format!(
                "{failed} failed, {passed} passed{skipped_note}: the broken hop is `{}`; fix it first, later failures may follow from it",
                first.name
            ),
            |t| t.red().bold(),
        ),
    }
}

/// The whole report as one JSON document.
pub fn json_report(r: &Report, profile: &str, deep: bool) -> Value {
    let checks: Vec<Value> = r
        .checks
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "status": c.status.as_str(),
                "ms": u64::try_from(c.elapsed.as_millis()).unwrap_or(u64::MAX),
                "detail": c.detail,
                "hint": c.hint,
            })
        })
        .collect();
    json!({
        "url": r.url,
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
