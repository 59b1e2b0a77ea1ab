use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataforge::engine::view::View;
use dataforge::ui::DataforgeApp;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

use crate::common::{TestWorkspace, shared};

/// A file "dropped" on the window, as the OS delivers it: a path only.
#[derive(Debug)]
struct DroppedPath(PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        Err("the app must not read dropped files into memory".into())
    }
}

pub(crate) fn harness(t: &TestWorkspace) -> Harness<'static, DataforgeApp> {
    let ws = t.ws.clone();
    Harness::builder()
        .with_size([1280.0, 800.0])
        .build_eframe(move |cc| DataforgeApp::new(cc, ws, Vec::new()).expect("app"))
}

fn drop_file(harness: &mut Harness<'_, DataforgeApp>, path: PathBuf) {
    harness.input_mut().dropped_files.push(Arc::new(DroppedPath(path)));
}

/// Waits for the import window's preview, then presses its Import button.
fn confirm_import(h: &mut Harness<'_, DataforgeApp>) {
    step_until(h, "the import window", |h| h.state().state.import.is_some());
    step_until(h, "the preview", |h| h.state().state.import.as_ref().is_some_and(|d| d.preview.is_some()));
    h.get_by_label("Import").click();
    h.step();
}

pub(crate) fn has(h: &Harness<'_, DataforgeApp>, label: &str) -> bool {
    h.query_all_by_label(label).next().is_some()
}

pub(crate) fn has_text(h: &Harness<'_, DataforgeApp>, part: &str) -> bool {
    h.query_all_by_label_contains(part).next().is_some()
}

/// Opens the open table's Duplicates tab.
pub(crate) fn open_duplicates(h: &mut Harness<'_, DataforgeApp>) {
    h.get_by_label("Duplicates…").click();
    h.step();
    step_until(h, "the duplicates tab", |h| has(h, "Find duplicates") && has(h, "Similar values"));
}

/// Steps the app (background work keeps it repainting) until `found` holds.
pub(crate) fn step_until(harness: &mut Harness<'_, DataforgeApp>, what: &str, found: impl Fn(&Harness<'_, DataforgeApp>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !found(harness) {
        if Instant::now() > deadline {
            let grid = &harness.state().state.grid();
            let view = harness.state().state.view().map(|v| {
                format!("preparing {}, rows {}, first rows cached {}, error {:?}", v.is_preparing(), v.total_rows(), v.has_rows(0..10), v.error().or(v.view_error()))
            });
            panic!("timed out waiting for {what} (row window at {}, first visible row {}; view: {view:?})", grid.window_base, grid.first_visible);
        }
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn dropping_a_file_shows_progress_then_the_table() {
    let t = TestWorkspace::new();
    let mut h = harness(&t);
    h.step();
    assert!(has_text(&h, "Drop CSV, Excel, JSON, Parquet or Arrow files"), "welcome screen");

    drop_file(&mut h, shared().join("realdata/nycflights13/flights.csv.gz"));
    h.step();
    step_until(&mut h, "the preview rows", |h| has(h, "517") && has_text(h, "First 50 rows"));
    assert!(has(&h, "carrier"), "column names in the preview");
    confirm_import(&mut h);
    step_until(&mut h, "the job to finish", |h| has(h, "Import flights.csv.gz") && has(h, "Done"));
    // The finished job's figures: bytes read, rows, rows/s.
    assert!(has_text(&h, "7.8 MB · 336,776 rows · "), "job figures");
    step_until(&mut h, "the table header", |h| has(h, "336,776 rows"));
    // First row of flights: 2013-01-01, departed at 517, scheduled at 515.
    step_until(&mut h, "the first rows", |h| has(h, "517") && has(h, "515"));
    assert!(has_text(&h, "336,776 rows · 19 columns"), "catalog entry");
    assert_eq!(h.state().state.selected(), Some("flights"));
    for _ in 0..5 {
        h.step();
    }
    assert!(h.state().state.notices.is_empty(), "{:?}", h.state().state.notices);
}

#[test]
fn a_broken_drop_shows_a_plain_error_and_no_table() {
    let t = TestWorkspace::new();
    let mut csv = String::from("item,price\n");
    for i in 0..30_000 {
        csv.push_str(&format!("apple{i},{i}\n"));
    }
    csv.push_str("fig,cheap\n");
    let bad = crate::common::write_file(t.dir.path(), "prices.csv", &csv);
    let mut h = harness(&t);
    drop_file(&mut h, bad);
    h.step();
    step_until(&mut h, "the preview", |h| has(h, "apple0"));
    // The user says the price is a number; the file disagrees at its last line.
    h.state_mut().state.import.as_mut().unwrap().set_type("price", "BIGINT");
    h.step();
    h.get_by_label("Import").click();
    h.step();
    step_until(&mut h, "the failure", |h| has(h, "Failed"));
    let message = "prices.csv: line 30002, column \"price\": \"cheap\" is not a valid BIGINT";
    step_until(&mut h, "the message", |h| has_text(h, message));
    assert!(h.state().state.tables.is_empty());
    assert!(t.ws.tables().unwrap().is_empty());

    // Without the type, the column is kept as text and the window says why.
    let ok = crate::common::write_file(t.dir.path(), "prices2.csv", &csv);
    drop_file(&mut h, ok);
    h.step();
    confirm_import(&mut h);
    step_until(&mut h, "the notice", |h| has_text(h, "column \"price\" was kept as text: \"cheap\" at line 30,002"));
}

#[test]
fn clicking_a_header_sorts_the_table() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let mut h = harness(&t);
    step_until(&mut h, "the catalog", |h| has(h, "penguins"));
    h.get_by_label("penguins").click();
    h.step();
    step_until(&mut h, "the first rows", |h| has(h, "Torgersen"));
    h.get_by_label("body_mass_g").click();
    h.step();
    step_until(&mut h, "the sort", |h| has_text(h, "Sorted by body_mass_g"));
    // Lightest penguin first: 2700 g.
    step_until(&mut h, "sorted rows", |h| has(h, "2700"));
}

#[test]
fn a_100_million_row_table_jumps_to_its_last_row() {
    let t = TestWorkspace::new();
    t.ws.connect()
        .unwrap()
        .execute_batch("CREATE TABLE big AS SELECT range AS id, range % 997 AS k FROM range(100000000)")
        .unwrap();
    let mut h = harness(&t);
    step_until(&mut h, "the catalog", |h| has(h, "big"));
    h.get_by_label("big").click();
    h.step();
    step_until(&mut h, "the row count", |h| has(h, "100,000,000 rows"));
    // Row numbers start at 1: a "0" cell is data.
    step_until(&mut h, "the first rows", |h| has(h, "0") && has(h, "9"));

    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::End);
    step_until(&mut h, "the last row", |h| has(h, "100,000,000") && has(h, "99999999"));
    assert!(h.state().state.grid().window_base > 99_000_000, "the row window moved to the end");

    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Home);
    step_until(&mut h, "the first row again", |h| has(h, "0") && !has(h, "99999999"));
    assert_eq!(h.state().state.grid().window_base, 0);
}

