//! Writes that fail for real (a file size limit, a full filesystem), the
//! permissions a replacing file gets, and targets that are symbolic links.
//!
//! In every failure: an error that says it was writing, the old file
//! byte-identical with its permissions, nothing left beside it, and no
//! retried or ignored write that leads to a committed file.
//!
//! Child processes, mounts, ownership and links are outside what Miri
//! models: these run natively and under AddressSanitizer (scripts/asan.sh).
#![cfg(all(unix, feature = "std", not(miri)))]

mod common;

use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::temp::{entries, TempDir};
use tensorsafe::{
    serialize, serialize_to_file, AtomicFile, Declaration, Dtype, ErrorKind, SafeTensors,
    TensorView, Writer,
};

/// Bytes of the new files: far more than the limits below allow.
const BIG: usize = 1 << 20;

/// A small valid file, the "good old one" every failed write must keep.
fn old_file() -> Vec<u8> {
    serialize(
        [(
            "keep",
            TensorView::new(Dtype::U8, [4], &[9, 8, 7, 6]).unwrap(),
        )],
        None,
    )
    .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// The files the failure scenarios write over, each holding `old_file()`
/// with mode 0600.
const VICTIMS: [&str; 4] = ["serialize", "stream", "atomic", "sharded"];

fn plant_victims(dir: &Path) {
    for name in VICTIMS {
        let path = dir.join(name);
        std::fs::write(&path, old_file()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::create_dir(dir.join("shards")).unwrap();
}

/// Each way of writing a file, over a victim, where writes fail with
/// `errno`: every one must end in an error naming the file and saying it
/// was writing, and nothing may be committed.
fn write_where_writes_fail(dir: &Path, errno: i32) {
    let data = vec![5u8; BIG];
    let view = || TensorView::new(Dtype::U8, [BIG], &data).unwrap();
    let is_errno = |e: &tensorsafe::Error| {
        e.kind() == ErrorKind::Io && e.io_error().and_then(io::Error::raw_os_error) == Some(errno)
    };

    // The whole-file writer.
    let path = dir.join("serialize");
    let err = serialize_to_file([("big", view())], None, &path).unwrap_err();
    assert!(is_errno(&err), "{err:?}");
    assert_eq!(err.path(), Some(path.as_path()));
    assert!(err.to_string().contains("writing"), "{err}");

    // The streaming writer, whose caller retries the failed chunk and then
    // tries to finish anyway.
    let path = dir.join("stream");
    let mut stream = Writer::new()
        .stream_to_file(&path, [Declaration::new("big", Dtype::U8, [BIG])])
        .unwrap();
    let err = stream.write("big", &data).unwrap_err();
    assert!(is_errno(&err), "{err:?}");
    assert_eq!(err.tensor(), Some("big"));
    assert_eq!(err.path(), Some(path.as_path()));
    assert!(err.to_string().contains("writing"), "{err}");
    let retried = stream.write("big", &data).unwrap_err();
    assert!(is_errno(&retried), "{retried:?}");
    let finished = stream.finish().unwrap_err();
    assert!(is_errno(&finished), "{finished:?}");

    // The atomic file itself, whose caller ignores the failed write.
    let path = dir.join("atomic");
    let mut file = AtomicFile::create(&path).unwrap();
    let err = file.write_all(&data).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(errno));
    let err = file.write_all(b"and more").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(errno));
    let err = file.commit().unwrap_err();
    assert!(is_errno(&err), "{err:?}");
    assert_eq!(err.path(), Some(path.as_path()));

    // A sharded checkpoint: the failing shard stops it before the index.
    let shards = dir.join("shards");
    let err = Writer::new()
        .sharded([("a", view()), ("b", view())], &shards, BIG as u64)
        .unwrap_err();
    assert!(is_errno(&err), "{err:?}");
    assert_eq!(
        err.path(),
        Some(shards.join("model-00001-of-00002.safetensors").as_path())
    );
}

/// After `write_where_writes_fail`: every victim as it was, nothing else.
fn assert_victims_untouched(dir: &Path) {
    for name in VICTIMS {
        let path = dir.join(name);
        assert!(
            std::fs::read(&path).unwrap() == old_file(),
            "{name} changed"
        );
        assert_eq!(mode(&path), 0o600, "{name}'s mode changed");
    }
    let mut expected: Vec<String> = VICTIMS.iter().map(|v| v.to_string()).collect();
    expected.push("shards".into());
    expected.sort();
    assert_eq!(entries(dir), expected);
    assert!(entries(&dir.join("shards")).is_empty());
}

/// Set by `a_file_size_limit_fails_every_writer_cleanly` for its child.
const CHILD_DIR: &str = "TENSORSAFE_FSIZE_CHILD_DIR";

/// The child's half of `a_file_size_limit_fails_every_writer_cleanly`:
/// under a file size limit, with SIGXFSZ ignored so that writes past it
/// fail with EFBIG instead of killing the process.
#[test]
#[ignore = "run in a child process by a_file_size_limit_fails_every_writer_cleanly"]
fn under_a_file_size_limit() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let limit = libc::rlimit {
        rlim_cur: 256 << 10,
        rlim_max: 256 << 10,
    };
    // SAFETY: `limit` is a valid rlimit that outlives the call; ignoring
    // SIGXFSZ installs no handler. This process runs only this test.
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
        assert_ne!(libc::signal(libc::SIGXFSZ, libc::SIG_IGN), libc::SIG_ERR);
    }
    write_where_writes_fail(Path::new(&dir), libc::EFBIG);
}

