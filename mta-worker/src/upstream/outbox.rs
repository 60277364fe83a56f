//! The event outbox: message events are appended to a log on disk (fsynced) when they
//! happen and shipped to the API in batches until it accepts them. The API ignores event ids
//! it has seen, so a batch retried after a lost answer is never counted twice.
//!
//! One writer thread appends what every session recorded since its last write and fsyncs
//! once for all of them (group commit): a file and an fsync per message was what limited
//! relay throughput under load. The log is a series of segments (`SEQ.log`, one JSON array
//! of events per line); the writer only ever appends to the newest, so every older segment
//! is complete and is deleted once shipped.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use chrono::Utc;
use moat_openapi::{EventBatch, EventDetail, EventKind, MessageEvent};
use tokio::sync::{Notify, oneshot};
use uuid::Uuid;

use crate::common::backoff::Backoff;
use crate::common::error::{WorkerError, WorkerResult};
use crate::upstream::client::ApiClient;

/// Events per POST.
const BATCH: usize = 500;
/// Encoded bytes per POST, at most (less when the API takes less; see `ChannelLimits`).
const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// A segment this large is closed and a new one started.
const SEGMENT_BYTES: u64 = 1 << 20;

/// Events waiting for the writer, and who waits for them to be durable.
struct Append {
    line: Vec<u8>,
    durable: oneshot::Sender<()>,
}

#[derive(Clone)]
pub struct Outbox {
    dir: PathBuf,
    appends: mpsc::Sender<Append>,
    wake: std::sync::Arc<Notify>,
}

/// A new event; its text fields are bounded here, where every event is built.
pub fn event(tracking_id: &str, kind: EventKind, org_id: Option<Uuid>, detail: EventDetail) -> MessageEvent {
    let detail = detail.bounded();
    MessageEvent { id: Uuid::new_v4(), tracking_id: tracking_id.to_string(), kind, at: Utc::now(), org_id, detail }
}

/// Segment files in order, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "log")).collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The writer: appends batches of lines to the newest segment, one fsync per batch.
struct Writer {
    dir: PathBuf,
    file: File,
    size: u64,
    seq: u64,
}

impl Writer {
    /// Starts a new segment after every existing one (a segment left by an earlier run may
    /// end in a torn line; nothing is appended after it).
    fn open(dir: &Path) -> std::io::Result<Writer> {
        let last = segments(dir).iter().filter_map(|p| p.file_stem()?.to_str()?.parse::<u64>().ok()).max().unwrap_or(0);
        let (file, seq) = Writer::create(dir, last + 1)?;
        Ok(Writer { dir: dir.to_path_buf(), file, size: 0, seq })
    }

    fn create(dir: &Path, seq: u64) -> std::io::Result<(File, u64)> {
        let file = OpenOptions::new().create(true).append(true).open(dir.join(format!("{seq:020}.log")))?;
        File::open(dir)?.sync_all()?;
        Ok((file, seq))
    }

    fn append(&mut self, lines: &[u8]) -> std::io::Result<()> {
        if self.size >= SEGMENT_BYTES {
            let (file, seq) = Writer::create(&self.dir, self.seq + 1)?;
            (self.file, self.seq, self.size) = (file, seq, 0);
        }
        self.file.write_all(lines)?;
        self.file.sync_data()?;
        self.size += lines.len() as u64;
        Ok(())
    }

    fn run(mut self, appends: mpsc::Receiver<Append>, wake: std::sync::Arc<Notify>) {
        while let Ok(first) = appends.recv() {
            let mut batch = vec![first];
            batch.extend(appends.try_iter());
            let lines = batch.iter().map(|a| a.line.as_slice()).collect::<Vec<_>>().concat();
            match self.append(&lines) {
                Ok(()) => {
                    for append in batch {
                        let _ = append.durable.send(());
                    }
                }
                Err(err) => {
                    // Not durable: the waiting sessions are told so (their senders drop
                    // unanswered). A torn line may end the segment, so later events go to
                    // a fresh one.
                    tracing::error!(%err, events = batch.len(), "cannot write events to the outbox");
                    if let Ok((file, seq)) = Writer::create(&self.dir, self.seq + 1) {
                        (self.file, self.seq, self.size) = (file, seq, 0);
                    }
                }
            }
            wake.notify_one();
        }
    }
}

/// Where the shipper is in the newest segment (which may still grow).
#[derive(Default, Clone)]
struct ShipPosition {
    segment: Option<PathBuf>,
    offset: u64,
}