#[test]
fn export_from_the_window_writes_the_file() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let out = t.dir.path().join("from-ui.parquet");
    let mut h = harness(&t);
    step_until(&mut h, "the catalog", |h| has(h, "penguins"));
    h.get_by_label("penguins").click();
    h.step();
    step_until(&mut h, "the table", |h| has(h, "Export…") && has(h, "Torgersen"));
    // The button is disabled until the table has loaded; press it until the window opens.
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.state().state.export.is_none() {
        assert!(Instant::now() < deadline, "timed out waiting for the export window");
        h.get_by_label("Export…").click();
        h.step();
        h.step();
    }
    h.step();
    let suggested = h.state().state.export.as_ref().unwrap().path.clone();
    let wanted = suggested.clone();
    let path_field = move || {
        let wanted = wanted.clone();
        move |n: &egui_kittest::kittest::AccessKitNode<'_>| n.role() == egui::accesskit::Role::TextInput && n.value().as_deref() == Some(wanted.as_str())
    };
    h.get_by(path_field()).focus();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by(path_field()).type_text(out.to_str().unwrap());
    h.step();
    assert_eq!(h.state().state.export.as_ref().map(|d| d.path.clone()), Some(out.to_string_lossy().into_owned()));
    h.get_by_label("Export").click();
    h.step();
    step_until(&mut h, "the export notice", |h| has_text(h, "Exported 344 rows to"));
    assert!(std::fs::metadata(&out).unwrap().len() > 1000);
}

#[test]
fn cancel_in_the_jobs_panel_stops_an_import() {
    let csv = crate::common::generated_csv(3_000_000);
    let t = TestWorkspace::new();
    let mut h = harness(&t);
    drop_file(&mut h, csv);
    h.step();
    confirm_import(&mut h);
    step_until(&mut h, "the running job", |h| has(h, "Running"));
    // Live figures while it reads: bytes of the file's size, rows so far.
    step_until(&mut h, "progress figures", |h| has_text(h, "MB of 319 MB") && has_text(h, " rows/s"));
    assert!(h.state().state.jobs[0].snapshot().state == dataforge::engine::job::JobState::Running);
    h.get_by_label("Cancel").click();
    h.step();
    step_until(&mut h, "the cancelled job", |h| has(h, "Cancelled"));
    assert!(t.ws.tables().unwrap().is_empty());
    assert!(t.all_table_names().is_empty());
}

/// Opens `table` from the catalog and waits for its first rows.
pub(crate) fn open_table(h: &mut Harness<'_, DataforgeApp>, table: &str, first_value: &str) {
    step_until(h, "the catalog", |h| has(h, table));
    h.get_by_label(table).click();
    h.step();
    step_until(h, "the first rows", |h| has(h, first_value));
}

