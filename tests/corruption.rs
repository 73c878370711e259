//! Issue 14: damaged inputs, in-process. Deterministic (seeded) mutations of the fixture
//! `.tflite` files and of the fixture model directory — truncations, flipped bytes,
//! absurd numbers in every JSON field of `model.json`, edits of the safetensors header —
//! each loaded, planned and run (one inference on zeros for a `.tflite`, a prediction
//! on two MNIST test images for a model directory). Every case must end in a typed error
//! or a consistent result; a panic fails the test and names the case.
//!
//! The normal test runs about 2,700 cases (three of the replacement values per field); `cargo test --release --test corruption --
//! --ignored` runs more than 10,000.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ferrolite::interp::{Interpreter, TensorBuf, Value};
use serde_json::Value as Json;

/// Declared tensor bytes of a mutated `.tflite` that is still planned, and arena bytes
/// and steps of a plan that is still run. A flipped shape byte can ask for a valid
/// gigabyte tensor (the library allows 1 GiB each); honouring it would test the
/// machine, not the reader.
const MAX_DECLARED_BYTES: usize = 64 << 20;
const MAX_ARENA_BYTES: usize = 64 << 20;
const MAX_STEPS: usize = 512;

/// The library's architecture caps, lowered for this process (the defaults allow
/// 10^8 weights and 4 GiB of activations per batch).
const MAX_WEIGHTS: &str = "2000000";
const MAX_ACTIVATION_BYTES: &str = "268435456";

/// splitmix64: a fixed seed gives the same cases on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tflite_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["fixtures/tflite", "fixtures/extra"] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "tflite"))
            .collect();
        paths.sort();
        for p in paths {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, std::fs::read(&p).unwrap()));
        }
    }
    assert!(out.len() >= 20, "fixtures missing: {}", out.len());
    out
}

/// Numbers no field expects: zero, negative, fractional, at and past every integer
/// width, huge floats.
const ABSURD_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "0.5",
    "-0.0",
    "1e-45",
    "255",
    "65536",
    "1000000",
    "2147483648",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "1e308",
    "-1e308",
];

/// Values of the wrong kind for any field.
const WRONG_KINDS: &[&str] = &["null", "true", "\"x\"", "[]", "{}", "[1e308, -1]"];

