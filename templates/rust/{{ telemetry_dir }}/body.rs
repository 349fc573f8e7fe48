//! The response body of the traced services: the exchange ends with it.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::{Bytes, HttpBody};
use http_body::{Frame, SizeHint};
use opentelemetry::Context as OtelContext;
use pin_project_lite::pin_project;

use super::exchange::Exchange;

pin_project! {
    /// Response body of [`OtelService`](super::OtelService) and
    /// [`ClientService`](super::ClientService).
    ///
    /// The exchange ends when the body does, as with tower-http's `TraceLayer`: the span and
    /// the duration cover a streamed answer whole, `http.response.body.size` counts what was
    /// sent, and a gRPC status is read from the trailers. A body dropped before its end ends
    /// the exchange too. Each poll runs inside the request's context, so what a streaming body
    /// logs or calls belongs to the request.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        cx: Option<OtelContext>,
        exchange: Option<Exchange>,
    }
}

impl<B> ResponseBody<B> {
    /// `inner`, polled inside `cx`, ending `exchange` when it ends.
    pub(crate) fn new(inner: B, cx: Option<OtelContext>, exchange: Option<Exchange>) -> Self {
        Self {
            inner,
            cx,
            exchange,
        }
    }
}

impl<B> HttpBody for ResponseBody<B>
where
    B: HttpBody<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = {
            let _attached = this.cx.as_ref().map(|cx| cx.clone().attach());
            ready!(this.inner.poll_frame(cx))
        };
        if let Some(exchange) = this.exchange.as_mut() {
            let ended = match &frame {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        exchange.on_data(data.len());
                    }
                    match frame.trailers_ref() {
                        Some(trailers) => {
                            exchange.on_trailers(trailers);
                            true
                        }
                        None => false,
                    }
                }
                Some(Err(_)) => {
                    exchange.on_failure::<B::Error>("the body of the answer failed");
                    true
                }
                None => {
                    exchange.on_end();
                    true
                }
            };
            if ended {
                // Dropping the exchange ends it.
                this.exchange.take();
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
