//! DuckDB's Arrow arrays (arrow-rs) handed to Polars through the Arrow C data interface,
//! without copying the buffers.

use arrow::array::{Array, ArrayRef};
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema, to_ffi};
use polars::prelude::{PlSmallStr, Series};

use crate::engine::error::{EngineError, Result};

fn bridge_error(what: impl std::fmt::Display) -> EngineError {
    EngineError::Database(format!("handing Arrow data to Polars: {what}"))
}

/// One arrow-rs array as a Polars array.
fn to_polars(array: &ArrayRef) -> Result<Box<dyn polars_arrow::array::Array>> {
    let (ffi_array, ffi_schema) = to_ffi(&array.to_data()).map_err(bridge_error)?;
    // Both sides are the C data interface's `#[repr(C)]` structs; ownership of the buffers
    // moves with the array struct (its release callback), the schema is only read.
    const _: () = assert!(size_of::<FFI_ArrowArray>() == size_of::<polars_arrow::ffi::ArrowArray>());
    const _: () = assert!(size_of::<FFI_ArrowSchema>() == size_of::<polars_arrow::ffi::ArrowSchema>());
    let schema: polars_arrow::ffi::ArrowSchema = unsafe { std::mem::transmute(ffi_schema) };
    let array: polars_arrow::ffi::ArrowArray = unsafe { std::mem::transmute(ffi_array) };
    let field = unsafe { polars_arrow::ffi::import_field_from_c(&schema) }.map_err(bridge_error)?;
    unsafe { polars_arrow::ffi::import_array_from_c(array, field.dtype) }.map_err(bridge_error)
}

/// Arrays of one column (one per Arrow batch) as a Polars Series of as many chunks.
pub fn series(name: &str, arrays: &[ArrayRef]) -> Result<Series> {
    let chunks = arrays.iter().map(to_polars).collect::<Result<Vec<_>>>()?;
    Series::from_arrow_chunks(PlSmallStr::from(name), chunks).map_err(bridge_error)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BooleanArray, Float64Array, Int64Array, StringArray};

    use super::*;

    #[test]
    fn arrays_cross_with_their_values_and_nulls() {
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(i64::MIN), None, Some(i64::MAX)]));
        let more: ArrayRef = Arc::new(Int64Array::from(vec![Some(7)]));
        let s = series("i", &[ints, more]).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s.null_count(), 1);
        assert_eq!(s.i64().unwrap().iter().collect::<Vec<_>>(), vec![Some(i64::MIN), None, Some(i64::MAX), Some(7)]);

        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("ä\"b"), None, Some("")]));
        let s = series("t", &[text]).unwrap();
        assert_eq!(s.str().unwrap().iter().collect::<Vec<_>>(), vec![Some("ä\"b"), None, Some("")]);

        let floats: ArrayRef = Arc::new(Float64Array::from(vec![Some(f64::NAN), Some(f64::NEG_INFINITY), None]));
        let s = series("f", &[floats]).unwrap();
        let v: Vec<_> = s.f64().unwrap().iter().collect();
        assert!(v[0].unwrap().is_nan() && v[1] == Some(f64::NEG_INFINITY) && v[2].is_none());

        let bools: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)]));
        let s = series("b", &[bools]).unwrap();
        assert_eq!(s.bool().unwrap().iter().collect::<Vec<_>>(), vec![Some(true), None, Some(false)]);
    }
}
