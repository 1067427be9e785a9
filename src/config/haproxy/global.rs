//! The `global` section: process settings (`maxconn`, `nbthread`, `cpu-map`, `hard-stop-after`,
//! `stats socket`, ...) onto `[runtime]` and `[admin]`, and the tuning directives noted as
//! having no effect.

use std::path::{Path, PathBuf};

use super::{
    keywords::{NO_EFFECT, WARNED},
    number, parse_time, Reader, Site,
};

impl Reader {
    pub(super) fn global(&mut self, w: &[String], line: usize) -> Result<(), String> {
        let rt = &mut self.config.runtime;
        match w[0].as_str() {
            "maxconn" => {
                rt.max_connections = number(w.get(1), "maxconn")?;
                self.lines.set(Site::Runtime("max_connections"), line);
            }
            "nbthread" => {
                rt.threads = number(w.get(1), "nbthread")?;
                self.lines.set(Site::Runtime("threads"), line);
            }
            "cpu-map" => return self.cpu_map(w, line),
            "daemon" => rt.daemon = true,
            "pidfile" => rt.pidfile = Some(PathBuf::from(w.get(1).ok_or("pidfile needs a path")?)),
            "stats" if w.get(1).is_some_and(|s| s == "socket") => {
                let path = w.get(2).ok_or("stats socket needs a path")?;
                let expose = w.windows(2).any(|p| p[0] == "expose-fd" && p[1] == "listeners");
                if expose {
                    rt.upgrade_socket = Some(PathBuf::from(path));
                } else {
                    self.note(
                        line,
                        "stats socket without expose-fd listeners: no effect (spillway has no runtime CLI)",
                    );
                }
            }
            "stats" => self.note(line, format!("{}: no effect", w.join(" "))),
            "setenv" | "presetenv" => {
                let (Some(name), Some(value)) = (w.get(1), w.get(2)) else {
                    return Err(format!("{} needs a name and a value", w[0]));
                };
                // Kept by the reader (not put in the process environment) for the "$VAR" of
                // the lines after it; presetenv does not override a variable already set.
                if w[0] == "setenv" || self.var(name).is_none() {
                    self.env.insert(name.clone(), value.clone());
                }
            }
            "unsetenv" | "resetenv" => self.note(
                line,
                format!("{}: no effect: \"$VAR\" expands from the environment and setenv/presetenv lines", w[0]),
            ),
            "hard-stop-after" => {
                rt.drain_timeout = parse_time(w.get(1).ok_or("hard-stop-after needs a time")?)?;
                self.lines.set(Site::Runtime("drain_timeout"), line);
            }
            "crt-base" => self.crt_base = Some(self.path(w.get(1).ok_or("crt-base needs a directory")?)),
            "default-path" => {
                let dir = self.config_dir(line);
                self.default_path = match (w.get(1).map(String::as_str), w.get(2)) {
                    (Some("current"), _) => None,
                    (Some("config"), _) => Some(dir),
                    (Some("parent"), _) => Some(dir.parent().map(Path::to_path_buf).unwrap_or(dir)),
                    (Some("origin"), Some(path)) => Some(PathBuf::from(path)),
                    _ => return Err("default-path: expected current, config, parent or origin PATH".into()),
                };
            }
            d if d.starts_with("profiling.") => {
                self.note(line, format!("{d}: no effect (spillway has no task profiler)"))
            }
            d if WARNED.iter().any(|(k, _)| *k == d) => self.warned(d, line),
            d if NO_EFFECT.contains(&d) || d.starts_with("tune.") => self.note(line, format!("{d}: no effect")),
            "nbproc" => return Err("nbproc is not supported: use nbthread".into()),
            "debug" | "quiet" => self.note(line, format!("{}: no effect (use -d / -q)", w[0])),
            d => return Err(format!("global: unsupported directive \"{d}\"")),
        }
        Ok(())
    }

    /// `cpu-map [auto:]1/T CPU` or `cpu-map [auto:]1/A-B C-D`: thread T (1-based) on CPU.
    fn cpu_map(&mut self, w: &[String], line: usize) -> Result<(), String> {
        let (Some(threads), Some(cpus)) = (w.get(1), w.get(2)) else {
            return Err("cpu-map needs a thread set and a CPU set".into());
        };
        let threads = threads.trim_start_matches("auto:");
        let threads = threads.split_once('/').map_or(threads, |(_, t)| t);
        let range = |s: &str| -> Option<(usize, usize)> {
            match s.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => s.parse().ok().map(|n| (n, n)),
            }
        };
        let (Some((t0, t1)), Some((c0, c1))) = (range(threads), range(cpus)) else {
            self.note(line, format!("cpu-map {} {}: form not understood, ignored", w[1], w[2]));
            return Ok(());
        };
        if t0 == 0 || t1 < t0 || c1 < c0 {
            return Err(format!("cpu-map {} {}: invalid range", w[1], w[2]));
        }
        let cpus = &mut self.config.runtime.cpus;
        for (k, t) in (t0..=t1).enumerate() {
            let cpu = if c0 == c1 { c0 } else { c0 + k };
            if cpus.len() < t {
                cpus.resize(t, cpu);
            }
            cpus[t - 1] = cpu;
        }
        self.lines.set(Site::Runtime("cpus"), line);
        Ok(())
    }
}
