//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// amiTestBake is a bake whose AMI test prints a marker and then sleeps,
// so that it can be interrupted during the check.
func amiTestBake(t *testing.T) *bake {
	t.Helper()
	// The bed's "instance" outlives the build, and so would a sleep whose
	// SSH session was cut: a unique argv to kill it by.
	sleeper := fmt.Sprintf("sleep 120.%d", time.Now().UnixNano()%1e6)
	t.Cleanup(func() { _ = exec.Command("pkill", "-u", suite.Bed.SSHUser, "-f", "^"+sleeper+"$").Run() })
	b := newBake(t, "true")
	b.vars = map[string]any{"ami_test_commands": []string{"echo ami-test-started", sleeper}}
	return b
}

var testInstanceLine = regexp.MustCompile(`AMI test: instance (i-[0-9a-f]+) is running`)

// TestE2EAMITestInterrupted: Ctrl-C or SIGTERM during an AMI test's check
// terminates the test instance and the build instance, removes the AMI and
// its snapshots, and leaves nothing.
func TestE2EAMITestInterrupted(t *testing.T) {
	for _, sig := range []struct {
		name string
		send func(pid int) error
	}{
		{"ctrl-c", func(pid int) error { return syscall.Kill(-pid, syscall.SIGINT) }},
		{"sigterm", func(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }},
	} {
		t.Run(sig.name, func(t *testing.T) {
			b := amiTestBake(t)
			out := b.interruptWhen("ami-test-started", sig.send)
			if testInstanceLine.FindStringSubmatch(out) == nil {
				t.Fatalf("no test instance in the output")
			}
			client := ec2Client(t)
			if imgs := imagesNamed(t, client, b.amiName); len(imgs) != 0 {
				t.Errorf("the interrupted build left AMI %s", aws.ToString(imgs[0].ImageId))
			}
			assertNothingLeft(t, client) // the test instance included: it carries the build's tag
			b.assertNoSecrets(out)
		})
	}
}

// TestE2EAMITestSweptAfterKill: SIGKILL during the AMI test leaves the test
// instance running; it is journalled and tagged as the build's, so sweep
// terminates it.
func TestE2EAMITestSweptAfterKill(t *testing.T) {
	b := amiTestBake(t)
	out := b.interruptWhen("ami-test-started", func(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) })
	m := testInstanceLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no test instance in the output:\n%s", out)
	}
	client := ec2Client(t)
	state := func() types.InstanceStateName {
		res, err := client.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{m[1]}})
		if err != nil || len(res.Reservations) == 0 {
			t.Fatalf("test instance %s: %v", m[1], err)
		}
		return res.Reservations[0].Instances[0].State.Name
	}
	if s := state(); s != types.InstanceStateNameRunning {
		t.Fatalf("after SIGKILL the test instance is %s; the test needs it left running", s)
	}
	sweep := exec.Command(suite.Plugin, "sweep", "--region", "us-east-1")
	sweep.Env = append(suite.Bed.Env(), "PACKER_BAKERY_JOURNAL_DIR="+b.journals)
	sweepOut, err := sweep.CombinedOutput()
	t.Logf("sweep:\n%s", sweepOut)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if s := state(); s != types.InstanceStateNameTerminated {
		t.Errorf("after the sweep the test instance %s is %s, want terminated", m[1], s)
	}
}
