package telemetry

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// AdminHandler returns the handler of the telemetry admin endpoint (/admin/telemetry), which
// [Setup] serves on the admin listener, never on the service's own.
//
// GET reports the state as JSON: {"enabled": true, "sampling_ratio": 0.1, "sampler": "..."}.
// PUT changes it: the body is JSON [Flags], such as {"enabled": false}, sent with
// Content-Type: application/json and Authorization: Bearer <token>. The token is compared in
// constant time; with an empty token every PUT is refused. Turning telemetry on is refused
// with 409 Conflict when OTEL_SDK_DISABLED=true built nothing to turn on. Each change is logged
// with the address it came from. Other methods are answered 405, which also keeps a web page from
// sending the request without a CORS preflight that nothing answers.
func AdminHandler(token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, currentState())
		case http.MethodPut:
			putFlags(w, r, token)
		default:
			w.Header().Set("Allow", "GET, PUT")
			writeError(w, http.StatusMethodNotAllowed, "use GET to read the state, PUT to change it")
		}
	})
}

func putFlags(w http.ResponseWriter, r *http.Request, token string) {
	if token == "" {
		writeError(w, http.StatusForbidden, "changes are off: set TELEMETRY_ADMIN_TOKEN to allow them")
		return
	}
	if !authorized(r.Header.Get("Authorization"), token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="telemetry"`)
		writeError(w, http.StatusUnauthorized, "send Authorization: Bearer <TELEMETRY_ADMIN_TOKEN>")
		return
	}
	if mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mediaType != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "send the flags as application/json")
		return
	}
	flags, err := decodeFlags(http.MaxBytesReader(w, r.Body, 4<<10))
	if err == nil {
		err = apply(r.Context(), flags, "admin", "remote", r.RemoteAddr)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if flags.Enabled != nil && *flags.Enabled && disabled.Load() {
		// Nothing was built that could be switched on; the rest of the request still applies.
		writeError(w, http.StatusConflict, "OTEL_SDK_DISABLED=true: restart without it to turn telemetry on")
		return
	}
	writeJSON(w, http.StatusOK, currentState())
}

// authorized compares the bearer token of an Authorization header with token. Comparing
// hashes in constant time reveals neither the token nor its length.
func authorized(header, token string) bool {
	scheme, got, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	gotSum, wantSum := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(gotSum[:], wantSum[:]) == 1
}

// decodeFlags reads one JSON object of flags that sets at least one of them.
func decodeFlags(r io.Reader) (Flags, error) {
	var flags Flags
	decoder := json.NewDecoder(r)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&flags); err != nil {
		return Flags{}, errors.New(`want a JSON object such as {"enabled": false, "sampling_ratio": 0.05}: ` + err.Error())
	}
	if decoder.More() {
		return Flags{}, errors.New("want one JSON object")
	}
	if flags.Enabled == nil && flags.SamplingRatio == nil {
		return Flags{}, errors.New("set enabled, sampling_ratio or both")
	}
	return flags, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"error": message})
}

// serveAdmin starts the admin listener on TELEMETRY_ADMIN_ADDR, or on the policy's loopback
// address, and returns the function that stops it. It returns nil when the listener is
// turned off ("off") or cannot listen: the service runs on without it.
func serveAdmin(warn warnFunc) func(context.Context) error {
	address := defaultAdminAddress
	if v, ok := os.LookupEnv("TELEMETRY_ADMIN_ADDR"); ok {
		address = strings.TrimSpace(v)
	}
	if address == "off" {
		return nil
	}
	listener, err := net.Listen("tcp", address)
	if err != nil {
		warn("telemetry: admin listener not started", "address", address, "error", err)
		return nil
	}
	token := os.Getenv("TELEMETRY_ADMIN_TOKEN")
	mux := http.NewServeMux()
	mux.Handle(adminPath, AdminHandler(token))
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = server.Serve(listener) }()
	slog.Info("telemetry admin listening", "address", listener.Addr().String(), "path", adminPath,
		"changes", token != "")
	return server.Shutdown
}
