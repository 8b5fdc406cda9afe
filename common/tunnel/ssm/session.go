package ssm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	"github.com/coder/websocket"
	"github.com/xtaci/smux"
)

// PortForwardingDocument is the SSM document whose sessions forward one
// port of the instance.
const PortForwardingDocument = "AWS-StartPortForwardingSession"

// Agent versions that change the protocol (src/config/config.go): the
// session-manager-plugin multiplexes TCP connections over one session only
// with agents after 3.0.196.0, leaves smux keep-alive on for agents up to
// 3.1.1511.0, and sends the TerminateSession flag to agents after 2.3.722.0.
const (
	muxAfter           = "3.0.196.0"
	noKeepAliveAfter   = "3.1.1511.0"
	terminateFlagAfter = "2.3.722.0"
)

// API is the part of the SSM client a session uses; *ssm.Client has it.
type API interface {
	StartSession(context.Context, *ssm.StartSessionInput, ...func(*ssm.Options)) (*ssm.StartSessionOutput, error)
	ResumeSession(context.Context, *ssm.ResumeSessionInput, ...func(*ssm.Options)) (*ssm.ResumeSessionOutput, error)
	TerminateSession(context.Context, *ssm.TerminateSessionInput, ...func(*ssm.Options)) (*ssm.TerminateSessionOutput, error)
}

// Config says where to forward to and how to reach Session Manager.
type Config struct {
	API        API
	InstanceID string
	Port       int // the instance's port, 22 for SSH
	Region     string
	// Credentials sign the websocket upgrade (service ssmmessages), as the
	// plugin does when StreamUrl is not presigned.
	Credentials aws.CredentialsProvider
	// HTTPClient dials the websocket; nil means http.DefaultClient. Give it
	// the SDK's transport so proxies and CA bundles apply.
	HTTPClient *http.Client
	// RegistrationWait is how long StartSession's TargetNotConnected is
	// retried: the agent registers a minute or so after boot.
	RegistrationWait time.Duration
	// ClientVersion is sent to the service and the agent.
	ClientVersion string
	// KMS makes the session's data key when the account's Session Manager
	// preferences encrypt sessions with a KMS key; nil refuses such
	// sessions, saying why.
	KMS  KMSAPI
	Logf func(format string, args ...any)
}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// Session is one port-forwarding session: Dial opens a TCP connection to
// the instance's port through it. Close ends it on AWS too.
type Session struct {
	cfg      Config
	id       string
	url      string
	clientID string
	ch       *channel
	mux      *smux.Session
	pipeW    *io.PipeWriter
	agent    string
	// enc seals and opens stream payloads once the handshake agreed on KMS
	// encryption; set by the read loop before the mux starts.
	enc *sessionCipher

	ready    chan error // the handshake's outcome
	readyOne sync.Once
	connErr  chan struct{}

	closeOnce sync.Once
	closeErr  error

	// smux registers a stream only after its SYN is written; on a fast
	// link the agent's answer can arrive before, and smux drops frames of
	// a stream it does not know (a server's greeting lost: a hang). So
	// while a SYN is out and OpenStream has not returned, the agent's
	// frames wait. dialMu keeps one OpenStream at a time.
	dialMu  sync.Mutex
	synMu   sync.Mutex
	synDone *sync.Cond
	synOut  bool
}

// ID is the session's id, for messages and `aws ssm terminate-session`.
func (s *Session) ID() string { return s.id }

// AgentVersion is the SSM agent's version from the handshake.
func (s *Session) AgentVersion() string { return s.agent }

