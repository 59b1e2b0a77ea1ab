//! One definition of "ignore case and accents", in Rust and as DuckDB SQL, so that dedupe
//! (SQL) and clustering (Rust) call the same values equal.
//!
//! The definition is OpenRefine's fingerprint folding: lower case, compatibility decomposition
//! (NFKD: ligatures, full-width, superscript and circled forms), combining marks dropped, then
//! OpenRefine's transliterations of letters that do not decompose (ß→ss, æ→ae, ø→oe, ł→l,
//! đ→d, þ→th…). Lower case is the simple per-character mapping DuckDB's `lower` uses (İ is i
//! once its dot is dropped), and final sigma counts as sigma.
//!
//! DuckDB has `strip_accents` (canonical decomposition, marks dropped, recomposed) and `lower`,
//! but no NFKD and no transliteration. The rest is a table, computed once from the Unicode data
//! compiled into this program: every character whose fold differs from what `strip_accents` and
//! `lower` make of it (about 3,800, most of them compatibility forms). Both sides run the same
//! steps (table characters replaced, marks stripped, lower case) and so agree on every character
//! DuckDB's Unicode (15.1) knows; letters and marks added to Unicode since may differ.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization as _;
use unicode_normalization::char::{decompose_compatible, is_combining_mark, is_public_assigned};

use super::sql::quote_literal;

/// What a comparison ignores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fold {
    /// Letter case only: `lower`, with final sigma as sigma.
    Case,
    /// Accents, compatibility forms and OpenRefine's transliterations; case is kept (Æ→AE, ẞ→SS).
    Accents,
    /// Both: clustering keys, and dedupe with "case" and "accents" on.
    CaseAndAccents,
}

impl Fold {
    /// The fold for dedupe's two switches; `None` when both are off.
    pub fn from_flags(case: bool, accents: bool) -> Option<Self> {
        match (case, accents) {
            (true, true) => Some(Self::CaseAndAccents),
            (true, false) => Some(Self::Case),
            (false, true) => Some(Self::Accents),
            (false, false) => None,
        }
    }
}

/// Inputs on which [`fold_as`] and [`fold_sql_as`] must agree, for every [`Fold`].
pub const FOLD_SAMPLES: &[&str] = &[
    "",
    "Straße",
    "STRASSE",
    "STRAẞE",
    "ẞ ß",
    "İstanbul",
    "ISTANBUL ıstanbul",
    "İi Iı",
    "Æble æble",
    "Ærøskøbing",
    "Øresund ø",
    "Œuvre œuvre",
    "Łódź",
    "Lodz ł Ł",
    "Đurđevac đ Đ",
    "Ðð",
    "Þórr þ",
    "Ħ ħ Ŧ ŧ Ŋ ŋ ĸ ſ ẜ ẝ Ƿ ƿ Ɖ ɖ",
    "©2024",
    "ﬁ ﬂ ﬀ ﬃ ﬄ ﬅ ﬆ",
    "Ĳssel ĳ",
    "ŉ Ŀl ŀ",
    "ǅ ǆ Ǆ ǈ ǋ Ǳ ǲ ǳ",
    "ＦＵＬＬＷＩＤＴＨ ｆｕｌｌ １２３",
    "x² H₂O ª º",
    "½ ¼ ⅞",
    "™ ℌ ℕ ℃ \u{212A} \u{212B} \u{2126}",
    "𝐀𝐁𝐂 𝒶𝒷𝒸 𝟙𝟚",
    "Ⓐ ⓑ ① ⑴ ⒜",
    "㎏ ㍻ ㈱",
    "ｶﾞｷﾞ ﾞ ﾟ",
    "ᴬᴮ ʰ ʼ ˆ ¨ ´",
    "e\u{301} \u{301}a a\u{308}\u{304} A\u{30A}",
    "Åström Ångström",
    "Ἀθῆναι ΑΘΗΝΑ",
    "ΟΔΟΣ οδος Σίσυφος",
    "Ёлка Йошкар-Ола й Й",
    "µ μ Μ",
    "ǿ Ǿ ǽ Ǽ",
    "a\u{a0}b a\u{2003}b a\u{3000}b",
    "tab\there line\u{2028}sep \u{85}next",
    "가 ㉮ \u{1100}\u{1161}",
    "東京 日本",
    "O'Brien 'quoted'",
    "100 % $5 a+b",
    "co\u{ad}operation zero\u{200b}width",
];

