package ansible

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// connection is what the builder's communicator tells provisioners
// (packer's generated data: Host, Port, User, SSHPrivateKey, ...), plus
// what bakery-ebs adds: the route it took and the host key it saw.
type connection struct {
	Type           string
	Host           string
	Port           int
	User           string
	PrivateKey     string // PEM text of the builder's (temporary) key
	PrivateKeyFile string
	AgentAuth      bool
	// HostKey is the instance's SSH host key as the builder first saw it
	// (authorized_keys format); "" from builders that do not pin it.
	HostKey string
	// Bastion is the builder's `ssh_bastion_*` route; nil without one.
	Bastion *bastion
	// SOCKSProxy is the builder's `ssh_proxy_host:port`; "" without one.
	SOCKSProxy string
}

// bastion is the jump host the builder reached the instance through.
type bastion struct {
	Host     string
	Port     int
	User     string
	KeyFile  string
	CertFile string
	Agent    bool
	// Password: the builder logs in to the bastion with a password or
	// keyboard-interactive, which a non-interactive ssh cannot do.
	Password bool
}

// usableBySSH: the local ssh can log in to the bastion unattended.
func (b *bastion) usableBySSH() bool { return b.KeyFile != "" || b.Agent }

func connectionFrom(data map[string]interface{}) connection {
	str := func(k string) string { s, _ := data[k].(string); return s }
	flag := func(k string) bool { b, _ := data[k].(bool); return b }
	c := connection{
		Type:           str("ConnType"),
		Host:           str("Host"),
		Port:           intOf(data["Port"]),
		User:           str("User"),
		PrivateKey:     str("SSHPrivateKey"),
		PrivateKeyFile: str("SSHPrivateKeyFile"),
		AgentAuth:      flag("SSHAgentAuth"),
		HostKey:        str("SSHHostPublicKey"),
	}
	if h := str("SSHBastionHost"); h != "" {
		c.Bastion = &bastion{
			Host:     h,
			Port:     intOf(data["SSHBastionPort"]),
			User:     str("SSHBastionUsername"),
			KeyFile:  str("SSHBastionPrivateKeyFile"),
			CertFile: str("SSHBastionCertificateFile"),
			Agent:    flag("SSHBastionAgentAuth"),
			Password: flag("SSHBastionPasswordAuth"),
		}
		if c.Bastion.Port == 0 {
			c.Bastion.Port = 22
		}
	}
	if h := str("SSHProxyHost"); h != "" {
		c.SOCKSProxy = net.JoinHostPort(h, strconv.Itoa(intOf(data["SSHProxyPort"])))
	}
	return c
}

// intOf reads a number that may have crossed packer's RPC as any of
// these types.
func intOf(v interface{}) int {
	switch p := v.(type) {
	case int:
		return p
	case int64:
		return int(p)
	case float64:
		return int(p)
	case string:
		n, _ := strconv.Atoi(p)
		return n
	}
	return 0
}

// hasCredentials: direct mode needs a way to log in without packer.
func (c connection) hasCredentials() bool {
	return c.PrivateKey != "" || c.PrivateKeyFile != "" || c.AgentAuth
}

type mode int

const (
	modeDirect mode = iota
	modeProxy
)

func (m mode) String() string {
	if m == modeProxy {
		return "proxy"
	}
	return "direct"
}

// chooseMode decides how Ansible reaches the instance, and says why.
// reach is only called when the answer depends on it: never when the
// builder went through a bastion or a SOCKS proxy, because an address
// that answers from here is then not proof of reaching the instance (it
// may be another machine on this side of the bastion).
func chooseMode(useProxy *bool, c connection, reach func(host string, port int) error) (mode, string, error) {
	if useProxy != nil && *useProxy {
		return modeProxy, "`use_proxy = true`", nil
	}
	forced := useProxy != nil && !*useProxy
	problem := ""
	switch {
	case c.Type != "" && c.Type != "ssh":
		problem = fmt.Sprintf("the communicator is %q, not ssh", c.Type)
	case c.Host == "" || c.Port == 0:
		problem = "the builder gave no SSH host and port"
	case !c.hasCredentials():
		problem = "the builder gave no SSH private key and no agent"
	case c.SOCKSProxy != "":
		problem = fmt.Sprintf("the builder reaches the instance through the proxy %s (`ssh_proxy_host`), which Ansible's ssh cannot use", c.SOCKSProxy)
	case c.Bastion != nil && !c.Bastion.usableBySSH():
		problem = fmt.Sprintf("the builder logs in to the bastion %s with a password (`ssh_bastion_password`/`ssh_bastion_interactive`), which Ansible's ssh cannot do unattended: give the bastion `ssh_bastion_private_key_file` or `ssh_bastion_agent_auth`", c.Bastion.Host)
	case c.Bastion != nil:
		return modeDirect, fmt.Sprintf("SSH to %s@%s:%d through the bastion %s@%s:%d, as the builder", c.User, c.Host, c.Port, c.Bastion.User, c.Bastion.Host, c.Bastion.Port), nil
	default:
		if err := reach(c.Host, c.Port); err != nil {
			problem = fmt.Sprintf("%s:%d does not answer from here (%v)", c.Host, c.Port, err)
		}
	}
	if problem == "" {
		return modeDirect, fmt.Sprintf("SSH straight to %s@%s:%d", c.User, c.Host, c.Port), nil
	}
	if forced {
		return modeDirect, "", fmt.Errorf("`use_proxy = false` but %s", problem)
	}
	return modeProxy, problem, nil
}

// dialTCP is the default reachability check.
func dialTCP(host string, port int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return conn.Close()
}
