package tunnels

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/coder/websocket"
)

// EICEFaults change how the endpoint stand-in behaves.
type EICEFaults struct {
	// CloseAfterBytes: each tunnel is closed with CloseCode and
	// CloseReason once this many bytes have passed (either way).
	CloseAfterBytes int
	CloseCode       int
	CloseReason     string
	// CloseMax: only this many tunnels are closed so (0: every one).
	CloseMax int
	// MaxTunnelDuration, when shorter than the tunnel asked for
	// (maxTunnelDuration, at most AWS's one hour), is when each tunnel is
	// cut, as AWS cuts every tunnel at its maximum duration: a test sees an
	// hour's limit in seconds.
	MaxTunnelDuration time.Duration
}

// EICE is the EC2 Instance Connect Endpoint stand-in: a TLS websocket
// server that accepts /openTunnel only with a valid SigV4 presign (checked
// by signing the same request again with the SDK's own signer) and pipes
// the bytes to 127.0.0.1:remotePort.
type EICE struct {
	ID     string
	Region string
	// Source is the local address tunnels connect to the port from (the
	// bed's tunnel-only sshd admits 127.0.0.2 only); nil: any.
	Source net.Addr
	// OnOpen, when set (before the first request), is called for every
	// tunnel accepted, before any byte flows: a test records the call.
	OnOpen func()

	ln      net.Listener
	srv     *http.Server
	caPEM   []byte
	mu      sync.Mutex
	secrets map[string]string // see AllowKey
	faults  EICEFaults
	open    int
	maxOpen int
	total   int
	closed  int // tunnels closed by CloseAfterBytes, for CloseMax
	expired int // tunnels cut at their maximum duration
	refuse  []string
	now     func() time.Time
}

// StartEICE listens with TLS on 127.0.0.1 with a fresh self-signed
// certificate for 127.0.0.1 and localhost (CAPEM).
func StartEICE(id, region string) (*EICE, error) {
	cert, caPEM, err := selfSigned()
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	e := &EICE{ID: id, Region: region, secrets: map[string]string{"testing": "testing"}, ln: ln, caPEM: caPEM, now: time.Now}
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serve), ReadHeaderTimeout: 10 * time.Second}
	go e.srv.Serve(ln)
	return e, nil
}

// DNSName is what DescribeInstanceConnectEndpoints reports for the stand-in:
// host:port on loopback (an AWS endpoint's name has no port; 443 is implied).
func (e *EICE) DNSName() string { return e.ln.Addr().String() }

// CAPEM is the certificate clients must trust (AWS_CA_BUNDLE).
func (e *EICE) CAPEM() []byte { return e.caPEM }

// AllowKey lets the holder of an access key open tunnels (the bed's
// static "testing" key is allowed from the start).
func (e *EICE) AllowKey(id, secret string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets[id] = secret
}

// SetFaults replaces the fault settings.
func (e *EICE) SetFaults(f EICEFaults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults, e.closed = f, 0
}

// MaxOpen is the most tunnels that were open at once.
func (e *EICE) MaxOpen() int { e.mu.Lock(); defer e.mu.Unlock(); return e.maxOpen }

// Open is how many tunnels are open now; Total how many were opened.
func (e *EICE) Open() int  { e.mu.Lock(); defer e.mu.Unlock(); return e.open }
func (e *EICE) Total() int { e.mu.Lock(); defer e.mu.Unlock(); return e.total }

// Expired is how many tunnels were cut at their maximum duration.
func (e *EICE) Expired() int { e.mu.Lock(); defer e.mu.Unlock(); return e.expired }

// Refused lists why requests were refused.
func (e *EICE) Refused() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.refuse...)
}

// Close stops the server and its tunnels.
func (e *EICE) Close() error { return e.srv.Close() }

func (e *EICE) refuseWith(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.mu.Lock()
	e.refuse = append(e.refuse, msg)
	e.mu.Unlock()
	http.Error(w, msg, status)
}

func (e *EICE) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/openTunnel" || r.Method != http.MethodGet {
		e.refuseWith(w, http.StatusNotFound, "no such path %s", r.URL.Path)
		return
	}
	q := r.URL.Query()
	if err := e.verify(r); err != nil {
		e.refuseWith(w, http.StatusForbidden, "presign: %v", err)
		return
	}
	if q.Get("instanceConnectEndpointId") != e.ID {
		e.refuseWith(w, http.StatusBadRequest, "instanceConnectEndpointId %q is not %s", q.Get("instanceConnectEndpointId"), e.ID)
		return
	}
	port, err := strconv.Atoi(q.Get("remotePort"))
	if err != nil || port <= 0 || port > 65535 {
		e.refuseWith(w, http.StatusBadRequest, "remotePort %q", q.Get("remotePort"))
		return
	}
	if net.ParseIP(q.Get("privateIpAddress")) == nil {
		e.refuseWith(w, http.StatusBadRequest, "privateIpAddress %q", q.Get("privateIpAddress"))
		return
	}
	maxDur := 3600
	if v := q.Get("maxTunnelDuration"); v != "" {
		if maxDur, err = strconv.Atoi(v); err != nil || maxDur < 1 || maxDur > 3600 {
			e.refuseWith(w, http.StatusBadRequest, "maxTunnelDuration %q: 1 to 3600", v)
			return
		}
	}
	// The bed cannot route to the instance's private address: every
	// instance is the one sshd on loopback.
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: e.Source}
	tcp, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		e.refuseWith(w, http.StatusBadGateway, "connecting to port %d: %v", port, err)
		return
	}
	defer tcp.Close()
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(65536) // aws-cli sends frames of up to 65000 bytes
	if e.OnOpen != nil {
		e.OnOpen()
	}
	e.mu.Lock()
	e.open++
	e.maxOpen = max(e.maxOpen, e.open)
	e.total++
	faults := e.faults
	e.mu.Unlock()
	defer func() { e.mu.Lock(); e.open--; e.mu.Unlock() }()
	limit := time.Duration(maxDur) * time.Second
	if faults.MaxTunnelDuration > 0 && faults.MaxTunnelDuration < limit {
		limit = faults.MaxTunnelDuration
	}
	ctx, cancel := context.WithTimeout(r.Context(), limit)
	defer cancel()
	e.pipe(ctx, ws, tcp, faults)
}

