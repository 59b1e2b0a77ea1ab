//! The SQL console tab: an editor with SQL colours, Ctrl+Enter runs the statement under the
//! cursor (or the selection) as a job, the result shows in the same grid as a table (with
//! filters, sort and export), errors point at their line and column, and a searchable
//! history of what ran in this workspace.

use egui::text::{CCursor, CCursorRange, LayoutJob};
use egui::{Color32, FontId, Key, KeyboardShortcut, Modifiers, RichText, TextFormat};
use poll_promise::Promise;

use super::state::Command;
use super::tabs::Tab;
use crate::engine::Result;
use crate::engine::console::{HistoryEntry, ResultTable, SqlOutcome};
use crate::engine::job::JobHandle;
use crate::engine::lexer::{self, TokenKind};

pub struct ConsoleState {
    pub number: u64,
    pub text: String,
    /// The statement running and its job.
    pub running: Option<(String, JobHandle<SqlOutcome>)>,
    pub result: Option<ResultTable>,
    pub message: Option<String>,
    pub error: Option<String>,
    /// Where to put the cursor on the next frame (a character offset): an error's place.
    pub jump_to: Option<usize>,
    pub show_history: bool,
    pub history_search: String,
    pub history: Vec<HistoryEntry>,
    pub history_load: Option<Promise<Result<Vec<HistoryEntry>>>>,
    pub save_name: String,
    /// This console's connection: its transaction and temporary tables last between statements.
    pub session: crate::engine::console::SharedSession,
}

impl ConsoleState {
    pub fn new(number: u64) -> Self {
        Self {
            number,
            text: String::new(),
            running: None,
            result: None,
            message: None,
            error: None,
            // A new console takes the keyboard: the user types at once.
            jump_to: Some(0),
            show_history: false,
            history_search: String::new(),
            history: Vec::new(),
            history_load: None,
            session: crate::engine::console::ConsoleSession::shared(),
            save_name: String::new(),
        }
    }

    pub fn title(&self) -> String {
        if self.number <= 1 { "SQL".to_string() } else { format!("SQL {}", self.number) }
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }
}

fn color(kind: TokenKind, word: &str, dark: bool) -> Color32 {
    match kind {
        TokenKind::Word if lexer::is_keyword(word) => if dark { Color32::from_rgb(0x6c, 0xb6, 0xff) } else { Color32::from_rgb(0x00, 0x4f, 0xa3) },
        TokenKind::Text | TokenKind::Unterminated => if dark { Color32::from_rgb(0xe6, 0xb4, 0x73) } else { Color32::from_rgb(0x9a, 0x4a, 0x00) },
        TokenKind::Number => if dark { Color32::from_rgb(0xb5, 0xce, 0xa8) } else { Color32::from_rgb(0x09, 0x86, 0x58) },
        TokenKind::Comment => if dark { Color32::from_gray(0x80) } else { Color32::from_gray(0x70) },
        TokenKind::QuotedName => if dark { Color32::from_rgb(0xc5, 0x9b, 0xe6) } else { Color32::from_rgb(0x6f, 0x42, 0xc1) },
        TokenKind::Parameter => Color32::from_rgb(0xd7, 0x3a, 0x49),
        _ => if dark { Color32::from_gray(0xdc) } else { Color32::from_gray(0x20) },
    }
}

/// The editor's text as coloured SQL.
pub fn highlight(sql: &str, font: FontId, dark: bool) -> LayoutJob {
    let mut job = LayoutJob::default();
    for token in lexer::tokenize(sql) {
        let text = token.text(sql);
        job.append(text, 0.0, TextFormat { font_id: font.clone(), color: color(token.kind, text, dark), ..Default::default() });
    }
    job
}

/// Byte offset of character offset `chars` in `text`.
fn byte_at(text: &str, chars: usize) -> usize {
    text.char_indices().nth(chars).map_or(text.len(), |(b, _)| b)
}

