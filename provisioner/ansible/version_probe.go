package ansible

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"time"
)

// probeOnPrepare starts `ansible-playbook --version` when the template is
// prepared, at the start of the build, so its ~2 s of Python start-up
// overlap the builder's launch and SSH wait instead of delaying the play.
// Unit tests that stub the runner after Prepare turn it off.
var probeOnPrepare = true

// probeTimeout bounds an early version check nobody collects (`packer
// validate`, or a build that fails before provisioning).
const probeTimeout = 2 * time.Minute

// versionProbe is one `--version` run started ahead of Provision. Its
// result is used only if Provision would run exactly the same command with
// the same runner; otherwise Provision runs the check itself.
type versionProbe struct {
	cmd    command
	run    runner
	done   chan struct{}
	cancel context.CancelFunc

	stdout, stderr bytes.Buffer
	err            error
}

func startVersionProbe(run runner, c command) *versionProbe {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	v := &versionProbe{cmd: c, run: run, done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(v.done)
		defer cancel()
		v.err = run.Run(ctx, c, &v.stdout, &v.stderr)
	}()
	return v
}

func (v *versionProbe) matches(run runner, c command) bool {
	return v != nil && v.run == run && reflect.DeepEqual(v.cmd, c)
}

// wait returns the probe's output, or ctx's error if the build is
// cancelled first.
func (v *versionProbe) wait(ctx context.Context) (stdout, stderr string, err error) {
	select {
	case <-v.done:
		return v.stdout.String(), v.stderr.String(), v.err
	case <-ctx.Done():
		v.cancel()
		return "", "", ctx.Err()
	}
}

// probeVersion starts the early check for the prepared config, with the
// command Provision will build: same binary, ansible.cfg, roles and
// collections paths, and environment.
func (p *Provisioner) probeVersion() {
	if p.probe != nil {
		p.probe.cancel()
		p.probe = nil
	}
	cfg := &p.config
	if !probeOnPrepare || cfg.SkipVersionCheck || cfg.UseMitogen { // use_mitogen: Prepare's Mitogen check tells the version
		return
	}
	cwd, _ := os.Getwd()
	base := os.Environ()
	ansibleConfig, _ := playbookAnsibleCfg(absPath(cfg.PlaybookFile), cwd, base, cfg.AnsibleEnvVars) // Provision warns
	inv := invocation{
		Command:         cfg.Command,
		AnsibleConfig:   ansibleConfig,
		RolesPath:       absPath(cfg.RolesPath),
		CollectionsPath: absPath(cfg.CollectionsPath),
		UserEnv:         cfg.AnsibleEnvVars,
		BaseEnv:         base,
	}
	p.probe = startVersionProbe(p.runnerOrExec(), versionCommand(inv))
}

func (p *Provisioner) runnerOrExec() runner {
	if p.runner == nil {
		return execRunner{}
	}
	return p.runner
}
