//! The model-based check: random operation sequences against a store and
//! a simple reference model, every answer compared.

use super::*;

// Model-based check

/// One operation of a random sequence.
#[derive(Clone, Debug)]
pub enum ModelOp {
    /// Put `value` at key number `key`.
    Put {
        /// Key number (0..8).
        key: u8,
        /// Value.
        value: u8,
    },
    /// Delete key number `key`.
    Delete {
        /// Key number.
        key: u8,
    },
    /// Delete keys `from..to`.
    DeleteRange {
        /// First key number.
        from: u8,
        /// End key number (exclusive).
        to: u8,
    },
    /// Compare-and-put on key `key`: succeeds if its version is `version`.
    CasPut {
        /// Key number.
        key: u8,
        /// The expected version.
        version: i64,
        /// Value to put.
        value: u8,
    },
    /// Read all keys at `back` revisions before now.
    RangeAt {
        /// How many revisions back.
        back: i64,
        /// Limit (0: none).
        limit: i64,
    },
    /// Compact to `back` revisions before now.
    Compact {
        /// How many revisions back.
        back: i64,
    },
}

fn model_op() -> impl proptest::strategy::Strategy<Value = ModelOp> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0u8..8, any::<u8>()).prop_map(|(key, value)| ModelOp::Put { key, value }),
        2 => (0u8..8).prop_map(|key| ModelOp::Delete { key }),
        1 => (0u8..8, 0u8..9).prop_map(|(from, to)| ModelOp::DeleteRange { from, to }),
        2 => (0u8..8, 0i64..4, any::<u8>()).prop_map(|(key, version, value)| ModelOp::CasPut { key, version, value }),
        2 => (0i64..12, 0i64..4).prop_map(|(back, limit)| ModelOp::RangeAt { back, limit }),
        1 => (0i64..12).prop_map(|back| ModelOp::Compact { back }),
    ]
}

/// The reference model: the full state at every revision since the start.
#[derive(Debug, Default)]
struct Model {
    base: i64,
    compacted: i64,
    /// `states[i]` is the state at revision `base + i`.
    states: Vec<BTreeMap<u8, KeyValue>>,
}

impl Model {
    fn rev(&self) -> i64 {
        self.base + self.states.len() as i64 - 1
    }

    fn now(&self) -> &BTreeMap<u8, KeyValue> {
        self.states.last().expect("model has a state")
    }

    fn write(&mut self, f: impl FnOnce(&mut BTreeMap<u8, KeyValue>, i64) -> bool) {
        let mut next = self.now().clone();
        let rev = self.rev() + 1;
        if f(&mut next, rev) {
            self.states.push(next);
        }
    }
}

fn model_put(state: &mut BTreeMap<u8, KeyValue>, key: Bytes, k: u8, value: u8, rev: i64) {
    let prev = state.get(&k);
    let kv = KeyValue {
        key,
        value: Bytes::from(vec![value]),
        create_revision: prev.map_or(rev, |p| p.create_revision),
        mod_revision: rev,
        version: prev.map_or(1, |p| p.version + 1),
        lease: 0,
    };
    state.insert(k, kv);
}

/// Runs `cases` random operation sequences against fresh stores from `make`
/// and against the reference model, comparing every answer and, at the end,
/// what a watcher opened at the start received. Panics with the smallest
/// failing sequence proptest finds.
pub fn check_against_model<F>(make: F, cases: u32)
where
    F: Fn() -> Arc<dyn Store>,
{
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let mut runner = TestRunner::new(Config::with_cases(cases));
    let strategy = proptest::collection::vec(model_op(), 1..40);
    let result = runner.run(&strategy, |ops| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        rt.block_on(run_model_case(make(), ops)).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("store disagrees with the model: {e}");
    }
}

