package telemetry

import (
	"context"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// retrySettings has the field set of every OTLP exporter's RetryConfig, so that one value
// converts to each of them.
type retrySettings struct {
	Enabled         bool
	InitialInterval time.Duration
	MaxInterval     time.Duration
	MaxElapsedTime  time.Duration
}

// Exporters a signal can be sent to, named by OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER
// and OTEL_LOGS_EXPORTER.
const (
	// exportOTLP sends to the collector. It is the default.
	exportOTLP = "otlp"
	// exportConsole prints human-readable JSON to stdout: the zero-setup way to see what the
	// service records.
	exportConsole = "console"
)

// exportersOf returns the exporters that the OTEL_<signal>_EXPORTER variable names, a comma
// separated list: otlp (the default), console or none. An unknown name is skipped with a
// warning; when none is left, the signal is sent over OTLP.
func exportersOf(signal string, warn warnFunc) []string {
	variable := "OTEL_" + signal + "_EXPORTER"
	value := strings.TrimSpace(os.Getenv(variable))
	if value == "" {
		return []string{exportOTLP}
	}
	var names []string
	for name := range strings.SplitSeq(value, ",") {
		switch name = strings.TrimSpace(name); name {
		case "none":
			return nil
		case exportOTLP, exportConsole:
			names = append(names, name)
		default:
			warn("telemetry: unsupported exporter skipped", "variable", variable, "name", name)
		}
	}
	if len(names) == 0 {
		names = []string{exportOTLP}
	}
	return names
}

// exporterSettings is what the environment leaves to the generated defaults for one signal.
type exporterSettings struct {
	protocol string
	// endpointURL is the default endpoint, or "" when the environment names one: explicit
	// exporter options win over the environment, so they are only passed when it is silent.
	endpointURL string
	// setTimeout is false when the environment sets the export timeout.
	setTimeout bool
}

// settingsFor resolves the OTLP settings of signal ("TRACES", "METRICS" or "LOGS"); path is
// the signal's OTLP/HTTP path. An unknown protocol falls back to the policy's, with a warning.
func settingsFor(signal, path string, warn warnFunc) exporterSettings {
	variable := firstSet("OTEL_EXPORTER_OTLP_"+signal+"_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
	protocol := strings.TrimSpace(os.Getenv(variable))
	if _, ok := defaultEndpoints[protocol]; !ok {
		if protocol != "" {
			warn("telemetry: unsupported OTLP protocol, using the organisation's", "variable", variable,
				"value", protocol, "protocol", defaultProtocol)
		}
		protocol = defaultProtocol
	}
	endpoint := defaultEndpoints[protocol]
	if protocol == "http/protobuf" {
		endpoint += path
	}
	if firstSet("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT") != "" {
		endpoint = ""
	}
	return exporterSettings{
		protocol:    protocol,
		endpointURL: endpoint,
		setTimeout:  firstSet("OTEL_EXPORTER_OTLP_"+signal+"_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT") == "",
	}
}

// newSpanProcessors returns a batching span processor per exporter of OTEL_TRACES_EXPORTER.
// An exporter that cannot be created is left out with a warning: telemetry settings never
// keep the service from starting.
func newSpanProcessors(ctx context.Context, warn warnFunc) []sdktrace.SpanProcessor {
	var processors []sdktrace.SpanProcessor
	for _, name := range exportersOf("TRACES", warn) {
		exporter, err := newSpanExporter(ctx, name, warn)
		if err != nil {
			warn("telemetry: exporter not created, spans are not sent to it", "exporter", name, "error", err)
			continue
		}
		processors = append(processors, newBatchSpanProcessor(exporter))
	}
	return processors
}

// newBatchSpanProcessor batches spans with the policy's settings, except those that
// OTEL_BSP_* variables set: the SDK reads them, and explicit options would win over them.
// Without WithBlocking the processor drops spans when its queue is full, so a slow collector
// costs telemetry, never request latency or unbounded memory.
func newBatchSpanProcessor(exporter sdktrace.SpanExporter) sdktrace.SpanProcessor {
	var opts []sdktrace.BatchSpanProcessorOption
	if !isSet("OTEL_BSP_MAX_QUEUE_SIZE") {
		opts = append(opts, sdktrace.WithMaxQueueSize(maxQueueSize))
	}
	if !isSet("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
		opts = append(opts, sdktrace.WithMaxExportBatchSize(maxExportBatchSize))
	}
	if !isSet("OTEL_BSP_SCHEDULE_DELAY") {
		opts = append(opts, sdktrace.WithBatchTimeout(scheduleDelay))
	}
	return sdktrace.NewBatchSpanProcessor(exporter, opts...)
}

func newSpanExporter(ctx context.Context, name string, warn warnFunc) (sdktrace.SpanExporter, error) {
	if name == exportConsole {
		return stdouttrace.New(stdouttrace.WithPrettyPrint())
	}
	s := settingsFor("TRACES", "/v1/traces", warn)
	if s.protocol == "grpc" {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig(exportRetry))}
		if s.endpointURL != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(s.endpointURL))
		}
		if s.setTimeout {
			opts = append(opts, otlptracegrpc.WithTimeout(exportTimeout))
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithRetry(otlptracehttp.RetryConfig(exportRetry))}
	if s.endpointURL != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(s.endpointURL))
	}
	if s.setTimeout {
		opts = append(opts, otlptracehttp.WithTimeout(exportTimeout))
	}
	return otlptracehttp.New(ctx, opts...)
}

