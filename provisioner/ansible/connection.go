package ansible

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// connection is what the builder's communicator tells provisioners
// (packer's generated data: Host, Port, User, SSHPrivateKey, ...).
type connection struct {
	Type           string
	Host           string
	Port           int
	User           string
	PrivateKey     string // PEM text of the builder's (temporary) key
	PrivateKeyFile string
	AgentAuth      bool
}

func connectionFrom(data map[string]interface{}) connection {
	str := func(k string) string { s, _ := data[k].(string); return s }
	c := connection{
		Type:           str("ConnType"),
		Host:           str("Host"),
		User:           str("User"),
		PrivateKey:     str("SSHPrivateKey"),
		PrivateKeyFile: str("SSHPrivateKeyFile"),
	}
	c.AgentAuth, _ = data["SSHAgentAuth"].(bool)
	switch p := data["Port"].(type) {
	case int:
		c.Port = p
	case int64:
		c.Port = int(p)
	case float64:
		c.Port = int(p)
	case string:
		c.Port, _ = strconv.Atoi(p)
	}
	return c
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
// reach is only called when the answer depends on it.
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
