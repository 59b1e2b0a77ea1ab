//! DuckDB's Arrow arrays (arrow-rs) handed to Polars through the Arrow C data interface,
//! without copying the buffers.

use arrow::array::{Array, ArrayRef, Decimal128Array};
use arrow::datatypes::DataType;
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

/// Arrays of one column (one per Arrow batch) as a Polars Series of as many chunks. DECIMAL
/// arrays (DuckDB hands HUGEINT over as DECIMAL(38,0) too) become their unscaled 128-bit
/// integers: the scale is the caller's to know, and no digit is lost.
pub fn series(name: &str, arrays: &[ArrayRef]) -> Result<Series> {
    let is_decimal = |a: &ArrayRef| matches!(a.data_type(), DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..));
    if arrays.first().is_some_and(is_decimal) {
        return decimal_keys(name, arrays);
    }
    let chunks = arrays.iter().map(to_polars).collect::<Result<Vec<_>>>()?;
    Series::from_arrow_chunks(PlSmallStr::from(name), chunks).map_err(bridge_error)
}

fn decimal_keys(name: &str, arrays: &[ArrayRef]) -> Result<Series> {
    use polars::prelude::{Int128Chunked, IntoSeries as _, NewChunkedArray as _};
    let mut keys: Vec<Option<i128>> = Vec::with_capacity(arrays.iter().map(|a| a.len()).sum());
    for array in arrays {
        let scale = match array.data_type() {
            DataType::Decimal32(_, s) | DataType::Decimal64(_, s) | DataType::Decimal128(_, s) | DataType::Decimal256(_, s) => *s,
            other => return Err(bridge_error(format!("a decimal column holds {other}"))),
        };
        let wide = arrow::compute::cast(array, &DataType::Decimal128(38, scale)).map_err(bridge_error)?;
        let wide = wide.as_any().downcast_ref::<Decimal128Array>().ok_or_else(|| bridge_error("a decimal column is not DECIMAL(38)"))?;
        keys.extend(wide.iter());
    }
    Ok(Int128Chunked::from_iter_options(PlSmallStr::from(name), keys.into_iter()).into_series())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{BooleanArray, Decimal128Array, Float64Array, Int64Array, StringArray};

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

        let decimals: ArrayRef = Arc::new(Decimal128Array::from(vec![Some(i128::MAX), None, Some(-15)]).with_precision_and_scale(38, 10).unwrap());
        let s = series("d", &[decimals]).unwrap();
        assert_eq!(s.i128().unwrap().iter().collect::<Vec<_>>(), vec![Some(i128::MAX), None, Some(-15)]);
    }
}
