//! The docs can never show an option that does not exist: every `odoo-bus …` command line in a
//! fenced ```sh, ```bash, ```shell or ```console block of README.md, CONTRIBUTING.md and
//! docs/*.md must parse with the real CLI definition.
//!
//! What counts as an example (CONTRIBUTING.md says the same for writers):
//! - in sh/bash/shell blocks, every line whose command is `odoo-bus` (a `$ ` prompt is allowed);
//!   in console blocks, only `$ ` lines (the others are output);
//! - every `odoo-bus` command of a pipeline or list (`echo x | odoo-bus login …`, `… && odoo-bus tail`);
//!   the rest of the line (`| jq …`, `> file`) is the shell's business;
//! - `cargo run [--release] -- ARGS` is checked as `odoo-bus ARGS`;
//! - a line ending in `\` continues on the next one.
//!
//! A line opts out with a trailing comment `# no-test` (for a deliberately wrong example).
//!
//! A trailing `# emulator` marks an example that also *runs*: [`emulator_examples_run`] runs each
//! such line with bash against the in-crate emulator and checks its exit code (0, or the `N` of
//! `# emulator exit=N`). See [`run_example`] for the world each line runs in.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use odoo_bus::cli;
use support::TestEnv;

/// One `odoo-bus` invocation found in the docs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Example {
    /// Where: `README.md:12`.
    location: String,
    /// The command line as written (after continuation lines are joined).
    line: String,
    /// argv, starting with `odoo-bus`.
    args: Vec<String>,
    /// The trailing comment's text, e.g. `no-test` or `emulator`.
    comment: Option<String>,
}

impl Example {
    fn marked(&self, marker: &str) -> bool {
        self.comment
            .as_deref()
            .is_some_and(|c| c.split_whitespace().next() == Some(marker))
    }
}

const SHELL_FENCES: [&str; 4] = ["sh", "bash", "shell", "console"];

/// Every odoo-bus invocation in the shell code blocks of one markdown text.
fn examples(file: &str, markdown: &str) -> Result<Vec<Example>, String> {
    let mut found = Vec::new();
    let mut fence: Option<(String, String)> = None; // (marker, language)
    let mut pending: Option<(usize, String)> = None; // a line continued with `\`
    for (index, raw) in markdown.lines().enumerate() {
        let trimmed = raw.trim_start();
        if let Some((marker, _)) = &fence {
            if trimmed.starts_with(marker.as_str())
                && trimmed.trim_start_matches(['`', '~']).trim().is_empty()
            {
                fence = None;
                pending = None;
                continue;
            }
        } else {
            let marker_len = trimmed.len() - trimmed.trim_start_matches('`').len();
            let marker_len = marker_len.max(trimmed.len() - trimmed.trim_start_matches('~').len());
            if marker_len >= 3 {
                let marker = trimmed[..marker_len].to_owned();
                let language = trimmed[marker_len..]
                    .split([' ', ',', '{'])
                    .next()
                    .unwrap_or("");
                fence = Some((marker, language.trim().to_lowercase()));
            }
            continue;
        }
        let Some((_, language)) = &fence else {
            continue;
        };
        if !SHELL_FENCES.contains(&language.as_str()) {
            continue;
        }
        let (start, text) = match pending.take() {
            Some((start, before)) => (start, format!("{before} {}", raw.trim())),
            None => {
                let line = raw.trim();
                let command = line.strip_prefix("$ ");
                match (language.as_str(), command) {
                    ("console", None) => continue,
                    (_, Some(command)) => (index + 1, command.trim().to_owned()),
                    (_, None) => (index + 1, line.to_owned()),
                }
            }
        };
        if let Some(before) = text.strip_suffix('\\') {
            pending = Some((start, before.trim_end().to_owned()));
            continue;
        }
        let location = format!("{file}:{start}");
        found.extend(
            invocations(&text)
                .map_err(|e| format!("{location}: {e}: {text}"))?
                .into_iter()
                .map(|(args, comment)| Example {
                    location: location.clone(),
                    line: text.clone(),
                    args,
                    comment,
                }),
        );
    }
    Ok(found)
}

type Invocation = (Vec<String>, Option<String>);

