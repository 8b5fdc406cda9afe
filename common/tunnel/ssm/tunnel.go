package ssm

import (
	"context"
	"fmt"
	"net"
	"sync"
)

// maxRestarts bounds how many times a Tunnel replaces a session that AWS
// ended, so a build whose sessions keep dying fails instead of looping.
const maxRestarts = 3

// Tunnel keeps a port-forwarding session for Dial. When the session ends
// under it (AWS closed it, the data channel could not be resumed), the next
// Dial starts a new session and says so; connections of the old session
// are lost, new ones work.
type Tunnel struct {
	cfg      Config
	mu       sync.Mutex
	cur      *Session
	ids      []string
	restarts int
	closed   bool
}

// Open starts the first session.
func Open(ctx context.Context, cfg Config) (*Tunnel, error) {
	s, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Tunnel{cfg: cfg, cur: s, ids: []string{s.ID()}}, nil
}

// SessionIDs are the ids of every session the tunnel started.
func (t *Tunnel) SessionIDs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.ids...)
}

// Dial opens one connection to the instance's port.
func (t *Tunnel) Dial(ctx context.Context) (net.Conn, error) {
	s, err := t.session(ctx)
	if err != nil {
		return nil, err
	}
	return s.Dial(ctx)
}

func (t *Tunnel) session(ctx context.Context) (*Session, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errClosed
	}
	cause := t.cur.Err()
	if cause == nil {
		return t.cur, nil
	}
	old := t.cur.ID()
	_ = t.cur.Close()
	if t.restarts >= maxRestarts {
		return nil, fmt.Errorf("Session Manager session %s ended (%w) and %d sessions were started already; giving up", old, cause, maxRestarts+1)
	}
	t.restarts++
	t.cfg.logf("Session Manager session %s ended (%v); starting a new session", old, cause)
	s, err := Start(ctx, t.cfg)
	if err != nil {
		return nil, fmt.Errorf("session %s ended (%v); starting a new one: %w", old, cause, err)
	}
	t.cur = s
	t.ids = append(t.ids, s.ID())
	return s, nil
}

// Close ends the current session, on AWS too (TerminateSession).
func (t *Tunnel) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	return t.cur.Close()
}