/// OpenRefine's replacements for letters that NFKD leaves alone (`FingerprintKeyer`'s
/// `NONDIACRITICS`, less its `å`, which decomposition has already made `a`). Keys are lower case.
const TRANSLITERATIONS: [(char, &str); 19] = [
    ('ß', "ss"),
    ('æ', "ae"),
    ('ø', "oe"),
    ('©', "c"),
    ('ð', "d"),
    ('đ', "d"),
    ('ɖ', "d"),
    ('þ', "th"),
    ('ƿ', "w"),
    ('ħ', "h"),
    ('ı', "i"),
    ('ĸ', "k"),
    ('ł', "l"),
    ('ŋ', "n"),
    ('ſ', "s"),
    ('ŧ', "t"),
    ('œ', "oe"),
    ('ẜ', "s"),
    ('ẝ', "s"),
];

/// Names the character inside the SQL lambda; chosen not to shadow a column.
const SQL_CHAR: &str = "__dataforge_fold_c";

/// `text` with case and accents ignored: what clustering compares.
pub fn fold(text: &str) -> String {
    fold_as(text, Fold::CaseAndAccents)
}

/// `text` folded as `fold` says. Equal to what [`fold_sql_as`] computes in DuckDB.
pub fn fold_as(text: &str, fold: Fold) -> String {
    if text.is_ascii() {
        return match fold {
            Fold::Accents => text.to_string(),
            Fold::Case | Fold::CaseAndAccents => text.to_ascii_lowercase(),
        };
    }
    match fold {
        Fold::Case => lower(text),
        Fold::Accents => strip_marks(&table(false).replace(text)),
        Fold::CaseAndAccents => lower(&strip_marks(&table(true).replace(text))),
    }
}

/// [`fold`] as a DuckDB expression over `expr`, a VARCHAR expression (NULL stays NULL).
pub fn fold_sql(expr: &str) -> String {
    fold_sql_as(expr, Fold::CaseAndAccents)
}

/// [`fold_as`] as a DuckDB expression over `expr`, a VARCHAR expression (NULL stays NULL).
///
/// `expr` appears up to three times in the result, so pass a column or a cheap expression,
/// not a `?` parameter. The table travels in the SQL (about 40 KB for the accent folds). A
/// value without a table character costs one regular-expression test more than
/// `lower(strip_accents(…))`; the others are split into characters and looked up.
pub fn fold_sql_as(expr: &str, fold: Fold) -> String {
    match fold {
        Fold::Case => lower_sql(expr),
        Fold::Accents => format!("strip_accents({})", table(false).replace_sql(expr)),
        Fold::CaseAndAccents => lower_sql(&format!("strip_accents({})", table(true).replace_sql(expr))),
    }
}

fn lower_sql(expr: &str) -> String {
    format!("replace(lower({expr}), 'ς', 'σ')")
}

fn lower_char(c: char) -> char {
    if c == 'ς' {
        return 'σ';
    }
    // The simple mapping, as DuckDB's `lower`: only U+0130 has a longer full one (i, dot above).
    c.to_lowercase().next().unwrap_or(c)
}

fn lower(text: &str) -> String {
    text.chars().map(lower_char).collect()
}

/// As DuckDB's `strip_accents`: canonical decomposition, marks dropped, recomposed.
fn strip_marks(text: &str) -> String {
    text.nfd().filter(|c| !is_combining_mark(*c)).nfc().collect()
}

fn transliteration(c: char, lowered: bool) -> Option<String> {
    let find = |c: char| TRANSLITERATIONS.iter().find(|(from, _)| *from == c).map(|(_, to)| *to);
    if let Some(to) = find(c) {
        return Some(to.to_string());
    }
    let small = lower_char(c);
    if lowered || small == c {
        return None;
    }
    find(small).map(str::to_uppercase)
}

/// The fold of one character, from its definition.
fn fold_char(c: char, lowered: bool) -> String {
    let start = if lowered { lower_char(c) } else { c };
    let mut out = String::new();
    for d in start.nfkd().filter(|d| !is_combining_mark(*d)) {
        let d = if lowered { lower_char(d) } else { d };
        match transliteration(d, lowered) {
            Some(to) => out.push_str(&to),
            None => out.push(d),
        }
    }
    out.nfc().collect()
}

/// What DuckDB's `strip_accents`, then `lower` when `lowered`, make of one character.
fn plain_char(c: char, lowered: bool) -> String {
    let stripped = strip_marks(c.encode_utf8(&mut [0; 4]));
    if lowered { lower(&stripped) } else { stripped }
}

/// Characters whose fold `strip_accents` and `lower` do not give, with their fold.
struct Table {
    map: HashMap<char, String>,
    /// The keys as a regular-expression class, as one string literal, and the replacements
    /// as a list literal in the same order: the pieces of the SQL.
    class: String,
    keys: String,
    replacements: String,
}

