package telemetry

import (
	"context"
	"log/slog"
	"os"
	"time"
)

// FlagSource is where the telemetry settings come from besides the admin endpoint: the flags
// file of TELEMETRY_FLAGS_FILE, or a feature-flag service. See [WatchFlags].
type FlagSource interface {
	// Flags returns the settings the source holds now; a nil field is a setting the source
	// does not set.
	Flags(ctx context.Context) (Flags, error)
}

// WatchFlags reads source at the policy's flags poll interval until ctx is done, and
// applies a setting when the source changes it, as the admin endpoint does: the change is
// logged with name as its source. A setting that the source holds unchanged is not applied
// again, so a change made through the admin endpoint stands until the source changes that
// setting. A source that fails is logged once and changes nothing until it works again.
//
// [Setup] watches TELEMETRY_FLAGS_FILE this way. Another source, such as a feature-flag
// service, is watched by calling WatchFlags from main:
//
//	go telemetry.WatchFlags(ctx, "openfeature", source)
func WatchFlags(ctx context.Context, name string, source FlagSource) {
	w := flagWatcher{name: name, source: source}
	w.poll(ctx)
	w.run(ctx)
}

// flagWatcher applies the changes of one source.
type flagWatcher struct {
	name string
	// who says where the source is, for the log line of a change.
	who    []any
	source FlagSource
	// last is what the source held at the last read that worked.
	last Flags
	// failure is the error of the last read, if it failed.
	failure string
}

// flagsPollEvery is flagsPollInterval, in a variable so that tests can shorten it.
var flagsPollEvery = flagsPollInterval

func (w *flagWatcher) run(ctx context.Context) {
	ticker := time.NewTicker(flagsPollEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			w.poll(ctx)
		}
	}
}

func (w *flagWatcher) poll(ctx context.Context) {
	flags, err := w.source.Flags(ctx)
	if err == nil {
		err = apply(ctx, w.changed(flags), w.name, w.who...)
	}
	if err != nil {
		if err.Error() != w.failure {
			w.failure = err.Error()
			args := append(append([]any{"source", w.name}, w.who...), "error", err)
			slog.WarnContext(ctx, "telemetry: flags not applied", args...)
		}
		return
	}
	w.failure = ""
	w.last = flags
}

// changed returns the settings of flags that differ from the last read.
func (w *flagWatcher) changed(flags Flags) Flags {
	var change Flags
	if flags.Enabled != nil && (w.last.Enabled == nil || *w.last.Enabled != *flags.Enabled) {
		change.Enabled = flags.Enabled
	}
	if flags.SamplingRatio != nil && (w.last.SamplingRatio == nil || *w.last.SamplingRatio != *flags.SamplingRatio) {
		change.SamplingRatio = flags.SamplingRatio
	}
	return change
}

// flagsFile is a [FlagSource] that reads a JSON file of [Flags], such as a mounted ConfigMap.
type flagsFile string

func (path flagsFile) Flags(context.Context) (Flags, error) {
	f, err := os.Open(string(path))
	if err != nil {
		return Flags{}, err
	}
	defer f.Close()
	return decodeFlags(f)
}
