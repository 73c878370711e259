//! CONCATENATION's loops: each input contributes a block of elements to every row of the
//! output, copied as is or (uint8 inputs with other parameters than the output's) through
//! the requantization table of TFLite's `ConcatenationWithScaling`.

/// The uint8 requantization of `ConcatenationWithScaling` for every input value.
pub fn uint8_requantize_table(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32) -> [u8; 256] {
    let inverse_output_scale = 1.0f32 / out_scale;
    let scale = in_scale * inverse_output_scale;
    // `-input_zeropoint[i] * scale`: the int negated, converted to float, multiplied.
    let bias = (-in_zp) as f32 * scale;
    let mut table = [0u8; 256];
    for (q, entry) in table.iter_mut().enumerate() {
        // Separate float multiply and add (no fused multiply-add), rounding half away
        // from zero; saturating conversion where the C++ cast would be undefined.
        let rounded = (q as f32 * scale + bias).round();
        let value = (rounded as i32).saturating_add(out_zp);
        *entry = value.clamp(0, 255) as u8;
    }
    table
}

/// Copies `outer` blocks of `block` elements from `src` into `out`, whose rows hold `row`
/// elements, at column `at` of each row. The caller has checked `src.len() == outer *
/// block`, `out.len() == outer * row` and `at + block <= row`.
pub fn copy_blocks<T: Copy>(
    src: &[T],
    out: &mut [T],
    outer: usize,
    block: usize,
    row: usize,
    at: usize,
) {
    for o in 0..outer {
        let dst = o * row + at;
        out[dst..dst + block].copy_from_slice(&src[o * block..(o + 1) * block]);
    }
}

/// [`copy_blocks`] through a uint8 requantization table.
pub fn requantize_blocks(
    src: &[u8],
    out: &mut [u8],
    table: &[u8; 256],
    outer: usize,
    block: usize,
    row: usize,
    at: usize,
) {
    for o in 0..outer {
        let dst = &mut out[o * row + at..o * row + at + block];
        let src = &src[o * block..(o + 1) * block];
        for (d, &q) in dst.iter_mut().zip(src) {
            *d = table[usize::from(q)];
        }
    }
}
