package telemetry

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/trace"
)

// Keys of the trace correlation fields in every JSON log line.
const (
	traceIDKey = "trace_id"
	spanIDKey  = "span_id"
)

// NewLogger returns a logger that writes JSON lines to w and sends the same records to the
// OpenTelemetry logger provider that [Setup] installed, see [NewLogHandler].
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(NewLogHandler(w, nil))
}

// NewLogHandler returns a handler that writes each record as a JSON line to w, with the
// trace_id and span_id of the span in the
// context when there is one (hex, as in a W3C traceparent), and also hands the record to the
// global OpenTelemetry logger provider through the otelslog bridge. The bridge drops
// records while telemetry is off; the JSON lines are always written.
//
// Correlation needs the context: log with the *Context methods (InfoContext, ...). The
// correlation fields are added at the level of the record, inside any group opened with
// WithGroup. The level of opts (default INFO) applies to both the lines and the records.
func NewLogHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	var level slog.Leveler = slog.LevelInfo
	if opts != nil && opts.Level != nil {
		level = opts.Level
	}
	return slog.NewMultiHandler(
		traceHandler{slog.NewJSONHandler(w, opts)},
		leveledHandler{otelslog.NewHandler(ScopeName, otelslog.WithVersion(Version)), level},
	)
}

// leveledHandler passes on the records of level or above.
type leveledHandler struct {
	slog.Handler
	level slog.Leveler
}

func (h leveledHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= h.level.Level() && h.Handler.Enabled(ctx, level)
}

func (h leveledHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return leveledHandler{h.Handler.WithAttrs(attrs), h.level}
}

func (h leveledHandler) WithGroup(name string) slog.Handler {
	return leveledHandler{h.Handler.WithGroup(name), h.level}
}

// traceHandler adds the trace correlation fields to the records of the handler it wraps.
type traceHandler struct {
	slog.Handler
}

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(
			slog.String(traceIDKey, sc.TraceID().String()),
			slog.String(spanIDKey, sc.SpanID().String()),
		)
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
