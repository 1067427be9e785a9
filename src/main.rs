//! The `spillway` binary: command line → configuration → start shards → wait for signals.

use std::process::ExitCode;

use signal_hook::{
    consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1},
    iterator::Signals,
};
use spillway::{cli, config::Config, daemon, Server, StartOptions};
use tracing::{info, warn};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Before the shards grow the heap: small pages keep freed memory returnable (memory.rs).
    spillway::memory::avoid_transparent_huge_pages();
    let cli = cli::parse();
    // The demo prints its own report: only warnings from the proxy around it.
    let demo = matches!(cli.command, Some(cli::Command::Demo { .. }));
    spillway::logging::init(cli.quiet || demo, cli.debug);
    if cli.version {
        println!("spillway version {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if let Some(cli::Command::Demo { seconds }) = cli.command {
        return spillway::demo::run(seconds);
    }
    if cli.file.is_empty() {
        eprintln!("spillway: no configuration file: use -f FILE (see --help)");
        return ExitCode::FAILURE;
    }
    let paths = cli.file.clone();
    let load = spillway::config::haproxy::Options { unresolved_down: cli.dns_relaxed };
    let config = match Config::load_files_with(&paths, load) {
        Ok((mut c, notes)) => {
            // HAProxy directives accepted without effect: said once, where the user looks.
            for n in &notes {
                if cli.check {
                    if !cli.quiet {
                        eprintln!("{n}");
                    }
                } else {
                    warn!("{n}");
                }
            }
            c.runtime.threads = cli.threads.unwrap_or(c.runtime.threads);
            c.runtime.cpus = cli.cpus.clone().unwrap_or(c.runtime.cpus);
            c
        }
        Err(problems) => {
            eprintln!("{problems}");
            return ExitCode::FAILURE;
        }
    };
    if cli.check {
        if !cli.quiet {
            println!("Configuration file is valid");
        }
        return ExitCode::SUCCESS;
    }
    // The file's `daemon`/`pidfile` (HAProxy's global section) count as -D/-p; the command
    // line's -p wins; -db (foreground) overrides a `daemon` line, as in HAProxy.
    let daemonize = (cli.daemon || config.runtime.daemon) && !cli.foreground && !cli.debug;
    let pidfile = cli.pidfile.clone().or_else(|| config.runtime.pidfile.clone());
    let report = if daemonize {
        match daemon::daemonize() {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("spillway: cannot daemonize: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    // Registered before the shards start, so an early SIGUSR1 is not fatal.
    let mut signals = Signals::new([SIGUSR1, SIGTERM, SIGINT, SIGHUP]).expect("signal handlers install");
    let drain_timeout = config.runtime.drain_timeout;
    // `-sf`/`-st`: take the listening sockets over from the running process first.
    let taking_over = !cli.soft_stop.is_empty() || !cli.hard_stop.is_empty();
    let mut options = StartOptions { handover: taking_over, ..Default::default() };
    if taking_over {
        match &config.runtime.upgrade_socket {
            Some(path) => match spillway::upgrade::receive(path) {
                Ok(inherited) => {
                    info!(sockets = inherited.len(), "took the listening sockets over from the running process");
                    options.inherited = inherited;
                }
                // HAProxy without `-x` binds new sockets next to the old ones: so does this.
                Err(e) => warn!("{e}; binding new sockets (connections queued at the old process may be reset)"),
            },
            None => warn!(
                "-sf/-st without [runtime] upgrade_socket: binding new sockets next to the old ones \
                 (connections queued at the old process may be reset)"
            ),
        }
    }
    let mut server = match Server::start(config, options) {
        Ok(s) => s,
        Err(e) => {
            // A failed start listened on nothing (server.rs) and signalled nobody: during a
            // reload, the operator must know the old process still serves.
            let message = if taking_over {
                let pids: Vec<String> = cli.soft_stop.iter().chain(&cli.hard_stop).map(u32::to_string).collect();
                format!(
                    "spillway: {e}\nspillway: reload aborted: the running process (pid {}) was not told to stop and keeps serving",
                    pids.join(", ")
                )
            } else {
                format!("spillway: {e}")
            };
            // With -D the parent prints it (it owns the terminal); print it once.
            match report {
                Some(r) => r.failed(&message),
                None => eprintln!("{message}"),
            }
            return ExitCode::FAILURE;
        }
    };
    if let Some(pidfile) = &pidfile {
        if let Err(e) = daemon::write_pidfile(pidfile) {
            warn!(path = %pidfile.display(), error = %e, "cannot write the pid file");
        }
    }
    for (name, addr) in server.listeners() {
        info!(listener = %name, %addr, "listening");
    }
    if let Some(addr) = server.admin_addr() {
        info!(%addr, "admin API listening");
    }
    info!(shards = server.shard_count(), pid = std::process::id(), "spillway running");
    if taking_over {
        spillway::upgrade::signal_old(&cli.soft_stop, &cli.hard_stop);
    }
    if let Some(r) = report {
        r.ready();
    }
    let code = supervise(&mut server, &mut signals, &paths, load, drain_timeout);
    if let Some(pidfile) = &pidfile {
        daemon::remove_pidfile_if_ours(pidfile);
    }
    server.stop();
    code
}

/// How often the control thread looks at signals and at the shards.
const SUPERVISE_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// Serves signals until the process should end: SIGUSR1 starts a drain (and SIGTERM/SIGINT
/// still cut it short), SIGHUP reloads, and a shard that died (a panic) ends the process with
/// an error rather than leave its share of the port accepting connections nobody serves.
fn supervise(
    server: &mut Server,
    signals: &mut Signals,
    paths: &[std::path::PathBuf],
    load: spillway::config::haproxy::Options,
    drain: std::time::Duration,
) -> ExitCode {
    let mut draining = false;
    loop {
        for signal in signals.pending() {
            match signal {
                SIGUSR1 if !draining => {
                    info!(timeout = ?drain, "SIGUSR1: graceful stop");
                    server.begin_drain(drain);
                    draining = true;
                }
                SIGUSR1 => {}
                SIGHUP => reload(server, paths, load),
                _ => {
                    info!("stopping now");
                    return ExitCode::SUCCESS;
                }
            }
        }
        if draining && server.finished() {
            return ExitCode::SUCCESS;
        }
        if !draining && server.shard_died() {
            tracing::error!("a shard ended unexpectedly; stopping so that no port is left half served");
            return ExitCode::FAILURE;
        }
        std::thread::sleep(SUPERVISE_EVERY);
    }
}

/// SIGHUP: re-read the file and apply its target groups and certificates; a bad file (or a
/// certificate that does not load) changes nothing.
/// Host names are resolved again here, so a server that did not resolve at start (`-dr`,
/// `init-addr none`) joins its group once its name resolves.
fn reload(server: &mut Server, paths: &[std::path::PathBuf], load: spillway::config::haproxy::Options) {
    let file = paths.first().map(|p| p.display().to_string()).unwrap_or_default();
    match Config::load_files_with(paths, load) {
        Ok((new, _notes)) => match server.update_groups(new) {
            Ok(()) => info!(%file, "SIGHUP: target groups and certificates reloaded"),
            Err(e) => warn!(%file, "SIGHUP: {e}"),
        },
        Err(problems) => warn!(%file, "SIGHUP: configuration not applied:\n{problems}"),
    }
}
