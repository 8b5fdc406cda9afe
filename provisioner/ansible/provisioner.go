// Package ansible is the `bakery-ansible` provisioner: it runs
// ansible-playbook against the instance, over SSH straight to it when the
// builder's communicator gives a reachable host, else through an
// in-process SSH proxy on packer's communicator.
package ansible

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Provisioner implements packersdk.Provisioner.
type Provisioner struct {
	config Config

	// Seams for tests; nil means the real thing.
	runner runner
	reach  func(host string, port int) error

	probe        *versionProbe  // `--version` started by Prepare; see version_probe.go
	mitogen      mitogenInstall // found by Prepare when use_mitogen is on
	mitogenCheck *mitogenCheck  // whether it supports the ansible-core, started by Prepare
}

var _ packersdk.Provisioner = (*Provisioner)(nil)

// sshRetries is ANSIBLE_SSH_RETRIES unless the user decides it: a fresh
// instance's sshd can drop a connection (cloud-init restarting it, a slow
// key lookup), and Ansible's default of 0 turns one such hiccup into a
// failed build. Ansible pauses 0, 1 and 3 s between the attempts.
const sshRetries = 3

func (p *Provisioner) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

func (p *Provisioner) Prepare(raws ...interface{}) error {
	if err := p.config.Prepare(raws...); err != nil {
		return err
	}
	p.registerSecrets()
	if p.config.UseMitogen {
		// Now, before the builder launches anything: a missing Mitogen
		// must not cost an instance, nor fail mid-play. Whether it
		// supports the ansible-core takes longer to tell: that check
		// runs meanwhile and Provision waits for it before the play.
		env := mergeEnv(os.Environ(), p.config.AnsibleEnvVars)
		m, err := findMitogen(context.Background(), p.runnerOrExec(), p.config.Command, env, false)
		if err != nil {
			return err
		}
		if !p.config.SkipVersionCheck {
			// The Python that runs ansible-playbook just said which
			// ansible-core it imports: no `--version` run needed.
			if err := checkCoreVersion(m.AnsibleCore, p.config.Command); err != nil {
				return err
			}
		}
		p.mitogen = m
		if p.mitogenCheck != nil {
			p.mitogenCheck.cancel()
		}
		p.mitogenCheck = startMitogenCheck(p.runnerOrExec(), p.config.Command, env)
	}
	p.probeVersion()
	return nil
}

// minSecretLen: extra-var values shorter than this are not masked in the
// output and log. Masking "yes" or "1" everywhere would garble Ansible's
// output and hide nothing worth hiding.
const minSecretLen = 6

// registerSecrets adds the values of extra_vars and of `-e` in
// extra_arguments to the SDK's secret filter, which masks them in the
// build's output and the plugin's log (PACKER_LOG), wherever they show up
// (e.g. a `raw` task's command, logged by the proxy).
func (p *Provisioner) registerSecrets() {
	vals := inlineVarValues(p.config.ExtraArguments)
	for _, v := range p.config.ExtraVars {
		vals = append(vals, v)
	}
	for _, v := range vals {
		if len(v) >= minSecretLen {
			packersdk.LogSecretFilter.Set(v)
		}
	}
}

