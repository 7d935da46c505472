//! Man pages, rendered from the clap definition so they cannot drift from `--help`.
//!
//! One page per command (`odoo-bus.1`, `odoo-bus-tail.1`, …), as git and cargo do: a page holding
//! every subcommand's options would be long, and `man odoo-bus-tail` finds the one you want. The
//! committed copies under docs/ are checked by tests/generated_files.rs.

use clap_mangen::Man;
use clap_mangen::roff::{Roff, roman};

/// A rendered page: its file name (`odoo-bus-tail.1`) and its roff source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub file_name: String,
    pub roff: String,
}

/// Every page: the main one first, then one per visible subcommand.
pub fn pages() -> Vec<Page> {
    // `help` is clap's own subcommand: it needs no page of its own.
    // The short version only: the long one names the commit, and the committed pages would
    // change with every commit.
    let mut root = crate::cli::command()
        .disable_help_subcommand(true)
        .long_version(None);
    root.build();
    let subcommands: Vec<clap::Command> = root
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .cloned()
        .collect();
    let sub_pages: Vec<String> = subcommands
        .iter()
        .map(|c| reference(c.get_display_name()))
        .collect();

    let source = format!("odoo-bus {}", root.get_version().unwrap_or_default());
    let mut pages = vec![render(&root, &source, Some(environment(&root)), &sub_pages)];
    let see_main = [reference(root.get_display_name().or(Some(root.get_name())))];
    pages.extend(
        subcommands
            .iter()
            .map(|c| render(c, &source, None, &see_main)),
    );
    pages
}

/// The ENVIRONMENT section: every variable an option reads its default from, in any command.
fn environment(root: &clap::Command) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["ENVIRONMENT"]);
    let mut seen = Vec::new();
    let commands = std::iter::once(root).chain(root.get_subcommands());
    for cmd in commands {
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            let (Some(var), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            if seen.contains(&var) {
                continue;
            }
            seen.push(var);
            let option = if arg.is_global_set() || std::ptr::eq(cmd, root) {
                format!("--{long}")
            } else {
                format!("{} --{long}", cmd.get_name())
            };
            roff.control("TP", [])
                .text([roman(var.to_string_lossy())])
                .text([roman(format!("The default of {option}."))]);
        }
    }
    roff
}

/// `odoo-bus-tail(1)`, as SEE ALSO lists it.
fn reference(display_name: Option<&str>) -> String {
    format!("{}(1)", display_name.unwrap_or_default())
}

fn render(cmd: &clap::Command, source: &str, extra: Option<Roff>, see_also: &[String]) -> Page {
    let man = Man::new(cmd.clone()).source(source);
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = render_sections(&man, cmd, extra, see_also, &mut out);
    Page {
        file_name: man.get_filename(),
        roff: String::from_utf8_lossy(&out).into_owned(),
    }
}

fn render_sections(
    man: &Man,
    cmd: &clap::Command,
    extra: Option<Roff>,
    see_also: &[String],
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(out)?;
    }
    if let Some(text) = cmd.get_after_help() {
        out.extend(after_help_section(&text.to_string()).to_roff().as_bytes());
    }
    if let Some(extra) = extra {
        out.extend(extra.to_roff().as_bytes());
    }
    if cmd.get_version().is_some() {
        man.render_version_section(out)?;
    }
    let mut roff = Roff::new();
    roff.control("SH", ["SEE ALSO"])
        .text([roman(see_also.join(", "))]);
    out.extend(roff.to_roff().as_bytes());
    Ok(())
}

/// The `after_help` texts of cli.rs are a titled block (`Examples:`, `Exit codes:`) of lines that
/// must stay lines; clap_mangen's generic EXTRA section would fill them into one paragraph.
fn after_help_section(text: &str) -> Roff {
    let mut lines = text.lines();
    let title = lines
        .next()
        .unwrap_or_default()
        .trim()
        .trim_end_matches(':');
    let heading = match title {
        // The name man-pages(7) gives this section.
        "Exit codes" => "EXIT STATUS".to_owned(),
        other => other.to_uppercase(),
    };
    let mut roff = Roff::new();
    roff.control("SH", [heading.as_str()]).control("nf", []);
    for line in lines {
        roff.text([roman(line.strip_prefix("  ").unwrap_or(line))]);
    }
    roff.control("fi", []);
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_for_the_tool_and_one_per_subcommand() {
        let names: Vec<String> = pages().into_iter().map(|p| p.file_name).collect();
        assert_eq!(names[0], "odoo-bus.1");
        for sub in [
            "login",
            "logout",
            "status",
            "subscribe",
            "tail",
            "send",
            "doctor",
            "demo",
            "completions",
        ] {
            assert!(
                names.contains(&format!("odoo-bus-{sub}.1")),
                "{sub}: {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
    }

    #[test]
    fn examples_keep_their_lines_and_pages_link_each_other() {
        let pages = pages();
        let tail = pages
            .iter()
            .find(|p| p.file_name == "odoo-bus-tail.1")
            .unwrap();
        assert!(
            tail.roff
                .contains(".SH EXAMPLES\n.nf\nodoo\\-bus tail \\-\\-channel"),
            "{}",
            tail.roff
        );
        assert!(
            tail.roff.contains(".SH \"SEE ALSO\"\nodoo\\-bus(1)"),
            "{}",
            tail.roff
        );
        let main = &pages[0];
        assert!(
            main.roff.contains(".SH \"EXIT STATUS\"\n.nf\n0    success"),
            "{}",
            main.roff
        );
        assert!(main.roff.contains("odoo\\-bus\\-tail(1)"), "{}", main.roff);
        assert!(
            main.roff
                .contains(".TP\nODOO_BUS_PROFILE\nThe default of \\-\\-profile."),
            "{}",
            main.roff
        );
        assert!(
            main.roff
                .contains("The default of login \\-\\-session\\-id."),
            "{}",
            main.roff
        );
        let footer = format!(
            ".TH odoo-bus-tail 1  \"odoo-bus {}\"",
            env!("CARGO_PKG_VERSION")
        );
        assert!(tail.roff.contains(&footer), "{}", tail.roff);
    }
}
