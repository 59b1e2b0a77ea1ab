//! The window at its default size, driven as a person would: what a walkthrough found
//! wrong, each checked where it shows.

use std::time::{Duration, Instant};

use dataforge::engine::view::{Condition, Filter, View};
use dataforge::ui::{Command, DataforgeApp};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

use crate::common::{TestWorkspace, shared, write_file};
use crate::ui::{harness, has, has_text, open_duplicates, open_table, penguins_open, profiled, step_until};

/// Types `sql` into the current console and runs it.
fn run_in_console(h: &mut Harness<'_, DataforgeApp>, sql: &str) {
    let editor = |n: &egui_kittest::kittest::AccessKitNode<'_>| n.role() == egui::accesskit::Role::MultilineTextInput;
    h.get_by(editor).focus();
    h.step();
    h.state_mut().state.active_tab_mut().and_then(|t| t.console_mut()).expect("a console").text.clear();
    h.step();
    h.get_by(editor).type_text(sql);
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Enter);
    h.step();
}

fn open_console(h: &mut Harness<'_, DataforgeApp>) {
    h.state_mut().state.push(Command::OpenConsole);
    h.step();
    step_until(h, "the console", |h| has(h, "▶ Run"));
}

/// The console's last statement finished.
fn console_idle(h: &Harness<'_, DataforgeApp>) -> bool {
    h.state().state.active_tab().and_then(|t| t.console()).is_some_and(|c| c.running.is_none())
}

fn profile_penguins(t: &TestWorkspace) -> Harness<'static, DataforgeApp> {
    let mut h = penguins_open(t);
    h.get_by_label("Profile").click();
    h.step();
    step_until(&mut h, "the profile", profiled);
    h
}

#[test]
fn a_report_file_that_exists_is_replaced_only_when_asked() {
    let t = TestWorkspace::new();
    let mut h = profile_penguins(&t);
    let report = write_file(t.dir.path(), "penguins-profile.html", "my own notes");
    h.state_mut().state.active_tab_mut().and_then(|t| t.profile_mut()).unwrap().report_path = report.to_string_lossy().into_owned();
    h.step();
    h.get_by_label("Save HTML").click();
    h.step();
    step_until(&mut h, "the question", |h| has_text(h, "exists. Replace it?"));
    assert_eq!(std::fs::read_to_string(&report).unwrap(), "my own notes");
    // Both answers are inside the window.
    for answer in ["Replace", "Keep it"] {
        let rect = h.get_by_label(answer).rect();
        assert!(rect.max.x <= 1280.0, "{answer} at {rect:?}");
    }
    h.get_by_label("Keep it").click();
    h.step();
    h.step();
    assert!(!has_text(&h, "Replace it?"));
    assert_eq!(std::fs::read_to_string(&report).unwrap(), "my own notes");
    // Asked again and answered yes, the report takes its place.
    h.get_by_label("Save HTML").click();
    h.step();
    step_until(&mut h, "the question", |h| has(h, "Replace"));
    h.get_by_label("Replace").click();
    h.step();
    step_until(&mut h, "the saved report", |h| has_text(h, "Report saved to"));
    assert!(std::fs::read_to_string(&report).unwrap().contains("penguins"));
}

#[test]
fn compacting_keeps_the_open_tabs_their_sql_and_their_filters() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    let dream = Filter { column: "island".into(), condition: Condition::OneOf { values: vec!["Dream".into()], include_null: false } };
    h.state_mut().state.push(Command::FilterTable { table: "penguins".into(), filter: dream });
    h.step();
    step_until(&mut h, "the filtered count", |h| has_text(h, "124 of 344 rows"));
    open_console(&mut h);
    h.state_mut().state.active_tab_mut().and_then(|t| t.console_mut()).unwrap().text = "SELECT 42 -- typed, not run".into();
    let titles: Vec<String> = h.state().state.tabs.iter().map(|t| t.title()).collect();
    h.state_mut().state.push(Command::CompactWorkspace);
    h.step();
    step_until(&mut h, "the compaction", |h| has_text(h, "Compacted the workspace from") && h.state().state.memory.is_some());
    assert_eq!(h.state().state.tabs.iter().map(|t| t.title()).collect::<Vec<_>>(), titles);
    let console = h.state().state.tabs.iter().find_map(|t| t.console()).expect("the console tab");
    assert_eq!(console.text, "SELECT 42 -- typed, not run");
    // The table's tab comes back with its filter.
    h.state_mut().state.push(Command::SelectTab(0));
    h.step();
    step_until(&mut h, "the filtered table", |h| has_text(h, "124 of 344 rows"));
    assert_eq!(h.state().state.view().unwrap().view().filters[0].to_string(), "island is one of \"Dream\"");
}

