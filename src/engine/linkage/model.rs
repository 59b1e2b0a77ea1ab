//! The Fellegi–Sunter model: for each comparison level, m (how often true matches land there)
//! and u (how often non-matches do), and the prior λ (the share of all pairs that match).
//! A pair's match weight is log2(λ / (1 − λ)) plus log2(m / u) of each level it has; a missing
//! value adds nothing.
//!
//! Training without labels, as Splink and fastLink do it: u is counted on random pairs (almost
//! all non-matches) and stays fixed; m is fitted by EM on the aggregated comparison patterns
//! of one blocking rule at a time, with the columns of that rule left out (every pair of the
//! rule agrees on them, so they say nothing there); λ comes from deterministic rules.

use serde::Serialize;

/// A missing value on either side: the comparison says nothing.
pub const MISSING: i8 = -1;

/// The smallest m or u a level gets, so no level is infinitely strong.
const FLOOR: f64 = 1e-9;

/// One distinct comparison pattern (a level code per comparison) and how many pairs have it.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    pub levels: Vec<i8>,
    pub count: f64,
}

/// What EM fitted for one training session.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    /// m per comparison and level; `None` for comparisons left out of the session.
    pub m: Vec<Option<Vec<f64>>>,
    /// The share of matches among the session's pairs.
    pub matches: f64,
    pub iterations: usize,
}

/// The m values EM starts from: most matches agree exactly, few are different.
pub fn starting_m(levels: usize) -> Vec<f64> {
    match levels {
        0 | 1 => vec![1.0; levels],
        2 => vec![0.1, 0.9],
        n => {
            let mut m = vec![0.25 / (n - 2) as f64; n];
            m[0] = 0.05;
            m[n - 1] = 0.7;
            m
        }
    }
}

/// Fits m (and the session's match share) by EM with u fixed. `active[c]` says which
/// comparisons take part; the others are ignored in the likelihood and keep no m.
pub fn em(patterns: &[Pattern], u: &[Vec<f64>], active: &[bool], max_iterations: usize) -> Fitted {
    let mut m: Vec<Vec<f64>> = u.iter().map(|levels| starting_m(levels.len())).collect();
    let mut lambda: f64 = 0.1;
    let mut iterations = 0;
    for _ in 0..max_iterations {
        iterations += 1;
        let mut mass: Vec<Vec<f64>> = u.iter().map(|levels| vec![0.0; levels.len()]).collect();
        let (mut matched, mut total) = (0.0, 0.0);
        for p in patterns {
            let (mut log_m, mut log_u) = (lambda.ln(), (1.0 - lambda).ln());
            for (c, &level) in p.levels.iter().enumerate() {
                if active[c] && level != MISSING {
                    log_m += m[c][level as usize].max(FLOOR).ln();
                    log_u += u[c][level as usize].max(FLOOR).ln();
                }
            }
            let w = 1.0 / (1.0 + (log_u - log_m).exp());
            matched += p.count * w;
            total += p.count;
            for (c, &level) in p.levels.iter().enumerate() {
                if active[c] && level != MISSING {
                    mass[c][level as usize] += p.count * w;
                }
            }
        }
        if total == 0.0 {
            break;
        }
        let mut change: f64 = 0.0;
        for (c, levels) in mass.iter().enumerate() {
            let sum: f64 = levels.iter().sum();
            if !active[c] || sum <= 0.0 {
                continue;
            }
            for (k, &v) in levels.iter().enumerate() {
                let next = (v / sum).max(FLOOR);
                change = change.max((next - m[c][k]).abs());
                m[c][k] = next;
            }
        }
        let next_lambda = (matched / total).clamp(FLOOR, 1.0 - FLOOR);
        change = change.max((next_lambda - lambda).abs());
        lambda = next_lambda;
        if change < 1e-5 {
            break;
        }
    }
    Fitted { m: m.into_iter().zip(active).map(|(m, &a)| a.then_some(m)).collect(), matches: lambda, iterations }
}

/// The m of several sessions per comparison: each level's median over the sessions that
/// trained it, normalised (a session whose blocks gather look-alikes, such as relatives in
/// one postcode, sways a median less than a mean); a comparison no session trained keeps
/// its starting m. Returns the m and how many sessions trained each comparison.
pub fn combine(sessions: &[Fitted], levels: &[usize]) -> (Vec<Vec<f64>>, Vec<usize>) {
    levels
        .iter()
        .enumerate()
        .map(|(c, &n)| {
            let trained: Vec<&Vec<f64>> = sessions.iter().filter_map(|s| s.m[c].as_ref()).collect();
            if trained.is_empty() {
                return (starting_m(n), 0);
            }
            let medians: Vec<f64> = (0..n)
                .map(|k| {
                    let mut values: Vec<f64> = trained.iter().map(|m| m[k]).collect();
                    values.sort_by(f64::total_cmp);
                    let mid = values.len() / 2;
                    if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] }
                })
                .collect();
            let sum: f64 = medians.iter().sum();
            (medians.iter().map(|v| v / sum).collect(), trained.len())
        })
        .unzip()
}

/// log2(m / u) of every level.
pub fn weights(m: &[f64], u: &[f64]) -> Vec<f64> {
    m.iter().zip(u).map(|(m, u)| (m.max(FLOOR) / u.max(FLOOR)).log2()).collect()
}

