//! The Match tab's own jobs: a run or a split followed by the listing of its clusters, the
//! counts at another threshold, and one cluster's rows and pairs.

use super::LISTED_CLUSTERS;
use crate::engine::job::{Job, JobCtx};
use crate::engine::linkage::labels::SplitJob;
use crate::engine::linkage::{ClusterRows, ClusterSummary, MatchJob, MatchReport, PairExplained, SplitOutcome, ThresholdCounts};
use crate::engine::workspace::Workspace;
use std::sync::Arc;

/// A run and the first page of its clusters, read by the same job.
pub(super) struct RunWithClusters(pub(super) MatchJob);

impl Job for RunWithClusters {
    type Output = (MatchReport, Vec<ClusterSummary>);

    fn title(&self) -> String {
        self.0.title()
    }

    fn run(self, ctx: &JobCtx) -> crate::engine::Result<Self::Output> {
        let workspace = self.0.workspace.clone();
        let report = self.0.run(ctx)?;
        let Some(review) = report.review.clone() else {
            return Ok((report, Vec::new()));
        };
        let conn = workspace.connect()?;
        match review.clusters_page(&conn, 0, LISTED_CLUSTERS) {
            Ok(clusters) => Ok((report, clusters)),
            Err(e) => {
                review.discard(&conn);
                Err(e)
            }
        }
    }
}

/// A split and the clusters listed again.
pub(super) struct SplitAndList(pub(super) SplitJob);

impl Job for SplitAndList {
    type Output = (SplitOutcome, Vec<ClusterSummary>);

    fn title(&self) -> String {
        self.0.title()
    }

    fn run(self, ctx: &JobCtx) -> crate::engine::Result<Self::Output> {
        let (workspace, review) = (self.0.workspace.clone(), self.0.review.clone());
        let outcome = self.0.run(ctx)?;
        let conn = workspace.connect()?;
        let clusters = review.clusters_page(&conn, 0, LISTED_CLUSTERS)?;
        Ok((outcome, clusters))
    }
}

/// Counts what another threshold gives.
pub(super) struct ThresholdJob {
    pub(super) workspace: Arc<Workspace>,
    pub(super) review: crate::engine::linkage::MatchReview,
    pub(super) threshold: f64,
}

impl Job for ThresholdJob {
    type Output = ThresholdCounts;

    fn title(&self) -> String {
        format!("Count matches of {} at {:.2}", self.review.table, self.threshold)
    }

    fn run(self, _: &JobCtx) -> crate::engine::Result<ThresholdCounts> {
        let conn = self.workspace.connect()?;
        self.review.at_threshold(&conn, self.threshold)
    }
}

/// One cluster's rows and explained pairs.
pub(super) struct DetailJob {
    pub(super) workspace: Arc<Workspace>,
    pub(super) review: crate::engine::linkage::MatchReview,
    pub(super) id: u32,
}

impl Job for DetailJob {
    type Output = (ClusterRows, Vec<PairExplained>);

    fn title(&self) -> String {
        format!("Read cluster {} of {}", self.id + 1, self.review.table)
    }

    fn run(self, _: &JobCtx) -> crate::engine::Result<Self::Output> {
        let conn = self.workspace.connect()?;
        Ok((self.review.cluster_rows(&conn, self.id)?, self.review.cluster_pairs(&conn, self.id)?))
    }
}
