//! Model test (AWS ShardStore's method): random sequences of put / overwrite / delete /
//! multipart / clean reboot / crash against a `BTreeMap` reference model. After every reboot
//! the engine must equal the model, except that operations in flight at a crash may have
//! taken effect or not — but never partially. Seeded and replayable:
//! `TESSERA_MODEL_SEED=7 cargo test -p tessera --test engine_model`.

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tessera::engine::erasure::Geometry;

const ROUNDS: usize = 6;
const OPS_PER_ROUND: usize = 24;
const KEYS: usize = 12;
const SIZES: [usize; 8] = [0, 1, 100, 4096, 5000, 130_000, 1_100_000, 2_600_000];

type Model = BTreeMap<String, Vec<u8>>;
/// A key and the value an operation on it leaves (None: deleted).
type Outcome = (String, Option<Vec<u8>>);

fn key(i: usize) -> String {
    // First bytes vary so keys spread over ranges; suffixes make them distinct.
    format!("{}{i}/obj", (b'a' + (i % 26) as u8) as char)
}

#[test]
fn random_operations_with_reboots_and_crashes_match_the_model() {
    let seeds: Vec<u64> = match std::env::var("TESSERA_MODEL_SEED") {
        Ok(s) => vec![s.parse().expect("TESSERA_MODEL_SEED is a number")],
        Err(_) => (1..=4).collect(),
    };
    for seed in seeds {
        eprintln!("model test seed {seed}");
        run_seed(seed);
    }
}

fn run_seed(seed: u64) {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let geometry = Geometry::new(4, 2).unwrap();
    let devs = devices(tmp.path(), 6);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model: Model = BTreeMap::new();
    // Values an in-flight operation may have left for its key: (key, possible values).
    let mut in_flight: Vec<Outcome> = Vec::new();
    for round in 0..ROUNDS {
        let crash = rng.gen_bool(0.5);
        let ops: Vec<u64> = (0..OPS_PER_ROUND).map(|_| rng.gen()).collect();
        let crash_ops: Vec<u64> = (0..6).map(|_| rng.gen()).collect();
        let crash_after_ms = rng.gen_range(0..40);
        let runtime_result = {
            let mut rt = runtime();
            let model_ref = &mut model;
            let in_flight_ref = &mut in_flight;
            rt.block_on(async {
                let store = open(geometry, &devs);
                settle(&store, model_ref, in_flight_ref, seed, round).await;
                for op in ops {
                    apply_op(&store, model_ref, op).await;
                }
                if crash {
                    // Start operations on distinct fresh keys, then stop the world mid-way.
                    let acked: Rc<RefCell<Vec<Outcome>>> = Rc::default();
                    for (i, op) in crash_ops.iter().enumerate() {
                        let k = format!("{}crash{round}-{i}", (b'a' + (*op % 26) as u8) as char);
                        let value = if op % 5 == 0
                            && model_ref.contains_key(&key((*op as usize / 7) % KEYS))
                        {
                            // A delete of an existing key, in flight.
                            let existing = key((*op as usize / 7) % KEYS);
                            in_flight_ref.push((existing.clone(), None));
                            let store = store.clone();
                            let acked = acked.clone();
                            monoio::spawn(async move {
                                if store.delete_object(BUCKET, &existing).await.is_ok() {
                                    acked.borrow_mut().push((existing, None));
                                }
                            });
                            continue;
                        } else {
                            data(*op, SIZES[(*op as usize) % SIZES.len()])
                        };
                        in_flight_ref.push((k.clone(), Some(value.clone())));
                        let store = store.clone();
                        let acked = acked.clone();
                        monoio::spawn(async move {
                            if put(&store, &k, value.clone()).await.is_ok() {
                                acked.borrow_mut().push((k, Some(value)));
                            }
                        });
                    }
                    monoio::time::sleep(Duration::from_millis(crash_after_ms)).await;
                    // Whatever was acknowledged before the crash must survive it.
                    for (k, v) in acked.borrow_mut().drain(..) {
                        in_flight_ref.retain(|(fk, _)| *fk != k);
                        match v {
                            Some(v) => model_ref.insert(k, v),
                            None => model_ref.remove(&k),
                        };
                    }
                }
            });
            Ok::<(), ()>(())
            // Dropping the runtime here cancels every task: the crash.
        };
        runtime_result.unwrap();
    }
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry, &devs);
        settle(&store, &mut model, &mut in_flight, seed, ROUNDS).await;
    });
}

/// After a reboot: every key equals the model, or (for keys of in-flight operations) the
/// model or the in-flight value, whole. Then folds the outcome into the model.
async fn settle(
    store: &Rc<tessera::engine::store::Store>,
    model: &mut Model,
    in_flight: &mut Vec<Outcome>,
    seed: u64,
    round: usize,
) {
    let mut keys: BTreeSet<String> = model.keys().cloned().collect();
    keys.extend(in_flight.iter().map(|(k, _)| k.clone()));
    let listed = store.list(BUCKET, b"", None, None, 100_000);
    for item in &listed {
        keys.insert(String::from_utf8(item.sort_key().to_vec()).unwrap());
    }
    for k in keys {
        let actual = get(store, &k)
            .await
            .unwrap_or_else(|e| panic!("seed {seed} round {round}: {k}: read failed: {e}"));
        let expected = model.get(&k).cloned();
        let alternatives: Vec<Option<Vec<u8>>> = in_flight
            .iter()
            .filter(|(fk, _)| *fk == k)
            .map(|(_, v)| v.clone())
            .collect();
        let ok = actual == expected || alternatives.contains(&actual);
        assert!(
            ok,
            "seed {seed} round {round}: key {k}: got {:?} bytes, model has {:?}, in flight {:?}",
            actual.as_ref().map(Vec::len),
            expected.as_ref().map(Vec::len),
            alternatives
                .iter()
                .map(|v| v.as_ref().map(Vec::len))
                .collect::<Vec<_>>()
        );
        match actual {
            Some(v) => model.insert(k, v),
            None => model.remove(&k),
        };
    }
    in_flight.clear();
    // Listing agrees with the model.
    let listed: Vec<String> = store
        .list(BUCKET, b"", None, None, 100_000)
        .iter()
        .map(|i| String::from_utf8(i.sort_key().to_vec()).unwrap())
        .collect();
    assert_eq!(
        listed,
        model.keys().cloned().collect::<Vec<_>>(),
        "seed {seed} round {round}: listing"
    );
}

async fn apply_op(store: &Rc<tessera::engine::store::Store>, model: &mut Model, op: u64) {
    let k = key((op as usize >> 8) % KEYS);
    match op % 10 {
        0..=5 => {
            let value = data(op, SIZES[(op as usize >> 16) % SIZES.len()]);
            put(store, &k, value.clone()).await.expect("put");
            model.insert(k, value);
        }
        6 | 7 => {
            store.delete_object(BUCKET, &k).await.expect("delete");
            model.remove(&k);
        }
        8 => {
            let parts = vec![
                data(op, 5 * 1024 * 1024),
                data(op + 1, (op as usize >> 20) % 300_000),
            ];
            multipart(store, &k, &parts).await.expect("multipart");
            model.insert(k, parts.concat());
        }
        _ => {
            // Read-your-writes, live.
            let actual = get(store, &k).await.expect("get");
            assert_eq!(actual.as_ref(), model.get(&k), "live read of {k}");
        }
    }
}
