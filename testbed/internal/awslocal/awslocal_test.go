package awslocal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestConfigRefusesNonLoopbackEndpoint(t *testing.T) {
	if _, err := Config("https://ec2.us-east-1.amazonaws.com", "us-east-1"); err == nil {
		t.Error("Config accepted a real AWS endpoint")
	}
	if _, err := Config("http://127.0.0.1:1", ""); err == nil {
		t.Error("Config accepted an empty region")
	}
}

// TestHTTPClientDialsOnlyLoopback: even a request some SDK middleware sent
// elsewhere must fail before leaving the machine.
func TestHTTPClientDialsOnlyLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	cfg, err := Config(srv.URL, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	get := func(url string) error {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cfg.HTTPClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(srv.URL); err != nil {
		t.Errorf("loopback request failed: %v", err)
	}
	// 192.0.2.0/24 is TEST-NET-1: never routed, and never dialled here.
	err = get("http://192.0.2.1/")
	if err == nil || !strings.Contains(err.Error(), "only loopback") {
		t.Errorf("non-loopback request: err = %v, want a refusal", err)
	}
}

func TestConfigCredentials(t *testing.T) {
	cfg, err := Config("http://localhost:1", "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "testing" || creds.SecretAccessKey != "testing" || creds.SessionToken != "" {
		t.Errorf("credentials %+v", creds)
	}
	if cfg.Region != "eu-west-1" || *cfg.BaseEndpoint != "http://localhost:1" {
		t.Errorf("config region %q endpoint %q", cfg.Region, *cfg.BaseEndpoint)
	}
}
