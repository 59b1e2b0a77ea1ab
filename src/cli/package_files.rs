//! `dataforge package-files DIR` (hidden): what the installers ship beside the binary, made
//! from the program itself so they cannot drift from it — the man page and shell completions
//! from the command line's definition, the desktop entry's file types from the one format
//! table, and the icon in every size a desktop asks for.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Icon sizes of the hicolor theme the packages fill.
pub const ICON_SIZES: &[u32] = &[16, 24, 32, 48, 64, 128, 256, 512];

const ICON: &[u8] = include_bytes!("../../assets/icon.png");

#[derive(clap::Args, Debug)]
pub struct PackageFilesArgs {
    /// Where to write them (created if missing)
    #[arg(value_name = "DIR")]
    out: PathBuf,
}

pub fn run(o: &PackageFilesArgs) -> anyhow::Result<String> {
    let out = &o.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let command = || <super::Args as clap::CommandFactory>::command();

    let mut man = Vec::new();
    clap_mangen::Man::new(command()).render(&mut man).context("rendering the man page")?;
    write(&out.join("dataforge.1"), &man)?;

    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;
    for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut command(), "dataforge", &mut text);
        let name = match shell {
            clap_complete::Shell::Bash => "dataforge",
            clap_complete::Shell::Zsh => "_dataforge",
            _ => "dataforge.fish",
        };
        write(&completions.join(name), &text)?;
    }

    write(&out.join("dataforge.desktop"), desktop_entry().as_bytes())?;
    write(&out.join("dataforge.metainfo.xml"), metainfo().as_bytes())?;

    let icon = image::load_from_memory(ICON).context("reading the icon")?;
    for &size in ICON_SIZES {
        let dir = out.join("icons/hicolor").join(format!("{size}x{size}")).join("apps");
        std::fs::create_dir_all(&dir)?;
        let resized = icon.resize_exact(size, size, image::imageops::FilterType::Lanczos3);
        resized.save(dir.join("dataforge.png")).with_context(|| format!("writing the {size}px icon"))?;
    }
    Ok(format!("man page, completions, desktop entry, metainfo and {} icons in {}\n", ICON_SIZES.len(), out.display()))
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// The desktop entry, its file types from the format table.
pub fn desktop_entry() -> String {
    let mime: String = crate::engine::formats::all_mime_types().iter().map(|m| format!("{m};")).collect();
    format!(
        "[Desktop Entry]\nType=Application\nName=dataforge\nGenericName=Data workbench\n\
         Comment=Import, browse, profile, deduplicate and export CSV, Excel, JSON, Parquet and Arrow files\n\
         Exec=dataforge open %F\nIcon=dataforge\nTerminal=false\nCategories=Office;Development;Database;\n\
         Keywords=csv;excel;parquet;duckdb;data;table;\nStartupWMClass=dataforge\nMimeType={mime}\n"
    )
}

/// AppStream metadata: what software centres show.
fn metainfo() -> String {
    let mime: String = crate::engine::formats::all_mime_types().iter().map(|m| format!("    <mediatype>{m}</mediatype>\n")).collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<component type="desktop-application">
  <id>dataforge</id>
  <metadata_license>CC0-1.0</metadata_license>
  <project_license>MIT</project_license>
  <name>dataforge</name>
  <summary>Desktop data workbench over an embedded DuckDB</summary>
  <description>
    <p>Import CSV, Excel, JSON, Parquet and Arrow files of any size, browse them in tables that fetch only the rows in view, profile and check them, remove duplicates, find the same person written two ways, and export them, with progress and Cancel for every long operation. The same engine runs from the command line.</p>
  </description>
  <launchable type="desktop-id">dataforge.desktop</launchable>
  <provides>
    <binary>dataforge</binary>
{mime}  </provides>
  <releases>
    <release version="{version}"/>
  </releases>
  <content_rating type="oars-1.1"/>
</component>
"#,
        version = env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_files_are_whole_and_the_desktop_entry_claims_every_format() {
        let dir = tempfile::tempdir().unwrap();
        run(&PackageFilesArgs { out: dir.path().to_path_buf() }).unwrap();
        let entry = std::fs::read_to_string(dir.path().join("dataforge.desktop")).unwrap();
        let line = entry.lines().find_map(|l| l.strip_prefix("MimeType=")).expect("MimeType line");
        let claimed: Vec<&str> = line.split(';').filter(|m| !m.is_empty()).collect();
        for mime in crate::engine::formats::all_mime_types() {
            assert!(claimed.contains(&mime), "{mime} is missing from the desktop entry");
        }
        assert!(entry.contains("\nExec=dataforge open %F\n"));
        let man = std::fs::read_to_string(dir.path().join("dataforge.1")).unwrap();
        assert!(man.contains(".TH dataforge") && man.contains("match"), "the man page lists the commands");
        assert!(std::fs::read_to_string(dir.path().join("completions/dataforge")).unwrap().contains("profile"));
        for size in ICON_SIZES {
            let icon = image::open(dir.path().join(format!("icons/hicolor/{size}x{size}/apps/dataforge.png"))).unwrap();
            assert_eq!((icon.width(), icon.height()), (*size, *size));
        }
    }
}
