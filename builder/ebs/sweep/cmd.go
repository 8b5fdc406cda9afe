package sweep

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
	"github.com/packer-bakery/packer-plugin-bakery/common/journal"
)

const usage = `Usage: packer-plugin-bakery sweep [options]

Removes what killed bakery-ebs builds left behind: instances, security
groups, key pairs, launch templates, EC2 Fleets, and temporary IAM roles
and instance profiles, tagged bakery:build-id, whose build is not running.
A build this machine's journal shows running is never touched; a build
with no journal here is swept only when older than --older-than.
Credentials and endpoints come from the environment and profiles, as
for the AWS CLI.

Options:
`

// Main runs the sweep subcommand and returns its exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	regions := fs.String("region", "", "comma-separated regions to sweep (default: the profile's or AWS_REGION)")
	olderThan := fs.Duration("older-than", 3*time.Hour, "sweep builds with no journal here only when their resources are this old")
	buildID := fs.String("build-id", "", "sweep only this build")
	dryRun := fs.Bool("dry-run", false, "list what would be removed; remove nothing")
	profile := fs.String("profile", "", "the AWS profile to use")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sweep: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *olderThan <= 0 {
		// 0 would sweep every build with no journal here, live ones on
		// other machines included, the moment they start.
		fmt.Fprintf(stderr, "sweep: --older-than %s: give a positive age, e.g. 3h (a build elsewhere may still be running)\n", *olderThan)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	access := &bakery.AccessConfig{Profile: *profile}
	if first, _, _ := strings.Cut(*regions, ","); first != "" {
		access.RawRegion = first
	}
	sess, err := bakery.NewSession(ctx, access)
	if err != nil {
		fmt.Fprintln(stderr, "sweep:", err)
		return 1
	}
	list := []string{sess.Region()}
	if *regions != "" {
		list = strings.Split(*regions, ",")
	}
	journals, err := journal.ReadAll(func(file string, err error) {
		fmt.Fprintf(stderr, "sweep: skipping journal %s, which cannot be read (%v): its build is swept by tag and age only; remove the file once you have looked at it\n", file, err)
	})
	if err != nil {
		fmt.Fprintln(stderr, "sweep:", err)
		return 1
	}
	opts := Options{Regions: list, OlderThan: *olderThan, BuildID: *buildID, DryRun: *dryRun}
	err = Run(ctx, stdout, func(r string) EC2 { return sess.EC2(r) }, journals, opts)
	// After the instances that used them are gone.
	err = errors.Join(err, RunIAM(ctx, stdout, sess.IAM(), journals, opts))
	if err != nil {
		fmt.Fprintln(stderr, "sweep:", err)
		return 1
	}
	return 0
}
