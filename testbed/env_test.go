package testbed

import (
	"slices"
	"strings"
	"testing"
)

func TestBuildEnvDropsAWSAndOverrides(t *testing.T) {
	base := []string{
		"PATH=/usr/bin",
		"HOME=/root",
		"AWS_PROFILE=prod",
		"AWS_SESSION_TOKEN=secret",
		"AWS_DEFAULT_PROFILE=prod",
		"AWS_ACCESS_KEY_ID=AKIAREAL",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true",
		"PKR_VAR_ssh_port=22",
		"NOT_AWS_X=kept",
		"MALFORMED",
	}
	vars := []string{"AWS_ACCESS_KEY_ID=testing", "PKR_VAR_ssh_port=2222"}
	got := buildEnv(base, vars)
	want := []string{"PATH=/usr/bin", "HOME=/root", "NOT_AWS_X=kept", "MALFORMED", "AWS_ACCESS_KEY_ID=testing", "PKR_VAR_ssh_port=2222"}
	if !slices.Equal(got, want) {
		t.Errorf("buildEnv:\n got  %q\n want %q", got, want)
	}
}

func TestBedEnvVars(t *testing.T) {
	b := &Bed{
		Endpoint:           "http://127.0.0.1:4566",
		SSHHost:            "127.0.0.1",
		SSHPort:            2222,
		region:             "eu-west-1",
		awsConfigFile:      "/run/x/aws-config",
		awsCredentialsFile: "/run/x/aws-credentials",
	}
	got := map[string]string{}
	for _, kv := range b.EnvVars() {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("malformed %q", kv)
		}
		if _, dup := got[k]; dup {
			t.Errorf("%s set twice", k)
		}
		got[k] = v
	}
	want := map[string]string{
		"AWS_ACCESS_KEY_ID":           "testing",
		"AWS_SECRET_ACCESS_KEY":       "testing",
		"AWS_REGION":                  "eu-west-1",
		"AWS_DEFAULT_REGION":          "eu-west-1",
		"AWS_ENDPOINT_URL":            "http://127.0.0.1:4566",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             "/run/x/aws-config",
		"AWS_SHARED_CREDENTIALS_FILE": "/run/x/aws-credentials",
		"PKR_VAR_aws_endpoint":        "http://127.0.0.1:4566",
		"PKR_VAR_ssh_host":            "127.0.0.1",
		"PKR_VAR_ssh_port":            "2222",
		"BAKERY_TESTBED_ENDPOINT":     "http://127.0.0.1:4566",
		"CHECKPOINT_DISABLE":          "1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected variable %s", k)
		}
	}
}

func TestEnvHasNoForeignAWSVariables(t *testing.T) {
	t.Setenv("AWS_PROFILE", "prod")
	t.Setenv("AWS_SESSION_TOKEN", "tok")
	t.Setenv("AWS_DEFAULT_PROFILE", "prod")
	b := &Bed{Endpoint: "http://127.0.0.1:1", SSHHost: "127.0.0.1", SSHPort: 2, region: "us-east-1"}
	env := b.Env()
	for _, kv := range env {
		for _, bad := range []string{"AWS_PROFILE=", "AWS_SESSION_TOKEN=", "AWS_DEFAULT_PROFILE="} {
			if strings.HasPrefix(kv, bad) {
				t.Errorf("Env kept %q", kv)
			}
		}
	}
	if !slices.Contains(env, "AWS_ENDPOINT_URL=http://127.0.0.1:1") {
		t.Errorf("Env lacks AWS_ENDPOINT_URL: %q", env)
	}
}