/// Imports the penguins and opens them in the table view.
pub(crate) fn penguins_open(t: &TestWorkspace) -> Harness<'static, DataforgeApp> {
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let mut h = harness(t);
    open_table(&mut h, "penguins", "Torgersen");
    h
}

#[test]
fn columns_open_wide_enough_to_read() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/nycflights13/flights.csv.gz"), None).unwrap();
    let mut h = harness(&t);
    open_table(&mut h, "flights", "517");
    for _ in 0..3 {
        h.step();
    }
    // Each header is shown whole: no column at the 40 px minimum ("de…").
    for header in ["year", "month", "dep_time", "sched_dep_time", "dep_delay", "sched_arr_time"] {
        let header_rect = h.get_by_label(header).rect();
        let font = h.ctx.global_style().text_styles[&egui::TextStyle::Body].clone();
        let text_width = h.ctx.fonts_mut(|f| f.layout_no_wrap(header.to_string(), font, egui::Color32::WHITE).size().x);
        assert!(header_rect.width() >= text_width - 1.0, "{header}: {} < {text_width}", header_rect.width());
    }
    // A value wider than its header is whole too (no "644…").
    let value = h.query_all_by_label("2013").next().expect("a year value").rect();
    assert!(value.width() >= 28.0, "{value:?}");
}

#[test]
fn keys_scroll_the_grid_and_each_table_opens_at_its_top() {
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE big AS SELECT range AS id FROM range(100000); CREATE TABLE small AS SELECT range + 1000000 AS v FROM range(500)").unwrap();
    let mut h = harness(&t);
    open_table(&mut h, "big", "0");
    let page = h.state().state.grid().visible_rows - 1;
    assert!(page > 5, "{page} rows a page");
    h.key_press(egui::Key::PageDown);
    step_until(&mut h, "a page down", |h| h.state().state.grid().first_visible == page);
    h.key_press(egui::Key::ArrowDown);
    step_until(&mut h, "a row down", |h| h.state().state.grid().first_visible == page + 1);
    h.key_press(egui::Key::ArrowDown);
    step_until(&mut h, "another row down", |h| h.state().state.grid().first_visible == page + 2);
    h.key_press(egui::Key::ArrowUp);
    step_until(&mut h, "a row up", |h| h.state().state.grid().first_visible == page + 1);
    h.key_press(egui::Key::End);
    step_until(&mut h, "the last row", |h| has(h, "99999"));
    h.key_press(egui::Key::PageUp);
    step_until(&mut h, "a page up", |h| h.state().state.grid().first_visible < 100_000 - page);
    // Another table opens at its own first row, not at the scroll position of the last one.
    open_table(&mut h, "small", "1000000");
    assert_eq!(h.state().state.grid().first_visible, 0);
}

#[test]
fn sorting_is_a_job_with_progress_and_cancel() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    h.get_by_label("body_mass_g").click();
    h.step();
    step_until(&mut h, "the sort job", |h| has(h, "Sort penguins by body_mass_g"));
    step_until(&mut h, "the sort", |h| has_text(h, "Sorted by body_mass_g") && has(h, "Done"));
    step_until(&mut h, "sorted rows", |h| has(h, "2700"));
}

#[test]
fn a_long_sort_can_be_cancelled() {
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE big AS SELECT range AS id, hash(range) AS h FROM range(30000000)").unwrap();
    let mut h = harness(&t);
    open_table(&mut h, "big", "0");
    h.get_by_label("h").click();
    h.step();
    step_until(&mut h, "the sort job", |h| has(h, "Sort big by h") && has(h, "Running"));
    step_until(&mut h, "sorting", |h| has_text(h, "Sorted by h") && has(h, "sorting…"));
    h.get_by_label("Cancel").click();
    h.step();
    step_until(&mut h, "the cancelled sort", |h| has(h, "Cancelled"));
    step_until(&mut h, "the old order", |h| !has(h, "sorting…") && !has_text(h, "Sorted by h"));
    assert!(h.state().state.view().unwrap().view().sort.is_empty());
    assert!(has(&h, "0"), "the rows stayed on screen (row numbers start at 1: \"0\" is an id)");
}

#[test]
fn a_linked_file_is_counted_by_a_job_even_when_sorted_meanwhile() {
    let t = TestWorkspace::new();
    let flights = shared().join("realdata/nycflights13/flights.csv.gz");
    let link = dataforge::engine::import::linked::LinkJob::new(t.ws.clone(), &flights, Default::default());
    dataforge::engine::job::spawn(link, dataforge::engine::job::no_waker()).wait().unwrap();
    let mut h = harness(&t);
    step_until(&mut h, "the catalog", |h| has(h, "flights"));
    h.get_by_label("flights").click();
    h.step();
    step_until(&mut h, "the estimate", |h| has_text(h, "rows (counting…)") || has(h, "336,776 rows"));
    // A header click while counting must not lose the count.
    step_until(&mut h, "the header", |h| has(h, "dep_delay"));
    h.get_by_label("dep_delay").click();
    h.step();
    step_until(&mut h, "the count", |h| has(h, "336,776 rows"));
    assert!(has(&h, "Count the rows of flights"), "the count is a job in the jobs panel");
    step_until(&mut h, "the sort", |h| has_text(h, "Sorted by dep_delay"));
}

