package ebs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel"
	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel/eice"
	tssm "github.com/packer-bakery/packer-plugin-bakery/common/tunnel/ssm"
	"github.com/packer-bakery/packer-plugin-bakery/version"
)

// The `ssh_interface` values that reach the instance through a tunnel.
const (
	interfaceSessionManager = "session_manager"
	interfaceEICE           = "instance_connect_endpoint"
)

// isTunnel reports whether iface reaches the instance through a tunnel.
func isTunnel(iface string) bool { return iface == interfaceSessionManager || iface == interfaceEICE }

// tunnelHost is where the communicator and provisioners connect when the
// instance is reached through a tunnel: the tunnel's local listener.
const tunnelHost = "127.0.0.1"

// stepTunnel opens the tunnel to the instance's SSH port — a Session
// Manager port-forwarding session, or EC2 Instance Connect Endpoint
// websockets — and a listener on 127.0.0.1 whose every connection rides
// it. It points the communicator there, so Packer's SSH, its provisioners
// and bakery-ansible all use it. Cleanup closes the listener and ends the
// session on AWS (TerminateSession).
type stepTunnel struct {
	iface      string
	comm       *communicator.Config
	remotePort int // the instance's SSH port
	localPort  int // `session_manager_port`; 0 picks a free port
	pause      time.Duration
	wait       time.Duration // how long the SSM agent may take to register
	region     string
	creds      aws.CredentialsProvider
	httpClient *http.Client
	ssm        tssm.API
	kms        tssm.KMSAPI   // the session's data key, if the account's preferences encrypt sessions
	endpointID string        // `instance_connect_endpoint_id`, for the policy
	probeWait  time.Duration // 0: defaultProbeWait
	// instance is the instance to reach: the build's (nil), or the AMI
	// test's.
	instance func(multistep.StateBag) types.Instance

	mu     sync.Mutex
	fwd    *tunnel.Forwarder
	ssmTun *tssm.Tunnel
}

var _ multistep.Step = (*stepTunnel)(nil)

func (s *stepTunnel) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	ui := getUI(state)
	instance := s.instance
	if instance == nil {
		instance = getInstance
	}
	inst := instance(state)
	id := aws.ToString(inst.InstanceId)
	logf := func(format string, args ...any) { ui.Say(fmt.Sprintf(format, args...)) }
	var d tunnel.Dialer
	switch s.iface {
	case interfaceSessionManager:
		if s.pause > 0 {
			ui.Say(fmt.Sprintf("Waiting %s before starting the Session Manager session (`pause_before_ssm`)...", s.pause))
			select {
			case <-time.After(s.pause):
			case <-ctx.Done():
				return multistep.ActionHalt
			}
		}
		ui.Say(fmt.Sprintf("Starting a Session Manager session to %s port %d...", id, s.remotePort))
		t, err := tssm.Open(ctx, tssm.Config{
			API: s.ssm, InstanceID: id, Port: s.remotePort, Region: s.region, Credentials: s.creds,
			HTTPClient: s.httpClient, RegistrationWait: s.wait, Logf: logf, KMS: s.kms,
			ClientVersion: "packer-plugin-bakery/" + version.PluginVersion.FormattedVersion(),
		})
		if err != nil {
			return halt(state, err)
		}
		s.mu.Lock()
		s.ssmTun = t
		s.mu.Unlock()
		ui.Say(fmt.Sprintf("Session Manager session %s started", t.SessionIDs()[0]))
		d = t
	case interfaceEICE:
		ep := getEndpoint(state)
		ip := aws.ToString(inst.PrivateIpAddress)
		dialer, err := eice.New(eice.Config{Endpoint: ep, PrivateIP: ip, Port: s.remotePort, Region: s.region,
			Credentials: s.creds, HTTPClient: s.httpClient, Logf: logf})
		if err != nil {
			return halt(state, err)
		}
		d = dialer
	default:
		return multistep.ActionContinue
	}
	fwd, err := tunnel.Listen(d, s.localPort, func(format string, args ...any) { ui.Error(fmt.Sprintf(format, args...)) })
	if err != nil {
		s.close(ui)
		return halt(state, err)
	}
	s.mu.Lock()
	s.fwd = fwd
	s.mu.Unlock()
	if err := s.probe(ctx, d, id); err != nil {
		s.close(ui)
		return halt(state, err)
	}
	s.comm.SSHHost, s.comm.SSHPort = tunnelHost, fwd.Port()
	ui.Say(fmt.Sprintf("Tunnel to %s port %d listening on %s", id, s.remotePort, fwd.Addr()))
	return multistep.ActionContinue
}

// defaultProbeWait bounds how long the probe waits for the SSH server's
// greeting.
const defaultProbeWait = time.Minute