/// JSON pointers of every value in `v` (the root aside).
fn pointers(v: &Json, at: String, out: &mut Vec<String>) {
    match v {
        Json::Object(m) => {
            for (k, child) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Json::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

/// `doc` with the value at `pointer` replaced by the raw JSON text `raw` (which
/// serde_json's numbers could not all hold, e.g. 2^64).
fn replace_raw(doc: &Json, pointer: &str, raw: &str) -> String {
    const MARK: &str = "\u{1}ferrolite-corruption-mark\u{1}";
    let mut d = doc.clone();
    *d.pointer_mut(pointer).unwrap() = Json::String(MARK.into());
    let text = serde_json::to_string(&d).unwrap();
    let quoted = serde_json::to_string(MARK).unwrap();
    text.replacen(&quoted, raw, 1)
}

/// `doc` without the value at `pointer` (a key removed or an element dropped).
fn remove(doc: &Json, pointer: &str) -> String {
    let mut d = doc.clone();
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    match d.pointer_mut(parent).unwrap() {
        Json::Object(m) => {
            m.remove(&last.replace("~1", "/").replace("~0", "~"));
        }
        Json::Array(a) => {
            a.remove(last.parse::<usize>().unwrap());
        }
        _ => unreachable!(),
    }
    serde_json::to_string(&d).unwrap()
}

/// The fixture's safetensors split into its header (parsed) and data.
fn split_safetensors(bytes: &[u8]) -> (Json, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header, bytes[8 + n..].to_vec())
}

fn join_safetensors(header_text: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header_text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header_text.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Byte-level damage: a truncation, flipped bits, an absurd 32-bit word (flatbuffer
/// offsets and lengths are 32-bit), a zeroed range or a repeated range.
fn damage(bytes: &[u8], rng: &mut Rng) -> (String, Vec<u8>) {
    let mut b = bytes.to_vec();
    let len = b.len();
    match rng.below(5) {
        0 => {
            let at = rng.below(len);
            b.truncate(at);
            (format!("truncated at {at}"), b)
        }
        1 => {
            let n = 1 + rng.below(8);
            let mut at = Vec::new();
            for _ in 0..n {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
                at.push(i);
            }
            (format!("bits flipped at {at:?}"), b)
        }
        2 if len >= 4 => {
            let at = rng.below(len / 4) * 4;
            let word = *rng.pick(&[
                0u32,
                1,
                0x7fff_ffff,
                0x8000_0000,
                0xffff_ffff,
                0x4000_0000,
                0x0001_0000,
                len as u32,
                len as u32 + 4,
            ]);
            b[at..at + 4].copy_from_slice(&word.to_le_bytes());
            (format!("word {word:#x} at {at}"), b)
        }
        3 => {
            let at = rng.below(len);
            let n = 1 + rng.below(64.min(len - at));
            b[at..at + n].fill(0);
            (format!("{n} bytes zeroed at {at}"), b)
        }
        _ => {
            let at = rng.below(len);
            let n = 1 + rng.below(64.min(len - at));
            let chunk = b[at..at + n].to_vec();
            let to = rng.below(len);
            b.splice(to..to, chunk);
            (format!("{n} bytes from {at} repeated at {to}"), b)
        }
    }
}

#[derive(Default, Debug)]
struct Tally {
    cases: usize,
    refused: usize,
    ran: usize,
    beyond_budget: usize,
    slowest: Duration,
    slowest_case: String,
}

impl Tally {
    fn time(&mut self, case: &str, f: impl FnOnce() -> Outcome) {
        let start = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(f))
            .unwrap_or_else(|_| panic!("case {case}: panicked (see above)"));
        let took = start.elapsed();
        if took > self.slowest {
            self.slowest = took;
            self.slowest_case = case.to_string();
        }
        self.cases += 1;
        match outcome {
            Outcome::Refused => self.refused += 1,
            Outcome::Ran => self.ran += 1,
            Outcome::BeyondBudget => self.beyond_budget += 1,
        }
    }
}

enum Outcome {
    /// A typed error from the reader, planner, loader or a kernel.
    Refused,
    /// A result, checked for consistency.
    Ran,
    /// Valid so far but larger than this test runs (see MAX_DECLARED_BYTES).
    BeyondBudget,
}

fn check_outputs(case: &str, outputs: &[Value]) {
    for out in outputs {
        let len = out.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        assert_eq!(
            len,
            Some(out.data.len()),
            "case {case}: output shape {:?} does not match its {} values",
            out.shape,
            out.data.len()
        );
    }
}

/// Read, plan, one inference on zeros.
fn run_tflite(case: &str, bytes: &[u8]) -> Outcome {
    let Ok(model) = ferrolite::tflite::read(bytes) else {
        return Outcome::Refused;
    };
    let declared = model
        .graph
        .tensors
        .iter()
        .map(|t| t.dense_bytes())
        .fold(0, usize::saturating_add);
    if declared > MAX_DECLARED_BYTES {
        return Outcome::BeyondBudget;
    }
    let inputs: Vec<Value> = model
        .graph
        .inputs
        .iter()
        .filter_map(|&i| model.graph.tensors.get(i))
        .map(|t| {
            let len = t.shape.iter().fold(1usize, |a, &d| a.saturating_mul(d));
            Value::new(t.shape.clone(), TensorBuf::zeros(t.dtype, len))
        })
        .collect();
    let Ok(mut interp) = Interpreter::new(model) else {
        return Outcome::Refused;
    };
    if interp.plan().arena_bytes() > MAX_ARENA_BYTES || interp.plan().num_steps() > MAX_STEPS {
        return Outcome::BeyondBudget;
    }
    match interp.run(&inputs) {
        Ok(outputs) => {
            check_outputs(case, &outputs);
            Outcome::Ran
        }
        Err(_) => Outcome::Refused,
    }
}

fn tflite_cases(per_fixture: usize, seed: u64) -> Tally {
    let mut tally = Tally::default();
    let mut rng = Rng(seed);
    for (name, bytes) in tflite_fixtures() {
        // The fixture itself must run: otherwise every mutation is refused trivially.
        assert!(
            matches!(run_tflite(&name, &bytes), Outcome::Ran),
            "fixture {name} does not run"
        );
        for _ in 0..per_fixture {
            let (what, mutated) = damage(&bytes, &mut rng);
            let case = format!("{name}: {what}");
            tally.time(&case, || run_tflite(&case, &mutated));
        }
    }
    tally
}

struct ModelCases {
    dir: PathBuf,
    images: Vec<f32>,
}

impl ModelCases {
    fn new(tag: &str) -> ModelCases {
        // SAFETY (of intent): both tests set the same values, before any load.
        std::env::set_var(ferrolite::nn::arch::MAX_WEIGHTS_ENV, MAX_WEIGHTS);
        std::env::set_var(
            ferrolite::nn::arch::MAX_ACTIVATION_BYTES_ENV,
            MAX_ACTIVATION_BYTES,
        );
        let dir =
            std::env::temp_dir().join(format!("ferrolite-corruption-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mnist =
            ferrolite::data::load(&root().join("fixtures/mnist"), ferrolite::data::Split::Test)
                .unwrap();
        ModelCases {
            dir,
            images: mnist.images_f32_scaled(0..2),
        }
    }

    /// Loads the directory holding `json` and `weights`, and predicts two images.
    fn run(&self, case: &str, json: &[u8], weights: &[u8]) -> Outcome {
        std::fs::write(self.dir.join("model.json"), json).unwrap();
        std::fs::write(self.dir.join("model.safetensors"), weights).unwrap();
        let Ok(mut model) = ferrolite::nn::io::load(&self.dir) else {
            return Outcome::Refused;
        };
        // An input shape other than MNIST's gets zeros of its own size.
        let per: usize = model.input_shape().iter().product();
        let x = if per == 28 * 28 {
            self.images.clone()
        } else {
            vec![0.0; per * 2]
        };
        match model.predict(&x, 2) {
            Ok(out) => {
                let len: usize = out.shape.iter().product();
                assert_eq!(len, out.data.len(), "case {case}: prediction shape");
                assert_eq!(out.shape.first(), Some(&2), "case {case}: batch");
                Outcome::Ran
            }
            Err(_) => Outcome::Refused,
        }
    }
}

impl Drop for ModelCases {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The replacement values tried for the `i`th field: all of them, or (quick runs) three,
/// rotating through the list so that together the fields still meet every value.
fn values_for<'a>(i: usize, values: &[&'a str], every_value: bool) -> Vec<&'a str> {
    if every_value {
        values.to_vec()
    } else {
        [0, 7, 13]
            .iter()
            .map(|k| values[(i + k) % values.len()])
            .collect()
    }
}

/// Every field of model.json given absurd numbers and wrong kinds, and removed;
/// every safetensors header field edited the same way, a duplicated name and absurd
/// header lengths; then `random` cases of byte damage to either file.
fn model_cases(random: usize, every_value: bool, seed: u64, tag: &str) -> Tally {
    let m = ModelCases::new(tag);
    let fixture = root().join("fixtures/models/tiny_convnet");
    let json_bytes = std::fs::read(fixture.join("model.json")).unwrap();
    let weights = std::fs::read(fixture.join("model.safetensors")).unwrap();
    assert!(
        matches!(m.run("fixture", &json_bytes, &weights), Outcome::Ran),
        "the fixture model does not load and predict"
    );
    let doc: Json = serde_json::from_slice(&json_bytes).unwrap();
    let mut tally = Tally::default();

    let mut fields = Vec::new();
    pointers(&doc, String::new(), &mut fields);
    let replacements: Vec<&str> = ABSURD_NUMBERS.iter().chain(WRONG_KINDS).copied().collect();
    for (i, p) in fields.iter().enumerate() {
        for raw in values_for(i, &replacements, every_value) {
            let text = replace_raw(&doc, p, raw);
            let case = format!("model.json {p} = {raw}");
            tally.time(&case, || m.run(&case, text.as_bytes(), &weights));
        }
        let text = remove(&doc, p);
        let case = format!("model.json without {p}");
        tally.time(&case, || m.run(&case, text.as_bytes(), &weights));
    }

    let (header, data) = split_safetensors(&weights);
    let mut header_fields = Vec::new();
    pointers(&header, String::new(), &mut header_fields);
    let dtypes = [
        "\"F16\"", "\"BF16\"", "\"F64\"", "\"I64\"", "\"U8\"", "\"BOOL\"", "\"f32\"", "\"F32 \"",
    ];
    for (i, p) in header_fields.iter().enumerate() {
        let mut values = replacements.clone();
        if p.ends_with("/dtype") {
            values.extend_from_slice(&dtypes);
        }
        for raw in values_for(i, &values, every_value) {
            let text = replace_raw(&header, p, raw);
            let case = format!("safetensors header {p} = {raw}");
            let bytes = join_safetensors(&text, &data);
            tally.time(&case, || m.run(&case, &json_bytes, &bytes));
        }
        let text = remove(&header, p);
        let case = format!("safetensors header without {p}");
        let bytes = join_safetensors(&text, &data);
        tally.time(&case, || m.run(&case, &json_bytes, &bytes));
    }
    // A duplicated tensor name (serde_json's maps cannot hold one, so spliced in).
    let text = serde_json::to_string(&header).unwrap();
    if let (Some(first), Json::Object(map)) = (text.find("\"dense/bias\""), &header) {
        let entry = serde_json::to_string(&map["dense/bias"]).unwrap();
        let mut dup = text.clone();
        dup.insert_str(first, &format!("\"dense/bias\":{entry},"));
        let bytes = join_safetensors(&dup, &data);
        let case = "safetensors header with dense/bias twice";
        tally.time(case, || m.run(case, &json_bytes, &bytes));
    }
    // The header length itself.
    let n = u64::from_le_bytes(weights[..8].try_into().unwrap());
    for len in [
        0,
        1,
        7,
        n - 1,
        n + 1,
        n + 8,
        weights.len() as u64,
        1 << 32,
        u64::MAX,
    ] {
        let mut bytes = weights.clone();
        bytes[..8].copy_from_slice(&len.to_le_bytes());
        let case = format!("safetensors header length {len}");
        tally.time(&case, || m.run(&case, &json_bytes, &bytes));
    }

    let mut rng = Rng(seed);
    for _ in 0..random {
        let (case, json, w) = if rng.below(2) == 0 {
            let (what, b) = damage(&json_bytes, &mut rng);
            (format!("model.json {what}"), b, weights.clone())
        } else {
            let (what, b) = damage(&weights, &mut rng);
            (format!("model.safetensors {what}"), json_bytes.clone(), b)
        };
        tally.time(&case, || m.run(&case, &json, &w));
    }
    tally
}

/// Peak resident memory of this process, from Linux's /proc.
fn peak_rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn report(what: &str, t: &Tally, started: Instant) {
    eprintln!(
        "{what}: {} cases ({} refused with an error, {} ran, {} beyond the test's size budget) in {:.1} s; slowest {:.3} s ({}); peak RSS {} MB",
        t.cases,
        t.refused,
        t.ran,
        t.beyond_budget,
        started.elapsed().as_secs_f64(),
        t.slowest.as_secs_f64(),
        t.slowest_case,
        peak_rss_mb().map_or("?".into(), |m| m.to_string()),
    );
}

fn check(
    tflite_per_fixture: usize,
    model_random: usize,
    every_value: bool,
    seed: u64,
    tag: &str,
    at_least: usize,
) {
    let started = Instant::now();
    let t = tflite_cases(tflite_per_fixture, seed);
    report(".tflite", &t, started);
    let started = Instant::now();
    let m = model_cases(model_random, every_value, seed ^ 0x5eed, tag);
    report("model directory", &m, started);
    let total = t.cases + m.cases;
    assert!(
        total >= at_least,
        "{total} cases, expected at least {at_least}"
    );
    // Mutations that damage nothing detectable are expected, but a test where every
    // case is refused (or every one runs) is not exercising both paths.
    assert!(t.refused > 0 && t.ran > 0, "{t:?}");
    assert!(m.refused > 0 && m.ran > 0, "{m:?}");
}

#[test]
fn damaged_models_get_an_error_or_a_result() {
    check(40, 300, false, 14, "quick", 2_000);
}

#[test]
#[ignore = "10,000+ cases; run with --ignored (release)"]
fn ten_thousand_damaged_models_get_an_error_or_a_result() {
    check(200, 2_000, true, 1414, "full", 10_000);
}

/// Inputs the fuzz targets (fuzz/) stopped on, each with what it found.
#[test]
fn fuzz_findings_get_an_error_or_a_result() {
    let cases = [
        // A convolution over an input of shape [0, 1.7e9, 1, 1]: no bytes, so no size
        // cap applied, and the window geometry asked for 41 GB (an abort, not an error).
        ("window-axis-zero-batch.tflite", true),
        // A valid int8 model whose convolution is merely large: the plan_run target
        // timed out on it under the sanitizer; it must still run (or be refused).
        ("plan-run-timeout.tflite", false),
    ];
    for (name, must_refuse) in cases {
        let bytes = std::fs::read(root().join("tests/fuzz-regressions").join(name)).unwrap();
        let started = Instant::now();
        let outcome = run_tflite(name, &bytes);
        eprintln!("{name}: {:.3} s", started.elapsed().as_secs_f64());
        if must_refuse {
            assert!(
                matches!(outcome, Outcome::Refused),
                "{name} was not refused"
            );
        }
    }
}

/// The densify target's finding: a sparse tensor with a zero dimension has no dense
/// elements, so the size cap does not bound its other dimensions, and the CSR check
/// allocated a flag per coordinate of one (3.3 GB in the fuzzer's input; here 2^62,
/// which cannot be allocated at all).
#[test]
fn a_sparse_level_beside_a_zero_dimension_allocates_nothing() {
    use ferrolite::ir::{DimensionMetadata, IndexVector, Sparsity};
    let sparsity = Sparsity {
        traversal_order: vec![0, 1],
        block_map: vec![],
        dim_metadata: vec![
            DimensionMetadata::Dense { size: 0 },
            DimensionMetadata::SparseCsr {
                segments: IndexVector::U8(vec![0]),
                indices: IndexVector::U8(vec![]),
            },
        ],
    };
    let dense = ferrolite::sparse::densify(&sparsity, &[0, 1 << 62], &TensorBuf::F32(vec![]));
    assert_eq!(dense.map(|d| d.len()).ok(), Some(0));
}
