//go:build e2e

package ansible_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

const benchTasks = 200

// writeBenchPlaybook writes a play of n trivial tasks next to the
// testdata playbooks (so it gets the same ansible.cfg) and returns its name.
func writeBenchPlaybook(b *testing.B, n int) string {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("- name: Benchmark\n  hosts: default\n  gather_facts: false\n  tasks:\n")
	for i := range n {
		fmt.Fprintf(&sb, "    - name: Task %d\n      ansible.builtin.command: \"true\"\n      changed_when: false\n", i)
	}
	name := fmt.Sprintf("bench-%d-%s.yml", n, testbed.RandomHex(4))
	path := filepath.Join(suite.Root, "provisioner/ansible/testdata/playbooks", name)
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.Remove(path) })
	return name
}

// BenchmarkPlaybook200 compares a 200-task playbook run by a whole
// `packer build` (bakery-ebs + bakery-ansible, bake overhead included)
// with plain ansible-playbook over SSH to the same sshd, with default
// Ansible settings and the same key type. Run with `make bench`; it
// reports, never fails on timing.
func BenchmarkPlaybook200(b *testing.B) {
	playbook := writeBenchPlaybook(b, benchTasks)

	b.Run("provisioner-packer-build", func(b *testing.B) {
		for range b.N {
			bk := newBenchBake(b, playbook)
			start := time.Now()
			out, err := bk.cmd(context.Background()).CombinedOutput()
			if err != nil {
				b.Fatalf("packer build: %v\n%s", err, out)
			}
			b.ReportMetric(time.Since(start).Seconds(), "s/build")
		}
	})

	b.Run("plain-ansible-playbook", func(b *testing.B) {
		key, inv := plainTarget(b)
		playPath := filepath.Join(suite.Root, "provisioner/ansible/testdata/playbooks", playbook)
		for range b.N {
			home := b.TempDir()
			cmd := exec.Command(ansibleBin(suite.Root, ansibleVersions[0], "ansible-playbook"), playPath, "-i", inv,
				"--user", "ec2-user", "--private-key", key,
				"--ssh-extra-args", "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes",
				"-e", "marker=bench")
			cmd.Env = append(os.Environ(), "HOME="+home, "ANSIBLE_HOST_KEY_CHECKING=False",
				"ANSIBLE_SSH_CONTROL_PATH_DIR="+home+"/cp")
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("ansible-playbook: %v\n%s", err, out)
			}
			b.ReportMetric(time.Since(start).Seconds(), "s/run")
		}
	})
}

func newBenchBake(b *testing.B, playbook string) *bake {
	b.Helper()
	dir := b.TempDir()
	bk := &bake{
		marker:  testbed.RandomHex(4),
		secret:  "awsSecret" + testbed.RandomHex(12),
		pSecret: "playSecret" + testbed.RandomHex(12),
		amiName: "bakery-ansible-bench-" + testbed.RandomHex(4),
		tmp:     filepath.Join(dir, "tmp"),
		logPath: filepath.Join(dir, "packer.log"),
	}
	bk.t = &testing.T{}
	bk.vars = map[string]any{
		"secret_key": bk.secret, "ami_name": bk.amiName,
		"playbook":        filepath.Join(suite.Root, "provisioner/ansible/testdata/playbooks", playbook),
		"ansible_command": ansibleBin(suite.Root, ansibleVersions[0], "ansible-playbook"),
		"marker":          bk.marker, "play_secret": bk.pSecret,
	}
	if err := os.MkdirAll(bk.tmp, 0o700); err != nil {
		b.Fatal(err)
	}
	return bk
}

// plainTarget launches an emulator instance with an imported key, so the
// test-bed's sshd lets that key in as ec2-user, and writes the key and an
// inventory for plain ansible-playbook.
func plainTarget(b *testing.B) (keyFile, inventory string) {
	b.Helper()
	ctx := context.Background()
	client, err := suite.Bed.EC2(ctx, "us-east-1")
	if err != nil {
		b.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(pub)
	name := "bench-" + testbed.RandomHex(4)
	if _, err := client.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String(name), PublicKeyMaterial: ssh.MarshalAuthorizedKey(sshPub)}); err != nil {
		b.Fatal(err)
	}
	imgs, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"137112412989"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"amzn2-ami-hvm-*-x86_64-gp2"}}}})
	if err != nil || len(imgs.Images) == 0 {
		b.Fatalf("no AMI: %v", err)
	}
	run, err := client.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: imgs.Images[0].ImageId, InstanceType: types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), KeyName: aws.String(name)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_, _ = client.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(run.Instances[0].InstanceId)}})
		_, _ = client.DeleteKeyPair(context.Background(), &ec2.DeleteKeyPairInput{KeyName: aws.String(name)})
	})
	dir := b.TempDir()
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		b.Fatal(err)
	}
	keyFile = filepath.Join(dir, "key")
	inventory = filepath.Join(dir, "inventory.ini")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(inventory, fmt.Appendf(nil, "default ansible_host=%s ansible_port=%d\n", suite.Bed.SSHHost, suite.Bed.SSHPort), 0o600); err != nil {
		b.Fatal(err)
	}
	return keyFile, inventory
}