/// The SQL to run: the selection if there is one, else the statement under the cursor.
pub fn statement_to_run(text: &str, cursor: Option<CCursorRange>) -> Option<String> {
    if let Some(range) = cursor {
        let [a, b] = range.sorted_cursors();
        if a.index.0 != b.index.0 {
            let selected = &text[byte_at(text, a.index.0)..byte_at(text, b.index.0)];
            return Some(selected.trim().trim_end_matches(';').trim().to_string()).filter(|s| !s.is_empty());
        }
    }
    let at = cursor.map_or(text.len(), |r| byte_at(text, r.primary.index.0));
    lexer::statement_at(text, at).map(|r| text[r].to_string())
}

/// Character offset of (line, column), both from 1, in `text`.
fn char_offset(text: &str, line: usize, column: usize) -> usize {
    let mut chars = 0;
    for (i, l) in text.split('\n').enumerate() {
        if i + 1 == line {
            return chars + (column.saturating_sub(1)).min(l.chars().count());
        }
        chars += l.chars().count() + 1;
    }
    chars
}

/// Where the statement `sql` starts in `text`, as (line, column) offsets to add to an
/// error's place within it.
pub fn error_place_in(text: &str, sql: &str, line: usize, column: usize) -> Option<usize> {
    let start = text.find(sql)?;
    let (start_line, start_col) = lexer::line_column(text, start);
    let absolute_line = start_line + line - 1;
    let absolute_col = if line == 1 { start_col + column - 1 } else { column };
    Some(char_offset(text, absolute_line, absolute_col))
}

