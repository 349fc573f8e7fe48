package telemetry

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Go runs fn in a new goroutine, for work that a request starts but does not wait for.
//
// fn gets a context that keeps the values of ctx, its baggage among them, but not its
// cancellation or deadline: the request may well end first. The work has a span of its own,
// named name, that starts a new trace linked to the span of ctx, so that the request's trace
// does not grow with work that outlives it, and the one leads to the other. An error that fn
// returns marks the span as failed.
//
// With a plain go statement the work would either keep ctx, and be cancelled when the
// request ends, or start from context.Background() and lose the trace and the baggage.
func Go(ctx context.Context, name string, fn func(ctx context.Context) error) {
	caller := trace.SpanContextFromContext(ctx)
	ctx = context.WithoutCancel(ctx)
	go func() {
		opts := []trace.SpanStartOption{trace.WithNewRoot()}
		if caller.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: caller}))
		}
		ctx, span := tracer().Start(ctx, name, opts...)
		defer span.End()
		if err := fn(ctx); err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "")
		}
	}()
}

// tracer returns this package's tracer from the global provider, looked up on every use so
// that it follows [Setup].
func tracer() trace.Tracer {
	return otel.Tracer(ScopeName, trace.WithInstrumentationVersion(Version))
}