impl Table {
    fn build(lowered: bool) -> Self {
        let mut entries: Vec<(char, String)> = Vec::new();
        for c in '\u{80}'..=char::MAX {
            if !is_public_assigned(c) || is_trivial(c) {
                continue;
            }
            let folded = fold_char(c, lowered);
            if folded != plain_char(c, lowered) {
                entries.push((c, folded));
            }
        }
        let mut class = String::from("[");
        let mut run: Option<(u32, u32)> = None;
        for &(c, _) in &entries {
            let c = c as u32;
            run = match run {
                Some((first, last)) if last + 1 == c => Some((first, c)),
                Some((first, last)) => {
                    push_range(&mut class, first, last);
                    Some((c, c))
                }
                None => Some((c, c)),
            };
        }
        if let Some((first, last)) = run {
            push_range(&mut class, first, last);
        }
        class.push(']');
        let keys: String = entries.iter().map(|(c, _)| *c).collect();
        let replacements = format!("[{}]", entries.iter().map(|(_, to)| quote_literal(to)).collect::<Vec<_>>().join(", "));
        Self { map: entries.into_iter().collect(), class, keys: quote_literal(&keys), replacements }
    }

    fn replace(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match self.map.get(&c) {
                Some(to) => out.push_str(to),
                None => out.push(c),
            }
        }
        out
    }

    /// `expr` with the table's characters replaced, as SQL. `instr` finds the character's
    /// place among the keys and the list gives its replacement (DuckDB has no constant hash
    /// map an expression can probe cheaply; a MAP literal is searched key by key).
    fn replace_sql(&self, expr: &str) -> String {
        if self.map.is_empty() {
            return expr.to_string();
        }
        let (class, keys, replacements, c) = (&self.class, &self.keys, &self.replacements, SQL_CHAR);
        format!(
            "CASE WHEN regexp_matches({expr}, '{class}') THEN array_to_string(list_transform(string_split({expr}, ''), \
             lambda {c}: coalesce({replacements}[nullif(instr({keys}, {c}), 0)], {c})), '') ELSE {expr} END"
        )
    }
}

/// A character every fold leaves alone: no decomposition, no lower case of its own, not
/// transliterated, not a mark. Skipping these keeps building a table cheap.
fn is_trivial(c: char) -> bool {
    let mut decomposes = false;
    decompose_compatible(c, |d| decomposes |= d != c);
    !decomposes && lower_char(c) == c && !is_combining_mark(c) && transliteration(c, false).is_none()
}

fn push_range(class: &mut String, first: u32, last: u32) {
    let _ = if first == last { write!(class, "\\x{{{first:X}}}") } else { write!(class, "\\x{{{first:X}}}-\\x{{{last:X}}}") };
}

fn table(lowered: bool) -> &'static Table {
    static LOWERED: OnceLock<Table> = OnceLock::new();
    static CASED: OnceLock<Table> = OnceLock::new();
    if lowered { LOWERED.get_or_init(|| Table::build(true)) } else { CASED.get_or_init(|| Table::build(false)) }
}

/// `dataforge_fold(text)`: [`fold`] as a function on every workspace connection, for SQL
/// that folds many values (record matching prepares every row's names with it) where the
/// table-carrying [`fold_sql`] would make the statement itself large.
pub const FOLD_FUNCTION: &str = "dataforge_fold";

pub fn register(conn: &duckdb::Connection) -> crate::engine::error::Result<()> {
    conn.register_scalar_function::<FoldFunction>(FOLD_FUNCTION)?;
    Ok(())
}

struct FoldFunction;

impl duckdb::vscalar::VScalar for FoldFunction {
    type State = ();

    fn invoke(
        _: &(),
        input: &mut duckdb::core::DataChunkHandle,
        output: &mut dyn duckdb::vtab::arrow::WritableVector,
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        use duckdb::core::Inserter;
        let mut out = output.flat_vector();
        // SAFETY: the only signature registered takes one VARCHAR, and the texts are used here only.
        let texts = unsafe { crate::engine::udf::texts(input, 0) };
        for (row, text) in texts.iter().enumerate() {
            match text {
                Some(text) => out.insert(row, fold(&String::from_utf8_lossy(text)).as_str()),
                None => out.set_null(row),
            }
        }
        Ok(())
    }

