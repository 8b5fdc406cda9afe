package testbed

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func testSSHDConfig() sshdConfig {
	return sshdConfig{
		Port:     2222,
		HostKey:  "/cache/run-1/ssh_host_ed25519_key",
		PidFile:  "/cache/run-1/sshd.pid",
		Endpoint: "http://127.0.0.1:4566",
		Regions:  []string{"us-east-1", "eu-west-1"},
	}
}

func TestSSHDConfigRender(t *testing.T) {
	text, err := testSSHDConfig().render()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(text, "\n")
	for _, want := range []string{
		"ListenAddress 127.0.0.1",
		"Port 2222",
		"HostKey /cache/run-1/ssh_host_ed25519_key",
		"PidFile /cache/run-1/sshd.pid",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"AuthorizedKeysFile none",
		"AuthorizedKeysCommand /usr/local/libexec/bakery-testbed/authorized-keys --endpoint http://127.0.0.1:4566 --regions us-east-1,eu-west-1 %u",
		"AuthorizedKeysCommandUser nobody",
		"AllowUsers ec2-user bakery-deploy",
		"Subsystem sftp /usr/libexec/openssh/sftp-server",
		"LogLevel VERBOSE",
		"StrictModes yes",
		"AllowTcpForwarding yes",
	} {
		if !containsLine(lines, want) {
			t.Errorf("sshd_config lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "internal-sftp") {
		t.Error("sshd_config uses internal-sftp; the Amazon Linux sftp-server path is the point")
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestSSHDConfigRejects(t *testing.T) {
	tests := map[string]func(*sshdConfig){
		"non-loopback endpoint": func(c *sshdConfig) { c.Endpoint = "https://ec2.amazonaws.com" },
		"space in path":         func(c *sshdConfig) { c.HostKey = "/my cache/key" },
		"percent token":         func(c *sshdConfig) { c.PidFile = "/cache/%u.pid" },
		"no regions":            func(c *sshdConfig) { c.Regions = nil },
	}
	for name, mutate := range tests {
		c := testSSHDConfig()
		mutate(&c)
		if _, err := c.render(); err == nil {
			t.Errorf("%s: render accepted it", name)
		}
	}
}

// TestSSHDAcceptsRenderedConfig has sshd itself parse the config, when sshd
// is installed; it needs no root and starts nothing.
func TestSSHDAcceptsRenderedConfig(t *testing.T) {
	if _, err := os.Stat(sshdBinary); err != nil {
		t.Skip("sshd not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("sshd -t wants root to read its host key checks")
	}
	dir := t.TempDir()
	c := testSSHDConfig()
	c.HostKey = filepath.Join(dir, "hostkey")
	c.PidFile = filepath.Join(dir, "sshd.pid")
	if _, err := writeHostKey(c.HostKey); err != nil {
		t.Fatal(err)
	}
	text, err := c.render()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sshdBinary, "-t", "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v\n%s", err, out)
	}
}
