package testbed

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/internal/awslocal"
)

// RequireLoopback returns an error unless rawURL's host is in 127.0.0.0/8,
// is ::1 or is "localhost".
func RequireLoopback(rawURL string) error {
	return awslocal.RequireLoopback(rawURL)
}

// AWSConfig returns an SDK config for region that talks only to the bed's
// moto, with the static "testing" credentials. It loads no profile or
// environment, so nothing from a developer's real AWS setup can leak in.
func (b *Bed) AWSConfig(ctx context.Context, region string) (aws.Config, error) {
	cfg, err := awslocal.Config(b.Endpoint, region)
	if err != nil {
		return aws.Config{}, fmt.Errorf("testbed AWS config: %w", err)
	}
	return cfg, nil
}

// EC2 returns an EC2 client for region bound to the bed's moto.
func (b *Bed) EC2(ctx context.Context, region string) (*ec2.Client, error) {
	cfg, err := b.AWSConfig(ctx, region)
	if err != nil {
		return nil, err
	}
	return ec2.NewFromConfig(cfg), nil
}

// Env is the environment for a child process (packer) that must use the bed:
// os.Environ() without any AWS_* variable, plus EnvVars().
func (b *Bed) Env() []string {
	return buildEnv(os.Environ(), b.EnvVars())
}

// EnvVars are the variables Env adds, without the inherited environment.
// With a fault proxy, BAKERY_TESTBED_MOTO_ENDPOINT names moto itself, for
// checks that must not be faulted or counted.
func (b *Bed) EnvVars() []string {
	vars := bedVars(b.Endpoint, b.SSHHost, b.SSHPort, b.region, b.awsConfigFile, b.awsCredentialsFile)
	if b.faults != nil {
		vars = append(vars, "BAKERY_TESTBED_MOTO_ENDPOINT="+b.MotoEndpoint)
	}
	if b.caBundle != "" {
		// The stand-in endpoint's TLS certificate; the SDK's transport,
		// which the plugin's tunnels use too, trusts it.
		vars = append(vars, "AWS_CA_BUNDLE="+b.caBundle)
	}
	return vars
}

// bedVars lists the variables that point AWS tools and the example templates
// at the bed. The AWS config files are empty files of the bed's own, so no
// SDK finds a real profile (SSO, credential_process, role chains) in ~/.aws.
func bedVars(endpoint, sshHost string, sshPort int, region, configFile, credsFile string) []string {
	port := strconv.Itoa(sshPort)
	return []string{
		"AWS_ACCESS_KEY_ID=" + awslocal.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + awslocal.SecretAccessKey,
		"AWS_REGION=" + region,
		// boto3 (Ansible) reads only AWS_DEFAULT_REGION.
		"AWS_DEFAULT_REGION=" + region,
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + configFile,
		"AWS_SHARED_CREDENTIALS_FILE=" + credsFile,
		"PKR_VAR_aws_endpoint=" + endpoint,
		"PKR_VAR_ssh_host=" + sshHost,
		"PKR_VAR_ssh_port=" + port,
		"BAKERY_TESTBED_ENDPOINT=" + endpoint,
		// packer phones home for update checks unless told not to.
		"CHECKPOINT_DISABLE=1",
	}
}

// buildEnv drops every AWS_* entry of base (AWS_PROFILE, AWS_SESSION_TOKEN,
// AWS_DEFAULT_PROFILE, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, … would all steer
// an SDK away from the bed) and every key vars sets, then appends vars.
func buildEnv(base, vars []string) []string {
	set := map[string]bool{}
	for _, kv := range vars {
		set[envKey(kv)] = true
	}
	out := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		k := envKey(kv)
		if strings.HasPrefix(k, "AWS_") || set[k] {
			continue
		}
		out = append(out, kv)
	}
	return append(out, vars...)
}

func envKey(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}
