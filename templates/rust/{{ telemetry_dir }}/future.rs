//! The response future shared by the server and client services.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::{Bytes, HttpBody};
use http::Response;
use opentelemetry::Context as OtelContext;
use pin_project_lite::pin_project;

use super::ResponseBody;
use super::exchange::Exchange;

pin_project! {
    /// Response future of [`OtelService`](super::OtelService) and
    /// [`ClientService`](super::ClientService).
    ///
    /// Polls the inner future inside the request's context, records the head of the answer,
    /// and hands the exchange on to the [`ResponseBody`], which ends it. When nothing records
    /// the request, it still polls inside the caller's context, so that the calls made for the
    /// request carry the caller's trace.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        cx: Option<OtelContext>,
        exchange: Option<Exchange>,
    }
}

impl<F> ResponseFuture<F> {
    /// Records `exchange`, polling inside its context.
    pub(crate) fn traced(inner: F, exchange: Exchange) -> Self {
        Self {
            inner,
            cx: Some(exchange.context().clone()),
            exchange: Some(exchange),
        }
    }

    /// Records nothing; polls inside `cx`, when given.
    pub(crate) fn untraced(inner: F, cx: Option<OtelContext>) -> Self {
        Self {
            inner,
            cx,
            exchange: None,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: HttpBody<Data = Bytes>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _attached = this.cx.as_ref().map(|cx| cx.clone().attach());
            ready!(this.inner.poll(cx))
        };
        let mut exchange = this.exchange.take();
        Poll::Ready(match result {
            Ok(response) => {
                if let Some(exchange) = exchange.as_mut() {
                    exchange.on_response(response.status(), response.headers());
                    if response.body().is_end_stream() {
                        exchange.on_end();
                    }
                }
                let cx = this.cx.take();
                Ok(response.map(|body| ResponseBody::new(body, cx, exchange)))
            }
            Err(err) => {
                if let Some(exchange) = exchange.as_mut() {
                    exchange.on_failure::<E>("the request got no answer");
                }
                Err(err)
            }
        })
    }
}
