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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
