//! Line diffs for the A/B comparison: the SQL and the plans of two runs, line by line.

/// A line of a diff: in both runs, only in A, or only in B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Same,
    OnlyA,
    OnlyB,
}

/// The longest-common-subsequence diff of two lists of lines, in reading order (for each gap,
/// A's lines before B's). Quadratic in the number of lines: callers pass at most a few hundred.
pub fn lines<'a>(a: &'a [String], b: &'a [String]) -> Vec<(Change, &'a str)> {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(n.max(m));
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push((Change::Same, a[i].as_str()));
            i += 1;
            j += 1;
        } else if j == m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push((Change::OnlyA, a[i].as_str()));
            i += 1;
        } else {
            out.push((Change::OnlyB, b[j].as_str()));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn keeps_common_lines_and_marks_the_rest() {
        let a = v(&["SELECT articles", "SELECT author 1", "SELECT author 2", "SELECT tags"]);
        let b = v(&["SELECT articles JOIN author", "SELECT tags"]);
        let d = lines(&a, &b);
        assert_eq!(
            d,
            vec![
                (Change::OnlyA, "SELECT articles"),
                (Change::OnlyA, "SELECT author 1"),
                (Change::OnlyA, "SELECT author 2"),
                (Change::OnlyB, "SELECT articles JOIN author"),
                (Change::Same, "SELECT tags"),
            ]
        );
    }

    #[test]
    fn empty_sides() {
        assert!(lines(&[], &[]).is_empty());
        let b = v(&["x"]);
        assert_eq!(lines(&[], &b), vec![(Change::OnlyB, "x")]);
        assert_eq!(lines(&b, &[]), vec![(Change::OnlyA, "x")]);
        assert_eq!(lines(&b, &b), vec![(Change::Same, "x")]);
    }
}
