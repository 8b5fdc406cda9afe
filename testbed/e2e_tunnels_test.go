//go:build e2e

package testbed_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"golang.org/x/crypto/ssh"

	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel"
	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel/eice"
	tssm "github.com/packer-bakery/packer-plugin-bakery/common/tunnel/ssm"
	"github.com/packer-bakery/packer-plugin-bakery/testbed"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/tunnels"
)

// With Tunnels and TunnelOnly, the bed's sshd refuses direct logins and
// the instance is reachable through both stand-ins, with the SDK's own
// clients parsing the fault proxy's answers.
func TestTunnelStandIns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := testbed.Start(ctx, testbed.Options{Tunnels: true, TunnelOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	c := ec2Client(t, b, "us-east-1")
	signer := newKey(t)
	id := launch(t, c, importKey(t, c, signer))
	inst, err := c.DescribeInstances(testCtx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	i := inst.Reservations[0].Instances[0]

	if cl, err := dialAs(b, b.SSHUser, signer); err == nil {
		cl.Close()
		t.Fatal("a direct login succeeded on a tunnel-only bed")
	}

	cfg, err := b.AWSConfig(testCtx(t), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	login := func(t *testing.T, d tunnel.Dialer) {
		f, err := tunnel.Listen(d, 0, t.Logf)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cl, err := ssh.Dial("tcp", f.Addr().String(), &ssh.ClientConfig{User: b.SSHUser, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.FixedHostKey(b.HostKey()), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("ssh through the tunnel: %v (see %s/sshd.log)", err, b.Dir)
		}
		defer cl.Close()
		if got := remote(t, cl, "whoami"); got != b.SSHUser {
			t.Fatalf("whoami %q", got)
		}
	}

	// session is a Session Manager tunnel's Config; k makes the data key
	// when the stand-in agent asks for KMS encryption.
	session := func(t *testing.T, k tssm.KMSAPI) tssm.Config {
		return tssm.Config{API: ssm.NewFromConfig(cfg), KMS: k, InstanceID: id, Port: b.SSHPort,
			Region: "us-east-1", Credentials: cfg.Credentials, Logf: t.Logf}
	}
	// loginOverSession logs in through a new session and ends it: nothing
	// may stay active, and the stand-in agent must have seen no problem.
	loginOverSession := func(t *testing.T, k tssm.KMSAPI) {
		tun, err := tssm.Open(testCtx(t), session(t, k))
		if err != nil {
			t.Fatal(err)
		}
		login(t, tun)
		if err := tun.Close(); err != nil {
			t.Fatal(err)
		}
		if a := b.Tunnels().SSM.Active(); len(a) != 0 {
			t.Fatalf("sessions still active: %v", a)
		}
		if p := b.Tunnels().SSM.Problems(); len(p) != 0 {
			t.Fatalf("protocol problems: %v", p)
		}
	}

	t.Run("session manager", func(t *testing.T) {
		loginOverSession(t, nil)
		calls := strings.Join(b.Tunnels().Calls(), "\n")
		if !strings.Contains(calls, "ssm:StartSession "+id+" AWS-StartPortForwardingSession map[portNumber:["+strconv.Itoa(b.SSHPort)+"]]") || !strings.Contains(calls, "ssm:TerminateSession") {
			t.Fatalf("calls:\n%s", calls)
		}
		if n := b.Faults().Count("ssm", "StartSession"); n != 1 {
			t.Fatalf("the fault proxy counted %d StartSession calls", n)
		}
	})

	// The account's Session Manager preferences encrypt sessions with a
	// KMS key of moto's: the client makes the data key with moto's KMS
	// through the fault proxy, the stand-in agent decrypts it with moto's
	// kms:Decrypt under the session's encryption context (moto binds the
	// context into the ciphertext, so a wrong context fails), and the SSH
	// login crosses the data channel sealed both ways.
	t.Run("session manager, KMS-encrypted", func(t *testing.T) {
		k := kms.NewFromConfig(cfg)
		key, err := k.CreateKey(testCtx(t), &kms.CreateKeyInput{Description: aws.String("Session Manager session encryption (test-bed)")})
		if err != nil {
			t.Fatal(err)
		}
		keyARN := aws.ToString(key.KeyMetadata.Arn)
		b.Tunnels().SSM.SetFaults(tunnels.SSMFaults{KMSKeyID: keyARN})
		t.Cleanup(func() { b.Tunnels().SSM.SetFaults(tunnels.SSMFaults{}) })
		before := b.Faults().Count("kms", "GenerateDataKey")
		loginOverSession(t, k)
		if sessions, payloads := b.Tunnels().SSM.Encrypted(); sessions != 1 || payloads == 0 {
			t.Fatalf("%d sessions encrypted, %d sealed payloads opened by the agent; want 1 and some", sessions, payloads)
		}
		if n := b.Faults().Count("kms", "GenerateDataKey") - before; n != 1 {
			t.Fatalf("%d GenerateDataKey calls, want 1", n)
		}

		// A key KMS does not know (deleted, or another account's): KMS
		// refuses the data key, and the start fails at once saying which
		// key, which call and why, leaving no session. (moto does not
		// refuse a disabled key, as KMS would.)
		gone := "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000"
		b.Tunnels().SSM.SetFaults(tunnels.SSMFaults{KMSKeyID: gone})
		_, err = tssm.Open(testCtx(t), session(t, k))
		if err == nil {
			t.Fatal("a session started with a KMS key that does not exist")
		}
		for _, want := range []string{gone, "kms:GenerateDataKey", "NotFoundException", "Session Manager preferences"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not mention %q: %v", want, err)
			}
		}
		if a := b.Tunnels().SSM.Active(); len(a) != 0 {
			t.Fatalf("sessions still active: %v", a)
		}
	})

	t.Run("session manager, no agent", func(t *testing.T) {
		_, err := tssm.Open(testCtx(t), tssm.Config{API: ssm.NewFromConfig(cfg), InstanceID: "i-0000000000000dead", Port: b.SSHPort,
			Region: "us-east-1", Credentials: cfg.Credentials, RegistrationWait: time.Second})
		if err == nil || !strings.Contains(err.Error(), "TargetNotConnected") || !strings.Contains(err.Error(), "not connected to Session Manager") {
			t.Fatalf("error %v", err)
		}
	})

	t.Run("instance connect endpoint", func(t *testing.T) {
		ep, err := eice.Find(testCtx(t), c, "", aws.ToString(i.VpcId), aws.ToString(i.SubnetId))
		if err != nil {
			t.Fatal(err)
		}
		if ep.ID != testbed.EICEID || len(ep.SecurityGroupIDs) != 1 || !strings.HasPrefix(ep.SecurityGroupIDs[0], "sg-") {
			t.Fatalf("endpoint %+v", ep)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(b.Tunnels().EICE.CAPEM())
		d, err := eice.New(eice.Config{Endpoint: ep, PrivateIP: aws.ToString(i.PrivateIpAddress), Port: b.SSHPort, Region: "us-east-1",
			Credentials: cfg.Credentials, HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}})
		if err != nil {
			t.Fatal(err)
		}
		login(t, d)
		if r := b.Tunnels().EICE.Refused(); len(r) != 0 {
			t.Fatalf("refused: %v", r)
		}
	})
}
