//! Record matching on labelled data: the FEBRL sets and `anchors people`, with the automatic
//! set-up, the truth column left out and the threshold fixed at 0.5 in advance. Precision and
//! recall are pairwise over every true pair (a true pair no rule blocked counts as missed).

use std::process::Command;

use dataforge::engine::job::{no_waker, spawn};
use dataforge::engine::linkage::{MatchJob, MatchReport, MatchSpec};

use crate::common::{TestWorkspace, shared};

/// Precision, recall and F1 of the clusters in `into`, against `entity` (a SQL expression
/// over its rows). When linking, only pairs across the two tables count.
fn scores(t: &TestWorkspace, into: &str, entity: &str, linked_from: Option<&str>) -> (f64, f64, f64) {
    let conn = t.ws.connect().unwrap();
    let pairs = |group: &str| match linked_from {
        Some(a) => format!(
            "SELECT coalesce(sum(na * nb), 0)::DOUBLE FROM (SELECT count(*) FILTER (WHERE _source = '{a}') AS na, count(*) FILTER (WHERE _source <> '{a}') AS nb FROM t GROUP BY {group})"
        ),
        None => format!("SELECT coalesce(sum(n * (n - 1) / 2), 0)::DOUBLE FROM (SELECT count(*) AS n FROM t GROUP BY {group})"),
    };
    let sql = format!("WITH t AS (SELECT *, {entity} AS __e FROM \"{into}\") SELECT ({}), ({}), ({})", pairs("__e, _cluster"), pairs("_cluster"), pairs("__e"));
    let (tp, predicted, truth): (f64, f64, f64) = conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    let (p, r) = (tp / predicted, tp / truth);
    (p, r, 2.0 * p * r / (p + r))
}

fn run(t: &TestWorkspace, spec: MatchSpec) -> MatchReport {
    spawn(MatchJob { workspace: t.ws.clone(), spec }, no_waker()).wait().unwrap()
}

fn febrl(t: &TestWorkspace, set: &str, file: &str, table: &str) {
    t.import(shared().join("corpora/linkage").join(set).join(file), Some(table)).unwrap();
}

const FEBRL_ENTITY: &str = "regexp_extract(rec_id, 'rec-(\\d+)', 1)";

fn dedupe(t: &TestWorkspace, table: &str, exclude: &[&str], into: &str) -> MatchReport {
    let mut spec = MatchSpec::new(table);
    spec.exclude = exclude.iter().map(|s| s.to_string()).collect();
    spec.into = Some(into.to_string());
    run(t, spec)
}

#[test]
fn febrl_dedupe_sets_are_found_with_and_without_the_social_security_number() {
    let t = TestWorkspace::new();
    febrl(&t, "febrl1", "dataset1.csv", "febrl1");
    febrl(&t, "febrl2", "dataset2.csv", "febrl2");
    for table in ["febrl1", "febrl2"] {
        let report = dedupe(&t, table, &["rec_id"], &format!("{table}_m"));
        let (p, r, _) = scores(&t, &format!("{table}_m"), FEBRL_ENTITY, None);
        assert!(p >= 0.995 && r >= 0.99, "{table}: precision {p:.4}, recall {r:.4}");
        // The set-up names what it compares; the record key is never among them.
        assert!(report.comparisons.iter().any(|c| c.column == "surname" && c.kind.name() == "name"));
        assert!(report.comparisons.iter().any(|c| c.column == "date_of_birth" && c.kind.name() == "date"));
        assert!(report.comparisons.iter().all(|c| c.column != "rec_id"));
        assert!(report.rules.iter().all(|r| r.pairs > 0));

        let _ = dedupe(&t, table, &["rec_id", "soc_sec_id"], &format!("{table}_n"));
        let (p, r, f1) = scores(&t, &format!("{table}_n"), FEBRL_ENTITY, None);
        assert!(f1 >= 0.99, "{table} without soc_sec_id: precision {p:.4}, recall {r:.4}");
    }
    // Every input row is in the result once, in table order, with its cluster.
    let conn = t.ws.connect().unwrap();
    let same: bool = conn.query_row("SELECT (SELECT list(rec_id) FROM febrl2_m) = (SELECT list(rec_id ORDER BY rowid) FROM febrl2)", [], |r| r.get(0)).unwrap();
    assert!(same);
}

