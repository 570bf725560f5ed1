//! Series colours: stable across refreshes (from a hash of the series name), distinct
//! within a chart, readable in both themes.
//! Owns: `PALETTE` and the threshold and shade colours.
//! Does not: know about CSS; colours are explicit so that charts need nothing from
//! the stylesheet.

use super::{ChartSeries, Level};

/// Ten colours, hues after Okabe and Ito's colour-blind-safe set and Tableau 10, each
/// adjusted to a relative luminance between 0.15 and 0.30: that gives a contrast of at
/// least 3:1 (the WCAG minimum for graphics) both on white and on the dark theme's
/// #14181c. Neighbours in the list differ in hue and lightness, since a clash moves a
/// series to the next colour.
pub const PALETTE: [&str; 10] = [
    "#3b82c4", // blue          4.1:1 on white, 4.4:1 on #14181c
    "#b58900", // gold          3.2, 5.6 (orange sat too close to vermillion)
    "#009e73", // bluish green  3.4, 5.2
    "#c05a9e", // reddish purple 4.0, 4.4
    "#808080", // grey          4.0, 4.5
    "#d55e00", // vermillion    3.9, 4.6
    "#1f9ec2", // sky blue      3.1, 5.7
    "#6b8e23", // olive         3.8, 4.7
    "#8f7fd6", // violet        3.4, 5.3
    "#a66f3f", // brown         4.2, 4.2
];

/// Threshold lines and labels: amber for warnings (3.6:1 / 4.9:1), red for bad (4.2:1
/// on both).
pub(super) fn level_color(level: Level) -> &'static str {
    match level {
        Level::Warn => "#b7791f",
        Level::Bad => "#e0403a",
    }
}

/// Alert intervals: the "bad" red, drawn faint.
pub(super) const SHADE_COLOR: &str = "#e0403a";

/// The colour a series named `name` prefers: the same name always gets the same
/// colour, on every chart and after every refresh.
pub fn series_color(name: &str) -> &'static str {
    PALETTE[preferred(name)]
}

/// FNV-1a: tiny, stable across releases and platforms (unlike `DefaultHasher`).
fn preferred(name: &str) -> usize {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash % PALETTE.len() as u32) as usize
}

/// The palette index of each series: its preferred colour, or when an earlier series
/// of the chart has it, the next free one. Past ten series colours repeat (the
/// preferred one again). `line_chart` and `legend` both call this, so they agree.
pub(super) fn assign(series: &[ChartSeries]) -> Vec<usize> {
    let mut taken = [false; PALETTE.len()];
    let mut used = 0;
    series
        .iter()
        .map(|one| {
            let preferred = preferred(&one.name);
            if used == PALETTE.len() {
                return preferred;
            }
            let mut index = preferred;
            while taken[index] {
                index = (index + 1) % PALETTE.len();
            }
            taken[index] = true;
            used += 1;
            index
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(names: &[&str]) -> Vec<ChartSeries> {
        names
            .iter()
            .map(|name| ChartSeries {
                name: name.to_string(),
                points: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn stable_and_distinct() {
        let names: Vec<String> = (0..10).map(|i| format!("host-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let colors = assign(&named(&names));
        let mut sorted = colors.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 10, "ten series, ten colours: {colors:?}");
        assert_eq!(colors, assign(&named(&names)));
        // The first series always gets its own preferred colour.
        assert_eq!(PALETTE[colors[0]], series_color("host-0"));
        // Eleven series: the eleventh repeats its preferred colour.
        let mut eleven = names.clone();
        eleven.push("host-10");
        assert_eq!(assign(&named(&eleven))[10], preferred("host-10"));
    }
}
