// Command bakery-testbed runs the offline AWS test-bed (moto + a loopback
// sshd playing the EC2 instance) around a command, or on its own.
//
//	bakery-testbed run [--regions r1,r2] [-v] -- packer build ./example
//	bakery-testbed up [--regions r1,r2] [-v]     # prints export lines, runs until Ctrl-C
//	bakery-testbed check                         # what is installed / missing
//
// run exits with the command's exit code; 125 means the test-bed itself
// failed, 126/127 that the command could not be started / found.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/packer-bakery/packer-plugin-bakery/testbed"
)

const (
	exitUsage     = 2
	exitBedFailed = 125
	exitCannotRun = 126
	exitNotFound  = 127
	// startTimeout bounds moto's and sshd's start-up (normally ~3 s).
	startTimeout = 2 * time.Minute
)

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

func dispatch(args []string) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:])
	case "up":
		return cmdUp(args[1:])
	case "check":
		return cmdCheck(args[1:])
	case "help", "-h", "-help", "--help":
		usage(os.Stdout)
		return 0
	}
	fmt.Fprintf(os.Stderr, "bakery-testbed: unknown command %q\n", args[0])
	usage(os.Stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  bakery-testbed run [--regions r1,r2] [--root DIR] [-v] -- CMD ARGS...
      start the test-bed, run CMD with its environment, stop the bed, exit with CMD's code
  bakery-testbed up [--regions r1,r2] [--root DIR] [-v]
      start the test-bed, print export lines, run until SIGINT/SIGTERM
  bakery-testbed check [--root DIR]
      report what testbed/install.sh set up and what is missing
`)
}

// bedFlags are the flags run and up share.
type bedFlags struct {
	regions string
	root    string
	verbose bool
}

func parseBedFlags(name string, args []string) (*flag.FlagSet, testbed.Options, error) {
	var f bedFlags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&f.regions, "regions", "us-east-1", "comma-separated regions whose instances sshd authorises")
	fs.StringVar(&f.root, "root", "", "project root (default: found from the current folder)")
	fs.BoolVar(&f.verbose, "v", false, "copy moto's and sshd's logs to stderr")
	if err := fs.Parse(args); err != nil {
		return nil, testbed.Options{}, err
	}
	opts := testbed.Options{Root: f.root, Regions: strings.Split(f.regions, ",")}
	if f.verbose {
		opts.Log = os.Stderr
	}
	return fs, opts, nil
}

// startBed starts the bed; a signal during start-up cancels it.
func startBed(sigs <-chan os.Signal, opts testbed.Options) (*testbed.Bed, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	type result struct {
		bed *testbed.Bed
		err error
	}
	res := make(chan result, 1)
	go func() {
		bed, err := testbed.Start(ctx, opts)
		res <- result{bed, err}
	}()
	for {
		select {
		case r := <-res:
			return r.bed, r.err
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "bakery-testbed: %v during start-up; giving up\n", sig)
			cancel()
		}
	}
}

func notifySignals() (chan os.Signal, func()) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	return sigs, func() { signal.Stop(sigs) }
}

func stopBed(bed *testbed.Bed) {
	if err := bed.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "bakery-testbed:", err)
	}
}

func cmdRun(args []string) int {
	fs, opts, err := parseBedFlags("run", args)
	if err != nil {
		return exitUsage
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "bakery-testbed run: no command given (bakery-testbed run -- CMD ARGS...)")
		return exitUsage
	}
	// Fail before the ~3 s start-up if the command cannot be found.
	if _, err := exec.LookPath(argv[0]); err != nil {
		fmt.Fprintln(os.Stderr, "bakery-testbed:", err)
		return exitNotFound
	}
	sigs, unnotify := notifySignals()
	defer unnotify()
	bed, err := startBed(sigs, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bakery-testbed:", err)
		return exitBedFailed
	}
	// The bed must outlive the command's own clean-up (terminating the
	// instance needs moto), so it is stopped only after the command exits.
	defer stopBed(bed)
	return runChild(argv, bed.Env(), sigs)
}

// runChild runs argv in the foreground. The child stays in our process
// group, so a terminal's Ctrl-C reaches it directly; we also forward SIGTERM
// on the first signal (packer's wrapper forwards only SIGTERM) and SIGKILL
// on the second, for a child that will not stop.
func runChild(argv, env []string, sigs <-chan os.Signal) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "bakery-testbed:", err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return exitNotFound
		}
		return exitCannotRun
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	signals := 0
	for {
		select {
		case err := <-done:
			return exitCode(cmd.ProcessState, err)
		case sig := <-sigs:
			signals++
			if signals == 1 {
				fmt.Fprintf(os.Stderr, "bakery-testbed: %v: sending SIGTERM to %s, the test-bed stops after it exits\n", sig, argv[0])
				_ = cmd.Process.Signal(syscall.SIGTERM)
			} else {
				fmt.Fprintf(os.Stderr, "bakery-testbed: %v again: killing %s\n", sig, argv[0])
				_ = cmd.Process.Kill()
			}
		}
	}
}

// exitCode maps how the child ended to ours, shell style (128+signal).
func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		fmt.Fprintln(os.Stderr, "bakery-testbed:", err)
		return exitBedFailed
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func cmdUp(args []string) int {
	fs, opts, err := parseBedFlags("up", args)
	if err != nil {
		return exitUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "bakery-testbed up: takes no arguments (did you mean run?)")
		return exitUsage
	}
	sigs, unnotify := notifySignals()
	defer unnotify()
	bed, err := startBed(sigs, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bakery-testbed:", err)
		return exitBedFailed
	}
	defer stopBed(bed)
	fmt.Print(exportLines(os.Environ(), bed.EnvVars()))
	fmt.Fprintf(os.Stderr, "bakery-testbed: up (moto %s, ssh %s@%s:%d); SIGINT/SIGTERM stops it\n", bed.Endpoint, bed.SSHUser, bed.SSHHost, bed.SSHPort)
	sig := <-sigs
	fmt.Fprintf(os.Stderr, "bakery-testbed: %v: stopping\n", sig)
	return 0
}

// exportLines renders shell lines that turn the current environment into
// the bed's: unset inherited AWS_* variables the bed does not set, export
// the bed's. The last line is a marker scripts can wait for.
func exportLines(environ, vars []string) string {
	set := map[string]bool{}
	for _, kv := range vars {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	var unset []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") && !set[k] {
			unset = append(unset, k)
		}
	}
	sort.Strings(unset)
	var b strings.Builder
	for _, k := range unset {
		fmt.Fprintf(&b, "unset %s\n", k)
	}
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
	}
	b.WriteString("# bakery-testbed ready\n")
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func cmdCheck(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	rootFlag := fs.String("root", "", "project root (default: found from the current folder)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	root := *rootFlag
	if root == "" {
		cwd, err := os.Getwd()
		if err == nil {
			root, err = testbed.FindRoot(cwd)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bakery-testbed:", err)
			return 1
		}
	}
	fmt.Printf("project root: %s\ncache:        %s\n", root, testbed.CacheDir(root))
	missing := 0
	for _, r := range testbed.CheckInstall(root) {
		status := "ok     "
		if !r.OK {
			status = "MISSING"
			missing++
		}
		fmt.Printf("%s  %-50s %s\n", status, r.Name, r.Detail)
	}
	if missing > 0 {
		fmt.Println("\nrun testbed/install.sh (or make testbed-install) as root to set up what is missing;\nthe test-bed itself (tests, run, up) also runs only as root")
		return 1
	}
	return 0
}
