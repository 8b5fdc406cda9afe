package ssm_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tssm "github.com/packer-bakery/packer-plugin-bakery/common/tunnel/ssm"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/tunnels"
)

// slowConns counts the websocket connections dialed; once armed, a write
// on the first returns only after the second was dialed (and a little
// more), as a write to a connection that is breaking can hang while the
// read side has already noticed and resumed.
type slowConns struct {
	dials atomic.Int32
	armed atomic.Bool
	mu    sync.Mutex
	next  chan struct{} // closed when the second connection is dialed
}

type slowConn struct {
	net.Conn
	s     *slowConns
	first bool
}

func (c *slowConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.first && c.s.armed.Load() {
		select {
		case <-c.s.next:
			time.Sleep(300 * time.Millisecond)
		case <-time.After(3 * time.Second):
		}
	}
	return n, err
}

func (s *slowConns) client() *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		n := s.dials.Add(1)
		if n == 2 {
			close(s.next)
		}
		return &slowConn{Conn: c, s: s, first: n == 1}, nil
	}}}
}

// The websocket is cut when the agent receives a new stream's SYN, and the
// write that carried the SYN returns only after the session was resumed:
// the agent's answer (a server's greeting, sent again on the new
// websocket) then reaches the client while smux is still in OpenStream.
// The greeting must not be lost: before the fix, send waited for the
// websocket write, so smux had not registered the stream yet and dropped
// the greeting (the probe's one-minute hang in the tunnel step).
func TestGreetingSurvivesDropDuringOpenStream(t *testing.T) {
	for range 3 {
		s, err := tunnels.StartSSM()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.SetFaults(tunnels.SSMFaults{DropAfterBytes: 1})
		port, stop, err := tunnels.Serve(func(c net.Conn) { _, _ = c.Write([]byte(tunnels.Greeting)) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		_, _, cfg := setup(t, tunnels.SSMFaults{})
		cfg.API = &tunnels.SSMClient{S: s}
		cfg.Port = port
		slow := &slowConns{next: make(chan struct{})}
		cfg.HTTPClient = slow.client()
		tun, err := tssm.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		// The acknowledgement of the handshake's completion goes out on
		// the first websocket before the stream is opened.
		time.Sleep(200 * time.Millisecond)
		slow.armed.Store(true)
		c, err := tun.Dial(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len(tunnels.Greeting))
		_, err = io.ReadFull(c, got)
		c.Close()
		tun.Close()
		if err != nil {
			t.Fatalf("no greeting through the resumed session: %v (resumes %d)", err, s.Resumes())
		}
		if string(got) != tunnels.Greeting {
			t.Fatalf("greeting %q", got)
		}
		if s.Resumes() != 1 {
			t.Errorf("%d resumes, want 1", s.Resumes())
		}
		if p := s.Problems(); len(p) > 0 {
			t.Errorf("protocol problems: %v", p)
		}
	}
}
