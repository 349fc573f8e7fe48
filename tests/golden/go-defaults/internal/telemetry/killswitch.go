package telemetry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

var (
	// switchedOff is the runtime kill switch. Its zero value, false, means telemetry is on.
	switchedOff atomic.Bool
	// disabled records that Setup found OTEL_SDK_DISABLED=true.
	disabled atomic.Bool
)

// Enabled reports whether telemetry is recorded: false when the kill switch is off or
// when the process started with OTEL_SDK_DISABLED=true.
func Enabled() bool {
	return !switchedOff.Load() && !disabled.Load()
}

// SetEnabled turns the runtime kill switch on or off. While it is off no span is sampled,
// no log record and no metric is exported, and [Middleware] serves requests without
// instrumentation. It cannot turn on telemetry that OTEL_SDK_DISABLED turned off.
func SetEnabled(on bool) {
	switchedOff.Store(!on)
}

// AdminHandler returns the handler of the kill switch endpoint (/admin/telemetry).
// GET reports {"enabled":true|false}; PUT or POST with the body "on" or "off" flips the
// switch and reports the new state. Anything else is answered with 400 Bad Request.
//
// The endpoint changes what the service records, so expose it on an internal port or
// behind authentication only.
func AdminHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
		case http.MethodPut, http.MethodPost:
			body, err := io.ReadAll(io.LimitReader(r.Body, 16))
			if err != nil {
				http.Error(w, "cannot read body", http.StatusBadRequest)
				return
			}
			switch strings.TrimSpace(string(body)) {
			case "on":
				SetEnabled(true)
			case "off":
				SetEnabled(false)
			default:
				http.Error(w, `body must be "on" or "off"`, http.StatusBadRequest)
				return
			}
		default:
			http.Error(w, "use GET, or PUT or POST with the body on or off", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"enabled":%t}`, Enabled())
	})
}

// killSwitchSampler drops every span while the kill switch is off and otherwise defers to
// base. Dropping at the sampler is the cheap way: dropped spans are never recorded.
type killSwitchSampler struct {
	base sdktrace.Sampler
}

func (s killSwitchSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if !Enabled() {
		return sdktrace.SamplingResult{
			Decision:   sdktrace.Drop,
			Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState(),
		}
	}
	return s.base.ShouldSample(p)
}

func (s killSwitchSampler) Description() string {
	return "KillSwitch{" + s.base.Description() + "}"
}

// gatedSpanProcessor passes ended spans on only while the kill switch is on.
type gatedSpanProcessor struct {
	sdktrace.SpanProcessor
}

func (p gatedSpanProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if Enabled() {
		p.SpanProcessor.OnEnd(s)
	}
}

// gatedLogProcessor passes log records on only while the kill switch is on. Reporting
// itself as not enabled lets the slog bridge skip building records at all.
type gatedLogProcessor struct {
	sdklog.Processor
}

func (p gatedLogProcessor) Enabled(ctx context.Context, param sdklog.EnabledParameters) bool {
	return Enabled() && p.Processor.Enabled(ctx, param)
}

func (p gatedLogProcessor) OnEmit(ctx context.Context, r *sdklog.Record) error {
	if !Enabled() {
		return nil
	}
	return p.Processor.OnEmit(ctx, r)
}

// gatedMetricExporter discards metric exports while the kill switch is off. Instruments
// keep aggregating, so cumulative sums stay right once the switch is back on.
type gatedMetricExporter struct {
	sdkmetric.Exporter
}

func (e gatedMetricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if !Enabled() {
		return nil
	}
	return e.Exporter.Export(ctx, rm)
}
