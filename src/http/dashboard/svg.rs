//! The dashboard's charts as SVG, drawn on the server, pure: horizontal bars per row (the funnel
//! by channel, members by day) and lines over days (the trend). Labels are escaped text in a
//! CJK font stack; each value is a `<text class="value">` a person (or a test) can read.

use std::fmt::Write;

use crate::html::escape;

/// The fonts the charts name (the page names the same).
pub const FONTS: &str =
    "'Noto Sans CJK SC','PingFang SC','Hiragino Sans GB','Microsoft YaHei',sans-serif";

/// A measure drawn as one bar of each row: its name (in a `data-measure`), its legend and colour.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    pub name: &'static str,
    pub legend: &'static str,
    pub colour: &'static str,
}

/// One row of bars: its label and one value per measure.
#[derive(Debug, Clone)]
pub struct BarRow {
    pub label: String,
    pub values: Vec<i64>,
}

const WIDTH: i64 = 760;
const LABEL_WIDTH: i64 = 170;
const BAR: i64 = 11;
const ROW_GAP: i64 = 12;
const LEGEND: i64 = 26;

fn legend(out: &mut String, items: &[(&str, &str)]) {
    let mut x = 0;
    for (text, colour) in items {
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"4\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"14\" font-size=\"12\">{}</text>",
            x + 16,
            escape(text)
        );
        // Wide enough for six CJK characters or a dozen Latin ones.
        x += 24 + 13 * i64::try_from(text.chars().count().clamp(4, 12)).unwrap_or(12);
    }
}

fn open(out: &mut String, id: &str, height: i64, title: &str) {
    let _ = write!(
        out,
        "<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"100%\" role=\"img\" font-family=\"{FONTS}\" fill=\"#222\"><title>{}</title>",
        escape(title)
    );
}

/// Rows of bars, one bar per measure, scaled to the largest value of all; `id` names the chart.
pub fn bars(id: &str, title: &str, measures: &[Measure], rows: &[BarRow]) -> String {
    let group = measures.len() as i64 * BAR + ROW_GAP;
    let height = LEGEND + group * rows.len().max(1) as i64;
    let max = rows
        .iter()
        .flat_map(|r| r.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let room = WIDTH - LABEL_WIDTH - 60;
    let mut out = String::new();
    open(&mut out, id, height, title);
    let items: Vec<(&str, &str)> = measures.iter().map(|m| (m.legend, m.colour)).collect();
    legend(&mut out, &items);
    if rows.is_empty() {
        let _ = write!(
            out,
            "<text x=\"0\" y=\"{}\" font-size=\"13\">暂无数据</text>",
            LEGEND + 14
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let top = LEGEND + group * i as i64;
        let _ = write!(
            out,
            "<text class=\"label\" x=\"{}\" y=\"{}\" font-size=\"13\" text-anchor=\"end\">{}</text>",
            LABEL_WIDTH - 8,
            top + group / 2,
            escape(&truncate(&row.label, 12))
        );
        for (j, (measure, value)) in measures.iter().zip(&row.values).enumerate() {
            let y = top + j as i64 * BAR;
            let width = (value * room / max).max(i64::from(*value > 0));
            // A zero draws no bar and a faint figure: the eye goes to what is there.
            let ink = if *value == 0 { "#aaa" } else { "#222" };
            let _ = write!(
                out,
                "<rect x=\"{LABEL_WIDTH}\" y=\"{y}\" width=\"{width}\" height=\"{}\" fill=\"{}\"/>\
                 <text class=\"value\" data-row=\"{i}\" data-measure=\"{}\" x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"{ink}\">{value}</text>",
                BAR - 2,
                measure.colour,
                measure.name,
                LABEL_WIDTH + width + 4,
                y + BAR - 3,
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// Lines of daily values, one per series, over `days` (labels under the first, middle and last).
pub fn lines(id: &str, title: &str, days: &[String], series: &[(String, Vec<i64>)]) -> String {
    const COLOURS: [&str; 5] = ["#07c160", "#1677ff", "#fa8c16", "#eb2f96", "#722ed1"];
    let (left, top, plot_w, plot_h) = (48, LEGEND + 10, WIDTH - 64, 180);
    let height = top + plot_h + 30;
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut out = String::new();
    open(&mut out, id, height, title);
    let items: Vec<(&str, &str)> = series
        .iter()
        .zip(COLOURS.iter().cycle())
        .map(|((label, _), colour)| (label.as_str(), *colour))
        .collect();
    legend(&mut out, &items);
    for (value, y) in [(max, top), (max / 2, top + plot_h / 2), (0, top + plot_h)] {
        let _ = write!(
            out,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{value}</text>",
            left + plot_w,
            left - 6,
            y + 4
        );
    }
    let step = |i: usize| left + plot_w * i as i64 / (days.len().max(2) as i64 - 1);
    let last = days.len().saturating_sub(1);
    let mut marks = vec![0, last / 2, last];
    marks.dedup();
    for i in marks.into_iter().filter(|&i| i < days.len()) {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            step(i),
            top + plot_h + 18,
            escape(&days[i])
        );
    }
    for ((label, values), colour) in series.iter().zip(COLOURS.iter().cycle()) {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{},{}", step(i), top + plot_h - v * plot_h / max))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"series\" data-label=\"{}\" data-total=\"{}\" fill=\"none\" stroke=\"{colour}\" \
             stroke-width=\"2\" points=\"{}\"/>",
            escape(label),
            values.iter().sum::<i64>(),
            points.join(" ")
        );
    }
    out.push_str("</svg>");
    out
}

/// At most `chars` characters, an ellipsis marking a cut.
fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: [Measure; 2] = [
        Measure {
            name: "got",
            legend: "领取",
            colour: "#07c160",
        },
        Measure {
            name: "bound",
            legend: "绑定会员",
            colour: "#1677ff",
        },
    ];

    #[test]
    fn bars_carry_their_values_and_escape_their_labels() {
        let svg = bars(
            "f",
            "漏斗",
            &TWO,
            &[BarRow {
                label: "<门店>&1".into(),
                values: vec![10, 4],
            }],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("&lt;门店&gt;&amp;1") && !svg.contains("<门店>"));
        assert!(
            svg.contains("data-measure=\"got\" x=\"704\""),
            "the largest bar fills the room: {svg}"
        );
        assert!(svg.contains(">10</text>") && svg.contains(">4</text>"));
        assert!(bars("e", "t", &TWO, &[]).contains("暂无数据"));
        assert_eq!(
            truncate("门店十二号桌靠窗的位置吧台", 12),
            "门店十二号桌靠窗的位置吧…"
        );
    }

    #[test]
    fn lines_span_the_days_and_scale_to_the_largest_value() {
        let days: Vec<String> = ["2026-12-01", "2026-12-02", "2026-12-03"]
            .map(String::from)
            .to_vec();
        let svg = lines("t", "趋势", &days, &[("海报".into(), vec![0, 4, 2])]);
        // x from 48 to 744, y from 216 (0) up to 36 (the largest).
        assert!(svg.contains("points=\"48,216 396,36 744,126\""), "{svg}");
        assert!(svg.contains("data-total=\"6\"") && svg.contains(">2026-12-03</text>"));
        let one = lines("t", "趋势", &days[..1], &[("x".into(), vec![3])]);
        assert!(one.contains("points=\"48,36\""), "{one}");
    }
}
