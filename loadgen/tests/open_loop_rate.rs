//! Open loop accuracy: at `-R 2000` against `loadgen serve`, the achieved rate is 2000 ± 2% and
//! the report says so (offered and achieved), with every field of the contract's JSON schema.

mod common;
use common::*;

#[test]
fn open_loop_at_2000_achieves_2000_within_2_percent_and_json_has_every_contract_field() {
    let serve = Serve::start(&[]);
    let dir = tmp_dir("rate");
    let url = serve.url("/");
    let j = run_json(&dir, &[url.as_str(), "-c", "16", "-t", "1", "-R", "2000", "-d", "3s"]);
    let rps = j["rps"].as_f64().unwrap();
    assert!((rps - 2000.0).abs() <= 40.0, "achieved {rps} req/s");
    assert!((j["offered_rps"].as_f64().unwrap() - 2000.0).abs() < 1.0, "offered {}", j["offered_rps"]);
    assert!(j["status"]["200"].as_u64().unwrap() >= 5900);
    assert_eq!(j["errors"]["connect"].as_u64(), Some(0));

    // The contract's schema, field by field.
    for k in ["requests", "duration_s", "rps", "offered_rps"] {
        assert!(j[k].is_number(), "{k} missing: {j}");
    }
    for h in ["latency_us", "service_time_us"] {
        for k in ["p50", "p90", "p99", "p999", "max"] {
            assert!(j[h][k].is_number(), "{h}.{k} missing");
        }
        assert!(j[h]["p50"].as_u64() <= j[h]["max"].as_u64());
    }
    assert!(j["status"].is_object());
    for k in ["connect", "read", "write", "timeout"] {
        assert!(j["errors"][k].is_u64(), "errors.{k} missing");
    }
    for k in ["queue_length_max", "queue_length_mean", "spillover_count"] {
        assert!(j["surge"][k].is_number(), "surge.{k} missing");
    }
    assert_eq!(j["duration_s"].as_f64(), Some(3.0));
}
