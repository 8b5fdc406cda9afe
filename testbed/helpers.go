package testbed

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// WaitFor polls cond every 100 ms until it holds (true), the process whose
// exit done reports ends, or limit passes (false).
func WaitFor(cond func() bool, done <-chan error, limit time.Duration) bool {
	deadline := time.After(limit)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-done:
			return cond()
		case <-deadline:
			return false
		case <-tick.C:
		}
	}
}

// RandomHex is n random bytes in hex: unique names and secrets for tests.
func RandomHex(n int) string {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		panic(err)
	}
	return hex.EncodeToString(buf)
}

// Output collects a process's output while a test reads it.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
