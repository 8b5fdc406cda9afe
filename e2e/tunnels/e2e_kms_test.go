//go:build e2e

package tunnels_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/tunnels"
)

// TestE2ESessionManagerKMS: the account's Session Manager preferences
// encrypt sessions with a KMS key (moto's). The whole bake — communicator,
// shell provisioner, bakery-ansible's copy, become_user and five parallel
// connections — rides one session whose every stream payload is sealed
// with the data key the plugin asked KMS for; the stand-in agent decrypts
// that key with moto's kms:Decrypt under the session's encryption
// context. A key KMS refuses fails the build at the tunnel, saying which
// key, which call and why, and leaves nothing behind.
func TestE2ESessionManagerKMS(t *testing.T) {
	cfg, err := suite.Bed.AWSConfig(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	tun := suite.Bed.Tunnels()

	t.Run("encrypted", func(t *testing.T) {
		b := newBake(t, sessionManager, "tunnel.yml")
		key, err := kms.NewFromConfig(cfg).CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("Session Manager preferences (test-bed)")})
		if err != nil {
			t.Fatal(err)
		}
		tun.SSM.SetFaults(tunnels.SSMFaults{KMSKeyID: aws.ToString(key.KeyMetadata.Arn)})
		out, err := b.run()
		if err != nil {
			t.Fatalf("packer build failed: %v", err)
		}
		if got := b.home("ec2-user", "copied"); got != "copied over the tunnel" {
			t.Errorf("the copied file holds %q", got)
		}
		if got := b.home("bakery-app", "become"); got != "bakery-app" {
			t.Errorf("the become_user task ran as %q", got)
		}
		sessions, payloads := tun.SSM.Encrypted()
		if sessions != 1 || payloads < 100 {
			t.Errorf("%d encrypted sessions, %d sealed payloads opened by the agent; want 1 and the whole bake's", sessions, payloads)
		}
		if n := suite.Bed.Faults().Count("kms", "GenerateDataKey"); n != 1 {
			t.Errorf("%d kms:GenerateDataKey calls from the build, want 1", n)
		}
		if n := tun.SSM.MaxStreams(); n < 5 {
			t.Errorf("at most %d connections at once went through the encrypted session, want the five parallel ones", n)
		}
		b.assertAMI(1)
		b.assertClean(out)
	})

	t.Run("refused", func(t *testing.T) {
		b := newBake(t, sessionManager, "tunnel.yml")
		gone := "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000"
		tun.SSM.SetFaults(tunnels.SSMFaults{KMSKeyID: gone})
		out, err := b.run()
		if err == nil {
			t.Fatal("the build succeeded with a KMS key that does not exist")
		}
		for _, want := range []string{gone, "kms:GenerateDataKey", "NotFoundException", "Session Manager preferences"} {
			if !strings.Contains(out, want) {
				t.Errorf("the build's output does not mention %q", want)
			}
		}
		b.assertAMI(0)
		b.assertClean(out)
	})
}
