//! The on-disk format of `checkpoint.img`.
