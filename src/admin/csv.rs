//! `GET /stats;csv`: the figures in HAProxy's stats CSV layout, so that dashboards, scripts and
//! the load generator's HAProxy mode read spillway as they read HAProxy.
//!
//! The columns are HAProxy's, in HAProxy's order (tools index them by name or by position);
//! those without a meaning here are left empty. Rows: one `FRONTEND` per listener, then per
//! target group one row per target (its address as `svname`) and a `BACKEND` row. The surge
//! queue is the group's, so `qcur`/`qmax` are on the `BACKEND` row (HAProxy's backend queue).

use crate::{control::TargetSet, health::HealthState, metrics::ShardSnapshot};

/// HAProxy's stats CSV columns, in order (`show stat` / `;csv`, through `ttime`).
const COLUMNS: [&str; 62] = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
];

/// One row: values by column name, the rest empty.
pub struct Row(Vec<(&'static str, String)>);

impl Row {
    fn new(pxname: &str, svname: &str) -> Row {
        Row(vec![("pxname", escape(pxname)), ("svname", escape(svname))])
    }

    fn set(mut self, column: &'static str, value: impl ToString) -> Row {
        self.0.push((column, value.to_string()));
        self
    }

    /// The value of `column` ("" when the row has none).
    pub fn get(&self, column: &str) -> &str {
        self.0.iter().find(|(k, _)| *k == column).map_or("", |(_, v)| v.as_str())
    }

    fn push_to(self, rows: &mut Vec<Row>) {
        rows.push(self);
    }

    fn render(&self, out: &mut String) {
        for (i, c) in COLUMNS.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if let Some((_, v)) = self.0.iter().find(|(k, _)| k == c) {
                out.push_str(v);
            }
        }
        out.push('\n');
    }
}

/// Commas would break the layout (HAProxy's names cannot hold one; ours could).
fn escape(s: &str) -> String {
    s.replace(',', "_")
}

/// The CSV document.
pub fn render(set: &TargetSet, figures: &ShardSnapshot) -> String {
    let mut out = String::from("# ");
    out.push_str(&COLUMNS.join(","));
    out.push('\n');
    for row in rows(set, figures) {
        row.render(&mut out);
    }
    out
}

/// The rows of the CSV document (the HTML stats page shows them too): a `FRONTEND` per
/// listener, then per group its targets and its `BACKEND`.
pub fn rows(set: &TargetSet, figures: &ShardSnapshot) -> Vec<Row> {
    let mut out = Vec::new();
    let config = &set.config;
    for l in &config.listeners {
        let f = figures.listener(&l.name).cloned().unwrap_or_default();
        let classes = f.backend_by_class;
        Row::new(&l.name, "FRONTEND")
            .set("scur", f.active)
            .set("stot", f.accepted)
            .set("bin", f.bytes_in)
            .set("bout", f.bytes_out)
            .set("ereq", f.elb_4xx)
            .set("status", "OPEN")
            .set("type", 0)
            .set("hrsp_1xx", classes[0])
            .set("hrsp_2xx", classes[1])
            .set("hrsp_3xx", classes[2])
            .set("hrsp_4xx", classes[3] + f.elb_4xx)
            .set("hrsp_5xx", classes[4] + f.elb_5xx)
            .set("req_tot", f.requests)
            .push_to(&mut out);
    }
    for (g, group) in config.target_groups.iter().enumerate() {
        let (mut scur, mut stot, mut bin, mut bout, mut econ, mut eresp) = (0, 0, 0, 0, 0, 0);
        let (mut weight, mut up) = (0, 0);
        for (t, slot) in group.targets.iter().zip(set.targets[g].iter().map(|s| &s.health)) {
            let f = figures.target_in(&group.name, t.addr).cloned().unwrap_or_default();
            let state = slot.load().state();
            let status = match state {
                _ if !group.health_check.enabled && state != HealthState::Draining => "no check",
                HealthState::Healthy | HealthState::Initial => "UP",
                HealthState::Unhealthy => "DOWN",
                HealthState::Draining => "DRAIN",
            };
            if status == "UP" || status == "no check" {
                up += 1;
                weight += t.weight;
            }
            (scur, stot, bin, bout) = (scur + f.active, stot + f.sessions, bin + f.bytes_in, bout + f.bytes_out);
            (econ, eresp) = (econ + f.connect_errors, eresp + f.response_errors);
            Row::new(&group.name, &t.addr.to_string())
                .set("qcur", 0)
                .set("scur", f.active)
                .set("stot", f.sessions)
                .set("bin", f.bytes_in)
                .set("bout", f.bytes_out)
                .set("econ", f.connect_errors)
                .set("eresp", f.response_errors)
                .set("status", status)
                .set("weight", t.weight)
                .set("act", 1)
                .set("bck", 0)
                .set("type", 2)
                .set("lbtot", f.sessions)
                .push_to(&mut out);
        }
        let mean_ms = |h: Option<&hdrhistogram::Histogram<u64>>| h.map_or(0, |h| (h.mean() / 1000.0).round() as u64);
        let gf = figures.group(&group.name);
        let classes = config
            .listeners
            .iter()
            .filter(|l| l.target_group == group.name)
            .filter_map(|l| figures.listener(&l.name))
            .fold([0u64; 5], |mut acc, f| {
                for (a, b) in acc.iter_mut().zip(f.backend_by_class) {
                    *a += b;
                }
                acc
            });
        Row::new(&group.name, "BACKEND")
            .set("qcur", set.surge[g].length())
            .set("qmax", set.surge[g].length_max())
            .set("scur", scur)
            .set("stot", stot)
            .set("bin", bin)
            .set("bout", bout)
            .set("econ", econ)
            .set("eresp", eresp)
            .set("status", if up > 0 { "UP" } else { "DOWN" })
            .set("weight", weight)
            .set("act", up)
            .set("bck", 0)
            .set("type", 1)
            .set("lbtot", stot)
            .set("hrsp_1xx", classes[0])
            .set("hrsp_2xx", classes[1])
            .set("hrsp_3xx", classes[2])
            .set("hrsp_4xx", classes[3])
            .set("hrsp_5xx", classes[4])
            .set("qtime", mean_ms(gf.map(|f| &f.queue_wait)))
            .set("rtime", mean_ms(gf.map(|f| &f.latency)))
            .push_to(&mut out);
    }
    out
}
