package telemetry

// ScopeName is the instrumentation scope name of the spans, metrics and log records this
// package creates itself.
const ScopeName = "github.com/acme/orders/internal/telemetry"

// Version is the version of the service, reported as service.version unless
// [Config.ServiceVersion] says otherwise.
const Version = "0.1.0"