#[test]
fn a_console_delete_shows_in_the_catalog_count() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let mut h = harness(&t);
    step_until(&mut h, "the catalog", |h| has_text(h, "344 rows"));
    open_console(&mut h);
    run_in_console(&mut h, "DELETE FROM penguins WHERE island = 'Dream'");
    step_until(&mut h, "the delete", console_idle);
    step_until(&mut h, "the new count", |h| has_text(h, "220 rows"));
    assert_eq!(h.state().state.tables.iter().find(|t| t.name == "penguins").map(|t| t.rows), Some(220));
}

#[test]
fn the_console_keeps_a_transaction_and_temporary_tables_between_statements() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let mut h = harness(&t);
    step_until(&mut h, "the catalog", |h| has(h, "penguins"));
    open_console(&mut h);
    // Ctrl+Enter runs the statement at the cursor: one at a time, as a user does.
    run_in_console(&mut h, "BEGIN");
    step_until(&mut h, "the transaction", console_idle);
    run_in_console(&mut h, "DELETE FROM penguins");
    step_until(&mut h, "the delete", console_idle);
    assert_eq!(t.scalar("SELECT count(*) FROM penguins"), "344", "not committed: other connections still see every row");
    run_in_console(&mut h, "ROLLBACK");
    step_until(&mut h, "the rollback", console_idle);
    assert_eq!(t.scalar("SELECT count(*) FROM penguins"), "344", "ROLLBACK undid the delete");
    run_in_console(&mut h, "CREATE TEMP TABLE picked AS SELECT * FROM penguins WHERE island = 'Biscoe'");
    step_until(&mut h, "the temporary table", console_idle);
    run_in_console(&mut h, "SELECT count(*) AS n FROM picked");
    step_until(&mut h, "its count", |h| console_idle(h) && has(h, "168"));
}

#[test]
fn clear_sort_stays_inside_the_window_at_1280_px() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    h.get_by_label("island").click();
    h.step();
    step_until(&mut h, "the sort", |h| has(h, "Clear sort"));
    h.step();
    let sorting = h.get_by_label("Clear sort").rect();
    step_until(&mut h, "the sorted rows", |h| !has(h, "sorting…"));
    assert_eq!(h.get_by_label("Clear sort").rect(), sorting, "the button stays put when the sort lands");
    let clear = h.get_by_label("Clear sort").rect();
    assert!(clear.max.x <= 1280.0 && clear.min.x >= 0.0, "{clear:?}");
    // Nothing else of the toolbar covers it.
    for other in ["Profile", "Duplicates…", "Export…"] {
        let rect = h.get_by_label(other).rect();
        assert!(!rect.intersects(clear), "{other} {rect:?} overlaps Clear sort {clear:?}");
    }
    h.get_by_label("Clear sort").click();
    h.step();
    step_until(&mut h, "no sort", |h| h.state().state.view().is_some_and(|v| v.view().sort.is_empty()) && !has(h, "Clear sort"));
}