#[test]
fn febrl_tables_link_row_to_row() {
    let t = TestWorkspace::new();
    febrl(&t, "febrl4", "dataset4a.csv", "a");
    febrl(&t, "febrl4", "dataset4b.csv", "b");
    let mut spec = MatchSpec::new("a");
    spec.link = Some("b".into());
    spec.exclude = vec!["rec_id".into()];
    spec.into = Some("ab".into());
    let report = run(&t, spec);
    assert_eq!((report.rows, report.rows_linked), (5000, Some(5000)));
    // Unique in each table but shared by both: a key across them, not a row number.
    assert!(report.comparisons.iter().any(|c| c.column == "soc_sec_id"));
    let (p, r, _) = scores(&t, "ab", FEBRL_ENTITY, Some("a"));
    assert!(p >= 0.998 && r >= 0.995, "precision {p:.4}, recall {r:.4}");
    let conn = t.ws.connect().unwrap();
    let (rows, sources): (i64, i64) = conn.query_row("SELECT count(*), count(DISTINCT _source) FROM ab", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((rows, sources), (10_000, 2));
}

#[test]
fn generated_people_match_at_least_as_well_as_the_reference() {
    let t = TestWorkspace::new();
    let csv = t.dir.path().join("people.csv");
    let status = Command::new("python3").arg(shared().join("bench/anchors.py")).args(["people", "20000"]).arg(&csv).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    t.import(&csv, Some("people")).unwrap();
    let mut spec = MatchSpec::new("people");
    spec.exclude = vec!["entity".into()];
    spec.into = Some("people_m".into());
    spec.review = true;
    let report = run(&t, spec);
    let (p, r, f1) = scores(&t, "people_m", "entity", None);
    // Splink 5 with its tutorial set-up on the same 20,000 rows: 0.901 / 0.983 / 0.940.
    assert!(f1 >= 0.94, "precision {p:.4}, recall {r:.4}, F1 {f1:.4}");
    assert!(report.left_out.iter().any(|l| l.column == "id"), "the row number is left out");
    // The pairs table explains each pair: its weight is the prior plus each column's weight.
    let conn = t.ws.connect().unwrap();
    let columns: Vec<String> = report.comparisons.iter().map(|c| format!("\"{}_weight\"", c.column)).collect();
    let prior = dataforge::engine::linkage::model::prior_weight(report.prior);
    let off: f64 = conn.query_row(&format!("SELECT max(abs(match_weight - ({prior} + {}))) FROM people_m_pairs", columns.join(" + ")), [], |r| r.get(0)).unwrap();
    assert!(off < 1e-9, "{off}");

    // Clusters that hang on one doubtful link are flagged, and split there fall in two.
    let review = report.review.unwrap();
    let flagged: Vec<_> = review.clusters_page(&conn, 0, 100_000).unwrap().into_iter().filter(|c| c.weak_link.is_some()).collect();
    assert!(!flagged.is_empty(), "people written several ways give some clusters that hang on one link");
    let c = &flagged[0];
    let link = c.weak_link.unwrap();
    let split = review.split_at(&conn, c.id, link).unwrap();
    assert!(split.labelled >= 1, "{split:?}");
    let after = review.clusters_page(&conn, 0, 100_000).unwrap();
    let cluster_of = |node: u32| after.iter().map(|c| c.id).find(|&id| review.cluster_rows(&conn, id).unwrap().nodes.contains(&node));
    let (left, right) = (cluster_of(link.left), cluster_of(link.right));
    assert!(left.is_none() || left != right, "the link's two rows are apart: {left:?} {right:?}");
    let sizes: u64 = split.clusters.iter().map(|id| after.iter().find(|c| c.id == *id).unwrap().size).sum();
    assert_eq!(sizes + split.alone, c.size);
}

#[test]
fn a_bad_set_up_is_named_and_changes_nothing() {
    let t = TestWorkspace::new();
    febrl(&t, "febrl1", "dataset1.csv", "f");
    let before = t.ws.tables().unwrap().len();
    let mut spec = MatchSpec::new("f");
    spec.comparisons = vec![dataforge::engine::linkage::compare::Comparison::parse("surnam:name").unwrap()];
    spec.into = Some("out".into());
    let err = spawn(MatchJob { workspace: t.ws.clone(), spec }, no_waker()).wait().unwrap_err();
    assert!(err.to_string().contains("surnam"), "{err}");
    let mut spec = MatchSpec::new("f");
    spec.exclude = vec!["rec_id".into()];
    spec.blocking = vec![vec!["state".into()]];
    spec.max_pairs = 10_000;
    spec.into = Some("out".into());
    let err = spawn(MatchJob { workspace: t.ws.clone(), spec }, no_waker()).wait().unwrap_err().to_string();
    assert!(err.contains("state:") && err.contains("more than the limit of 10,000"), "{err}");
    assert_eq!(t.ws.tables().unwrap().len(), before, "nothing was written");
}

#[test]
fn a_review_pages_clusters_and_explains_each_pair() {
    let t = TestWorkspace::new();
    febrl(&t, "febrl2", "dataset2.csv", "f");
    let mut spec = MatchSpec::new("f");
    spec.exclude = vec!["rec_id".into()];
    spec.review = true;
    let report = run(&t, spec);
    let review = report.review.clone().unwrap();
    let conn = t.ws.connect().unwrap();
    let clusters = review.clusters_page(&conn, 0, 1000).unwrap();
    assert_eq!(clusters.len() as u64, report.clusters);
    assert!(clusters.windows(2).all(|w| w[0].size > w[1].size || (w[0].size == w[1].size && w[0].least <= w[1].least)), "largest and least certain first");
    let first = &clusters[0];
    let rows = review.cluster_rows(&conn, first.id).unwrap();
    assert_eq!(rows.rows.len() as u64, first.size);
    let rec = rows.columns.iter().position(|c| c == "rec_id").unwrap();
    let people: std::collections::HashSet<String> = rows.rows.iter().map(|(_, cells)| cells[rec].clone().unwrap().trim().split('-').nth(1).unwrap().to_string()).collect();
    assert_eq!(people.len(), 1, "one person: {rows:?}");
    let pairs = review.cluster_pairs(&conn, first.id).unwrap();
    assert!(!pairs.is_empty());
    for pair in &pairs {
        let sum: f64 = review.prior_weight + pair.parts.iter().map(|p| p.weight).sum::<f64>();
        assert!((sum - pair.weight).abs() < 1e-9, "the waterfall sums to the score: {sum} vs {}", pair.weight);
        assert!((dataforge::engine::linkage::model::probability(pair.weight) - pair.probability).abs() < 1e-9);
        assert_eq!(pair.parts.len(), review.comparisons.len());
    }
    // The threshold slider's counts: the run's own at its threshold, fewer above, more below.
    let at = review.at_threshold(&conn, 0.5).unwrap();
    assert_eq!((at.pairs, at.clusters, at.rows), (report.pairs_above_threshold, report.clusters, report.rows_in_clusters));
    let (high, low) = (review.at_threshold(&conn, 0.99).unwrap(), review.at_threshold(&conn, 0.05).unwrap());
    assert!(high.pairs <= at.pairs && at.pairs <= low.pairs, "{high:?} {at:?} {low:?}");
    // Names weigh by how common they are: an exact surname adds less the more rows share it.
    assert!(report.comparisons.iter().any(|c| c.column == "surname" && c.term_frequencies));
    let mut by_frequency: Vec<(i64, f64)> = Vec::new();
    for c in &clusters[..200] {
        let rows = review.cluster_rows(&conn, c.id).unwrap();
        let surname = rows.columns.iter().position(|c| c == "surname").unwrap();
        for pair in review.cluster_pairs(&conn, c.id).unwrap() {
            let part = pair.parts.iter().find(|p| p.column == "surname").unwrap();
            if !part.level.starts_with("exact, ") {
                continue;
            }
            let name = rows.rows[rows.nodes.iter().position(|&n| n == pair.left_node).unwrap()].1[surname].clone().unwrap();
            let share: i64 = conn.query_row("SELECT count(*) FROM f WHERE trim(surname) = trim(?)", [&name], |r| r.get(0)).unwrap();
            by_frequency.push((share, part.weight));
        }
    }
    by_frequency.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    assert!(by_frequency.len() > 50 && by_frequency.first().unwrap().0 < by_frequency.last().unwrap().0, "{by_frequency:?}");
    assert!(by_frequency.windows(2).all(|w| if w[0].0 == w[1].0 { (w[0].1 - w[1].1).abs() < 1e-6 } else { w[0].1 > w[1].1 }), "{by_frequency:?}");
    review.discard(&conn);
    assert!(review.clusters_page(&conn, 0, 1).is_err(), "the review's tables are gone");
}

#[test]
fn merging_clusters_keeps_every_row_beside_it_and_undoes_exactly() {
    use dataforge::engine::linkage::apply::{ApplySpec, ApplyTarget, Survivor, UndoApplyJob};
    let t = TestWorkspace::new();
    febrl(&t, "febrl2", "dataset2.csv", "f");
    let conn = t.ws.connect().unwrap();
    conn.execute_batch("CREATE TABLE f_before AS SELECT * FROM f ORDER BY rowid").unwrap();

    // Into a new table: one row per person, each cluster's size beside it.
    let mut spec = MatchSpec::new("f");
    spec.exclude = vec!["rec_id".into()];
    spec.into = Some("f_rows".into());
    spec.apply = Some(ApplySpec { survivors: vec![("given_name".into(), Survivor::Longest)], target: ApplyTarget::NewTable(None), chosen_rows: Vec::new() });
    let report = run(&t, spec.clone());
    let (merged, rows) = report.merged.clone().unwrap();
    assert_eq!(merged, "f_merged");
    assert_eq!(rows, 5000 - (report.rows_in_clusters - report.clusters));
    let (people, total): (i64, i64) = conn
        .query_row("SELECT (SELECT count(DISTINCT regexp_extract(rec_id, 'rec-(\\d+)', 1)) FROM f), (SELECT sum(_rows) FROM f_merged)", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((rows as i64, total), (people, 5000), "one row per person, every row counted once");
    // The longest given name of each cluster survived.
    let shorter: i64 = conn
        .query_row(
            "SELECT count(*) FROM f_merged AS m JOIN (SELECT _cluster, max(length(given_name)) AS l FROM f_rows GROUP BY _cluster) AS r USING (_cluster) WHERE length(m.given_name) <> r.l",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(shorter, 0);

    // Names from the row chosen in each cluster (here its last); clusters with no row chosen
    // take their most complete row's.
    let last_rows: Vec<u64> = conn
        .prepare("SELECT max(rowid) FROM f_rows GROUP BY _cluster HAVING count(*) > 1")
        .unwrap()
        .query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|r| r.unwrap() as u64)
        .collect();
    let (chosen_rows, unchosen) = last_rows.split_at(last_rows.len() / 2);
    let mut chosen_spec = spec.clone();
    chosen_spec.into = Some("f_rows_2".into());
    chosen_spec.apply = Some(ApplySpec {
        survivors: vec![("given_name".into(), Survivor::Chosen), ("surname".into(), Survivor::Chosen)],
        target: ApplyTarget::NewTable(Some("f_chosen".into())),
        chosen_rows: chosen_rows.to_vec(),
    });
    run(&t, chosen_spec);
    let list = |rows: &[u64]| rows.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    let (from_chosen, from_complete): (i64, i64) = conn
        .query_row(
            &format!(
                "SELECT count(*) FILTER (WHERE w.chosen), count(*) FILTER (WHERE NOT w.chosen) FROM f_chosen AS m JOIN (
                   SELECT _cluster, bool_or(rowid IN ({c})) AS chosen,
                          coalesce(arg_max(given_name, rowid) FILTER (WHERE rowid IN ({c})), arg_min(given_name, [(given_name IS NULL)::INT + (surname IS NULL)::INT + (street_number IS NULL)::INT + (address_1 IS NULL)::INT + (address_2 IS NULL)::INT + (suburb IS NULL)::INT + (postcode IS NULL)::INT + (state IS NULL)::INT + (date_of_birth IS NULL)::INT + (soc_sec_id IS NULL)::INT + (rec_id IS NULL)::INT, rowid])) AS g,
                          coalesce(arg_max(surname, rowid) FILTER (WHERE rowid IN ({c})), arg_min(surname, [(given_name IS NULL)::INT + (surname IS NULL)::INT + (street_number IS NULL)::INT + (address_1 IS NULL)::INT + (address_2 IS NULL)::INT + (suburb IS NULL)::INT + (postcode IS NULL)::INT + (state IS NULL)::INT + (date_of_birth IS NULL)::INT + (soc_sec_id IS NULL)::INT + (rec_id IS NULL)::INT, rowid])) AS s
                   FROM f_rows_2 GROUP BY _cluster HAVING count(*) > 1) AS w USING (_cluster)
                 WHERE m.given_name IS NOT DISTINCT FROM w.g AND m.surname IS NOT DISTINCT FROM w.s",
                c = list(chosen_rows)
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((from_chosen as usize, from_complete as usize), (chosen_rows.len(), unchosen.len()));
    // Every other column: its most frequent value in the cluster, ties to the earliest row.
    let frequent_differs: i64 = conn
        .query_row(
            "SELECT count(*) FROM f_chosen AS m JOIN (
               SELECT _cluster, arg_max(suburb, [n, -rowid]) FILTER (WHERE suburb IS NOT NULL) AS s
               FROM (SELECT *, rowid, count(*) OVER (PARTITION BY _cluster, suburb) AS n FROM f_rows_2) GROUP BY _cluster) AS w USING (_cluster)
             WHERE m.suburb IS DISTINCT FROM w.s",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(frequent_differs, 0);

    // In place, then undone: the table is exactly as it was, in its order.
    conn.execute_batch("DROP TABLE f_rows; DROP TABLE f_rows_pairs; DROP TABLE f_merged").unwrap();
    spec.apply = Some(ApplySpec { survivors: Vec::new(), target: ApplyTarget::Replace, chosen_rows: Vec::new() });
    let report = run(&t, spec);
    let now: i64 = conn.query_row("SELECT count(*) FROM f", [], |r| r.get(0)).unwrap();
    assert_eq!(now as u64, report.merged.unwrap().1);
    assert!(now < 5000);
    spawn(UndoApplyJob { workspace: t.ws.clone(), table: "f".into(), companion: "f_rows".into() }, no_waker()).wait().unwrap();
    let (missing, extra, same_order): (i64, i64, bool) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM (SELECT * FROM f_before EXCEPT ALL SELECT * FROM f)), (SELECT count(*) FROM (SELECT * FROM f EXCEPT ALL SELECT * FROM f_before)),
                    (SELECT list(rec_id ORDER BY rowid) FROM f) = (SELECT list(rec_id ORDER BY rowid) FROM f_before)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((missing, extra, same_order), (0, 0, true));
}

#[test]
fn a_cancelled_run_writes_nothing() {
    let t = TestWorkspace::new();
    febrl(&t, "febrl2", "dataset2.csv", "f");
    let before = t.ws.tables().unwrap().len();
    let mut spec = MatchSpec::new("f");
    spec.exclude = vec!["rec_id".into()];
    spec.into = Some("out".into());
    spec.apply =
        Some(dataforge::engine::linkage::apply::ApplySpec { survivors: Vec::new(), target: dataforge::engine::linkage::apply::ApplyTarget::Replace, chosen_rows: Vec::new() });
    let job = spawn(MatchJob { workspace: t.ws.clone(), spec }, no_waker());
    std::thread::sleep(std::time::Duration::from_millis(300));
    job.cancel();
    let err = job.wait().unwrap_err();
    assert!(err.is_cancelled(), "{err}");
    assert_eq!(t.ws.tables().unwrap().len(), before);
    let rows: i64 = t.ws.connect().unwrap().query_row("SELECT count(*) FROM f", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 5000);
}

#[test]
fn a_labelled_pair_overrides_its_score_in_every_later_run() {
    use dataforge::engine::linkage::labels::LabelJob;
    let t = TestWorkspace::new();
    febrl(&t, "febrl1", "dataset1.csv", "f");
    let mut spec = MatchSpec::new("f");
    spec.exclude = vec!["rec_id".into()];
    spec.review = true;
    let first = run(&t, spec.clone());
    assert_eq!((first.clusters, first.labels_used), (500, 0));
    let review = first.review.clone().unwrap();
    let conn = t.ws.connect().unwrap();
    let cluster = review.clusters_page(&conn, 0, 1).unwrap()[0].id;
    let pair = review.cluster_pairs(&conn, cluster).unwrap()[0].clone();
    spawn(LabelJob { workspace: t.ws.clone(), review: review.clone(), left: pair.left_node, right: pair.right_node, is_match: false }, no_waker()).wait().unwrap();
    // And two rows of different people said to be one.
    let other = review.clusters_page(&conn, 1, 1).unwrap()[0].id;
    let stranger = review.cluster_pairs(&conn, other).unwrap()[0].clone();
    spawn(LabelJob { workspace: t.ws.clone(), review: review.clone(), left: pair.left_node, right: stranger.left_node, is_match: true }, no_waker()).wait().unwrap();
    review.discard(&conn);

    let second = run(&t, spec);
    assert_eq!(second.labels_used, 2);
    let review = second.review.clone().unwrap();
    // The pair labelled apart is not a link; the strangers are one cluster through the label.
    let clusters = review.clusters_page(&conn, 0, 1000).unwrap();
    assert_eq!(second.pairs_above_threshold, 500, "one pair less, one more");
    assert_eq!(clusters[0].size, 3, "the stranger's pair joined the labelled row: {:?}", &clusters[..2]);
}

#[test]
fn a_cluster_split_in_review_stays_split_in_every_later_run() {
    use dataforge::engine::linkage::labels::{Split, SplitJob};
    let t = TestWorkspace::new();
    febrl(&t, "febrl2", "dataset2.csv", "f");
    let mut spec = MatchSpec::new("f");
    spec.exclude = vec!["rec_id".into()];
    spec.review = true;
    let first = run(&t, spec.clone());
    let review = first.review.clone().unwrap();
    let conn = t.ws.connect().unwrap();
    let clusters = review.clusters_page(&conn, 0, 100_000).unwrap();
    // Flagged clusters hang on one link below the flag, and that link is one of their pairs.
    for c in clusters.iter().filter(|c| c.weak_link.is_some()) {
        let link = c.weak_link.unwrap();
        assert!(c.size >= 3 && link.probability < dataforge::engine::linkage::FLAG_BELOW && link.probability >= first.threshold, "{c:?}");
        assert!(review.cluster_pairs(&conn, c.id).unwrap().iter().any(|p| (p.left_node, p.right_node) == (link.left, link.right)));
    }
    let big = clusters[0].clone();
    assert!(big.size >= 3, "{big:?}");
    let rows = review.cluster_rows(&conn, big.id).unwrap();
    assert_eq!(rows.nodes.len() as u64, big.size);
    let off = *rows.nodes.last().unwrap();
    let across = review.cluster_pairs(&conn, big.id).unwrap().iter().filter(|p| p.left_node == off || p.right_node == off).count() as u64;

    // Ticking all rows or a row of another cluster is refused in words.
    let err = review.split(&conn, big.id, &rows.nodes).unwrap_err().to_string();
    assert!(err.contains("not all of them"), "{err}");
    let other_row = review.cluster_rows(&conn, clusters[1].id).unwrap().nodes[0];
    assert!(review.split(&conn, big.id, &[other_row]).is_err());

    let split = spawn(SplitJob { workspace: t.ws.clone(), review: review.clone(), cluster: big.id, how: Split::Rows(vec![off]) }, no_waker()).wait().unwrap();
    assert_eq!(split.labelled, across, "every pair across the split is labelled apart");
    let after = review.clusters_page(&conn, 0, 100_000).unwrap();
    assert!(after.iter().all(|c| c.id != off || c.size >= 2));
    let kept: u64 = split.clusters.iter().map(|id| after.iter().find(|c| c.id == *id).unwrap().size).sum();
    assert_eq!(kept + split.alone, big.size, "{split:?}");
    assert_eq!(after.len() as i64, clusters.len() as i64 - 1 + split.clusters.len() as i64);
    let at = review.at_threshold(&conn, first.threshold).unwrap();
    assert_eq!(at.clusters, after.len() as u64, "the slider counts the split");
    review.discard(&conn);

    // The next run keeps the split: the row split off shares a cluster with none it left.
    spec.review = false;
    spec.into = Some("f_rows".into());
    let second = run(&t, spec);
    assert_eq!(second.labels_used, across);
    assert_eq!(second.clusters, at.clusters);
    let together: i64 = conn
        .query_row(
            &format!(
                "SELECT count(*) FROM f_rows WHERE rowid IN ({}) AND _cluster = (SELECT _cluster FROM f_rows WHERE rowid = {off})",
                rows.nodes.iter().filter(|&&n| n != off).map(u32::to_string).collect::<Vec<_>>().join(", ")
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(together, 0);
}

#[test]
fn tables_too_small_or_too_plain_to_match_say_so() {
    let t = TestWorkspace::new();
    t.ws.connect()
        .unwrap()
        .execute_batch(
            "CREATE TABLE empty (name VARCHAR, dob DATE); CREATE TABLE one AS SELECT 'ann' AS name, DATE '2000-01-01' AS dob;
             CREATE TABLE same AS SELECT 'john' AS first_name, 'smith' AS surname FROM range(3000)",
        )
        .unwrap();
    for table in ["empty", "one"] {
        let err = spawn(MatchJob { workspace: t.ws.clone(), spec: MatchSpec::new(table) }, no_waker()).wait().unwrap_err().to_string();
        assert!(err.contains(&format!("no column of {table} is left to compare")), "{err}");
        let mut spec = MatchSpec::new(table);
        spec.comparisons =
            vec![dataforge::engine::linkage::compare::Comparison::parse("name:name").unwrap(), dataforge::engine::linkage::compare::Comparison::parse("dob:date").unwrap()];
        spec.blocking = vec![vec!["name".into()]];
        let report = run(&t, spec);
        assert_eq!((report.candidate_pairs, report.clusters), (0, 0), "{table}");
    }
    let mut spec = MatchSpec::new("same");
    spec.comparisons = vec![dataforge::engine::linkage::compare::Comparison::parse("surname:name").unwrap()];
    let err = spawn(MatchJob { workspace: t.ws.clone(), spec }, no_waker()).wait().unwrap_err().to_string();
    assert!(err.contains("no blocking rule keeps the pairs few enough"), "{err}");
}

/// Random small tables of people, some written twice with a typo: a merge in place with any
/// survivorship rules, then its undo, gives back the table exactly, rows and order.
#[test]
fn merging_in_place_and_undoing_gives_back_the_table_exactly() {
    use dataforge::engine::linkage::apply::{ApplySpec, ApplyTarget, Survivor, UndoApplyJob};
    use dataforge::engine::linkage::compare::Comparison;
    use proptest::prelude::*;
    const NAMES: &[&str] = &["anna", "anne", "bert", "berta", "carl", "karl", "dora"];
    const CITIES: &[&str] = &["york", "yorke", "leeds", "hull"];
    let t = TestWorkspace::new();
    let person = (proptest::sample::select(NAMES), 0u32..6, proptest::option::of(proptest::sample::select(CITIES)));
    let rules = proptest::sample::select(&["most_frequent", "most_complete", "longest", "first", "newest:dob", "chosen"][..]);
    let config = ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() };
    let merged_somewhere = std::sync::atomic::AtomicU64::new(0);
    proptest!(config, |(people in proptest::collection::vec(person, 2..40), copies in proptest::collection::vec(any::<bool>(), 40), survivors in proptest::collection::vec(rules, 3), chosen_rows in proptest::collection::vec(0u64..80, 0..6))| {
        let conn = t.ws.connect().unwrap();
        conn.execute_batch("DROP TABLE IF EXISTS p; DROP TABLE IF EXISTS p_rows; DROP TABLE IF EXISTS p_rows_pairs; DROP TABLE IF EXISTS p_before;
                            CREATE TABLE p (name VARCHAR, dob DATE, city VARCHAR)").unwrap();
        {
            let mut app = conn.appender("p").unwrap();
            for (i, (name, day, city)) in people.iter().enumerate() {
                let dob = format!("1980-01-0{}", day + 1);
                app.append_row(duckdb::params![name, dob, city]).unwrap();
                if copies[i] {
                    // The same person again, one letter off.
                    app.append_row(duckdb::params![format!("{name}h"), dob, city]).unwrap();
                }
            }
            app.flush().unwrap();
        }
        conn.execute_batch("CREATE TABLE p_before AS SELECT * FROM p ORDER BY rowid").unwrap();
        let mut spec = MatchSpec::new("p");
        spec.comparisons = ["name:name", "dob:date", "city:text"].iter().map(|c| Comparison::parse(c).unwrap()).collect();
        spec.blocking = vec![vec!["dob".into()]];
        spec.into = Some("p_rows".into());
        let survivors = ["name", "dob", "city"].iter().zip(&survivors).map(|(c, r)| (c.to_string(), Survivor::parse(r).unwrap())).collect();
        spec.apply = Some(ApplySpec { survivors, target: ApplyTarget::Replace, chosen_rows });
        let report = run(&t, spec);
        merged_somewhere.fetch_add(report.clusters, std::sync::atomic::Ordering::Relaxed);
        let now: i64 = conn.query_row("SELECT count(*) FROM p", [], |r| r.get(0)).unwrap();
        prop_assert_eq!(now as u64, report.rows - (report.rows_in_clusters - report.clusters));
        spawn(UndoApplyJob { workspace: t.ws.clone(), table: "p".into(), companion: "p_rows".into() }, no_waker()).wait().unwrap();
        let (missing, extra, same_order): (i64, i64, bool) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM (SELECT * FROM p_before EXCEPT ALL SELECT * FROM p)), (SELECT count(*) FROM (SELECT * FROM p EXCEPT ALL SELECT * FROM p_before)),
                        (SELECT list(name || coalesce(city, '-') ORDER BY rowid) FROM p) IS NOT DISTINCT FROM (SELECT list(name || coalesce(city, '-') ORDER BY rowid) FROM p_before)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        prop_assert_eq!((missing, extra, same_order), (0, 0, true));
    });
    assert!(merged_somewhere.into_inner() > 0, "the cases merged some clusters");
}

#[test]
fn the_set_up_reads_what_a_fresh_profile_says_each_column_holds() {
    use dataforge::engine::linkage::SetupJob;
    use dataforge::engine::linkage::compare::CompareKind;
    let t = TestWorkspace::new();
    t.ws.connect()
        .unwrap()
        .execute_batch(
            "CREATE TABLE c AS SELECT 'X' || lpad(CAST(i AS VARCHAR), 6, '0') || chr(CAST(65 + i % 26 AS INTEGER)) AS ref,
                    strftime(DATE '1950-01-01' + INTERVAL (i * 37 % 20000) DAY, '%Y-%m-%d') AS joined,
                    ['ann', 'bob', 'cid', 'dan', 'eve'][i % 5 + 1] || ' ' || ['lee', 'kim', 'ray'][i % 3 + 1] AS person
             FROM range(300) AS t(i)",
        )
        .unwrap();
    let setup = || spawn(SetupJob { workspace: t.ws.clone(), spec: MatchSpec::new("c") }, no_waker()).wait().unwrap();
    let kind_of = |s: &dataforge::engine::linkage::MatchSetup, column: &str| s.comparisons.iter().find(|c| c.column == column).map(|c| c.kind);
    // By name and values alone, a unique code reads as text; dates written as text are dates
    // (not phone numbers, though they are digits and dashes).
    let before = setup();
    assert_eq!((kind_of(&before, "ref"), kind_of(&before, "joined")), (Some(CompareKind::Text), Some(CompareKind::Date)));
    spawn(
        dataforge::engine::profile::ProfileJob {
            workspace: t.ws.clone(),
            view: dataforge::engine::view::View::table("c"),
            options: Default::default(),
            on_column: None,
        },
        no_waker(),
    )
    .wait()
    .unwrap();
    // The profile knows better: the code identifies a row.
    let after = setup();
    assert_eq!(kind_of(&after, "ref"), None);
    assert!(after.left_out.iter().any(|p| p.column == "ref" && p.reason.contains("identifies a row")), "{:?}", after.left_out);
    assert_eq!(kind_of(&after, "joined"), Some(CompareKind::Date));
    let reason = after.comparisons.iter().zip(&after.reasons).find(|(c, _)| c.column == "joined").and_then(|(_, r)| r.clone()).unwrap();
    assert_eq!(reason, "date by its profile");
    // A profile the table has outgrown is not read.
    t.ws.connect().unwrap().execute_batch("INSERT INTO c SELECT * FROM c LIMIT 1").unwrap();
    assert_eq!(kind_of(&setup(), "ref"), Some(CompareKind::Text));
}