#[test]
fn the_built_in_file_chooser_imports_a_file() {
    let t = TestWorkspace::new();
    let data = t.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    crate::common::write_file(&data, "picked.csv", "fruit,n\napple,3\npear,5\n");
    let mut h = harness(&t);
    h.state_mut().state.dialogs.use_built_in();
    h.state_mut().state.last_import_dir = Some(data.clone());
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::O);
    h.step();
    step_until(&mut h, "the built-in chooser", |h| has_text(h, "picked.csv"));
    h.query_all_by_label_contains("picked.csv").next().unwrap().click();
    h.step();
    h.get_by_label("Open").click();
    h.step();
    step_until(&mut h, "the import window", |h| h.state().state.import.is_some());
    assert_eq!(h.state().state.import.as_ref().unwrap().paths, vec![data.join("picked.csv")]);
    confirm_import(&mut h);
    step_until(&mut h, "the table", |h| has(h, "pear"));
}

#[test]
fn the_import_window_fits_what_was_dropped() {
    let t = TestWorkspace::new();
    let mut h = harness(&t);
    let parquet = shared().join("corpora/parquet-testing/data/alltypes_plain.parquet");
    drop_file(&mut h, parquet);
    h.step();
    step_until(&mut h, "the preview", |h| h.state().state.import.as_ref().is_some_and(|d| d.preview.is_some()));
    assert!(!has(&h, "Bad lines"), "no line options for Parquet");
    h.get_by_label("Cancel").click();
    h.step();

    let a = crate::common::write_file(t.dir.path(), "a.csv", "x,y\n1,2\n");
    let b = crate::common::write_file(t.dir.path(), "b.csv", "name,size\nbig,99\n");
    h.input_mut().dropped_files.push(Arc::new(DroppedPath(a)));
    h.input_mut().dropped_files.push(Arc::new(DroppedPath(b)));
    h.step();
    step_until(&mut h, "the first file's preview", |h| has(h, "x") && has(h, "Bad lines"));
    assert!(has(&h, "Previewing"));
    h.state_mut().state.import.as_mut().unwrap().preview_file(1);
    step_until(&mut h, "the second file's preview", |h| has(h, "size") && has(h, "99"));
}

#[test]
fn notices_float_and_fold_instead_of_pushing_the_table_down() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    let row_top = h.query_all_by_label("Torgersen").next().unwrap().rect().top();
    for i in 0..5 {
        h.state_mut().state.info(format!("message {i}"));
    }
    h.step();
    h.step();
    assert!(has(&h, "message 4") && has(&h, "message 2") && !has(&h, "message 1"));
    assert!(has(&h, "2 earlier messages"));
    assert_eq!(h.query_all_by_label("Torgersen").next().unwrap().rect().top(), row_top, "the grid did not move");
    h.get_by_label("Dismiss all").click();
    h.step();
    assert!(h.state().state.notices.is_empty());
}

#[test]
fn the_glyphs_the_window_uses_are_in_its_fonts() {
    let t = TestWorkspace::new();
    let h = harness(&t);
    let font = egui::FontId::proportional(14.0);
    for glyphs in ["⏶⏷", "•", "…", "×", "—", "☰", "✖", "▶"] {
        assert!(h.ctx.fonts_mut(|f| f.has_glyphs(&font, glyphs)), "{glyphs} is missing from the fonts");
    }
    assert!(!h.ctx.fonts_mut(|f| f.has_glyphs(&font, "ⓘ")), "the old notice glyph rendered as a box");
}

#[test]
fn export_starts_in_the_folder_used_last() {
    let t = TestWorkspace::new();
    let out = tempfile::tempdir().unwrap();
    let mut h = penguins_open(&t);
    let target = out.path().join("first.csv");
    h.state_mut().state.push(dataforge::ui::Command::Export { view: View::table("penguins"), path: target.clone(), options: Default::default() });
    h.step();
    step_until(&mut h, "the export", |h| has_text(h, "Exported 344 rows to"));
    h.state_mut().state.push(dataforge::ui::Command::ShowExportDialog(View::table("penguins")));
    h.step();
    let draft = h.state().state.export.as_ref().unwrap().path.clone();
    assert_eq!(PathBuf::from(draft), out.path().join("penguins.parquet"));
}