// Provision runs the playbook. Everything it writes lives in one private
// folder, removed when it returns, also on failure and cancellation.
func (p *Provisioner) Provision(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, data map[string]interface{}) (err error) {
	cfg := &p.config
	run := p.runnerOrExec()
	reach := p.reach
	if reach == nil {
		reach = dialTCP
	}

	for _, w := range cfg.warnings {
		ui.Error("Warning: " + w)
	}
	conn := connectionFrom(data)
	if conn.PrivateKey != "" {
		packersdk.LogSecretFilter.Set(conn.PrivateKey)
	}
	user := cfg.User
	if user == "" {
		user = conn.User
	}
	if user == "" {
		return errors.New("no user to log in as: set `user`, or `ssh_username` in the source")
	}
	md, why, err := chooseMode(cfg.UseProxy, conn, reach)
	if err != nil {
		return err
	}

	ws, err := newWorkspace()
	if err != nil {
		return err
	}
	// On Ctrl-C packer may stop waiting for this provisioner (and end the
	// plugin) before ansible-playbook has exited: close the ssh
	// ControlMasters (they live in a session of their own, out of reach of
	// the process-group kill, and their sockets are the only handle on
	// them) and remove the key and vars at once, not only when Provision
	// returns.
	stopEarly := context.AfterFunc(ctx, func() { _ = ws.cleanup(run) })
	defer stopEarly()
	defer func() {
		if cerr := ws.cleanup(run); cerr != nil {
			ui.Error(fmt.Sprintf("bakery-ansible: cleaning up: %v", cerr))
			if err == nil {
				err = cerr
			}
		}
	}()

	host, port, keyFile := conn.Host, conn.Port, ""
	hostKey, proxyCommand := conn.HostKey, ""
	switch md {
	case modeDirect:
		ui.Say("Ansible connects directly: " + why)
		switch {
		case conn.PrivateKey != "":
			if keyFile, err = ws.write("key-*", []byte(conn.PrivateKey)); err != nil {
				return fmt.Errorf("writing the temporary private key: %w", err)
			}
		case conn.PrivateKeyFile != "":
			keyFile = absPath(conn.PrivateKeyFile)
		}
		if conn.Bastion != nil {
			proxyCommand = bastionProxyCommand(*conn.Bastion, ws.knownHosts)
		}
	case modeProxy:
		ui.Say("Ansible connects through packer's communicator (SSH proxy): " + why)
		keys, err := newProxyKeys(cfg.SSHHostKeyFile, cfg.SSHAuthorizedKeyFile, cfg.AdapterKeyType)
		if err != nil {
			return err
		}
		sftp := cfg.SFTPCmd
		if sftp == "" {
			sftp = sftpLocator(sftpServerPaths)
		}
		px, err := startProxy(cfg.LocalPort, keys, sftp, ui, comm)
		if err != nil {
			return err
		}
		defer px.Stop()
		host, port = "127.0.0.1", px.Port
		hostKey = string(ssh.MarshalAuthorizedKey(keys.HostSigner.PublicKey()))
		if keys.ClientPEM != nil {
			if keyFile, err = ws.write("key-*", keys.ClientPEM); err != nil {
				return fmt.Errorf("writing the proxy's client key: %w", err)
			}
		}
	}

	pinned, err := ws.pinHostKey(host, port, hostKey)
	if err != nil {
		return err
	}
	if pinned {
		ui.Say("Ansible accepts only the instance's host key the builder saw first: " + fingerprint(hostKey))
	}

	inventory := absPath(cfg.InventoryFile)
	if inventory == "" {
		text, err := renderInventory(cfg.InventoryFileTemplate, inventoryData{HostAlias: cfg.HostAlias, Host: host, Port: port, User: user}, cfg.Groups, cfg.EmptyGroups)
		if err != nil {
			return err
		}
		dir := cfg.InventoryDirectory
		if dir == "" && cfg.KeepInventoryFile {
			dir = os.TempDir()
		}
		if dir == "" {
			dir = ws.dir
		}
		if inventory, err = writePrivate(dir, "bakery-ansible-inventory-*.ini", []byte(text)); err != nil {
			return fmt.Errorf("writing the inventory: %w", err)
		}
		if cfg.KeepInventoryFile {
			ui.Say("Keeping the inventory (`keep_inventory_file`): " + inventory)
		} else {
			ws.mu.Lock()
			ws.remove = append(ws.remove, inventory)
			ws.mu.Unlock()
		}
	}

	vars := map[string]string{
		"packer_build_name":   cfg.PackerBuildName,
		"packer_builder_type": cfg.PackerBuilderType,
	}
	if addr, ok := data["PackerHTTPAddr"].(string); ok {
		vars["packer_http_addr"] = addr
	}
	for k, v := range cfg.ExtraVars {
		vars[k] = v
	}
	varsJSON, err := json.Marshal(vars)
	if err != nil {
		return err
	}
	varsFile, err := ws.write("extra-vars-*.json", varsJSON)
	if err != nil {
		return fmt.Errorf("writing the extra vars file: %w", err)
	}

	cwd, _ := os.Getwd()
	playbook := absPath(cfg.PlaybookFile)
	base := os.Environ()
	ansibleConfig, cfgWarning := playbookAnsibleCfg(playbook, cwd, base, cfg.AnsibleEnvVars)
	if cfgWarning != "" {
		ui.Error(cfgWarning)
	}
	inv := invocation{
		Command:         cfg.Command,
		Playbook:        playbook,
		Inventory:       inventory,
		User:            user,
		PrivateKeyFile:  keyFile,
		ExtraVarsFile:   varsFile,
		Tags:            cfg.Tags,
		SkipTags:        cfg.SkipTags,
		Limit:           cfg.Limit,
		SSHExtraArgs:    cfg.AnsibleSSHExtraArgs,
		ExtraArguments:  cfg.ExtraArguments,
		UseSFTP:         cfg.UseSFTP,
		ControlPathDir:  ws.cpDir,
		KnownHostsFile:  ws.knownHosts,
		HostKeyPinned:   pinned,
		ProxyCommand:    proxyCommand,
		AnsibleConfig:   ansibleConfig,
		RolesPath:       absPath(cfg.RolesPath),
		CollectionsPath: absPath(cfg.CollectionsPath),
		UserEnv:         cfg.AnsibleEnvVars,
		BaseEnv:         base,
	}
	ansibleCfg := effectiveAnsibleCfg(mergeEnv(base, sharedEnv(inv), cfg.AnsibleEnvVars), cwd)
	inv.Pipelining = !cfgSets(ansibleCfg, "pipelining")
	if !cfgSets(ansibleCfg, "retries") {
		inv.SSHRetries = sshRetries
	}
	if cfg.UseMitogen {
		fallback := p.mitogen.InterpreterFallback
		_, interpreterVar := cfg.ExtraVars["ansible_python_interpreter"]
		_, fallbackVar := cfg.ExtraVars["ansible_interpreter_python_fallback"]
		skip := pythonSeedSkip(pythonSeedInput{
			Mitogen:      true,
			AnsibleCore:  p.mitogen.AnsibleCore,
			Candidates:   fallback,
			OwnInventory: cfg.InventoryFile == "",
			SameUser:     md == modeProxy || user == conn.User,
			HaveComm:     comm != nil,
			Env:          mergeEnv(base, cfg.AnsibleEnvVars),
			AnsibleCfg:   ansibleCfg,
			ExtraArgs:    cfg.ExtraArguments,
			ExtraVarSet:  interpreterVar || fallbackVar,
		})
		if skip == "" {
			if python, err := discoverPython(ctx, comm, fallback); err != nil {
				skip = err.Error()
			} else {
				inv.PythonInterpreter = python
				ui.Say("Python on the instance: " + python + " (the first of ansible-core's interpreter fallback list there, as its discovery would pick; found through the builder's connection)")
			}
		}
		if skip != "" {
			log.Printf("bakery-ansible: Ansible discovers the instance's Python itself: %s", skip)
		}
		inv.Mitogen = mitogenSettings(p.mitogen, ansibleCfg, mergeEnv(base, cfg.AnsibleEnvVars))
		// In the control folder: short enough for a unix socket path.
		inv.Mitogen.TempDir = filepath.Join(ws.cpDir, "tmp")
		if err := os.Mkdir(inv.Mitogen.TempDir, 0o700); err != nil {
			return fmt.Errorf("creating Mitogen's temporary folder: %w", err)
		}
		ui.Say(inv.Mitogen.describe(p.mitogen))
	}

	if cfg.UseSFTP == nil || !*cfg.UseSFTP {
		// Ansible may copy with scp (`use_sftp = false`, or `smart`'s fallback).
		inv.SCPLegacy = opensshMajor(ctx, run) >= 9
	}
	if !cfg.SkipVersionCheck && !cfg.UseMitogen { // use_mitogen: checked by Prepare
		vc := versionCommand(inv)
		var stdout, stderr string
		var err error
		if p.probe.matches(run, vc) {
			stdout, stderr, err = p.probe.wait(ctx)
		} else {
			stdout, stderr, err = runVersion(ctx, run, vc)
		}
		if err := checkVersion(vc, stdout, stderr, err, ui); err != nil {
			return err
		}
	}
	if cfg.GalaxyFile != "" {
		gc := galaxyCommand(galaxyInvocation{
			Command:       cfg.GalaxyCommand,
			Requirements:  absPath(cfg.GalaxyFile),
			Force:         cfg.GalaxyForceInstall,
			ForceWithDeps: cfg.GalaxyForceWithDeps,
			invocation:    inv,
		})
		ui.Say("Installing galaxy roles and collections: " + gc.String())
		out := newPlayOutput(ui.Message)
		err := run.Run(ctx, gc, out, out)
		out.Flush()
		if err != nil {
			return fmt.Errorf("ansible-galaxy install -r %s: %w", cfg.GalaxyFile, err)
		}
	}

	pc := playbookCommand(inv)
	ui.Say("Executing Ansible: " + pc.String())
	out := newPlayOutput(ui.Message)
	playCtx, refusal := p.watchMitogenCheck(ctx)
	err = run.Run(playCtx, pc, out, out)
	out.Flush()
	if rerr := refusal(); rerr != nil {
		return rerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ansible-playbook was stopped: %w", err)
		}
		return describeFailure(out.Failures(), err)
	}
	return nil
}