// newMetricReaders returns a periodic reader per exporter of OTEL_METRICS_EXPORTER. The
// export interval comes from OTEL_METRIC_EXPORT_INTERVAL (default 60s).
func newMetricReaders(ctx context.Context, warn warnFunc) []sdkmetric.Reader {
	var readers []sdkmetric.Reader
	for _, name := range exportersOf("METRICS", warn) {
		exporter, err := newMetricExporter(ctx, name, warn)
		if err != nil {
			warn("telemetry: exporter not created, metrics are not sent to it", "exporter", name, "error", err)
			continue
		}
		readers = append(readers, sdkmetric.NewPeriodicReader(gatedMetricExporter{exporter}))
	}
	return readers
}

func newMetricExporter(ctx context.Context, name string, warn warnFunc) (sdkmetric.Exporter, error) {
	if name == exportConsole {
		return stdoutmetric.New(stdoutmetric.WithPrettyPrint())
	}
	s := settingsFor("METRICS", "/v1/metrics", warn)
	if s.protocol == "grpc" {
		opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig(exportRetry))}
		if s.endpointURL != "" {
			opts = append(opts, otlpmetricgrpc.WithEndpointURL(s.endpointURL))
		}
		if s.setTimeout {
			opts = append(opts, otlpmetricgrpc.WithTimeout(exportTimeout))
		}
		return otlpmetricgrpc.New(ctx, opts...)
	}
	opts := []otlpmetrichttp.Option{otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig(exportRetry))}
	if s.endpointURL != "" {
		opts = append(opts, otlpmetrichttp.WithEndpointURL(s.endpointURL))
	}
	if s.setTimeout {
		opts = append(opts, otlpmetrichttp.WithTimeout(exportTimeout))
	}
	return otlpmetrichttp.New(ctx, opts...)
}

// newLogProcessors returns a batching log processor per exporter of OTEL_LOGS_EXPORTER.
func newLogProcessors(ctx context.Context, warn warnFunc) []sdklog.Processor {
	var processors []sdklog.Processor
	for _, name := range exportersOf("LOGS", warn) {
		exporter, err := newLogExporter(ctx, name, warn)
		if err != nil {
			warn("telemetry: exporter not created, log records are not sent to it", "exporter", name, "error", err)
			continue
		}
		processors = append(processors, newBatchLogProcessor(exporter))
	}
	return processors
}

// newBatchLogProcessor batches log records with the policy's settings, except those that
// OTEL_BLRP_* variables set. Like the span processor, it drops the oldest records when its
// queue is full instead of blocking the caller.
func newBatchLogProcessor(exporter sdklog.Exporter) sdklog.Processor {
	var opts []sdklog.BatchProcessorOption
	if !isSet("OTEL_BLRP_MAX_QUEUE_SIZE") {
		opts = append(opts, sdklog.WithMaxQueueSize(maxQueueSize))
	}
	if !isSet("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE") {
		opts = append(opts, sdklog.WithExportMaxBatchSize(maxExportBatchSize))
	}
	if !isSet("OTEL_BLRP_SCHEDULE_DELAY") {
		opts = append(opts, sdklog.WithExportInterval(scheduleDelay))
	}
	return sdklog.NewBatchProcessor(exporter, opts...)
}

func newLogExporter(ctx context.Context, name string, warn warnFunc) (sdklog.Exporter, error) {
	if name == exportConsole {
		return stdoutlog.New(stdoutlog.WithPrettyPrint())
	}
	s := settingsFor("LOGS", "/v1/logs", warn)
	if s.protocol == "grpc" {
		opts := []otlploggrpc.Option{otlploggrpc.WithRetry(otlploggrpc.RetryConfig(exportRetry))}
		if s.endpointURL != "" {
			opts = append(opts, otlploggrpc.WithEndpointURL(s.endpointURL))
		}
		if s.setTimeout {
			opts = append(opts, otlploggrpc.WithTimeout(exportTimeout))
		}
		return otlploggrpc.New(ctx, opts...)
	}
	opts := []otlploghttp.Option{otlploghttp.WithRetry(otlploghttp.RetryConfig(exportRetry))}
	if s.endpointURL != "" {
		opts = append(opts, otlploghttp.WithEndpointURL(s.endpointURL))
	}
	if s.setTimeout {
		opts = append(opts, otlploghttp.WithTimeout(exportTimeout))
	}
	return otlploghttp.New(ctx, opts...)
}

// firstSet returns the first of keys whose environment variable is set and not empty, or
// "" when none is.
func firstSet(keys ...string) string {
	for _, key := range keys {
		if isSet(key) {
			return key
		}
	}
	return ""
}

// isSet reports whether the environment variable key is set and not empty.
func isSet(key string) bool {
	return strings.TrimSpace(os.Getenv(key)) != ""
}