/// The odoo-bus invocations of one shell command line, each with the line's trailing comment.
fn invocations(line: &str) -> Result<Vec<Invocation>, String> {
    let (code, comment) = split_comment(line);
    let mut found = Vec::new();
    for segment in commands(code) {
        let words = shell_words::split(&segment).map_err(|e| e.to_string())?;
        let words: Vec<String> = words.into_iter().skip_while(|w| is_assignment(w)).collect();
        let args = match words.first().map(String::as_str) {
            Some("odoo-bus") => words,
            Some("cargo") if words.get(1).is_some_and(|w| w == "run") => {
                match words.iter().position(|w| w == "--") {
                    Some(dashes) => std::iter::once("odoo-bus".to_owned())
                        .chain(words[dashes + 1..].iter().cloned())
                        .collect(),
                    None => vec!["odoo-bus".to_owned()],
                }
            }
            _ => continue,
        };
        found.push((args, comment.clone()));
    }
    Ok(found)
}

/// `NAME=value` before a command (`ODOO_BUS_PROFILE=staging odoo-bus tail`).
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Where quotes and backslashes leave a character: only unquoted ones are shell syntax.
fn unquoted_chars(text: &str) -> impl Iterator<Item = (usize, char, bool)> + '_ {
    let mut single = false;
    let mut double = false;
    let mut escaped = false;
    text.char_indices().map(move |(i, c)| {
        let syntax = !single && !double && !escaped;
        if escaped {
            escaped = false;
        } else if c == '\\' && !single {
            escaped = true;
        } else if c == '\'' && !double {
            single = !single;
        } else if c == '"' && !single {
            double = !double;
        }
        (i, c, syntax)
    })
}

/// The code and the trailing comment (a `#` that starts an unquoted word).
fn split_comment(line: &str) -> (&str, Option<String>) {
    let mut previous = ' ';
    for (i, c, syntax) in unquoted_chars(line) {
        if syntax && c == '#' && previous.is_whitespace() {
            return (&line[..i], Some(line[i + 1..].trim().to_owned()));
        }
        previous = c;
    }
    (line, None)
}

/// The simple commands of a line: split at unquoted `|`, `;`, `&` (so also `||`, `&&`), each
/// cut at its first redirection (`>`, `<`, `2>&1`), which the CLI never sees.
fn commands(code: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    let mut redirected = false;
    for (_, c, syntax) in unquoted_chars(code) {
        if syntax && matches!(c, '|' | ';' | '&') {
            commands.push(std::mem::take(&mut current));
            redirected = false;
        } else if syntax && matches!(c, '>' | '<') {
            // `2>`: the digit belongs to the redirection when it is a word of its own.
            let digits = current.trim_end_matches(|d: char| d.is_ascii_digit());
            if digits.len() < current.len() && digits.ends_with(char::is_whitespace) {
                current.truncate(digits.len());
            }
            redirected = true;
        } else if !redirected {
            current.push(c);
        }
    }
    commands.push(current);
    commands
        .into_iter()
        .filter(|c| !c.trim().is_empty())
        .collect()
}