// probe opens one connection through the tunnel and waits for the first
// byte (an SSH server speaks first), so that a tunnel that opens but leads
// nowhere fails here, saying so, instead of as an SSH timeout later.
func (s *stepTunnel) probe(ctx context.Context, d tunnel.Dialer, id string) error {
	wait := s.probeWait
	if wait == 0 {
		wait = defaultProbeWait
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	c, err := d.Dial(ctx)
	if err != nil {
		return fmt.Errorf("opening a connection to %s port %d through the tunnel: %w", id, s.remotePort, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled) {
			err = fmt.Errorf("nothing answered within %s", wait)
		}
		return fmt.Errorf("the tunnel to %s is open, but port %d there did not answer (%w): check that the SSH server listens on `ssh_port` %d of the instance", id, s.remotePort, err, s.remotePort)
	}
	return nil
}

// awsCalls: Session Manager's calls, only to instances this build tagged
// and only with the port-forwarding document; the session calls only on
// sessions this principal started (the session's aws:ssmmessages:session-id
// tag, which Session Manager sets). kms:GenerateDataKey for the session's
// data key when the account's Session Manager preferences encrypt
// sessions: the key is named only in the agent's handshake, so any key of
// the account in the region, but only for data keys bound to a Session
// Manager session of an instance (the encryption context the agent
// decrypts with, and nothing else). OpenTunnel only to `ssh_port`, for at
// most the one hour the client asks for; not limited by
// privateIpAddress, which is the instance's and unknown before launch.
func (s *stepTunnel) awsCalls() []awsCall {
	switch s.iface {
	case interfaceSessionManager:
		own := []Grant{{Sid: "OwnSessions", SSM: []string{"session/*"},
			Conditions: map[string]map[string][]string{"StringLike": {"ssm:resourceTag/aws:ssmmessages:session-id": {"${aws:userid}"}}}}}
		return []awsCall{
			{action: "ssm:StartSession", grants: []Grant{
				{Sid: "SessionToOwnInstance", EC2: []string{"instance/*"}, Conditions: map[string]map[string][]string{
					"Null":         {"ssm:resourceTag/" + bakery.TagBuildID: {"false"}},
					"BoolIfExists": {"ssm:SessionDocumentAccessCheck": {"true"}},
				}},
				{Sid: "PortForwardingDocument", SSM: []string{"document/" + tssm.PortForwardingDocument}},
			}},
			{action: "kms:GenerateDataKey", grants: []Grant{{Sid: "SessionManagerDataKey", AccountKMSKeys: true, Conditions: map[string]map[string][]string{
				"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": {tssm.ContextSessionID, tssm.ContextTargetID}},
				"Null":                      {"kms:EncryptionContext:" + tssm.ContextSessionID: {"false"}, "kms:EncryptionContext:" + tssm.ContextTargetID: {"false"}},
				"StringLike":                {"kms:EncryptionContext:" + tssm.ContextTargetID: {"i-*"}},
			}}}},
			{action: "ssm:ResumeSession", grants: own},
			{action: "ssm:TerminateSession", grants: own},
		}
	case interfaceEICE:
		endpoint := "instance-connect-endpoint/*"
		if s.endpointID != "" && bakery.Known(s.endpointID) {
			endpoint = "instance-connect-endpoint/" + s.endpointID
		}
		conditions := map[string]map[string][]string{
			"NumericLessThanEquals": {"ec2-instance-connect:maxTunnelDuration": {strconv.Itoa(int(eice.MaxTunnelDuration / time.Second))}},
		}
		if s.remotePort != 0 {
			conditions["NumericEquals"] = map[string][]string{"ec2-instance-connect:remotePort": {strconv.Itoa(s.remotePort)}}
		}
		return []awsCall{{action: "ec2-instance-connect:OpenTunnel", grants: []Grant{{Sid: "OpenTunnelToSSH", EC2: []string{endpoint}, Conditions: conditions}}}}
	}
	return nil
}

func (s *stepTunnel) Cleanup(state multistep.StateBag) { s.close(getUI(state)) }

// close stops the listener and its connections and ends the session.
// Safe to call more than once (stepTunnelDone calls it first).
func (s *stepTunnel) close(ui packersdk.Ui) {
	s.mu.Lock()
	fwd, t := s.fwd, s.ssmTun
	s.fwd, s.ssmTun = nil, nil
	s.mu.Unlock()
	if fwd != nil {
		_ = fwd.Close()
	}
	if t != nil {
		if err := t.Close(); err != nil {
			ui.Error(err.Error())
		} else {
			ui.Say(fmt.Sprintf("Ended Session Manager session %s", lastID(t)))
		}
	}
}

func lastID(t *tssm.Tunnel) string {
	ids := t.SessionIDs()
	return ids[len(ids)-1]
}

// stepTunnelDone closes the tunnel once provisioning is over: the
// instance is about to stop, and no session should outlive its use.
type stepTunnelDone struct{ tunnel *stepTunnel }

var _ multistep.Step = (*stepTunnelDone)(nil)

func (s *stepTunnelDone) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	s.tunnel.close(getUI(state))
	return multistep.ActionContinue
}

func (s *stepTunnelDone) Cleanup(multistep.StateBag) {}

// awsCalls: ending the session here is the tunnel step's TerminateSession.
func (s *stepTunnelDone) awsCalls() []awsCall {
	for _, c := range s.tunnel.awsCalls() {
		if c.action == "ssm:TerminateSession" {
			return []awsCall{c}
		}
	}
	return nil
}

// sdkHTTPClient is an http.Client with the SDK config's transport (its CA
// bundle, proxy and TLS settings), for the tunnels' websockets.
func sdkHTTPClient(cfg aws.Config) *http.Client {
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		return &http.Client{Transport: bc.GetTransport()}
	}
	return http.DefaultClient
}