#[test]
fn a_pipe_dropped_on_the_window_is_previewed_and_imported_whole() {
    let t = TestWorkspace::new();
    let fifo = t.dir.path().join("piped");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let writer_path = fifo.clone();
    let mut data = String::from("n,sq\n");
    for i in 0..1000 {
        data.push_str(&format!("{i},{}\n", i * i));
    }
    let writer = std::thread::spawn(move || std::fs::write(writer_path, data).unwrap());
    let mut h = harness(&t);
    drop_file(&mut h, fifo);
    h.step();
    confirm_import(&mut h);
    step_until(&mut h, "the table", |h| has(h, "1,000 rows"));
    writer.join().unwrap();
    assert_eq!(t.scalar("SELECT sum(sq) FROM piped"), "332833500");
}

/// The text field that has the keyboard.
pub(crate) fn focused_text(n: &egui_kittest::kittest::AccessKitNode<'_>) -> bool {
    n.role() == egui::accesskit::Role::TextInput && n.is_focused()
}

#[test]
fn a_column_filter_changes_the_count_and_shows_a_chip() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    assert!(has_text(&h, "344 rows"));
    // The first filter button is the first column's: species.
    h.get_all_by_label(dataforge::ui::table::FILTER_ICON).next().unwrap().click();
    h.step();
    step_until(&mut h, "the filter window", |h| has(h, "Filter species"));
    h.step();
    h.get_by(focused_text).type_text("gentoo");
    h.step();
    h.get_by_label("Apply").click();
    h.step();
    step_until(&mut h, "the filtered count", |h| has_text(h, "124 of 344 rows"));
    step_until(&mut h, "filtered rows", |h| has(h, "Gentoo") && !has(h, "Torgersen"));
    // The chip removes the filter again.
    h.get_by_label_contains("species contains \"gentoo\"").click();
    h.step();
    step_until(&mut h, "all rows again", |h| has_text(h, "344 rows") && !has_text(h, "of 344"));
}

#[test]
fn shift_click_adds_a_second_sort_key() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    h.get_by_label("island").click();
    h.step();
    step_until(&mut h, "the first key", |h| has_text(h, "Sorted by island ⏶"));
    h.get_by_label("body_mass_g").click_modifiers(egui::Modifiers::SHIFT);
    h.step();
    step_until(&mut h, "both keys", |h| has_text(h, "Sorted by island ⏶, body_mass_g ⏶"));
    assert_eq!(
        h.state().state.view().unwrap().view().sort,
        vec![dataforge::engine::view::SortKey::ascending("island"), dataforge::engine::view::SortKey::ascending("body_mass_g")]
    );
    // Headers number the keys; the lightest penguin on Biscoe comes first.
    assert!(has(&h, "island ⏶1") && has(&h, "body_mass_g ⏶2"));
    step_until(&mut h, "sorted rows", |h| has(h, "2850"));
}

#[test]
fn a_console_query_runs_and_its_result_exports() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let out = t.dir.path().join("by-island.csv");
    let mut h = harness(&t);
    step_until(&mut h, "the catalog", |h| has(h, "penguins"));
    h.get_by_label("SQL console").click();
    h.step();
    step_until(&mut h, "the console", |h| has(h, "▶ Run"));
    h.get_by(|n| n.role() == egui::accesskit::Role::MultilineTextInput).focus();
    h.step();
    h.get_by(|n| n.role() == egui::accesskit::Role::MultilineTextInput).type_text("SELECT island, count(*) AS n FROM penguins GROUP BY island ORDER BY n DESC");
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Enter);
    h.step();
    step_until(&mut h, "the result", |h| has_text(h, "Result: 3 rows") && has(h, "Biscoe"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.state().state.export.is_none() {
        assert!(Instant::now() < deadline, "timed out waiting for the export window");
        h.get_by_label("Export…").click();
        h.step();
        h.step();
    }
    let draft = h.state_mut().state.export.as_mut().unwrap();
    assert!(draft.view.source.table_name().is_none(), "the result, not a table");
    draft.path = out.to_string_lossy().into_owned();
    // The window grows to the CSV options and settles.
    for _ in 0..4 {
        h.step();
    }
    h.get_by_label("Export").click();
    h.step();
    step_until(&mut h, "the export notice", |h| has_text(h, "Exported 3 rows to"));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "island,n\nBiscoe,168\nDream,124\nTorgersen,52\n");
}

#[test]
fn a_console_error_names_its_line() {
    let t = TestWorkspace::new();
    let mut h = harness(&t);
    h.state_mut().state.push(dataforge::ui::Command::OpenConsole);
    h.step();
    step_until(&mut h, "the console", |h| has(h, "▶ Run"));
    h.get_by(|n| n.role() == egui::accesskit::Role::MultilineTextInput).focus();
    h.step();
    h.get_by(|n| n.role() == egui::accesskit::Role::MultilineTextInput).type_text("SELECT 1;\nSELECT *\nFROM nowhere");
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Enter);
    h.step();
    // Said in the editor's own lines: the statement starts on line 2.
    step_until(&mut h, "the error", |h| has_text(h, "line 3, column 6: Catalog Error: Table with name nowhere does not exist"));
}