// Start starts a port-forwarding session to cfg.InstanceID and completes
// the handshake. While the instance is not yet connected to Session
// Manager it retries for cfg.RegistrationWait, then says what to fix.
func Start(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.ClientVersion == "" {
		cfg.ClientVersion = "1.2.0.0"
	}
	out, err := startSession(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Session{
		cfg: cfg, id: aws.ToString(out.SessionId), url: aws.ToString(out.StreamUrl),
		clientID: NewUUID().String(), ready: make(chan error, 1),
	}
	s.synDone = sync.NewCond(&s.synMu)
	fail := func(err error) (*Session, error) {
		s.Close()
		return nil, err
	}
	if err := checkStreamURL(s.url); err != nil {
		return fail(err)
	}
	ws, err := s.open(ctx, aws.ToString(out.TokenValue))
	if err != nil {
		return fail(fmt.Errorf("opening the data channel of Session Manager session %s: %w", s.id, err))
	}
	s.ch = newChannel(s, ws, s.onStream)
	s.ch.start()
	select {
	case err = <-s.ready:
	case <-s.ch.done:
		err = s.ch.Err()
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(2 * time.Minute):
		err = errors.New("the SSM agent did not complete the handshake within 2 minutes")
	}
	if err != nil {
		return fail(fmt.Errorf("Session Manager session %s to %s: %w", s.id, cfg.InstanceID, err))
	}
	return s, nil
}

func startSession(ctx context.Context, cfg Config) (*ssm.StartSessionOutput, error) {
	in := &ssm.StartSessionInput{
		Target:       aws.String(cfg.InstanceID),
		DocumentName: aws.String(PortForwardingDocument),
		Parameters:   map[string][]string{"portNumber": {strconv.Itoa(cfg.Port)}},
		Reason:       aws.String("packer build (bakery)"),
	}
	deadline := time.Now().Add(cfg.RegistrationWait)
	logged := false
	for {
		out, err := cfg.API.StartSession(ctx, in)
		if err == nil {
			return out, nil
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "TargetNotConnected" {
			return nil, fmt.Errorf("starting a Session Manager session to %s (ssm:StartSession, document %s): %w", cfg.InstanceID, PortForwardingDocument, err)
		}
		if !time.Now().Before(deadline) {
			return nil, &NotConnectedError{InstanceID: cfg.InstanceID, Waited: cfg.RegistrationWait, Cause: err}
		}
		if !logged {
			cfg.logf("Waiting up to %s for instance %s to connect to Session Manager (its SSM agent registers after boot)...", cfg.RegistrationWait.Round(time.Second), cfg.InstanceID)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(5*time.Second, max(time.Until(deadline), 100*time.Millisecond))):
		}
	}
}

// NotConnectedError: the instance never registered with Session Manager.
type NotConnectedError struct {
	InstanceID string
	Waited     time.Duration
	Cause      error
}

func (e *NotConnectedError) Error() string {
	return fmt.Sprintf("instance %s is not connected to Session Manager after %s (%v). "+
		"Session Manager needs, on the instance: the SSM agent running (AWS's Amazon Linux, Ubuntu and Windows AMIs have it; others must install it), "+
		"an instance profile whose role has the AmazonSSMManagedInstanceCore policy (`iam_instance_profile` or `temporary_iam_instance_profile_policy_document`) unless the account uses Default Host Management Configuration, "+
		"and a route to the ssm, ssmmessages and ec2messages endpoints of the region (a NAT gateway or VPC interface endpoints). "+
		"If the agent is just slow to start, raise `ssh_timeout`", e.InstanceID, e.Waited.Round(time.Second), e.Cause)
}

func (e *NotConnectedError) Unwrap() error { return e.Cause }

// checkStreamURL allows wss, and plain ws only to loopback (the test-bed):
// the token and the TCP stream must not cross a network in clear text.
func checkStreamURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("StartSession returned a stream URL that does not parse: %w", err)
	}
	switch u.Scheme {
	case "wss":
		return nil
	case "ws":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return nil
		}
	}
	return fmt.Errorf("StartSession returned stream URL %s: only wss:// (or ws:// to loopback) is accepted", u.Redacted())
}

// open dials the data channel and presents the token (FinalizeDataChannelHandshake).
func (s *Session) open(ctx context.Context, token string) (*websocket.Conn, error) {
	header := http.Header{}
	if !presigned(s.url) && s.cfg.Credentials != nil {
		h, err := s.sign(ctx)
		if err != nil {
			return nil, err
		}
		header = h
	}
	ws, resp, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{HTTPClient: s.cfg.HTTPClient, HTTPHeader: header})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket upgrade refused with HTTP %s: %w", resp.Status, err)
		}
		return nil, err
	}
	body, _ := json.Marshal(OpenDataChannel{
		MessageSchemaVersion: "1.0", RequestID: NewUUID().String(), TokenValue: token,
		ClientID: s.clientID, ClientVersion: s.cfg.ClientVersion,
	})
	if err := ws.Write(ctx, websocket.MessageText, body); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("sending the session token: %w", err)
	}
	return ws, nil
}

