//! The gate: one dedicated thread that owns the vault's share connection and decides
//! requests in batches (group commit): every request waiting when a batch starts is
//! decided in one write transaction, committed with one fsync, then answered.

use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;
use trove_core::{ShareEngine, ShareReply, ShareRequest, Vault};

enum Msg {
    Job(ShareRequest, oneshot::Sender<ShareReply>),
    Lock,
    Unlock(Box<Vault>, Box<ShareEngine>),
}

/// A handle on the gate thread; cheap to share. The thread ends when the last handle
/// is dropped.
#[derive(Clone)]
pub(crate) struct Gate {
    tx: mpsc::Sender<Msg>,
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
        thread::Builder::new()
            .name("trove-share-gate".into())
            .spawn(move || run(rx, open, batch_max.max(1)))
            .expect("spawn the gate thread");
        Gate { tx }
    }

    /// Decides `req`; the reply comes after its log row is committed.
    pub(crate) async fn decide(&self, req: ShareRequest) -> Result<ShareReply, GateError> {
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

    /// Closes the vault: requests answer 503 until [`Gate::unlock`].
    pub(crate) fn lock(&self) {
        let _ = self.tx.send(Msg::Lock);
    }

    /// Opens the gate on `vault`.
    pub(crate) fn unlock(&self, vault: Vault, engine: ShareEngine) {
        let _ = self.tx.send(Msg::Unlock(Box::new(vault), Box::new(engine)));
    }
}

fn run(rx: mpsc::Receiver<Msg>, mut open: Option<(Vault, ShareEngine)>, batch_max: usize) {
    let mut jobs: Vec<(ShareRequest, oneshot::Sender<ShareReply>)> = Vec::with_capacity(batch_max);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Msg::Job(r, s)) => jobs.push((r, s)),
                Some(Msg::Lock) => {
                    flush(&mut jobs, open.as_ref());
                    open = None;
                }
                Some(Msg::Unlock(v, e)) => {
                    flush(&mut jobs, open.as_ref());
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
        flush(&mut jobs, open.as_ref());
    }
}

fn flush(
    jobs: &mut Vec<(ShareRequest, oneshot::Sender<ShareReply>)>,
    open: Option<&(Vault, ShareEngine)>,
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
    let replies = engine.handle_batch(vault, reqs);
    for (s, r) in senders.into_iter().zip(replies) {
        let _ = s.send(r);
    }
}