/// A weight as a probability.
pub fn probability(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

/// The prior's weight, log2(λ / (1 − λ)).
pub fn prior_weight(lambda: f64) -> f64 {
    let l = lambda.clamp(FLOOR, 1.0 - FLOOR);
    (l / (1.0 - l)).log2()
}

/// One level of a trained comparison, as the model view and the JSON report show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LevelModel {
    pub label: String,
    pub m: f64,
    pub u: f64,
    /// log2(m / u): what agreeing at this level adds to a pair's match weight.
    pub weight: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairs drawn from a known model: `n` pairs, `share` of them matches.
    fn patterns_of(m: &[Vec<f64>], u: &[Vec<f64>], share: f64, n: f64) -> Vec<Pattern> {
        // Every combination of levels, with its expected count.
        let mut out = vec![Pattern { levels: Vec::new(), count: 1.0 }];
        for c in 0..m.len() {
            out = out
                .into_iter()
                .flat_map(|p| {
                    (0..m[c].len()).map(move |k| {
                        let mut levels = p.levels.clone();
                        levels.push(k as i8);
                        Pattern { levels, count: p.count }
                    })
                })
                .collect();
        }
        for p in &mut out {
            let pm: f64 = p.levels.iter().enumerate().map(|(c, &k)| m[c][k as usize]).product();
            let pu: f64 = p.levels.iter().enumerate().map(|(c, &k)| u[c][k as usize]).product();
            p.count = n * (share * pm + (1.0 - share) * pu);
        }
        out
    }

    #[test]
    fn em_recovers_the_m_of_known_patterns() {
        let m = vec![vec![0.05, 0.15, 0.8], vec![0.1, 0.9], vec![0.02, 0.18, 0.8], vec![0.3, 0.7]];
        let u = vec![vec![0.9, 0.08, 0.02], vec![0.95, 0.05], vec![0.97, 0.02, 0.01], vec![0.8, 0.2]];
        let patterns = patterns_of(&m, &u, 0.2, 100_000.0);
        let fitted = em(&patterns, &u, &[true; 4], 200);
        assert!((fitted.matches - 0.2).abs() < 1e-3, "{}", fitted.matches);
        for (c, levels) in m.iter().enumerate() {
            for (k, &want) in levels.iter().enumerate() {
                let got = fitted.m[c].as_ref().unwrap()[k];
                assert!((got - want).abs() < 5e-3, "comparison {c} level {k}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn a_comparison_left_out_gets_no_m_and_does_not_sway_the_others() {
        let m = vec![vec![0.05, 0.95], vec![0.1, 0.9], vec![0.2, 0.8]];
        let u = vec![vec![0.9, 0.1], vec![0.95, 0.05], vec![0.7, 0.3]];
        let mut patterns = patterns_of(&m, &u, 0.3, 50_000.0);
        // The left-out column agrees in every pair, as a blocking column does.
        for p in &mut patterns {
            p.levels[2] = 1;
        }
        let fitted = em(&patterns, &u, &[true, true, false], 200);
        assert!(fitted.m[2].is_none());
        assert!((fitted.m[0].as_ref().unwrap()[1] - 0.95).abs() < 1e-2);
        assert!((fitted.matches - 0.3).abs() < 1e-2);
    }

    #[test]
    fn missing_levels_count_for_nothing() {
        let u = vec![vec![0.9, 0.1], vec![0.9, 0.1]];
        let patterns = vec![
            Pattern { levels: vec![1, MISSING], count: 10.0 },
            Pattern { levels: vec![0, MISSING], count: 90.0 },
            Pattern { levels: vec![1, 1], count: 10.0 },
            Pattern { levels: vec![0, 0], count: 90.0 },
        ];
        let fitted = em(&patterns, &u, &[true, true], 100);
        let second = fitted.m[1].as_ref().unwrap();
        assert!((second.iter().sum::<f64>() - 1.0).abs() < 1e-9, "m of the levels sums to one without the missing pairs");
    }

    #[test]
    fn combined_m_is_the_median_of_the_sessions_that_trained_it() {
        let a = Fitted { m: vec![Some(vec![0.2, 0.8]), None], matches: 0.1, iterations: 1 };
        let b = Fitted { m: vec![Some(vec![0.4, 0.6]), Some(vec![0.3, 0.7])], matches: 0.1, iterations: 1 };
        let c = Fitted { m: vec![Some(vec![0.1, 0.9]), None], matches: 0.1, iterations: 1 };
        let (m, sessions) = combine(&[a.clone(), b.clone()], &[2, 2]);
        assert!((m[0][1] - 0.7).abs() < 1e-12);
        assert_eq!(m[1], vec![0.3, 0.7]);
        assert_eq!(sessions, vec![2, 1]);
        // One session of look-alikes does not move it far.
        let (m, _) = combine(&[a, b, c], &[2, 2]);
        assert!((m[0][0] - 0.2).abs() < 1e-12 && (m[0][1] - 0.8).abs() < 1e-12, "{m:?}");
        let (m, sessions) = combine(&[], &[3]);
        assert_eq!((m[0].len(), sessions[0]), (3, 0));
    }

    #[test]
    fn weights_and_probabilities_agree() {
        let w = weights(&[0.9, 0.1], &[0.1, 0.9]);
        assert!((w[0] - 9f64.log2()).abs() < 1e-12 && (w[1] + 9f64.log2()).abs() < 1e-12, "{w:?}");
        assert!((probability(0.0) - 0.5).abs() < 1e-12);
        assert!((probability(prior_weight(0.2)) - 0.2).abs() < 1e-12);
    }
}