#[test]
fn a_typed_row_number_jumps_there() {
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE big AS SELECT range AS id FROM range(100000)").unwrap();
    let mut h = harness(&t);
    open_table(&mut h, "big", "0");
    let jump = |n: &egui_kittest::kittest::AccessKitNode<'_>| n.role() == egui::accesskit::Role::SpinButton;
    h.get_by(jump).click();
    h.step();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by(jump).type_text("54321");
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    step_until(&mut h, "row 54321", |h| h.state().state.grid().first_visible == 54_320 && has(h, "54320"));
}

#[test]
fn closing_the_window_while_a_job_runs_asks_first() {
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE big AS SELECT range AS id, hash(range) AS h FROM range(30000000)").unwrap();
    let mut h = harness(&t);
    open_table(&mut h, "big", "0");
    h.get_by_label("h").click();
    h.step();
    step_until(&mut h, "the sort job", |h| h.state().state.has_running_jobs());
    h.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default().events.push(egui::ViewportEvent::Close);
    h.step();
    step_until(&mut h, "the question", |h| has(h, "Keep working") && has(h, "Quit"));
    assert!(has_text(&h, "Sort big by h"), "names the running job");
    h.get_by_label("Keep working").click();
    h.step();
    h.step();
    assert!(!h.state().state.confirm_quit && !h.state().state.quit_confirmed);
    assert!(!has(&h, "Keep working"));
    // Asked again, Quit cancels the job and lets the window close.
    h.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default().events.push(egui::ViewportEvent::Close);
    h.step();
    step_until(&mut h, "the question again", |h| has(h, "Keep working"));
    h.get_by_label("Quit").click();
    h.step();
    assert!(h.state().state.quit_confirmed);
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.state().state.has_running_jobs() {
        assert!(Instant::now() < deadline, "the sort was not cancelled");
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_columns_chooser_stays_open_while_columns_are_ticked() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    h.get_by_label_contains("Columns").click();
    h.step();
    h.step();
    h.get_by(|n| n.role() == egui::accesskit::Role::CheckBox && n.label().as_deref() == Some("island")).click();
    h.step();
    h.step();
    // Still open: the next column can be ticked off at once.
    h.get_by(|n| n.role() == egui::accesskit::Role::CheckBox && n.label().as_deref() == Some("sex")).click();
    h.step();
    step_until(&mut h, "two columns hidden", |h| {
        h.state().state.view().is_some_and(|v| v.view().columns.as_ref().is_some_and(|c| !c.contains(&"island".to_string()) && !c.contains(&"sex".to_string())))
    });
}

#[test]
fn removing_the_search_chip_empties_the_search_box() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
    h.step();
    h.step();
    h.get_by(crate::ui::focused_text).type_text("Dream");
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    step_until(&mut h, "the search", |h| has_text(h, "124 of 344 rows"));
    h.get_by_label_contains("\"Dream\"").click();
    h.step();
    step_until(&mut h, "all rows", |h| has_text(h, "344 rows") && !has_text(h, "of 344"));
    assert_eq!(h.state().state.active_tab().unwrap().search, "");
}

#[test]
fn a_new_filter_shows_its_rows_from_the_top() {
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE big AS SELECT range AS id, range % 2 AS odd FROM range(100000)").unwrap();
    let mut h = harness(&t);
    open_table(&mut h, "big", "0");
    h.key_press(egui::Key::End);
    step_until(&mut h, "the last row", |h| has(h, "99999"));
    let odd = Filter { column: "odd".into(), condition: Condition::OneOf { values: vec!["1".into()], include_null: false } };
    h.state_mut().state.push(Command::FilterTable { table: "big".into(), filter: odd });
    h.step();
    step_until(&mut h, "the first odd rows", |h| has_text(h, "50,000 of 100,000 rows") && h.state().state.grid().first_visible == 0);
    // It stays there: nothing scrolls back to where the old rows were.
    for _ in 0..10 {
        h.step();
    }
    assert_eq!(h.state().state.grid().first_visible, 0);
    assert!(has(&h, "1") && has(&h, "3"));
}