var opensshRE = regexp.MustCompile(`OpenSSH_(\d+)\.`)

// opensshMajor is the local OpenSSH's major version (`ssh -V`), 0 when
// unknown.
func opensshMajor(ctx context.Context, run runner) int {
	var out bytes.Buffer
	if err := run.Run(ctx, command{Path: "ssh", Args: []string{"-V"}, Env: os.Environ()}, &out, &out); err != nil {
		return 0
	}
	m := opensshRE.FindStringSubmatch(out.String())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

var versionRE = regexp.MustCompile(`\[core (\d+)\.(\d+)\.[^\]]*\]|ansible-playbook (\d+)\.(\d+)`)

// minimum ansible-core: ANSIBLE_SSH_TRANSFER_METHOD and the config
// lookups this provisioner relies on.
const minMajor, minMinor = 2, 14

func runVersion(ctx context.Context, run runner, c command) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = run.Run(ctx, c, &out, &errOut)
	return out.String(), errOut.String(), err
}

// checkVersion judges the output of `ansible-playbook --version`.
func checkVersion(c command, stdout, stderr string, runErr error, ui packersdk.Ui) error {
	if runErr != nil {
		return fmt.Errorf("cannot run `%s --version` (set `command` to ansible-playbook's path, or install ansible-core >= %d.%d): %w: %s",
			c.Path, minMajor, minMinor, runErr, strings.TrimSpace(stderr))
	}
	first, _, _ := strings.Cut(stdout, "\n")
	m := versionRE.FindStringSubmatch(first)
	if m == nil {
		return fmt.Errorf("`%s --version` printed %q, which does not look like ansible-playbook (set `skip_version_check = true` to go on anyway)", c.Path, first)
	}
	majS, minS := m[1], m[2]
	if majS == "" {
		majS, minS = m[3], m[4]
	}
	if err := checkCoreVersion(majS+"."+minS, c.Path); err != nil {
		return err
	}
	ui.Say("Ansible: " + strings.TrimSpace(first))
	return nil
}

