//! [`Counted`]: a response body that counts the bytes it hands to the
//! connection toward its vhost's metrics, without boxing it again.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use crate::runtime::{Shard, VhostCounts};
use crate::site::Body;

/// A response body and where its bytes are counted (nowhere for answers
/// that belong to no vhost).
pub(crate) struct Counted {
    body: Body,
    counts: Option<Shard<VhostCounts>>,
}

impl Counted {
    pub(crate) fn new(body: Body, counts: Option<Shard<VhostCounts>>) -> Self {
        Counted { body, counts }
    }
}

impl hyper::body::Body for Counted {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some(counts)) = (&polled, &this.counts) {
            if let Some(data) = frame.data_ref() {
                counts.response_bytes.add(data.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
