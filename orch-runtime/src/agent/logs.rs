//! A container's logs as `kubectl logs` shows them, read the way the
//! kubelet reads them: the container (by the pod's uid and the container's
//! name, the latest attempt or with `previous` the one before) is found
//! through the [`Runtime`], its CRI log file (`ContainerStatus.log_path`)
//! is parsed — `<timestamp> <stream> <F|P> <text>` lines, `P` pieces
//! joined — and with `follow` the file is read on as it grows until the
//! container has exited.

use std::collections::BTreeMap;
use std::io::{BufRead, Seek};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

use crate::agent::{LABEL_CONTAINER_NAME, LABEL_POD_UID};
use crate::runtime::{ContainerFilter, ContainerState, Runtime};
use crate::{Error, Result};

/// How often a followed log is read again for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// What `kubectl logs` asks for (core/v1 `PodLogOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming new lines until the container exits.
    pub follow: bool,
    /// The previous attempt's logs (`--previous`).
    pub previous: bool,
    /// Only the last this many lines.
    pub tail_lines: Option<usize>,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
}

/// One parsed CRI log line: its timestamp and text, and whether it ends a
/// line (`F`) or is a piece of one (`P`).
fn parse(line: &str) -> Option<(&str, &str, bool)> {
    let (timestamp, rest) = line.split_once(' ')?;
    let (_stream, rest) = rest.split_once(' ')?;
    let (tag, text) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((timestamp, text, tag == "F"))
}

/// The text of CRI log `content`: one output line per `F` line, `P`
/// pieces joined to the line they end in; with `timestamps` each line
/// starts with its first piece's timestamp.
pub fn cri_text(content: &str, timestamps: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pending: Option<String> = None;
    for raw in content.lines() {
        let Some((ts, text, full)) = parse(raw) else { continue };
        let line =
            pending.get_or_insert_with(
                || {
                    if timestamps {
                        format!("{ts} ")
                    } else {
                        String::new()
                    }
                },
            );
        line.push_str(text);
        if full {
            lines.extend(pending.take());
        }
    }
    lines
}

/// The logs of container `container` of the pod with uid `pod_uid`, as a
/// stream of text chunks (each ends in a newline).
///
/// Errors: [`Error::NotFound`] if the runtime has no such container (or
/// no previous attempt); [`Error::Runtime`] if its log cannot be read.
pub async fn container_logs(
    runtime: Arc<dyn Runtime>,
    pod_uid: &str,
    container: &str,
    options: &LogOptions,
) -> Result<BoxStream<'static, Result<Bytes>>> {
    let filter = ContainerFilter {
        label_selector: BTreeMap::from([
            (LABEL_POD_UID.to_string(), pod_uid.to_string()),
            (LABEL_CONTAINER_NAME.to_string(), container.to_string()),
        ]),
        ..Default::default()
    };
    let mut attempts = runtime.list_containers(&filter).await?;
    attempts.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    let wanted = if options.previous { attempts.get(1) } else { attempts.first() };
    let Some(found) = wanted else {
        let which = if options.previous { "previous terminated container" } else { "container" };
        return Err(Error::NotFound { what: format!("{which} {container:?} of pod {pod_uid}") });
    };
    let id = found.id.clone();
    let status = runtime.container_status(&id).await?;
    let path = std::path::PathBuf::from(&status.log_path);
    let read_err = |e: std::io::Error| Error::Runtime {
        call: "ReadLog".into(),
        object: container.to_owned(),
        reason: format!("{}: {e}", path.display()),
    };
    let mut file = std::fs::File::open(&path).map_err(read_err)?;
    let mut content = String::new();
    std::io::Read::read_to_string(&mut file, &mut content).map_err(read_err)?;
    // Only whole lines now; a piece still being written comes with the next read.
    let whole = content.rfind('\n').map_or(0, |i| i + 1);
    let mut lines = cri_text(&content[..whole], options.timestamps);
    if let Some(n) = options.tail_lines {
        lines.drain(..lines.len().saturating_sub(n));
    }
    let first: Vec<Result<Bytes>> = lines.into_iter().map(|l| Ok(Bytes::from(l + "\n"))).collect();
    let head = stream::iter(first);
    if !options.follow {
        return Ok(head.boxed());
    }
    let offset = whole as u64;
    let timestamps = options.timestamps;
    let tail =
        stream::unfold((std::io::BufReader::new(file), offset), move |(mut reader, offset)| {
            let runtime = runtime.clone();
            let id = id.clone();
            async move {
                let mut draining = false;
                loop {
                    if reader.seek(std::io::SeekFrom::Start(offset)).is_err() {
                        return None;
                    }
                    let mut chunk = String::new();
                    let mut read = 0u64;
                    loop {
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => break,
                            Ok(n) if line.ends_with('\n') => {
                                read += n as u64;
                                chunk.push_str(&line);
                            }
                            // A line still being written: read it next time.
                            Ok(_) => break,
                        }
                    }
                    if !chunk.is_empty() {
                        let text: String =
                            cri_text(&chunk, timestamps).into_iter().map(|l| l + "\n").collect();
                        return Some((Ok(Bytes::from(text)), (reader, offset + read)));
                    }
                    // Created: about to start; Running: may write more.
                    if draining {
                        return None;
                    }
                    let live = matches!(
                        runtime.container_status(&id).await.map(|s| s.state),
                        Ok(ContainerState::Created | ContainerState::Running)
                    );
                    if !live {
                        // One more read for what it wrote before exiting.
                        draining = true;
                        continue;
                    }
                    tokio::time::sleep(FOLLOW_POLL).await;
                }
            }
        });
    Ok(head.chain(tail).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_lines_become_the_containers_output() {
        let content = "2026-12-08T00:00:00.1Z stdout F hello\n\
                       2026-12-08T00:00:00.2Z stderr P par\n\
                       2026-12-08T00:00:00.3Z stderr F tial\n\
                       2026-12-08T00:00:00.4Z stdout F \n";
        assert_eq!(cri_text(content, false), ["hello", "partial", ""]);
        assert_eq!(cri_text(content, true)[1], "2026-12-08T00:00:00.2Z partial");
    }
}
