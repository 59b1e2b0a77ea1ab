//! A profile as JSON (the stable shape documented in the README) and as one self-contained
//! HTML file: inline CSS and SVG charts, no scripts, nothing fetched from the network.

use std::fmt::Write as _;

use super::{ColumnProfile, Histogram, Kind, Profile, group, pct};
use crate::engine::error::{EngineError, Result};

pub fn to_json(profile: &Profile) -> Result<String> {
    serde_json::to_string_pretty(profile).map_err(|e| EngineError::Database(format!("writing the profile as JSON: {e}")))
}

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as a person reads it: integers grouped, others with 4 significant digits.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.fract() == 0.0 && v.abs() < 10_000.0 {
        return format!("{}", v as i64);
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let s = group(v.abs() as u64);
        return if v < 0.0 { format!("-{s}") } else { s };
    }
    let magnitude = v.abs();
    if magnitude != 0.0 && !(1e-4..1e15).contains(&magnitude) {
        return format!("{v:.4e}");
    }
    let decimals = (3 - magnitude.log10().floor() as i32).clamp(0, 6) as usize;
    format!("{v:.decimals$}")
}

fn opt(v: Option<f64>) -> String {
    v.map(number).unwrap_or_else(|| "–".into())
}

/// Bars as inline SVG, `width`×`height` pixels.
fn bars_svg(counts: &[u64], width: u32, height: u32, title: impl Fn(usize) -> String) -> String {
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let w = width as f64 / counts.len().max(1) as f64;
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">");
    for (i, &c) in counts.iter().enumerate() {
        let h = (c as f64 / max * (height as f64 - 1.0)).max(if c > 0 { 1.0 } else { 0.0 });
        let _ = write!(
            svg,
            "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{h:.2}\" fill=\"#4a7fc1\"><title>{}</title></rect>",
            i as f64 * w,
            height as f64 - h,
            (w - 0.5).max(0.5),
            esc(&title(i))
        );
    }
    svg.push_str("</svg>");
    svg
}

fn histogram_svg(h: &Histogram, width: u32, height: u32, labels: Option<&[String]>) -> String {
    bars_svg(&h.counts, width, height, |i| match labels {
        Some(l) => format!("{}: {}", l.get(i).cloned().unwrap_or_default(), group(h.counts[i])),
        None => format!("{} – {}: {}", number(h.edges[i]), number(h.edges[i + 1]), group(h.counts[i])),
    })
}

fn period_labels(c: &ColumnProfile) -> Option<Vec<String>> {
    c.temporal.as_ref().map(|t| t.by_period.iter().map(|v| v.value.clone().unwrap_or_default()).collect())
}