func (s *Session) resume(ctx context.Context) (string, error) {
	out, err := s.cfg.API.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(s.id)})
	if err != nil {
		return "", fmt.Errorf("ssm:ResumeSession %s: %w", s.id, err)
	}
	return aws.ToString(out.TokenValue), nil
}

// sign signs the websocket upgrade request's headers with SigV4 for
// ssmmessages, as the plugin's getV4SignatureHeader does.
func (s *Session) sign(ctx context.Context) (http.Header, error) {
	creds, err := s.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials for the data channel: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	empty := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(empty[:]), "ssmmessages", s.cfg.Region, time.Now()); err != nil {
		return nil, fmt.Errorf("signing the data channel request: %w", err)
	}
	req.Header.Del("Host")
	return req.Header, nil
}

func presigned(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	q := u.Query()
	return q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential")
}

// onStream handles in-order stream messages: the handshake, then the
// multiplexed TCP stream.
func (s *Session) onStream(m *Message) error {
	switch m.PayloadType {
	case PayloadHandshakeRequest:
		return s.handshake(m)
	case PayloadHandshakeComplete:
		// The agent's note for the user, e.g. that the session is
		// encrypted with KMS.
		var hc HandshakeComplete
		if json.Unmarshal(m.Payload, &hc) == nil && hc.CustomerMessage != "" {
			s.cfg.logf("Session Manager session %s: %s", s.id, hc.CustomerMessage)
		}
		s.readyOne.Do(func() { s.ready <- s.startMux() })
		return nil
	case PayloadEncChallengeReq:
		return s.challenge(m)
	case PayloadOutput:
		if s.pipeW == nil {
			return nil
		}
		payload := m.Payload
		if s.enc != nil {
			var err error
			if payload, err = s.enc.Open(payload); err != nil {
				return fmt.Errorf("Session Manager session %s: %w", s.id, err)
			}
		}
		s.waitOpened()
		_, err := s.pipeW.Write(payload)
		if err != nil {
			return errClosed
		}
		return nil
	case PayloadFlag:
		if f, err := ParseFlag(m.Payload); err == nil && f == FlagConnectToPortError {
			s.cfg.logf("Session Manager: the SSM agent on %s could not connect to port %d (is the SSH server listening there?)", s.cfg.InstanceID, s.cfg.Port)
		}
		return nil
	}
	return nil
}

// handshake answers the agent's HandshakeRequest. Only what a port session
// needs is accepted: a SessionType of Port, and KMS encryption (a Session
// Manager preference of the account) when Config.KMS can make the key.
func (s *Session) handshake(m *Message) error {
	var req HandshakeRequest
	if err := json.Unmarshal(m.Payload, &req); err != nil {
		return fmt.Errorf("the agent's handshake request does not parse: %w", err)
	}
	s.agent = req.AgentVersion
	resp := HandshakeResponse{ClientVersion: s.cfg.ClientVersion, ProcessedClientActions: []ProcessedAction{}}
	var problem error
	for _, a := range req.RequestedClientActions {
		p := ProcessedAction{ActionType: a.ActionType, ActionStatus: StatusSuccess}
		switch a.ActionType {
		case ActionSessionType:
			var st SessionTypeRequest
			var props PortProperties
			_ = json.Unmarshal(a.ActionParameters, &st)
			_ = json.Unmarshal(st.Properties, &props)
			if st.SessionType != "Port" || props.Type != "LocalPortForwarding" {
				p.ActionStatus, p.Error = StatusFailed, fmt.Sprintf("session type %s (%s) is not a port-forwarding session", st.SessionType, props.Type)
				problem = fmt.Errorf("the agent started a %q session of type %q, not the port forwarding of %s", st.SessionType, props.Type, PortForwardingDocument)
			}
		case ActionKMSEncryption:
			var k KMSEncryptionRequest
			_ = json.Unmarshal(a.ActionParameters, &k)
			blob, err := s.encrypt(k.KMSKeyID)
			if err != nil {
				p.ActionStatus, p.Error = StatusFailed, "KMS encryption: "+err.Error()
				problem = err
			} else {
				p.ActionResult = KMSEncryptionResponse{KMSCipherTextKey: blob}
			}
		default:
			p.ActionStatus, p.Error = StatusUnsupported, "unsupported action "+a.ActionType
		}
		if p.Error != "" {
			resp.Errors = append(resp.Errors, p.Error)
		}
		resp.ProcessedClientActions = append(resp.ProcessedClientActions, p)
	}
	body, _ := json.Marshal(resp)
	if err := s.ch.send(PayloadHandshakeResponse, body); err != nil {
		return err
	}
	if problem != nil {
		s.readyOne.Do(func() { s.ready <- problem })
	}
	return nil
}

