//! RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (`resize_bilinear.cc`,
//! `resize_nearest_neighbor.cc` with the reference kernels): NHWC input, the new height
//! and width from the constant int32 size tensor. Float and uint8 bilinear interpolate
//! in float (`ResizeBilinear<T>`), int8 in 10-bit fixed point (`ResizeBilinearInteger`);
//! nearest neighbour copies pixels of any type. Quantized values are not rescaled: the
//! output shares the input's parameters.

use super::shape::{
    by_dtype, check_len, checked_elements, const_ints, expect_output_dtype, nhwc, Elem,
};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::reference::resize::{
    bilinear_axis_f32, bilinear_axis_q10, nearest_axis, resize_bilinear_float,
    resize_bilinear_integer, resize_nearest, Nhwc, Tap, TapQ10,
};

enum Taps {
    Float(Vec<Tap>, Vec<Tap>),
    Q10(Vec<TapQ10>, Vec<TapQ10>),
    Nearest(Vec<usize>, Vec<usize>),
}

struct ResizeKernel {
    dtype: DType,
    shape: Nhwc,
    in_len: usize,
    out_len: usize,
    taps: Taps,
}

impl Kernel for ResizeKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(src), Some(dst)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        check_len("input", src.len(), self.in_len)?;
        match (&self.taps, self.dtype) {
            (Taps::Nearest(ys, xs), dtype) => by_dtype!(dtype, T => {
                let out = T::slice_mut(dst)?;
                check_len("output", out.len(), self.out_len)?;
                resize_nearest(T::slice(src)?, self.shape, ys, xs, out);
            }),
            (Taps::Float(ys, xs), DType::F32) => {
                let out = dst.f32()?;
                check_len("output", out.len(), self.out_len)?;
                resize_bilinear_float(src.f32()?, self.shape, ys, xs, out, |v| v, |v| v);
            }
            (Taps::Float(ys, xs), DType::U8) => {
                let out = dst.u8()?;
                check_len("output", out.len(), self.out_len)?;
                // The reference's static_cast<uint8_t> truncates toward zero.
                resize_bilinear_float(src.u8()?, self.shape, ys, xs, out, f32::from, |v| v as u8);
            }
            (Taps::Q10(ys, xs), DType::I8) => {
                let out = dst.i8()?;
                check_len("output", out.len(), self.out_len)?;
                // The rounded quotient of a weighted mean of int8 values stays in range.
                resize_bilinear_integer(src.i8()?, self.shape, ys, xs, out, |v| v as i8);
            }
            (Taps::Q10(ys, xs), DType::I16) => {
                let out = dst.i16()?;
                check_len("output", out.len(), self.out_len)?;
                resize_bilinear_integer(src.i16()?, self.shape, ys, xs, out, |v| v as i16);
            }
            (_, other) => kbail!("internal: no resize kernel for {other}"),
        }
        Ok(())
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    let (bilinear, align_corners, half_pixel_centers) = match ctx.op.op {
        Op::ResizeBilinear {
            align_corners,
            half_pixel_centers,
        } => (true, align_corners, half_pixel_centers),
        Op::ResizeNearestNeighbor {
            align_corners,
            half_pixel_centers,
        } => (false, align_corners, half_pixel_centers),
        ref other => kbail!("{} is not a resize", other.name()),
    };
    ctx.expect_arity(2, 2, 1)?;
    let input = ctx.input(0)?;
    let size = ctx.input(1)?;
    let dtype = input.dtype;
    expect_output_dtype(ctx, 0, dtype)?;
    if bilinear && align_corners && half_pixel_centers {
        kbail!("align_corners and half_pixel_centers cannot both be set");
    }
    let [batches, height, width, depth] = nhwc(input, "the input")?;
    if size.dtype != DType::I32 || size.shape.len() != 1 {
        kbail!(
            "the size must be a 1-D int32 tensor, got {} {:?}",
            size.dtype,
            size.shape
        );
    }
    let wanted = const_ints(size, "the size")?;
    let &[new_h, new_w] = wanted.as_slice() else {
        kbail!("the size must hold 2 values (height, width), has {wanted:?}");
    };
    if new_h <= 0 || new_w <= 0 {
        kbail!("the size must be positive, got {wanted:?}");
    }
    let (new_h, new_w) = (new_h as usize, new_w as usize);
    let out_shape = vec![batches, new_h, new_w, depth];
    // The taps are allocated per output row and column even for an empty batch.
    super::layout::bounded(&out_shape)?;
    let out_len = checked_elements(&out_shape)?;
    if height == 0 || width == 0 {
        kbail!("cannot resize an empty image {:?}", input.shape);
    }
    let taps = if !bilinear {
        Taps::Nearest(
            nearest_axis(height, new_h, align_corners, half_pixel_centers),
            nearest_axis(width, new_w, align_corners, half_pixel_centers),
        )
    } else {
        match dtype {
            DType::F32 | DType::U8 => Taps::Float(
                bilinear_axis_f32(height, new_h, align_corners, half_pixel_centers),
                bilinear_axis_f32(width, new_w, align_corners, half_pixel_centers),
            ),
            DType::I8 | DType::I16 => Taps::Q10(
                bilinear_axis_q10(height, new_h, align_corners, half_pixel_centers)?,
                bilinear_axis_q10(width, new_w, align_corners, half_pixel_centers)?,
            ),
            other => kbail!("RESIZE_BILINEAR supports float32, uint8, int8 and int16, not {other}"),
        }
    };
    Ok(Prepared::new(
        vec![out_shape],
        ResizeKernel {
            dtype,
            shape: Nhwc {
                batches,
                height,
                width,
                depth,
            },
            in_len: input.num_elements(),
            out_len,
            taps,
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{Graph, Model, Op, Operator, Tensor};

    fn resize(op: Op, shape: Vec<usize>, x: TensorBuf, size: [i32; 2]) -> Result<Value, String> {
        let graph = Graph {
            name: None,
            tensors: vec![
                Tensor::activation("x", x.dtype(), shape.clone()),
                Tensor::constant_i32("size", vec![2], &size),
                Tensor::activation("y", x.dtype(), vec![]),
            ],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![Operator::new(op, vec![0, 1], vec![2])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp
            .run(&[Value::new(shape, x)])
            .map_err(|e| e.to_string())?;
        Ok(out.remove(0))
    }

    const PLAIN: Op = Op::ResizeBilinear {
        align_corners: false,
        half_pixel_centers: false,
    };

    #[test]
    fn bilinear_2x2_to_3x3_align_corners() {
        // Corners stay, edges are midpoints, the centre is the mean of all four.
        let op = Op::ResizeBilinear {
            align_corners: true,
            half_pixel_centers: false,
        };
        let y = resize(
            op,
            vec![1, 2, 2, 1],
            TensorBuf::F32(vec![0., 4., 8., 12.]),
            [3, 3],
        )
        .unwrap();
        assert_eq!(y.shape, vec![1, 3, 3, 1]);
        assert_eq!(
            y.data,
            TensorBuf::F32(vec![0., 2., 4., 4., 6., 8., 8., 10., 12.])
        );
    }

    #[test]
    fn nearest_doubles_int8_pixels_with_channels() {
        let op = Op::ResizeNearestNeighbor {
            align_corners: false,
            half_pixel_centers: false,
        };
        let y = resize(
            op,
            vec![1, 1, 2, 2],
            TensorBuf::I8(vec![1, -1, 2, -2]),
            [2, 4],
        )
        .unwrap();
        assert_eq!(y.shape, vec![1, 2, 4, 2]);
        let row = [1, -1, 1, -1, 2, -2, 2, -2];
        assert_eq!(y.data, TensorBuf::I8([row, row].concat()));
    }

    #[test]
    fn bad_sizes_are_refused() {
        let x = TensorBuf::F32(vec![0.0; 4]);
        assert!(resize(PLAIN, vec![1, 2, 2, 1], x.clone(), [0, 3]).is_err());
        assert!(resize(PLAIN, vec![2, 2, 1], x.clone(), [3, 3]).is_err());
        assert!(resize(PLAIN, vec![1, 2, 2, 1], x, [1 << 30, 1 << 30]).is_err());
        // An empty batch does not make a huge size affordable: the taps are per row.
        let none = TensorBuf::F32(vec![]);
        assert!(resize(PLAIN, vec![0, 2, 2, 1], none, [1 << 30, 1 << 30]).is_err());
    }
}