/// The current tab is a finished profile, drawn.
pub(crate) fn profiled(h: &Harness<'_, DataforgeApp>) -> bool {
    h.state().state.active_tab().and_then(|t| t.profile()).is_some_and(|p| p.profile.is_some() && p.job.is_none()) && has_text(h, "duplicate rows ·")
}

#[test]
fn a_profile_opens_sorts_and_leads_to_the_rows_behind_a_value() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    h.get_by_label("Profile").click();
    h.step();
    step_until(&mut h, "the profile", profiled);
    let profile = |h: &Harness<'_, DataforgeApp>| h.state().state.active_tab().and_then(|t| t.profile()).map(|p| (p.sort, p.page));
    // Sort the overview by missing values, most first.
    h.get_by_label("Missing").click();
    h.step();
    h.step();
    assert_eq!(profile(&h).map(|p| p.0), Some((dataforge::ui::profile::SortBy::Missing, true)));
    // Open a column, then the rows behind one of its values.
    h.get_by_label("island").click();
    h.step();
    h.step();
    step_until(&mut h, "the column page", |h| profile(h).is_some_and(|p| p.1 == dataforge::ui::profile::Page::Column) && has(h, "Biscoe"));
    h.get_by_label("Dream").click();
    h.step();
    step_until(&mut h, "the filtered table", |h| has_text(h, "124 of 344 rows"));
    let view = h.state().state.view().unwrap().view().clone();
    assert_eq!(view.filters[0].to_string(), "island is one of \"Dream\"");
    // The profile was stored: opening it again shows it at once.
    let stored = dataforge::engine::profile::store::load(&t.ws.connect().unwrap(), "penguins").unwrap();
    assert!(stored.is_some_and(|s| !s.stale));
}

#[test]
fn a_failing_check_opens_its_failing_rows() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    h.get_by_label("Profile").click();
    h.step();
    step_until(&mut h, "the profile", profiled);
    h.get_by_label("Checks").click();
    h.step();
    // The first column (species) and the first rule (not null) are chosen: pick body_mass_g.
    {
        let state = &mut h.state_mut().state;
        let profile = state.active_tab_mut().and_then(|t| t.profile_mut()).unwrap();
        profile.draft.column = "body_mass_g".into();
    }
    h.get_by_label("Add check").click();
    h.step();
    step_until(&mut h, "the check", |h| has(h, "body_mass_g is not null"));
    h.get_by_label("Run checks").click();
    h.step();
    step_until(&mut h, "the result", |h| has_text(h, "fail: 2 rows"));
    h.step();
    h.get_by_label("Show failing rows").click();
    h.step();
    step_until(&mut h, "the failing rows", |h| has_text(h, "2 of 344 rows"));
    // The check was saved with the table.
    step_until(&mut h, "the saved check", |_| dataforge::engine::checks::load(&t.ws.connect().unwrap(), "penguins").unwrap().len() == 1);
}

#[test]
fn duplicates_are_reviewed_one_group_left_alone_and_removed_rows_kept() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    open_duplicates(&mut h);
    h.get_by_label("species").click();
    h.get_by_label("island").click();
    h.step();
    h.get_by_label("Find duplicates").click();
    h.step();
    // Five species and island pairs: 339 rows repeat one of them.
    step_until(&mut h, "the review", |h| has_text(h, "5 duplicate groups · 339 rows to remove"));
    // The largest group's rows show side by side, the kept row first.
    step_until(&mut h, "the group's rows", |h| has_text(h, "Group kept at row"));
    assert!(has(&h, "keep"));
    // Leave the smallest group (Adelie on Biscoe, 44 rows) alone.
    {
        let state = &mut h.state_mut().state;
        let dedupe = state.active_tab_mut().and_then(|t| t.dedupe_mut()).unwrap();
        let smallest = *dedupe.groups.last().unwrap();
        assert_eq!(smallest.1, 44);
        dedupe.excluded.insert(smallest.0);
    }
    h.step();
    step_until(&mut h, "the new count", |h| has_text(h, "296 rows to remove (1 groups left alone)"));
    h.get_by_label("Apply").click();
    h.step();
    step_until(&mut h, "the result", |h| has_text(h, "keeps 48 of 344 rows; the 296 removed rows are in penguins_removed"));
    // Both tables open in tabs.
    step_until(&mut h, "the tables' tabs", |h| has(h, "penguins_removed") && has(h, "penguins_deduplicated"));
    assert_eq!(t.scalar("SELECT count(*) FROM penguins_deduplicated"), "48");
    assert_eq!(t.scalar("SELECT count(*) FROM penguins_removed"), "296");
    assert_eq!(t.scalar("SELECT count(*) FROM penguins"), "344", "the table itself is untouched");
}