// kmsWait bounds the GenerateDataKey call of a handshake; the agent gives
// the whole handshake 15 seconds.
const kmsWait = 15 * time.Second

// encrypt makes the session's data key with the account's KMS key and
// keeps the cipher; it returns the encrypted copy for the agent.
func (s *Session) encrypt(keyID string) ([]byte, error) {
	if s.cfg.KMS == nil {
		return nil, fmt.Errorf("the account's Session Manager preferences encrypt sessions with KMS key %s, and this client was given no KMS client to make the session's data key", keyID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), kmsWait)
	defer cancel()
	plain, blob, err := dataKey(ctx, s.cfg.KMS, keyID, s.id, s.cfg.InstanceID)
	if err != nil {
		return nil, fmt.Errorf("the account's Session Manager preferences encrypt sessions with KMS key %s, and kms:GenerateDataKey on it failed: "+
			"allow the build's principal kms:GenerateDataKey on that key (its IAM policy, and the key policy), or turn KMS encryption off in the Session Manager preferences of this region: %w", keyID, err)
	}
	enc, err := newClientCipher(plain)
	clear(plain)
	if err != nil {
		return nil, err
	}
	s.enc = enc
	return blob, nil
}

// challenge answers the agent's encryption challenge: random bytes it
// sealed with its half of the key, returned opened and sealed with ours.
// Until it is answered the agent does not complete the handshake.
func (s *Session) challenge(m *Message) error {
	if s.enc == nil {
		return errors.New("the SSM agent sent an encryption challenge, but the handshake did not agree on KMS encryption")
	}
	var req EncryptionChallenge
	if err := json.Unmarshal(m.Payload, &req); err != nil {
		return fmt.Errorf("the agent's encryption challenge does not parse: %w", err)
	}
	plain, err := s.enc.Open(req.Challenge)
	if err != nil {
		return fmt.Errorf("the agent's encryption challenge: %w: the agent and this client do not hold the same key", err)
	}
	sealed, err := s.enc.Seal(plain)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(EncryptionChallenge{Challenge: sealed})
	return s.ch.send(PayloadEncChallengeResp, body)
}

// startMux starts the smux client that carries each TCP connection as one
// stream, as the plugin's MuxPortForwarding does. smux protocol version 1
// (smux.DefaultConfig) is what the plugin and the agent speak.
func (s *Session) startMux() error {
	if !versionAfter(s.agent, muxAfter) {
		return fmt.Errorf("the SSM agent on %s is version %s; several connections over one session need a version after %s: update the agent (package amazon-ssm-agent)", s.cfg.InstanceID, s.agent, muxAfter)
	}
	pr, pw := io.Pipe()
	s.pipeW = pw
	conf := smux.DefaultConfig()
	conf.Version = 1
	if versionAfter(s.agent, noKeepAliveAfter) {
		// The agent disables it too; keep-alives would defeat Session
		// Manager's idle timeout.
		conf.KeepAliveDisabled = true
	}
	mux, err := smux.Client(&streamConn{s: s, r: pr}, conf)
	if err != nil {
		return err
	}
	s.mux = mux
	// When the channel ends, so do its TCP connections: an SSH client
	// must see the break at once, not wait out its own timeout.
	go func() {
		<-s.ch.done
		pw.CloseWithError(errClosed)
		mux.Close()
	}()
	return nil
}