// checkCoreVersion refuses an ansible-core (MAJOR.MINOR[...]) older than
// bakery-ansible needs.
func checkCoreVersion(version, program string) error {
	parts := strings.SplitN(version, ".", 3)
	maj, err1 := strconv.Atoi(parts[0])
	minor, err2 := 0, error(nil)
	if len(parts) > 1 {
		minor, err2 = strconv.Atoi(parts[1])
	}
	if err1 != nil || err2 != nil || len(parts) < 2 {
		return fmt.Errorf("%s reports ansible-core %q, not a version (set `skip_version_check = true` to go on anyway)", program, version)
	}
	if maj < minMajor || maj == minMajor && minor < minMinor {
		return fmt.Errorf("%s is ansible-core %d.%d; bakery-ansible needs %d.%d or newer (or `skip_version_check = true`)", program, maj, minor, minMajor, minMinor)
	}
	return nil
}

// workspace is the run's private folder (0700): temporary key, vars and
// inventory, and the ssh ControlMaster folder.
type workspace struct {
	dir        string
	cpDir      string
	knownHosts string // the run's known_hosts, in dir
	mu         sync.Mutex
	closing    sync.Mutex // one cleanup at a time: Ctrl-C and Provision's return may overlap
	remove     []string   // files outside dir to remove (inventory elsewhere)
}

