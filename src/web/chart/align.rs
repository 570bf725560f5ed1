//! Series on a common time grid, for charts that combine series point by point
//! (stacks, heatmaps).
//! Owns: the union of timestamps and finding a timestamp in it.
//! Does not: decide gaps or values.

/// The sorted, distinct timestamps of `lists` within `[start_ms, end_ms]`.
///
/// Series of one range query share their timestamps, so each list is first compared
/// with the union so far (one linear pass) and merged only when it differs; input out
/// of order falls back to a sort.
pub(super) fn union_times<'a>(
    lists: impl Iterator<Item = &'a [(i64, f64)]>,
    start_ms: i64,
    end_ms: i64,
) -> Vec<i64> {
    let in_range = |at_ms: &i64| (start_ms..=end_ms).contains(at_ms);
    let mut union: Vec<i64> = Vec::new();
    let mut merged: Vec<i64> = Vec::new();
    let mut unsorted = false;
    for points in lists {
        let times = || points.iter().map(|(at_ms, _)| *at_ms).filter(in_range);
        if unsorted {
            union.extend(times());
            continue;
        }
        if times().eq(union.iter().copied()) {
            continue;
        }
        if !times().is_sorted() {
            unsorted = true;
            union.extend(times());
            continue;
        }
        merged.clear();
        merge_into(&mut merged, &union, times());
        std::mem::swap(&mut union, &mut merged);
    }
    if unsorted {
        union.sort_unstable();
    }
    union.dedup();
    debug_assert!(union.is_sorted());
    union
}

/// Appends the distinct values of sorted `left` and sorted `right` to `out`, sorted.
fn merge_into(out: &mut Vec<i64>, left: &[i64], right: impl Iterator<Item = i64>) {
    let mut left = left.iter().copied().peekable();
    let mut right = right.peekable();
    loop {
        let next = match (left.peek(), right.peek()) {
            (Some(a), Some(b)) if a <= b => left.next(),
            (Some(_), Some(_)) => right.next(),
            (Some(_), None) => left.next(),
            (None, Some(_)) => right.next(),
            (None, None) => break,
        };
        if let Some(value) = next
            && out.last() != Some(&value)
        {
            out.push(value);
        }
    }
}

/// Finds timestamps of one sorted series in the union: a cursor that moves forward,
/// with a binary search for input out of order.
pub(super) struct Locator<'a> {
    times_ms: &'a [i64],
    cursor: usize,
}

impl<'a> Locator<'a> {
    pub fn new(times_ms: &'a [i64]) -> Locator<'a> {
        Locator {
            times_ms,
            cursor: 0,
        }
    }

    /// The index of `at_ms` in the union, if it is there.
    pub fn find(&mut self, at_ms: i64) -> Option<usize> {
        if self.times_ms.get(self.cursor).is_none_or(|at| *at > at_ms) {
            return self.times_ms.binary_search(&at_ms).ok();
        }
        while self.times_ms.get(self.cursor).is_some_and(|at| *at < at_ms) {
            self.cursor += 1;
        }
        (self.times_ms.get(self.cursor) == Some(&at_ms)).then_some(self.cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(times: &[i64]) -> Vec<(i64, f64)> {
        times.iter().map(|at| (*at, 1.0)).collect()
    }

    #[test]
    fn union_of_sorted_and_unsorted() {
        let a = points(&[1, 2, 3, 5]);
        let b = points(&[2, 4, 5, 6, 99]);
        let lists = [a.as_slice(), b.as_slice(), a.as_slice()];
        assert_eq!(union_times(lists.into_iter(), 0, 10), [1, 2, 3, 4, 5, 6]);
        let c = points(&[7, 3, 3, 0]);
        let lists = [a.as_slice(), c.as_slice(), b.as_slice()];
        assert_eq!(
            union_times(lists.into_iter(), 0, 10),
            [0, 1, 2, 3, 4, 5, 6, 7]
        );
        assert!(union_times(std::iter::empty(), 0, 10).is_empty());
    }

    #[test]
    fn locator_finds_in_and_out_of_order() {
        let times = [10, 20, 30, 40];
        let mut locator = Locator::new(&times);
        assert_eq!(locator.find(20), Some(1));
        assert_eq!(locator.find(25), None);
        assert_eq!(locator.find(40), Some(3));
        assert_eq!(locator.find(10), Some(0));
        assert_eq!(locator.find(50), None);
        assert_eq!(locator.find(30), Some(2));
    }
}
