//! The binary: parse, run, map the outcome to an exit code. Everything else lives in the library.
//!
//! May not touch: anything but `cli`, `commands` and the exit code.

use clap::Parser;

use odoo_bus::cli::{self, Cli};
use odoo_bus::commands;

fn main() {
    // Shell completion callbacks (`COMPLETE=bash odoo-bus ...`) are answered before anything else.
    clap_complete::CompleteEnv::with_factory(cli::command).complete();

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help, --version, and a bare `odoo-bus`: clap's own output is the answer.
        Err(e)
            if !e.use_stderr()
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            e.exit()
        }
        Err(e) => {
            // One line, like every other error (scripts grep stderr; see docs/bad-input.md).
            let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
            eprintln!("error: {}", cli::one_line_usage_error(&e, &args));
            std::process::exit(odoo_bus_core::error::exit::USAGE);
        }
    };
    let color = odoo_bus::ui::use_color(
        cli.global.color,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    // One thread: the commands are one sequential conversation (tail's loop, an HTTP call, a
    // websocket), so worker threads only added hops. With the multi-threaded runtime every wait
    // for the socket was a worker's epoll wake-up handing over to this thread (about 3× the
    // context switches of `tail`). Blocking writes to stdout happen on tail's own thread.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            let label = if color {
                "\x1b[1;31merror:\x1b[0m"
            } else {
                "error:"
            };
            eprintln!("{label} {e}");
            e.exit_code()
        }
    };
    // Background tasks (a reconnect timer, a stdin reader) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
