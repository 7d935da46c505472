//! The binary: parse, run, map the outcome to an exit code. Everything else lives in the library.

use clap::Parser;

use odoo_bus::cli::{self, Cli};
use odoo_bus::commands;

fn main() {
    // Shell completion callbacks (`COMPLETE=bash odoo-bus ...`) are answered before anything else.
    clap_complete::CompleteEnv::with_factory(cli::command).complete();

    let cli = Cli::parse();
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
