//! Container logs in the CRI log format: one line per output line,
//! `<RFC3339Nano timestamp> <stdout|stderr> F <line>` (`P` for a partial
//! line cut at the buffer limit), appended to the container's log file.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;

use chrono::{SecondsFormat, Utc};
use parking_lot::Mutex;

/// Longest line written whole; longer lines are split into `P` pieces.
const MAX_LINE: usize = 16 * 1024;

/// Formats one CRI log line.
pub fn cri_line(stream: &str, partial: bool, line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 48);
    out.extend_from_slice(Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true).as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(line);
    out.push(b'\n');
    out
}

/// Open output streams of one container; the last copier to finish wakes
/// whoever waits for the container's output to be complete.
#[derive(Debug)]
pub(crate) struct OpenStreams {
    pub(crate) open: std::sync::atomic::AtomicUsize,
    pub(crate) done: Arc<tokio::sync::Notify>,
}

/// Copies `pipe` into the log file on a thread of its own until the pipe
/// closes. Both streams of a container share `file` so lines never interleave.
pub(crate) fn copy_to_log(
    pipe: impl Read + Send + 'static,
    stream: &'static str,
    file: Arc<Mutex<std::fs::File>>,
    streams: Arc<OpenStreams>,
) {
    let spawned = std::thread::Builder::new().name(format!("orch-log-{stream}")).spawn(move || {
        struct Closed(Arc<OpenStreams>);
        impl Drop for Closed {
            fn drop(&mut self) {
                if self.0.open.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
                    self.0.done.notify_waiters();
                }
            }
        }
        let _closed = Closed(streams);
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.by_ref().take(MAX_LINE as u64).read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let complete = buf.last() == Some(&b'\n');
                    if complete {
                        buf.pop();
                    }
                    let line = cri_line(stream, !complete && buf.len() >= MAX_LINE, &buf);
                    if file.lock().write_all(&line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start a log copier");
    }
}

/// Opens (creating) a log file for appending.
pub(crate) fn open_log(path: &Path) -> std::io::Result<Arc<Mutex<std::fs::File>>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    Ok(Arc::new(Mutex::new(file)))
}