#[test]
fn a_file_size_limit_fails_every_writer_cleanly() {
    let dir = TempDir::new("fsize");
    plant_victims(dir.dir());
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "under_a_file_size_limit",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success(),
        "child failed: {}\n{stdout}\n{}",
        child.status,
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test: {stdout}"
    );
    assert_victims_untouched(dir.dir());
}

/// A small tmpfs mounted on a fresh directory, unmounted when dropped.
struct SmallFilesystem {
    dir: TempDir,
}

impl SmallFilesystem {
    /// Mounts one, or says why it cannot (not root, no mount permission).
    fn mount(tag: &str, size: &str) -> Result<Self, String> {
        let dir = TempDir::new(tag);
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0755"))
            .arg("tensorsafe-test")
            .arg(dir.dir())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallFilesystem { dir })
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.dir()).status();
    }
}

#[test]
fn a_full_filesystem_fails_every_writer_cleanly() {
    let fs = match SmallFilesystem::mount("enospc", "256k") {
        Ok(fs) => fs,
        Err(why) => {
            println!("skipped: a small filesystem is needed ({why})");
            return;
        }
    };
    let dir = fs.dir.dir();
    plant_victims(dir);
    write_where_writes_fail(dir, libc::ENOSPC);
    assert_victims_untouched(dir);

    // What was refused fits once there is room: the filesystem was full,
    // not broken.
    let path = dir.join("serialize");
    let small = [("x", TensorView::new(Dtype::U8, [2], &[1, 2]).unwrap())];
    serialize_to_file(small, None, &path).unwrap();
    assert_eq!(mode(&path), 0o600);
}

/// A sink that fails once, part-way through a chunk, then works: what a
/// retried write after a transient error would meet.
#[derive(Debug)]
struct FailsOnce {
    bytes: Vec<u8>,
    fail_at: usize,
    failed: bool,
}

