package ssm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Reliability constants, as AWS's plugin has them (src/config/config.go)
// unless said otherwise.
const (
	// chunkSize is how many bytes of the TCP stream go into one message:
	// the plugin's StreamDataPayloadSize. Larger messages might be faster,
	// but what the service accepts beyond it is not documented.
	chunkSize = 1024
	// maxUnacked bounds the messages in flight. The plugin drops the oldest
	// when its 10000-message buffer is full; we wait instead, so nothing
	// sent is ever lost.
	maxUnacked = 10000
	// maxBuffered is how many out-of-order messages are kept.
	maxBuffered = 10000
	// resendAfter: an unacknowledged message is sent again after this long
	// (the plugin adapts between 10 ms and 1 s; on loopback and on AWS acks
	// come far sooner, so the upper bound does).
	resendAfter = time.Second
	resendTick  = 100 * time.Millisecond
	// resendLimit: the plugin gives up on a message after 3000 resends
	// (5 minutes).
	resendLimit = 3000
	pingEvery   = 5 * time.Minute
	// readLimit: a message is a 120-byte header and a payload of at most
	// chunkSize from the plugin; the agent's may be larger.
	readLimit = 1 << 20
	// reconnects is how often a dropped websocket is resumed before the
	// session is given up (the plugin's DataChannelNumMaxRetries).
	reconnects = 5
)

// dialer opens the websocket with a token (StartSession's, then
// ResumeSession's after a drop) and presents the token on it.
type dialer interface {
	open(ctx context.Context, token string) (*websocket.Conn, error)
	resume(ctx context.Context) (token string, err error)
}

type pending struct {
	seq     int64
	raw     []byte
	sentAt  time.Time
	resends int
}

// channel is one data channel: sequence numbers and acknowledgements in
// both directions, resends, and resumption after the websocket drops.
type channel struct {
	d        dialer
	onStream func(*Message) error // in-order output_stream_data, handshake included

	mu      sync.Mutex
	space   *sync.Cond // signalled when unacked shrinks or the channel ends
	wake    *sync.Cond // signalled when outq grows, the writer idles or the channel ends
	ws      *websocket.Conn
	outq    [][]byte // sent messages the write loop has yet to write, in order
	writing bool     // the write loop is writing what it took from outq
	outSeq  int64
	unacked []*pending
	done    chan struct{}
	err     error // why the channel ended; set once, before done closes
	closing bool

	// Read loop only.
	inSeq int64
	inBuf map[int64]*Message
}

func newChannel(d dialer, ws *websocket.Conn, onStream func(*Message) error) *channel {
	c := &channel{d: d, ws: ws, onStream: onStream, done: make(chan struct{}), inBuf: map[int64]*Message{}}
	c.space = sync.NewCond(&c.mu)
	c.wake = sync.NewCond(&c.mu)
	ws.SetReadLimit(readLimit)
	return c
}

// start runs the channel; the owner keeps c before any message arrives.
func (c *channel) start() {
	go c.readLoop()
	go c.writeLoop()
	go c.resendLoop()
	go c.pingLoop()
}

// end records why the channel ended (the first reason wins) and wakes
// every waiter.
func (c *channel) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	close(c.done)
	c.space.Broadcast()
	c.wake.Broadcast()
}

// Err is why the channel ended, nil while it runs.
func (c *channel) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// send sends one input_stream_data message and keeps it until the agent
// acknowledges it. It waits while maxUnacked messages are in flight, but
// never for the websocket: the message is queued for the write loop and
// send returns. A write that hangs on a websocket that has just broken
// must not hold up the caller: smux registers a new stream only once its
// SYN is written, so while OpenStream waited here the read loop could
// resume, resend the SYN, and hand smux the agent's answer for a stream
// it did not know yet, which smux discards (the greeting lost: a hang).
func (c *channel) send(pt PayloadType, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.unacked) >= maxUnacked && c.err == nil {
		c.space.Wait()
	}
	if c.err != nil {
		return c.err
	}
	m := Message{
		Type: TypeInput, SchemaVersion: 1, CreatedDate: uint64(time.Now().UnixMilli()),
		SequenceNumber: c.outSeq, ID: NewUUID(), PayloadType: pt, Payload: payload,
	}
	raw, err := m.Marshal()
	if err != nil {
		return err
	}
	c.outSeq++
	c.unacked = append(c.unacked, &pending{seq: m.SequenceNumber, raw: raw, sentAt: time.Now()})
	c.outq = append(c.outq, raw)
	c.wake.Broadcast()
	return nil
}

