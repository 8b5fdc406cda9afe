package testbed

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/internal/awslocal"
	"github.com/packer-bakery/packer-plugin-bakery/testbed/tunnels"
)

// EICEID is the id of the bed's EC2 Instance Connect Endpoint stand-in.
const EICEID = "eice-0bakerytestbed01"

// tunnelSource is where the stand-ins connect to sshd from: a loopback
// address of its own, so a tunnel-only sshd can tell them from a build
// that connects directly.
const tunnelSource = "127.0.0.2"

// motoAccount is moto's default account id.
const motoAccount = "123456789012"

func tunnelOnlyFrom(o Options) string {
	if o.Tunnels && o.TunnelOnly {
		return tunnelSource
	}
	return ""
}

// startTunnels starts the Session Manager and EC2 Instance Connect Endpoint
// stand-ins and has the fault proxy answer their API calls.
func (b *Bed) startTunnels() error {
	s, err := tunnels.StartSSM()
	if err != nil {
		return fmt.Errorf("start the Session Manager stand-in: %w", err)
	}
	e, err := tunnels.StartEICE(EICEID, b.region)
	if err != nil {
		s.Close()
		return fmt.Errorf("start the EC2 Instance Connect Endpoint stand-in: %w", err)
	}
	if b.sshFrom != "" {
		src := &net.TCPAddr{IP: net.ParseIP(b.sshFrom)}
		s.Source, e.Source = src, src
	}
	b.caBundle = filepath.Join(b.Dir, "eice-ca.pem")
	if err := os.WriteFile(b.caBundle, e.CAPEM(), 0o644); err != nil {
		s.Close()
		e.Close()
		return fmt.Errorf("write the stand-in's CA: %w", err)
	}
	moto := b.MotoEndpoint
	// The agent's kms:Decrypt goes to moto directly, as the agent's own
	// call (not the build's, which the fault proxy records).
	kcfg, err := awslocal.Config(moto, b.region)
	if err != nil {
		s.Close()
		e.Close()
		return err
	}
	s.KMS = kms.NewFromConfig(kcfg)
	b.tunnels = &tunnels.AWS{SSM: s, EICE: e, Account: motoAccount, Moto: func(region string) (*ec2.Client, error) {
		cfg, err := awslocal.Config(moto, region)
		if err != nil {
			return nil, err
		}
		return ec2.NewFromConfig(cfg), nil
	}}
	b.faults.SetLocal(b.tunnels.Local)
	b.logf("testbed: Session Manager stand-in at %s, EC2 Instance Connect Endpoint %s at %s", s.URL(), EICEID, e.DNSName())
	return nil
}

// Tunnels is the stand-ins' control, or nil unless the bed was started
// with Options.Tunnels.
func (b *Bed) Tunnels() *tunnels.AWS { return b.tunnels }

func (b *Bed) stopTunnels() error {
	if b.tunnels == nil {
		return nil
	}
	b.tunnels.SSM.Close()
	return b.tunnels.EICE.Close()
}
