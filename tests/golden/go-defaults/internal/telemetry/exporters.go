package telemetry

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Exporter settings from the organisation policy.
const (
	// defaultProtocol is the OTLP protocol used when neither OTEL_EXPORTER_OTLP_PROTOCOL nor
	// its per-signal variant is set.
	defaultProtocol = "grpc"

	// exportTimeout bounds one export request unless OTEL_EXPORTER_OTLP_TIMEOUT (or its
	// per-signal variant) is set.
	exportTimeout = 5000 * time.Millisecond

	// Batching of spans and log records. The queue bounds the memory held while the
	// collector is slow or down; what does not fit is dropped.
	maxQueueSize       = 2048
	maxExportBatchSize = 512
	scheduleDelay      = 5000 * time.Millisecond
)

// defaultEndpoints are the collector endpoints per protocol, used when neither
// OTEL_EXPORTER_OTLP_ENDPOINT nor its per-signal variant is set.
var defaultEndpoints = map[string]string{
	"grpc":          "http://localhost:4317",
	"http/protobuf": "http://localhost:4318",
}

// retrySettings has the field set of every OTLP exporter's RetryConfig, so that one value
// converts to each of them.
type retrySettings struct {
	Enabled         bool
	InitialInterval time.Duration
	MaxInterval     time.Duration
	MaxElapsedTime  time.Duration
}

// exportRetry bounds how long a failed export is retried: after MaxElapsedTime the batch
// is dropped, which keeps a collector outage from piling up data in memory.
var exportRetry = retrySettings{
	Enabled:         true,
	InitialInterval: 500 * time.Millisecond,
	MaxInterval:     2000 * time.Millisecond,
	MaxElapsedTime:  5000 * time.Millisecond,
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

// settingsFor resolves the settings of signal ("TRACES", "METRICS" or "LOGS"); path is the
// signal's OTLP/HTTP path.
func settingsFor(signal, path string) (exporterSettings, error) {
	protocol := firstEnv("OTEL_EXPORTER_OTLP_"+signal+"_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
	if protocol == "" {
		protocol = defaultProtocol
	}
	endpoint, ok := defaultEndpoints[protocol]
	if !ok {
		return exporterSettings{}, fmt.Errorf("telemetry: unsupported OTLP protocol %q for %s (want grpc or http/protobuf)", protocol, signal)
	}
	if protocol == "http/protobuf" {
		endpoint += path
	}
	if firstEnv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT") != "" {
		endpoint = ""
	}
	return exporterSettings{
		protocol:    protocol,
		endpointURL: endpoint,
		setTimeout:  firstEnv("OTEL_EXPORTER_OTLP_"+signal+"_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT") == "",
	}, nil
}

func newSpanExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	s, err := settingsFor("TRACES", "/v1/traces")
	if err != nil {
		return nil, err
	}
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

func newMetricExporter(ctx context.Context) (sdkmetric.Exporter, error) {
	s, err := settingsFor("METRICS", "/v1/metrics")
	if err != nil {
		return nil, err
	}
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

func newLogExporter(ctx context.Context) (sdklog.Exporter, error) {
	s, err := settingsFor("LOGS", "/v1/logs")
	if err != nil {
		return nil, err
	}
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

// firstEnv returns the value of the first of keys that is set and not empty.
func firstEnv(keys ...string) string {
	for _, key := range keys {
		if v := os.Getenv(key); v != "" {
			return v
		}
	}
	return ""
}