// writeLoop writes queued messages in sequence order to the current
// websocket. A failed write is not an error here: the message stays
// unacked, the read loop notices the broken websocket, resumes and resends
// it.
func (c *channel) writeLoop() {
	for {
		c.mu.Lock()
		c.writing = false
		c.wake.Broadcast()
		for len(c.outq) == 0 && c.err == nil {
			c.wake.Wait()
		}
		if c.err != nil {
			c.mu.Unlock()
			return
		}
		batch, ws := c.outq, c.ws
		c.outq = nil
		c.writing = true
		c.mu.Unlock()
		for _, raw := range batch {
			_ = write(ws, raw)
		}
	}
}

// flush waits up to d for the write loop to write what is queued.
func (c *channel) flush(d time.Duration) {
	t := time.AfterFunc(d, func() {
		c.mu.Lock()
		c.wake.Broadcast()
		c.mu.Unlock()
	})
	defer t.Stop()
	deadline := time.Now().Add(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	for (len(c.outq) > 0 || c.writing) && c.err == nil && time.Now().Before(deadline) {
		c.wake.Wait()
	}
}

func write(ws *websocket.Conn, raw []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ws.Write(ctx, websocket.MessageBinary, raw)
}

// ack acknowledges one received stream message, as SendAcknowledgeMessage
// does: sequence number 0, flags 3, the acknowledged id in its printed form.
func (c *channel) ack(m *Message) error {
	body, _ := json.Marshal(Acknowledge{MessageType: m.Type, MessageID: m.ID.String(), SequenceNumber: m.SequenceNumber, IsSequential: true})
	a := Message{Type: TypeAcknowledge, SchemaVersion: 1, CreatedDate: uint64(time.Now().UnixMilli()), Flags: 3, ID: NewUUID(), Payload: body}
	raw, err := a.Marshal()
	if err != nil {
		return err
	}
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	_ = write(ws, raw)
	return nil
}

func (c *channel) readLoop() {
	for {
		c.mu.Lock()
		ws := c.ws
		c.mu.Unlock()
		typ, raw, err := ws.Read(context.Background())
		if err != nil {
			if c.isClosing() {
				c.end(errClosed)
				return
			}
			if err := c.reconnect(err); err != nil {
				c.end(err)
				return
			}
			continue
		}
		if typ != websocket.MessageBinary {
			continue // the service sends binary messages only
		}
		m, err := Unmarshal(raw)
		if err != nil {
			continue // a damaged message: the agent resends what is not acknowledged
		}
		if err := c.handle(m); err != nil {
			c.end(err)
			_ = ws.Close(websocket.StatusNormalClosure, "")
			return
		}
	}
}

var errClosed = errors.New("session closed")

func (c *channel) handle(m *Message) error {
	switch m.Type {
	case TypeAcknowledge:
		var a Acknowledge
		if err := json.Unmarshal(m.Payload, &a); err != nil {
			return nil
		}
		c.mu.Lock()
		for i, p := range c.unacked {
			if p.seq == a.SequenceNumber {
				c.unacked = append(c.unacked[:i], c.unacked[i+1:]...)
				c.space.Broadcast()
				break
			}
		}
		c.mu.Unlock()
	case TypeChannelClosed:
		var cc ChannelClosed
		_ = json.Unmarshal(m.Payload, &cc)
		return &ClosedError{SessionID: cc.SessionID, Output: cc.Output}
	case TypeOutput:
		return c.stream(m)
	}
	return nil // start/pause_publication and unknown types: nothing to do
}

// stream delivers output_stream_data in sequence order, as HandleOutputMessage
// does: the expected one now (then any buffered successors), later ones
// buffered, each acknowledged. Earlier ones are repeats whose ack was lost:
// acknowledged again (the plugin ignores them, leaving the agent resending).
func (c *channel) stream(m *Message) error {
	switch {
	case m.SequenceNumber < c.inSeq:
		return c.ack(m)
	case m.SequenceNumber > c.inSeq:
		if len(c.inBuf) < maxBuffered {
			c.inBuf[m.SequenceNumber] = m
			return c.ack(m)
		}
		return nil
	}
	for {
		if err := c.onStream(m); err != nil {
			return err
		}
		if err := c.ack(m); err != nil {
			return err
		}
		c.inSeq++
		next, ok := c.inBuf[c.inSeq]
		if !ok {
			return nil
		}
		delete(c.inBuf, c.inSeq)
		m = next
	}
}

// reconnect resumes the session on a new websocket after the old one broke,
// then sends again whatever the agent had not acknowledged.
func (c *channel) reconnect(cause error) error {
	delay := 200 * time.Millisecond
	var last error = cause
	for range reconnects {
		if c.isClosing() {
			return errClosed
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		token, err := c.d.resume(ctx)
		if err == nil && token == "" {
			cancel()
			return fmt.Errorf("the data channel dropped (%v) and Session Manager says the session has timed out (ResumeSession returned no token)", cause)
		}
		if err == nil {
			var ws *websocket.Conn
			if ws, err = c.d.open(ctx, token); err == nil {
				ws.SetReadLimit(readLimit)
				c.mu.Lock()
				c.ws = ws
				resend := append([]*pending(nil), c.unacked...)
				c.mu.Unlock()
				for _, p := range resend {
					_ = write(ws, p.raw)
				}
				cancel()
				return nil
			}
		}
		cancel()
		last = err
		select {
		case <-time.After(delay):
		case <-c.done:
			return errClosed
		}
		delay *= 2
	}
	return fmt.Errorf("the data channel dropped (%v) and resuming it failed %d times: %w", cause, reconnects, last)
}

func (c *channel) resendLoop() {
	t := time.NewTicker(resendTick)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		c.mu.Lock()
		if len(c.unacked) == 0 || time.Since(c.unacked[0].sentAt) < resendAfter {
			c.mu.Unlock()
			continue
		}
		p, ws := c.unacked[0], c.ws
		p.resends++
		p.sentAt = time.Now()
		c.mu.Unlock()
		if p.resends > resendLimit {
			c.end(fmt.Errorf("the SSM agent acknowledged nothing for %s (message %d resent %d times)", resendAfter*resendLimit, p.seq, resendLimit))
			return
		}
		_ = write(ws, p.raw)
	}
}

// pingLoop keeps idle websockets open through proxies and load balancers,
// as the plugin's StartPings does.
func (c *channel) pingLoop() {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		c.mu.Lock()
		ws := c.ws
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = ws.Ping(ctx)
		cancel()
	}
}

func (c *channel) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// beginClose marks the channel as closing: a websocket that breaks from
// now on ends it instead of being resumed.
func (c *channel) beginClose() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
}

// close ends the channel from this side: the websocket closes normally and
// every waiter returns.
func (c *channel) close() {
	c.flush(2 * time.Second) // the TerminateSession flag, say
	c.mu.Lock()
	c.closing = true
	ws := c.ws
	c.mu.Unlock()
	_ = ws.Close(websocket.StatusNormalClosure, "")
	c.end(errClosed)
}

// ClosedError is a channel_closed message: AWS ended the session.
type ClosedError struct {
	SessionID string
	Output    string
}

func (e *ClosedError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("Session Manager closed session %s", e.SessionID)
	}
	return fmt.Sprintf("Session Manager closed session %s: %s", e.SessionID, e.Output)
}
