//! The gate: one dedicated thread that owns the vault's share connection and decides
//! requests in batches (group commit): every request waiting when a batch starts is
//! decided in one write transaction, committed with one fsync, then answered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread;
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::oneshot;
use trove_core::{ReplyBody, ShareEngine, ShareReply, ShareRequest, Vault};

enum Msg {
    Job(ShareRequest, oneshot::Sender<Decided>),
    /// Write every folded failure's summary row, then answer.
    FlushFailures(oneshot::Sender<()>),
    Lock,
    Unlock(Box<Vault>, Box<ShareEngine>),
}

/// A handle on the gate thread; cheap to share. The thread ends when the last handle
/// is dropped.
#[derive(Clone)]
pub(crate) struct Gate {
    tx: mpsc::Sender<Msg>,
    counts: Arc<Counts>,
}

/// Batches committed and requests decided so far (for benchmarks and diagnostics).
#[derive(Default)]
struct Counts {
    batches: AtomicU64,
    requests: AtomicU64,
}

/// A decided request, and where its JSON body is written once for every reply of the
/// batch that carries the same record list (the first HTTP worker to need it writes
/// it, on its own thread; the others reuse the bytes).
pub(crate) struct Decided {
    pub(crate) reply: ShareReply,
    pub(crate) body: Option<Arc<OnceLock<Bytes>>>,
}

/// Why the gate could not decide a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GateError {
    /// No vault is open (locked).
    Locked,
    /// The gate thread is gone.
    Closed,
}

impl Gate {
    /// Starts the gate thread, holding `vault` (unlocked) or nothing (locked).
    pub(crate) fn start(open: Option<(Vault, ShareEngine)>, batch_max: usize) -> Gate {
        let (tx, rx) = mpsc::channel::<Msg>();
        let counts = Arc::new(Counts::default());
        thread::Builder::new()
            .name("trove-share-gate".into())
            .spawn({
                let counts = counts.clone();
                move || run(rx, open, batch_max.max(1), &counts)
            })
            .expect("spawn the gate thread");
        Gate { tx, counts }
    }

    /// (batches, requests) decided so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.counts.batches.load(Ordering::Relaxed),
            self.counts.requests.load(Ordering::Relaxed),
        )
    }

    /// Decides `req`; the reply comes after its log row is committed.
    pub(crate) async fn decide(&self, req: ShareRequest) -> Result<Decided, GateError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Job(req, tx))
            .map_err(|_| GateError::Closed)?;
        match rx.await {
            Ok(r) => Ok(r),
            // The gate drops the sender without a reply only while locked.
            Err(_) => Err(GateError::Locked),
        }
    }

    /// Writes the summary rows of every folded failure; returns once committed.
    pub(crate) async fn flush_failures(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::FlushFailures(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Closes the vault: requests answer 503 until [`Gate::unlock`].
    pub(crate) fn lock(&self) {
        let _ = self.tx.send(Msg::Lock);
    }

    /// Opens the gate on `vault`.
    pub(crate) fn unlock(&self, vault: Vault, engine: ShareEngine) {
        let _ = self.tx.send(Msg::Unlock(Box::new(vault), Box::new(engine)));
    }
}

/// How often the checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// Readies an opened vault for the gate: tunes its connection and starts a
/// checkpointer on a second connection, so that WAL checkpoints (page copies and two
/// fsyncs) happen beside the gate rather than inside a batch. The checkpointer stops
/// (and closes its connection) when the returned sender is dropped.
fn open_gate(v: &Vault) -> Option<mpsc::Sender<()>> {
    if let Err(e) = trove_core::share::tune_gate_connection(v) {
        tracing::warn!(code = %e.code(), "share: cannot tune the gate's connection");
    }
    let ckpt = match v.try_clone() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(
                code = %e.code(),
                "share: no checkpointer; the gate checkpoints itself"
            );
            return None;
        }
    };
    let (stop, stopped) = mpsc::channel::<()>();
    let spawned = thread::Builder::new()
        .name("trove-share-ckpt".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                if let Err(e) = trove_core::share::checkpoint_wal(&ckpt) {
                    tracing::debug!(code = %e.code(), "share: checkpoint skipped");
                }
            }
        });
    match spawned {
        Ok(_) => Some(stop),
        Err(_) => None,
    }
}

