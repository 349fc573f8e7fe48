package telemetry

import (
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// durationBounds are the bucket boundaries, in seconds, that the semantic conventions advise
// for the duration histograms of HTTP, RPC and messaging operations.
var durationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// views turn what the instrumentation libraries record into the metrics of the semantic
// conventions, with no attribute a client chooses.
func views() []sdkmetric.View {
	otelhttpScope := instrumentation.Scope{Name: otelhttp.ScopeName}
	return []sdkmetric.View{
		// A client chooses the Host header of its request: as attributes of the server's
		// metric, server.address and server.port would let any client create series. The
		// server span keeps them.
		sdkmetric.NewView(
			sdkmetric.Instrument{Name: "http.server.request.duration", Scope: otelhttpScope},
			sdkmetric.Stream{AttributeFilter: attribute.NewDenyKeysFilter(semconv.ServerAddressKey, semconv.ServerPortKey)},
		),
		// The request and response body size histograms are opt-in in the conventions.
		sdkmetric.NewView(
			sdkmetric.Instrument{Name: "http.*.body.size", Scope: otelhttpScope},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}},
		),
	}
}

// errorTypeSpan is the span of an instrumentation library that decides when a request or
// call failed, by the rules of the semantic conventions, and records its status code, but
// does not set error.type on the span: once the span is marked failed and has its code,
// errorTypeSpan sets error.type to the code, and adds it to labeler, when there is one, for
// otelhttp's metric.
type errorTypeSpan struct {
	trace.Span
	// codeKey is the attribute of the status code.
	codeKey attribute.Key
	labeler *otelhttp.Labeler

	failed bool
	code   string
	set    bool
}

func (s *errorTypeSpan) SetStatus(code codes.Code, description string) {
	s.Span.SetStatus(code, description)
	s.failed = code == codes.Error
	s.setErrorType()
}

func (s *errorTypeSpan) SetAttributes(kv ...attribute.KeyValue) {
	s.Span.SetAttributes(kv...)
	for _, a := range kv {
		if a.Key == s.codeKey {
			s.code = a.Value.Emit()
			s.setErrorType()
		}
	}
}

func (s *errorTypeSpan) setErrorType() {
	if !s.failed || s.code == "" || s.set {
		return
	}
	s.set = true
	errorType := semconv.ErrorTypeKey.String(s.code)
	s.Span.SetAttributes(errorType)
	if s.labeler != nil {
		s.labeler.Add(errorType)
	}
}
