//! Log set-up: `tracing` to standard error, level from `SPILLWAY_LOG` (e.g. `debug`,
//! `spillway::l4=debug`), `info` by default, `warn` with `-q`, `debug` with `-d`.

use tracing_subscriber::EnvFilter;

pub fn init(quiet: bool, debug: bool) {
    let default = match (debug, quiet) {
        (true, _) => "debug",
        (false, true) => "warn",
        (false, false) => "info",
    };
    let filter = EnvFilter::try_from_env("SPILLWAY_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
