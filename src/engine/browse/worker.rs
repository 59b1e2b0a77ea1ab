//! The thread that owns a view's [`Browser`] and the requests it answers.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use crate::engine::error::{EngineError, Result};
use crate::engine::job::Waker;
use crate::engine::view::Source;
use crate::engine::workspace::{ColumnInfo, Workspace};
use super::reader::{Browser, PageSource};
use super::{PAGE_ROWS, Page};

pub(super) enum Request {
    Describe { generation: u64, source: Source },
    Fetch { generation: u64, source: Source, from: PageSource, page: u64 },
    Copy { id: u64, source: Source, from: PageSource, rows: Range<u64>, columns: Vec<usize> },
    /// A prepared view nobody reads any more.
    Drop(String),
}

pub(super) enum Response {
    Described { generation: u64, result: Result<(Vec<ColumnInfo>, u64, bool)> },
    Fetched { generation: u64, page: u64, result: Result<Page> },
    Copied { id: u64, result: Result<String> },
}

/// The generations a worker still answers for: the one shown and the one asked for; and
/// the generation of the request it is running (0 when idle).
#[derive(Default)]
struct LiveGenerations {
    shown: AtomicU64,
    asked: AtomicU64,
    running: AtomicU64,
}

impl LiveGenerations {
    fn is_live(&self, generation: u64) -> bool {
        generation == self.shown.load(Ordering::Relaxed) || generation == self.asked.load(Ordering::Relaxed)
    }
}

/// A thread that owns a [`Browser`] and answers page requests.
pub struct BrowseWorker {
    tx: Sender<Request>,
    rx: Receiver<Response>,
    interrupt: Arc<std::sync::Mutex<Option<Arc<duckdb::InterruptHandle>>>>,
    live: Arc<LiveGenerations>,
}

impl BrowseWorker {
    /// Starts the worker; its connection is opened on the worker thread, so this never
    /// waits on the database. A failure to connect is reported as the answer to every request.
    pub fn start(workspace: Arc<Workspace>, wake: Waker) -> Result<Self> {
        // Unbounded: a first page or a Drop is never lost; prefetch bounds itself (MAX_PENDING).
        let (req_tx, req_rx) = std::sync::mpsc::channel::<Request>();
        let (resp_tx, resp_rx) = std::sync::mpsc::sync_channel::<Response>(256);
        let interrupt = Arc::new(std::sync::Mutex::new(None));
        let thread_interrupt = interrupt.clone();
        let live = Arc::new(LiveGenerations::default());
        let thread_live = live.clone();
        std::thread::Builder::new()
            .name("browse".into())
            .spawn(move || {
                let mut browser = Browser::new(&workspace).map_err(|e| e.to_string());
                if let (Ok(b), Ok(mut slot)) = (&browser, thread_interrupt.lock()) {
                    *slot = Some(b.interrupt_handle());
                }
                drop(workspace);
                while let Ok(first) = req_rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(req_rx.try_iter());
                    // Newest first: during a fast scroll the last asked page is the visible one.
                    for req in batch.into_iter().rev() {
                        let generation = request_generation(&req);
                        if generation.is_some_and(|g| !thread_live.is_live(g)) {
                            continue;
                        }
                        thread_live.running.store(generation.unwrap_or(0), Ordering::SeqCst);
                        let answered = answer(&mut browser, req);
                        thread_live.running.store(0, Ordering::SeqCst);
                        let Some(resp) = answered else { continue };
                        if resp_tx.send(resp).is_err() {
                            return;
                        }
                        wake();
                    }
                }
            })
            .map_err(|e| EngineError::Internal(format!("could not start the browse thread: {e}")))?;
        Ok(Self { tx: req_tx, rx: resp_rx, interrupt, live })
    }

    /// Queues a request; false when the worker is gone.
    pub(super) fn send(&self, req: Request) -> bool {
        self.tx.send(req).is_ok()
    }

    /// The next answer, if one has arrived; `Err(Disconnected)` when the worker is gone.
    pub(super) fn try_recv(&self) -> std::result::Result<Response, TryRecvError> {
        self.rx.try_recv()
    }

    /// The generations it still answers for: the one shown and the one asked for.
    pub(super) fn set_live(&self, shown: u64, asked: u64) {
        self.live.shown.store(shown, Ordering::Relaxed);
        self.live.asked.store(asked, Ordering::Relaxed);
    }

    /// Stops the page query the worker is running if nobody waits for it any more.
    pub(super) fn interrupt_stale(&self) {
        let running = self.live.running.load(Ordering::SeqCst);
        if running != 0 && !self.live.is_live(running) {
            self.interrupt();
        }
    }

    /// Stops the query the worker is running.
    fn interrupt(&self) {
        if let Ok(slot) = self.interrupt.lock() {
            if let Some(handle) = slot.as_ref() {
                handle.interrupt();
            }
        }
    }
}

impl Drop for BrowseWorker {
    fn drop(&mut self) {
        self.interrupt();
    }
}

fn answer(browser: &mut std::result::Result<Browser, String>, req: Request) -> Option<Response> {
    let unavailable = |e: &String| EngineError::Database(format!("cannot read the table: {e}"));
    Some(match req {
        Request::Describe { generation, source } => Response::Described {
            generation,
            result: match browser {
                Ok(b) => b.describe_fast(&source),
                Err(e) => Err(unavailable(e)),
            },
        },
        Request::Fetch { generation, source, from, page } => Response::Fetched {
            generation,
            page,
            result: match browser {
                Ok(b) => b.read_page(&source, &from, page * PAGE_ROWS, PAGE_ROWS),
                Err(e) => Err(unavailable(e)),
            },
        },
        Request::Copy { id, source, from, rows, columns } => Response::Copied {
            id,
            result: match browser {
                Ok(b) => b.copy_text(&source, &from, rows, &columns),
                Err(e) => Err(unavailable(e)),
            },
        },
        Request::Drop(name) => {
            if let Ok(b) = browser {
                b.drop_prepared(&name);
            }
            return None;
        }
    })
}

fn request_generation(r: &Request) -> Option<u64> {
    match r {
        Request::Describe { generation, .. } | Request::Fetch { generation, .. } => Some(*generation),
        Request::Copy { .. } | Request::Drop(_) => None,
    }
}