fn badges(c: &ColumnProfile) -> String {
    c.alerts
        .iter()
        .map(|a| format!("<span class=\"badge {}\" title=\"{}\">{}</span>", if a.kind.is_warning() { "warn" } else { "info" }, esc(&a.message), a.kind.label()))
        .collect()
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}h3{margin:0 0 .3em}
table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:8px;padding:0 7px;margin:1px 2px;font-size:12px}
.warn{background:#fde2e1;color:#9b1c1c}.info{background:#e3ecfa;color:#1e429f}
.col{border:1px solid #ddd;border-radius:6px;padding:12px;margin:14px 0}
.grid{display:flex;flex-wrap:wrap;gap:24px}.muted{color:#777}.summary td{padding-right:24px}";

/// The whole report as one HTML page.
pub fn to_html(p: &Profile) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Profile of {}</title><style>{STYLE}</style></head><body>",
        esc(&p.source)
    );
    let _ = write!(h, "<h1>Profile of {}</h1>", esc(&p.source));
    if let Some(f) = &p.filtered {
        let _ = write!(h, "<p>Rows where {}</p>", esc(f));
    }
    let _ = write!(
        h,
        "<table class=\"summary\"><tr><td>Rows</td><td class=n>{}</td><td>Columns</td><td class=n>{}</td></tr>\
         <tr><td>Duplicate rows</td><td class=n>{} ({:.2} %)</td><td>Missing cells</td><td class=n>{} ({:.2} %)</td></tr>\
         <tr><td>Size in workspace</td><td class=n>{}</td><td>Profiled</td><td class=n>{} in {:.1} s</td></tr></table>",
        group(p.rows),
        p.columns,
        group(p.duplicate_rows),
        pct(p.duplicate_rows, p.rows),
        group(p.missing_cells),
        p.missing_pct(),
        p.table_bytes.map(crate::engine::config::format_bytes).unwrap_or_else(|| "–".into()),
        esc(&p.created),
        p.seconds
    );
    let alerts: Vec<_> = p.all_alerts().collect();
    if !alerts.is_empty() {
        h.push_str("<h2>Alerts</h2><table>");
        for a in alerts {
            let _ = write!(
                h,
                "<tr><td><span class=\"badge {}\">{}</span></td><td>{}</td><td>{}</td></tr>",
                if a.kind.is_warning() { "warn" } else { "info" },
                a.kind.label(),
                esc(a.column.as_deref().unwrap_or("(table)")),
                esc(&a.message)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Overview</h2><table><tr><th>Column</th><th>Type</th><th>Meaning</th><th>Missing</th><th>Distinct</th><th>Min</th><th>Max</th><th>Distribution</th><th>Alerts</th></tr>");
    for c in &p.column_profiles {
        let (min, max) = min_max(c);
        let chart = match &c.histogram {
            Some(hist) => histogram_svg(hist, 120, 24, period_labels(c).as_deref()),
            None => bars_svg(&c.top_values.iter().map(|v| v.count).collect::<Vec<_>>(), 120, 24, |i| {
                format!("{}: {}", c.top_values[i].value.as_deref().unwrap_or("NULL"), group(c.top_values[i].count))
            }),
        };
        let _ = write!(
            h,
            "<tr><td><a href=\"#col-{i}\">{}</a></td><td>{}</td><td>{}</td><td class=n>{:.1} %</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{chart}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.storage_type),
            c.meaning.label(),
            c.null_pct(),
            group(c.distinct),
            esc(&min),
            esc(&max),
            badges(c),
            i = anchor(&c.name)
        );
    }
    h.push_str("</table>");
    if let Some(corr) = &p.correlations {
        h.push_str("<h2>Correlations</h2><div class=grid>");
        for (title, values) in [("Pearson", &corr.pearson), ("Spearman", &corr.spearman)] {
            let n = corr.columns.len();
            let _ = write!(h, "<div><h3>{title}</h3><table><tr><th></th>");
            for c in &corr.columns {
                let _ = write!(h, "<th>{}</th>", esc(c));
            }
            h.push_str("</tr>");
            for i in 0..n {
                let _ = write!(h, "<tr><th>{}</th>", esc(&corr.columns[i]));
                for j in 0..n {
                    match values[i * n + j] {
                        Some(r) => {
                            let (red, blue) = if r >= 0.0 { (255.0 * (1.0 - r), 255.0) } else { (255.0, 255.0 * (1.0 + r)) };
                            let green = 255.0 * (1.0 - r.abs());
                            let _ = write!(h, "<td class=n style=\"background:rgb({:.0},{:.0},{:.0})\">{r:.2}</td>", red.min(255.0), green, blue.min(255.0));
                        }
                        None => h.push_str("<td class=n>–</td>"),
                    }
                }
                h.push_str("</tr>");
            }
            h.push_str("</table></div>");
        }
        h.push_str("</div>");
        if corr.spearman_rows < p.rows {
            let _ = write!(h, "<p class=muted>Spearman ranks a sample of {} rows.</p>", group(corr.spearman_rows));
        }
    }
    h.push_str("<h2>Missing values</h2><p class=muted>Each row is a column; darker is more missing, from the first rows (left) to the last.</p>");
    h.push_str(&missing_svg(p));
    h.push_str("<h2>Columns</h2>");
    for c in &p.column_profiles {
        column_html(&mut h, c);
    }
    h.push_str("<p class=muted>Made by dataforge.</p></body></html>");
    h
}

fn anchor(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

pub fn min_max(c: &ColumnProfile) -> (String, String) {
    if let Some(t) = &c.temporal {
        return (t.min.clone().unwrap_or_default(), t.max.clone().unwrap_or_default());
    }
    if let Some(n) = &c.numeric {
        return (opt(n.min), opt(n.max));
    }
    if let Some(t) = &c.text {
        return (t.length_min.map(|l| format!("{l} chars")).unwrap_or_default(), t.length_max.map(|l| format!("{l} chars")).unwrap_or_default());
    }
    (String::new(), String::new())
}

fn missing_svg(p: &Profile) -> String {
    let rows = p.column_profiles.len();
    let (cell_w, cell_h, label_w) = (6, 14, 160);
    let width = label_w + 100 * cell_w;
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\">", rows * cell_h);
    for (r, c) in p.column_profiles.iter().enumerate() {
        let y = r * cell_h;
        let _ = write!(svg, "<text x=\"0\" y=\"{}\" font-size=\"11\">{}</text>", y + 11, esc(&c.name.chars().take(24).collect::<String>()));
        let segments = c.missing_by_segment.len().max(1);
        let w = 100.0 * cell_w as f64 / segments as f64;
        for (i, &share) in c.missing_by_segment.iter().enumerate() {
            let shade = (230.0 - 200.0 * share as f64).round();
            let _ = write!(
                svg,
                "<rect x=\"{:.2}\" y=\"{y}\" width=\"{:.2}\" height=\"{}\" fill=\"rgb({shade},{shade},{})\"/>",
                label_w as f64 + i as f64 * w,
                w + 0.2,
                cell_h - 2,
                (shade + 20.0).min(255.0)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A column's statistics as (name, value) lines.
pub fn column_figures(c: &ColumnProfile) -> Vec<(String, String)> {
    let opt = |v: Option<f64>| v.map(number).unwrap_or_else(|| "–".into());
    let mut out = vec![
        ("Rows".to_string(), group(c.count)),
        ("Missing".into(), format!("{} ({:.2} %)", group(c.nulls), c.null_pct())),
        ("Distinct".into(), format!("{} ({:.2} %)", group(c.distinct), c.distinct_pct())),
    ];
    if let Some(s) = &c.suggested {
        out.push(("Suggested type".into(), format!("{} (saves {}; {})", s.data_type, crate::engine::config::format_bytes(s.saves_bytes), s.reason)));
    }
    if let Some(n) = c.numeric.as_ref().filter(|_| c.kind.is_numeric()) {
        out.push(("Zeros / negatives".into(), format!("{} / {}", group(c.zeros), group(c.negatives))));
        if c.kind == Kind::Float {
            out.push(("NaN / infinite".into(), format!("{} / {}", group(c.nan), group(c.infinite))));
        }
        for (k, v) in [("Min", n.min), ("Max", n.max), ("Mean", n.mean), ("Std deviation", n.std), ("Variance", n.variance), ("Sum", Some(n.sum)), ("Skewness", n.skewness), ("Kurtosis", n.kurtosis)] {
            out.push((k.into(), opt(v)));
        }
        let approx = if n.approximate { " ≈" } else { "" };
        for q in &n.quantiles {
            out.push((format!("{} %{approx}", q.p * 100.0), number(q.value)));
        }
        out.push((format!("IQR{approx}"), opt(n.iqr)));
        out.push((format!("MAD{approx}"), opt(n.mad)));
        out.push((format!("Outliers (1.5 IQR){approx}"), n.outliers.map(group).unwrap_or_default()));
    }
    if let Some(t) = &c.temporal {
        out.push(("From".into(), t.min.clone().unwrap_or_default()));
        out.push(("To".into(), t.max.clone().unwrap_or_default()));
        if let Some(g) = &t.longest_gap {
            out.push(("Longest gap".into(), format!("{} ({} → {})", g.length, g.from, g.to)));
        }
        out.push(("Bars by".into(), t.period.clone()));
    }
    if let Some(t) = &c.text {
        out.push(("Empty strings".into(), group(c.empty_strings)));
        out.push(("Length min / mean / max".into(), format!("{} / {} / {}", t.length_min.unwrap_or(0), opt(t.length_mean), t.length_max.unwrap_or(0))));
        out.push(("With letters".into(), group(t.with_letters)));
        out.push(("With digits".into(), group(t.with_digits)));
        out.push(("With spaces".into(), group(t.with_spaces)));
        out.push(("With punctuation".into(), group(t.with_punctuation)));
        out.push(("With non-ASCII".into(), group(t.with_non_ascii)));
        out.push(("Leading / trailing space".into(), format!("{} / {}", group(t.leading_whitespace), group(t.trailing_whitespace))));
    }
    out
}

fn column_html(h: &mut String, c: &ColumnProfile) {
    let _ = write!(
        h,
        "<div class=col id=\"col-{}\"><h3>{} <span class=muted>{} · {}</span></h3>{}<div class=grid><table>",
        anchor(&c.name),
        esc(&c.name),
        esc(&c.storage_type),
        c.meaning.label(),
        badges(c)
    );
    for (k, v) in column_figures(c) {
        let _ = write!(h, "<tr><td>{}</td><td class=n>{}</td></tr>", esc(&k), esc(&v));
    }
    h.push_str("</table>");
    if let Some(hist) = &c.histogram {
        let _ = write!(h, "<div>{}</div>", histogram_svg(hist, 420, 140, period_labels(c).as_deref()));
    }
    h.push_str("<table><tr><th>Top value</th><th>Count</th></tr>");
    for v in &c.top_values {
        let _ = write!(h, "<tr><td>{}</td><td class=n>{}</td></tr>", esc(v.value.as_deref().unwrap_or("NULL")), group(v.count));
    }
    h.push_str("</table>");
    if let Some(t) = c.text.as_ref().filter(|t| !t.shapes.is_empty()) {
        h.push_str("<table><tr><th>Shape</th><th>Count</th></tr>");
        for v in &t.shapes {
            let _ = write!(h, "<tr><td><code>{}</code></td><td class=n>{}</td></tr>", esc(v.value.as_deref().unwrap_or("")), group(v.count));
        }
        let sampled = if t.sampled_values < c.count - c.nulls { " sampled" } else { "" };
        let _ = write!(h, "</table><p class=muted>Shapes of {}{sampled} values.</p>", group(t.sampled_values));
    }
    h.push_str("</div></div>");
}

/// The report for a terminal: the table's figures, one line per column, then the alerts.
pub fn to_text(p: &Profile) -> String {
    let mut out = format!(
        "profile of {}{}: {} rows, {} columns, {} duplicate rows ({:.2} %), {:.2} % cells missing, {:.2} s\n",
        p.source,
        p.filtered.as_ref().map(|f| format!(" (rows where {f})")).unwrap_or_default(),
        group(p.rows),
        p.columns,
        group(p.duplicate_rows),
        pct(p.duplicate_rows, p.rows),
        p.missing_pct(),
        p.seconds
    );
    let headers = ["column", "type", "meaning", "missing", "distinct", "min", "max", "mean", "suggested"];
    let rows: Vec<Vec<String>> = p
        .column_profiles
        .iter()
        .map(|c| {
            let (min, max) = min_max(c);
            vec![
                c.name.clone(),
                c.storage_type.clone(),
                c.meaning.label().to_string(),
                format!("{:.1} %", c.null_pct()),
                group(c.distinct),
                min,
                max,
                c.numeric.as_ref().filter(|_| c.kind.is_numeric()).map(|n| opt(n.mean)).unwrap_or_default(),
                c.suggested.as_ref().map(|s| s.data_type.clone()).unwrap_or_default(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count().min(40)).chain([headers[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<String>| -> String {
        let mut s: String = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let c: String = c.chars().take(40).collect();
                format!("{c:<w$}  ")
            })
            .collect();
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    out.push_str(&line(headers.iter().map(|h| h.to_string()).collect()));
    for r in rows {
        out.push_str(&line(r));
    }
    let alerts: Vec<_> = p.all_alerts().collect();
    if !alerts.is_empty() {
        out.push_str("alerts:\n");
        for a in alerts {
            out.push_str(&format!("  [{}] {}: {}\n", a.kind.label(), a.column.as_deref().unwrap_or("table"), a.message));
        }
    }
    out
}
