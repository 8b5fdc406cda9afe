package faultproxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// countsJSON is the body of GET /_faultproxy/counts.
type countsJSON struct {
	Calls    map[string]int `json:"calls"`    // "ec2:RunInstances" → attempts
	DryRuns  map[string]int `json:"dry_runs"` // dry runs and IAM probes, not in calls
	Injected map[Kind]int   `json:"injected"` // fault kind → hits
	Total    int            `json:"total"`
}

func (p *Proxy) serveControl(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case ControlPrefix + "config":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, p.Config())
		case http.MethodPut, http.MethodPost:
			cfg, err := decodeConfig(r.Body)
			if err == nil {
				err = p.SetConfig(cfg)
			}
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			p.logf("faultproxy: configured over HTTP")
			writeJSON(w, http.StatusOK, p.Config())
		default:
			methodNotAllowed(w, "GET, PUT, POST")
		}
	case ControlPrefix + "counts":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		out := countsJSON{Calls: map[string]int{}, DryRuns: map[string]int{}, Injected: p.Injected()}
		for c, n := range p.Counts() {
			out.Calls[c.String()] = n
			out.Total += n
		}
		for c, n := range p.DryRuns() {
			out.DryRuns[c.String()] = n
		}
		writeJSON(w, http.StatusOK, out)
	case ControlPrefix + "waits":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		writeJSON(w, http.StatusOK, p.Waits())
	case ControlPrefix + "reset":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		p.Reset()
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{
			"error": fmt.Sprintf("no control endpoint %s; there are %s{%s}", r.URL.Path, ControlPrefix, "config,counts,waits,reset"),
		})
	}
}

// decodeConfig reads a whole Config; fields left out are off. Unknown
// fields are errors, so a misspelt fault does not silently do nothing.
func decodeConfig(r io.Reader) (Config, error) {
	var cfg Config
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("faultproxy config: %w", err)
	}
	return cfg, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed; use " + allow})
}
