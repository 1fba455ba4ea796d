//! `Store` against real databases: every body runs on a SQLite file and on a private
//! PostgreSQL schema (`FL_TEST_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/test).

#[macro_use]
mod common;

use std::time::Duration;

use common::TestDb;
use fl_store::{
    Backend, LedgerEntry, NewCheckpoint, Participation, RoundRecord, RoundStatus, RunStatus, Store,
    StoreError, StoreOptions,
};
use sha2::{Digest, Sha256};

const STATE: NewCheckpoint<'static> = NewCheckpoint {
    model: b"",
    strategy_state_json: r#"{"momentum":[0.5]}"#,
    ledger_json: "[]",
    engine_state_json: r#"{"round":0}"#,
};

/// Deterministic, non-repeating-looking bytes (an LCG), so a wrong offset would show.
fn model_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

fn participation(run: &str, round: i64, client: &str, accepted: bool) -> Participation {
    Participation {
        run_id: run.into(),
        round,
        client_id: client.into(),
        num_examples: 600,
        train_loss: Some(0.25),
        epsilon_spent: None,
        accepted,
        reason: (!accepted).then(|| "late".to_string()),
    }
}

async fn migrations_are_idempotent(db: &TestDb) {
    let a = Store::connect(&db.url).await.expect("first connect");
    a.create_or_resume_run("r1", r#"{"rounds":3}"#)
        .await
        .unwrap();
    // Second connect re-runs the migrator against the migrated schema.
    let b = Store::connect(&db.url).await.expect("second connect");
    let run = b.get_run("r1").await.unwrap().expect("run visible");
    assert_eq!(run.config_json, r#"{"rounds":3}"#);
    let expected = if db.url.starts_with("sqlite") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    assert_eq!(b.backend(), expected);
    a.close().await;
    b.close().await;
}
on_both!(migrations_idempotent, super::migrations_are_idempotent);

async fn runs_create_and_resume(db: &TestDb) {
    let s = Store::connect(&db.url).await.unwrap();
    let first = s
        .create_or_resume_run("run-a", r#"{"lr":0.1}"#)
        .await
        .unwrap();
    assert!(!first.existed);
    assert_eq!(first.run.status, RunStatus::Created);
    let again = s
        .create_or_resume_run("run-a", r#"{"lr":0.9}"#)
        .await
        .unwrap();
    assert!(again.existed);
    assert_eq!(
        again.run.config_json, r#"{"lr":0.1}"#,
        "resume keeps the stored config"
    );
    s.set_run_status("run-a", RunStatus::Running).await.unwrap();
    assert_eq!(
        s.get_run("run-a").await.unwrap().unwrap().status,
        RunStatus::Running
    );
    assert!(matches!(
        s.set_run_status("nope", RunStatus::Failed).await,
        Err(StoreError::NotFound(_))
    ));
    s.create_or_resume_run("run-b", "{}").await.unwrap();
    let ids: Vec<String> = s
        .list_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"run-a".to_string()) && ids.contains(&"run-b".to_string()));
    assert!(matches!(
        s.create_or_resume_run("run-c", "{not json").await,
        Err(StoreError::InvalidInput {
            field: "config_json",
            ..
        })
    ));
    assert!(matches!(
        s.create_or_resume_run("", "{}").await,
        Err(StoreError::InvalidInput {
            field: "run_id",
            ..
        })
    ));
    s.close().await;
}
on_both!(runs, super::runs_create_and_resume);

async fn round_upsert_not_double_counted(db: &TestDb) {
    let s = Store::connect(&db.url).await.unwrap();
    s.create_or_resume_run("r", "{}").await.unwrap();
    let mut r0 = RoundRecord::new("r", 0, 1_000);
    r0.bytes_up = 100;
    r0.bytes_down = 40;
    s.record_round(&r0).await.unwrap();
    // The same round again (e.g. replayed after a restart), now finished.
    r0.status = RoundStatus::Completed;
    r0.finished_at = Some(2_000);
    r0.bytes_up = 150;
    r0.accuracy = Some(0.91);
    r0.loss = Some(f64::NAN); // non-finite metrics become NULL on both backends
    r0.participants_json = r#"["c1","c2"]"#.into();
    s.record_round(&r0).await.unwrap();
    s.record_round(&RoundRecord::new("r", 1, 3_000))
        .await
        .unwrap();

    let rounds = s.list_rounds("r").await.unwrap();
    assert_eq!(
        rounds.iter().map(|r| r.round).collect::<Vec<_>>(),
        vec![0, 1]
    );
    let got = s.get_round("r", 0).await.unwrap().unwrap();
    assert_eq!(got.status, RoundStatus::Completed);
    assert_eq!(got.finished_at, Some(2_000));
    assert_eq!(got.accuracy, Some(0.91));
    assert_eq!(got.loss, None);
    assert_eq!(got.participants_json, r#"["c1","c2"]"#);
    let totals = s.run_totals("r").await.unwrap();
    assert_eq!((totals.rounds, totals.rounds_completed), (2, 1));
    assert_eq!((totals.bytes_up, totals.bytes_down), (150, 40));
    assert!(s.get_round("r", 7).await.unwrap().is_none());
    assert!(matches!(
        s.record_round(&RoundRecord::new("missing-run", 0, 0)).await,
        Err(StoreError::NotFound(_))
    ));

    // Participations: re-recording the same (round, client) never double counts.
    s.upsert_client("r", "c1", r#"{"cpu":2}"#, Some(8.0))
        .await
        .unwrap();
    s.record_participation(&participation("r", 0, "c1", true))
        .await
        .unwrap();
    s.record_participation(&participation("r", 0, "c1", true))
        .await
        .unwrap();
    assert_eq!(
        s.get_client("r", "c1")
            .await
            .unwrap()
            .unwrap()
            .rounds_participated,
        1
    );
    s.record_participation(&participation("r", 1, "c1", false))
        .await
        .unwrap();
    assert_eq!(
        s.get_client("r", "c1")
            .await
            .unwrap()
            .unwrap()
            .rounds_participated,
        1
    );
    s.record_participation(&participation("r", 1, "c1", true))
        .await
        .unwrap();
    assert_eq!(
        s.get_client("r", "c1")
            .await
            .unwrap()
            .unwrap()
            .rounds_participated,
        2
    );
    let ps = s.list_participations("r", 1).await.unwrap();
    assert_eq!(ps.len(), 1);
    assert!(ps[0].accepted && ps[0].reason.is_none());
    s.close().await;
}
on_both!(round_upsert, super::round_upsert_not_double_counted);

async fn clients_and_ledger(db: &TestDb) {
    let s = Store::connect(&db.url).await.unwrap();
    s.create_or_resume_run("r", "{}").await.unwrap();
    assert!(matches!(
        s.upsert_client("no-run", "c", "{}", None).await,
        Err(StoreError::NotFound(_))
    ));
    s.upsert_client("r", "b", "{}", None).await.unwrap();
    s.upsert_client("r", "a", r#"{"gpu":false}"#, Some(4.0))
        .await
        .unwrap();
    s.set_client_status("r", "a", "banned").await.unwrap();
    let first = s.get_client("r", "a").await.unwrap().unwrap();
    s.upsert_client("r", "a", r#"{"gpu":true}"#, Some(5.0))
        .await
        .unwrap();
    s.touch_client("r", "a").await.unwrap();
    let a = s.get_client("r", "a").await.unwrap().unwrap();
    assert_eq!(a.first_seen, first.first_seen);
    assert!(a.last_seen >= first.last_seen);
    assert_eq!(a.status, "banned", "re-registration keeps the status");
    assert_eq!(a.capabilities_json, r#"{"gpu":true}"#);
    assert_eq!(a.epsilon_budget, Some(5.0));
    let ids: Vec<_> = s
        .list_clients("r")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(matches!(
        s.touch_client("r", "zz").await,
        Err(StoreError::NotFound(_))
    ));

    // A participation of an unregistered client is refused and leaves nothing behind.
    assert!(matches!(
        s.record_participation(&participation("r", 0, "ghost", true))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(s.list_participations("r", 0).await.unwrap().is_empty());

    // ε only ever rises, whichever of ledger or participation reports it.
    let entry = |round, eps| LedgerEntry {
        run_id: "r".into(),
        client_id: "b".into(),
        round,
        epsilon_after: eps,
        delta: 1e-5,
        event_json: r#"{"sigma":1.1,"q":0.01}"#.into(),
    };
    s.ledger_append(&entry(0, 0.5)).await.unwrap();
    s.ledger_append(&entry(1, 0.8)).await.unwrap();
    s.ledger_append(&entry(1, 0.8)).await.unwrap(); // replayed: still one row
    assert_eq!(
        s.get_client("r", "b").await.unwrap().unwrap().epsilon_spent,
        0.8
    );
    let mut p = participation("r", 2, "b", true);
    p.epsilon_spent = Some(0.6);
    s.record_participation(&p).await.unwrap();
    assert_eq!(
        s.get_client("r", "b").await.unwrap().unwrap().epsilon_spent,
        0.8
    );
    p.epsilon_spent = Some(1.2);
    s.record_participation(&p).await.unwrap();
    assert_eq!(
        s.get_client("r", "b").await.unwrap().unwrap().epsilon_spent,
        1.2
    );
    let ledger = s.ledger("r", Some("b")).await.unwrap();
    assert_eq!(
        ledger.iter().map(|e| e.round).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert_eq!(ledger[1].epsilon_after, 0.8);
    assert_eq!(ledger[1].event_json, r#"{"sigma":1.1,"q":0.01}"#);
    assert!(s.ledger("r", Some("a")).await.unwrap().is_empty());
    assert!(matches!(
        s.ledger_append(&entry(2, f64::INFINITY)).await,
        Err(StoreError::InvalidInput {
            field: "epsilon_after",
            ..
        })
    ));
    s.close().await;
}
on_both!(clients_ledger, super::clients_and_ledger);

async fn checkpoint_roundtrip(db: &TestDb) {
    let s = Store::connect(&db.url).await.unwrap();
    s.create_or_resume_run("r", "{}").await.unwrap();
    assert!(s.latest_checkpoint("r").await.unwrap().is_none());
    // 7 MB, about the size of the cnn-fedavg model.
    let big = model_bytes(7_000_000, 1);
    let small = model_bytes(1_000, 2);
    let r0 = RoundRecord::new("r", 0, 10);
    let info0 = s
        .save_checkpoint(
            &r0,
            NewCheckpoint {
                model: &big,
                ..STATE
            },
        )
        .await
        .unwrap();
    assert_eq!(info0.size_bytes, 7_000_000);
    assert_eq!(info0.sha256, format!("{:x}", Sha256::digest(&big)));
    let r1 = RoundRecord::new("r", 1, 20);
    s.save_checkpoint(
        &r1,
        NewCheckpoint {
            model: &small,
            ..STATE
        },
    )
    .await
    .unwrap();

    let latest = s
        .latest_checkpoint("r")
        .await
        .unwrap()
        .expect("a checkpoint");
    assert_eq!(latest.round, 1);
    assert_eq!(latest.model, small);
    assert_eq!(latest.sha256, format!("{:x}", Sha256::digest(&small)));
    assert_eq!(latest.strategy_state_json, STATE.strategy_state_json);
    assert_eq!(latest.engine_state_json, STATE.engine_state_json);
    // Saving marked both rounds completed, though the records said Running.
    for r in s.list_rounds("r").await.unwrap() {
        assert_eq!(r.status, RoundStatus::Completed);
    }
    assert_eq!(s.load_checkpoint_model("r", 0).await.unwrap(), big);
    assert_eq!(s.get_checkpoint("r", 0).await.unwrap().unwrap().model, big);
    let list = s.list_checkpoints("r").await.unwrap();
    assert_eq!(
        list.iter()
            .map(|c| (c.round, c.size_bytes))
            .collect::<Vec<_>>(),
        vec![(0, 7_000_000), (1, 1_000)]
    );
    assert!(matches!(
        s.load_checkpoint_model("r", 5).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.save_checkpoint(&r1, STATE).await,
        Err(StoreError::InvalidInput { field: "model", .. })
    ));
    s.close().await;
}
on_both!(checkpoints, super::checkpoint_roundtrip);

async fn checkpoint_is_atomic(db: &TestDb) {
    let s = Store::connect(&db.url).await.unwrap();
    s.create_or_resume_run("r", "{}").await.unwrap();
    let model = model_bytes(4096, 3);
    // Unknown run: the round upsert itself fails, nothing is written.
    assert!(matches!(
        s.save_checkpoint(
            &RoundRecord::new("ghost", 0, 0),
            NewCheckpoint {
                model: &model,
                ..STATE
            }
        )
        .await,
        Err(StoreError::NotFound(_))
    ));
    s.save_checkpoint(
        &RoundRecord::new("r", 0, 0),
        NewCheckpoint {
            model: &model,
            ..STATE
        },
    )
    .await
    .unwrap();
    // Make the checkpoint insert fail AFTER the round upsert in the same transaction succeeded.
    let raw = db.raw().await;
    sqlx::query("DROP TABLE checkpoints")
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    let mut r1 = RoundRecord::new("r", 1, 5);
    r1.bytes_up = 77;
    let err = s
        .save_checkpoint(
            &r1,
            NewCheckpoint {
                model: &model,
                ..STATE
            },
        )
        .await
        .expect_err("insert into a dropped table must fail");
    assert!(matches!(err, StoreError::Db(_)), "{err}");
    assert!(
        s.get_round("r", 1).await.unwrap().is_none(),
        "the round must not be recorded without its checkpoint"
    );
    assert_eq!(s.list_rounds("r").await.unwrap().len(), 1);
    s.close().await;
}
on_both!(checkpoint_atomic, super::checkpoint_is_atomic);

async fn corrupt_checkpoint_detected(db: &TestDb) {
    let s = Store::connect(&db.url).await.unwrap();
    s.create_or_resume_run("r", "{}").await.unwrap();
    let model = model_bytes(10_000, 4);
    s.save_checkpoint(
        &RoundRecord::new("r", 3, 0),
        NewCheckpoint {
            model: &model,
            ..STATE
        },
    )
    .await
    .unwrap();
    let mut flipped = model.clone();
    flipped[1234] ^= 0x01;
    let raw = db.raw().await;
    sqlx::query("UPDATE checkpoints SET model = $1 WHERE run_id = 'r' AND round = 3")
        .bind(flipped)
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    let err = s
        .latest_checkpoint("r")
        .await
        .expect_err("corruption must be detected");
    assert!(
        matches!(&err, StoreError::CorruptCheckpoint { round: 3, expected, .. }
            if *expected == format!("{:x}", Sha256::digest(&model))),
        "{err}"
    );
    assert!(err.to_string().contains("corrupt"));
    assert!(matches!(
        s.load_checkpoint_model("r", 3).await,
        Err(StoreError::CorruptCheckpoint { .. })
    ));
    s.close().await;
}
on_both!(corrupt_checkpoint, super::corrupt_checkpoint_detected);

#[tokio::test]
async fn sqlite_in_memory_works() {
    let s = Store::connect("sqlite::memory:").await.unwrap();
    s.create_or_resume_run("m", "{}").await.unwrap();
    // The single connection is kept, so the data survives between calls.
    assert!(s.create_or_resume_run("m", "{}").await.unwrap().existed);
}

#[tokio::test]
async fn sqlite_file_and_parent_dir_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("fl.db");
    // No `mode=rwc`: the store adds it.
    let s = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    s.create_or_resume_run("x", "{}").await.unwrap();
    s.close().await;
    assert!(path.is_file());
}

#[tokio::test]
async fn unsupported_url_is_a_clear_error() {
    let err = Store::connect("mysql://root:hunter2@localhost/db")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl(_)));
    let msg = err.to_string();
    assert!(msg.contains("mysql://root:***@localhost/db"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(matches!(
        Store::connect("not a url").await,
        Err(StoreError::UnsupportedUrl(_))
    ));
}

#[tokio::test]
async fn unreachable_postgres_fails_naming_the_url_without_password() {
    let opts = StoreOptions {
        acquire_timeout: Duration::from_secs(1),
        ..StoreOptions::default()
    };
    let err = Store::connect_with("postgres://fl:s3cret@127.0.0.1:1/fl", &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("postgres://fl:***@127.0.0.1:1/fl"), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
}

#[tokio::test]
async fn sqlite_in_unwritable_place_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    // The "parent directory" is a regular file.
    let url = format!("sqlite://{}/fl.db", file.display());
    let err = Store::connect(&url).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::CreateDir { .. } | StoreError::Connect { .. }
        ),
        "{err}"
    );
}

/// sqlx 0.9.0's `Any` binds a NULL `f64` as PostgreSQL FLOAT4 and caches the statement with
/// that parameter type, so a later non-NULL FLOAT8 failed ("incorrect binary data format").
/// One connection makes the statement reuse certain.
async fn optional_floats_null_then_value(db: &TestDb) {
    let opts = StoreOptions {
        max_connections: 1,
        ..StoreOptions::default()
    };
    let s = Store::connect_with(&db.url, &opts).await.unwrap();
    s.create_or_resume_run("r", "{}").await.unwrap();
    s.upsert_client("r", "a", "{}", None).await.unwrap();
    s.upsert_client("r", "b", "{}", Some(3.0)).await.unwrap();
    assert_eq!(
        s.get_client("r", "b")
            .await
            .unwrap()
            .unwrap()
            .epsilon_budget,
        Some(3.0)
    );
    let mut r = RoundRecord::new("r", 0, 0);
    s.record_round(&r).await.unwrap();
    r.round = 1;
    (r.accuracy, r.loss, r.duration_s, r.epsilon_max) =
        (Some(0.5), Some(1.5), Some(2.5), Some(3.5));
    s.record_round(&r).await.unwrap();
    assert_eq!(s.get_round("r", 1).await.unwrap().unwrap(), r);
    let mut p = participation("r", 0, "a", true);
    p.train_loss = None;
    s.record_participation(&p).await.unwrap();
    p.round = 1;
    (p.train_loss, p.epsilon_spent) = (Some(0.7), Some(0.9));
    s.record_participation(&p).await.unwrap();
    assert_eq!(s.list_participations("r", 1).await.unwrap(), [p]);
    s.close().await;
}
on_both!(optional_floats, super::optional_floats_null_then_value);
