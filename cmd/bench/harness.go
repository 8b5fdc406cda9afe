package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/crypto/ssh"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

const (
	stockAmazon  = "v1.8.2"
	stockAnsible = "v1.1.2"
	// ansibleVersion is the ansible-core venv (testbed/install.sh) every
	// variant runs, plain ansible-playbook included.
	ansibleVersion = "2.19"
)

type harness struct {
	root, cache, work string
	opts              options
	bed               *testbed.Bed
	sides             []*side
	res               *Results
	seq               atomic.Int64

	ansible string // ansible-playbook
	// mitogenStrategies is ansible_mitogen/plugins/strategy in the
	// ansible venv, for the plain runs with Mitogen.
	mitogenStrategies string
	smallPB           string // the playbook of every bake
	motoEC2           *ec2.Client
	proxyEC2          *ec2.Client
}

// side is one plugin set under test.
type side struct {
	Name       string
	pluginPath string
	bakeDir    string // cmd/bench/testdata/<name>
	nullDir    string // cmd/bench/testdata/<name>-null
}

// setupSides builds our plugin and the stock ones (cached in
// .cache/stock) and installs each set into its own plugin folder with
// `packer plugins install --path`.
func (h *harness) setupSides(ctx context.Context, names []string) error {
	for _, name := range names {
		name = strings.TrimSpace(name)
		s := &side{Name: name, bakeDir: filepath.Join(h.root, "cmd/bench/testdata", name),
			nullDir: filepath.Join(h.root, "cmd/bench/testdata", name+"-null")}
		dir := filepath.Join(h.work, "plugins-"+name)
		switch name {
		case "ours":
			p, err := testbed.InstallPlugin(h.root, dir)
			if err != nil {
				return err
			}
			s.pluginPath = p
		case "stock":
			cmd := exec.CommandContext(ctx, filepath.Join(h.root, "cmd/bench/build-stock.sh"))
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("building the stock plugins: %w", err)
			}
			s.pluginPath = filepath.Join(dir, "plugins")
			for src, bin := range map[string]string{
				"github.com/hashicorp/amazon":  "packer-plugin-amazon-" + stockAmazon,
				"github.com/hashicorp/ansible": "packer-plugin-ansible-" + stockAnsible,
			} {
				inst := exec.CommandContext(ctx, testbed.PackerBinary(h.root), "plugins", "install", "--path",
					filepath.Join(h.cache, "stock/bin", bin), src)
				inst.Env = append(os.Environ(), "PACKER_PLUGIN_PATH="+s.pluginPath, "CHECKPOINT_DISABLE=1")
				if out, err := inst.CombinedOutput(); err != nil {
					return fmt.Errorf("installing %s: %w\n%s", bin, err, out)
				}
			}
		default:
			return fmt.Errorf("unknown side %q (ours, stock)", name)
		}
		h.sides = append(h.sides, s)
	}
	return nil
}

// prepare writes the small playbook and makes the AWS clients.
func (h *harness) prepare(ctx context.Context) error {
	h.ansible = filepath.Join(h.cache, "ansible-"+ansibleVersion, "bin", "ansible-playbook")
	if _, err := os.Stat(h.ansible); err != nil {
		return fmt.Errorf("ansible-playbook %s: %w (run `make testbed-install`)", ansibleVersion, err)
	}
	if h.opts.mitogen {
		out, err := exec.CommandContext(ctx, filepath.Join(filepath.Dir(h.ansible), "python3"), "-c",
			"import ansible_mitogen, os; print(os.path.join(os.path.dirname(ansible_mitogen.__file__), 'plugins', 'strategy'))").Output()
		if err != nil {
			return fmt.Errorf("mitogen in the ansible %s venv: %w (run `make testbed-install`, or -mitogen=false)", ansibleVersion, err)
		}
		h.mitogenStrategies = strings.TrimSpace(string(out))
	}
	var err error
	if h.smallPB, err = writePlaybook(h.work, "small", 10); err != nil {
		return err
	}
	cfg, err := h.bed.AWSConfig(ctx, "us-east-1")
	if err != nil {
		return err
	}
	h.proxyEC2 = ec2.NewFromConfig(cfg)
	h.motoEC2 = ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(h.bed.MotoEndpoint) })
	return nil
}

