package ssm_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel"
	tssm "github.com/packer-bakery/packer-plugin-bakery/common/tunnel/ssm"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/tunnels"
)

// echoServer plays the instance's port: it echoes every byte back.
func echoServer(t *testing.T) int {
	t.Helper()
	port, stop, err := tunnels.Serve(tunnels.Echo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return port
}

func setup(t *testing.T, faults tunnels.SSMFaults) (*tunnels.SSM, *tunnels.SSMClient, tssm.Config) {
	t.Helper()
	s, err := tunnels.StartSSM()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.SetFaults(faults)
	api := &tunnels.SSMClient{S: s}
	cfg := tssm.Config{API: api, InstanceID: "i-0123456789abcdef0", Port: echoServer(t), Region: "us-east-1",
		RegistrationWait: time.Second, Logf: t.Logf, Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
	return s, api, cfg
}

// echo sends n random bytes through the forwarder and checks they come back.
func echo(t *testing.T, addr string, n int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	want := make([]byte, n)
	_, _ = rand.Read(want)
	errc := make(chan error, 1)
	go func() { _, err := c.Write(want); errc <- err }()
	got := make([]byte, n)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return errors.New("echoed bytes differ")
	}
	return nil
}

// openListening opens a tunnel and a local listener riding it.
func openListening(t *testing.T, cfg tssm.Config) (*tssm.Tunnel, *tunnel.Forwarder) {
	t.Helper()
	tun, err := tssm.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := tunnel.Listen(tun, 0, t.Logf)
	if err != nil {
		tun.Close()
		t.Fatal(err)
	}
	return tun, f
}

// echoAll echoes n random bytes over conns connections at once.
func echoAll(t *testing.T, addr string, conns, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- echo(t, addr, n) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestSessionMultiplexesConnections(t *testing.T) {
	s, api, cfg := setup(t, tunnels.SSMFaults{})
	tun, f := openListening(t, cfg)
	echoAll(t, f.Addr().String(), 5, 300_000)
	if api.Starts != 1 {
		t.Errorf("%d StartSession calls for 5 connections, want 1 (multiplexed)", api.Starts)
	}
	if n := s.MaxStreams(); n != 5 {
		t.Errorf("at most %d connections were open at once through the session, want 5", n)
	}
	f.Close()
	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	if len(api.Terminated) != 1 || len(s.Active()) != 0 {
		t.Errorf("after Close: TerminateSession for %v, still active %v", api.Terminated, s.Active())
	}
	if p := s.Problems(); len(p) > 0 {
		t.Errorf("the stand-in agent saw protocol problems: %v", p)
	}
}

// A websocket cut mid-stream is resumed (ResumeSession, new websocket,
// unacknowledged messages sent again) without losing a byte.
func TestSessionSurvivesDroppedWebsocket(t *testing.T) {
	s, api, cfg := setup(t, tunnels.SSMFaults{DropAfterBytes: 100_000})
	tun, err := tssm.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	f, _ := tunnel.Listen(tun, 0, t.Logf)
	defer f.Close()
	if err := echo(t, f.Addr().String(), 400_000); err != nil {
		t.Fatal(err)
	}
	if api.Starts != 1 {
		t.Errorf("%d sessions started, want 1: the drop should have been resumed", api.Starts)
	}
	if s.Resumes() != 1 {
		t.Errorf("%d resumes, want 1: did the websocket drop?", s.Resumes())
	}
	if p := s.Problems(); len(p) > 0 {
		t.Errorf("protocol problems: %v", p)
	}
}

// A session AWS ends (channel_closed) breaks its connections; the next
// connection gets a new session.
func TestTunnelReplacesClosedSession(t *testing.T) {
	_, api, cfg := setup(t, tunnels.SSMFaults{CloseAfterBytes: 50_000})
	tun, err := tssm.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	f, _ := tunnel.Listen(tun, 0, t.Logf)
	defer f.Close()
	begin := time.Now()
	if err := echo(t, f.Addr().String(), 200_000); err == nil {
		t.Fatal("a connection survived the end of its session")
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("the connection noticed the end of its session after %s, want at once", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := echo(t, f.Addr().String(), 10_000)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new session after the first was closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ids := tun.SessionIDs(); len(ids) != 2 || api.Starts != 2 {
		t.Fatalf("sessions %v, StartSession calls %d; want 2", ids, api.Starts)
	}
}

func TestStartNotConnectedSaysWhatToFix(t *testing.T) {
	_, api, cfg := setup(t, tunnels.SSMFaults{NoAgent: map[string]bool{"i-0123456789abcdef0": true}})
	begin := time.Now()
	_, err := tssm.Open(context.Background(), cfg)
	var nc *tssm.NotConnectedError
	if !errors.As(err, &nc) {
		t.Fatalf("error %v, want NotConnectedError", err)
	}
	for _, want := range []string{"i-0123456789abcdef0", "SSM agent", "AmazonSSMManagedInstanceCore", "ssmmessages", "TargetNotConnected"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("took %s with RegistrationWait 1s", d)
	}
	if api.Starts < 2 {
		t.Errorf("StartSession tried %d times, want retries while waiting", api.Starts)
	}
}

const testKey = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// An account whose Session Manager preferences encrypt sessions with KMS:
// the client makes the data key, the stand-in agent decrypts it under the
// session's encryption context, the challenge passes, and every stream
// payload crosses the data channel sealed, several connections at once.
func TestSessionKMSEncrypted(t *testing.T) {
	s, api, cfg := setup(t, tunnels.SSMFaults{KMSKeyID: testKey})
	kms := &tunnels.FakeKMS{Keys: map[string]bool{testKey: true}}
	s.KMS, cfg.KMS = kms, kms
	tun, f := openListening(t, cfg)
	echoAll(t, f.Addr().String(), 3, 100_000)
	f.Close()
	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	if p := s.Problems(); len(p) > 0 {
		t.Fatalf("the stand-in agent saw protocol problems: %v", p)
	}
	sessions, payloads := s.Encrypted()
	if sessions != 1 || payloads < 300 || kms.Generated() != 1 {
		t.Errorf("%d encrypted sessions, %d payloads opened by the agent, %d data keys; want 1, ≥300 (3×100 kB in 1 kB chunks), 1", sessions, payloads, kms.Generated())
	}
	if len(api.Terminated) != 1 || len(s.Active()) != 0 {
		t.Errorf("after Close: TerminateSession for %v, still active %v", api.Terminated, s.Active())
	}
}

// KMS refuses the data key (no kms:GenerateDataKey on the account's key):
// the start fails at once, naming the key, the call and the cause, and the
// session is terminated.
func TestSessionKMSRefusedSaysWhatToFix(t *testing.T) {
	s, api, cfg := setup(t, tunnels.SSMFaults{KMSKeyID: testKey})
	kms := &tunnels.FakeKMS{Keys: map[string]bool{testKey: true}, Refuse: "AccessDeniedException"}
	s.KMS, cfg.KMS = kms, kms
	begin := time.Now()
	_, err := tssm.Open(context.Background(), cfg)
	if err == nil {
		t.Fatal("the session started without a data key")
	}
	for _, want := range []string{testKey, "kms:GenerateDataKey", "AccessDeniedException", "Session Manager preferences"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
	if len(api.Terminated) != 1 || len(s.Active()) != 0 {
		t.Errorf("a failed start left sessions: terminated %v, active %v", api.Terminated, s.Active())
	}
}

// Without a KMS client the client cannot make the key, and says so.
func TestSessionKMSWithoutClient(t *testing.T) {
	s, _, cfg := setup(t, tunnels.SSMFaults{KMSKeyID: testKey})
	s.KMS = &tunnels.FakeKMS{Keys: map[string]bool{testKey: true}}
	_, err := tssm.Open(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "no KMS client") || !strings.Contains(err.Error(), testKey) {
		t.Fatalf("error %v", err)
	}
}

func TestStreamURLMustBeSecure(t *testing.T) {
	_, _, cfg := setup(t, tunnels.SSMFaults{})
	cfg.API = insecureURL{cfg.API}
	_, err := tssm.Open(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "only wss://") {
		t.Fatalf("error %v", err)
	}
}

type insecureURL struct{ tssm.API }

func (i insecureURL) StartSession(ctx context.Context, in *ssm.StartSessionInput, o ...func(*ssm.Options)) (*ssm.StartSessionOutput, error) {
	out, err := i.API.StartSession(ctx, in, o...)
	if err == nil {
		u := strings.Replace(aws.ToString(out.StreamUrl), "127.0.0.1", "example.com", 1)
		out.StreamUrl = &u
	}
	return out, err
}

// The websocket upgrade is SigV4-signed for ssmmessages, as the plugin
// signs it; the stand-in checks the signature with the SDK's signer.
func TestDataChannelUpgradeIsSigned(t *testing.T) {
	s, _, cfg := setup(t, tunnels.SSMFaults{})
	cfg.Credentials = credentials.NewStaticCredentialsProvider("testing", "not-the-secret", "")
	_, err := tssm.Open(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("error %v, want the upgrade refused", err)
	}
	if p := s.Problems(); len(p) != 1 || !strings.Contains(p[0], "signature does not match") {
		t.Fatalf("problems %v", p)
	}
}

// Encryption outlives the websocket: a cut channel is resumed with the
// same data key (the resent messages are already sealed), and a session
// AWS ends is replaced by one with a data key of its own.
func TestSessionKMSAcrossDropAndReplacement(t *testing.T) {
	t.Run("resumed", func(t *testing.T) {
		s, _, cfg := setup(t, tunnels.SSMFaults{KMSKeyID: testKey, DropAfterBytes: 100_000})
		kms := &tunnels.FakeKMS{Keys: map[string]bool{testKey: true}}
		s.KMS, cfg.KMS = kms, kms
		tun, f := openListening(t, cfg)
		defer tun.Close()
		defer f.Close()
		echoAll(t, f.Addr().String(), 1, 400_000)
		if s.Resumes() != 1 || kms.Generated() != 1 {
			t.Errorf("%d resumes, %d data keys; want 1 and 1", s.Resumes(), kms.Generated())
		}
		if p := s.Problems(); len(p) > 0 {
			t.Errorf("protocol problems: %v", p)
		}
	})
	t.Run("replaced", func(t *testing.T) {
		s, api, cfg := setup(t, tunnels.SSMFaults{KMSKeyID: testKey, CloseAfterBytes: 50_000})
		kms := &tunnels.FakeKMS{Keys: map[string]bool{testKey: true}}
		s.KMS, cfg.KMS = kms, kms
		tun, f := openListening(t, cfg)
		defer tun.Close()
		defer f.Close()
		if err := echo(t, f.Addr().String(), 200_000); err == nil {
			t.Fatal("a connection survived the end of its session")
		}
		deadline := time.Now().Add(5 * time.Second)
		for echo(t, f.Addr().String(), 10_000) != nil {
			if time.Now().After(deadline) {
				t.Fatal("no new session after the first was closed")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if sessions, _ := s.Encrypted(); api.Starts != 2 || kms.Generated() != 2 || sessions != 2 {
			t.Errorf("%d sessions, %d data keys, %d encrypted; want 2 each", api.Starts, kms.Generated(), sessions)
		}
	})
}
