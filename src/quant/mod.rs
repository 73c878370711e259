//! Post-training quantization: IR → IR passes (full-integer int8, dynamic range,
//! float16) with calibration through the float interpreter.