#[test]
fn similar_values_are_clustered_merged_and_the_merge_undone() {
    let t = TestWorkspace::new();
    let csv = crate::common::write_file(t.dir.path(), "cities.csv", "id,city\n1,New York\n2,New York\n3,new york \n4,York New\n5,Boston\n6,boston\n7,Paris\n");
    t.import(&csv, Some("cities")).unwrap();
    let mut h = harness(&t);
    open_table(&mut h, "cities", "Boston");
    open_duplicates(&mut h);
    h.get_by_label("Similar values").click();
    h.step();
    h.get_by_label("Find clusters").click();
    h.step();
    step_until(&mut h, "the clusters", |h| has_text(h, "2 clusters among 6 distinct values of city; 2 ticked to merge"));
    // Keep the Boston cluster as it is.
    h.state_mut().state.active_tab_mut().and_then(|t| t.dedupe_mut()).unwrap().values.chosen[1] = false;
    h.step();
    h.get_by_label("Merge ticked clusters").click();
    h.step();
    step_until(&mut h, "the merge", |h| has_text(h, "Merged 1 clusters: 2 rows changed"));
    // The clusters found before the merge are gone with their old values.
    h.step();
    assert!(!has_text(&h, "2 clusters among") && !has(&h, "York New"), "stale clusters after the merge");
    assert_eq!(t.scalar("SELECT string_agg(city, '|' ORDER BY id) FROM cities"), "New York|New York|New York|New York|Boston|boston|Paris");
    h.get_by_label("Undo the merge").click();
    h.step();
    step_until(&mut h, "the undo", |h| has_text(h, "Put back 2 values"));
    assert_eq!(t.scalar("SELECT string_agg(city, '|' ORDER BY id) FROM cities"), "New York|New York|new york |York New|Boston|boston|Paris");
}

#[test]
fn keyboard_shortcuts_open_export_switch_and_close_tabs_and_esc_closes_dialogs() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    // F1 lists every shortcut; Esc closes the list.
    h.key_press(egui::Key::F1);
    h.step();
    assert!(has(&h, "Keyboard shortcuts") && has(&h, "Ctrl+Tab / Ctrl+Shift+Tab") && has(&h, "Next / previous tab"));
    h.key_press(egui::Key::Escape);
    h.step();
    assert!(!h.state().state.show_shortcuts, "Esc closed the list");
    // Ctrl+E: the export dialog of the view shown; Esc closes it.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::E);
    h.step();
    step_until(&mut h, "the export dialog", |h| h.state().state.export.is_some());
    h.key_press(egui::Key::Escape);
    h.step();
    assert!(h.state().state.export.is_none(), "Esc closed the export dialog");
    // Ctrl+T a console beside the table; Ctrl+Tab and Ctrl+Shift+Tab go round; Ctrl+W closes.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::T);
    h.step();
    step_until(&mut h, "the console", |h| h.state().state.tabs.len() == 2);
    assert_eq!(h.state().state.active, 1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Tab);
    h.step();
    assert_eq!(h.state().state.active, 0);
    h.key_press_modifiers(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, egui::Key::Tab);
    h.step();
    assert_eq!(h.state().state.active, 1);
    // Icon buttons are named in words: the console's close button is "Close SQL 1"-like.
    assert!(has(&h, "Close penguins"), "the table tab's close button is named");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::W);
    h.step();
    assert_eq!(h.state().state.tabs.len(), 1);
    assert!(h.state().state.active_tab().and_then(|t| t.table()).is_some_and(|t| t == "penguins"), "the table's tab is left");
    // Help → About names the engines' versions.
    h.get_by_label("Help").click();
    h.step();
    step_until(&mut h, "the Help menu", |h| has(h, "About dataforge"));
    h.get_by_label("About dataforge").click();
    h.step();
    h.step();
    let versions = dataforge::engine::Versions::of_this_build();
    assert!(has(&h, &versions.duckdb) && has(&h, versions.polars), "{versions:?}");
}

#[test]
fn a_first_run_offers_the_sample_data_and_imports_it() {
    let t = TestWorkspace::new();
    let mut h = harness(&t);
    step_until(&mut h, "the empty state", |h| has(h, "Open sample data"));
    assert!(has_text(&h, "Drop CSV, Excel, JSON, Parquet or Arrow files here"));
    h.get_by_label("Open sample data").click();
    h.step();
    step_until(&mut h, "the sample table", |h| h.state().state.tables.iter().any(|x| x.name == "penguins" && x.rows == 344));
    step_until(&mut h, "its rows", |h| has(h, "Torgersen"));
    assert_eq!(t.scalar("SELECT count(DISTINCT species) FROM penguins"), "3");
    // With a table in the workspace the offer is gone.
    h.state_mut().state.push(dataforge::ui::state::Command::CloseTab(0));
    h.step();
    h.step();
    assert!(!has(&h, "Open sample data"));
}

