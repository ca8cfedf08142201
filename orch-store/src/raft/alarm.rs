//! The alarms of the replicated state machine (etcd's alarm store): raised
//! and disarmed by log entries, so every member has the same set, and kept
//! in snapshots, so that they survive a restart and reach a member that
//! catches up by snapshot.
//!
//! In a snapshot they follow the store image (whose decoding ignores what
//! follows it): nothing when no alarm is raised — a snapshot without
//! alarms is the image alone, as before alarms existed (or, seeded from a
//! backup file, the image and the zeros that pad it) — or the 8 bytes
//! `ORCHALM1`, then the alarms (postcard).

use std::collections::BTreeSet;
use std::sync::Arc;

use orch_core::{Error, Result};
use parking_lot::Mutex;

use crate::{AlarmMember, AlarmType};

const MAGIC: &[u8; 8] = b"ORCHALM1";

/// The raised alarms, ordered by member ID and type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AlarmSet {
    raised: BTreeSet<AlarmMember>,
}

/// The alarms as the state machine applies them and the member reads them.
pub(crate) type SharedAlarms = Arc<Mutex<AlarmSet>>;

impl AlarmSet {
    /// Raises `alarm`; false if it was raised already.
    pub(crate) fn activate(&mut self, alarm: AlarmMember) -> bool {
        self.raised.insert(alarm)
    }

    /// Disarms `alarm`; false if it was not raised.
    pub(crate) fn deactivate(&mut self, alarm: AlarmMember) -> bool {
        self.raised.remove(&alarm)
    }

    /// Every raised alarm.
    pub(crate) fn list(&self) -> Vec<AlarmMember> {
        self.raised.iter().copied().collect()
    }

    /// A raised NOSPACE alarm, if any.
    pub(crate) fn no_space(&self) -> Option<AlarmMember> {
        self.raised.iter().find(|a| a.alarm == AlarmType::NoSpace).copied()
    }

    /// Snapshot data: `image` (an encoded store image) followed by these
    /// alarms (see the module doc).
    pub(crate) fn append_to(&self, mut image: Vec<u8>) -> Result<Vec<u8>> {
        if self.raised.is_empty() {
            return Ok(image);
        }
        let alarms = postcard::to_stdvec(&self.list())
            .map_err(|e| Error::Unavailable(format!("encoding the alarms: {e}")))?;
        image.extend_from_slice(MAGIC);
        image.extend_from_slice(&alarms);
        Ok(image)
    }

    /// The alarms in snapshot data (none after an image alone, or its
    /// padding).
    ///
    /// Errors: `InvalidRequest` if `data` does not start with an image, or
    /// what follows it is not alarms.
    pub(crate) fn read_from(data: &[u8]) -> Result<AlarmSet> {
        let rest = crate::image::after_image(data)?;
        if rest.iter().all(|&b| b == 0) {
            return Ok(AlarmSet::default());
        }
        let bad = |why: String| Error::InvalidRequest(format!("a snapshot's alarms: {why}"));
        let alarms = rest
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("they do not start with ORCHALM1".into()))?;
        let list: Vec<AlarmMember> =
            postcard::from_bytes(alarms).map_err(|e| bad(e.to_string()))?;
        Ok(AlarmSet { raised: list.into_iter().collect() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemStore;

    #[test]
    fn alarms_follow_the_image_and_an_image_alone_has_none() {
        let image = MemStore::new().backup().expect("an image");
        assert_eq!(AlarmSet::default().append_to(image.clone()).expect("encode"), image);
        assert_eq!(AlarmSet::read_from(&image).expect("decode"), AlarmSet::default());
        let padded = [&image[..], &[0; 100]].concat();
        assert_eq!(AlarmSet::read_from(&padded).expect("decode"), AlarmSet::default());
        let mut set = AlarmSet::default();
        assert!(set.activate(AlarmMember { member_id: 7, alarm: AlarmType::NoSpace }));
        assert!(!set.activate(AlarmMember { member_id: 7, alarm: AlarmType::NoSpace }));
        let data = set.append_to(image).expect("encode");
        assert_eq!(AlarmSet::read_from(&data).expect("decode"), set);
        // The store reads the image and ignores the alarms after it.
        MemStore::new().restore(&data).expect("the image part restores");
        let mut cut = data.clone();
        cut.truncate(data.len() - 1);
        assert!(AlarmSet::read_from(&cut).is_err(), "cut alarms refuse");
    }
}
