//! Suggestions: close names for a did-you-mean.

/// Levenshtein distance over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Up to `max` candidates close to `input` (case-insensitive edit distance, also ignoring a
/// `CodeDeployDefault.` prefix, or containing the input), best first.
pub(crate) fn suggest<'a>(input: &str, candidates: &[&'a str], max: usize) -> Vec<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    let input_core = input_lower
        .strip_prefix("codedeploydefault.")
        .unwrap_or(&input_lower);
    let threshold = (input_core.chars().count() / 4).max(2);
    let mut scored: Vec<(usize, usize, &str)> = candidates
        .iter()
        .enumerate()
        .filter_map(|(order, cand)| {
            let lower = cand.to_ascii_lowercase();
            let core = lower.strip_prefix("codedeploydefault.").unwrap_or(&lower);
            let distance = edit_distance(input_core, core);
            let contains = input_core.chars().count() >= 3 && core.contains(input_core);
            (distance <= threshold || contains).then_some((distance, order, *cand))
        })
        .collect();
    scored.sort();
    let mut out: Vec<&str> = Vec::new();
    for (_, _, cand) in scored {
        if !out.contains(&cand) && out.len() < max {
            out.push(cand);
        }
    }
    out
}
