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

/// Times `f` and `g` in alternating rounds, so that both see the same machine: on a
/// shared machine speed drifts by 2× within seconds, and two separate timings would
/// compare different moments. Returns the median µs per call of each and the median of
/// the per-round ratios `f / g` (the drift cancels within a round pair).
pub fn paired_median_micros<E>(
    mut f: impl FnMut() -> Result<(), E>,
    mut g: impl FnMut() -> Result<(), E>,
    budget: Duration,
    rounds: usize,
) -> Result<(f64, f64, f64), E> {
    // Calls per round for each, from a warm-up of about a tenth of the budget each.
    let calibrate = |h: &mut dyn FnMut() -> Result<(), E>| -> Result<usize, E> {
        let until = Instant::now() + budget / 20;
        let mut calls = 0usize;
        while Instant::now() < until || calls < 3 {
            h()?;
            calls += 1;
        }
        Ok(calls)
    };
    let rounds = rounds.max(1);
    let per_round = |warm: usize| ((warm as f64) * 10.0 / rounds as f64).ceil().max(1.0) as usize;
    let f_per_round = per_round(calibrate(&mut f)?);
    let g_per_round = per_round(calibrate(&mut g)?);
    let round = |h: &mut dyn FnMut() -> Result<(), E>, calls: usize| -> Result<f64, E> {
        let t = Instant::now();
        for _ in 0..calls {
            h()?;
        }
        Ok(t.elapsed().as_secs_f64() * 1e6 / calls as f64)
    };
    let (mut fs, mut gs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        // Which goes first alternates, so that neither always runs on the caches and
        // clock the other left behind.
        let (a, b) = if r % 2 == 0 {
            let a = round(&mut f, f_per_round)?;
            (a, round(&mut g, g_per_round)?)
        } else {
            let b = round(&mut g, g_per_round)?;
            (round(&mut f, f_per_round)?, b)
        };
        fs.push(a);
        gs.push(b);
        ratios.push(a / b);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    Ok((median(fs), median(gs), median(ratios)))
}

/// Median microseconds per call of each of `fs`, timed in interleaved rounds (one round
/// of each in turn, `rounds` times, about `budget` in all per function) so that all see
/// the same machine. Stops at the first error.
pub fn interleaved_median_micros<E>(
    fs: &mut [&mut dyn FnMut() -> Result<(), E>],
    budget: Duration,
    rounds: usize,
) -> Result<Vec<f64>, E> {
    let rounds = rounds.max(1);
    // Warm-up decides how many calls fill one round of each.
    let mut per_round = Vec::with_capacity(fs.len());
    for f in fs.iter_mut() {
        let warm_until = Instant::now() + budget / 10;
        let mut calls = 0usize;
        while Instant::now() < warm_until || calls < 3 {
            f()?;
            calls += 1;
        }
        per_round.push(((calls as f64) * 10.0 / rounds as f64).ceil().max(1.0) as usize);
    }
    let mut samples = vec![Vec::with_capacity(rounds); fs.len()];
    for _ in 0..rounds {
        for ((f, &n), s) in fs.iter_mut().zip(&per_round).zip(&mut samples) {
            let t = Instant::now();
            for _ in 0..n {
                f()?;
            }
            s.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
    }
    Ok(samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(|a, b| a.total_cmp(b));
            s[s.len() / 2]
        })
        .collect())
}
