package telemetry

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"os"
	"sync/atomic"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/trace"
)

// The keys of the organisation's JSON log schema. Every line begins with the time (RFC 3339,
// UTC), the level, the message and the service name; inside a span the trace correlation
// fields follow (hex, as in a W3C traceparent), then the record's own attributes.
const (
	serviceNameKey = "service.name"
	traceIDKey     = "trace_id"
	spanIDKey      = "span_id"
	traceFlagsKey  = "trace_flags"
)

// NewLogger returns a logger that writes JSON lines to w and sends the same records to the
// OpenTelemetry logger provider that [Setup] installed, see [NewLogHandler].
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(NewLogHandler(w, nil))
}

// NewLogHandler returns a handler that writes each record as a JSON line of the
// organisation's schema to w, and also hands the record to the global OpenTelemetry logger
// provider through the otelslog bridge. The bridge drops records while telemetry is off; the
// JSON lines are always written.
//
// Correlation needs the context: log with the *Context methods (InfoContext, ...). The
// service name and the correlation fields are at the top level of a line, also inside a
// group opened with WithGroup. The level of opts (default INFO) applies to both the lines
// and the records.
func NewLogHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	var options slog.HandlerOptions
	if opts != nil {
		options = *opts
	}
	level := options.Level
	if level == nil {
		level = slog.LevelInfo
	}
	options.ReplaceAttr = schemaKeys(options.ReplaceAttr)
	return slog.NewMultiHandler(
		&lineHandler{json: slog.NewJSONHandler(w, &options)},
		leveledHandler{otelslog.NewHandler(ScopeName, otelslog.WithVersion(Version)), level},
	)
}

// schemaKeys returns a ReplaceAttr function that writes the time in UTC, then calls next, when
// there is one.
func schemaKeys(next func(groups []string, a slog.Attr) slog.Attr) func(groups []string, a slog.Attr) slog.Attr {
	return func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 {
			if a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
				a.Value = slog.TimeValue(a.Value.Time().UTC())
			}
		}
		if next != nil {
			return next(groups, a)
		}
		return a
	}
}

// lineHandler writes the JSON lines of the schema with slog's JSONHandler. The JSONHandler
// puts what WithAttrs and WithGroup add before a record's own attributes and inside the open
// groups, where the service name and the correlation fields cannot follow the message at the
// top level; so lineHandler keeps what they add and builds each line's record itself.
type lineHandler struct {
	json slog.Handler
	// scope is what WithAttrs and WithGroup added, in order.
	scope []scopePart
}

// scopePart is a group opened with WithGroup, or attributes added with WithAttrs.
type scopePart struct {
	group string
	attrs []slog.Attr
}

func (h *lineHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.json.Enabled(ctx, level)
}

func (h *lineHandler) Handle(ctx context.Context, r slog.Record) error {
	line := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	line.AddAttrs(slog.String(serviceNameKey, logServiceName()))
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		line.AddAttrs(
			slog.String(traceIDKey, sc.TraceID().String()),
			slog.String(spanIDKey, sc.SpanID().String()),
			slog.String(traceFlagsKey, sc.TraceFlags().String()),
		)
	}
	attrs := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	for i := len(h.scope) - 1; i >= 0; i-- {
		if part := h.scope[i]; part.group != "" {
			attrs = []slog.Attr{slog.Any(part.group, slog.GroupValue(attrs...))}
		} else {
			attrs = append(append([]slog.Attr(nil), part.attrs...), attrs...)
		}
	}
	line.AddAttrs(attrs...)
	return h.json.Handle(ctx, line)
}

func (h *lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.with(scopePart{attrs: attrs})
}

func (h *lineHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(scopePart{group: name})
}

func (h *lineHandler) with(part scopePart) *lineHandler {
	scope := append(append([]scopePart(nil), h.scope...), part)
	return &lineHandler{json: h.json, scope: scope}
}

// serviceName is the service.name of the log lines. [Setup] sets it to the resource's.
var serviceName atomic.Pointer[string]

// logServiceName returns the service.name of the log lines: the one [Setup] set, or before
// Setup the one of OTEL_SERVICE_NAME, or the generated one. It reads nothing that could fail
// and be logged: the standard library's log package writes through slog's default handler,
// which may be this one.
func logServiceName() string {
	if name := serviceName.Load(); name != nil {
		return *name
	}
	return cmp.Or(os.Getenv("OTEL_SERVICE_NAME"), defaultServiceName)
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
