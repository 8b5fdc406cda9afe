package faultproxy

import (
	"sort"
	"time"
)

// Wait is what the proxy saw of a client waiting out one delayed
// transition: when the resource became ready (transition start plus the
// configured delay), how often the client described it before that, and
// when a reply first showed it ready. Benchmarks read it to measure
// readiness-detection lag without trusting the client's own log.
type Wait struct {
	ID    string    `json:"id"`    // i-… or ami-…
	What  string    `json:"what"`  // "instance running", "instance stopped", "instance terminated", "image available"
	Start time.Time `json:"start"` // the RunInstances/StopInstances/CreateImage… reply
	Ready time.Time `json:"ready"` // Start plus the configured delay
	// Polls counts describe replies that named the resource while it
	// was shown as not ready yet.
	Polls int `json:"polls"`
	// Seen is the first reply that showed it ready; zero while nobody has
	// looked since.
	Seen time.Time `json:"seen"`
	// Lag is Seen − Ready; zero while not seen.
	Lag time.Duration `json:"lag"`
}

// Waits returns every delayed transition the proxy tracked since the last
// Reset, oldest first.
func (p *Proxy) Waits() []Wait {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Wait, 0, len(p.waits))
	for _, w := range p.waits {
		out = append(out, *w)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// sighting records one describe reply naming id, whose transition started
// at start and takes delay; shownPending says the reply showed it not
// ready. Transitions without a delay are not waits and are not recorded.
func (p *Proxy) sighting(id, what string, start time.Time, delay time.Duration, shownPending bool) {
	if delay <= 0 {
		return
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waits == nil {
		p.waits = map[string]*Wait{}
	}
	key := id + " " + what
	w, ok := p.waits[key]
	if !ok || !w.Start.Equal(start) { // a new transition (e.g. a restart) starts a new wait
		w = &Wait{ID: id, What: what, Start: start, Ready: start.Add(delay)}
		p.waits[key] = w
	}
	switch {
	case shownPending:
		w.Polls++
	case w.Seen.IsZero():
		w.Seen = now
		w.Lag = now.Sub(w.Ready)
	}
}
