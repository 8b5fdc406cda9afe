package testbed

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/internal/awslocal"
)

// pollInterval is how often readiness is polled. Everything polled is local
// and answers within milliseconds once up.
const pollInterval = 50 * time.Millisecond

// startMoto runs moto_server on 127.0.0.1:port, logging to Dir/moto.log.
func (b *Bed) startMoto(port int) error {
	logw, err := b.logFile("moto.log")
	if err != nil {
		return err
	}
	cmd := exec.Command(motoServer(b.root), "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Dir = b.Dir
	// moto must not find real credentials or regions either; and Python
	// buffers its log when not on a terminal, which hides why it died.
	cmd.Env = append(buildEnv(os.Environ(), nil), "PYTHONUNBUFFERED=1")
	cmd.Stdout, cmd.Stderr = logw, logw
	b.moto, err = startProc("moto_server", cmd)
	return err
}

// waitMoto polls until moto answers HTTP; any status means it is serving.
func (b *Bed) waitMoto(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	ready := func() bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.MotoEndpoint+"/moto-api/", nil)
		if err != nil {
			return false
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return true
	}
	return b.waitFor(ctx, b.moto, "moto.log", ready)
}

// waitFor polls ready until it holds, the process dies or ctx ends. Errors
// carry the end of the process's log: that is where the reason is.
func (b *Bed) waitFor(ctx context.Context, p *proc, logName string, ready func() bool) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		if ready() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w%s", p.name, ctx.Err(), b.logTail(logName))
		case <-p.done:
			return fmt.Errorf("%w%s", p.exited(), b.logTail(logName))
		case <-ticker.C:
		}
	}
}

// warmUp makes one DescribeImages call per region: moto loads its AMI
// catalogue on the first EC2 call (~1.5 s), which would otherwise land in
// whatever the first test times. It goes to moto directly: neither injected
// faults nor the proxy's call counts should see it.
func (b *Bed) warmUp(ctx context.Context) error {
	for _, region := range b.regions {
		cfg, err := awslocal.Config(b.MotoEndpoint, region)
		if err != nil {
			return fmt.Errorf("testbed AWS config: %w", err)
		}
		client := ec2.NewFromConfig(cfg)
		_, err = client.DescribeImages(ctx, &ec2.DescribeImagesInput{
			Owners:  []string{"amazon"},
			Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"amzn2-ami-hvm-*"}}},
		})
		if err != nil {
			return fmt.Errorf("warm up moto (DescribeImages in %s): %w%s", region, err, b.logTail("moto.log"))
		}
	}
	return nil
}

// Reset clears all of moto's state (instances, key pairs, AMIs, …) through
// its /moto-api/reset call, then warms it up again. sshd keeps running; with
// no instances left, no key logs in. The fault proxy, if any, forgets its
// counts, ClientTokens and state transitions but keeps its fault settings.
func (b *Bed) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.MotoEndpoint+"/moto-api/reset", nil)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("reset moto: HTTP %s%s", resp.Status, b.logTail("moto.log"))
	}
	if b.iam != nil { // the reset removed the administrator
		if err := b.iam.enforce(ctx); err != nil {
			return err
		}
	}
	if err := b.warmUp(ctx); err != nil {
		return err
	}
	if b.faults != nil {
		b.faults.Reset()
	}
	if b.tunnels != nil {
		b.tunnels.SSM.Reset()
	}
	return nil
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. The listeners
// stay open until all are picked so the kernel cannot hand out one twice.
// Another process could still grab a port before the server binds it; the
// server then dies at once and Start reports it with its log.
func freePorts(n int) ([]int, error) {
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free loopback port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// logTail returns the last lines of a log in Dir, formatted for an error.
func (b *Bed) logTail(name string) string {
	path := filepath.Join(b.Dir, name)
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return fmt.Sprintf("\n--- last lines of %s:\n%s", path, strings.Join(lines, "\n"))
}