    fn signatures() -> Vec<duckdb::vscalar::ScalarFunctionSignature> {
        use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
        vec![duckdb::vscalar::ScalarFunctionSignature::exact(vec![LogicalTypeHandle::from(LogicalTypeId::Varchar)], LogicalTypeHandle::from(LogicalTypeId::Varchar))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Fold; 3] = [Fold::Case, Fold::Accents, Fold::CaseAndAccents];

    #[test]
    fn folds_as_openrefine_does() {
        for (text, want) in [
            ("Straße", "strasse"),
            ("STRAẞE", "strasse"),
            ("Łódź", "lodz"),
            ("Ærøskøbing", "aeroeskoebing"),
            ("İstanbul", "istanbul"),
            ("ıi", "ii"),
            ("ﬁﬂﬀ", "fiflff"),
            ("ＦＵＬＬ１", "full1"),
            ("x²", "x2"),
            ("Þórr", "thorr"),
            ("Đurđevac", "durdevac"),
            ("ΟΔΟΣ", "οδοσ"),
            ("οδος", "οδοσ"),
            ("Ёлка", "елка"),
            ("㉮", "가"),
            ("a\u{a0}b", "a b"),
            ("e\u{301}", "e"),
        ] {
            assert_eq!(fold(text), want, "{text:?}");
        }
    }

    #[test]
    fn case_and_accents_apart() {
        assert_eq!(fold_as("Straße", Fold::Accents), "Strasse");
        assert_eq!(fold_as("STRAẞE", Fold::Accents), "STRASSE");
        assert_eq!(fold_as("Ærø", Fold::Accents), "AEroe");
        assert_eq!(fold_as("İı", Fold::Accents), "Ii");
        assert_eq!(fold_as("Straße İ ΟΔΟΣ", Fold::Case), "straße i οδοσ");
        assert_eq!(Fold::from_flags(false, false), None);
    }

    #[test]
    fn folding_twice_changes_nothing() {
        for fold in ALL {
            for text in FOLD_SAMPLES {
                let once = fold_as(text, fold);
                assert_eq!(fold_as(&once, fold), once, "{fold:?} {text:?}");
            }
        }
    }

    #[test]
    fn the_table_holds_compatibility_forms_and_transliterations() {
        let t = table(true);
        assert!(t.map.len() > 3_000, "{}", t.map.len());
        for (c, want) in [('ß', "ss"), ('ẞ', "ss"), ('Æ', "ae"), ('ﬁ', "fi"), ('ı', "i"), ('Ⓐ', "a")] {
            assert_eq!(t.map.get(&c).map(String::as_str), Some(want), "{c:?}");
        }
        // Accented letters are `strip_accents`'s work and final sigma `lower`'s, not the table's.
        for c in ['é', 'İ', 'Å', 'ς'] {
            assert!(!t.map.contains_key(&c), "{c:?}");
        }
        assert_eq!(table(false).map.get(&'Æ').map(String::as_str), Some("AE"));
    }

    #[test]
    fn sql_and_rust_agree_on_the_samples() {
        let conn = duckdb::Connection::open_in_memory().expect("an in-memory database");
        let rows = FOLD_SAMPLES.iter().enumerate().map(|(i, s)| format!("({i}, {})", quote_literal(s))).collect::<Vec<_>>().join(", ");
        for fold in ALL {
            let sql = format!("SELECT {} FROM (VALUES {rows}) AS t(i, v) ORDER BY i", fold_sql_as("v", fold));
            let mut stmt = conn.prepare(&sql).expect("the fold compiles");
            let got: Vec<String> = stmt.query_map([], |r| r.get::<_, String>(0)).expect("the fold runs").collect::<duckdb::Result<_>>().expect("rows");
            let want: Vec<String> = FOLD_SAMPLES.iter().map(|s| fold_as(s, fold)).collect();
            let differ: Vec<String> = FOLD_SAMPLES
                .iter()
                .zip(got.iter().zip(&want))
                .filter(|(_, (g, w))| g != w)
                .map(|(s, (g, w))| format!("{s:?}: SQL {g:?}, Rust {w:?}"))
                .collect();
            assert!(differ.is_empty(), "{fold:?}:\n{}", differ.join("\n"));
        }
        let null: Option<String> = conn.query_row(&format!("SELECT {}", fold_sql("CAST(NULL AS VARCHAR)")), [], |r| r.get(0)).expect("NULL folds");
        assert_eq!(null, None);
    }

    #[test]
    fn the_function_folds_every_row_as_the_sql_does() {
        let conn = duckdb::Connection::open_in_memory().expect("an in-memory database");
        register(&conn).expect("registered");
        // Past one chunk of 2,048 rows, with NULLs between.
        let rows = FOLD_SAMPLES.iter().map(|s| quote_literal(s)).collect::<Vec<_>>().join(", ");
        let differ: i64 = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM (SELECT CASE WHEN i % 7 = 0 THEN NULL ELSE list_extract([{rows}], CAST(i % {n} AS INTEGER) + 1) END AS v FROM range(5000) AS t(i))
                     WHERE {FOLD_FUNCTION}(v) IS DISTINCT FROM {}",
                    fold_sql("v"),
                    n = FOLD_SAMPLES.len()
                ),
                [],
                |r| r.get(0),
            )
            .expect("the function runs");
        assert_eq!(differ, 0);
    }
}
