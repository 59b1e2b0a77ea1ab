//! One job abstraction for every long operation (import, export, bench steps).
//!
//! A [`Job`] runs on its own named worker thread with its own DuckDB connection. It reports
//! through a [`JobCtx`]: the phase it is in, byte/row counters, and which connection is
//! running SQL. A monitor thread polls that connection's query progress and the process
//! memory ten times a second, so long single statements (a `CREATE TABLE AS` over a 1 GB CSV)
//! still show live progress. Readers (the UI each frame, the CLI's progress bar) take a
//! [`JobSnapshot`]; nothing ever blocks on a running job. Cancel sets a flag and interrupts
//! the registered connection; jobs clean up after themselves before reporting `Cancelled`.

pub mod memory;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use duckdb::{Connection, InterruptHandle, ProgressHandle};
use serde::Serialize;

use super::error::{EngineError, Result};

/// Called whenever a job has something new to show (the UI passes a repaint request).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

pub fn no_waker() -> Waker {
    Arc::new(|| {})
}

const MONITOR_INTERVAL: Duration = Duration::from_millis(100);

pub trait Job: Send + 'static {
    type Output: Send + 'static;
    fn title(&self) -> String;
    fn run(self, ctx: &JobCtx) -> Result<Self::Output>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Queued => "Queued",
            Self::Running => "Running",
            Self::Done => "Done",
            Self::Failed => "Failed",
            Self::Cancelled => "Cancelled",
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Progress {
    pub phase: String,
    /// 0.0..=1.0 when known.
    pub fraction: Option<f64>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub rows_done: u64,
    /// Expected rows when only an estimate is known; `rows_done` then follows the fraction.
    pub rows_total_estimate: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct JobMetrics {
    pub duration_secs: f64,
    pub rows: u64,
    pub bytes: u64,
    pub rows_per_sec: f64,
    pub mb_per_sec: f64,
    pub peak_rss_bytes: u64,
}

impl JobMetrics {
    fn new(duration: Duration, rows: u64, bytes: u64, peak_rss_bytes: u64) -> Self {
        let secs = duration.as_secs_f64();
        let per_sec = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
        Self {
            duration_secs: secs,
            rows,
            bytes,
            rows_per_sec: per_sec(rows as f64),
            mb_per_sec: per_sec(bytes as f64 / 1e6),
            peak_rss_bytes,
        }
    }
}

#[derive(Clone, Debug)]
pub struct JobSnapshot {
    pub id: u64,
    pub title: String,
    pub state: JobState,
    pub progress: Progress,
    pub elapsed: Duration,
    pub metrics: JobMetrics,
    pub error: Option<String>,
    /// Cancel was asked for and the job is still cleaning up.
    pub is_cancelling: bool,
}

impl JobSnapshot {
    /// Remaining time, extrapolated from the fraction done so far.
    pub fn eta(&self) -> Option<Duration> {
        let fraction = self.progress.fraction?;
        if self.state != JobState::Running || fraction < 0.01 || fraction >= 1.0 {
            return None;
        }
        let secs = self.elapsed.as_secs_f64() * (1.0 - fraction) / fraction;
        Some(Duration::from_secs_f64(secs))
    }
}

#[derive(Default)]
struct Status {
    state: Option<JobState>,
    progress: Progress,
    started: Option<Instant>,
    finished: Option<Instant>,
    output: Option<(u64, u64)>,
    peak_rss_bytes: u64,
    error: Option<String>,
}

struct Shared {
    id: u64,
    title: String,
    is_cancelled: AtomicBool,
    /// Past the point of no return (a commit has started): cancel is no longer heard.
    is_committing: AtomicBool,
    watched: Mutex<Option<(Arc<InterruptHandle>, ProgressHandle)>>,
    status: Mutex<Status>,
    wake: Waker,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a job is caught and reported; its data stays usable for reporting.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn cancel(&self) {
        {
            // Under the same lock as the commit point, so a cancel lands before it or not at all.
            let watched = lock(&self.watched);
            if self.is_committing.load(Ordering::SeqCst) {
                return;
            }
            self.is_cancelled.store(true, Ordering::SeqCst);
            if let Some((interrupt, _)) = watched.as_ref() {
                interrupt.interrupt();
            }
        }
        (self.wake)();
    }

    fn snapshot(&self) -> JobSnapshot {
        let status = lock(&self.status);
        let elapsed = match (status.started, status.finished) {
            (Some(s), Some(f)) => f - s,
            (Some(s), None) => s.elapsed(),
            _ => Duration::ZERO,
        };
        let (rows, bytes) = status
            .output
            .unwrap_or((status.progress.rows_done, status.progress.bytes_done));
        let state = status.state.unwrap_or(JobState::Queued);
        JobSnapshot {
            is_cancelling: self.is_cancelled.load(Ordering::SeqCst) && !state.is_finished(),
            id: self.id,
            title: self.title.clone(),
            state,
            progress: status.progress.clone(),
            elapsed,
            metrics: JobMetrics::new(elapsed, rows, bytes, status.peak_rss_bytes),
            error: status.error.clone(),
        }
    }

    /// One monitor tick: read the watched query's progress and the process memory. While
    /// cancelled, interrupt again: DuckDB clears the flag when a statement starts, so a
    /// cancel that lands between two statements would otherwise be lost.
    fn sample(&self) {
        let query = {
            let watched = lock(&self.watched);
            if self.is_cancelled.load(Ordering::SeqCst) {
                if let Some((interrupt, _)) = watched.as_ref() {
                    interrupt.interrupt();
                }
            }
            watched.as_ref().map(|(_, p)| p.query_progress())
        };
        let rss = memory::process_rss_bytes();
        let mut status = lock(&self.status);
        status.peak_rss_bytes = status.peak_rss_bytes.max(rss);
        if let Some(percent) = query.and_then(|q| q.percentage()) {
            let fraction = (percent / 100.0).clamp(0.0, 1.0);
            let p = &mut status.progress;
            // DuckDB's estimate can step back when a new pipeline starts; never show that.
            if p.fraction.is_none_or(|f| fraction > f) {
                p.fraction = Some(fraction);
                if let Some(total) = p.bytes_total {
                    p.bytes_done = (total as f64 * fraction) as u64;
                }
                if let Some(rows) = p.rows_total_estimate {
                    p.rows_done = (rows as f64 * fraction) as u64;
                }
            }
        }
    }
}

/// What a running job sees of its own bookkeeping.
pub struct JobCtx {
    shared: Arc<Shared>,
}

impl JobCtx {
    /// The job's title ("Remove duplicates from sales").
    pub fn title(&self) -> &str {
        &self.shared.title
    }

    pub fn is_cancelled(&self) -> bool {
        self.shared.is_cancelled.load(Ordering::SeqCst)
    }

    /// Returns `Err(Cancelled)` once cancel was requested.
    pub fn checkpoint(&self) -> Result<()> {
        if self.is_cancelled() { Err(EngineError::Cancelled) } else { Ok(()) }
    }

    /// Registers `conn` as the connection this job runs SQL on: cancel interrupts it and the
    /// monitor reads its query progress.
    pub fn watch(&self, conn: &Connection) -> Result<()> {
        conn.set_query_progress_tracking(true)?;
        // Report progress from the first moment, not only after DuckDB's 2 s terminal delay.
        let _ = conn.execute_batch("SET progress_bar_time = 0");
        *lock(&self.shared.watched) = Some((conn.interrupt_handle(), conn.progress_handle()));
        if self.is_cancelled() {
            conn.interrupt_handle().interrupt();
            return Err(EngineError::Cancelled);
        }
        Ok(())
    }

    /// The point of no return: from here on cancel is not heard, so a job that commits
    /// reports what it did. `Err(Cancelled)` when cancel came first.
    pub fn commit_point(&self) -> Result<()> {
        let mut watched = lock(&self.shared.watched);
        if self.is_cancelled() {
            return Err(EngineError::Cancelled);
        }
        self.shared.is_committing.store(true, Ordering::SeqCst);
        *watched = None;
        Ok(())
    }

    /// Runs `work` in one transaction on `conn`, committed unless it fails or cancel comes
    /// first; rolled back otherwise. A cancel that arrives once the commit has started is
    /// not heard: the job then reports success, because its change is there.
    pub fn transaction<T>(&self, conn: &Connection, work: impl FnOnce() -> Result<T>) -> Result<T> {
        conn.execute_batch("BEGIN TRANSACTION")?;
        let outcome = work().and_then(|value| {
            self.commit_point()?;
            conn.execute_batch("COMMIT")?;
            Ok(value)
        });
        if outcome.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        outcome
    }

    /// Stops interrupting and watching the connection, before cleanup SQL that must run
    /// even when the job was cancelled.
    pub fn unwatch(&self) {
        *lock(&self.shared.watched) = None;
    }

    /// Starts a new phase (shown as the job's status line); progress restarts at 0.
    pub fn phase(&self, phase: impl Into<String>, bytes_total: Option<u64>) {
        let mut status = lock(&self.shared.status);
        status.progress = Progress {
            phase: phase.into(),
            fraction: None,
            bytes_done: 0,
            bytes_total,
            rows_done: status.progress.rows_done,
            rows_total_estimate: None,
        };
        drop(status);
        (self.shared.wake)();
    }

    /// Sets the expected row count of the current phase, for a live "rows so far".
    pub fn expect_rows(&self, rows: u64) {
        lock(&self.shared.status).progress.rows_total_estimate = Some(rows);
    }

    /// Reports how far along the job is when its work is not counted in bytes (columns profiled).
    pub fn fraction(&self, fraction: f64) {
        lock(&self.shared.status).progress.fraction = Some(fraction.clamp(0.0, 1.0));
    }

    /// Reports counters the job tracks itself (rows appended, bytes written).
    pub fn progress(&self, bytes_done: u64, rows_done: u64) {
        let mut status = lock(&self.shared.status);
        let p = &mut status.progress;
        p.bytes_done = bytes_done;
        p.rows_done = rows_done;
        if let Some(total) = p.bytes_total.filter(|t| *t > 0) {
            p.fraction = Some((bytes_done as f64 / total as f64).min(1.0));
        }
    }

    /// The job's final size, used for its metrics (rows/s, MB/s).
    pub fn record_output(&self, rows: u64, bytes: u64) {
        let mut status = lock(&self.shared.status);
        status.output = Some((rows, bytes));
        status.progress.rows_done = rows;
    }
}

/// A job started with [`spawn`]: snapshot it, cancel it, take its result once.
pub struct JobHandle<T> {
    shared: Arc<Shared>,
    result_rx: Receiver<Result<T>>,
    result: Option<Result<T>>,
    is_result_taken: bool,
}

/// A clonable view of a job whose result someone else takes: its progress and a way to
/// cancel it (a Ctrl+C handler, the jobs list showing a table view's sort).
#[derive(Clone)]
pub struct JobWatch(Arc<Shared>);

impl JobWatch {
    pub fn id(&self) -> u64 {
        self.0.id
    }

    pub fn snapshot(&self) -> JobSnapshot {
        self.0.snapshot()
    }

    pub fn cancel(&self) {
        self.0.cancel();
    }
}

impl<T> JobHandle<T> {
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    pub fn title(&self) -> &str {
        &self.shared.title
    }

    pub fn snapshot(&self) -> JobSnapshot {
        self.shared.snapshot()
    }

    pub fn cancel(&self) {
        self.shared.cancel();
    }

    pub fn watch(&self) -> JobWatch {
        JobWatch(self.shared.clone())
    }

    /// The result, once the job has finished; `None` while it runs. After the first
    /// `Some`, later calls return `None`.
    pub fn take_result(&mut self) -> Option<Result<T>> {
        self.take_result_within(Duration::ZERO)
    }

    /// As [`Self::take_result`], waiting up to `wait` for the job to finish.
    pub fn take_result_within(&mut self, wait: Duration) -> Option<Result<T>> {
        if self.is_result_taken {
            return None;
        }
        if self.result.is_none() {
            match self.result_rx.recv_timeout(wait) {
                Ok(r) => self.result = Some(r),
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => {
                    self.result = Some(Err(EngineError::Internal("the job stopped unexpectedly".into())))
                }
            }
        }
        self.is_result_taken = self.result.is_some();
        self.result.take()
    }

    /// Blocks until the job finishes.
    pub fn wait(mut self) -> Result<T> {
        if let Some(r) = self.result.take() {
            return r;
        }
        self.result_rx
            .recv()
            .unwrap_or_else(|_| Err(EngineError::Internal("the job stopped unexpectedly".into())))
    }
}

static NEXT_JOB_ID: AtomicU64 = AtomicU64::new(1);

/// Starts `job` on a named worker thread.
pub fn spawn<J: Job>(job: J, wake: Waker) -> JobHandle<J::Output> {
    let id = NEXT_JOB_ID.fetch_add(1, Ordering::Relaxed);
    let shared = Arc::new(Shared {
        id,
        title: job.title(),
        is_cancelled: AtomicBool::new(false),
        is_committing: AtomicBool::new(false),
        watched: Mutex::new(None),
        status: Mutex::new(Status::default()),
        wake,
    });
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let worker_shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("job-{id}"))
        .spawn(move || run_job(job, worker_shared, tx));
    if let Err(err) = spawned {
        let mut status = lock(&shared.status);
        status.state = Some(JobState::Failed);
        status.error = Some(format!("could not start a worker thread: {err}"));
    }
    JobHandle {
        shared,
        result_rx: rx,
        result: None,
        is_result_taken: false,
    }
}

