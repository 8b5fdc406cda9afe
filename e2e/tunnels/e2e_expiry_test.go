//go:build e2e

package tunnels_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/tunnels"
)

// TestE2EEndpointTunnelExpiry: AWS cuts every EC2 Instance Connect
// Endpoint tunnel at its maximum duration (one hour; here 8 s). Packer's
// SSH connection, opened when the instance came up, is cut while a
// provisioner pauses; the next provisioner gets a new connection (Packer's
// communicator reconnects through the local listener, which opens a new
// tunnel) and the build goes on. Ansible's ControlMaster is cut while the
// play pauses on the controller; its next task starts a new one. A
// command running over a connection at the moment it is cut would fail
// with it: see docs/builders/ebs.mdx.
func TestE2EEndpointTunnelExpiry(t *testing.T) {
	b := newBake(t, endpoint, "expiry.yml")
	b.vars["late_pause"] = "11s"
	suite.Bed.Tunnels().EICE.SetFaults(tunnels.EICEFaults{MaxTunnelDuration: 8 * time.Second})
	out, err := b.run()
	if err != nil {
		t.Fatalf("packer build failed: %v", err)
	}
	if got := b.home("ec2-user", "late"); got != "late-shell" {
		t.Errorf("the provisioner after the cut wrote %q", got)
	}
	if got := b.home("ec2-user", "before"); got != "before the cut" {
		t.Errorf("the play's first task wrote %q", got)
	}
	if got := b.home("ec2-user", "after"); got != "after the cut" {
		t.Errorf("the play's task after the cut wrote %q", got)
	}
	// Packer's connection and Ansible's ControlMaster.
	if n := suite.Bed.Tunnels().EICE.Expired(); n < 2 {
		t.Errorf("%d tunnels were cut at their maximum duration, want Packer's and Ansible's first", n)
	}
	// Packer's SSH communicator found its connection gone and made a new one.
	log, err := os.ReadFile(b.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "attempting reconnect") {
		t.Error("PACKER_LOG shows no reconnection of Packer's SSH communicator: was its connection cut?")
	}
	b.assertAMI(1)
	b.assertClean(out)
}
