// Package tunnels holds the test-bed's stand-ins for what moto lacks to
// reach a private instance: Session Manager (the service's session API and
// the SSM agent's side of the data channel) and an EC2 Instance Connect
// Endpoint (a TLS websocket that checks the SigV4 presign). Both forward to
// a port on 127.0.0.1 — the bed's sshd — as the real ones forward to the
// instance.
package tunnels

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/coder/websocket"
	"github.com/xtaci/smux"

	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel/ssm"
)

// AgentVersion is what the stand-in agent reports in its handshake: recent
// enough for multiplexing with smux keep-alive off.
const AgentVersion = "3.3.1142.0"

// SSMFaults change how the stand-in behaves.
type SSMFaults struct {
	// NoAgent: StartSession answers TargetNotConnected for these
	// instances, as for an instance whose agent never registered.
	NoAgent map[string]bool
	// NoAgentAnywhere: no instance has a registered agent.
	NoAgentAnywhere bool
	// KMSKeyID: the agent asks for KMS encryption with this key (the
	// account's Session Manager preference) and decrypts the client's data
	// key with SSM.KMS.
	KMSKeyID string
	// DropAfterBytes: the websocket of a session is cut (no close frame)
	// once this many bytes of stream data have passed, once per session.
	DropAfterBytes int
	// CloseAfterBytes: the session is ended by AWS (channel_closed) once
	// this many bytes have passed, once per session.
	CloseAfterBytes int
}

// SSM is the Session Manager stand-in: the StartSession, ResumeSession and
// TerminateSession answers (Handle*) and the data-channel websocket
// endpoint (URL).
type SSM struct {
	// secrets maps an access key id to its secret, to check the SigV4
	// signature of the websocket upgrade (see AllowKey); guarded by mu.
	secrets map[string]string
	// Source is the local address the agent connects to the port from
	// (the bed's tunnel-only sshd admits 127.0.0.2 only); nil: any.
	Source net.Addr
	// KMS decrypts the data keys of KMS-encrypted sessions (the agent's
	// kms:Decrypt); set before sessions start.
	KMS KMSDecrypter

	ln  net.Listener
	srv *http.Server

	mu       sync.Mutex
	faults   SSMFaults
	sessions map[string]*agentSession
	n        int
	resumes  int
	streams  int // TCP connections open through sessions now
	// encrypted counts sessions whose KMS handshake and challenge passed;
	// opened counts client payloads that decrypted with their data key.
	encrypted, opened int
	maxOpen           int // the most open at once
	problems          []string
}

// MaxStreams is the most TCP connections that were open at once through
// the stand-in's sessions (each a multiplexed stream).
func (s *SSM) MaxStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxOpen
}

// Streams is how many TCP connections are open through sessions now.
func (s *SSM) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams
}

func (s *SSM) streamOpened(delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams += delta
	s.maxOpen = max(s.maxOpen, s.streams)
}

// Encrypted counts the sessions that agreed on KMS encryption (the data
// key decrypted, the encryption challenge answered), and the stream
// payloads from clients that decrypted with their session's key.
func (s *SSM) Encrypted() (sessions, payloads int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.encrypted, s.opened
}

// Resumes counts the tokens ResumeSession handed out.
func (s *SSM) Resumes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resumes
}

// StartSSM listens on 127.0.0.1.
func StartSSM() (*SSM, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &SSM{ln: ln, sessions: map[string]*agentSession{}, secrets: map[string]string{"testing": "testing"}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveWS), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// URL is the data-channel endpoint's base, ws://127.0.0.1:PORT.
func (s *SSM) URL() string { return "ws://" + s.ln.Addr().String() }

// AllowKey lets the holder of an access key open data channels (the bed's
// static "testing" key is allowed from the start).
func (s *SSM) AllowKey(id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[id] = secret
}

func (s *SSM) secret(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.secrets[id]
	return v, ok
}

// SetFaults replaces the fault settings.
func (s *SSM) SetFaults(f SSMFaults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// Problems lists protocol violations the stand-in saw from clients (a bad
// ack, a sequence gap, a wrong token): a test asserts it is empty.
func (s *SSM) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.problems...)
}