impl Write for FailsOnce {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.failed && self.bytes.len() + buf.len() > self.fail_at {
            let room = self.fail_at - self.bytes.len();
            if room == 0 {
                self.failed = true;
                return Err(io::Error::other("transient"));
            }
            self.bytes.extend_from_slice(&buf[..room]);
            return Ok(room);
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stream_refuses_every_call_after_a_failed_write() {
    let sink = FailsOnce {
        bytes: Vec::new(),
        fail_at: 0,
        failed: false,
    };
    let declared = [
        Declaration::new("a", Dtype::U8, [4]),
        Declaration::new("b", Dtype::U8, [2]),
    ];
    let mut header = Vec::new();
    Writer::new()
        .stream(&mut header, declared.clone())
        .unwrap()
        .finish()
        .unwrap_err();
    let mut sink = FailsOnce {
        fail_at: header.len() + 2,
        ..sink
    };
    let mut stream = Writer::new().stream(&mut sink, declared).unwrap();
    // Two of the four bytes reach the sink before it fails.
    let err = stream.write("a", &[1, 2, 3, 4]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(err.tensor(), Some("a"));
    // The sink would take the retry, duplicating two bytes; the stream
    // does not let it.
    assert_eq!(
        stream.write("a", &[1, 2, 3, 4]).unwrap_err().kind(),
        ErrorKind::Io
    );
    assert_eq!(
        stream.write("b", &[5, 6]).unwrap_err().kind(),
        ErrorKind::Io
    );
    let err = stream.finish().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("transient"), "{err}");
    assert_eq!(sink.bytes.len(), header.len() + 2);
}

/// Writes a small new file to `path` with each writer in turn, checking
/// the mode after each.
fn rewrite_each_way(path: &Path, expected_mode: u32) {
    let data = [1u8, 2, 3];
    let tensors = || [("t", TensorView::new(Dtype::U8, [3], &data).unwrap())];
    serialize_to_file(tensors(), None, path).unwrap();
    assert_eq!(mode(path), expected_mode, "serialize_to_file");
    let mut stream = Writer::new()
        .stream_to_file(path, [Declaration::new("t", Dtype::U8, [3])])
        .unwrap();
    stream.write("t", &data).unwrap();
    stream.finish().unwrap().commit().unwrap();
    assert_eq!(mode(path), expected_mode, "stream_to_file");
    let mut file = AtomicFile::create(path).unwrap();
    file.write_all(&serialize(tensors(), None).unwrap())
        .unwrap();
    file.commit().unwrap();
    assert_eq!(mode(path), expected_mode, "AtomicFile");
    let bytes = std::fs::read(path).unwrap();
    SafeTensors::deserialize(&bytes).unwrap();
}

#[test]
fn a_replacing_file_keeps_the_permissions_of_the_replaced_one() {
    let dir = TempDir::new("modes");
    for old_mode in [0o600, 0o640, 0o644, 0o755, 0o444] {
        let path = dir.path(&format!("model-{old_mode:o}.safetensors"));
        std::fs::write(&path, old_file()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(old_mode)).unwrap();
        rewrite_each_way(&path, old_mode);
    }
}

#[test]
fn a_new_file_gets_what_file_create_gives() {
    let dir = TempDir::new("umask");
    // The mode `File::create` gives here (0666 less the umask, or the
    // directory's default ACL), found the way it finds it.
    let probe = dir.path("probe");
    std::fs::File::create(&probe).unwrap();
    let default = mode(&probe);
    std::fs::remove_file(&probe).unwrap();

    let path = dir.path("new.safetensors");
    let data = [1u8];
    serialize_to_file(
        [("t", TensorView::new(Dtype::U8, [1], &data).unwrap())],
        None,
        &path,
    )
    .unwrap();
    assert_eq!(mode(&path), default);
    std::fs::remove_file(&path).unwrap();
    let mut file = AtomicFile::create(&path).unwrap();
    file.write_all(b"x").unwrap();
    file.commit().unwrap();
    assert_eq!(mode(&path), default);
    // And it stays so when rewritten.
    rewrite_each_way(&path, default);
}

#[test]
fn owner_and_group_are_kept_where_the_process_may_set_them() {
    let dir = TempDir::new("owner");
    let path = dir.path("model.safetensors");
    std::fs::write(&path, old_file()).unwrap();
    let (uid, gid) = (4321, 8765);
    if let Err(e) = std::os::unix::fs::chown(&path, Some(uid), Some(gid)) {
        println!("skipped: cannot give a file another owner here ({e})");
        return;
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    rewrite_each_way(&path, 0o640);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
}

#[test]
fn owner_and_group_that_cannot_be_set_do_not_stop_the_write() {
    // Where the process may not give files away, the file is still
    // written (with its own owner); as root every owner can be set, so
    // this checks the ordinary case: a file already owned by the writer.
    let dir = TempDir::new("own");
    let path = dir.path("model.safetensors");
    std::fs::write(&path, old_file()).unwrap();
    let before = std::fs::metadata(&path).unwrap();
    rewrite_each_way(&path, mode(&path));
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
}

/// A Hugging Face cache: `snapshots/REV/model.safetensors` is a relative
/// link to `blobs/HASH`.
fn hf_cache(dir: &Path) -> (PathBuf, PathBuf) {
    let blobs = dir.join("blobs");
    let snapshot = dir.join("snapshots").join("rev");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snapshot).unwrap();
    let blob = blobs.join("0123abcd");
    std::fs::write(&blob, old_file()).unwrap();
    std::fs::set_permissions(&blob, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = snapshot.join("model.safetensors");
    std::os::unix::fs::symlink("../../blobs/0123abcd", &link).unwrap();
    (link, blob)
}

fn new_tensors(data: &[u8]) -> [(&'static str, TensorView<'_>); 1] {
    [(
        "new",
        TensorView::new(Dtype::U8, [data.len()], data).unwrap(),
    )]
}

#[test]
fn a_link_is_written_through_and_stays_a_link() {
    let dir = TempDir::new("link");
    let (link, blob) = hf_cache(dir.dir());
    let data = [4u8, 5, 6];
    let expected = serialize(new_tensors(&data), None).unwrap();

    serialize_to_file(new_tensors(&data), None, &link).unwrap();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("../../blobs/0123abcd")
    );
    assert!(std::fs::read(&blob).unwrap() == expected);
    assert_eq!(mode(&blob), 0o600);
    assert_eq!(entries(&dir.path("blobs")), ["0123abcd"]);
    assert_eq!(entries(link.parent().unwrap()), ["model.safetensors"]);

    // A chain of links (one absolute) leads to the same file.
    let chain = dir.path("chain");
    std::os::unix::fs::symlink(&link, &chain).unwrap();
    let more = [7u8];
    let mut stream = Writer::new()
        .stream_to_file(&chain, [Declaration::new("new", Dtype::U8, [1])])
        .unwrap();
    stream.write("new", &more).unwrap();
    stream.finish().unwrap().commit().unwrap();
    assert!(std::fs::read(&blob).unwrap() == serialize(new_tensors(&more), None).unwrap());
    assert!(std::fs::symlink_metadata(&chain)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_failed_write_through_a_link_leaves_the_linked_file() {
    let dir = TempDir::new("link-fail");
    let (link, blob) = hf_cache(dir.dir());
    struct Liar;
    impl tensorsafe::View for Liar {
        fn dtype(&self) -> Dtype {
            Dtype::U8
        }
        fn shape(&self) -> &[usize] {
            &[2]
        }
        fn data(&self) -> std::borrow::Cow<'_, [u8]> {
            std::borrow::Cow::Borrowed(&[1])
        }
        fn data_len(&self) -> usize {
            2
        }
    }
    let err = serialize_to_file([("x", Liar)], None, &link).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidView);
    assert!(std::fs::read(&blob).unwrap() == old_file());
    assert_eq!(entries(&dir.path("blobs")), ["0123abcd"]);
}

#[test]
fn a_dangling_link_is_refused_and_left_alone() {
    let dir = TempDir::new("dangling");
    std::fs::create_dir(dir.path("store")).unwrap();
    let data = [1u8, 2];
    // Into a directory that exists, or one that does not: either way the
    // link names no file, which is refused, naming the link.
    for (name, to) in [
        ("model.safetensors", "store/real.safetensors"),
        ("nowhere", "missing/dir/x.safetensors"),
    ] {
        let link = dir.path(name);
        std::os::unix::fs::symlink(to, &link).unwrap();
        let err = serialize_to_file(new_tensors(&data), None, &link).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io, "{err}");
        assert_eq!(err.path(), Some(link.as_path()));
        assert!(err.to_string().contains("names no file"), "{err}");
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new(to));
    }
    assert!(entries(&dir.path("store")).is_empty());
}