// writePlaybook writes a play of n trivial command tasks.
func writePlaybook(dir, name string, n int) (string, error) {
	var sb strings.Builder
	sb.WriteString("- name: Benchmark\n  hosts: all\n  gather_facts: false\n  tasks:\n")
	for i := range n {
		fmt.Fprintf(&sb, "    - name: Task %d\n      ansible.builtin.command: \"true\"\n      changed_when: false\n", i)
	}
	path := filepath.Join(dir, name+".yml")
	return path, os.WriteFile(path, []byte(sb.String()), 0o644)
}

// bakeResult is one `packer build`.
type bakeResult struct {
	Side    string         `json:"side"`
	Name    string         `json:"name"`
	Seconds float64        `json:"seconds"`
	OK      bool           `json:"ok"`
	Error   string         `json:"error,omitempty"`
	Calls   map[string]int `json:"calls,omitempty"`
	// DryRuns are the permission check's dry runs and IAM probes (ours
	// only), which Calls leaves out.
	DryRuns map[string]int `json:"dry_runs,omitempty"`
	// ProvisionSeconds is the span from "Connected to SSH!" to the play's
	// recap in the harness's millisecond-stamped output; the rest of
	// Seconds is packer, the builder and cleanup.
	ProvisionSeconds float64 `json:"provision_seconds,omitempty"`
	Log              string  `json:"log"`
}

// packerBuild runs `packer build` of dir with vars, with PACKER_LOG on,
// and returns its wall time. A ctx deadline stops it with SIGTERM (packer
// cleans up) and SIGKILL a minute later.
func (h *harness) packerBuild(ctx context.Context, s *side, dir, name string, vars map[string]any) bakeResult {
	runDir := filepath.Join(h.work, "runs", fmt.Sprintf("%03d-%s-%s", h.seq.Add(1), s.Name, name))
	res := bakeResult{Side: s.Name, Name: name, Log: filepath.Join(runDir, "packer.log")}
	fail := func(err error) bakeResult { res.Error = err.Error(); return res }
	if err := os.MkdirAll(filepath.Join(runDir, "tmp"), 0o700); err != nil {
		return fail(err)
	}
	data, _ := json.Marshal(vars)
	varFile := filepath.Join(runDir, "vars.pkrvars.json")
	if err := os.WriteFile(varFile, data, 0o600); err != nil {
		return fail(err)
	}
	cmd := exec.Command(testbed.PackerBinary(h.root), "build", "-color=false", "-var-file="+varFile, dir)
	cmd.Env = append(h.bed.PackerEnv(s.pluginPath, filepath.Join(runDir, "packer-config")),
		"PACKER_LOG=1", "PACKER_LOG_PATH="+res.Log,
		"TMPDIR="+filepath.Join(runDir, "tmp"), "HOME="+runDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := os.Create(filepath.Join(runDir, "output.txt"))
	if err != nil {
		return fail(err)
	}
	defer out.Close()
	stamped := &stampWriter{w: out}
	cmd.Stdout, cmd.Stderr = stamped, stamped
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case err = <-done:
		case <-time.After(time.Minute):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err = <-done
		}
		err = fmt.Errorf("stopped after %s: %w (%v)", time.Since(start).Round(time.Second), ctx.Err(), err)
	}
	res.Seconds = time.Since(start).Seconds()
	stamped.Flush() // packer has exited: its last line belongs in the file before it is read
	if err != nil {
		return fail(fmt.Errorf("%w; %s", err, lastLines(filepath.Join(runDir, "output.txt"), 3)))
	}
	res.OK = true
	res.ProvisionSeconds = provisionSpan(filepath.Join(runDir, "output.txt"))
	return res
}

// stampWriter writes each line it is given with the time it arrived, in
// milliseconds (packer's own -timestamp-ui has whole seconds only, too
// coarse to split a 4 s bake).
type stampWriter struct {
	mu      sync.Mutex
	w       io.Writer
	partial []byte
}

