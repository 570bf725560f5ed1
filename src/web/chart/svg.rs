//! Writing SVG text: escaping, compact numbers, path data, element ids.
//! Owns: the number format of coordinates (one decimal) and the path encoder that
//! keeps a 24 h dashboard within its page weight (relative commands, merged
//! horizontal runs, zero-length moves dropped).
//! Does not: decide geometry or colours.

/// Appends `text` escaped for element content and double- or single-quoted
/// attribute values. Control characters (label values may hold any) become U+FFFD:
/// XML forbids them, and the SVG must stay valid outside HTML too.
pub(super) fn escape_into(out: &mut String, text: &str) {
    let special = |byte: &u8| {
        matches!(byte, b'&' | b'<' | b'>' | b'"' | b'\'')
            || (*byte < b' ' && !matches!(byte, b'\t' | b'\n' | b'\r'))
    };
    let mut rest = text;
    // Bytes, not chars: every special character is ASCII, so `at` is a boundary.
    while let Some(at) = rest.as_bytes().iter().position(special) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => "\u{fffd}",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// `value` in tenths, the precision of every coordinate, rounded half away from
/// zero. Saturates far outside any chart (callers clamp first); NaN is 0.
pub(super) fn tenths(value: f64) -> i64 {
    // `as` truncates (one instruction); `f64::round` is a libm call on baseline
    // x86-64, and this runs for every coordinate.
    (value * 10.0 + 0.5f64.copysign(value)) as i64
}

/// A number in tenths as text, built backwards in a buffer without `fmt`
/// (formatting through it took a third of the time of drawing a chart).
struct Digits {
    bytes: [u8; 24],
    start: usize,
}

impl Digits {
    /// `tenths` as `[-]int[.d]`; `short` drops the 0 of `0.5` (path data allows `.5`).
    fn new(tenths: i64, short: bool) -> Digits {
        let mut digits = Digits {
            bytes: [0; 24],
            start: 24,
        };
        let abs = tenths.unsigned_abs();
        if !abs.is_multiple_of(10) {
            digits.prepend(b'0' + (abs % 10) as u8);
            digits.prepend(b'.');
        }
        let mut whole = abs / 10;
        if whole != 0 || !short || abs == 0 {
            loop {
                digits.prepend(b'0' + (whole % 10) as u8);
                whole /= 10;
                if whole == 0 {
                    break;
                }
            }
        }
        if tenths < 0 {
            digits.prepend(b'-');
        }
        digits
    }

    fn prepend(&mut self, byte: u8) {
        self.start -= 1;
        self.bytes[self.start] = byte;
    }

    fn push_to(&self, out: &mut String) {
        // Byte by byte: for three to six bytes, cheaper than `from_utf8` and a memcpy.
        for byte in &self.bytes[self.start..] {
            out.push(char::from(*byte));
        }
    }
}

/// Appends a number given in tenths: `12.3`, `12`, `-0.5`. Attribute form.
pub(super) fn push_tenths(out: &mut String, tenths: i64) {
    Digits::new(tenths, false).push_to(out);
}

/// Appends `value` rounded to one decimal, attribute form.
pub(super) fn push_num(out: &mut String, value: f64) {
    push_tenths(out, tenths(value));
}

/// Appends a number in tenths the short way path data allows: `.5`, `-.5`, `12.3`.
/// Most relative moves are under 10 px: those take a few pushes, no loop.
fn push_path_number(out: &mut String, tenths: i64) {
    let abs = tenths.unsigned_abs();
    if abs >= 100 {
        Digits::new(tenths, true).push_to(out);
        return;
    }
    if tenths < 0 {
        out.push('-');
    }
    let (whole, tenth) = ((abs / 10) as u8, (abs % 10) as u8);
    if whole != 0 || tenth == 0 {
        out.push(char::from(b'0' + whole));
    }
    if tenth != 0 {
        out.push('.');
        out.push(char::from(b'0' + tenth));
    }
}

/// Path data written straight into the output: absolute `M` at the start of each
/// segment, then relative `l` pairs (implicitly repeated), with runs of horizontal
/// moves merged into one `h`. Coordinates are in tenths so that relative moves add
/// up exactly to the absolute positions: no drift over 1000 points.
pub(super) struct PathData {
    /// The current point, in tenths.
    at: (i64, i64),
    /// The command letter last written (`M`, `l`, `h` or `v`), for implicit repetition.
    command: u8,
    /// A horizontal (`h`) or vertical (`v`) move not yet written, so that the next one
    /// in the same direction can extend it.
    pending: Option<(u8, i64)>,
}

impl PathData {
    pub fn new() -> PathData {
        PathData {
            at: (0, 0),
            command: 0,
            pending: None,
        }
    }

    /// Starts a segment at (x, y).
    pub fn move_to(&mut self, out: &mut String, x: f64, y: f64) {
        self.move_to_tenths(out, tenths(x), tenths(y));
    }

    /// `move_to` for a point already in tenths.
    pub fn move_to_tenths(&mut self, out: &mut String, x: i64, y: i64) {
        self.flush(out);
        out.push('M');
        push_path_number(out, x);
        self.push_separated(out, y);
        self.at = (x, y);
        self.command = b'M';
    }

    /// Continues the segment to (x, y); nothing if it rounds to the current point.
    pub fn line_to(&mut self, out: &mut String, x: f64, y: f64) {
        self.line_to_tenths(out, tenths(x), tenths(y));
    }

    /// `line_to` for a point already in tenths.
    pub fn line_to_tenths(&mut self, out: &mut String, x: i64, y: i64) {
        let (dx, dy) = (x - self.at.0, y - self.at.1);
        self.at = (x, y);
        let axis_move = match (dx, dy) {
            (0, 0) => return,
            (_, 0) => Some((b'h', dx)),
            (0, _) => Some((b'v', dy)),
            _ => None,
        };
        if let Some((letter, delta)) = axis_move {
            match &mut self.pending {
                Some((pending, amount))
                    if *pending == letter && amount.signum() == delta.signum() =>
                {
                    *amount += delta;
                }
                _ => {
                    self.flush(out);
                    self.pending = Some((letter, delta));
                }
            }
            return;
        }
        self.flush(out);
        if self.command == b'l' {
            self.push_separated(out, dx);
        } else {
            out.push('l');
            push_path_number(out, dx);
            self.command = b'l';
        }
        self.push_separated(out, dy);
    }

    /// Writes a pending horizontal or vertical run; call before leaving the path.
    pub fn flush(&mut self, out: &mut String) {
        let Some((letter, amount)) = self.pending.take() else {
            return;
        };
        if self.command == letter {
            self.push_separated(out, amount);
        } else {
            out.push(char::from(letter));
            push_path_number(out, amount);
            self.command = letter;
        }
    }

    /// Appends `number` after the previous one: a space, unless its minus sign already
    /// separates them.
    fn push_separated(&self, out: &mut String, number: i64) {
        if number >= 0 {
            out.push(' ');
        }
        push_path_number(out, number);
    }
}

/// Hashes what a chart is drawn from, for its element ids. FxHash's mix, a word at
/// a time: 15 000 points hash in tens of microseconds, and the same input always gives
/// the same id (pages and tests can compare output byte for byte).
pub(super) struct IdHasher(u64);

impl IdHasher {
    pub fn new(kind: &str) -> IdHasher {
        let mut hasher = IdHasher(0);
        hasher.write_str(kind);
        hasher
    }

    pub fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    pub fn write_str(&mut self, text: &str) {
        let mut chunks = text.as_bytes().chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.write_u64(u64::from_le_bytes(last));
        self.write_u64(text.len() as u64);
    }

    /// Hashes the length, the last point and about `POINTS_HASHED` points evenly
    /// spread: hashing every point cost several percent of drawing a chart (a serial
    /// multiply per word), and two different charts with the same title, options and
    /// series names that also agree on all of these points are not a real risk.
    pub fn write_points(&mut self, points: &[(i64, f64)]) {
        const POINTS_HASHED: usize = 64;
        let stride = (points.len() / POINTS_HASHED).max(1);
        for (at_ms, value) in points.iter().step_by(stride).chain(points.last()) {
            self.write_u64(*at_ms as u64);
            self.write_u64(value.to_bits());
        }
        self.write_u64(points.len() as u64);
    }

    /// The id prefix: `c` and 12 hex digits (48 bits: two different charts on one
    /// page share ids with odds of about one in 10¹⁴).
    pub fn finish(&self) -> String {
        // A final avalanche, so that near-equal inputs differ in every digit.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        format!("c{:012x}", x >> 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(points: &[(f64, f64)], moves_at: &[usize]) -> String {
        let mut out = String::new();
        let mut data = PathData::new();
        for (index, (x, y)) in points.iter().enumerate() {
            if index == 0 || moves_at.contains(&index) {
                data.move_to(&mut out, *x, *y);
            } else {
                data.line_to(&mut out, *x, *y);
            }
        }
        data.flush(&mut out);
        out
    }

    #[test]
    fn path_is_relative_and_compact() {
        assert_eq!(
            path(&[(10.0, 20.0), (12.5, 18.0), (15.0, 21.25)], &[]),
            "M10 20l2.5-2 2.5 3.3"
        );
        // Horizontal runs merge; rounding to the same point is dropped.
        assert_eq!(
            path(
                &[(0.0, 5.0), (1.0, 5.0), (2.0, 5.0), (2.01, 5.0), (3.0, 6.0)],
                &[]
            ),
            "M0 5h2l1 1"
        );
        assert_eq!(
            path(&[(0.0, 0.0), (0.5, 0.0), (0.5, -0.4)], &[]),
            "M0 0h.5v-.4"
        );
        // A reversal is not merged into the run, but needs no second letter.
        assert_eq!(path(&[(0.0, 0.0), (2.0, 0.0), (1.0, 0.0)], &[]), "M0 0h2-1");
        assert_eq!(
            path(
                &[(0.0, 0.0), (0.0, 2.0), (0.0, 3.0), (1.0, 3.0), (1.0, 1.0)],
                &[]
            ),
            "M0 0v3h1v-2"
        );
        assert_eq!(
            path(&[(0.0, 0.0), (1.0, 1.0), (5.0, 5.0), (6.0, 6.0)], &[2]),
            "M0 0l1 1M5 5l1 1"
        );
    }

    #[test]
    fn relative_moves_do_not_drift() {
        let mut out = String::new();
        let mut data = PathData::new();
        data.move_to(&mut out, 0.0, 0.0);
        for step in 1..=1000 {
            data.line_to(
                &mut out,
                f64::from(step) * 0.333,
                f64::from(step % 7) * 0.77,
            );
        }
        assert_eq!(data.at, (tenths(333.0), tenths(f64::from(1000 % 7) * 0.77)));
    }

    #[test]
    fn escapes() {
        let mut out = String::new();
        escape_into(&mut out, "a<b>&\"c'd\u{0}e\tµ");
        assert_eq!(out, "a&lt;b&gt;&amp;&quot;c&#39;d\u{fffd}e\tµ");
    }

    #[test]
    fn numbers() {
        let mut out = String::new();
        for value in [12.34, 12.0, -0.5, 0.04, -0.04, -0.05, 1234567.0] {
            push_num(&mut out, value);
            out.push(',');
        }
        assert_eq!(out, "12.3,12,-0.5,0,0,-0.1,1234567,");
        out.clear();
        for tenths in [5, -5, 0, 10, 99, -100, -123, 1000, i64::MIN, i64::MAX] {
            push_path_number(&mut out, tenths);
            out.push(',');
        }
        assert_eq!(
            out,
            ".5,-.5,0,1,9.9,-10,-12.3,100,-922337203685477580.8,922337203685477580.7,"
        );
    }

    #[test]
    fn ids_differ() {
        let mut one = IdHasher::new("line");
        one.write_str("title");
        let mut two = IdHasher::new("line");
        two.write_str("titlf");
        assert_ne!(one.finish(), two.finish());
        assert_eq!(one.finish().len(), 13);
    }
}
