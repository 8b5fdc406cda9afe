package ebs

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/communicator"
	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/packer-bakery/packer-plugin-bakery/common/tunnel/eice"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/tunnels"
)

const greeting = tunnels.Greeting

// echoPort stands in for the instance's sshd: it greets first, then echoes.
func echoPort(t *testing.T) int { return server(t, tunnels.GreetThenEcho) }

// server runs serve for every connection to a new loopback port.
func server(t *testing.T, serve func(net.Conn)) int {
	t.Helper()
	port, stop, err := tunnels.Serve(serve)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return port
}

func roundTrip(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, len(greeting))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
		t.Fatalf("through the tunnel: %q, %v", got, err)
	}
}

func TestStepTunnelSessionManager(t *testing.T) {
	s, err := tunnels.StartSSM()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	api := &tunnels.SSMClient{S: s}
	comm := &communicator.Config{Type: "ssh"}
	step := &stepTunnel{iface: interfaceSessionManager, comm: comm, remotePort: echoPort(t), region: "us-east-1",
		creds: credentials.NewStaticCredentialsProvider("testing", "testing", ""), ssm: api, wait: time.Second}
	state, ui := newState(t)
	putInstance(state, types.Instance{InstanceId: aws.String("i-0123456789abcdef0")})
	wantContinue(t, step.Run(context.Background(), state), state, ui)
	if comm.SSHHost != "127.0.0.1" || comm.SSHPort == 0 {
		t.Fatalf("communicator points at %s:%d, want the tunnel's listener", comm.SSHHost, comm.SSHPort)
	}
	addr := net.JoinHostPort(comm.SSHHost, itoa(comm.SSHPort))
	roundTrip(t, addr)
	roundTrip(t, addr)
	if starts, _ := api.Counts(); starts != 1 {
		t.Errorf("%d sessions for two connections", starts)
	}
	step.Cleanup(state)
	if _, term := api.Counts(); len(term) != 1 || len(s.Active()) != 0 {
		t.Errorf("after Cleanup: terminated %v, active %v", term, s.Active())
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts connections after Cleanup")
	}
	if !strings.Contains(ui.Out.String(), "Ended Session Manager session") {
		t.Errorf("output:\n%s", ui.Out.String())
	}
}

func TestStepTunnelNotConnectedHalts(t *testing.T) {
	s, err := tunnels.StartSSM()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetFaults(tunnels.SSMFaults{NoAgentAnywhere: true})
	comm := &communicator.Config{Type: "ssh", SSH: communicator.SSH{SSHPort: 22}}
	step := &stepTunnel{iface: interfaceSessionManager, comm: comm, remotePort: 22, region: "us-east-1",
		creds: credentials.NewStaticCredentialsProvider("testing", "testing", ""), ssm: &tunnels.SSMClient{S: s}, wait: 200 * time.Millisecond}
	state, ui := newState(t)
	putInstance(state, types.Instance{InstanceId: aws.String("i-0123456789abcdef0")})
	if got := step.Run(context.Background(), state); got != multistep.ActionHalt {
		t.Fatalf("action %v", got)
	}
	if err, _ := state.Get(keyError).(error); err == nil || !strings.Contains(err.Error(), "AmazonSSMManagedInstanceCore") {
		t.Fatalf("error %v", err)
	}
	if comm.SSHHost != "" || comm.SSHPort != 22 {
		t.Errorf("the communicator was changed by a failed step: %s:%d", comm.SSHHost, comm.SSHPort)
	}
	step.Cleanup(state)
	_ = ui
}

type fakeEndpoints struct {
	eps []types.Ec2InstanceConnectEndpoint
}

func (f *fakeEndpoints) DescribeInstanceConnectEndpoints(context.Context, *ec2.DescribeInstanceConnectEndpointsInput, ...func(*ec2.Options)) (*ec2.DescribeInstanceConnectEndpointsOutput, error) {
	return &ec2.DescribeInstanceConnectEndpointsOutput{InstanceConnectEndpoints: f.eps}, nil
}

