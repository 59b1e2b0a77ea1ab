//! Arrow IPC file and stream, written from DuckDB's own Arrow batches as they stream out of
//! the query (one batch in memory at a time, any size of view).

use std::io::Write;

use arrow::ipc::CompressionType;
use arrow::ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};

use super::{Codec, ExportFormat, Written};
use crate::engine::error::{EngineError, Result};
use crate::engine::job::JobCtx;
use crate::engine::view::CompiledView;
use crate::engine::workspace::WsConnection;

/// Counts the bytes passed on.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One of the two IPC writers.
enum IpcWriter<W: Write> {
    File(FileWriter<W>),
    Stream(StreamWriter<W>),
}

fn arrow_error(e: arrow::error::ArrowError) -> EngineError {
    match e {
        arrow::error::ArrowError::IoError(text, source) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            EngineError::Database(format!("the reader closed the stream: {text}"))
        }
        other => EngineError::Database(format!("writing Arrow: {other}")),
    }
}

pub(super) fn write(conn: &WsConnection, compiled: &CompiledView, out: &mut impl Write, format: ExportFormat, codec: Codec, ctx: &JobCtx) -> Result<Written> {
    let compression = match codec {
        Codec::Zstd => Some(CompressionType::ZSTD),
        Codec::Lz4 => Some(CompressionType::LZ4_FRAME),
        _ => None,
    };
    let options = IpcWriteOptions::default().try_with_compression(compression).map_err(arrow_error)?;
    let mut stmt = conn.prepare(&compiled.select())?;
    let stream = stmt.stream_arrow(compiled.params())?;
    let schema = stream.get_schema();
    let mut sink = Counting { inner: out, bytes: 0 };
    let mut writer = match format {
        ExportFormat::ArrowStream => IpcWriter::Stream(StreamWriter::try_new_with_options(&mut sink, &schema, options).map_err(arrow_error)?),
        _ => IpcWriter::File(FileWriter::try_new_with_options(&mut sink, &schema, options).map_err(arrow_error)?),
    };
    let mut rows = 0u64;
    for batch in stream {
        ctx.checkpoint()?;
        let batch = batch?;
        rows += batch.num_rows() as u64;
        match &mut writer {
            IpcWriter::File(w) => w.write(&batch),
            IpcWriter::Stream(w) => w.write(&batch),
        }
        .map_err(arrow_error)?;
        ctx.progress(0, rows);
    }
    ctx.checkpoint()?;
    match &mut writer {
        IpcWriter::File(w) => w.finish(),
        IpcWriter::Stream(w) => w.finish(),
    }
    .map_err(arrow_error)?;
    drop(writer);
    sink.flush().map_err(|e| EngineError::Database(format!("writing Arrow: {e}")))?;
    Ok(Written { rows, bytes: sink.bytes, ..Written::default() })
}
