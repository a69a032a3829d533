//! `hf://` checkpoints against the local test Hub (`tests/hub/server.py`):
//! `.ci/run` starts it and runs these with `--ignored`, with
//! `TENSORSAFE_TEST_HUB` the Hub's address and `TENSORSAFE_TEST_HUB_FIXTURES`
//! the repositories it serves (`tests/hub/make_fixtures.py`).
//!
//! The tests share one server, whose counts they read and reset, so they
//! take turns (`turn()`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tensorsafe::remote::hub::{Hub, HubAddress, HubConfig, HubStats};

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn endpoint() -> String {
    std::env::var("TENSORSAFE_TEST_HUB").expect("TENSORSAFE_TEST_HUB: the test Hub's address")
}

fn fixtures() -> PathBuf {
    PathBuf::from(
        std::env::var("TENSORSAFE_TEST_HUB_FIXTURES")
            .expect("TENSORSAFE_TEST_HUB_FIXTURES: the test Hub's repositories"),
    )
}

const TOKEN: &str = "hf_tensorsafe_test_token";

/// A client for the test Hub: no token, no cache unless given.
fn hub(token: Option<&str>, cache: Option<&Path>, offline: bool) -> Hub {
    let mut config = HubConfig::default();
    config.endpoint = endpoint();
    config.token = token.map(str::to_owned);
    config.cache_dir = cache.map(Path::to_path_buf);
    config.offline = offline;
    Hub::new(config).unwrap()
}