// pipe copies binary frames to the TCP connection and back, and closes the
// websocket at the duration limit or a fault.
func (e *EICE) pipe(ctx context.Context, ws *websocket.Conn, tcp net.Conn, f EICEFaults) {
	var mu sync.Mutex
	n := 0
	closing := make(chan struct{})
	var once sync.Once
	count := func(k int) {
		mu.Lock()
		n += k
		hit := f.CloseAfterBytes > 0 && n >= f.CloseAfterBytes
		mu.Unlock()
		if hit {
			once.Do(func() {
				e.mu.Lock()
				spent := f.CloseMax > 0 && e.closed >= f.CloseMax
				if !spent {
					e.closed++
				}
				e.mu.Unlock()
				if !spent {
					close(closing)
				}
			})
		}
	}
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			typ, b, err := ws.Read(ctx)
			if err != nil {
				return
			}
			if typ != websocket.MessageBinary {
				continue
			}
			if _, err := tcp.Write(b); err != nil {
				return
			}
			count(len(b))
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32*1024)
		for {
			k, err := tcp.Read(buf)
			if k > 0 {
				if ws.Write(ctx, websocket.MessageBinary, buf[:k]) != nil {
					return
				}
				count(k)
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-done:
		ws.Close(websocket.StatusNormalClosure, "")
	case <-closing:
		ws.Close(websocket.StatusCode(f.CloseCode), f.CloseReason)
	case <-ctx.Done():
		// What code AWS closes an expired tunnel with is not documented;
		// the client must not depend on it.
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			e.mu.Lock()
			e.expired++
			e.mu.Unlock()
		}
		ws.Close(websocket.StatusNormalClosure, "maximum tunnel duration reached")
	}
	tcp.Close()
}

// verify checks the presigned query the way SigV4 is defined: the same
// request signed again with the caller's secret, at the time it claims,
// must give the same signature; the time must be within X-Amz-Expires.
func (e *EICE) verify(r *http.Request) error {
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
		return fmt.Errorf("X-Amz-Algorithm %q", q.Get("X-Amz-Algorithm"))
	}
	scope := strings.Split(q.Get("X-Amz-Credential"), "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return fmt.Errorf("X-Amz-Credential %q", q.Get("X-Amz-Credential"))
	}
	if scope[3] != "ec2-instance-connect" || scope[2] != e.Region {
		return fmt.Errorf("signed for %s in %s, want ec2-instance-connect in %s", scope[3], scope[2], e.Region)
	}
	if q.Get("X-Amz-SignedHeaders") != "host" {
		return fmt.Errorf("X-Amz-SignedHeaders %q, want host", q.Get("X-Amz-SignedHeaders"))
	}
	e.mu.Lock()
	secret, ok := e.secrets[scope[0]]
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("unknown access key %s", scope[0])
	}
	at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date %q", q.Get("X-Amz-Date"))
	}
	expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || expires < 1 || expires > 604800 {
		return fmt.Errorf("X-Amz-Expires %q", q.Get("X-Amz-Expires"))
	}
	now := e.now()
	if now.Before(at.Add(-5*time.Minute)) || now.After(at.Add(time.Duration(expires)*time.Second)) {
		return fmt.Errorf("signed at %s, valid %d s; now %s", at.Format(time.RFC3339), expires, now.UTC().Format(time.RFC3339))
	}
	got := q.Get("X-Amz-Signature")
	q.Del("X-Amz-Signature")
	u := url.URL{Scheme: "wss", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: secret, SessionToken: q.Get("X-Amz-Security-Token")}
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", scope[3], scope[2], at)
	if err != nil {
		return err
	}
	su, err := url.Parse(signed)
	if err != nil {
		return err
	}
	if want := su.Query().Get("X-Amz-Signature"); !hmac.Equal([]byte(want), []byte(got)) {
		return fmt.Errorf("signature does not match")
	}
	return nil
}

func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "bakery test-bed EC2 Instance Connect Endpoint"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemBytes, nil
}
