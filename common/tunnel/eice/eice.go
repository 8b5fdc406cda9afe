// Package eice opens TCP connections to a private instance through an EC2
// Instance Connect Endpoint: one SigV4-presigned websocket per connection,
// to wss://<endpoint DNS name>/openTunnel, carrying the raw TCP bytes in
// binary frames — the protocol of `aws ec2-instance-connect open-tunnel`
// (aws-cli awscli/customizations/ec2instanceconnect: eicesigner.py,
// websocket.py). No agent is needed on the instance.
package eice

import (
	"context"
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
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/coder/websocket"
)

// SigningName is the SigV4 service name of OpenTunnel.
const SigningName = "ec2-instance-connect"

// MaxTunnelDuration is the longest a tunnel (one TCP connection) may stay
// open: AWS closes it then. Each connection gets a new tunnel, so only a
// single connection older than this breaks.
const MaxTunnelDuration = time.Hour

// presignExpiry is how long a presigned URL is accepted, as in aws-cli.
const presignExpiry = 60 * time.Second

// maxFrame bounds the bytes per binary frame we send: aws-cli sends up to
// 65000 per frame, so the endpoint takes that; we stay under it.
const maxFrame = 32 << 10

// readLimit bounds a frame from the endpoint.
const readLimit = 1 << 20

// usableStates are the endpoint states aws-cli's eicefetcher accepts.
var usableStates = []string{"create-complete", "update-in-progress", "update-failed", "update-complete"}

// API is the part of the EC2 client Find uses.
type API interface {
	DescribeInstanceConnectEndpoints(context.Context, *ec2.DescribeInstanceConnectEndpointsInput, ...func(*ec2.Options)) (*ec2.DescribeInstanceConnectEndpointsOutput, error)
}

// Endpoint is what a tunnel needs of an EC2 Instance Connect Endpoint.
type Endpoint struct {
	ID               string
	DNSName          string
	VpcID            string
	SubnetID         string
	SecurityGroupIDs []string
	PreserveClientIP bool
}

// Find returns the endpoint named by id, or else the instance's VPC's
// endpoint, preferring one in the instance's subnet (as aws-cli does).
func Find(ctx context.Context, api API, id, vpcID, subnetID string) (Endpoint, error) {
	in := &ec2.DescribeInstanceConnectEndpointsInput{
		Filters: []types.Filter{{Name: aws.String("state"), Values: usableStates}},
	}
	if id != "" {
		in.InstanceConnectEndpointIds = []string{id}
	} else {
		in.Filters = append(in.Filters, types.Filter{Name: aws.String("vpc-id"), Values: []string{vpcID}})
	}
	var found []types.Ec2InstanceConnectEndpoint
	p := ec2.NewDescribeInstanceConnectEndpointsPaginator(api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return Endpoint{}, fmt.Errorf("finding the EC2 Instance Connect Endpoint (ec2:DescribeInstanceConnectEndpoints): %w", err)
		}
		found = append(found, page.InstanceConnectEndpoints...)
	}
	if len(found) == 0 {
		if id != "" {
			return Endpoint{}, fmt.Errorf("EC2 Instance Connect Endpoint %s does not exist or is not ready (state create-complete or update-*)", id)
		}
		return Endpoint{}, fmt.Errorf("VPC %s has no EC2 Instance Connect Endpoint that is ready: create one in the build's subnet (aws ec2 create-instance-connect-endpoint --subnet-id %s) or name one with `instance_connect_endpoint_id`", vpcID, subnetID)
	}
	pick := found[0]
	for _, e := range found {
		if aws.ToString(e.SubnetId) == subnetID {
			pick = e
			break
		}
	}
	ep := Endpoint{
		ID: aws.ToString(pick.InstanceConnectEndpointId), DNSName: aws.ToString(pick.DnsName),
		VpcID: aws.ToString(pick.VpcId), SubnetID: aws.ToString(pick.SubnetId),
		SecurityGroupIDs: pick.SecurityGroupIds, PreserveClientIP: aws.ToBool(pick.PreserveClientIp),
	}
	if vpcID != "" && ep.VpcID != vpcID {
		return Endpoint{}, fmt.Errorf("EC2 Instance Connect Endpoint %s is in VPC %s, the instance in VPC %s: an endpoint reaches its own VPC only", ep.ID, ep.VpcID, vpcID)
	}
	if ep.DNSName == "" {
		return Endpoint{}, fmt.Errorf("EC2 Instance Connect Endpoint %s has no DNS name yet", ep.ID)
	}
	return ep, nil
}

// Config says which instance port to reach through which endpoint.
type Config struct {
	Endpoint    Endpoint
	PrivateIP   string
	Port        int
	Region      string
	Credentials aws.CredentialsProvider
	// HTTPClient dials the websocket; nil means http.DefaultClient. Give
	// it the SDK's transport so proxies and CA bundles apply.
	HTTPClient *http.Client
	// MaxTunnelDuration: 0 means MaxTunnelDuration.
	MaxTunnelDuration time.Duration
	Logf              func(string, ...any)
	now               func() time.Time
}

// Dialer opens a new tunnel for every connection.
type Dialer struct{ cfg Config }

