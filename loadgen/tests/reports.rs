//! Report files of one run against `loadgen serve` with a fake spillway `/stats`: the HdrHistogram
//! log reads back with the hdrhistogram crate's reader, the timeline has one row per second, the
//! SVG is valid XML, and the surge figures come from the polled stats.

mod common;
use common::*;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;

#[test]
fn hdr_log_timeline_svg_and_stats_of_one_run() {
    let serve = Serve::start(&["--latency", "1ms"]);
    let (stats_addr, polls) = fake_stats();
    let dir = tmp_dir("reports");
    let (hdr, csv, svg) = (dir.join("run.hlog"), dir.join("run.csv"), dir.join("run.svg"));
    let url = serve.url("/");
    let stats_url = format!("http://{stats_addr}/stats");
    let j = run_json(
        &dir,
        &[
            url.as_str(),
            "-c",
            "4",
            "-t",
            "1",
            "-R",
            "400",
            "-d",
            "3s",
            "--warmup",
            "500ms",
            "--stats-url",
            stats_url.as_str(),
            "--hdr-log",
            hdr.to_str().unwrap(),
            "--timeline",
            csv.to_str().unwrap(),
            "--plot",
            svg.to_str().unwrap(),
        ],
    );

    // HdrHistogram interval log: Java's header lines, and every interval decodes.
    let log = std::fs::read_to_string(&hdr).unwrap();
    assert!(log.contains("#[Histogram log format version 1.3]"));
    assert!(log.contains("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""));
    let (mut start, mut untagged, mut total) = (None, 0, 0u64);
    let mut de = Deserializer::new();
    for e in IntervalLogIterator::new(log.as_bytes()) {
        match e.expect("log line parses") {
            LogEntry::StartTime(t) => start = Some(t),
            LogEntry::Interval(i) if i.tag().is_none() => {
                untagged += 1;
                let bytes = STANDARD.decode(i.encoded_histogram()).expect("base64");
                let h: hdrhistogram::Histogram<u64> = de.deserialize(&mut bytes.as_slice()).expect("histogram decodes");
                total += h.len();
            }
            _ => {}
        }
    }
    assert!(start.is_some());
    assert_eq!(untagged, 3);
    assert_eq!(total, j["requests"].as_u64().unwrap());

    // Timeline: header + one row per second, offered 400/s each second.
    let t = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 1 + 3, "{t}");
    assert!(lines[0].starts_with("second,offered_rps,achieved_rps,p50_ms,p99_ms,max_ms"));
    // The queue columns come from the polls: 5 + 2 = 7 in every second that had one. A poller
    // thread held off the CPU for over a second on a loaded machine leaves a second without a
    // poll, and then the row says 0; at least two of the three seconds must have been sampled.
    let mut sampled = 0;
    for (i, l) in lines[1..].iter().enumerate() {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f[0], i.to_string());
        assert_eq!(f[1], "400.0");
        match f[12] {
            "7" => {
                sampled += 1;
                assert!(f[13].parse::<f64>().unwrap() >= 5.0, "spillover per second: {l}");
            }
            "0" => {}
            other => panic!("queue length column {other}: {l}"),
        }
    }
    assert!(sampled >= 2, "too few seconds with a stats poll:\n{t}");

    // SVG: well-formed XML with an <svg> root.
    let doc_text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&doc_text).expect("SVG is valid XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");

    // Surge figures from the polls made during the measured 3 s. No poll fails: a failed one
    // means the poller or the fake server mishandled an exchange (see `fake_stats`).
    assert_eq!(j["surge"]["failed_polls"].as_u64(), Some(0), "{}", j["surge"]);
    // About 30 polls at 100 ms; a loaded machine delays some.
    assert!(polls.load(std::sync::atomic::Ordering::Relaxed) >= 15);
    assert_eq!(j["surge"]["queue_length_max"].as_f64(), Some(7.0));
    assert_eq!(j["surge"]["queue_length_mean"].as_f64(), Some(7.0));
    let spill = j["surge"]["spillover_count"].as_f64().unwrap();
    assert!((20.0..=32.0).contains(&spill), "spillover {spill}");
}