// maxProblems keeps a broken client's report readable.
const maxProblems = 20

func (s *SSM) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.problems) < maxProblems {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

// Active lists sessions not yet terminated.
func (s *SSM) Active() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, as := range s.sessions {
		if !as.isTerminated() {
			ids = append(ids, id)
		}
	}
	return ids
}

// Reset forgets every session and fault.
func (s *SSM) Reset() {
	s.mu.Lock()
	sessions := s.sessions
	s.sessions, s.faults, s.problems, s.resumes, s.maxOpen = map[string]*agentSession{}, SSMFaults{}, nil, 0, 0
	s.encrypted, s.opened = 0, 0
	s.mu.Unlock()
	for _, as := range sessions {
		as.terminate()
	}
}

// Close stops the server and ends every session.
func (s *SSM) Close() error {
	s.Reset()
	return s.srv.Close()
}

// APIError is an AWS error answer.
type APIError struct {
	Status int
	Code   string
	Msg    string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Msg }

// StartSession answers ssm:StartSession for the port-forwarding document.
func (s *SSM) StartSession(target, document string, params map[string][]string) (id, streamURL, token string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.NoAgent[target] || s.faults.NoAgentAnywhere {
		return "", "", "", &APIError{400, "TargetNotConnected", target + " is not connected."}
	}
	if document != ssm.PortForwardingDocument {
		return "", "", "", &APIError{400, "InvalidDocument", "the stand-in serves " + ssm.PortForwardingDocument + " only"}
	}
	port := "22"
	if p := params["portNumber"]; len(p) == 1 {
		port = p[0]
	}
	s.n++
	id = fmt.Sprintf("bakery-testbed-%012d", s.n)
	as := &agentSession{ssm: s, id: id, target: target, port: port, faults: s.faults, terminated: make(chan struct{})}
	as.token = newToken()
	s.sessions[id] = as
	return id, s.URL() + "/v1/data-channel/" + id + "?role=publish_subscribe", as.token, nil
}

// ResumeSession answers ssm:ResumeSession: a new token for the same session,
// or none once it ended.
func (s *SSM) ResumeSession(id string) (string, error) {
	s.mu.Lock()
	as := s.sessions[id]
	s.mu.Unlock()
	if as == nil {
		return "", &APIError{400, "DoesNotExistException", "no session " + id}
	}
	if as.isTerminated() {
		return "", nil
	}
	s.mu.Lock()
	s.resumes++
	s.mu.Unlock()
	as.mu.Lock()
	defer as.mu.Unlock()
	as.token = newToken()
	return as.token, nil
}

// TerminateSession answers ssm:TerminateSession.
func (s *SSM) TerminateSession(id string) error {
	s.mu.Lock()
	as := s.sessions[id]
	s.mu.Unlock()
	if as != nil {
		as.terminate()
	}
	return nil
}

func newToken() string { return ssm.NewUUID().String() + ssm.NewUUID().String() }

