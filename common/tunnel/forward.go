// Package tunnel gives SSH clients a local address for an instance they
// cannot reach directly: a listener on 127.0.0.1 whose every connection is
// carried to the instance's port by a Dialer (a Session Manager session, an
// EC2 Instance Connect Endpoint websocket).
package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Dialer opens one connection to the instance's port.
type Dialer interface {
	Dial(ctx context.Context) (net.Conn, error)
}

// Forwarder is a loopback listener that forwards every accepted
// connection through a Dialer.
type Forwarder struct {
	d    Dialer
	ln   net.Listener
	logf func(string, ...any)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	once   sync.Once
}

// Listen starts a forwarder on 127.0.0.1 (port 0: any free port).
func Listen(d Dialer, port int, logf func(string, ...any)) (*Forwarder, error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("listening on 127.0.0.1:%d for the tunnel: %w", port, err)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Forwarder{d: d, ln: ln, logf: logf, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

// Addr is where SSH clients connect.
func (f *Forwarder) Addr() *net.TCPAddr { return f.ln.Addr().(*net.TCPAddr) }

// Port is Addr's port.
func (f *Forwarder) Port() int { return f.Addr().Port }

func (f *Forwarder) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		if !f.track(c) {
			c.Close()
			return
		}
		f.wg.Add(1)
		go f.serve(c)
	}
}

// track registers c, or reports false once Close has begun.
func (f *Forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Forwarder) untrack(c net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, c)
}

func (f *Forwarder) serve(local net.Conn) {
	defer f.wg.Done()
	defer f.untrack(local)
	defer local.Close()
	ctx, cancel := context.WithTimeout(f.ctx, 2*time.Minute)
	remote, err := f.d.Dial(ctx)
	cancel()
	if err != nil {
		if f.ctx.Err() == nil {
			f.logf("tunnel: connection from %s not forwarded: %v", local.RemoteAddr(), err)
		}
		return
	}
	if !f.track(remote) {
		remote.Close()
		return
	}
	defer f.untrack(remote)
	defer remote.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close where the connection allows it, so the far side sees
		// EOF and can still answer; otherwise close.
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			dst.Close()
		}
		done <- struct{}{}
	}
	go pipe(remote, local)
	go pipe(local, remote)
	<-done
	<-done
}

// Close stops listening, closes every forwarded connection and waits for
// their goroutines. It does not close the Dialer.
func (f *Forwarder) Close() error {
	var err error
	f.once.Do(func() {
		f.cancel()
		err = f.ln.Close()
		f.mu.Lock()
		conns := f.conns
		f.conns = nil
		f.mu.Unlock()
		for c := range conns {
			c.Close()
		}
		f.wg.Wait()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	})
	return err
}
