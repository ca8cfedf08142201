//! The records of the `log` file (see the parent module's doc for the
//! format and how a torn tail is told from corruption): framing one, and
//! reading them all back.

use std::collections::BTreeMap;
use std::path::Path;

use openraft::Entry;

use super::super::TypeConfig;

/// A record's header: payload length, crc32c of the payload, crc32c of
/// those 8 bytes (see the module doc).
pub(super) const HEADER: usize = 12;

/// Appends one record holding `payload` to `buf`.
pub(super) fn frame(buf: &mut Vec<u8>, payload: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| std::io::Error::other("a log entry of 4 GiB or more"))?;
    let mut head = [0u8; HEADER];
    head[..4].copy_from_slice(&len.to_le_bytes());
    head[4..8].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    let head_crc = crc32c::crc32c(&head[..8]);
    head[8..].copy_from_slice(&head_crc.to_le_bytes());
    buf.extend_from_slice(&head);
    buf.extend_from_slice(payload);
    Ok(())
}

/// The little-endian `u32` at `bytes[at..at + 4]`.
fn word(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

/// The payload of the record that starts at `at`, and where the record
/// ends — if it is whole and both its checksums match.
fn record_at(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let head = bytes.get(at..at.checked_add(HEADER)?)?;
    let (len, crc, head_crc) = (word(head, 0)?, word(head, 4)?, word(head, 8)?);
    if len == 0 || crc32c::crc32c(head.get(..8)?) != head_crc {
        return None;
    }
    let start = at + HEADER;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    let payload = bytes.get(start..end)?;
    (crc32c::crc32c(payload) == crc).then_some((payload, end))
}

/// The entries read back from a `log` file.
pub(super) struct Records {
    pub(super) entries: BTreeMap<u64, Entry<TypeConfig>>,
    /// Where each entry's record starts, by log index.
    pub(super) offsets: BTreeMap<u64, u64>,
    /// Where the valid records end: what follows is zeros or a torn tail.
    pub(super) end: usize,
}

/// An error for a damaged record at `at` in `path`: the log refuses to open.
fn corrupt(path: &Path, at: usize, why: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "raft log {}: corrupt record at byte offset {at}: {why}; refusing to open it \
             (cutting the log there could drop acknowledged entries)",
            path.display()
        ),
    )
}

/// What is wrong with the record at `at` (which [`record_at`] refused).
fn damage(bytes: &[u8], at: usize) -> String {
    let Some(head) = bytes.get(at..at.saturating_add(HEADER)) else {
        return "its header is cut short".into();
    };
    let len = word(head, 0).unwrap_or(0);
    let head_ok = head.get(..8).map(crc32c::crc32c) == word(head, 8);
    if len == 0 || !head_ok {
        return "its header's checksum does not match".into();
    }
    let end = (at + HEADER).saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
    if end > bytes.len() {
        return format!("it runs past the end of the file ({} bytes)", bytes.len());
    }
    "its payload's checksum does not match".into()
}

/// Whether `bytes` start with a record of the format before checksums,
/// `[u32 LE: length][entry, postcard]` — so that a log written by an older
/// version refuses to open rather than being cut as a torn tail.
fn old_format(bytes: &[u8]) -> bool {
    let Some(len) = word(bytes, 0).and_then(|len| usize::try_from(len).ok()) else {
        return false;
    };
    let payload = 4usize.checked_add(len).and_then(|end| bytes.get(4..end));
    payload.is_some_and(|p| postcard::from_bytes::<Entry<TypeConfig>>(p).is_ok())
}

/// Reads the records of the `log` file at `path`, whose contents are
/// `bytes`, telling a torn tail from corruption as the module doc says.
pub(super) fn read_records(path: &Path, bytes: &[u8]) -> std::io::Result<Records> {
    let (mut entries, mut offsets, mut at) = (BTreeMap::new(), BTreeMap::new(), 0usize);
    while let Some((payload, end)) = record_at(bytes, at) {
        let entry = postcard::from_bytes::<Entry<TypeConfig>>(payload).map_err(|e| {
            corrupt(path, at, format_args!("its checksums match but it does not decode ({e})"))
        })?;
        // A later record for an index replaces the earlier (after a
        // truncation the file was cut, so this is only defensive).
        offsets.split_off(&entry.log_id.index);
        entries.split_off(&entry.log_id.index);
        offsets.insert(entry.log_id.index, at as u64);
        entries.insert(entry.log_id.index, entry);
        at = end;
    }
    // A record is never empty, so its first 4 bytes are not all zero: any
    // valid record starts at or before the last byte that is not zero.
    let last = match bytes.iter().rposition(|&b| b != 0) {
        Some(last) if last >= at => last,
        // Nothing, or the zeros of a preallocation, follows.
        _ => return Ok(Records { entries, offsets, end: at }),
    };
    let why = damage(bytes, at);
    if let Some(next) = (at + 1..=last).find(|&p| record_at(bytes, p).is_some()) {
        return Err(corrupt(
            path,
            at,
            format_args!("{why}, and a valid record follows at offset {next}"),
        ));
    }
    if at == 0 && old_format(bytes) {
        return Err(corrupt(
            path,
            0,
            "the file is in the format before records had checksums ([u32 length][entry]), \
             which this version does not read",
        ));
    }
    tracing::warn!(
        file = %path.display(),
        offset = at,
        "raft log {}: torn record at byte offset {at} ({why}) with no valid record after it — \
         a write cut short by a crash, never acknowledged: cutting the log there",
        path.display()
    );
    Ok(Records { entries, offsets, end: at })
}
