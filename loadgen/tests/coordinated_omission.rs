//! Coordinated omission: with `-c 1 -R 100`, a backend that stalls once for 1.5 s. The requests
//! planned during the stall are sent late; measured from their planned times (corrected latency)
//! the p90 shows the stall (> 100 ms), while the service time (from the actual send) does not
//! (p90 < 50 ms), just as wrk2 would show and wrk would hide.

mod common;
use common::*;

#[test]
fn a_stall_shows_in_corrected_latency_but_not_in_service_time() {
    let serve = Serve::start(&[]);
    let dir = tmp_dir("co");
    let url = serve.url("/");
    let addr = serve.addr.clone();
    let staller = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1000));
        request(&addr, "POST", "/admin/pause?ms=1500")
    });
    let j = run_json(&dir, &[url.as_str(), "-c", "1", "-t", "1", "-R", "100", "-d", "3s"]);
    assert_eq!(staller.join().unwrap().0, 200);
    let corrected = j["latency_us"]["p90"].as_u64().unwrap();
    let service = j["service_time_us"]["p90"].as_u64().unwrap();
    assert!(corrected > 100_000, "corrected p90 {corrected} us");
    assert!(service < 50_000, "service p90 {service} us");
    // The stall is in the max of both (the stalled request itself waited 1.5 s).
    assert!(j["service_time_us"]["max"].as_u64().unwrap() > 1_000_000);
    // Nothing lost: it caught up with the plan.
    assert!(j["requests"].as_u64().unwrap() >= 295, "{}", j["requests"]);
    assert!(j["max_behind_ms"].as_f64().unwrap() > 1000.0);
}
