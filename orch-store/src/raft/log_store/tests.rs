//! Damage to the `log` file, as a crash (a cut) or bit rot (a flipped
//! bit) leaves it: reopening never starts with fewer entries than the
//! intact records before the damage, nor with a damaged one.

use std::sync::OnceLock;

use openraft::{CommittedLeaderId, EntryPayload};
use proptest::prelude::*;
use proptest::test_runner::Config;

use super::*;
use crate::raft::command::{Command, Op};

/// Entry `index`, of a size that varies with it.
fn entry(index: u64) -> Entry<TypeConfig> {
    let log_id = LogId::new(CommittedLeaderId::new(1, 1), index);
    if index == 1 {
        return Entry { log_id, payload: EntryPayload::Blank };
    }
    let ops = (0..index % 5 + 1)
        .map(|i| Op::LeaseGrant { id: (index * 100 + i) as i64, ttl_seconds: 60 })
        .collect();
    Entry { log_id, payload: EntryPayload::Normal(Command { member: 1, ops }) }
}

/// Appends `entries` and waits until they are fsynced (acknowledged).
fn append(store: &LogStore, entries: impl IntoIterator<Item = Entry<TypeConfig>>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let done: Done = Box::new(move |result| {
        let _ = tx.send(result);
    });
    store.append_entries(entries, done).expect("append");
    rx.recv().expect("the flusher answers").expect("fsync");
}

/// The entries a store holds, encoded (so they compare byte for byte).
fn held(store: &LogStore) -> Vec<Vec<u8>> {
    let entries =
        futures::executor::block_on(store.clone().try_get_log_entries(..)).expect("read the log");
    entries.iter().map(|e| postcard::to_stdvec(e).expect("encode")).collect()
}

/// A log of [`ENTRIES`] acknowledged entries, appended in batches.
struct Written {
    /// The `log` file, without its preallocated zeros.
    bytes: Vec<u8>,
    /// Where each record starts and ends, in entry order.
    records: Vec<(usize, usize)>,
    /// The entries, encoded.
    entries: Vec<Vec<u8>>,
}

const ENTRIES: u64 = 20;

fn written() -> &'static Written {
    static WRITTEN: OnceLock<Written> = OnceLock::new();
    WRITTEN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LogStore::open(dir.path()).expect("open");
        for batch in [1..=3, 4..=4, 5..=9, 10..=14, 15..=ENTRIES] {
            append(&store, batch.map(entry));
        }
        let entries = held(&store);
        drop(store);
        // Reopening cuts the preallocated zeros off.
        let store = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(held(&store), entries);
        let (offsets, len) = {
            let log = store.log.lock();
            let files = log.files.as_ref().expect("a durable log");
            (files.offsets.values().map(|&o| o as usize).collect::<Vec<_>>(), files.len)
        };
        drop(store);
        let bytes = std::fs::read(dir.path().join("log")).expect("read the log file");
        assert_eq!(bytes.len() as u64, len);
        let ends = offsets.iter().skip(1).copied().chain([bytes.len()]);
        let records = offsets.iter().copied().zip(ends).collect::<Vec<_>>();
        assert_eq!(records.len() as u64, ENTRIES);
        Written { bytes, records, entries }
    })
}

/// Opens a log whose file holds `bytes`, in a fresh directory (kept
/// alive by the returned handle).
fn open_with(bytes: &[u8]) -> (tempfile::TempDir, std::io::Result<LogStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("log"), bytes).expect("write the log file");
    let opened = LogStore::open(dir.path());
    (dir, opened)
}

/// Warnings logged while `f` runs on this thread.
fn warnings<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = tracing::subscriber::with_default(Capture(seen.clone()), f);
    let seen = seen.lock().clone();
    (out, seen)
}

/// A subscriber that keeps the text of every warning.
struct Capture(Arc<Mutex<Vec<String>>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut text = String::new();
            event.record(&mut |field: &tracing::field::Field, value: &dyn Debug| {
                text.push_str(&format!("{}={value:?} ", field.name()));
            });
            self.0.lock().push(text);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// A purge rewrites the file without the purged records on a blocking
/// thread, not the async runtime's, and the log goes on taking appends
/// after it: reopened, it has exactly the entries after the purge and
/// those appended since, its file starting with the first kept record.
#[test]
fn purge_rewrites_off_the_runtime_thread_and_appends_follow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = LogStore::open(dir.path()).expect("open");
    append(&store, (1..=5).map(entry));
    append(&store, (6..=10).map(entry));
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let purged = LogId::new(CommittedLeaderId::new(1, 1), 6);
    let mut handle = store.clone();
    runtime.block_on(handle.purge(purged)).expect("purge");
    let rewritten_on = store.log.lock().files.as_ref().and_then(|f| f.rewritten_on);
    let runtime_thread = std::thread::current().id();
    assert!(
        rewritten_on.is_some_and(|t| t != runtime_thread),
        "rewritten on {rewritten_on:?}; the runtime runs on {runtime_thread:?}"
    );
    append(&store, (11..=12).map(entry));
    let want: Vec<Vec<u8>> =
        (7..=12).map(|i| postcard::to_stdvec(&entry(i)).expect("encode")).collect();
    assert_eq!(held(&store), want);
    drop(store);
    let reopened = LogStore::open(dir.path()).expect("reopen");
    assert_eq!(held(&reopened), want);
    let log = reopened.log.lock();
    assert_eq!(log.meta.last_purged, Some(purged));
    let offsets = &log.files.as_ref().expect("a durable log").offsets;
    assert_eq!(offsets.iter().next(), Some((&7, &0)), "the file starts with entry 7's record");
}