func (s *SSM) serveWS(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/v1/data-channel/")
	s.mu.Lock()
	as := s.sessions[id]
	s.mu.Unlock()
	if as == nil || as.isTerminated() || r.URL.Query().Get("role") != "publish_subscribe" {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	if err := verifyHeaderSignature(r, "ssmmessages", s.secret); err != nil {
		s.problem("session %s: websocket upgrade: %v", id, err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	as.attach(r.Context(), ws)
}

// agentSession is the agent's side of one session.
type agentSession struct {
	ssm    *SSM
	id     string
	target string
	port   string
	faults SSMFaults

	mu         sync.Mutex
	token      string
	ws         *websocket.Conn
	outSeq     int64
	unacked    map[int64][]byte
	inSeq      int64
	inBuf      map[int64]*ssm.Message
	handshaken bool
	cipher     *agentCipher // once the client's data key decrypted
	challenge  []byte       // the encryption challenge in flight
	muxIn      *io.PipeWriter
	mux        *smux.Session
	bytes      int
	dropped    bool
	closed     bool
	terminated chan struct{}
	termOnce   sync.Once
	wmu        sync.Mutex      // one write at a time, and none to a cut websocket
	cut        *websocket.Conn // the websocket DropAfterBytes cut
}

func (a *agentSession) isTerminated() bool {
	select {
	case <-a.terminated:
		return true
	default:
		return false
	}
}

func (a *agentSession) terminate() {
	a.termOnce.Do(func() {
		close(a.terminated)
		a.mu.Lock()
		ws, mux, in := a.ws, a.mux, a.muxIn
		a.mu.Unlock()
		if mux != nil {
			mux.Close()
		}
		if in != nil {
			in.Close()
		}
		if ws != nil {
			ws.Close(websocket.StatusNormalClosure, "session terminated")
		}
	})
}

// attach serves one websocket of the session: the first presents
// StartSession's token, later ones ResumeSession's.
func (a *agentSession) attach(ctx context.Context, ws *websocket.Conn) {
	typ, raw, err := ws.Read(ctx)
	if err != nil {
		return
	}
	var open ssm.OpenDataChannel
	a.mu.Lock()
	token := a.token
	a.mu.Unlock()
	if typ != websocket.MessageText || json.Unmarshal(raw, &open) != nil || open.TokenValue != token ||
		open.MessageSchemaVersion != "1.0" || open.ClientID == "" || open.RequestID == "" {
		a.ssm.problem("session %s: first frame is not OpenDataChannelInput with the current token: %q", a.id, raw)
		ws.Close(websocket.StatusPolicyViolation, "bad token")
		return
	}
	a.mu.Lock()
	if a.unacked == nil {
		a.unacked, a.inBuf = map[int64][]byte{}, map[int64]*ssm.Message{}
	}
	a.ws = ws
	first := !a.handshaken && a.outSeq == 0
	resend := make([][]byte, 0, len(a.unacked))
	for seq := int64(0); seq < a.outSeq; seq++ {
		if raw, ok := a.unacked[seq]; ok {
			resend = append(resend, raw)
		}
	}
	a.mu.Unlock()
	for _, raw := range resend {
		a.writeRaw(ws, raw)
	}
	if first {
		params, _ := json.Marshal(ssm.SessionTypeRequest{SessionType: "Port", Properties: mustJSON(map[string]string{"portNumber": a.port, "type": "LocalPortForwarding"})})
		actions := []ssm.RequestedAction{{ActionType: ssm.ActionSessionType, ActionParameters: params}}
		if a.faults.KMSKeyID != "" {
			// After the session type, as the agent's
			// buildHandshakeRequestPayload orders them.
			kp := mustJSON(map[string]string{"KMSKeyId": a.faults.KMSKeyID})
			actions = append(actions, ssm.RequestedAction{ActionType: ssm.ActionKMSEncryption, ActionParameters: kp})
		}
		a.send(ssm.PayloadHandshakeRequest, mustJSON(ssm.HandshakeRequest{AgentVersion: AgentVersion, RequestedClientActions: actions}))
	}
	for {
		typ, raw, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageBinary {
			a.ssm.problem("session %s: text frame after the token: %q", a.id, raw)
			continue
		}
		m, err := ssm.Unmarshal(raw)
		if err != nil {
			a.ssm.problem("session %s: message does not decode: %v", a.id, err)
			continue
		}
		a.receive(m)
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// writeRaw writes one message, unless ws was cut: a write racing the cut
// would otherwise slip through the dying connection, and the client would
// get it without ever seeing the cut. What is not written stays unacked
// and goes out again on the resumed websocket.
func (a *agentSession) writeRaw(ws *websocket.Conn, raw []byte) {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	if ws == a.cut {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = ws.Write(ctx, websocket.MessageBinary, raw)
}

// send sends output_stream_data and keeps it until acknowledged.
func (a *agentSession) send(pt ssm.PayloadType, payload []byte) {
	a.mu.Lock()
	m := ssm.Message{Type: ssm.TypeOutput, SchemaVersion: 1, CreatedDate: uint64(time.Now().UnixMilli()),
		SequenceNumber: a.outSeq, ID: ssm.NewUUID(), PayloadType: pt, Payload: payload}
	raw, _ := m.Marshal()
	a.unacked[a.outSeq] = raw
	a.outSeq++
	ws := a.ws
	a.mu.Unlock()
	a.writeRaw(ws, raw)
}

func (a *agentSession) receive(m *ssm.Message) {
	switch m.Type {
	case ssm.TypeAcknowledge:
		var ack ssm.Acknowledge
		if err := json.Unmarshal(m.Payload, &ack); err != nil || m.Flags != 3 || m.SequenceNumber != 0 || !ack.IsSequential || ack.MessageType != ssm.TypeOutput {
			a.ssm.problem("session %s: malformed acknowledge %+v flags %d: %s", a.id, m, m.Flags, m.Payload)
			return
		}
		a.mu.Lock()
		delete(a.unacked, ack.SequenceNumber)
		a.mu.Unlock()
		return
	case ssm.TypeInput:
	default:
		a.ssm.problem("session %s: unexpected message type %q from the client", a.id, m.Type)
		return
	}
	if m.SchemaVersion != 1 {
		a.ssm.problem("session %s: schema version %d", a.id, m.SchemaVersion)
	}
	a.ackInput(m)
	a.mu.Lock()
	if m.SequenceNumber < a.inSeq {
		a.mu.Unlock()
		return
	}
	if m.SequenceNumber > a.inSeq {
		a.inBuf[m.SequenceNumber] = m
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	for m != nil {
		a.process(m)
		a.mu.Lock()
		a.inSeq++
		next := a.inBuf[a.inSeq]
		delete(a.inBuf, a.inSeq)
		a.mu.Unlock()
		m = next
	}
}

func (a *agentSession) ackInput(m *ssm.Message) {
	body := mustJSON(ssm.Acknowledge{MessageType: m.Type, MessageID: m.ID.String(), SequenceNumber: m.SequenceNumber, IsSequential: true})
	ack := ssm.Message{Type: ssm.TypeAcknowledge, SchemaVersion: 1, CreatedDate: uint64(time.Now().UnixMilli()), Flags: 3, ID: ssm.NewUUID(), Payload: body}
	raw, _ := ack.Marshal()
	a.mu.Lock()
	ws := a.ws
	a.mu.Unlock()
	a.writeRaw(ws, raw)
}

func (a *agentSession) process(m *ssm.Message) {
	switch m.PayloadType {
	case ssm.PayloadHandshakeResponse:
		// Parsed with the agent's contract (ActionResult raw JSON), not
		// the client's types.
		var resp struct {
			ProcessedClientActions []struct {
				ActionType   string
				ActionStatus int
				ActionResult json.RawMessage
				Error        string
			}
		}
		if err := json.Unmarshal(m.Payload, &resp); err != nil {
			a.ssm.problem("session %s: handshake response does not parse: %v", a.id, err)
			return
		}
		var keyResult json.RawMessage
		for _, p := range resp.ProcessedClientActions {
			if p.ActionStatus != ssm.StatusSuccess {
				// The real agent ends the session when an action failed.
				a.sendClosed("handshake failed: " + p.Error)
				return
			}
			if p.ActionType == ssm.ActionKMSEncryption {
				keyResult = p.ActionResult
			}
		}
		if a.faults.KMSKeyID != "" {
			a.startEncryption(keyResult)
			return
		}
		a.complete()
	case ssm.PayloadEncChallengeResp:
		a.checkChallenge(m.Payload)
	case ssm.PayloadOutput:
		a.mu.Lock()
		in, c := a.muxIn, a.cipher
		a.mu.Unlock()
		if in == nil {
			a.ssm.problem("session %s: stream data before the handshake completed", a.id)
			return
		}
		payload := m.Payload
		if c != nil {
			var err error
			if payload, err = c.open(payload); err != nil {
				a.ssm.problem("session %s: a stream payload does not decrypt with the session's data key (second half): %v", a.id, err)
				return
			}
			a.ssm.mu.Lock()
			a.ssm.opened++
			a.ssm.mu.Unlock()
		}
		// Counted first: a cut it triggers comes before the agent acts on
		// the data, so whatever it answers (a server's greeting) can only
		// reach the client through the resumed channel.
		a.count(len(payload))
		_, _ = in.Write(payload)
	case ssm.PayloadFlag:
		f, err := ssm.ParseFlag(m.Payload)
		if err != nil {
			a.ssm.problem("session %s: %v", a.id, err)
			return
		}
		if f == ssm.FlagTerminateSession {
			a.terminate()
		}
	default:
		a.ssm.problem("session %s: unexpected payload type %d from the client", a.id, m.PayloadType)
	}
}

// complete ends the handshake (HandshakeComplete) and starts serving the
// multiplexed streams.
func (a *agentSession) complete() {
	a.mu.Lock()
	a.handshaken = true
	pr, pw := io.Pipe()
	a.muxIn = pw
	encrypted := a.cipher != nil
	a.mu.Unlock()
	conf := smux.DefaultConfig()
	conf.Version = 1
	conf.KeepAliveDisabled = true
	mux, err := smux.Server(&agentStream{a: a, r: pr}, conf)
	if err != nil {
		a.ssm.problem("session %s: smux: %v", a.id, err)
		return
	}
	a.mu.Lock()
	a.mux = mux
	a.mu.Unlock()
	go a.acceptStreams(mux)
	msg := ssm.HandshakeComplete{HandshakeTimeToComplete: 5 * time.Millisecond}
	if encrypted {
		msg.CustomerMessage = "This session is encrypted using AWS KMS."
	}
	a.send(ssm.PayloadHandshakeComplete, mustJSON(msg))
}

// startEncryption decrypts the client's data key under the session's
// encryption context and sends the encryption challenge, as the agent's
// finalizeKMSEncryption and sendEncryptionChallenge do.
func (a *agentSession) startEncryption(result json.RawMessage) {
	var r struct {
		KMSCipherTextKey []byte `json:"KMSCipherTextKey"`
	}
	if err := json.Unmarshal(result, &r); err != nil || len(r.KMSCipherTextKey) == 0 {
		a.ssm.problem("session %s: the KMSEncryption result %s has no KMSCipherTextKey (%v)", a.id, result, err)
		a.sendClosed("handshake failed: no encrypted data key")
		return
	}
	if a.ssm.KMS == nil {
		a.ssm.problem("session %s: the stand-in has no KMS client to decrypt the data key", a.id)
		a.sendClosed("handshake failed: no KMS")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := a.ssm.KMS.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: r.KMSCipherTextKey, KeyId: aws.String(a.faults.KMSKeyID),
		EncryptionContext: map[string]string{"aws:ssm:SessionId": a.id, "aws:ssm:TargetId": a.target}})
	if err != nil {
		a.ssm.problem("session %s: kms:Decrypt of the client's data key under the session's encryption context: %v", a.id, err)
		a.sendClosed("handshake failed: Fetching data key failed")
		return
	}
	c, err := newAgentCipher(out.Plaintext)
	if err != nil {
		a.ssm.problem("session %s: %v", a.id, err)
		a.sendClosed("handshake failed: " + err.Error())
		return
	}
	challenge := make([]byte, 64)
	_, _ = rand.Read(challenge)
	a.mu.Lock()
	a.cipher, a.challenge = c, challenge
	a.mu.Unlock()
	a.send(ssm.PayloadEncChallengeReq, mustJSON(map[string][]byte{"Challenge": c.seal(challenge)}))
}

// checkChallenge verifies the client's answer: the challenge, opened with
// the agent's half and sealed again with the client's.
func (a *agentSession) checkChallenge(payload []byte) {
	a.mu.Lock()
	c, want := a.cipher, a.challenge
	a.mu.Unlock()
	if c == nil || want == nil {
		a.ssm.problem("session %s: an encryption challenge response without a challenge", a.id)
		return
	}
	var r struct {
		Challenge []byte `json:"Challenge"`
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		a.ssm.problem("session %s: the challenge response does not parse: %v", a.id, err)
		a.sendClosed("handshake failed")
		return
	}
	got, err := c.open(r.Challenge)
	if err != nil || !bytes.Equal(got, want) {
		a.ssm.problem("session %s: encryption challenge does not match (%v)", a.id, err)
		a.sendClosed("handshake failed: Encryption challenge does not match!")
		return
	}
	a.ssm.mu.Lock()
	a.ssm.encrypted++
	a.ssm.mu.Unlock()
	a.complete()
}

// count applies the byte-count faults.
func (a *agentSession) count(n int) {
	a.mu.Lock()
	a.bytes += n
	drop := a.faults.DropAfterBytes > 0 && a.bytes >= a.faults.DropAfterBytes && !a.dropped
	closeIt := a.faults.CloseAfterBytes > 0 && a.bytes >= a.faults.CloseAfterBytes && !a.closed
	if drop {
		a.dropped = true
	}
	if closeIt {
		a.closed = true
	}
	ws := a.ws
	a.mu.Unlock()
	if drop {
		a.wmu.Lock()
		a.cut = ws
		ws.CloseNow() // no close frame: a network cut
		a.wmu.Unlock()
	}
	if closeIt {
		a.sendClosed("Session terminated by the test-bed (CloseAfterBytes).")
	}
}

func (a *agentSession) sendClosed(output string) {
	body := mustJSON(ssm.ChannelClosed{MessageID: ssm.NewUUID().String(), SessionID: a.id, DestinationID: a.target,
		MessageType: ssm.TypeChannelClosed, SchemaVersion: 1, Output: output, CreatedDate: time.Now().UTC().Format(time.RFC3339)})
	m := ssm.Message{Type: ssm.TypeChannelClosed, SchemaVersion: 1, CreatedDate: uint64(time.Now().UnixMilli()), ID: ssm.NewUUID(), Payload: body}
	raw, _ := m.Marshal()
	a.mu.Lock()
	ws := a.ws
	a.mu.Unlock()
	a.writeRaw(ws, raw)
	a.terminate()
}

// acceptStreams connects each multiplexed stream to the port on loopback,
// as the agent connects to localhost:portNumber on the instance.
func (a *agentSession) acceptStreams(mux *smux.Session) {
	for {
		st, err := mux.AcceptStream()
		if err != nil {
			return
		}
		go func() {
			defer st.Close()
			a.ssm.streamOpened(1)
			defer a.ssm.streamOpened(-1)
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: a.ssm.Source}
			c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", a.port))
			if err != nil {
				a.send(ssm.PayloadFlag, ssm.FlagPayload(ssm.FlagConnectToPortError))
				return
			}
			defer c.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(c, st); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { _, _ = io.Copy(st, c); st.Close(); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

// agentStream carries smux over the agent's side of the data channel.
type agentStream struct {
	a *agentSession
	r *io.PipeReader
}

func (s *agentStream) Read(p []byte) (int, error) { return s.r.Read(p) }
func (s *agentStream) Write(p []byte) (int, error) {
	if s.a.isTerminated() {
		return 0, errors.New("session terminated")
	}
	n := 0
	for len(p) > 0 {
		k := min(len(p), 1024)
		// Counted first: a drop it triggers then comes before the data,
		// which must reach the client through the resumed channel.
		s.a.count(k)
		chunk := append([]byte(nil), p[:k]...)
		s.a.mu.Lock()
		c := s.a.cipher
		s.a.mu.Unlock()
		if c != nil {
			chunk = c.seal(chunk)
		}
		s.a.send(ssm.PayloadOutput, chunk)
		n += k
		p = p[k:]
	}
	return n, nil
}
func (s *agentStream) Close() error { return s.r.Close() }
