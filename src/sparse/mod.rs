//! Sparse tensor encodings (TACO-style, as TFLite stores them): densify and encode.