#[test]
fn the_filter_window_applies_on_enter_and_closes_on_escape() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    let species_filter = h.get_all_by_label(dataforge::ui::table::FILTER_ICON).next().unwrap().rect();
    h.get_all_by_label(dataforge::ui::table::FILTER_ICON).next().unwrap().click();
    h.step();
    step_until(&mut h, "the filter window", |h| has(h, "Filter species"));
    h.step();
    // It opens beside its column.
    let window = h.get_by_label("Filter species").rect();
    assert!((window.min.x - species_filter.min.x).abs() < 300.0, "{window:?} far from {species_filter:?}");
    h.key_press(egui::Key::Escape);
    h.step();
    step_until(&mut h, "the window closed", |h| !has(h, "Filter species"));
    assert!(h.state().state.view().unwrap().view().filters.is_empty());
    h.get_all_by_label(dataforge::ui::table::FILTER_ICON).next().unwrap().click();
    h.step();
    step_until(&mut h, "the filter window", |h| has(h, "Filter species"));
    h.step();
    h.get_by(crate::ui::focused_text).type_text("chin");
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    step_until(&mut h, "the filtered count", |h| has_text(h, "68 of 344 rows") && !has(h, "Filter species"));
}

#[test]
fn a_histogram_click_adds_its_filter_to_the_users_and_says_so() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    let dream = Filter { column: "island".into(), condition: Condition::OneOf { values: vec!["Dream".into()], include_null: false } };
    h.state_mut().state.push(Command::SetView(View { filters: vec![dream.clone()], ..View::table("penguins") }));
    h.step();
    step_until(&mut h, "the filtered count", |h| has_text(h, "124 of 344 rows"));
    let heavy = Filter { column: "body_mass_g".into(), condition: Condition::Range { min: Some("5000".into()), max: None } };
    h.state_mut().state.push(Command::FilterTable { table: "penguins".into(), filter: heavy });
    h.step();
    step_until(&mut h, "both filters", |h| h.state().state.view().is_some_and(|v| v.view().filters.len() == 2));
    assert_eq!(h.state().state.view().unwrap().view().filters[0], dream, "the user's filter stays");
    assert!(has_text(&h, "body_mass_g"), "a notice or chip names the new filter");
}

#[test]
fn the_types_page_scrolls_to_its_buttons_and_makes_the_table() {
    let t = TestWorkspace::new();
    // Forty text columns of whole numbers: forty suggestions, more than the page holds.
    let columns: Vec<String> = (0..40).map(|i| format!("CAST(range + {i} AS VARCHAR) AS c{i}")).collect();
    t.ws.connect().unwrap().execute_batch(&format!("CREATE TABLE wide AS SELECT {} FROM range(200)", columns.join(", "))).unwrap();
    let mut h = harness(&t);
    open_table(&mut h, "wide", "0");
    h.get_by_label("Profile").click();
    h.step();
    step_until(&mut h, "the profile", |h| h.state().state.active_tab().and_then(|t| t.profile()).is_some_and(|p| p.profile.is_some() && p.job.is_none()));
    h.get_by_label("Types").click();
    h.step();
    step_until(&mut h, "the suggestions", |h| has_text(h, "40 columns chosen"));
    assert!(!has_text(&h, "→"), "no arrow glyph the fonts lack");
    // Out of sight at first; the wheel over the page brings it up.
    h.input_mut().events.push(egui::Event::PointerMoved(egui::pos2(700.0, 400.0)));
    h.step();
    for _ in 0..30 {
        if h.get_by_label("Create new table").rect().max.y <= 700.0 {
            break;
        }
        let wheel = egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -100.0),
            modifiers: egui::Modifiers::NONE,
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
        };
        h.input_mut().events.push(wheel);
        h.step();
    }
    let create = h.get_by_label("Create new table").rect();
    assert!(create.max.y <= 800.0 && create.min.y >= 0.0, "the button is out of reach: {create:?}");
    h.get_by_label("Create new table").click();
    h.step();
    step_until(&mut h, "the new table", |_| t.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'wide_optimized'") == "1");
    assert_eq!(t.scalar("SELECT data_type FROM duckdb_columns() WHERE table_name = 'wide_optimized' AND column_name = 'c0'"), "SMALLINT");
}