// New checks cfg and returns a Dialer.
func New(cfg Config) (*Dialer, error) {
	if cfg.Endpoint.DNSName == "" || cfg.PrivateIP == "" || cfg.Port == 0 || cfg.Credentials == nil {
		return nil, errors.New("eice: endpoint DNS name, private IP, port and credentials are required")
	}
	if cfg.MaxTunnelDuration <= 0 || cfg.MaxTunnelDuration > MaxTunnelDuration {
		cfg.MaxTunnelDuration = MaxTunnelDuration
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	return &Dialer{cfg: cfg}, nil
}

// PresignedURL returns a fresh presigned OpenTunnel URL, valid for 60 s.
func (d *Dialer) PresignedURL(ctx context.Context) (string, error) {
	return Presign(ctx, d.cfg.Credentials, d.cfg.Endpoint, d.cfg.PrivateIP, d.cfg.Port, d.cfg.MaxTunnelDuration, d.cfg.Region, d.cfg.now())
}

// Presign builds the OpenTunnel URL of aws-cli's eicesigner.py: query
// instanceConnectEndpointId, remotePort, privateIpAddress and
// maxTunnelDuration (seconds), presigned with SigV4 for service
// ec2-instance-connect, host as the only signed header, the unsigned
// payload marker, and X-Amz-Expires=60.
func Presign(ctx context.Context, creds aws.CredentialsProvider, ep Endpoint, ip string, port int, maxDur time.Duration, region string, now time.Time) (string, error) {
	c, err := creds.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("credentials to sign the EC2 Instance Connect tunnel: %w", err)
	}
	q := url.Values{}
	q.Set("instanceConnectEndpointId", ep.ID)
	q.Set("remotePort", strconv.Itoa(port))
	q.Set("privateIpAddress", ip)
	q.Set("maxTunnelDuration", strconv.Itoa(int(maxDur/time.Second)))
	q.Set("X-Amz-Expires", strconv.Itoa(int(presignExpiry/time.Second)))
	u := &url.URL{Scheme: "wss", Host: ep.DNSName, Path: "/openTunnel", RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	signed, _, err := v4.NewSigner().PresignHTTP(ctx, c, req, "UNSIGNED-PAYLOAD", SigningName, region, now)
	if err != nil {
		return "", fmt.Errorf("presigning the EC2 Instance Connect tunnel: %w", err)
	}
	return signed, nil
}

// Dial opens one tunnel to the instance's port.
func (d *Dialer) Dial(ctx context.Context) (net.Conn, error) {
	u, err := d.PresignedURL(ctx)
	if err != nil {
		return nil, err
	}
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: d.cfg.HTTPClient})
	if err != nil {
		return nil, d.dialError(resp, err)
	}
	ws.SetReadLimit(readLimit)
	// The connection outlives Dial's context: it ends when either side
	// closes it (or AWS does, after maxTunnelDuration).
	life, cancel := context.WithCancel(context.Background())
	c := &conn{Conn: websocket.NetConn(life, ws, websocket.MessageBinary), cancel: cancel, d: d}
	return c, nil
}

func (d *Dialer) dialError(resp *http.Response, err error) error {
	where := fmt.Sprintf("opening an EC2 Instance Connect tunnel through %s to %s:%d", d.cfg.Endpoint.ID, d.cfg.PrivateIP, d.cfg.Port)
	if resp == nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	msg := strings.TrimSpace(string(body))
	hint := ""
	switch resp.StatusCode {
	case http.StatusForbidden, http.StatusUnauthorized:
		hint = " (the build's credentials need ec2-instance-connect:OpenTunnel on the endpoint, with conditions that allow this port and address)"
	}
	if msg != "" {
		return fmt.Errorf("%s: HTTP %s: %s%s: %w", where, resp.Status, msg, hint, err)
	}
	return fmt.Errorf("%s: HTTP %s%s: %w", where, resp.Status, hint, err)
}

// conn surfaces the close code and reason AWS sends when it ends a tunnel
// other than normally.
type conn struct {
	net.Conn
	cancel context.CancelFunc
	d      *Dialer
	once   sync.Once
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		if st := websocket.CloseStatus(err); st != -1 && st != websocket.StatusNormalClosure {
			err = &ClosedError{Endpoint: c.d.cfg.Endpoint.ID, Code: int(st), Reason: closeReason(err), Cause: err}
			c.once.Do(func() {
				if c.d.cfg.Logf != nil {
					c.d.cfg.Logf("%v", err)
				}
			})
		}
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k, err := c.Conn.Write(p[:min(len(p), maxFrame)])
		n += k
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.cancel()
	return err
}

func closeReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

// ClosedError: the endpoint closed the tunnel with a code other than 1000.
type ClosedError struct {
	Endpoint string
	Code     int
	Reason   string
	Cause    error
}

func (e *ClosedError) Error() string {
	return fmt.Sprintf("EC2 Instance Connect Endpoint %s closed the tunnel: code %d, reason %q", e.Endpoint, e.Code, e.Reason)
}

func (e *ClosedError) Unwrap() error { return e.Cause }
