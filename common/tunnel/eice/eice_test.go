package eice_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/coder/websocket"

	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel"
	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel/eice"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/tunnels"
)

type fakeEC2 struct {
	eps []types.Ec2InstanceConnectEndpoint
	in  []*ec2.DescribeInstanceConnectEndpointsInput
}

func (f *fakeEC2) DescribeInstanceConnectEndpoints(_ context.Context, in *ec2.DescribeInstanceConnectEndpointsInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceConnectEndpointsOutput, error) {
	f.in = append(f.in, in)
	var out []types.Ec2InstanceConnectEndpoint
	for _, e := range f.eps {
		if len(in.InstanceConnectEndpointIds) > 0 && aws.ToString(e.InstanceConnectEndpointId) != in.InstanceConnectEndpointIds[0] {
			continue
		}
		vpcOK := true
		for _, fl := range in.Filters {
			if aws.ToString(fl.Name) == "vpc-id" && fl.Values[0] != aws.ToString(e.VpcId) {
				vpcOK = false
			}
		}
		if vpcOK {
			out = append(out, e)
		}
	}
	return &ec2.DescribeInstanceConnectEndpointsOutput{InstanceConnectEndpoints: out}, nil
}

func ep(id, vpc, subnet string) types.Ec2InstanceConnectEndpoint {
	return types.Ec2InstanceConnectEndpoint{InstanceConnectEndpointId: &id, VpcId: &vpc, SubnetId: &subnet,
		DnsName: aws.String(id + ".example"), SecurityGroupIds: []string{"sg-" + id}}
}

func TestFind(t *testing.T) {
	api := &fakeEC2{eps: []types.Ec2InstanceConnectEndpoint{ep("eice-a", "vpc-1", "subnet-1"), ep("eice-b", "vpc-1", "subnet-2"), ep("eice-c", "vpc-2", "subnet-3")}}
	tests := []struct {
		name, id, vpc, subnet, want, err string
	}{
		{name: "the subnet's endpoint first", vpc: "vpc-1", subnet: "subnet-2", want: "eice-b"},
		{name: "else the VPC's", vpc: "vpc-1", subnet: "subnet-9", want: "eice-a"},
		{name: "named", id: "eice-b", vpc: "vpc-1", want: "eice-b"},
		{name: "named in another VPC", id: "eice-c", vpc: "vpc-1", err: "is in VPC vpc-2"},
		{name: "none in the VPC", vpc: "vpc-9", subnet: "subnet-9", err: "create-instance-connect-endpoint --subnet-id subnet-9"},
		{name: "named, missing", id: "eice-x", vpc: "vpc-1", err: "eice-x does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := eice.Find(context.Background(), api, tt.id, tt.vpc, tt.subnet)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got.ID != tt.want || got.SecurityGroupIDs[0] != "sg-"+tt.want {
				t.Fatalf("got %+v, %v; want %s", got, err, tt.want)
			}
		})
	}
	// Only endpoints that can open tunnels, as aws-cli filters them.
	last := api.in[len(api.in)-1]
	if aws.ToString(last.Filters[0].Name) != "state" || strings.Join(last.Filters[0].Values, ",") != "create-complete,update-in-progress,update-failed,update-complete" {
		t.Fatalf("filters %+v", last.Filters)
	}
}