/// A link planted in a shared sticky directory by another user is not
/// followed by root (the kernel's `fs.protected_symlinks`, which the
/// writer's own link following must not bypass).
#[test]
fn a_link_another_user_planted_in_a_sticky_directory_is_not_followed() {
    use std::os::unix::fs::PermissionsExt;
    let protected = std::fs::read_to_string("/proc/sys/fs/protected_symlinks");
    let dir = TempDir::new("planted");
    // Files this process makes are root's when it runs as root.
    let root = std::fs::metadata(dir.dir()).unwrap().uid() == 0;
    if !root || protected.map(|p| p.trim() != "1").unwrap_or(true) {
        println!("skipped: needs root and fs.protected_symlinks = 1");
        return;
    }
    let shared = dir.path("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = dir.path("victim.safetensors");
    std::fs::write(&victim, b"precious").unwrap();
    let link = shared.join("out.safetensors");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    // The link belongs to another user (nobody), as if they had planted it.
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
    let data = [1u8, 2];
    let err = serialize_to_file(new_tensors(&data), None, &link).unwrap_err();
    assert_eq!(err.path(), Some(link.as_path()), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
}

#[test]
fn a_loop_of_links_and_a_directory_are_refused_before_writing() {
    let dir = TempDir::new("refused");
    std::os::unix::fs::symlink("b", dir.path("a")).unwrap();
    std::os::unix::fs::symlink("a", dir.path("b")).unwrap();
    let data = [1u8];
    let err = serialize_to_file(new_tensors(&data), None, dir.path("a")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("symbolic link"), "{err}");

    std::fs::create_dir(dir.path("d")).unwrap();
    let err = AtomicFile::create(dir.path("d")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("not a regular file"), "{err}");
    assert_eq!(entries(dir.dir()), ["a", "b", "d"]);
    assert!(entries(&dir.path("d")).is_empty());
}

#[test]
fn a_name_near_the_filesystem_limit_can_be_written_and_replaced() {
    let dir = TempDir::new("long-name");
    let name = format!("{}.safetensors", "w".repeat(255 - ".safetensors".len()));
    let path = dir.path(&name);
    let data = [1u8, 2];
    serialize_to_file(new_tensors(&data), None, &path).unwrap();
    // Replacing it goes through a temporary name beside it.
    serialize_to_file(new_tensors(&data), None, &path).unwrap();
    assert_eq!(entries(dir.dir()), [name]);
}