#[test]
fn console_history_marks_the_statements_that_failed() {
    let t = TestWorkspace::new();
    let mut h = harness(&t);
    open_console(&mut h);
    run_in_console(&mut h, "SELECT 40 + 2 AS answer");
    step_until(&mut h, "the answer", |h| console_idle(h) && has(h, "42"));
    run_in_console(&mut h, "SELECT * FROM nowhere");
    step_until(&mut h, "the error", |h| console_idle(h) && has_text(h, "nowhere does not exist"));
    h.state_mut().state.push(Command::LoadSqlHistory);
    h.state_mut().state.active_tab_mut().and_then(|t| t.console_mut()).unwrap().show_history = true;
    h.step();
    step_until(&mut h, "the history", |h| has_text(h, "✖ SELECT * FROM nowhere"));
    assert!(has_text(&h, "SELECT 40 + 2 AS answer") && !has_text(&h, "✖ SELECT 40 + 2"));
}

#[test]
fn messages_that_need_nothing_go_away_and_errors_stay() {
    let t = TestWorkspace::new();
    let mut h = harness(&t);
    h.state_mut().state.info("Exported 3 rows somewhere");
    h.state_mut().state.error("Could not read nowhere.csv: no such file");
    for _ in 0..3 {
        h.step();
    }
    assert!(has_text(&h, "Exported 3 rows somewhere") && has_text(&h, "Could not read nowhere.csv"));
    let long_ago = Instant::now() - dataforge::ui::state::NOTICE_LIFETIME - Duration::from_secs(1);
    for notice in &mut h.state_mut().state.notices {
        notice.created = long_ago;
    }
    h.step();
    h.step();
    assert!(!has_text(&h, "Exported 3 rows somewhere"), "the message timed out");
    assert!(has_text(&h, "Could not read nowhere.csv"), "the error waits to be read");
}

#[test]
fn sorts_and_filters_leave_the_jobs_list_once_done_and_the_panel_stays_small() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    h.get_by_label("island").click();
    h.step();
    step_until(&mut h, "the sort", |h| has_text(h, "Sorted by island") && h.state().state.jobs.iter().any(|j| j.snapshot().title.contains("Sort penguins")));
    // Done, it leaves the list by itself a few seconds later.
    step_until(&mut h, "an empty jobs list", |h| h.state().state.jobs.is_empty());
    let jobs_heading = h.get_by_label("Jobs").rect();
    assert!(jobs_heading.min.y >= 800.0 * 0.7, "the jobs panel takes more than 30 % of the window: {jobs_heading:?}");
}

