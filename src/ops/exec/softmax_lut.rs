//! 8-bit SOFTMAX by a table of exponentials (LiteRT's default kernel on x86, used where
//! its reference kernel cannot run the model): the prepared table and its kernel; the
//! algorithm is in `kernels::reference::softmax`.

use std::marker::PhantomData;

use super::q8::{q8_input, q8_output, Q8};
use super::shape::check_len;
use super::Kernel;
use crate::ir::KernelError;
use crate::ir::{View, ViewMut};
use crate::kernels::reference::softmax::{exp_table, softmax_row, TableOutput};

/// The prepared table SOFTMAX of one 8-bit type.
pub struct SoftmaxTable<T> {
    table: [f32; 256],
    output_scale: f32,
    output_zero_point: i32,
    depth: usize,
    len: usize,
    elem: PhantomData<fn() -> T>,
}

impl<T> SoftmaxTable<T> {
    pub fn new(
        beta: f32,
        input_scale: f32,
        (output_scale, output_zero_point): (f32, i32),
        depth: usize,
        len: usize,
    ) -> SoftmaxTable<T> {
        SoftmaxTable {
            table: exp_table(beta, input_scale),
            output_scale,
            output_zero_point,
            depth,
            len,
            elem: PhantomData,
        }
    }
}

impl<T: Q8 + TableOutput> Kernel for SoftmaxTable<T> {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let x = q8_input::<T>(inputs, 0)?;
        let y = q8_output::<T>(outputs)?;
        check_len("input", x.len(), self.len)?;
        check_len("output", y.len(), self.len)?;
        if self.depth == 0 {
            return Ok(());
        }
        for (xr, yr) in x
            .chunks_exact(self.depth)
            .zip(y.chunks_exact_mut(self.depth))
        {
            softmax_row(
                &self.table,
                self.output_scale,
                self.output_zero_point,
                xr,
                yr,
            );
        }
        Ok(())
    }
}
