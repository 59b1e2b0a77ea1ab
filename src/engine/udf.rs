//! What the scalar functions registered on every connection share: reading a VARCHAR column
//! of the chunk DuckDB hands them.

use duckdb::core::DataChunkHandle;
use duckdb::ffi;

/// The texts of VARCHAR column `column` of `input`, `None` where NULL.
///
/// # Safety
/// Column `column` of `input` must be a flat VARCHAR vector of `input.len()` rows (what
/// DuckDB hands a scalar function registered with VARCHAR there), and the texts must not
/// outlive the chunk.
pub unsafe fn texts(input: &DataChunkHandle, column: usize) -> Vec<Option<&[u8]>> {
    let rows = input.len();
    // SAFETY: as the caller promises, the vector holds `rows` string_t values and its validity,
    // when present, covers them.
    unsafe {
        let vector = ffi::duckdb_data_chunk_get_vector(input.get_ptr(), column as u64);
        let strings = ffi::duckdb_vector_get_data(vector).cast::<ffi::duckdb_string_t>();
        let validity = ffi::duckdb_vector_get_validity(vector);
        (0..rows)
            .map(|row| {
                let valid = validity.is_null() || ffi::duckdb_validity_row_is_valid(validity, row as u64);
                valid.then(|| {
                    let string = &mut *strings.add(row);
                    let len = ffi::duckdb_string_t_length(*string) as usize;
                    std::slice::from_raw_parts(ffi::duckdb_string_t_data(string).cast::<u8>(), len)
                })
            })
            .collect()
    }
}