// Dial opens one TCP connection to the instance's port.
func (s *Session) Dial(ctx context.Context) (net.Conn, error) {
	if err := s.ch.Err(); err != nil {
		return nil, err
	}
	s.dialMu.Lock()
	st, err := s.mux.OpenStream()
	s.synMu.Lock()
	s.synOut = false
	s.synDone.Broadcast()
	s.synMu.Unlock()
	s.dialMu.Unlock()
	if err != nil {
		if cerr := s.ch.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, fmt.Errorf("opening a stream in Session Manager session %s: %w", s.id, err)
	}
	return st, nil
}

// synWait bounds how long the agent's frames wait for OpenStream to
// return once its SYN is out: it has nothing left to wait for but a lock,
// so this only guards against a smux that behaves otherwise.
const synWait = 5 * time.Second

// waitOpened returns once no SYN is waiting for smux to register its
// stream (or after synWait).
func (s *Session) waitOpened() {
	s.synMu.Lock()
	defer s.synMu.Unlock()
	if !s.synOut {
		return
	}
	t := time.AfterFunc(synWait, func() {
		s.synMu.Lock()
		s.synOut = false
		s.synDone.Broadcast()
		s.synMu.Unlock()
	})
	defer t.Stop()
	for s.synOut {
		s.synDone.Wait()
	}
}

// Done is closed when the session has ended; Err then says why.
func (s *Session) Done() <-chan struct{} { return s.ch.done }

// Err is why the session ended (nil while it runs).
func (s *Session) Err() error {
	if s.ch == nil {
		return nil
	}
	err := s.ch.Err()
	if errors.Is(err, errClosed) {
		return nil
	}
	return err
}

// Close tells the agent to end the session, closes the data channel and
// calls TerminateSession, so no session outlives the build. It is
// idempotent.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		if s.ch != nil {
			// From here a websocket that closes is the end, not a drop to
			// resume: the agent closes it on the TerminateSession flag.
			s.ch.beginClose()
			if s.ch.Err() == nil && versionAfter(s.agent, terminateFlagAfter) {
				_ = s.ch.send(PayloadFlag, FlagPayload(FlagTerminateSession))
			}
			if s.mux != nil {
				s.mux.Close()
			}
			s.ch.close()
			if s.pipeW != nil {
				s.pipeW.CloseWithError(errClosed)
			}
		}
		if s.id == "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := s.cfg.API.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: aws.String(s.id)}); err != nil {
			s.closeErr = fmt.Errorf("terminating Session Manager session %s (end it by hand: aws ssm terminate-session --session-id %s): %w", s.id, s.id, err)
		}
	})
	return s.closeErr
}

// streamConn is the byte stream smux runs over: reads are the agent's
// Output payloads in order, writes go out as Output messages of at most
// chunkSize bytes.
type streamConn struct {
	s *Session
	r *io.PipeReader
}

func (c *streamConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// smux frames: version, command, length (2 bytes), stream id (4 bytes);
// smux writes each frame with one Write.
const (
	smuxHeader = 8
	smuxSYN    = 0
)

func (c *streamConn) Write(p []byte) (int, error) {
	if len(p) == smuxHeader && p[1] == smuxSYN {
		c.s.synMu.Lock()
		c.s.synOut = true
		c.s.synMu.Unlock()
	}
	n := 0
	for len(p) > 0 {
		k := min(len(p), chunkSize)
		chunk := p[:k]
		if c.s.enc != nil {
			var err error
			if chunk, err = c.s.enc.Seal(chunk); err != nil {
				return n, err
			}
		}
		// send keeps its own copy (the marshalled message).
		if err := c.s.ch.send(PayloadOutput, chunk); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

func (c *streamConn) Close() error { return c.r.Close() }

// versionAfter reports whether dotted version v is strictly greater than
// ref; an unparsable v counts as older, as in the plugin.
func versionAfter(v, ref string) bool {
	a, b := strings.Split(v, "."), strings.Split(ref, ".")
	for i := 0; i < max(len(a), len(b)); i++ {
		x, y := 0, 0
		var err error
		if i < len(a) {
			if x, err = strconv.Atoi(a[i]); err != nil {
				return false
			}
		}
		if i < len(b) {
			y, _ = strconv.Atoi(b[i])
		}
		if x != y {
			return x > y
		}
	}
	return false
}
