//! The one table of file formats dataforge reads: names, extensions and MIME types. Format
//! detection, table names derived from file names, the open dialog's filter, the CLI's
//! `--format` names and the desktop entry all read it, so they cannot disagree.

use serde::{Deserialize, Serialize};

use super::error::{EngineError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    Parquet,
    Json,
    Excel,
    Arrow,
}

pub struct FormatInfo {
    pub format: FileFormat,
    pub label: &'static str,
    /// Lower case, without the dot.
    pub extensions: &'static [&'static str],
    /// Accepted by `--format`.
    pub names: &'static [&'static str],
    pub mime_types: &'static [&'static str],
}

pub const FORMATS: [FormatInfo; 5] = [
    FormatInfo {
        format: FileFormat::Csv,
        label: "CSV / delimited text",
        extensions: &["csv", "tsv", "txt", "psv", "tab", "dat"],
        names: &["csv", "tsv", "text", "txt"],
        mime_types: &["text/csv", "text/tab-separated-values"],
    },
    FormatInfo {
        format: FileFormat::Parquet,
        label: "Parquet",
        extensions: &["parquet", "pq"],
        names: &["parquet"],
        mime_types: &["application/vnd.apache.parquet"],
    },
    FormatInfo {
        format: FileFormat::Json,
        label: "JSON / NDJSON",
        extensions: &["json", "jsonl", "ndjson", "geojson"],
        names: &["json", "ndjson", "jsonl"],
        mime_types: &["application/json", "application/x-ndjson", "application/geo+json"],
    },
    FormatInfo {
        format: FileFormat::Excel,
        label: "Excel / ODS",
        extensions: &["xlsx", "xlsm", "xlsb", "xls", "xla", "xlam", "ods"],
        names: &["excel", "xlsx", "xls", "xlsb", "xlsm", "ods"],
        mime_types: &[
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-excel.sheet.macroEnabled.12",
            "application/vnd.ms-excel.sheet.binary.macroEnabled.12",
            "application/vnd.ms-excel",
            "application/vnd.oasis.opendocument.spreadsheet",
        ],
    },
    FormatInfo {
        format: FileFormat::Arrow,
        label: "Arrow IPC",
        extensions: &["arrow", "arrows", "feather", "ipc", "arrow_file", "stream"],
        names: &["arrow", "ipc", "feather"],
        mime_types: &["application/vnd.apache.arrow.file", "application/vnd.apache.arrow.stream"],
    },
];

/// Compressions read through (`data.csv.gz`).
pub const COMPRESSED_EXTENSIONS: [&str; 2] = ["gz", "zst"];
/// Archives whose members are imported.
pub const ARCHIVE_EXTENSIONS: [&str; 1] = ["zip"];
pub const WRAPPER_MIME_TYPES: [&str; 3] = ["application/gzip", "application/zstd", "application/zip"];

impl FileFormat {
    pub const ALL: [FileFormat; 5] = [Self::Csv, Self::Parquet, Self::Json, Self::Excel, Self::Arrow];

    pub fn info(self) -> &'static FormatInfo {
        FORMATS.iter().find(|f| f.format == self).unwrap_or(&FORMATS[0])
    }

    pub fn label(self) -> &'static str {
        self.info().label
    }

    /// The format of a `--format` name.
    ///
    /// # Failure
    /// `InvalidOption` for a name no format has.
    pub fn parse(text: &str) -> Result<Self> {
        let lower = text.to_ascii_lowercase();
        FORMATS.iter().find(|f| f.names.contains(&lower.as_str())).map(|f| f.format).ok_or_else(|| {
            let names: Vec<&str> = FORMATS.iter().map(|f| f.names[0]).collect();
            EngineError::InvalidOption(format!("unknown format \"{text}\" ({})", names.join(", ")))
        })
    }

    /// The format a file name says it has, looking through `.gz`/`.zst`.
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let mut base = lower.as_str();
        for ext in COMPRESSED_EXTENSIONS {
            base = base.strip_suffix(&format!(".{ext}")).unwrap_or(base);
        }
        let (_, ext) = base.rsplit_once('.')?;
        FORMATS.iter().find(|f| f.extensions.contains(&ext)).map(|f| f.format)
    }
}

/// True for an extension dataforge reads (a format's, a compression's or an archive's).
pub fn is_known_extension(ext: &str) -> bool {
    let ext = ext.to_ascii_lowercase();
    FORMATS.iter().any(|f| f.extensions.contains(&ext.as_str()))
        || COMPRESSED_EXTENSIONS.contains(&ext.as_str())
        || ARCHIVE_EXTENSIONS.contains(&ext.as_str())
}

/// Every extension an open dialog should offer.
pub fn all_extensions() -> Vec<&'static str> {
    FORMATS
        .iter()
        .flat_map(|f| f.extensions.iter().copied())
        .chain(COMPRESSED_EXTENSIONS)
        .chain(ARCHIVE_EXTENSIONS)
        .collect()
}

/// Every MIME type the desktop entry should claim.
pub fn all_mime_types() -> Vec<&'static str> {
    FORMATS.iter().flat_map(|f| f.mime_types.iter().copied()).chain(WRAPPER_MIME_TYPES).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_extensions() {
        assert_eq!(FileFormat::from_name("a.CSV.gz"), Some(FileFormat::Csv));
        assert_eq!(FileFormat::from_name("a.xlsb"), Some(FileFormat::Excel));
        assert_eq!(FileFormat::from_name("x.feather.zst"), Some(FileFormat::Arrow));
        assert_eq!(FileFormat::from_name("README"), None);
        assert_eq!(FileFormat::parse("NDJSON").unwrap(), FileFormat::Json);
        assert!(matches!(FileFormat::parse("xml"), Err(EngineError::InvalidOption(_))));
        assert!(is_known_extension("ZIP") && is_known_extension("ods") && !is_known_extension("exe"));
    }
}