func (s *stampWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		if err := s.line(s.partial[:i+1]); err != nil {
			return len(p), err
		}
		s.partial = s.partial[i+1:]
	}
}

func (s *stampWriter) line(l []byte) error {
	_, err := fmt.Fprintf(s.w, "%s: %s", time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"), l)
	return err
}

// Flush writes a last line that had no newline.
func (s *stampWriter) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.partial) > 0 {
		_ = s.line(append(s.partial, '\n'))
		s.partial = nil
	}
}

// provisionSpan reads the stamped `packer build` output: seconds from
// the SSH connection to the Ansible play's recap; 0 if either is missing.
func provisionSpan(path string) float64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var from, to time.Time
	for _, line := range strings.Split(string(data), "\n") {
		stamp, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339, stamp)
		if err != nil {
			continue
		}
		switch {
		case from.IsZero() && strings.Contains(rest, "Connected to SSH!"):
			from = t
		case !from.IsZero() && strings.Contains(rest, "PLAY RECAP"):
			to = t
		}
	}
	if from.IsZero() || to.IsZero() {
		return 0
	}
	return to.Sub(from).Seconds()
}

// mitogenEnv runs plain ansible-playbook with Mitogen's linear strategy,
// as use_mitogen does.
func (h *harness) mitogenEnv() []string {
	return []string{"ANSIBLE_STRATEGY_PLUGINS=" + h.mitogenStrategies, "ANSIBLE_STRATEGY=mitogen_linear"}
}

// bakeVars are the variables of cmd/bench/testdata/{ours,stock}.
func (h *harness) bakeVars(name, playbook string) map[string]any {
	return map[string]any{
		"aws_endpoint": h.bed.Endpoint, "ssh_host": h.bed.SSHHost, "ssh_port": h.bed.SSHPort,
		"secret_key": "benchSecret" + randomHex(8), "ami_name": "bench-" + name + "-" + randomHex(4),
		"playbook": playbook, "ansible_command": h.ansible,
	}
}

func (h *harness) reset(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return h.bed.Reset(rctx)
}

// target launches an emulator instance with an imported ed25519 key, so the
// bed's sshd lets the key in as ec2-user, and returns the key file: the
// SSH target of the plain runs and of ansibleSpeed.
func (h *harness) target(ctx context.Context) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", err
	}
	name := "bench-" + randomHex(4)
	if _, err := h.motoEC2.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String(name),
		PublicKeyMaterial: ssh.MarshalAuthorizedKey(sshPub)}); err != nil {
		return "", err
	}
	imgs, err := h.motoEC2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"137112412989"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"amzn2-ami-hvm-*-x86_64-gp2"}}}})
	if err != nil || len(imgs.Images) == 0 {
		return "", fmt.Errorf("no source AMI: %v", err)
	}
	if _, err := h.motoEC2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: imgs.Images[0].ImageId,
		InstanceType: types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		KeyName: aws.String(name)}); err != nil {
		return "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return "", err
	}
	keyFile := filepath.Join(h.work, "target-key")
	return keyFile, os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func lastLines(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func hostInfo() map[string]string {
	info := map[string]string{}
	if out, err := exec.Command("nproc").Output(); err == nil {
		info["cpus"] = string(bytes.TrimSpace(out))
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		info["loadavg_at_start"] = strings.Join(strings.Fields(string(data))[:3], " ")
	}
	info["packer"] = "v1.15.0"
	info["ansible_core"] = ansibleVersion
	info["stock"] = "amazon " + stockAmazon + ", ansible " + stockAnsible
	return info
}

var errNoSide = errors.New("side not set up")

func (h *harness) side(name string) (*side, error) {
	for _, s := range h.sides {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", errNoSide, name)
}
func sideNames(ss []*side) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func reversed[T any](in []T) []T {
	out := make([]T, len(in))
	for i, v := range in {
		out[len(in)-1-i] = v
	}
	return out
}