/// A client of the test Hub whose waits for rate limits add up to `wait`
/// at most.
fn hub_waiting_at_most(wait: Duration) -> Hub {
    let mut config = HubConfig::default();
    config.endpoint = endpoint();
    config.max_retry_wait = wait;
    Hub::new(config).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn address(text: &str) -> HubAddress {
    text.parse().unwrap()
}

/// The server's counts and request log since the last reset.
fn server_stats(rt: &tokio::runtime::Runtime) -> Value {
    rt.block_on(async {
        let text = reqwest::get(format!("{}/_stats", endpoint()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

fn server_post(rt: &tokio::runtime::Runtime, what: &str) {
    rt.block_on(async {
        let status = reqwest::Client::new()
            .post(format!("{}/{what}", endpoint()))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{what}: {status}");
    })
}

/// (hub requests, CDN requests) as the server counted them.
fn server_requests(stats: &Value) -> (u64, u64) {
    (
        stats["hub"]["requests"].as_u64().unwrap(),
        stats["cdn"]["requests"].as_u64().unwrap(),
    )
}

/// The commit ref `name` of `repo` points to in the fixtures.
fn fixture_commit(repo: &str, name: &str) -> String {
    let text = std::fs::read_to_string(fixtures().join("repos.json")).unwrap();
    let repos: Value = serde_json::from_str(&text).unwrap();
    repos["repos"][repo]["refs"][name]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The size of `file` of model `repo` at its `main` in the fixtures.
fn main_file_size(repo: &str, file: &str) -> u64 {
    let path = fixtures()
        .join("models")
        .join(repo)
        .join(fixture_commit(repo, "main"))
        .join(file);
    std::fs::metadata(path).unwrap().len()
}

/// Opens `text` with `hub`.
fn open(
    rt: &tokio::runtime::Runtime,
    hub: &Hub,
    text: &str,
) -> tensorsafe::Result<tensorsafe::remote::hub::HubCheckpoint> {
    rt.block_on(hub.open(&address(text)))
}

/// A test's start: its turn at the server, a runtime, the server reset
/// (counts, log, refs moved by a push, a hostile mode).
fn start() -> (MutexGuard<'static, ()>, tokio::runtime::Runtime) {
    let turn = turn();
    let rt = runtime();
    server_post(&rt, "_reset");
    (turn, rt)
}

fn requests(stats: HubStats) -> (u64, u64) {
    (stats.hub_requests, stats.cdn_requests)
}

/// `q_proj` of layer `layer`, as `make_fixtures.py` writes it:
/// `arange(131072).reshape(512, 256) + 10000 * layer`.
fn q_proj(layer: usize) -> Vec<f32> {
    (0..131072).map(|i| (i + 10000 * layer) as f32).collect()
}

/// `got == want`, and on failure the first difference, not every value.
#[track_caller]
fn same<T: PartialEq + std::fmt::Debug>(got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!("element {i}: {:?}, expected {:?}", got[i], want[i]);
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tensorsafe-hub-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A Hub cache as huggingface_hub leaves it, written by `make_cache.py`.
fn make_cache(cache: &Path, repo: &str, revision: &str, only: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hub/make_cache.py");
    let mut command = Command::new("python3");
    command
        .arg(script)
        .arg(fixtures())
        .arg(cache)
        .arg(repo)
        .arg(revision);
    if !only.is_empty() {
        command.arg("--only").args(only);
    }
    let status = command.status().unwrap();
    assert!(status.success(), "make_cache.py failed");
}

#[test]
#[ignore = "needs the test Hub (.ci/run starts it)"]
fn a_sharded_listing_is_the_index_and_one_read_per_shard() {
    let (_turn, rt) = start();
    let hub = hub(None, None, false);
    let model = open(&rt, &hub, "hf://tensorsafe/tiny-sharded").unwrap();
    let checkpoint = model.checkpoint();
    assert!(checkpoint.is_sharded());
    assert_eq!(checkpoint.files().len(), 3);
    assert_eq!(checkpoint.len(), 14);
    assert_eq!(
        model.address().to_string(),
        "hf://tensorsafe/tiny-sharded/model.safetensors.index.json"
    );
    assert_eq!(model.commit().len(), 40);
    assert!(!model.is_cached());
    // The index (no redirect: not an LFS file), then per shard the resolve
    // answer and its CDN read.
    assert_eq!(requests(hub.stats()), (4, 3));
    let server = server_stats(&rt);
    assert_eq!(server_requests(&server), (4, 3));
    let log = server["log"].as_array().unwrap();
    assert!(log[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("/resolve/main/model.safetensors.index.json"));
    // Every later read names the commit the first answer gave.
    for entry in log.iter().filter(|e| e["server"] == "hub").skip(1) {
        let path = entry["path"].as_str().unwrap();
        assert!(
            path.contains(&format!("/resolve/{}/", model.commit())),
            "{path}"
        );
    }
    // One ranged read of the first 100,000 bytes per header.
    for entry in log.iter().filter(|e| e["server"] == "cdn") {
        assert_eq!(entry["range"], "bytes=0-99999");
        assert_eq!(entry["status"], 206);
    }
    assert!(checkpoint.verify().is_ok());
}

#[test]
#[ignore = "needs the test Hub (.ci/run starts it)"]
fn one_ranks_slice_is_one_ranged_read_and_a_push_mixes_nothing_in() {
    // The reset undoes an earlier push.
    let (_turn, rt) = start();
    let hub = hub(None, None, false);
    let model = open(&rt, &hub, "hf://tensorsafe/tiny-sharded").unwrap();
    let checkpoint = model.checkpoint();
    let name = "model.layers.1.self_attn.q_proj.weight";
    let before = hub.stats();
    // Rank 1 of 4 along dim 0: rows 128..256 of [512, 256] f32.
    let part = rt.block_on(checkpoint.split(name, 0, 1, 4)).unwrap();
    assert_eq!(part.shape(), [128, 256]);
    same(
        &part.view().to_vec::<f32>().unwrap(),
        &q_proj(1)[128 * 256..256 * 256],
    );
    let after = hub.stats();
    assert_eq!(
        (
            after.hub_requests - before.hub_requests,
            after.cdn_requests - before.cdn_requests
        ),
        (1, 1)
    );
    assert_eq!(after.bytes - before.bytes, 128 * 256 * 4);
    // A column split (dim 1) is 512 row pieces, 768 bytes apart: merged
    // into one request.
    let before = hub.stats();
    let cols = rt.block_on(checkpoint.split(name, 1, 3, 4)).unwrap();
    assert_eq!(cols.shape(), [512, 64]);
    let want: Vec<f32> = (0..512)
        .flat_map(|r| (192..256).map(move |c| (r * 256 + c + 10000) as f32))
        .collect();
    same(&cols.view().to_vec::<f32>().unwrap(), &want);
    assert_eq!(hub.stats().cdn_requests - before.cdn_requests, 1);

    // A push to main while the checkpoint is open: its reads stay at the
    // commit it was opened at.
    let commit = model.commit().to_owned();
    assert_eq!(commit, fixture_commit("tensorsafe/tiny-sharded", "main"));
    server_post(&rt, "_push?repo=tensorsafe/tiny-sharded");
    let loaded = rt.block_on(checkpoint.load(|_, _| {})).unwrap();
    same(
        &loaded.tensor(name).unwrap().to_vec::<f32>().unwrap(),
        &q_proj(1),
    );
    // Opened again, main is the new commit, where every f32 is one more.
    let again = open(&rt, &hub, "hf://tensorsafe/tiny-sharded").unwrap();
    assert_ne!(again.commit(), commit);
    let newer = rt.block_on(again.checkpoint().tensor(name)).unwrap();
    let plus_one: Vec<f32> = q_proj(1).iter().map(|v| v + 1.0).collect();
    same(&newer.view().to_vec::<f32>().unwrap(), &plus_one);
    // The old commit stays readable by its pinned address.
    let pinned = rt.block_on(hub.open(&model.pinned_address())).unwrap();
    assert_eq!(pinned.commit(), commit);
}

#[test]
#[ignore = "needs the test Hub (.ci/run starts it)"]
fn single_files_are_found_as_huggingface_hub_finds_them() {
    let (_turn, rt) = start();
    let hub = hub(None, None, false);
    // No index: one 404, then the header read.
    let single = open(&rt, &hub, "hf://tensorsafe/tiny-single").unwrap();
    assert_eq!(single.address().path(), Some("model.safetensors"));
    assert!(!single.checkpoint().is_sharded());
    assert_eq!(requests(hub.stats()), (2, 1));
    let embed = rt
        .block_on(single.checkpoint().tensor("embed.weight"))
        .unwrap();
    let want: Vec<f32> = (0..128).map(|i| i as f32 * 0.5).collect();
    same(&embed.view().to_vec::<f32>().unwrap(), &want);
    // load_into with progress, into buffers of our own.
    let mut ids = [0u8; 16 * 8];
    let mut slot = Some(&mut ids[..]);
    let mut calls = Vec::new();
    rt.block_on(single.checkpoint().load_into(
        |info| {
            if info.name() == "position_ids" {
                slot.take()
            } else {
                None
            }
        },
        |done, total| calls.push((done, total)),
    ))
    .unwrap();
    let ids: Vec<i64> = ids
        .chunks(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(ids, (0..16).collect::<Vec<i64>>());
    assert_eq!(calls.first(), Some(&(0, 128)));
    assert_eq!(calls.last(), Some(&(128, 128)));

    // diffusers' file name, after three 404s.
    let hub = self::hub(None, None, false);
    let diffusion = open(&rt, &hub, "hf://tensorsafe/diffusion").unwrap();
    assert_eq!(
        diffusion.address().path(),
        Some("diffusion_pytorch_model.safetensors")
    );
    assert_eq!(requests(hub.stats()), (4, 1));

    // A header longer than 100,000 bytes takes a second read.
    let hub = self::hub(None, None, false);
    let many = open(&rt, &hub, "hf://tensorsafe/many-tensors/model.safetensors").unwrap();
    assert_eq!(many.checkpoint().len(), 3000);
    assert_eq!(requests(hub.stats()), (2, 2));

    // A dataset, a pull request's revision, a renamed repository.
    let hub = self::hub(None, None, false);
    let data = open(
        &rt,
        &hub,
        "hf://datasets/tensorsafe/tensors/data/train.safetensors",
    )
    .unwrap();
    let inputs = rt.block_on(data.checkpoint().tensor("inputs")).unwrap();
    same(
        &inputs.view().to_vec::<f32>().unwrap(),
        &(0..40).map(|i| i as f32 / 2.0).collect::<Vec<_>>(),
    );
    let pr = open(&rt, &hub, "hf://tensorsafe/tiny-single@refs/pr/1").unwrap();
    assert_eq!(
        pr.commit(),
        fixture_commit("tensorsafe/tiny-single", "refs/pr/1")
    );
    let q = rt
        .block_on(pr.checkpoint().tensor("layers.0.attn.q_proj.weight"))
        .unwrap();
    same(
        &q.view().to_vec::<f32>().unwrap(),
        &(0..64).map(|i| i as f32 + 1000.0).collect::<Vec<_>>(),
    );
    let renamed = open(&rt, &hub, "hf://tensorsafe/old-tiny-single").unwrap();
    assert_eq!(
        renamed.commit(),
        fixture_commit("tensorsafe/tiny-single", "main")
    );
}

#[test]
#[ignore = "needs the test Hub (.ci/run starts it)"]
fn gated_repositories_need_a_token_that_never_reaches_the_cdn() {
    let (_turn, rt) = start();
    let gated = address("hf://tensorsafe/gated");
    let io_kind = |e: &tensorsafe::Error| e.io_error().map(std::io::Error::kind);

    let e = rt
        .block_on(hub(None, None, false).open(&gated))
        .unwrap_err();
    assert_eq!(
        io_kind(&e),
        Some(std::io::ErrorKind::PermissionDenied),
        "{e}"
    );
    assert_eq!(e.path(), Some(Path::new("hf://tensorsafe/gated")));
    assert!(e.to_string().contains("needs a token"), "{e}");

    let e = rt
        .block_on(hub(Some("hf_wrong"), None, false).open(&gated))
        .unwrap_err();
    assert_eq!(
        io_kind(&e),
        Some(std::io::ErrorKind::PermissionDenied),
        "{e}"
    );
    assert!(e.to_string().contains("no access"), "{e}");

    let hub = hub(Some(TOKEN), None, false);
    let model = rt.block_on(hub.open(&gated)).unwrap();
    let bias = rt
        .block_on(model.checkpoint().tensor("linear.bias"))
        .unwrap();
    same(
        &bias.view().to_vec::<f32>().unwrap(),
        &[-1.0, -2.0, -3.0, -4.0],
    );
    let server = server_stats(&rt);
    assert_eq!(server["cdn_authorization"], 0, "the token reached the CDN");
    let log = server["log"].as_array().unwrap();
    let cdn = log.iter().filter(|e| e["server"] == "cdn").count();
    assert!(cdn >= 1, "the gated file was read through the CDN");
    // With the token, every request to the Hub carried it.
    let with_token = log
        .iter()
        .rev()
        .take_while(|e| e["status"] != 401 && e["status"] != 403);
    for entry in with_token.filter(|e| e["server"] == "hub") {
        assert_eq!(entry["authorization"], true, "{entry}");
    }
}

#[test]
#[ignore = "needs the test Hub (.ci/run starts it)"]
fn missing_files_revisions_and_repositories_are_named() {
    let (_turn, rt) = start();
    let hub = hub(None, None, false);
    let io_kind = |e: &tensorsafe::Error| e.io_error().map(std::io::Error::kind);
    let fails = |text: &str| open(&rt, &hub, text).unwrap_err();

    let e = fails("hf://tensorsafe/tiny-single/absent.safetensors");
    assert_eq!(io_kind(&e), Some(std::io::ErrorKind::NotFound));
    assert_eq!(
        e.path(),
        Some(Path::new("hf://tensorsafe/tiny-single/absent.safetensors"))
    );
    assert!(e.to_string().contains("revision main"), "{e}");

    let e = fails("hf://tensorsafe/tiny-single@nonesuch");
    assert_eq!(io_kind(&e), Some(std::io::ErrorKind::NotFound));
    assert_eq!(
        e.path(),
        Some(Path::new("hf://tensorsafe/tiny-single@nonesuch"))
    );
    assert!(e.to_string().contains("no revision nonesuch"), "{e}");

    let e = fails("hf://tensorsafe/nonesuch");
    assert_eq!(e.path(), Some(Path::new("hf://tensorsafe/nonesuch")));
    assert!(e.to_string().contains("does not exist"), "{e}");

    // Broken files through the network path: an empty one (its range is
    // refused; a HEAD at the resolve address tells its size), a cut one.
    let e = fails("hf://tensorsafe/tiny-single/broken/empty.safetensors");
    assert_eq!(e.kind(), tensorsafe::ErrorKind::FileTooSmall, "{e}");
    let e = fails("hf://tensorsafe/tiny-single/broken/truncated.safetensors");
    assert_eq!(e.category(), tensorsafe::Category::Format, "{e}");

    // A repository without any checkpoint file: all four looked for.
    let e = fails("hf://datasets/tensorsafe/tensors");
    assert_eq!(io_kind(&e), Some(std::io::ErrorKind::NotFound));
    assert!(e.to_string().contains("no checkpoint"), "{e}");
    assert!(
        e.to_string()
            .contains("diffusion_pytorch_model.safetensors"),
        "{e}"
    );
}

#[test]
#[ignore = "needs the test Hub (.ci/run starts it)"]
fn a_rate_limit_is_waited_out_as_the_hub_asks() {
    let (_turn, rt) = start();
    let hub = hub(None, None, false);
    let started = Instant::now();
    let model = open(&rt, &hub, "hf://tensorsafe/rate-limited/model.safetensors").unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After: 1 was not waited for"
    );
    assert_eq!(model.checkpoint().len(), 1);
    assert_eq!(hub.stats().retries, 1);
    let server = server_stats(&rt);
    let statuses: Vec<u64> = server["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [429, 302, 206]);
}

#[test]
#[ignore = "needs the test Hub (.ci/run starts it)"]
fn the_local_cache_is_read_first_and_offline_says_what_is_missing() {
    let (_turn, rt) = start();
    let cache = temp_dir("cache");
    let repo = "tensorsafe/tiny-single";
    make_cache(&cache, repo, "main", &[]);
    server_post(&rt, "_reset");

    // Cached, online or offline: no request at all.
    for offline in [false, true] {
        let hub = hub(None, Some(&cache), offline);
        let model = open(&rt, &hub, "hf://tensorsafe/tiny-single").unwrap();
        assert!(model.is_cached());
        assert_eq!(model.commit(), fixture_commit(repo, "main"));
        let q = rt
            .block_on(model.checkpoint().tensor("layers.0.attn.q_proj.weight"))
            .unwrap();
        same(
            &q.view().to_vec::<f32>().unwrap(),
            &(0..64).map(|i| i as f32).collect::<Vec<_>>(),
        );
        let whole = rt.block_on(model.checkpoint().load(|_, _| {})).unwrap();
        assert_eq!(whole.len(), 7);
        assert_eq!(requests(hub.stats()), (0, 0));
        assert!(hub.stats().cache_reads >= 1);
    }
    assert_eq!(server_requests(&server_stats(&rt)), (0, 0));

    // Offline, a revision the cache has no ref for.
    let hub = hub(None, Some(&cache), true);
    let e = open(&rt, &hub, "hf://tensorsafe/tiny-single@refs/pr/1").unwrap_err();
    assert_eq!(
        e.io_error().map(std::io::Error::kind),
        Some(std::io::ErrorKind::NotFound)
    );
    assert!(e.to_string().contains("no ref refs/pr/1"), "{e}");

    // A partial snapshot: offline names the missing shard; online reads
    // only what the cache lacks.
    let sharded = "tensorsafe/tiny-sharded";
    let commit = fixture_commit(sharded, "main");
    make_cache(
        &cache,
        sharded,
        &commit,
        &[
            "model.safetensors.index.json",
            "model-00001-of-00003.safetensors",
        ],
    );
    let at_commit = address(&format!("hf://{sharded}@{commit}"));
    let e = rt
        .block_on(self::hub(None, Some(&cache), true).open(&at_commit))
        .unwrap_err();
    // Shards 2 and 3 are missing; whichever is asked for first is named.
    assert!(e.to_string().contains("does not hold model-0000"), "{e}");
    assert!(e.to_string().contains("-of-00003.safetensors"), "{e}");
    let hub = self::hub(None, Some(&cache), false);
    let model = rt.block_on(hub.open(&at_commit)).unwrap();
    assert!(!model.is_cached());
    assert_eq!(requests(hub.stats()), (2, 2));
    assert_eq!(hub.stats().cache_reads, 2);
    let q = rt
        .block_on(
            model
                .checkpoint()
                .tensor("model.layers.0.self_attn.q_proj.weight"),
        )
        .unwrap();
    same(&q.view().to_vec::<f32>().unwrap(), &q_proj(0));
    assert_eq!(
        requests(hub.stats()),
        (2, 2),
        "the cached shard was read from disk"
    );
    std::fs::remove_dir_all(&cache).unwrap();
}

/// Resets the server when dropped, so that a hostile mode never outlives a
/// failed test.
struct Behave<'r>(&'r tokio::runtime::Runtime);

impl Drop for Behave<'_> {
    fn drop(&mut self) {
        server_post(self.0, "_reset");
    }
}

#[test]
#[ignore = "needs the test Hub (.ci/run starts it)"]
fn a_hostile_hub_is_an_error_never_a_crash_or_a_mix() {
    let (_turn, rt) = start();
    let _behave = Behave(&rt);
    let name = "model.layers.1.self_attn.q_proj.weight";
    let fresh = || self::hub(None, None, false);

    // Opened honestly, then the Hub names another commit, or drops the
    // ETags: the next read is refused, not mixed in.
    for (mode, says) in [
        ("commit", "is read at commit"),
        ("no-etag", "ETag (none) now"),
    ] {
        server_post(&rt, "_reset");
        let model = open(&rt, &fresh(), "hf://tensorsafe/tiny-sharded").unwrap();
        server_post(&rt, &format!("_misbehave?mode={mode}"));
        let e = rt.block_on(model.checkpoint().tensor(name)).unwrap_err();
        assert_eq!(e.kind(), tensorsafe::ErrorKind::FileChanged, "{mode}: {e}");
        assert!(e.to_string().contains(says), "{mode}: {e}");
    }

    // Answers whose commit is missing, not a commit id, or said by the CDN
    // only are not taken; a 206 claiming 64 GiB, one bringing a megabyte
    // more than its range, one bringing half: errors, nothing allocated
    // or kept beyond the range.
    for (mode, says) in [
        ("no-commit", "did not say its commit"),
        ("bad-commit", "not a commit id"),
        ("cdn-commit", "did not say its commit"),
        ("content-range", "it answered with bytes 0..68719476736"),
        ("overlong", "sent more than"),
        ("short", "ended after"),
    ] {
        server_post(&rt, "_reset");
        server_post(&rt, &format!("_misbehave?mode={mode}"));
        let e = open(&rt, &fresh(), "hf://tensorsafe/tiny-sharded").unwrap_err();
        assert!(e.to_string().contains(says), "{mode}: {e}");
    }
    server_post(&rt, "_reset");

    // A rate limit asking for a longer wait than allowed: one request, an
    // error that says so (no retry, no HEAD after it).
    let impatient = hub_waiting_at_most(Duration::ZERO);
    let e = open(
        &rt,
        &impatient,
        "hf://tensorsafe/rate-limited/model.safetensors",
    )
    .unwrap_err();
    assert!(e.to_string().contains("rate limited"), "{e}");
    assert!(e.to_string().contains("after 0 retries"), "{e}");
    assert!(e.to_string().contains("0 s allowed"), "{e}");
    assert_eq!(server_requests(&server_stats(&rt)), (1, 0));

    // Rate limited on every request, 1 s asked each time, 1 s allowed in
    // all: one wait, then an error; the waits add up.
    server_post(&rt, "_reset");
    server_post(&rt, "_misbehave?mode=rate-limit");
    let patient_once = hub_waiting_at_most(Duration::from_secs(1));
    let e = open(
        &rt,
        &patient_once,
        "hf://tensorsafe/tiny-single/model.safetensors",
    )
    .unwrap_err();
    assert!(e.to_string().contains("after 1 retries"), "{e}");
    assert_eq!(server_requests(&server_stats(&rt)), (2, 0));
    assert_eq!(patient_once.stats().retries, 1);
}

#[test]
#[ignore = "needs the test Hub (.ci/run starts it)"]
fn a_head_stops_at_the_resolve_answer() {
    use tensorsafe::remote::object_store::ObjectStoreExt;
    let (_turn, rt) = start();
    let hub = hub(None, None, false);
    let store = hub.store(&address("hf://tensorsafe/tiny-sharded"));
    let meta = rt
        .block_on(store.head(&"model-00002-of-00003.safetensors".into()))
        .unwrap();
    assert_eq!(
        meta.size,
        main_file_size(
            "tensorsafe/tiny-sharded",
            "model-00002-of-00003.safetensors"
        )
    );
    assert_eq!(
        meta.e_tag.as_deref().map(str::len),
        Some(64),
        "X-Linked-Etag, a sha256"
    );
    assert_eq!(
        store.commit(),
        Some(fixture_commit("tensorsafe/tiny-sharded", "main").as_str())
    );
    let log = server_stats(&rt)["log"].clone();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0]["method"].as_str(), log[0]["status"].as_u64()),
        (Some("HEAD"), Some(302))
    );
    // A file the Hub serves itself: its size is the Content-Length the
    // HEAD answer says (not the empty body's).
    let index = rt
        .block_on(store.head(&"model.safetensors.index.json".into()))
        .unwrap();
    assert_eq!(
        index.size,
        main_file_size("tensorsafe/tiny-sharded", "model.safetensors.index.json")
    );
}
