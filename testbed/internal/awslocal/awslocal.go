// Package awslocal builds AWS SDK configurations that can only ever talk to an
// emulator on the loopback interface. Both the testbed library and the
// authorized-keys command sshd runs use it, so the "loopback only" rule lives
// in one place.
package awslocal

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// AccessKeyID and SecretAccessKey are the static credentials moto accepts.
// They are deliberately not real-looking so a leaked config is harmless.
const (
	AccessKeyID     = "testing"
	SecretAccessKey = "testing"
)

// RequireLoopback returns an error unless rawURL is an absolute http(s) URL
// whose host is 127.0.0.0/8, ::1 or "localhost". The test-bed must never send
// a signed request, even with fake credentials, anywhere else.
func RequireLoopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("endpoint %q is not a URL: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("endpoint %q: scheme must be http or https", rawURL)
	}
	if u.User != nil {
		return fmt.Errorf("endpoint %q: must not carry user info", rawURL)
	}
	if !IsLoopbackHost(u.Hostname()) {
		return fmt.Errorf("endpoint %q is not on the loopback interface (127.0.0.0/8, ::1 or localhost); the test-bed refuses to talk to anything else", rawURL)
	}
	return nil
}

// IsLoopbackHost reports whether host (no port, no brackets) is a loopback
// IP literal or "localhost".
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Config returns an aws.Config for region that signs with the static test
// credentials and sends every request to endpoint. It reads no environment
// variables and no shared config files, so a developer's real AWS profile can
// never leak in. Its HTTP client refuses to dial anything but loopback, as a
// second line of defence should some service ignore BaseEndpoint.
func Config(endpoint, region string) (aws.Config, error) {
	if err := RequireLoopback(endpoint); err != nil {
		return aws.Config{}, err
	}
	if region == "" {
		return aws.Config{}, fmt.Errorf("awslocal: empty region")
	}
	return aws.Config{
		Region:       region,
		Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   loopbackHTTPClient(),
	}, nil
}

func loopbackHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		// No proxy: a proxy would be a non-loopback hop.
		tr.Proxy = nil
		dialer := &net.Dialer{}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, fmt.Errorf("awslocal: bad address %q: %w", addr, err)
			}
			if !IsLoopbackHost(host) {
				return nil, fmt.Errorf("awslocal: refusing to dial %s: only loopback is allowed", addr)
			}
			return dialer.DialContext(ctx, network, addr)
		}
	})
}