// maxControlDir keeps ControlPath sockets (dir + "/" + 40 hex chars)
// under the 108-byte limit of a unix socket path.
const maxControlDir = 60

func newWorkspace() (*workspace, error) {
	dir, err := os.MkdirTemp("", "bakery-ansible-")
	if err != nil {
		return nil, fmt.Errorf("creating the temporary folder: %w", err)
	}
	base := os.TempDir()
	if len(base) > maxControlDir-20 {
		base = "/tmp"
	}
	cp, err := os.MkdirTemp(base, "bakery-cp-")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("creating the ssh control folder: %w", err)
	}
	return &workspace{dir: dir, cpDir: cp, knownHosts: filepath.Join(dir, "known_hosts")}, nil
}

// pinHostKey starts the run's known_hosts: with the key the builder saw
// (or the proxy's own), ssh accepts only it; without one, an empty file
// in which ssh records the first key it sees for the rest of the play.
func (w *workspace) pinHostKey(host string, port int, authorizedKey string) (bool, error) {
	var line []byte
	if authorizedKey != "" {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
		if err != nil {
			return false, fmt.Errorf("the builder's SSH host key %q: %w", authorizedKey, err)
		}
		line = []byte(knownhosts.Line([]string{knownhosts.Normalize(net.JoinHostPort(host, strconv.Itoa(port)))}, key) + "\n")
	}
	f, err := os.OpenFile(w.knownHosts, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // O_EXCL: never through a symlink
	if err != nil {
		return false, fmt.Errorf("writing the run's known_hosts: %w", err)
	}
	_, err = f.Write(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("writing the run's known_hosts: %w", err)
	}
	return line != nil, nil
}

// fingerprint is the SHA256 fingerprint ssh prints for an
// authorized_keys line.
func fingerprint(authorizedKey string) string {
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		return "(unreadable key)"
	}
	return ssh.FingerprintSHA256(key)
}

func (w *workspace) write(pattern string, data []byte) (string, error) {
	return writePrivate(w.dir, pattern, data)
}

// cleanup stops the ControlMaster connections the run left (ssh keeps
// them for ControlPersist seconds; a master must never outlive the build
// whose key opened it) and removes everything the run wrote.
func (w *workspace) cleanup(run runner) error {
	w.closing.Lock()
	defer w.closing.Unlock()
	var errs []error
	if entries, err := os.ReadDir(w.cpDir); err == nil {
		for _, e := range entries {
			if e.Type()&os.ModeSocket == 0 {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			sock := filepath.Join(w.cpDir, e.Name())
			_ = run.Run(ctx, command{Path: "ssh", Args: []string{"-o", "ControlPath=" + sock, "-O", "exit", "bakery-ansible-control"}, Env: os.Environ()}, nil, nil)
			cancel()
		}
	}
	errs = append(errs, w.removeFiles())
	return errors.Join(errs...)
}

// removeFiles deletes everything the run wrote; safe to call twice and
// from two goroutines.
func (w *workspace) removeFiles() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for _, p := range append([]string{w.dir, w.cpDir}, w.remove...) {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
