package ebs

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/tunnels"
)

// cloudTunnels are the cloud's Session Manager and EC2 Instance Connect
// Endpoint: the test-bed's stand-ins, forwarding to a server that greets
// as sshd does, so the tunnel step's probe gets its first byte.
type cloudTunnels struct {
	ssm    *tunnels.SSM
	api    *tunnels.SSMClient
	eice   *tunnels.EICE
	kms    *tunnels.FakeKMS // nil unless sessions are KMS-encrypted
	banner int
}

// withTunnels starts the stand-ins for c; the websocket to the Session
// Manager stand-in is cut once after the first byte, so that the session
// is resumed (ResumeSession) during the tunnel step. With sessionKMS the
// agent asks for KMS encryption (kms:GenerateDataKey from the build).
func (c *cloud) withTunnels(t *testing.T, sessionKMS bool) int {
	t.Helper()
	s, err := tunnels.StartSSM()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	faults := tunnels.SSMFaults{DropAfterBytes: 1}
	var fake *tunnels.FakeKMS
	if sessionKMS {
		faults.KMSKeyID = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		fake = &tunnels.FakeKMS{Keys: map[string]bool{faults.KMSKeyID: true}}
		s.KMS = fake
	}
	s.SetFaults(faults)
	e, err := tunnels.StartEICE("eice-0123456789abcdef0", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	e.OnOpen = func() { _ = c.call("ec2-instance-connect:OpenTunnel", nil) }
	banner := server(t, func(conn net.Conn) { _, _ = conn.Write([]byte(tunnels.Greeting)) })
	c.tunnels = &cloudTunnels{ssm: s, api: &tunnels.SSMClient{S: s}, eice: e, banner: banner, kms: fake}
	return c.tunnels.banner
}

func (c *cloud) tunnelClients(a awsClients) awsClients {
	if c.tunnels == nil {
		return a
	}
	a.ssm = c
	a.kms = c
	a.creds = credentials.NewStaticCredentialsProvider("testing", "testing", "")
	a.http = trusting(c.tunnels.eice.CAPEM())
	return a
}

func (c *cloud) StartSession(ctx context.Context, in *ssm.StartSessionInput, _ ...func(*ssm.Options)) (*ssm.StartSessionOutput, error) {
	if err := c.call("ssm:StartSession", nil); err != nil {
		return nil, err
	}
	return c.tunnels.api.StartSession(ctx, in)
}

func (c *cloud) GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, _ ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	if err := c.call("kms:GenerateDataKey", nil); err != nil {
		return nil, err
	}
	if c.tunnels.kms == nil {
		c.t.Error("kms:GenerateDataKey for a session the agent did not ask to encrypt")
		return nil, errors.New("no KMS in this cloud")
	}
	return c.tunnels.kms.GenerateDataKey(ctx, in)
}

func (c *cloud) ResumeSession(ctx context.Context, in *ssm.ResumeSessionInput, _ ...func(*ssm.Options)) (*ssm.ResumeSessionOutput, error) {
	if err := c.call("ssm:ResumeSession", nil); err != nil {
		return nil, err
	}
	return c.tunnels.api.ResumeSession(ctx, in)
}

func (c *cloud) TerminateSession(ctx context.Context, in *ssm.TerminateSessionInput, _ ...func(*ssm.Options)) (*ssm.TerminateSessionOutput, error) {
	if err := c.call("ssm:TerminateSession", nil); err != nil {
		return nil, err
	}
	return c.tunnels.api.TerminateSession(ctx, in)
}

func (c *cloud) DescribeInstanceConnectEndpoints(_ context.Context, in *ec2.DescribeInstanceConnectEndpointsInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceConnectEndpointsOutput, error) {
	if err := c.call("ec2:DescribeInstanceConnectEndpoints", in.DryRun); err != nil {
		return nil, err
	}
	if c.tunnels == nil {
		return &ec2.DescribeInstanceConnectEndpointsOutput{}, nil
	}
	return &ec2.DescribeInstanceConnectEndpointsOutput{InstanceConnectEndpoints: []types.Ec2InstanceConnectEndpoint{{
		InstanceConnectEndpointId: aws.String(c.tunnels.eice.ID), DnsName: aws.String(c.tunnels.eice.DNSName()),
		VpcId: aws.String("vpc-1"), SubnetId: aws.String("subnet-1"), SecurityGroupIds: []string{"sg-0eice00000000000a"},
	}}}, nil
}