#[test]
fn the_import_preview_names_the_value_that_keeps_a_column_as_text() {
    let t = TestWorkspace::new();
    let mut rows = String::from("id,amount\n");
    for i in 0..60 {
        rows.push_str(&format!("{i},{}.5\n", i * 3));
    }
    rows.push_str("60,about 7\n");
    let csv = write_file(t.dir.path(), "amounts.csv", &rows);
    let mut h = harness(&t);
    h.state_mut().state.push(Command::ImportFiles(vec![csv]));
    h.step();
    step_until(&mut h, "the preview", |h| h.state().state.import.as_ref().is_some_and(|d| d.preview.is_some()));
    step_until(&mut h, "the notice", |h| has_text(h, "column \"amount\" is read as text because \"about 7\" is not a number"));
    // The type box under each column name fits the whole type name.
    h.step();
    let font = h.ctx.global_style().text_styles[&egui::TextStyle::Body].clone();
    let needed = h.ctx.fonts_mut(|f| f.layout_no_wrap("VARCHAR".to_string(), font, egui::Color32::WHITE).size().x);
    let name = h.get_by_label("amount").rect();
    let type_box = h
        .query_all_by(|n: &egui_kittest::kittest::AccessKitNode<'_>| n.role() == egui::accesskit::Role::TextInput)
        .map(|n| n.rect())
        .find(|r| r.min.y >= name.max.y && r.min.y < name.max.y + 30.0 && r.min.x < name.max.x && r.max.x > name.min.x)
        .expect("the type box of amount");
    // The text and the box's margins on both sides.
    let margins = 2.0 * h.ctx.global_style().spacing.button_padding.x;
    assert!(type_box.width() >= needed + margins, "{type_box:?} cuts VARCHAR ({needed} px and {margins} px of margins)");
}

#[test]
fn dropping_a_table_closes_its_profile_and_duplicates_tabs() {
    let t = TestWorkspace::new();
    let mut h = profile_penguins(&t);
    h.state_mut().state.push(Command::DedupeTable("penguins".into()));
    h.step();
    step_until(&mut h, "the duplicates tab", |h| has(h, "Find duplicates"));
    assert!(h.state().state.tabs.len() >= 3);
    h.state_mut().state.push(Command::DropTable("penguins".into()));
    h.step();
    step_until(&mut h, "the tabs closed", |h| h.state().state.tabs.iter().all(|t| t.subject() != Some("penguins")));
    step_until(&mut h, "the catalog without it", |h| !h.state().state.tables.iter().any(|t| t.name == "penguins"));
    assert_eq!(t.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'penguins'"), "0");
}

#[test]
fn a_large_duplicate_group_shows_a_page_of_rows_and_more_on_demand() {
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE calls AS SELECT range AS id, 'same' AS who FROM range(5000)").unwrap();
    let mut h = harness(&t);
    open_table(&mut h, "calls", "same");
    open_duplicates(&mut h);
    h.get_by_label("who").click();
    h.step();
    h.get_by_label("Find duplicates").click();
    h.step();
    step_until(&mut h, "the review", |h| has_text(h, "1 duplicate groups · 4,999 rows to remove"));
    step_until(&mut h, "a page of the group", |h| has_text(h, "Group kept at row") && has_text(h, "Show 200 more"));
    assert!(has_text(&h, "showing 200 of them"));
    let more = h.get_by_label_contains("Show 200 more").rect();
    assert!(more.max.x <= 1280.0, "the button is past the window's edge: {more:?}");
    h.get_by_label_contains("Show 200 more").click();
    h.step();
    step_until(&mut h, "the next page", |h| has_text(h, "showing 400 of them"));
}

#[test]
fn clicking_a_cells_text_selects_the_cell() {
    let t = TestWorkspace::new();
    let mut h = penguins_open(&t);
    h.get_all_by_label("Torgersen").next().unwrap().click();
    h.step();
    h.step();
    let selection = h.state().state.active_tab().and_then(|t| t.selection).expect("a selected cell");
    assert_eq!((selection.anchor, selection.cursor), ((0, 1), (0, 1)));
}

#[test]
fn arrow_keys_scroll_rows_after_a_header_click() {
    let t = TestWorkspace::new();
    t.ws.connect().unwrap().execute_batch("CREATE TABLE big AS SELECT range AS id, range * 2 AS twice FROM range(100000)").unwrap();
    let mut h = harness(&t);
    open_table(&mut h, "big", "0");
    h.get_by_label("twice").click();
    h.step();
    step_until(&mut h, "the sort", |h| has_text(h, "Sorted by twice") && has(h, "0"));
    h.key_press(egui::Key::ArrowDown);
    step_until(&mut h, "a row down", |h| h.state().state.grid().first_visible == 1);
    h.key_press(egui::Key::ArrowDown);
    step_until(&mut h, "another row down", |h| h.state().state.grid().first_visible == 2);
}

#[test]
fn is_one_of_offers_every_value_of_a_column_and_searches_them() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/nycflights13/flights.csv.gz"), None).unwrap();
    let mut h = harness(&t);
    open_table(&mut h, "flights", "517");
    h.state_mut().state.push(Command::SetView(View { columns: Some(vec!["dest".into(), "origin".into()]), ..View::table("flights") }));
    h.step();
    step_until(&mut h, "the two columns", |h| has(h, "IAH") && !has(h, "517"));
    h.get_all_by_label(dataforge::ui::table::FILTER_ICON).next().unwrap().click();
    h.step();
    step_until(&mut h, "the filter window", |h| has(h, "Filter dest"));
    h.get_by(|n| n.role() == egui::accesskit::Role::ComboBox).click();
    h.step();
    step_until(&mut h, "the modes", |h| has(h, "is one of"));
    h.get_by_label("is one of").click();
    h.step();
    // All 105 destinations, not the first hundred.
    step_until(&mut h, "every destination", |h| has_text(h, "the 105 most frequent values"));
    let window = h.get_by_label("Filter dest").rect();
    let in_window = move |n: &egui_kittest::kittest::AccessKitNode<'_>| {
        n.role() == egui::accesskit::Role::TextInput && n.raw_bounds().is_some_and(|b| window.contains(egui::pos2(b.x0 as f32 + 1.0, b.y0 as f32 + 1.0)))
    };
    h.get_by(in_window).click();
    h.step();
    h.get_by(in_window).type_text("SF");
    h.step();
    step_until(&mut h, "the search", |h| has_text(h, "1 values contain \"SF\"") && has(h, "SFO"));
    h.get_by(|n| n.role() == egui::accesskit::Role::CheckBox && n.label().is_some_and(|l| l.contains("SFO"))).click();
    h.step();
    h.get_by_label("Apply").click();
    h.step();
    step_until(&mut h, "the flights to San Francisco", |h| has_text(h, "13,331 of 336,776 rows"));
}