func TestStepFindEndpoint(t *testing.T) {
	ep := func(preserve bool, groups ...string) types.Ec2InstanceConnectEndpoint {
		return types.Ec2InstanceConnectEndpoint{InstanceConnectEndpointId: aws.String("eice-0123456789abcdef0"), VpcId: aws.String("vpc-1"),
			SubnetId: aws.String("subnet-1"), DnsName: aws.String("eice.example"), PreserveClientIp: aws.Bool(preserve), SecurityGroupIds: groups}
	}
	tests := []struct {
		name     string
		ep       types.Ec2InstanceConnectEndpoint
		ownGroup bool
		wantErr  string
	}{
		{name: "found", ep: ep(false, "sg-1"), ownGroup: true},
		{name: "client IP preserved", ep: ep(true, "sg-1"), ownGroup: true, wantErr: "preserves client IP addresses"},
		{name: "client IP preserved, own groups", ep: ep(true, "sg-1"), ownGroup: false},
		{name: "no group", ep: ep(false), ownGroup: true, wantErr: "has no security group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, ui := newState(t)
			state.Put(keyNetwork, network{VpcID: "vpc-1", SubnetID: "subnet-1"})
			step := &stepFindEndpoint{ec2: &fakeEndpoints{eps: []types.Ec2InstanceConnectEndpoint{tt.ep}}, ownGroup: tt.ownGroup, port: 22}
			got := step.Run(context.Background(), state)
			if tt.wantErr == "" {
				wantContinue(t, got, state, ui)
				if e := getEndpoint(state); e.ID != "eice-0123456789abcdef0" {
					t.Errorf("endpoint %+v", e)
				}
				return
			}
			err, _ := state.Get(keyError).(error)
			if got != multistep.ActionHalt || err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("action %v error %v, want %q", got, err, tt.wantErr)
			}
			if _, ok := state.GetOk(keyEndpoint); ok {
				t.Error("a failed lookup stored an endpoint")
			}
		})
	}
}

func TestStepTunnelEndpoint(t *testing.T) {
	e, err := tunnels.StartEICE("eice-0123456789abcdef0", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	comm := &communicator.Config{Type: "ssh"}
	step := &stepTunnel{iface: interfaceEICE, comm: comm, remotePort: echoPort(t), region: "us-east-1",
		creds: credentials.NewStaticCredentialsProvider("testing", "testing", ""), httpClient: trusting(e.CAPEM())}
	state, ui := newState(t)
	putInstance(state, types.Instance{InstanceId: aws.String("i-0123456789abcdef0"), PrivateIpAddress: aws.String("10.0.1.5")})
	putEndpoint(state, eice.Endpoint{ID: e.ID, DNSName: e.DNSName()})
	wantContinue(t, step.Run(context.Background(), state), state, ui)
	addr := net.JoinHostPort(comm.SSHHost, itoa(comm.SSHPort))
	roundTrip(t, addr)
	roundTrip(t, addr)
	if e.Total() != 3 {
		t.Errorf("%d tunnels for the probe and two connections, want one each", e.Total())
	}
	step.Cleanup(state)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts connections after Cleanup")
	}
}

// A tunnel that opens but leads to a port where nothing speaks fails in
// the step, saying so, not as an SSH timeout later.
func TestStepTunnelProbeSaysPortIsSilent(t *testing.T) {
	s, err := tunnels.StartSSM()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	silent := server(t, func(c net.Conn) { time.Sleep(5 * time.Second) })
	comm := &communicator.Config{Type: "ssh"}
	step := &stepTunnel{iface: interfaceSessionManager, comm: comm, remotePort: silent, region: "us-east-1",
		creds: credentials.NewStaticCredentialsProvider("testing", "testing", ""), ssm: &tunnels.SSMClient{S: s}, probeWait: 300 * time.Millisecond}
	state, _ := newState(t)
	putInstance(state, types.Instance{InstanceId: aws.String("i-0123456789abcdef0")})
	if got := step.Run(context.Background(), state); got != multistep.ActionHalt {
		t.Fatalf("action %v", got)
	}
	err, _ = state.Get(keyError).(error)
	if err == nil || !strings.Contains(err.Error(), "did not answer") || !strings.Contains(err.Error(), "check that the SSH server listens") {
		t.Fatalf("error %v", err)
	}
	if len(s.Active()) != 0 {
		t.Errorf("a failed step left sessions open: %v", s.Active())
	}
	step.Cleanup(state)
}

// The plan of each tunnel: the endpoint found before the security group
// (which admits its groups), the group told which tunnel it serves, the
// tunnel opened after the launch and before the connection, and closed
// after provisioning.
func TestPlanTunnelSteps(t *testing.T) {
	for _, iface := range []string{interfaceSessionManager, interfaceEICE} {
		t.Run(iface, func(t *testing.T) {
			cfg := preparedConfig(t, map[string]interface{}{"ssh_interface": iface})
			var order []string
			for _, s := range plan(cfg, planDeps{region: "us-east-1", buildID: "b", clients: noClients()}) {
				switch s := s.(type) {
				case *stepFindEndpoint, *stepRunInstance, *stepTunnel, *stepConnect, *stepTunnelDone, *stepStopInstance:
					order = append(order, stepName(s))
				case *stepSecurityGroup:
					order = append(order, stepName(s))
					if s.tunnel != iface {
						t.Errorf("the security group step serves tunnel %q, want %q", s.tunnel, iface)
					}
				}
			}
			want := "stepSecurityGroup stepRunInstance stepTunnel stepConnect stepTunnelDone stepStopInstance"
			if iface == interfaceEICE {
				want = "stepFindEndpoint " + want
			}
			if got := strings.Join(order, " "); got != want {
				t.Errorf("steps %s\nwant  %s", got, want)
			}
		})
	}
}