impl Outbox {
    pub fn open(dir: PathBuf) -> WorkerResult<Outbox> {
        fs::create_dir_all(&dir)?;
        let writer = Writer::open(&dir)?;
        let (appends, receiver) = mpsc::channel();
        let wake = std::sync::Arc::new(Notify::new());
        let writer_wake = wake.clone();
        std::thread::Builder::new().name("outbox-writer".into()).spawn(move || writer.run(receiver, writer_wake))?;
        Ok(Outbox { dir, appends, wake })
    }

    /// Stores events durably, in order, for shipping. Answers once they are on disk, or
    /// the error when they could not be written (never a success that did not happen).
    pub async fn record(&self, events: Vec<MessageEvent>) -> WorkerResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut line = serde_json::to_vec(&events)?;
        line.push(b'\n');
        let (durable, written) = oneshot::channel();
        let lost = || {
            let ids: Vec<&str> = events.iter().map(|e| e.tracking_id.as_str()).collect();
            tracing::error!(tracking_ids = ?ids, "events not written to the outbox: tracking will miss them");
            WorkerError::Io(std::io::Error::other("the outbox could not write these events"))
        };
        if self.appends.send(Append { line, durable }).is_err() {
            return Err(lost());
        }
        written.await.map_err(|_| lost())
    }

    /// Reads up to BATCH events from the segments, oldest first. Answers the events, the
    /// segments they finish (to delete once shipped) and the position reached in the newest.
    fn take(&self, position: &ShipPosition, max_bytes: usize) -> (Vec<MessageEvent>, Vec<PathBuf>, ShipPosition) {
        let files = segments(&self.dir);
        let mut events = Vec::new();
        let mut finished = Vec::new();
        let mut taken_bytes = 0;
        for (i, path) in files.iter().enumerate() {
            if events.len() >= BATCH || taken_bytes >= max_bytes {
                return (events, finished, position.clone());
            }
            let start = if position.segment.as_ref() == Some(path) { position.offset } else { 0 };
            let mut bytes = Vec::new();
            let read = File::open(path)
                .and_then(|mut f| f.seek(SeekFrom::Start(start)).and_then(|_| f.read_to_end(&mut bytes)));
            if read.is_err() {
                continue;
            }
            // Only whole lines: the writer may be in the middle of one (or, in a segment left
            // by a crash, never finished it).
            let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |n| n + 1);
            let mut used = 0;
            for line in bytes[..complete].split_inclusive(|&b| b == b'\n') {
                if used > 0 && taken_bytes + line.len() > max_bytes {
                    break;
                }
                used += line.len();
                taken_bytes += line.len();
                match serde_json::from_slice::<Vec<MessageEvent>>(line) {
                    Ok(mut batch) => events.append(&mut batch),
                    Err(_) if line.trim_ascii().is_empty() => {}
                    Err(_) => tracing::error!(path = %path.display(), "skipping an unreadable outbox entry"),
                }
                if events.len() >= BATCH || taken_bytes >= max_bytes {
                    break;
                }
            }
            let newest = i + 1 == files.len();
            if used == complete && !newest {
                finished.push(path.clone());
            } else {
                return (events, finished, ShipPosition { segment: Some(path.clone()), offset: start + used as u64 });
            }
        }
        (events, finished, ShipPosition::default())
    }

    /// Ships events to the API forever. A batch the API refuses for good is sent again one
    /// event at a time, and each event it still refuses is set aside (see [`Outbox::set_aside`]),
    /// so one poisoned event never holds up the ones after it.
    pub async fn ship(
        self,
        api: ApiClient,
        metrics: std::sync::Arc<crate::common::metrics::Metrics>,
        policy: crate::policy::Policy,
    ) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let mut position = ShipPosition::default();
        loop {
            let outbox = self.clone();
            let from = position.clone();
            let max_bytes = policy.get().event_batch_bytes(BATCH_BYTES);
            let Ok((events, finished, reached)) =
                tokio::task::spawn_blocking(move || outbox.take(&from, max_bytes)).await
            else {
                backoff.wait().await;
                continue;
            };
            if events.is_empty() {
                for path in finished {
                    let _ = fs::remove_file(path);
                }
                position = reached;
                let _ = tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
                continue;
            }
            let shipped = match api.post_events(&EventBatch { events }).await {
                Ok(ack) => {
                    tracing::debug!(accepted = ack.accepted, duplicates = ack.duplicates, "events shipped");
                    Ok(())
                }
                Err(err) if err.is_refusal() => {
                    tracing::warn!(%err, "the API refused a batch of events; sending them one by one");
                    let outbox = self.clone();
                    let from = position.clone();
                    let events =
                        tokio::task::spawn_blocking(move || outbox.take(&from, max_bytes).0).await.unwrap_or_default();
                    self.ship_one_by_one(&api, events, &metrics).await
                }
                Err(err) => Err(err),
            };
            match shipped {
                Ok(()) => {
                    for path in finished {
                        let _ = fs::remove_file(path);
                    }
                    position = reached;
                    backoff.reset();
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot ship events; will retry");
                    backoff.wait().await;
                }
            }
        }
    }

    /// Ships `events` singly; those the API refuses for good are set aside. Fails on the
    /// first error that is not a refusal (the whole batch is retried later: ids make that safe).
    async fn ship_one_by_one(
        &self,
        api: &ApiClient,
        events: Vec<MessageEvent>,
        metrics: &crate::common::metrics::Metrics,
    ) -> WorkerResult<()> {
        for event in events {
            match api.post_events(&EventBatch { events: vec![event.clone()] }).await {
                Ok(_) => {}
                Err(err) if err.is_refusal() => {
                    self.set_aside(&event, &err.to_string())?;
                    metrics.events_dead.inc();
                }
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Keeps an event the API refused in `dead/EVENT-ID.json` for an operator, with a log
    /// line naming it; shipping goes on without it.
    pub fn set_aside(&self, event: &MessageEvent, why: &str) -> WorkerResult<()> {
        let dead = self.dir.join("dead");
        fs::create_dir_all(&dead)?;
        let path = dead.join(format!("{}.json", event.id));
        crate::common::files::write_atomically(&path, &serde_json::to_vec(event)?)?;
        tracing::error!(event_id = %event.id, tracking_id = %event.tracking_id, %why, path = %path.display(),
            "the API refused an event for good; set aside");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::ScratchDir;

    fn one(tracking_id: &str) -> Vec<MessageEvent> {
        vec![event(tracking_id, EventKind::Received, None, EventDetail::default())]
    }

    fn ids(events: &[MessageEvent]) -> Vec<&str> {
        events.iter().map(|e| e.tracking_id.as_str()).collect()
    }

    #[tokio::test]
    async fn recorded_events_are_taken_once_in_order_and_finished_segments_are_handed_back() {
        let dir = ScratchDir::new();
        // A segment from an earlier run that ends in a torn line.
        fs::write(dir.path().join("00000000000000000007.log"), {
            let mut b = serde_json::to_vec(&one("old")).unwrap();
            b.extend_from_slice(b"\n[{\"torn");
            b
        })
        .unwrap();
        let outbox = Outbox::open(dir.path().to_path_buf()).unwrap();
        outbox.record(one("a")).await.unwrap();
        outbox.record(one("b")).await.unwrap();

        let (events, finished, position) = outbox.take(&ShipPosition::default(), BATCH_BYTES);
        assert_eq!(ids(&events), ["old", "a", "b"]);
        assert_eq!(finished.len(), 1, "the old segment is done: {finished:?}");
        assert!(position.segment.as_ref().is_some_and(|p| p.ends_with("00000000000000000008.log")));

        // Shipped: the shipper deletes the finished segments; nothing is taken again.
        for path in finished {
            fs::remove_file(path).unwrap();
        }
        let (again, _, same) = outbox.take(&position, BATCH_BYTES);
        assert!(again.is_empty());
        assert_eq!(same.offset, position.offset);

        outbox.record(one("c")).await.unwrap();
        let (events, _, _) = outbox.take(&position, BATCH_BYTES);
        assert_eq!(ids(&events), ["c"]);
    }

    #[tokio::test]
    async fn a_batch_stops_at_its_byte_limit_but_takes_at_least_one_line() {
        let dir = ScratchDir::new();
        let outbox = Outbox::open(dir.path().to_path_buf()).unwrap();
        for id in ["a", "b", "c"] {
            outbox.record(one(id)).await.unwrap();
        }
        let (events, _, position) = outbox.take(&ShipPosition::default(), 1);
        assert_eq!(ids(&events), ["a"]);
        let (events, _, _) = outbox.take(&position, BATCH_BYTES);
        assert_eq!(ids(&events), ["b", "c"]);
    }

    #[tokio::test]
    async fn a_restart_starts_a_new_segment_and_ships_the_old_one_whole() {
        let dir = ScratchDir::new();
        {
            let outbox = Outbox::open(dir.path().to_path_buf()).unwrap();
            outbox.record(one("before")).await.unwrap();
        }
        let outbox = Outbox::open(dir.path().to_path_buf()).unwrap();
        outbox.record(one("after")).await.unwrap();
        let (events, finished, _) = outbox.take(&ShipPosition::default(), BATCH_BYTES);
        assert_eq!(ids(&events), ["before", "after"]);
        assert_eq!(finished.len(), 1);
    }
}
