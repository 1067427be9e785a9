"""The columns of the CSVs that bench/compare.sh writes, one row per measured run.

Other tools read these files by column name (all_summary.py, drivers_summary.py, the docs'
tables): add columns at the end, never rename or reorder.
"""

L4 = (
    "mode round target bytes duration_s requests errors gib_per_s proxy_cpu_s proxy_cpu_s_per_gib "
    "nginx_cpu_s_per_gib proxy_threads_max proxy_thread_names iou_wrk_max cpu0_foreign_pct "
    "cpu1_busy_pct cpu1_foreign_pct noise_pct wrk_cpu_s_per_gib p50_us p99_us proxy_driver"
).split()

# modes l7 and churn, and the keep-alive runs of mode tls (tls-STAMP.csv)
HTTP = (
    "mode round target requests duration_s rps errors non2xx p50_us p99_us max_us proxy_cpu_s "
    "proxy_us_per_req nginx_us_per_req wrk_us_per_req backend_new_conns backend_requests reuse_pct "
    "backend_estab_after proxy_threads_max proxy_thread_names iou_wrk_max cpu0_foreign_pct "
    "cpu1_busy_pct cpu1_foreign_pct noise_pct proxy_fds_after proxy_rss_kib_after rustc_max "
    "proxy_user_us_per_req proxy_sys_us_per_req proxy_driver"
).split()

# the handshake runs of mode tls (tls-STAMP-handshakes.csv)
HS = (
    "mode round target requests duration_s handshakes full resumed failed errors non2xx hs_per_s "
    "p50_us p99_us max_us proxy_cpu_s proxy_us_per_hs hs_per_cpu_s proxy_busy_pct nginx_us_per_hs "
    "client_us_per_hs backend_new_conns reuse_pct server_tls_conns server_reuse_pct "
    "proxy_threads_max proxy_thread_names iou_wrk_max cpu0_foreign_pct cpu1_busy_pct "
    "cpu1_foreign_pct noise_pct proxy_fds_after proxy_rss_kib_after rustc_max proxy_driver"
).split()

IDLE = (
    "mode round target conns rss_before_kib rss_idle_kib rss_after_close_kib kib_per_conn "
    "anon_before_kib anon_idle_kib anon_kib_per_conn smaps_anon_before smaps_anon_idle "
    "maps_before maps_idle client_conns_established backend_conns_established client_ready "
    "client_done proxy_driver"
).split()

# which columns each kind of run (compare.sh's measure KIND) writes
BY_KIND = {"l4": L4, "http": HTTP, "hs": HS, "idle": IDLE}
