//go:build e2e

package tunnels_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"golang.org/x/crypto/ssh"

	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel"
	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel/eice"
	tssm "github.com/packer-bakery/packer-plugin-bakery/common/tunnel/ssm"
)

// TestE2ETunnelSpeed measures Ansible over each tunnel against direct SSH
// (from the stand-ins' address, which the tunnel-only sshd admits): a
// 200-task play and a 100 MB copy, plain ansible-playbook with its
// defaults. It reports, it never fails on a timing. It takes a few
// minutes, so it runs only with BAKERY_TUNNEL_SPEED=1.
func TestE2ETunnelSpeed(t *testing.T) {
	if os.Getenv("BAKERY_TUNNEL_SPEED") != "1" {
		t.Skip("set BAKERY_TUNNEL_SPEED=1 to measure")
	}
	suite.Bed.ResetAfter(t)
	ctx := context.Background()
	cfg, err := suite.Bed.AWSConfig(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	client := ec2.NewFromConfig(cfg)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("speed"), PublicKeyMaterial: ssh.MarshalAuthorizedKey(signer.PublicKey())}); err != nil {
		t.Fatal(err)
	}
	imgs, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"137112412989"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"amzn2-ami-hvm-*-x86_64-gp2"}}}})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("no image: %v", err)
	}
	run, err := client.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: imgs.Images[0].ImageId, InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), KeyName: aws.String("speed")})
	if err != nil {
		t.Fatal(err)
	}
	inst := run.Instances[0]
	id := aws.ToString(inst.InstanceId)

	ssmTun, err := tssm.Open(ctx, tssm.Config{API: ssm.NewFromConfig(cfg), InstanceID: id, Port: suite.Bed.SSHPort, Region: "us-east-1", Credentials: cfg.Credentials})
	if err != nil {
		t.Fatal(err)
	}
	defer ssmTun.Close()
	ssmFwd, err := tunnel.Listen(ssmTun, 0, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer ssmFwd.Close()
	ep, err := eice.Find(ctx, client, "", aws.ToString(inst.VpcId), aws.ToString(inst.SubnetId))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(suite.Bed.Tunnels().EICE.CAPEM())
	d, err := eice.New(eice.Config{Endpoint: ep, PrivateIP: aws.ToString(inst.PrivateIpAddress), Port: suite.Bed.SSHPort, Region: "us-east-1",
		Credentials: cfg.Credentials, HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}})
	if err != nil {
		t.Fatal(err)
	}
	eiceFwd, err := tunnel.Listen(d, 0, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer eiceFwd.Close()

	var tasks strings.Builder
	tasks.WriteString("- name: Many tasks\n  hosts: all\n  gather_facts: false\n  tasks:\n")
	for i := range 200 {
		fmt.Fprintf(&tasks, "    - name: Task %d\n      ansible.builtin.command: /bin/true\n", i)
	}
	many := filepath.Join(dir, "many.yml")
	if err := os.WriteFile(many, []byte(tasks.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "copy.bin")
	blob := make([]byte, 100<<20)
	_, _ = rand.Read(blob)
	if err := os.WriteFile(src, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	dest := "/tmp/bakery-tunnel-speed-" + id + ".bin"
	defer os.Remove(dest)
	copyPB := filepath.Join(dir, "copy.yml")
	if err := os.WriteFile(copyPB, fmt.Appendf(nil, "- name: Copy\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: Copy 100 MB\n      ansible.builtin.copy:\n        src: %s\n        dest: %s\n        mode: \"0600\"\n", src, dest), 0o644); err != nil {
		t.Fatal(err)
	}

	routes := []struct {
		name, extra string
		port        int
	}{
		{"direct SSH", "-b 127.0.0.2", suite.Bed.SSHPort},
		{"Session Manager", "", ssmFwd.Port()},
		{"Instance Connect Endpoint", "", eiceFwd.Port()},
	}
	runs := 1
	for _, job := range []struct{ name, playbook string }{{"200 tasks", many}, {"100 MB copy", copyPB}} {
		for _, r := range routes {
			var times []string
			for i := range runs {
				_ = os.Remove(dest)
				work := filepath.Join(dir, fmt.Sprintf("run-%s-%d", strings.ReplaceAll(r.name, " ", "-"), i))
				_ = os.MkdirAll(work, 0o700)
				inv := filepath.Join(work, "inventory")
				_ = os.WriteFile(inv, fmt.Appendf(nil, "default ansible_host=127.0.0.1 ansible_port=%d\n", r.port), 0o600)
				cmd := exec.Command(ansiblePlaybook(), job.playbook, "-i", inv, "--user", "ec2-user", "--private-key", keyFile,
					"--ssh-extra-args="+strings.TrimSpace(r.extra+" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes"))
				// A short folder: a ControlPath longer than a unix socket's
				// 108 bytes would make every task a new login.
				cp, err := os.MkdirTemp("", "cp")
				if err != nil {
					t.Fatal(err)
				}
				defer os.RemoveAll(cp)
				cmd.Env = append(os.Environ(), "HOME="+work, "ANSIBLE_HOST_KEY_CHECKING=False", "ANSIBLE_SSH_CONTROL_PATH_DIR="+cp)
				start := time.Now()
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Errorf("%s over %s: %v\n%s", job.name, r.name, err, out)
					break
				}
				times = append(times, fmt.Sprintf("%.1f s", time.Since(start).Seconds()))
			}
			t.Logf("%-12s %-26s %s", job.name, r.name, strings.Join(times, ", "))
		}
	}
}