async fn run_model_case(store: Arc<dyn Store>, ops: Vec<ModelOp>) -> Result<(), String> {
    let p = unique_prefix("model");
    let key = |n: u8| Bytes::from(format!("{p}{n}"));
    let range_all = KeyRange::prefix(p.clone());
    let start = store
        .range(RangeRequest::new(range_all.clone()))
        .await
        .map_err(|e| e.to_string())?
        .header
        .revision;
    let mut model = Model { base: start, compacted: 0, states: vec![BTreeMap::new()] };
    let mut watch = store
        .watch(WatchRequest::new(range_all.clone(), start + 1))
        .await
        .map_err(|e| e.to_string())?;
    for (i, op) in ops.iter().enumerate() {
        let ctx = |what: &str| format!("op {i} {op:?}: {what}");
        match *op {
            ModelOp::Put { key: n, value } => {
                let resp = store
                    .put(PutRequest::new(key(n), vec![value]))
                    .await
                    .map_err(|e| ctx(&e.to_string()))?;
                model.write(|s, rev| {
                    model_put(s, key(n), n, value, rev);
                    true
                });
                if resp.header.revision != model.rev() {
                    return Err(ctx(&format!(
                        "revision {} != model {}",
                        resp.header.revision,
                        model.rev()
                    )));
                }
            }
            ModelOp::Delete { key: n } => {
                let resp = store
                    .delete_range(DeleteRangeRequest {
                        range: KeyRange::key(key(n)),
                        prev_kv: false,
                    })
                    .await
                    .map_err(|e| ctx(&e.to_string()))?;
                let mut deleted = 0;
                model.write(|s, _| {
                    deleted = i64::from(s.remove(&n).is_some());
                    deleted > 0
                });
                if resp.deleted != deleted || resp.header.revision != model.rev() {
                    return Err(ctx(&format!(
                        "deleted {} at {} != model {deleted} at {}",
                        resp.deleted,
                        resp.header.revision,
                        model.rev()
                    )));
                }
            }
            ModelOp::DeleteRange { from, to } => {
                let resp = store
                    .delete_range(DeleteRangeRequest {
                        range: KeyRange::between(key(from), key(to)),
                        prev_kv: false,
                    })
                    .await
                    .map_err(|e| ctx(&e.to_string()))?;
                let mut deleted = 0;
                model.write(|s, _| {
                    let doomed: Vec<u8> =
                        s.keys().copied().filter(|k| *k >= from && *k < to).collect();
                    for d in &doomed {
                        s.remove(d);
                    }
                    deleted = doomed.len() as i64;
                    deleted > 0
                });
                if resp.deleted != deleted || resp.header.revision != model.rev() {
                    return Err(ctx(&format!("deleted {} != model {deleted}", resp.deleted)));
                }
            }
            ModelOp::CasPut { key: n, version, value } => {
                let resp = store
                    .txn(TxnRequest {
                        compare: vec![Compare::new(
                            key(n),
                            CompareResult::Equal,
                            CompareTarget::Version(version),
                        )],
                        success: vec![TxnOp::Put(PutRequest::new(key(n), vec![value]))],
                        failure: vec![TxnOp::Range(RangeRequest::new(KeyRange::key(key(n))))],
                    })
                    .await
                    .map_err(|e| ctx(&e.to_string()))?;
                let current_version = model.now().get(&n).map_or(0, |kv| kv.version);
                let expect = current_version == version;
                if expect {
                    model.write(|s, rev| {
                        model_put(s, key(n), n, value, rev);
                        true
                    });
                }
                if resp.succeeded != expect {
                    return Err(ctx(&format!("succeeded {} != model {expect}", resp.succeeded)));
                }
            }
            ModelOp::RangeAt { back, limit } => {
                let rev = (model.rev() - back).max(model.base);
                let resp = store
                    .range(RangeRequest::new(range_all.clone()).at_revision(rev).with_limit(limit))
                    .await;
                if rev < model.compacted {
                    if !matches!(resp, Err(Error::Compacted { .. })) {
                        return Err(ctx(&format!("read at compacted {rev}: {resp:?}")));
                    }
                    continue;
                }
                let resp = resp.map_err(|e| ctx(&e.to_string()))?;
                let state = &model.states[(rev - model.base) as usize];
                let mut want: Vec<KeyValue> = state.values().cloned().collect();
                want.sort_by(|a, b| a.key.cmp(&b.key));
                let count = want.len() as i64;
                if limit > 0 {
                    want.truncate(limit as usize);
                }
                if resp.kvs != want
                    || resp.count != count
                    || resp.more != (count > want.len() as i64)
                {
                    return Err(ctx(&format!(
                        "at {rev}: got {:?} (count {}) want {want:?} (count {count})",
                        resp.kvs, resp.count
                    )));
                }
            }
            ModelOp::Compact { back } => {
                let rev = model.rev() - back;
                if rev <= model.compacted.max(model.base) {
                    continue;
                }
                store.compact(rev).await.map_err(|e| ctx(&e.to_string()))?;
                model.compacted = rev;
            }
        }
    }
    // The watcher saw every change after `start`, in order — or a gap-free
    // prefix of them ended by Compacted.
    let mut want = Vec::new();
    for r in start + 1..=model.rev() {
        let (before, after) = (
            &model.states[(r - model.base - 1) as usize],
            &model.states[(r - model.base) as usize],
        );
        for n in 0u8..8 {
            match (before.get(&n), after.get(&n)) {
                (_, Some(kv)) if kv.mod_revision == r => want.push((EventType::Put, kv.clone())),
                (Some(_), None) => want.push((
                    EventType::Delete,
                    KeyValue { key: key(n), mod_revision: r, ..Default::default() },
                )),
                _ => {}
            }
        }
    }
    let mut got = Vec::new();
    while got.len() < want.len() {
        let resp = tokio::time::timeout(DEADLINE, watch.next())
            .await
            .map_err(|_| format!("watch stalled after {} of {} events", got.len(), want.len()))?;
        match resp {
            Some(Ok(resp)) => got.extend(resp.events.into_iter().map(|e| (e.kind, e.kv))),
            Some(Err(Error::Compacted { .. })) if model.compacted > 0 => break,
            Some(Err(e)) => return Err(format!("watch failed: {e}")),
            None => return Err("watch ended early".into()),
        }
    }
    if got.len() > want.len() || got[..] != want[..got.len()] {
        return Err(format!("watch delivered {got:?}, model says {want:?}"));
    }
    Ok(())
}
