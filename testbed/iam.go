package testbed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/faultproxy"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/internal/awslocal"
)

// IAM enforcement (Options.IAMEnforcement).
//
// moto checks IAM policies only once INITIAL_NO_AUTH_ACTION_COUNT calls have
// been made, and then for every caller: the static "testing" credentials
// that the bed's own tools (warm-up, Reset, checks, sshd's key lookup) and
// packer by default use are no IAM user's, and would be refused. So the bed
// puts a gate in front of moto: a request signed with the "testing" key is
// signed again with the keys of an administrator user the bed keeps in
// moto; any other request (an IAM user a test created) reaches moto as it
// was signed, and moto judges it by that user's policies.
//
// What moto's policy evaluation checks (moto/iam/access_control.py, 5.2.5):
// the Action of Allow and Deny statements. It does not check Resource for
// EC2 (every EC2 call is evaluated against resource "*", which only a "*"
// Resource matches) nor any Condition key other than StringEquals in role
// trust policies. Tests that attach policies with narrower Resources or with
// Conditions must say what the emulator cannot prove.

const (
	adminUser   = "testbed-admin"
	adminPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
)

// iamGate re-signs the bed's own requests as the administrator.
//
// With the fault proxy in front of it, the proxy may change a request's
// body after its caller signed it (it stands in for what moto lacks, e.g.
// tags on snapshots at CreateImage): such a request (marked with
// faultproxy.ResignHeader) is signed again with the caller's own key, which
// the gate learnt from the CreateAccessKey reply that made it, so moto
// still judges it by that user's policies. A caller whose key the gate did
// not see made is passed on as it was (moto then refuses its signature).
type iamGate struct {
	moto   string // moto's own URL
	server *http.Server
	url    string

	mu    sync.Mutex
	admin aws.Credentials
	users map[string]string // access key ID → secret, from CreateAccessKey replies
}

var (
	accessKeyIDPattern     = regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`)
	secretAccessKeyPattern = regexp.MustCompile(`<SecretAccessKey>([^<]+)</SecretAccessKey>`)
)

// learnKey remembers the key a CreateAccessKey reply hands out.
func (g *iamGate) learnKey(reply []byte) {
	id, secret := accessKeyIDPattern.FindSubmatch(reply), secretAccessKeyPattern.FindSubmatch(reply)
	if id == nil || secret == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.users == nil {
		g.users = map[string]string{}
	}
	g.users[string(id[1])] = string(secret[1])
}

// startIAMGate starts the gate in front of moto (not yet enforcing).
func startIAMGate(moto string) (*iamGate, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("iam gate: %w", err)
	}
	g := &iamGate{moto: moto, url: "http://" + l.Addr().String()}
	g.server = &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	go g.server.Serve(l)
	return g, nil
}

func (g *iamGate) Close() error {
	if g == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return g.server.Shutdown(ctx)
}

// enforce makes the administrator (moto forgets users on reset) and then
// turns moto's enforcement on.
func (g *iamGate) enforce(ctx context.Context) error {
	if err := g.setAuthCount(ctx, "inf"); err != nil {
		return err
	}
	cfg, err := awslocal.Config(g.moto, "us-east-1")
	if err != nil {
		return err
	}
	client := iam.NewFromConfig(cfg)
	if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(adminUser)}); err != nil {
		return fmt.Errorf("iam gate: creating %s: %w", adminUser, err)
	}
	if _, err := client.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(adminUser),
		PolicyName: aws.String("everything"), PolicyDocument: aws.String(adminPolicy)}); err != nil {
		return fmt.Errorf("iam gate: %w", err)
	}
	key, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(adminUser)})
	if err != nil {
		return fmt.Errorf("iam gate: %w", err)
	}
	g.mu.Lock()
	g.admin = aws.Credentials{AccessKeyID: aws.ToString(key.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(key.AccessKey.SecretAccessKey)}
	g.mu.Unlock()
	return g.setAuthCount(ctx, "0")
}

// startIAM puts the gate in front of moto and turns enforcement on; from
// here on MotoEndpoint (and Endpoint) is the gate.
func (b *Bed) startIAM(ctx context.Context) error {
	g, err := startIAMGate(b.MotoEndpoint)
	if err != nil {
		return err
	}
	b.iam = g
	b.MotoEndpoint, b.Endpoint = g.url, g.url
	if err := g.enforce(ctx); err != nil {
		return err
	}
	b.logf("testbed: moto enforces IAM policies; the bed's own requests go through %s as %s", g.url, adminUser)
	// Proves the gate: the warm-up's "testing" requests must pass as the
	// administrator.
	return b.warmUp(ctx)
}

// setAuthCount sets moto's INITIAL_NO_AUTH_ACTION_COUNT ("0": enforce from
// now on; "inf": never).
func (g *iamGate) setAuthCount(ctx context.Context, count string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.moto+"/moto-api/reset-auth", strings.NewReader(count))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("iam gate: moto reset-auth: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("iam gate: moto reset-auth %s: HTTP %s", count, resp.Status)
	}
	return nil
}

// signingKey returns the access key id, region and service of a SigV4
// Authorization header.
func signingKey(auth string) (key, region, service string, ok bool) {
	_, rest, found := strings.Cut(auth, "Credential=")
	if !found {
		return "", "", "", false
	}
	scope, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(scope, "/")
	if len(parts) < 5 {
		return "", "", "", false
	}
	return parts[0], parts[2], parts[3], true
}

// hopHeaders are a single connection's, never forwarded.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (g *iamGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	target, err := url.Parse(g.moto + r.URL.RequestURI())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, target.String(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.Host = target.Host
	resign := out.Header.Get(faultproxy.ResignHeader) != ""
	out.Header.Del(faultproxy.ResignHeader)
	key, region, service, signed := signingKey(r.Header.Get("Authorization"))
	var creds aws.Credentials
	g.mu.Lock()
	switch {
	case signed && key == awslocal.AccessKeyID:
		creds = g.admin
	case signed && resign && g.users[key] != "":
		creds = aws.Credentials{AccessKeyID: key, SecretAccessKey: g.users[key]}
	}
	g.mu.Unlock()
	if signed && (key == awslocal.AccessKeyID || creds.AccessKeyID != "") {
		if err := g.resign(r.Context(), out, body, region, service, creds); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
	} else {
		// A caller's own signature covers the Host it sent to (the gate);
		// moto checks it against the Host it receives, so keep it.
		out.Host = r.Host
	}
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	var reply io.Reader = resp.Body
	if resp.StatusCode == http.StatusOK && strings.Contains(string(body), "Action=CreateAccessKey") {
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		g.learnKey(data)
		reply = bytes.NewReader(data)
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, reply)
}

func (g *iamGate) resign(ctx context.Context, req *http.Request, body []byte, region, service string, creds aws.Credentials) error {
	if creds.AccessKeyID == "" {
		return errors.New("iam gate: no administrator yet")
	}
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		req.Header.Del(h)
	}
	sum := sha256.Sum256(body)
	return v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, region, time.Now())
}