// The URL's form, as aws-cli's eicesigner.py builds it.
func TestPresignForm(t *testing.T) {
	at := time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	raw, err := eice.Presign(context.Background(), creds, eice.Endpoint{ID: "eice-0123", DNSName: "eice-0123.abc.ec2-instance-connect-endpoint.us-east-1.amazonaws.com"},
		"10.0.1.5", 22, time.Hour, "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	want := map[string]string{
		"instanceConnectEndpointId": "eice-0123", "remotePort": "22", "privateIpAddress": "10.0.1.5", "maxTunnelDuration": "3600",
		"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "AKIDEXAMPLE/20261205/us-east-1/ec2-instance-connect/aws4_request",
		"X-Amz-Date": "20261205T200000Z", "X-Amz-Expires": "60", "X-Amz-SignedHeaders": "host",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if u.Scheme != "wss" || u.Path != "/openTunnel" || u.Host != "eice-0123.abc.ec2-instance-connect-endpoint.us-east-1.amazonaws.com" || len(q.Get("X-Amz-Signature")) != 64 {
		t.Errorf("url %s", raw)
	}
}

func echoServer(t *testing.T) int {
	t.Helper()
	port, stop, err := tunnels.Serve(tunnels.Echo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return port
}

func standIn(t *testing.T) (*tunnels.EICE, *http.Client) {
	e, err := tunnels.StartEICE("eice-0123456789abcdef0", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CAPEM())
	return e, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func dialer(t *testing.T, e *tunnels.EICE, hc *http.Client, key, secret string, port int, logf func(string, ...any)) *eice.Dialer {
	d, err := eice.New(eice.Config{
		Endpoint: eice.Endpoint{ID: e.ID, DNSName: e.DNSName()}, PrivateIP: "10.0.1.5", Port: port, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""), HTTPClient: hc, Logf: logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func echo(addr string, n int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	want := make([]byte, n)
	_, _ = rand.Read(want)
	go c.Write(want)
	got := make([]byte, n)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return errors.New("echo differs")
	}
	return nil
}

func TestTunnelPerConnection(t *testing.T) {
	e, hc := standIn(t)
	f, err := tunnel.Listen(dialer(t, e, hc, "testing", "testing", echoServer(t), t.Logf), 0, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- echo(f.Addr().String(), 200_000) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if e.Total() != 5 {
		t.Errorf("%d tunnels for 5 connections, want one each", e.Total())
	}
	f.Close()
	deadline := time.Now().Add(5 * time.Second)
	for e.Open() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if e.Open() != 0 {
		t.Errorf("%d tunnels still open after Close", e.Open())
	}
	if r := e.Refused(); len(r) > 0 {
		t.Errorf("refused: %v", r)
	}
}

func TestBadSignatureRefused(t *testing.T) {
	e, hc := standIn(t)
	d := dialer(t, e, hc, "testing", "wrong-secret", echoServer(t), t.Logf)
	_, err := d.Dial(context.Background())
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "signature does not match") || !strings.Contains(err.Error(), "ec2-instance-connect:OpenTunnel") {
		t.Fatalf("error %v", err)
	}
}

func TestCloseCodeAndReasonSurface(t *testing.T) {
	e, hc := standIn(t)
	e.SetFaults(tunnels.EICEFaults{CloseAfterBytes: 10_000, CloseCode: 4001, CloseReason: "tunnel closed by test-bed"})
	var mu sync.Mutex
	var logged []string
	logf := func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
	d := dialer(t, e, hc, "testing", "testing", echoServer(t), logf)
	c, err := d.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go c.Write(make([]byte, 50_000))
	_, err = io.ReadAll(c)
	var ce *eice.ClosedError
	if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "tunnel closed by test-bed" {
		t.Fatalf("read error %v, want the close code and reason", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logged) != 1 || !strings.Contains(logged[0], `code 4001, reason "tunnel closed by test-bed"`) {
		t.Fatalf("logged %q", logged)
	}
}

func TestStalePresignRefused(t *testing.T) {
	e, hc := standIn(t)
	creds := credentials.NewStaticCredentialsProvider("testing", "testing", "")
	raw, err := eice.Presign(context.Background(), creds, eice.Endpoint{ID: e.ID, DNSName: e.DNSName()}, "10.0.1.5", echoServer(t), time.Hour, "us-east-1", time.Now().Add(-2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err := websocketDial(raw, hc)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a URL presigned 2 minutes ago (valid 60 s) was not refused: %v", err)
	}
	if r := e.Refused(); len(r) != 1 || !strings.Contains(r[0], "valid 60 s") {
		t.Fatalf("refused for %v", r)
	}
}

func websocketDial(u string, hc *http.Client) (*websocket.Conn, *http.Response, error) {
	return websocket.Dial(context.Background(), u, &websocket.DialOptions{HTTPClient: hc})
}

// AWS cuts every tunnel at its maximum duration (an hour; here a second).
// The connection riding it ends there, promptly and visibly (EOF, not a
// hang); the next connection through the same listener gets a new tunnel,
// without the caller doing anything.
func TestTunnelCutAtMaxDurationIsReopened(t *testing.T) {
	e, hc := standIn(t)
	e.SetFaults(tunnels.EICEFaults{MaxTunnelDuration: time.Second})
	f, err := tunnel.Listen(dialer(t, e, hc, "testing", "testing", echoServer(t), t.Logf), 0, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old, err := net.Dial("tcp", f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := old.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	old.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(old, got); err != nil || string(got) != "ping" {
		t.Fatalf("before the cut: %q, %v", got, err)
	}
	begin := time.Now()
	_, err = io.ReadAll(old)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the connection of an expired tunnel stayed open")
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("the connection noticed the cut after %s", d)
	}
	if e.Expired() != 1 {
		t.Fatalf("%d tunnels expired, want 1", e.Expired())
	}
	if err := echo(f.Addr().String(), 100_000); err != nil {
		t.Fatalf("a connection after the cut: %v", err)
	}
	if e.Total() != 2 {
		t.Errorf("%d tunnels, want 2: the new connection should have opened its own", e.Total())
	}
	if r := e.Refused(); len(r) > 0 {
		t.Errorf("refused: %v", r)
	}
}
