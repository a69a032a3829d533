//! Bounded memory: parsing a header allocates at most a small constant
//! multiple of its length, and a declared length over the limit is refused
//! before anything is allocated for it. A counting global allocator measures
//! the bytes requested while parsing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tensorsafe::{Dtype, Header, TensorView};

struct Counting;

std::thread_local! {
    /// Set on the thread being measured only: the test harness's other
    /// threads (printing results of tests that ran meanwhile) allocate
    /// too, and are not the parser.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is being measured (false while its thread-local
/// storage is torn down).
fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
/// Tests in this binary run one at a time while counting.
static SERIAL: Mutex<()> = Mutex::new(());

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged; counting has no effect on the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated (counting every growth in full) while running `f`.
fn allocated_by<T>(f: impl FnOnce() -> T) -> usize {
    ALLOCATED.store(0, Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    drop(out);
    ALLOCATED.load(Ordering::SeqCst)
}

fn file(header: &str) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out
}

#[test]
fn parsing_allocates_a_small_multiple_of_the_header() {
    let _guard = SERIAL.lock().unwrap();
    let data = [0u8; 8];
    let shape = [2usize];
    let names: Vec<String> = (0..5000)
        .map(|i| format!("model.layers.{i}.weight"))
        .collect();
    let views = names.iter().map(|n| {
        (
            n.as_str(),
            TensorView::new(Dtype::F32, shape, &data).unwrap(),
        )
    });
    let realistic = tensorsafe::serialize(views, None).unwrap();
    let n = u64::from_le_bytes(realistic[..8].try_into().unwrap()) as usize;

    let deep_rank = format!(
        r#"{{"w":{{"dtype":"U8","shape":[{}],"data_offsets":[0,1]}}}}"#,
        vec!["1"; 64].join(",")
    );
    let many_small: String = format!(
        "{{{}}}",
        (0..5000)
            .map(|i| format!(
                r#""{i}":{{"dtype":"U8","shape":[],"data_offsets":[{i},{}]}}"#,
                i + 1
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    let metadata_heavy = format!(
        r#"{{"__metadata__":{{{}}}}}"#,
        (0..5000)
            .map(|i| format!(r#""k{i}":"v""#))
            .collect::<Vec<_>>()
            .join(",")
    );
    let ignored_fields = format!(
        r#"{{"w":{{"dtype":"U8","shape":[],"data_offsets":[0,1],"x":[{}]}}}}"#,
        vec!["[[[{\"a\":null}]]]"; 5000].join(",")
    );
    let cases = [
        ("realistic", realistic[..8 + n].to_vec()),
        ("rank 64", file(&deep_rank)),
        ("many small", file(&many_small)),
        ("metadata", file(&metadata_heavy)),
        ("ignored", file(&ignored_fields)),
        ("deep", file(&"[".repeat(100_000))),
    ];
    for (name, bytes) in cases {
        let header_len = bytes.len() - 8;
        let used = allocated_by(|| Header::parse(&bytes));
        // Entries, names, shapes and the index each stay within a few times
        // the JSON that describes them. The worst case is tiny metadata
        // entries (`"k":"v",` is 8 bytes, two Strings and a map slot are
        // ~100); the constant covers small headers.
        let bound = 16 * header_len + 4096;
        println!(
            "{name}: {used} bytes for {header_len} ({:.1}x)",
            used as f64 / header_len as f64
        );
        assert!(
            used <= bound,
            "{name}: {used} bytes allocated for a {header_len}-byte header (bound {bound})"
        );
    }
}

#[cfg(feature = "std")]
#[test]
fn an_over_limit_length_is_refused_before_allocating_for_it() {
    let _guard = SERIAL.lock().unwrap();
    let mut bytes = 99_999_999_999u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    let used = allocated_by(|| Header::parse(&bytes).map(|_| ()).map_err(|e| e.kind()));
    assert!(used < 4096, "{used} bytes");
    let used = allocated_by(|| {
        Header::read_from(bytes.as_slice())
            .map(|_| ())
            .map_err(|e| e.kind())
    });
    assert!(used < 4096, "{used} bytes");
    // Under the limit but past the end of the input: the reader does not
    // allocate the declared length up front either.
    let mut short = 90_000_000u64.to_le_bytes().to_vec();
    short.extend_from_slice(b"{}");
    let used = allocated_by(|| {
        Header::read_from(short.as_slice())
            .map(|_| ())
            .map_err(|e| e.kind())
    });
    assert!(
        used < 1 << 16,
        "{used} bytes for a 2-byte stream declaring 90 MB"
    );
}

#[test]
fn a_selection_is_copied_once_and_not_at_all_when_it_cannot_convert() {
    let _guard = SERIAL.lock().unwrap();
    let n = 1 << 18; // 1 MiB of 4-byte elements
    let floats: Vec<u8> = (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F32, [n / 2, 2], &floats).unwrap();
    let column = view.slice(&[tensorsafe::Select::All, 0.into()]).unwrap();
    let half = column.byte_len();
    // The result is all that is allocated, plus a little.
    let typed = allocated_by(|| column.to_vec::<f32>().unwrap());
    assert!((half..half + 1024).contains(&typed), "{typed} for {half}");
    let decoded = allocated_by(|| column.to_f32_vec().unwrap());
    assert!(
        (half..half + 1024).contains(&decoded),
        "{decoded} for {half}"
    );
    // A dtype that does not decode to f32 fails before any copy.
    let ints = TensorView::new(Dtype::I32, [n / 2, 2], &floats).unwrap();
    let column = ints.slice(&[tensorsafe::Select::All, 0.into()]).unwrap();
    let refused = allocated_by(|| column.to_f32_vec().unwrap_err());
    assert!(refused < 1024, "{refused}");
}