pub fn console_ui(ui: &mut egui::Ui, tab: &mut Tab, commands: &mut Vec<Command>) {
    let Some(console) = tab.console_mut() else { return };
    let editor_id = egui::Id::unique(("sql-editor", console.number));
    let run_shortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Enter);
    let has_focus = ui.memory(|m| m.has_focus(editor_id));
    let mut run_now = has_focus && ui.input_mut(|i| i.consume_shortcut(&run_shortcut));

    ui.horizontal(|ui| {
        let running = console.is_running();
        if ui.add_enabled(!running, egui::Button::new("▶ Run")).on_hover_text("Run the statement under the cursor, or the selection (Ctrl+Enter)").clicked() {
            run_now = true;
        }
        if running {
            if ui.button("Cancel").clicked() {
                if let Some((_, job)) = &console.running {
                    job.cancel();
                }
            }
            ui.spinner();
            if let Some((sql, job)) = &console.running {
                let snap = job.snapshot();
                let progress = snap.progress.fraction.filter(|f| *f > 0.0).map(|f| format!(" · {:.0}%", f * 100.0)).unwrap_or_default();
                ui.label(format!("Running {} · {:.1} s{progress}", crate::engine::view::Source::Query(sql.clone()).title(), snap.elapsed.as_secs_f64()));
                ui.ctx().request_repaint_after(std::time::Duration::from_millis(200));
            }
        } else if let Some(message) = &console.message {
            ui.label(message);
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.selectable_label(console.show_history, "History").clicked() {
                console.show_history = !console.show_history;
                if console.show_history {
                    commands.push(Command::LoadSqlHistory);
                }
            }
        });
    });
    if let Some(error) = &console.error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }

    let dark = ui.visuals().dark_mode;
    let font = egui::TextStyle::Monospace.resolve(ui.style());
    let mut layouter = |ui: &egui::Ui, text: &dyn egui::TextBuffer, wrap_width: f32| {
        let mut job = highlight(text.as_str(), font.clone(), dark);
        job.wrap.max_width = wrap_width;
        ui.fonts_mut(|f| f.layout_job(job))
    };
    let mut cursor = None;
    let editor_height = (ui.available_height() * 0.35).clamp(90.0, 320.0);
    ui.horizontal_top(|ui| {
        let history_width = if console.show_history { 300.0_f32.min(ui.available_width() * 0.4) } else { 0.0 };
        let editor_width = ui.available_width() - history_width;
        egui::ScrollArea::vertical().id_salt(("sql-scroll", console.number)).max_height(editor_height).max_width(editor_width).show(ui, |ui| {
            let output = egui::TextEdit::multiline(&mut console.text)
                .id(editor_id)
                .code_editor()
                .desired_width(editor_width - 8.0)
                .desired_rows(8)
                .hint_text("SELECT * FROM flights WHERE dep_delay > 60   (Ctrl+Enter runs the statement under the cursor)")
                .layouter(&mut layouter)
                .show(ui);
            if let Some(at) = console.jump_to.take() {
                let mut state = output.state.clone();
                state.cursor.set_char_range(Some(CCursorRange::one(CCursor::new(at))));
                state.store(ui.ctx(), editor_id);
                output.response.request_focus();
            }
            cursor = output.cursor_range;
        });
        if console.show_history {
            ui.vertical(|ui| {
                ui.set_width(history_width);
                let search = ui.add(egui::TextEdit::singleline(&mut console.history_search).hint_text("Search history").desired_width(history_width - 8.0));
                if search.changed() {
                    commands.push(Command::LoadSqlHistory);
                }
                egui::ScrollArea::vertical().id_salt(("sql-history", console.number)).max_height(editor_height - 30.0).show(ui, |ui| {
                    if console.history.is_empty() {
                        ui.weak(if console.history_load.is_some() { "Loading…" } else { "Nothing yet" });
                    }
                    for entry in &console.history {
                        let one_line = entry.sql.split_whitespace().collect::<Vec<_>>().join(" ");
                        let shown: String = one_line.chars().take(80).collect();
                        let text = RichText::new(if entry.ok { shown } else { format!("✖ {shown}") }).monospace().small();
                        let text = if entry.ok { text } else { text.color(ui.visuals().error_fg_color) };
                        let response = ui.add(egui::Label::new(text).sense(egui::Sense::click()).truncate());
                        let how = if entry.ok { "ran" } else { "failed" };
                        let response = response.on_hover_text(format!("{}\n\n{how} {} in {:.2}s — click to put it in the editor", entry.sql, entry.ran_at, entry.seconds));
                        if response.clicked() {
                            console.text = entry.sql.clone();
                            console.jump_to = Some(entry.sql.chars().count());
                        }
                    }
                });
            });
        }
    });
    if run_now {
        match statement_to_run(&console.text, cursor) {
            Some(sql) => commands.push(Command::RunSql(sql)),
            None => console.error = Some("Type a statement to run".into()),
        }
    }
    if let Some(result) = &console.result {
        ui.separator();
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("Result: {}", crate::engine::config::rows_text(result.rows))).strong());
            ui.add(egui::TextEdit::singleline(&mut console.save_name).hint_text("new table name").desired_width(160.0));
            let name = console.save_name.trim().to_string();
            if ui.add_enabled(!name.is_empty(), egui::Button::new("Save as table")).clicked() {
                commands.push(Command::SaveResult { result: result.clone(), table: name });
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_selection_or_the_statement_under_the_cursor() {
        let text = "SELECT 1;\nSELECT 2 FROM t;\n";
        let at = |c: usize| Some(CCursorRange::one(CCursor::new(c)));
        assert_eq!(statement_to_run(text, at(3)).as_deref(), Some("SELECT 1"));
        assert_eq!(statement_to_run(text, at(14)).as_deref(), Some("SELECT 2 FROM t"));
        assert_eq!(statement_to_run(text, Some(CCursorRange::two(CCursor::new(10), CCursor::new(18)))).as_deref(), Some("SELECT 2"));
        assert_eq!(statement_to_run("", None), None);
    }

    #[test]
    fn errors_point_into_the_editor_text() {
        let text = "SELECT 1;\n\nSELECT *\nFROM t WHERE x >";
        // Line 2, column 6 of the second statement is its "t".
        let at = error_place_in(text, "SELECT *\nFROM t WHERE x >", 2, 6).unwrap();
        assert_eq!(text.chars().nth(at), Some('t'));
        let at = error_place_in(text, "SELECT 1", 1, 8).unwrap();
        assert_eq!(text.chars().nth(at), Some('1'));
    }

    #[test]
    fn keywords_strings_and_comments_get_colours() {
        let job = highlight("SELECT 'a' -- c", FontId::monospace(12.0), true);
        let colours: Vec<Color32> = job.sections.iter().map(|s| s.format.color).collect();
        assert_eq!(colours.len(), 5);
        assert_ne!(colours[0], colours[2]);
        assert_ne!(colours[2], colours[4]);
    }
}
