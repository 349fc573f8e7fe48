package telemetry

import (
	"context"
	"log/slog"
	"sync"
)

// Start sets telemetry up as [Setup] does with the zero [Config], for a main that has no
// error to return: when Setup fails, Start logs why with [slog.Default] and the service runs
// on without exporting telemetry, its trace context still flowing through. It returns stop,
// which flushes and stops telemetry within the organisation's shutdown deadline; calls after
// the first do nothing.
//
// Defer stop in main, and call it also right before os.Exit and log.Fatal, which end the
// process without running deferred calls:
//
//	stopTelemetry := telemetry.Start()
//	defer stopTelemetry()
//	// ...
//	err := server.ListenAndServe()
//	stopTelemetry()
//	log.Fatal(err)
func Start() (stop func()) {
	shutdown, err := Setup(context.Background(), Config{})
	if err != nil {
		slog.Error("telemetry not set up: the service runs without it", "error", err)
		return func() {}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if err := shutdown(context.Background()); err != nil {
				slog.Warn("telemetry not flushed", "error", err)
			}
		})
	}
}