#[test]
fn a_long_job_ending_in_the_background_asks_for_attention() {
    let t = TestWorkspace::new();
    let mut h = harness(&t);
    // Every job counts as long here; the window is in the background.
    h.state_mut().attention_after = Duration::ZERO;
    h.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default().focused = Some(false);
    step_until(&mut h, "the empty state", |h| has(h, "Open sample data"));
    h.get_by_label("Open sample data").click();
    h.step();
    step_until(&mut h, "the import", |h| h.state().state.tables.iter().any(|x| x.name == "penguins"));
    step_until(&mut h, "the request", |h| h.state().attention_requests >= 1);
    // In front, nothing is asked.
    let asked = h.state().attention_requests;
    h.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default().focused = Some(true);
    let csv = crate::common::write_file(t.dir.path(), "more.csv", "a,b\n1,2\n");
    let options = dataforge::engine::import::ImportOptions { table: Some("more".into()), ..Default::default() };
    h.state_mut().state.push(dataforge::ui::state::Command::RunImport { paths: vec![csv], options, keep: Vec::new() });
    step_until(&mut h, "the second import", |h| h.state().state.tables.iter().any(|x| x.name == "more"));
    for _ in 0..5 {
        h.step();
    }
    assert_eq!(h.state().attention_requests, asked);
}

#[test]
fn enter_imports_from_the_import_window() {
    let t = TestWorkspace::new();
    let csv = crate::common::write_file(t.dir.path(), "keys.csv", "a,b\n1,x\n2,y\n");
    let mut h = harness(&t);
    drop_file(&mut h, csv);
    h.step();
    step_until(&mut h, "the preview", |h| h.state().state.import.as_ref().is_some_and(|d| d.preview.is_some()));
    h.key_press(egui::Key::Enter);
    h.step();
    step_until(&mut h, "the table", |h| h.state().state.tables.iter().any(|x| x.name == "keys" && x.rows == 2));
    assert!(h.state().state.import.is_none(), "the window closed");
}

#[test]
fn the_memory_warning_is_raised_when_its_threshold_is_passed() {
    let t = TestWorkspace::new();
    let mut settings = t.ws.settings();
    assert_eq!(settings.memory_warning_percent, 80, "the default");
    let mut h = harness(&t);
    h.run_steps(3);
    assert!(h.state().state.memory_warning.is_none(), "no warning at 80 % of a limit this process is far below");
    // A limit this process is already past.
    settings.memory_limit_bytes = 64 << 20;
    settings.memory_warning_percent = 1;
    t.ws.update_settings(settings).unwrap();
    step_until(&mut h, "the warning", |h| h.state().state.memory_warning.is_some());
    h.step();
    assert!(has_text(&h, "Memory warning: the process uses") && has_text(&h, "more than 1 % of its memory limit of 64.0 MB"));
    assert!(has_text(&h, "warning raised"), "the graph marks it");
    // Back under the threshold, the warning is lowered.
    let mut settings = t.ws.settings();
    settings.memory_limit_bytes = 8 << 30;
    settings.memory_warning_percent = 90;
    t.ws.update_settings(settings).unwrap();
    step_until(&mut h, "the warning lowered", |h| h.state().state.memory_warning.is_none());
}

#[test]
fn recent_files_and_the_theme_and_text_size_apply_from_the_window() {
    let t = TestWorkspace::new();
    let csv = crate::common::write_file(t.dir.path(), "first.csv", "a,b\n1,x\n");
    let mut h = harness(&t);
    let options = dataforge::engine::import::ImportOptions { table: Some("first".into()), ..Default::default() };
    h.state_mut().state.push(dataforge::ui::state::Command::RunImport { paths: vec![csv.clone()], options, keep: Vec::new() });
    step_until(&mut h, "the import", |h| h.state().state.tables.iter().any(|x| x.name == "first"));
    // File → Recent files → first.csv opens the import window for it again.
    h.get_by_label("File").click();
    h.step();
    step_until(&mut h, "the File menu", |h| has(h, "Recent files"));
    h.get_by_label("Recent files").click();
    h.step();
    step_until(&mut h, "the recent files", |h| has(h, "first.csv"));
    h.get_by_label("first.csv").click();
    h.step();
    step_until(&mut h, "the import window", |h| h.state().state.import.is_some());
    assert_eq!(h.state().state.import.as_ref().unwrap().paths, vec![std::fs::canonicalize(&csv).unwrap()]);
    h.key_press(egui::Key::Escape);
    h.step();
    // Settings: light, and larger text, at once.
    h.state_mut().state.push(dataforge::ui::state::Command::ShowSettings);
    h.step();
    step_until(&mut h, "the settings", |h| has(h, "Light"));
    h.run_steps(5);
    h.get_by_label("Light").click();
    h.run_steps(2);
    assert_eq!(h.state().state.theme, egui::ThemePreference::Light);
    h.state_mut().state.text_scale = 1.2;
    h.step();
    h.step();
    assert_eq!(h.ctx.theme(), egui::Theme::Light);
    assert!((h.ctx.zoom_factor() - 1.2).abs() < 1e-6);
    assert_eq!(h.state().state.recent_workspaces.first(), Some(&std::fs::canonicalize(t.ws.path()).unwrap()), "this workspace is the newest");
}
