//! Window geometry of the NHWC windowed ops (convolutions and pooling): output size,
//! padding, and the filter taps that land inside the image for every output position.

use super::common::{positive, window_dim};
use crate::ir::{Activation, KernelError, Padding};
use crate::kbail;

/// The options both convolutions share.
pub(crate) struct WindowParams {
    pub(crate) padding: Padding,
    pub(crate) stride_h: i32,
    pub(crate) stride_w: i32,
    pub(crate) dilation_h: i32,
    pub(crate) dilation_w: i32,
    pub(crate) activation: Activation,
}

/// One spatial axis of a sliding window, resolved for concrete sizes.
#[derive(Clone, Debug)]
pub(crate) struct WindowAxis {
    pub input: usize,
    pub output: usize,
    pub stride: usize,
    pub dilation: usize,
    /// Output positions `full.0..full.1` use every filter tap (the unpadded interior;
    /// positions with all taps inside the image form one contiguous run).
    pub full: (usize, usize),
    /// For each output position: the first input coordinate its window reads (tap
    /// `lo`), and the range `lo..hi` of filter taps that fall inside the input.
    pub taps: Vec<TapRange>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TapRange {
    pub first_input: usize,
    pub lo: usize,
    pub hi: usize,
}

/// Output positions along one spatial axis: far beyond any image a model runs on.
pub(crate) const MAX_AXIS_OUTPUT: usize = 1 << 24;

impl WindowAxis {
    /// Output size and per-position valid taps of one axis, with TFLite's padding rule.
    pub fn new(
        padding: Padding,
        input: usize,
        filter: usize,
        stride: usize,
        dilation: usize,
    ) -> Result<WindowAxis, KernelError> {
        let (output, pad) = window_dim(padding, input, filter, stride, dilation)?;
        // The taps are stored per output position. A tensor with a zero dimension has no
        // bytes, so the per-tensor size cap does not bound its other dimensions: found by
        // fuzzing, an input of shape [0, 1.7e9, 1, 1] asked for 41 GB here.
        if output > MAX_AXIS_OUTPUT {
            kbail!("a window axis of {output} output positions (input {input}) is more than the {MAX_AXIS_OUTPUT} this interpreter supports");
        }
        let (input_i, filter_i, stride_i, dilation_i, pad_i) = (
            to_i128(input),
            to_i128(filter),
            to_i128(stride),
            to_i128(dilation),
            to_i128(pad),
        );
        let mut taps = Vec::with_capacity(output);
        for o in 0..output {
            // Input coordinate of tap k is start + k*dilation; keep the taps in range.
            let start = to_i128(o) * stride_i - pad_i;
            let lo = if start < 0 {
                (-start + dilation_i - 1) / dilation_i
            } else {
                0
            };
            let hi = if start >= input_i {
                0
            } else {
                (input_i - start + dilation_i - 1) / dilation_i
            };
            let lo = lo.min(filter_i);
            let hi = hi.min(filter_i).max(lo);
            let first = start + lo * dilation_i;
            taps.push(TapRange {
                first_input: if lo < hi { first as usize } else { 0 },
                lo: lo as usize,
                hi: hi as usize,
            });
        }
        let is_full = |t: &TapRange| t.lo == 0 && t.hi == filter;
        let full = match taps.iter().position(is_full) {
            Some(lo) => (
                lo,
                lo + taps[lo..].iter().take_while(|t| is_full(t)).count(),
            ),
            None => (0, 0),
        };
        Ok(WindowAxis {
            input,
            output,
            stride,
            dilation,
            full,
            taps,
        })
    }
}

fn to_i128(v: usize) -> i128 {
    v as i128
}

/// Spatial geometry of a windowed NHWC op.
#[derive(Clone, Debug)]
pub(crate) struct Window2d {
    pub batch: usize,
    pub h: WindowAxis,
    pub w: WindowAxis,
}

pub(crate) fn window2d(
    params: &WindowParams,
    batch: usize,
    in_h: usize,
    in_w: usize,
    k_h: usize,
    k_w: usize,
) -> Result<Window2d, KernelError> {
    let stride_h = positive(params.stride_h, "stride_h")?;
    let stride_w = positive(params.stride_w, "stride_w")?;
    let dilation_h = positive(params.dilation_h, "dilation_h")?;
    let dilation_w = positive(params.dilation_w, "dilation_w")?;
    Ok(Window2d {
        batch,
        h: WindowAxis::new(params.padding, in_h, k_h, stride_h, dilation_h)?,
        w: WindowAxis::new(params.padding, in_w, k_w, stride_w, dilation_w)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_taps_stay_inside_the_image() {
        // SAME, 3 taps, dilation 2 on a width-4 axis: pad = ((4-1)*1 + 5 - 4)/2 = 2.
        // Output 0 starts at -2: taps 1,2 land on 0,2. Output 3 starts at 1: taps 0,1
        // land on 1,3; tap 2 would be 5.
        let axis = WindowAxis::new(Padding::Same, 4, 3, 1, 2).unwrap();
        assert_eq!(axis.output, 4);
        assert_eq!(
            axis.taps[0],
            TapRange {
                first_input: 0,
                lo: 1,
                hi: 3
            }
        );
        assert_eq!(
            axis.taps[3],
            TapRange {
                first_input: 1,
                lo: 0,
                hi: 2
            }
        );
        // A window 5 wide never lies wholly inside a width-4 axis.
        assert_eq!(axis.full.1 - axis.full.0, 0);
        // VALID 3 taps on width 6, stride 1: all four outputs are interior; SAME makes
        // the first and last outputs borders.
        assert_eq!(
            WindowAxis::new(Padding::Valid, 6, 3, 1, 1).unwrap().full,
            (0, 4)
        );
        assert_eq!(
            WindowAxis::new(Padding::Same, 6, 3, 1, 1).unwrap().full,
            (1, 5)
        );
        // A window entirely past the input (hostile options) has no taps.
        let axis = WindowAxis::new(Padding::Same, 2, 1, 1, 1).unwrap();
        assert!(axis.taps.iter().all(|t| t.lo < t.hi));
    }
}