#[test]
fn torn_tail_is_cut_with_a_warning() {
    let w = written();
    let (start, end) = w.records[w.records.len() - 1];
    let cut = start + (end - start) / 2;
    let ((dir, opened), seen) = warnings(|| open_with(&w.bytes[..cut]));
    let store = opened.expect("a torn tail opens");
    assert_eq!(held(&store), w.entries[..w.entries.len() - 1]);
    let path = dir.path().join("log");
    assert!(
        seen.iter()
            .any(|s| s.contains(&path.display().to_string())
                && s.contains(&format!("offset={start}"))),
        "a warning names {} and offset {start}: {seen:?}",
        path.display()
    );
    assert_eq!(std::fs::metadata(&path).expect("stat").len(), start as u64);
    // The cut log takes appends where it was cut, and reads them back.
    append(&store, [entry(ENTRIES)]);
    drop(store);
    let store = LogStore::open(dir.path()).expect("reopen");
    assert_eq!(held(&store), w.entries);
}

#[test]
fn corruption_before_valid_records_refuses_naming_file_and_offset() {
    let w = written();
    let (start, end) = w.records[5];
    let mut bytes = w.bytes.clone();
    bytes[(start + end) / 2] ^= 0x10;
    let ((dir, opened), seen) = warnings(|| open_with(&bytes));
    let Err(e) = opened else { panic!("a log damaged in the middle opened") };
    let message = e.to_string();
    let path = dir.path().join("log");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains(&format!("byte offset {start}")), "{message}");
    assert!(message.contains(&format!("valid record follows at offset {end}")), "{message}");
    assert!(seen.is_empty(), "nothing was cut: {seen:?}");
    // Nothing on disk changed.
    assert_eq!(std::fs::read(&path).expect("read"), bytes);
}

#[test]
fn preallocated_zeros_are_no_damage() {
    let w = written();
    let mut bytes = w.bytes.clone();
    bytes.resize(bytes.len() + 4096, 0);
    let ((_dir, opened), seen) = warnings(|| open_with(&bytes));
    assert_eq!(held(&opened.expect("open")), w.entries);
    assert!(seen.is_empty(), "{seen:?}");
}

#[test]
fn a_record_that_does_not_decode_refuses() {
    let mut bytes = Vec::new();
    frame(&mut bytes, &[0xff; 16]).expect("frame");
    let (dir, opened) = open_with(&bytes);
    let Err(e) = opened else { panic!("an undecodable record opened") };
    let message = e.to_string();
    assert!(message.contains(&dir.path().join("log").display().to_string()), "{message}");
    assert!(message.contains("byte offset 0"), "{message}");
}

#[test]
fn a_log_of_the_format_before_checksums_refuses() {
    let mut bytes = Vec::new();
    for index in 1..=3 {
        let payload = postcard::to_stdvec(&entry(index)).expect("encode");
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&payload);
    }
    let (dir, opened) = open_with(&bytes);
    let Err(e) = opened else { panic!("an old-format log opened") };
    let message = e.to_string();
    assert!(message.contains(&dir.path().join("log").display().to_string()), "{message}");
    assert!(message.contains("format before records had checksums"), "{message}");
    assert_eq!(std::fs::read(dir.path().join("log")).expect("read"), bytes, "nothing was cut");
}

proptest! {
    #![proptest_config(Config { cases: 64, failure_persistence: None, ..Config::default() })]

    /// A cut anywhere: the log opens with exactly the records wholly
    /// before the cut (or refuses; never fewer).
    #[test]
    fn cut_at_any_offset(cut in any::<prop::sample::Index>()) {
        let w = written();
        let cut = cut.index(w.bytes.len());
        let whole = w.records.iter().take_while(|&&(_, end)| end <= cut).count();
        let (_dir, opened) = open_with(&w.bytes[..cut]);
        match opened {
            Ok(store) => prop_assert_eq!(held(&store), w.entries[..whole].to_vec()),
            Err(e) => prop_assert!(false, "a cut at {} refused: {}", cut, e),
        }
    }

    /// A bit flipped anywhere: the log refuses, naming the file and the
    /// damaged record's offset — or, where the last record was hit,
    /// opens with every record before it. Never fewer, never damaged.
    #[test]
    fn bit_flipped_at_any_offset(at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let w = written();
        let at = at.index(w.bytes.len());
        let mut bytes = w.bytes.clone();
        bytes[at] ^= 1 << bit;
        let hit = w.records.iter().position(|&(start, end)| start <= at && at < end);
        let hit = hit.expect("every byte is in a record");
        let (dir, opened) = open_with(&bytes);
        match opened {
            Ok(store) => {
                prop_assert_eq!(hit, w.records.len() - 1, "damage before the last record opened");
                prop_assert_eq!(held(&store), w.entries[..hit].to_vec());
            }
            Err(e) => {
                let message = e.to_string();
                let path = dir.path().join("log").display().to_string();
                prop_assert!(message.contains(&path), "{}", message);
                let offset = format!("byte offset {}", w.records[hit].0);
                prop_assert!(message.contains(&offset), "{}", message);
            }
        }
    }
}
