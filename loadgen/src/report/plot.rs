//! The SVG chart of the timeline (plotters, SVG backend only): three panels on one page sharing
//! the time axis: latency percentiles (p50, p99, max, service p99), offered vs achieved rate, and
//! the surge queue length with spillover and errors per second.
//!
//! Invariants: the chart is drawn into a string and written only when complete, so a drawing
//! error never leaves half a file; empty or all-zero series still give a valid chart (axis ranges
//! are never empty).

use plotters::prelude::*;

use super::{ReportError, Row};

type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

fn panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    title: &str,
    y_desc: &str,
    x_max: f64,
    series: Vec<Series>,
) -> Result<(), String> {
    let y_max = series.iter().flat_map(|s| s.2.iter().map(|p| p.1)).fold(0.0, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    chart.configure_mesh().x_desc("second").y_desc(y_desc).draw().map_err(|e| e.to_string())?;
    for (name, color, points) in series {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn points(rows: &[Row], f: impl Fn(&Row) -> f64) -> Vec<(f64, f64)> {
    rows.iter().map(|r| (r.second as f64 + 0.5, f(r))).collect()
}

/// Render the chart as SVG text.
pub fn svg(rows: &[Row], title: &str) -> Result<String, ReportError> {
    let mut out = String::new();
    let x_max = (rows.len() as f64).max(1.0);
    {
        let root = SVGBackend::with_string(&mut out, (1000, 1000)).into_drawing_area();
        let draw = || -> Result<(), String> {
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let (top, rest) = root.split_vertically(60);
            top.titled(title, ("sans-serif", 22)).map_err(|e| e.to_string())?;
            let panels = rest.split_evenly((3, 1));
            panel(
                &panels[0],
                "Latency (corrected) per second",
                "ms",
                x_max,
                vec![
                    ("p50", BLUE, points(rows, |r| r.p50_ms)),
                    ("p99", RED, points(rows, |r| r.p99_ms)),
                    ("max", BLACK, points(rows, |r| r.max_ms)),
                    ("service p99", GREEN, points(rows, |r| r.service_p99_ms)),
                ],
            )?;
            panel(
                &panels[1],
                "Rate",
                "requests/s",
                x_max,
                vec![
                    ("offered", BLUE, points(rows, |r| r.offered_rps)),
                    ("achieved", GREEN, points(rows, |r| r.achieved_rps)),
                    ("503/s", RED, points(rows, |r| r.status_503 as f64)),
                ],
            )?;
            panel(
                &panels[2],
                "Surge queue and spillover",
                "requests",
                x_max,
                vec![
                    ("queue length (max)", MAGENTA, points(rows, |r| r.queue_length.unwrap_or(0.0))),
                    ("spillover/s", RED, points(rows, |r| r.spillover.unwrap_or(0.0))),
                    ("errors/s", BLACK, points(rows, |r| r.errors as f64)),
                ],
            )?;
            root.present().map_err(|e| e.to_string())
        };
        draw().map_err(|e| ReportError::Encode("SVG", e))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_flat_timelines_draw() {
        let s = svg(&[], "empty").unwrap();
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        let rows: Vec<Row> = (0..3).map(|i| Row { second: i, offered_rps: 100.0, ..Row::default() }).collect();
        let s = svg(&rows, "flat").unwrap();
        assert!(s.contains("offered"));
    }
}
