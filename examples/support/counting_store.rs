//! A store wrapper that counts the read requests made through it and the
//! body bytes they bring, around any real store. Shared by the remote
//! tests and the `remote_checkpoint` example (included with `#[path]`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;

use async_trait::async_trait;
use futures_util::stream::{BoxStream, StreamExt};
use tensorsafe::remote::object_store::path::Path;
use tensorsafe::remote::object_store::{
    self, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// Requests and bytes seen so far.
#[derive(Debug, Default)]
pub struct Counts {
    /// GET requests (ranged or whole; HEAD-only ones count too).
    pub gets: AtomicU64,
    /// Of those, the ones for a byte range.
    pub ranged: AtomicU64,
    /// Body bytes the GETs brought.
    pub bytes: AtomicU64,
    /// GETs made whose body has not yet ended (nor been dropped), and the
    /// most at one time.
    pub in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
    /// How many times each GET yields to the executor before it goes on,
    /// and again before its body ends (0 by default), so that GETs made
    /// together are seen together.
    pub hold: AtomicU64,
}

impl Counts {
    /// (requests, ranged requests, bytes) so far.
    pub fn get(&self) -> (u64, u64, u64) {
        (
            self.gets.load(Ordering::Relaxed),
            self.ranged.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    /// Starts counting again from zero (with no GET in flight).
    pub fn reset(&self) {
        self.gets.store(0, Ordering::Relaxed);
        self.ranged.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        self.max_in_flight.store(0, Ordering::Relaxed);
    }
}

/// A GET counted in `Counts::in_flight` until `end` or drop.
struct InFlight {
    counts: Option<Arc<Counts>>,
}

impl InFlight {
    fn end(&mut self) {
        if let Some(counts) = self.counts.take() {
            counts.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.end();
    }
}

/// `inner`, with its GET requests counted in `counts`.
pub struct Counting {
    pub inner: Arc<dyn ObjectStore>,
    pub counts: Arc<Counts>,
}

impl Counting {
    pub fn wrap(inner: Arc<dyn ObjectStore>) -> (Arc<dyn ObjectStore>, Arc<Counts>) {
        let counts = Arc::new(Counts::default());
        let store = Counting {
            inner,
            counts: counts.clone(),
        };
        (Arc::new(store), counts)
    }
}

impl fmt::Debug for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({:?})", self.counts)
    }
}

impl fmt::Display for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Counting {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.counts.gets.fetch_add(1, Ordering::Relaxed);
        if options.range.is_some() {
            self.counts.ranged.fetch_add(1, Ordering::Relaxed);
        }
        let now = self.counts.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.counts.max_in_flight.fetch_max(now, Ordering::SeqCst);
        // In flight until the body has ended or was dropped (or, should
        // the request fail or be dropped, until then).
        let mut in_flight = InFlight {
            counts: Some(self.counts.clone()),
        };
        let hold = self.counts.hold.load(Ordering::Relaxed);
        for _ in 0..hold {
            tokio::task::yield_now().await;
        }
        let result = self.inner.get_opts(location, options).await?;
        // Count the body's bytes as they pass.
        let (meta, range, attributes, extensions) = (
            result.meta.clone(),
            result.range.clone(),
            result.attributes.clone(),
            result.extensions.clone(),
        );
        let counts = self.counts.clone();
        let bytes = result.into_stream().inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                counts
                    .bytes
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
        });
        // The body's end is held as long as its start, so that bodies
        // read together are seen together.
        let mut left = hold;
        let end = futures_util::stream::poll_fn(move |cx| {
            if left > 0 {
                left -= 1;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            in_flight.end();
            Poll::Ready(None)
        });
        let body = bytes.chain(end).boxed();
        Ok(GetResult {
            payload: GetResultPayload::Stream(body),
            meta,
            range,
            attributes,
            extensions,
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}
