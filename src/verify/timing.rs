//! Wall-clock timing for `ferrolite bench`: warm up, then repeat until a time budget
//! is spent, and report the median of several rounds (robust to a noisy machine).

use std::time::{Duration, Instant};

/// Median microseconds per call of `f`, over `rounds` rounds of roughly
/// `budget / rounds` each, after a warm-up. Stops at the first error.
pub fn median_micros<E>(
    mut f: impl FnMut() -> Result<(), E>,
    budget: Duration,
    rounds: usize,
) -> Result<f64, E> {
    let warm_until = Instant::now() + budget / 10;
    let mut calls_per_round = 0usize;
    while Instant::now() < warm_until || calls_per_round < 3 {
        f()?;
        calls_per_round += 1;
    }
    // Warm-up calls took about budget/10, so this many calls fill one round.
    let rounds = rounds.max(1);
    let per_round = ((calls_per_round as f64) * 10.0 / rounds as f64)
        .ceil()
        .max(1.0) as usize;
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..per_round {
            f()?;
        }
        samples.push(t.elapsed().as_secs_f64() * 1e6 / per_round as f64);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    Ok(samples[samples.len() / 2])
}