fn run_job<J: Job>(job: J, shared: Arc<Shared>, tx: SyncSender<Result<J::Output>>) {
    {
        let mut status = lock(&shared.status);
        status.state = Some(JobState::Running);
        status.started = Some(Instant::now());
    }
    let is_done = Arc::new(AtomicBool::new(false));
    let monitor = {
        let shared = shared.clone();
        let is_done = is_done.clone();
        std::thread::Builder::new()
            .name(format!("job-{}-monitor", shared.id))
            .spawn(move || {
                while !is_done.load(Ordering::SeqCst) {
                    shared.sample();
                    (shared.wake)();
                    // Woken early when the job ends, so finishing never waits for a tick.
                    std::thread::park_timeout(MONITOR_INTERVAL);
                }
            })
            .ok()
    };

    let ctx = JobCtx { shared: shared.clone() };
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| job.run(&ctx)));
    let result = match outcome {
        Ok(Err(_)) if ctx.is_cancelled() => Err(EngineError::Cancelled),
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(EngineError::Internal(what))
        }
    };

    is_done.store(true, Ordering::SeqCst);
    if let Some(m) = monitor {
        m.thread().unpark();
        let _ = m.join();
    }
    *lock(&shared.watched) = None;
    shared.sample();
    {
        let mut status = lock(&shared.status);
        status.finished = Some(Instant::now());
        status.state = Some(match &result {
            Ok(_) => JobState::Done,
            Err(EngineError::Cancelled) => JobState::Cancelled,
            Err(_) => JobState::Failed,
        });
        match &result {
            Ok(_) => status.progress.fraction = Some(1.0),
            Err(e) => status.error = Some(e.to_string()),
        }
    }
    let _ = tx.send(result);
    (shared.wake)();
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sleepy;
    impl Job for Sleepy {
        type Output = u32;
        fn title(&self) -> String {
            "sleepy".into()
        }
        fn run(self, ctx: &JobCtx) -> Result<u32> {
            for _ in 0..200 {
                ctx.checkpoint()?;
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(7)
        }
    }

    struct Panicky;
    impl Job for Panicky {
        type Output = ();
        fn title(&self) -> String {
            "panicky".into()
        }
        fn run(self, _: &JobCtx) -> Result<()> {
            panic!("boom")
        }
    }

    #[test]
    fn cancel_stops_a_cooperative_job() {
        let handle = spawn(Sleepy, no_waker());
        let id = handle.id();
        handle.watch().cancel();
        let shared = handle.shared.clone();
        let started = std::time::Instant::now();
        assert!(matches!(handle.wait(), Err(EngineError::Cancelled)));
        assert!(started.elapsed() < Duration::from_secs(1), "the job ran on after cancel");
        let snap = shared.snapshot();
        assert_eq!(snap.id, id);
        assert_eq!(snap.state, JobState::Cancelled);
        assert_eq!(snap.error.as_deref(), Some("cancelled"));
    }

    #[test]
    fn a_result_is_taken_once() {
        let mut handle = spawn(Sleepy, no_waker());
        handle.cancel();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let first = loop {
            if let Some(r) = handle.take_result() {
                break r;
            }
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(matches!(first, Err(EngineError::Cancelled)));
        std::thread::sleep(Duration::from_millis(20));
        assert!(handle.take_result().is_none());
        assert!(handle.take_result().is_none());
    }

    /// Finishes its step before it looks at the cancel flag again.
    struct Slow;
    impl Job for Slow {
        type Output = ();
        fn title(&self) -> String {
            "slow".into()
        }
        fn run(self, ctx: &JobCtx) -> Result<()> {
            std::thread::sleep(Duration::from_millis(300));
            ctx.checkpoint()
        }
    }

    #[test]
    fn a_cancelled_job_says_so_until_it_stops() {
        let handle = spawn(Slow, no_waker());
        std::thread::sleep(Duration::from_millis(50));
        assert!(!handle.snapshot().is_cancelling);
        handle.cancel();
        let snap = handle.snapshot();
        assert!(snap.is_cancelling && snap.state == JobState::Running, "{snap:?}");
        let watch = handle.watch();
        assert!(matches!(handle.wait(), Err(EngineError::Cancelled)));
        let done = watch.snapshot();
        assert!(!done.is_cancelling && done.state == JobState::Cancelled, "{done:?}");
    }

    #[test]
    fn panics_become_errors() {
        let handle = spawn(Panicky, no_waker());
        let err = handle.wait().unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
    }
}