#[test]
fn types_wait_for_a_new_profile_once_the_table_changed() {
    let t = TestWorkspace::new();
    let mut h = profile_penguins(&t);
    let tab = h.state().state.active;
    h.state_mut().state.push(Command::CloseTab(tab));
    h.step();
    open_console(&mut h);
    run_in_console(&mut h, "UPDATE penguins SET year = 2010 WHERE year = 2007");
    step_until(&mut h, "the update", console_idle);
    h.state_mut().state.push(Command::ProfileTable("penguins".into()));
    h.step();
    step_until(&mut h, "the stored profile", |h| h.state().state.active_tab().and_then(|t| t.profile()).is_some_and(|p| p.profile.is_some() && !p.is_loading()));
    assert!(has_text(&h, "stale: the table changed since"));
    h.get_by_label("Types").click();
    h.step();
    h.step();
    assert!(has_text(&h, "The table changed since this profile"));
    assert!(!has(&h, "Create new table") && !has(&h, "Replace table…"));
}

#[test]
fn records_are_matched_explained_and_written_from_the_window() {
    let t = TestWorkspace::new();
    t.import(shared().join("corpora/linkage/febrl1/dataset1.csv"), Some("people")).unwrap();
    let mut h = harness(&t);
    open_table(&mut h, "people", "rec-223-org");
    h.get_by_label("Match…").click();
    h.step();
    // The proposal and each rule's pairs, before anything runs.
    step_until(&mut h, "the set-up", |h| has(h, "Find matches") && has_text(h, " pairs") && !has_text(h, "counting…"));
    assert!(has_text(&h, "identifies a row"), "the record key is left out and says why");
    h.get_by_label("Find matches").click();
    h.step();
    step_until(&mut h, "the clusters", |h| has_text(h, "500 clusters hold 1,000 rows"));
    step_until(&mut h, "a pair explained", |h| has_text(h, "Why these two match") && has_text(h, "match weight"));
    step_until(&mut h, "the threshold's counts", |h| has_text(h, "500 pairs, 500 clusters of 1,000 rows"));
    // The model: each level's m, u and weight.
    h.get_by_label("The model: what each level of each comparison weighs").click();
    h.step();
    assert!(has_text(&h, "surname (name; exact weighs by how common the value is)") && has_text(&h, "Prior: about one pair in"), "the model is shown");
    h.get_by_label("The model: what each level of each comparison weighs").click();
    h.step();
    let parts: Vec<String> =
        h.state_mut().state.active_tab_mut().and_then(|t| t.match_mut()).unwrap().detail.as_ref().unwrap().1[0].parts.iter().map(|p| p.column.clone()).collect();
    assert!(parts.contains(&"surname".to_string()) && parts.contains(&"date_of_birth".to_string()), "each column's part of the score: {parts:?}");
    // A pair labelled apart is kept for the next run, which uses it.
    h.get_by_label("Not the same").click();
    h.step();
    step_until(&mut h, "the label", |h| has_text(h, "Labelled."));
    h.get_by_label("Find matches again").click();
    h.step();
    step_until(&mut h, "the run with the label", |h| has_text(h, "499 clusters hold 998 rows") && has_text(h, "1 labelled pairs used"));
    // A cluster split in review: one row ticked and split off leaves both rows alone.
    step_until(&mut h, "the first cluster's rows", |h| has(h, "Split off the ticked rows (0)"));
    let row = h.state_mut().state.active_tab_mut().and_then(|t| t.match_mut()).unwrap().detail.as_ref().unwrap().0.rows[0].0.clone();
    h.get_by_label(&row).click();
    h.step();
    h.get_by_label("Split off the ticked rows (1)").click();
    h.step();
    step_until(&mut h, "the split", |h| has_text(h, "Split: its 2 rows stand alone now. The pair across the split is labelled not the same"));
    step_until(&mut h, "the split's counts", |h| has_text(h, "498 pairs, 498 clusters of 996 rows"));
    // Another cluster: its rows and pairs follow.
    let second = h.state_mut().state.active_tab_mut().and_then(|t| t.match_mut()).unwrap().clusters[1].id;
    h.get_by_label_contains(&format!("Cluster {} ·", second + 1)).click();
    h.step();
    step_until(&mut h, "the second cluster", |h| has_text(h, "Why these two match"));
    h.get_by_label("Write result tables").click();
    h.step();
    step_until(&mut h, "the result tables", |h| {
        let names: Vec<&str> = h.state().state.tables.iter().map(|t| t.name.as_str()).collect();
        names.contains(&"people_matches") && names.contains(&"people_matches_pairs")
    });
    assert_eq!(h.state().state.tables.iter().find(|x| x.name == "people_matches").map(|x| x.rows), Some(1000));

    // Merge in place after asking, then undo: the table is back.
    h.state_mut().state.push(Command::MatchTable("people".into()));
    h.step();
    step_until(&mut h, "the match tab again", |h| has(h, "Merge each cluster into one row…"));
    h.get_by_label("Merge each cluster into one row…").click();
    h.step();
    h.get_by_label("replace people").click();
    h.step();
    h.get_by_label("Merge clusters").click();
    h.step();
    step_until(&mut h, "the question", |h| has_text(h, "Replace people?"));
    assert_eq!(h.state().state.tables.iter().find(|x| x.name == "people").map(|x| x.rows), Some(1000), "nothing changed before the answer");
    h.get_by_label("Replace").click();
    h.step();
    // 498 pairs merge (one was labelled apart, one split): 502 rows.
    step_until(&mut h, "the merge", |h| has_text(h, "Merged: 502 rows in people"));
    step_until(&mut h, "the new count", |h| h.state().state.tables.iter().any(|x| x.name == "people" && x.rows == 502));
    h.state_mut().state.push(Command::MatchTable("people".into()));
    h.step();
    step_until(&mut h, "the match tab again", |h| has(h, "Undo merge"));
    h.get_by_label("Undo merge").click();
    h.step();
    step_until(&mut h, "the undo", |h| has_text(h, "people is back as it was: 1,000 rows."));
    assert!(!has_text(&h, "Why these two match"), "the clusters of the replaced rows are gone");
    step_until(&mut h, "the old count", |h| h.state().state.tables.iter().any(|x| x.name == "people" && x.rows == 1000));
}
