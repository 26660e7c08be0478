//! Group commit of objections. Every request hands its objection to one
//! writer task; the writer commits everything that is waiting in one
//! transaction (one fsync) and only then answers each request. Under load
//! many objections share an fsync; none is acknowledged before it is durable.

use tokio::sync::{mpsc, oneshot};
use veto_store::Store;
use veto_store::portal::{Filed, NewObjection};

/// The most objections committed in one transaction.
const MAX_BATCH: usize = 1024;

struct Job {
    new: NewObjection,
    reply: oneshot::Sender<Result<Filed, String>>,
}

/// A handle to the writer task. Dropping every handle lets the task drain
/// what is queued and stop.
#[derive(Clone)]
pub struct ObjectionWriter {
    tx: mpsc::Sender<Job>,
}

impl ObjectionWriter {
    pub fn spawn(store: Store) -> (ObjectionWriter, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Job>(MAX_BATCH * 4);
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                let news: Vec<NewObjection> = jobs.iter().map(|j| j.new.clone()).collect();
                match store.file_objections(&news).await {
                    Ok(filed) => {
                        for (job, f) in jobs.into_iter().zip(filed) {
                            let _ = job.reply.send(Ok(f));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, batch = news.len(), "committing objections failed; none acknowledged");
                        for job in jobs {
                            let _ = job.reply.send(Err("the objection could not be stored".into()));
                        }
                    }
                }
            }
        });
        (ObjectionWriter { tx }, task)
    }

    /// Files an objection; returns once it is committed (or failed).
    pub async fn file(&self, new: NewObjection) -> Result<Filed, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { new, reply })
            .await
            .map_err(|_| "the portal is shutting down".to_string())?;
        answer.await.map_err(|_| "the portal is shutting down".to_string())?
    }
}