fn run(
    rx: mpsc::Receiver<Msg>,
    mut open: Option<(Vault, ShareEngine)>,
    batch_max: usize,
    counts: &Counts,
) {
    let mut _checkpointer = open.as_ref().and_then(|(v, _)| open_gate(v));
    let release = start_releaser();
    let mut jobs: Vec<(ShareRequest, oneshot::Sender<Decided>)> = Vec::with_capacity(batch_max);
    loop {
        let first = match rx.recv_timeout(FLUSH_FAILURES_EVERY) {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                flush_failures(open.as_ref(), false);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Msg::Job(r, s)) => jobs.push((r, s)),
                Some(Msg::FlushFailures(done)) => {
                    flush(&mut jobs, open.as_ref(), counts, release.as_ref());
                    flush_failures(open.as_ref(), true);
                    let _ = done.send(());
                }
                Some(Msg::Lock) => {
                    flush(&mut jobs, open.as_ref(), counts, release.as_ref());
                    flush_failures(open.as_ref(), true);
                    _checkpointer = None;
                    open = None;
                }
                Some(Msg::Unlock(v, e)) => {
                    flush(&mut jobs, open.as_ref(), counts, release.as_ref());
                    flush_failures(open.as_ref(), true);
                    _checkpointer = open_gate(&v);
                    open = Some((*v, *e));
                }
                None => {}
            }
            if jobs.len() >= batch_max {
                break;
            }
            match rx.try_recv() {
                Ok(m) => next = Some(m),
                Err(_) => break,
            }
        }
        flush(&mut jobs, open.as_ref(), counts, release.as_ref());
    }
    // Every handle is gone (the server stopped): sum up what was folded.
    flush_failures(open.as_ref(), true);
}

/// How often the gate, when idle, writes the rows that sum up a finished minute's
/// repeated failures (they are otherwise written by the next batch).
const FLUSH_FAILURES_EVERY: Duration = Duration::from_secs(5);

fn flush_failures(open: Option<&(Vault, ShareEngine)>, all: bool) {
    if let Some((vault, engine)) = open {
        if let Err(e) = engine.flush_failures(vault, all) {
            tracing::warn!(
                code = %e.code(),
                "share: cannot write the failure summary rows"
            );
        }
    }
}

fn flush(
    jobs: &mut Vec<(ShareRequest, oneshot::Sender<Decided>)>,
    open: Option<&(Vault, ShareEngine)>,
    counts: &Counts,
    release: Option<&mpsc::Sender<Released>>,
) {
    if jobs.is_empty() {
        return;
    }
    let Some((vault, engine)) = open else {
        // Locked: dropping the senders answers every waiting request with 503.
        jobs.clear();
        return;
    };
    let (reqs, senders): (Vec<_>, Vec<_>) = jobs.drain(..).unzip();
    counts.batches.fetch_add(1, Ordering::Relaxed);
    counts
        .requests
        .fetch_add(reqs.len() as u64, Ordering::Relaxed);
    let replies = engine.handle_batch(vault, reqs);
    let mut bodies: HashMap<*const trove_core::Record, Arc<OnceLock<Bytes>>> = HashMap::new();
    let decided: Released = senders
        .into_iter()
        .zip(replies)
        .map(|(s, reply)| {
            let body = match &reply.body {
                ReplyBody::Records(rs) => Some(bodies.entry(rs.as_ptr()).or_default().clone()),
                _ => None,
            };
            (s, Decided { reply, body })
        })
        .collect();
    // The batch is committed: hand the replies over. Waking each waiting HTTP task
    // costs a syscall or two, which the releaser pays instead of the gate.
    let decided = match release {
        Some(r) => match r.send(decided) {
            Ok(()) => return,
            Err(mpsc::SendError(d)) => d,
        },
        None => decided,
    };
    send_all(decided);
}

/// A committed batch's replies and where each goes.
type Released = Vec<(oneshot::Sender<Decided>, Decided)>;

fn send_all(decided: Released) {
    for (s, d) in decided {
        let _ = s.send(d);
    }
}

/// Starts the thread that delivers committed replies; it ends when the gate does.
/// `None` (the gate delivers them itself) if no thread can be started.
fn start_releaser() -> Option<mpsc::Sender<Released>> {
    let (tx, rx) = mpsc::channel::<Released>();
    thread::Builder::new()
        .name("trove-share-send".into())
        .spawn(move || {
            while let Ok(batch) = rx.recv() {
                send_all(batch);
            }
        })
        .ok()?;
    Some(tx)
}