/// Whether clap accepts the arguments (asking for help or the version counts as accepted).
fn check(example: &Example) -> Result<(), String> {
    use clap::error::ErrorKind::{
        DisplayHelp, DisplayHelpOnMissingArgumentOrSubcommand, DisplayVersion,
    };
    match cli::command().try_get_matches_from(&example.args) {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            Ok(())
        }
        Err(e) => {
            let reason = e.render().to_string();
            let reason = reason
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            let line = example
                .line
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            Err(format!("{}: `{line}`\n    {reason}", example.location))
        }
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, CONTRIBUTING.md and docs/*.md, those that exist.
fn documents() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["README.md", "CONTRIBUTING.md"]
        .iter()
        .map(|f| repo().join(f))
        .filter(|p| p.is_file())
        .collect();
    if let Ok(entries) = std::fs::read_dir(repo().join("docs")) {
        let mut pages: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        pages.sort();
        files.extend(pages);
    }
    files
}

fn document_examples(path: &Path) -> Vec<Example> {
    let name = path
        .strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string();
    let text = std::fs::read_to_string(path).unwrap();
    examples(&name, &text).unwrap_or_else(|e| panic!("cannot read the shell examples: {e}"))
}

#[test]
fn every_documented_command_line_parses() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in documents() {
        for example in document_examples(&path) {
            if example.marked("no-test") {
                continue;
            }
            checked += 1;
            if let Err(e) = check(&example) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} documented command line(s) do not parse with the current CLI:\n  {}\n\
         (fix the docs or the CLI; a deliberately wrong example ends with `# no-test`)",
        failures.len(),
        failures.join("\n  ")
    );
    assert!(
        checked > 0,
        "no odoo-bus example found in {:?}",
        documents()
    );
}

#[test]
fn the_readme_shows_odoo_bus_in_use() {
    let readme = repo().join("README.md");
    assert!(readme.is_file(), "README.md is missing");
    let examples = document_examples(&readme);
    assert!(
        examples.iter().any(|e| !e.marked("no-test")),
        "README.md has no checked `odoo-bus` example in a ```sh block"
    );
}

#[test]
fn every_subcommand_help_has_a_purpose_and_two_examples_that_parse() {
    let mut root = cli::command();
    root.build();
    let mut failures = Vec::new();
    for sub in root.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = sub.get_name();
        if sub
            .get_about()
            .is_none_or(|a| a.to_string().trim().is_empty())
        {
            failures.push(format!("`{name}` has no one-line purpose"));
        }
        let after_help = sub
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        let mut lines = after_help.lines();
        if lines.next() != Some("Examples:") {
            failures.push(format!("`{name} --help` does not end with `Examples:`"));
        }
        let mut examples_found = 0;
        for (n, line) in lines.enumerate() {
            let location = format!("`{name} --help` example {}", n + 1);
            let invocations = invocations(line).unwrap_or_else(|e| panic!("{location}: {e}"));
            for (args, comment) in invocations {
                examples_found += 1;
                let example = Example {
                    location: location.clone(),
                    line: line.trim().to_owned(),
                    args,
                    comment,
                };
                if let Err(e) = check(&example) {
                    failures.push(e);
                }
            }
        }
        if examples_found < 2 {
            failures.push(format!(
                "`{name} --help` shows {examples_found} odoo-bus example(s), not 2"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// Running the `# emulator` examples.

/// The emulator's address in the docs (`odoo-bus demo --serve --port 8070`); each run swaps in
/// the address of its own emulator, so login examples can be pasted as they are.
const DOC_EMULATOR_URL: &str = "http://127.0.0.1:8070";

/// The longest one example may run (every runnable example is bounded by -n or --timeout).
const EXAMPLE_LIMIT: Duration = Duration::from_secs(30);

/// How many examples run at once.
const PARALLEL: usize = 8;

/// One `# emulator` line, with the exit code it must end with.
#[derive(Debug, Clone)]
struct Runnable {
    location: String,
    line: String,
    exit: i32,
}

/// The exit code a marker asks for: `emulator` → 0, `emulator exit=124` → 124.
fn expected_exit(comment: &str) -> Result<i32, String> {
    let mut words = comment.split_whitespace();
    if words.next() != Some("emulator") {
        return Err(format!("not an emulator marker: `# {comment}`"));
    }
    let mut exit = 0;
    for word in words {
        if let Some(code) = word.strip_prefix("exit=") {
            exit = code
                .parse()
                .map_err(|_| format!("`exit={code}` is not an exit code"))?;
        }
    }
    Ok(exit)
}

/// Every `# emulator` line of the docs, once per line (a pipeline holds several invocations).
fn runnable_examples() -> Vec<Runnable> {
    let mut found: Vec<Runnable> = Vec::new();
    for path in documents() {
        for example in document_examples(&path) {
            if !example.marked("emulator") || found.iter().any(|r| r.location == example.location) {
                continue;
            }
            let comment = example.comment.as_deref().unwrap_or_default();
            let exit =
                expected_exit(comment).unwrap_or_else(|e| panic!("{}: {e}", example.location));
            found.push(Runnable {
                location: example.location,
                line: example.line,
                exit,
            });
        }
    }
    found
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What one example did.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Run one line with `bash -o pipefail -c` (so `odoo-bus … | jq …` fails when odoo-bus does),
/// in a world of its own: a private HOME and config file holding two logged-in profiles on the
/// shared emulator, `default` (admin) and `demo` (demo), each with a fresh session (so a
/// `logout` example logs out nobody else); `odoo-bus` on PATH is the binary under test; stdin
/// is empty.
fn run_example(env: &TestEnv, bin_dir: &Path, example: &Runnable) -> Outcome {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config").join("config.toml");
    env.logged_in_at(&config, "default", "admin");
    env.logged_in_at(&config, "demo", "demo");
    let line = example.line.replace(DOC_EMULATOR_URL, &env.url());
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(bin_dir.to_path_buf()).chain(std::env::split_paths(&path)),
    )
    .unwrap();
    let mut cmd = Command::new("bash");
    cmd.args(["-o", "pipefail", "-c", &line])
        .current_dir(home.path())
        .env("PATH", path)
        .env("HOME", home.path())
        .env("ODOO_BUS_CONFIG", &config)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in support::CLEARED_ENV {
        cmd.env_remove(var);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("bash starts");
    // Read both pipes while waiting, so a chatty example cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > EXAMPLE_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        code,
        elapsed: start.elapsed(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// The last lines of a text, indented, for a failure report.
fn tail_of(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let shown = &all[all.len().saturating_sub(lines)..];
    shown
        .iter()
        .map(|l| format!("      {}", l.chars().take(200).collect::<String>()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn emulator_examples_run() {
    let examples = runnable_examples();
    assert!(
        examples.len() >= 10,
        "only {} `# emulator` examples in the docs: the runnable ones should be marked",
        examples.len()
    );
    assert!(on_path("bash"), "bash is needed to run the doc examples");
    let jq = on_path("jq");
    let (examples, skipped): (Vec<Runnable>, Vec<Runnable>) = examples
        .into_iter()
        .partition(|e| jq || !e.line.split_whitespace().any(|w| w == "jq"));
    if !skipped.is_empty() {
        eprintln!(
            "jq is not installed: skipped {} example(s) that pipe into it",
            skipped.len()
        );
    }

    let env = TestEnv::new();
    let _traffic = odoo_bus_emulator::traffic::spawn(env.control().clone(), 5.0);
    // A backlog in the server's 50 s replay window, so `tail -n N` examples answer at once.
    let started = Instant::now();
    let warm_up = Instant::now();
    while env.control().max_id() < 30 {
        assert!(
            warm_up.elapsed() < Duration::from_secs(20),
            "the emulator's traffic did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let warmed_up = warm_up.elapsed();
    let bin = assert_cmd::cargo::cargo_bin!("odoo-bus");
    let bin_dir = bin.parent().unwrap().to_path_buf();

    // The workers pop from the end: the lines that wait on a clock start first.
    let mut queue = examples.clone();
    queue.sort_by_key(|e| {
        ["--timeout", "--listen", "demo"]
            .iter()
            .any(|slow| e.line.contains(slow))
    });
    let queue = Arc::new(Mutex::new(queue));
    let results = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            let (queue, results, env, bin_dir) = (&queue, &results, &env, &bin_dir);
            scope.spawn(move || {
                loop {
                    let Some(example) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let outcome = run_example(env, bin_dir, &example);
                    results.lock().unwrap().push((example, outcome));
                }
            });
        }
    });

    let results = results.lock().unwrap();
    eprintln!(
        "ran {} `# emulator` examples in {:.1?} (after {:.1?} of warm-up); the slowest:",
        results.len(),
        started.elapsed(),
        warmed_up
    );
    let mut by_time: Vec<_> = results.iter().collect();
    by_time.sort_by_key(|(_, o)| std::cmp::Reverse(o.elapsed));
    for (example, outcome) in by_time.iter().take(5) {
        eprintln!("  {:>5.1?}  {}", outcome.elapsed, example.location);
    }
    let mut failures = Vec::new();
    for (example, outcome) in results.iter() {
        if outcome.code != Some(example.exit) {
            let got = match outcome.code {
                Some(code) => format!("exit {code}"),
                None => format!("no exit within {EXAMPLE_LIMIT:?} (or killed by a signal)"),
            };
            failures.push(format!(
                "{}: `{}`\n    expected exit {}, got {got} after {:.1?}\n    stdout:\n{}\n    stderr:\n{}",
                example.location,
                example.line,
                example.exit,
                outcome.elapsed,
                tail_of(&outcome.stdout, 5),
                tail_of(&outcome.stderr, 5),
            ));
        }
    }
    assert_eq!(results.len(), examples.len());
    assert!(
        failures.is_empty(),
        "{} of {} `# emulator` example(s) did not end as documented:\n  {}",
        failures.len(),
        examples.len(),
        failures.join("\n  ")
    );
}

#[test]
fn emulator_markers_say_which_exit_code() {
    assert_eq!(expected_exit("emulator"), Ok(0));
    assert_eq!(expected_exit("emulator exit=124"), Ok(124));
    assert_eq!(expected_exit("emulator exit=3 (not logged in)"), Ok(3));
    assert!(expected_exit("emulator exit=x").is_err());
    assert!(expected_exit("no-test").is_err());
}

// The extractor itself.

fn args_of(markdown: &str) -> Vec<Vec<String>> {
    examples("t.md", markdown)
        .unwrap()
        .into_iter()
        .map(|e| e.args)
        .collect()
}

fn argv(line: &str) -> Vec<String> {
    line.split(' ').map(str::to_owned).collect()
}

#[test]
fn finds_commands_in_shell_blocks_only() {
    let md = "odoo-bus outside --a-block\n\
              ```sh\nodoo-bus status --json\n$ odoo-bus logout\nls -l\n```\n\
              ```toml\nodoo-bus = 1\n```\n\
              ```text\nodoo-bus tail\n```\n\
              ```bash\n  odoo-bus doctor\n```\n";
    assert_eq!(
        args_of(md),
        [
            argv("odoo-bus status --json"),
            argv("odoo-bus logout"),
            argv("odoo-bus doctor")
        ]
    );
}

#[test]
fn console_blocks_check_prompts_and_skip_output() {
    let md = "```console\n$ odoo-bus --version\nodoo-bus 0.1.0\n$ echo hi\nhi\n```\n";
    assert_eq!(args_of(md), [argv("odoo-bus --version")]);
}

#[test]
fn pipelines_lists_redirections_and_comments_are_shell_not_cli() {
    let md = "```sh\n\
              odoo-bus tail -o ndjson | jq -c 'select(.type == \"x\") | .payload'   # a comment\n\
              echo \"$PASS\" | odoo-bus login erp.example.com --password-stdin\n\
              odoo-bus completions bash > ~/.local/share/bash-completion/completions/odoo-bus\n\
              odoo-bus tail -n 5 2>/dev/null && odoo-bus status\n\
              ODOO_BUS_PROFILE=staging odoo-bus send discuss.channel_1 'a # b | c'\n\
              cargo run --release -- demo\n\
              cargo test\n\
              ```\n";
    assert_eq!(
        args_of(md),
        [
            argv("odoo-bus tail -o ndjson"),
            argv("odoo-bus login erp.example.com --password-stdin"),
            argv("odoo-bus completions bash"),
            argv("odoo-bus tail -n 5"),
            argv("odoo-bus status"),
            vec![
                "odoo-bus".into(),
                "send".into(),
                "discuss.channel_1".into(),
                "a # b | c".into()
            ],
            argv("odoo-bus demo"),
        ]
    );
}

#[test]
fn continuation_lines_are_joined_and_located_at_their_start() {
    let md = "# Title\n```sh\nodoo-bus tail \\\n  --channel discuss.channel_1 \\\n  --json\n```\n";
    let found = examples("t.md", md).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].args,
        argv("odoo-bus tail --channel discuss.channel_1 --json")
    );
    assert_eq!(found[0].location, "t.md:3");
}

#[test]
fn markers_come_from_the_trailing_comment() {
    let md = "```sh\nodoo-bus tail --bogus   # no-test\nodoo-bus demo --serve  # emulator\nodoo-bus status\n```\n";
    let found = examples("t.md", md).unwrap();
    assert!(found[0].marked("no-test") && !found[0].marked("emulator"));
    assert!(found[1].marked("emulator"));
    assert!(!found[2].marked("no-test"));
}

#[test]
fn options_that_do_not_exist_are_caught_and_real_ones_pass() {
    let md = "```sh\n\
              odoo-bus tail --chanel discuss.channel_1\n\
              odoo-bus send\n\
              odoo-bus tail --channel discuss.channel_1 --type 'discuss.channel/*' -n 3\n\
              odoo-bus help tail\n\
              odoo-bus --version\n\
              ```\n";
    let results: Vec<bool> = examples("t.md", md)
        .unwrap()
        .iter()
        .map(|e| check(e).is_ok())
        .collect();
    assert_eq!(results, [false, false, true, true, true]);
    let error = check(&examples("t.md", md).unwrap()[0]).unwrap_err();
    assert!(
        error.starts_with("t.md:2: `odoo-bus tail --chanel"),
        "{error}"
    );
    assert!(error.contains("--chanel"), "{error}");
}

#[test]
fn an_unbalanced_quote_is_reported_with_its_place() {
    let error = examples(
        "t.md",
        "```sh\nodoo-bus send discuss.channel_1 'oops\n```\n",
    )
    .unwrap_err();
    assert!(error.starts_with("t.md:2:"), "{error}");
}
