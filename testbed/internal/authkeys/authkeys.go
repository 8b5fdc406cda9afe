// Package authkeys is what sshd's AuthorizedKeysCommand runs on the test-bed.
// It plays cloud-init: on a real EC2 instance the key pair named in
// RunInstances' KeyName ends up in ec2-user's authorized_keys. Here every
// running (or pending) instance in the emulator stands for "the" instance, so
// the keys of all their key pairs are authorised, and a key stops working
// once no live instance names it.
package authkeys

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/packer-bakery/packer-plugin-bakery/testbed/internal/awslocal"
)

// User is the login the test-bed authorises, as on Amazon Linux.
const User = "ec2-user"

// DeployUser is a second login that accepts the same instance keys, as an
// image with an extra cloud-init user would; the ansible provisioner's
// tests log in as it through a play's `remote_user`. It has no sudo.
const DeployUser = "bakery-deploy"

// Config is the parsed command line.
type Config struct {
	Endpoint string
	Regions  []string
	User     string // the user sshd asks about (%u)
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// ParseRegions splits a comma-separated region list, drops blanks and
// duplicates, and rejects anything that does not look like a region name
// (the list ends up on an sshd_config line, so it must be a plain token).
func ParseRegions(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" || seen[r] {
			continue
		}
		if !regionRE.MatchString(r) {
			return nil, fmt.Errorf("%q is not a region name (like us-east-1)", r)
		}
		seen[r] = true
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, errors.New("no regions given")
	}
	return out, nil
}

// ParseArgs parses `--endpoint URL --regions r1,r2 USER`.
func ParseArgs(args []string) (Config, error) {
	fs := flag.NewFlagSet("authorized-keys", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	endpoint := fs.String("endpoint", "", "moto endpoint (loopback only)")
	regions := fs.String("regions", "us-east-1", "comma-separated regions whose instances are authorised")
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("usage: authorized-keys --endpoint URL --regions r1,r2 USER: %w", err)
	}
	if fs.NArg() != 1 {
		return Config{}, errors.New("usage: authorized-keys --endpoint URL --regions r1,r2 USER (exactly one USER)")
	}
	if err := awslocal.RequireLoopback(*endpoint); err != nil {
		return Config{}, err
	}
	rs, err := ParseRegions(*regions)
	if err != nil {
		return Config{}, err
	}
	return Config{Endpoint: *endpoint, Regions: rs, User: fs.Arg(0)}, nil
}

// EC2API is the part of the EC2 client the command needs; tests fake it.
type EC2API interface {
	ec2.DescribeInstancesAPIClient
	DescribeKeyPairs(ctx context.Context, in *ec2.DescribeKeyPairsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error)
}

// NewClient returns the EC2 client for one region.
type NewClient func(region string) (EC2API, error)

// LocalClient builds real EC2 clients against the loopback endpoint.
func LocalClient(endpoint string) NewClient {
	return func(region string) (EC2API, error) {
		cfg, err := awslocal.Config(endpoint, region)
		if err != nil {
			return nil, err
		}
		return ec2.NewFromConfig(cfg), nil
	}
}

// Run writes the authorised keys for cfg.User to out, one per line. It
// writes nothing until it has every key, so sshd never sees a partial list.
// warn receives notes that do not change the outcome.
func Run(ctx context.Context, cfg Config, newClient NewClient, out, warn io.Writer) error {
	if cfg.User != User && cfg.User != DeployUser {
		return nil
	}
	var keys []string
	for _, region := range cfg.Regions {
		client, err := newClient(region)
		if err != nil {
			return err
		}
		k, err := regionKeys(ctx, client, warn)
		if err != nil {
			return fmt.Errorf("region %s: %w", region, err)
		}
		keys = append(keys, k...)
	}
	_, err := io.WriteString(out, FormatKeys(keys))
	return err
}

// regionKeys returns the public keys of the key pairs live instances name.
func regionKeys(ctx context.Context, client EC2API, warn io.Writer) ([]string, error) {
	names, err := liveKeyNames(ctx, client)
	if err != nil {
		return nil, err
	}
	// Never call DescribeKeyPairs with an empty list: that returns every key
	// pair in the account, which would let any imported key log in.
	if len(names) == 0 {
		return nil, nil
	}
	keys, err := describeKeys(ctx, client, names)
	if !isKeyNotFound(err) {
		return keys, err
	}
	// One missing pair fails the whole call. A pair can vanish between the
	// two calls (a finished build deletes its key), which must not lock out
	// the other builds, so retry one name at a time and skip the missing.
	keys = nil
	for _, name := range names {
		k, err := describeKeys(ctx, client, []string{name})
		if isKeyNotFound(err) {
			fmt.Fprintf(warn, "authorized-keys: key pair %q of a live instance no longer exists; skipped\n", name)
			continue
		}
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	}
	return keys, nil
}

func liveKeyNames(ctx context.Context, client EC2API) ([]string, error) {
	in := &ec2.DescribeInstancesInput{
		Filters: []types.Filter{{
			Name:   aws.String("instance-state-name"),
			Values: []string{"pending", "running"},
		}},
	}
	var reservations []types.Reservation
	p := ec2.NewDescribeInstancesPaginator(client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe instances: %w", err)
		}
		reservations = append(reservations, page.Reservations...)
	}
	return KeyNames(reservations), nil
}

func describeKeys(ctx context.Context, client EC2API, names []string) ([]string, error) {
	out, err := client.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{
		KeyNames:         names,
		IncludePublicKey: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("describe key pairs %v: %w", names, err)
	}
	var keys []string
	for _, kp := range out.KeyPairs {
		keys = append(keys, aws.ToString(kp.PublicKey))
	}
	return keys, nil
}

func isKeyNotFound(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvalidKeyPair.NotFound"
}

// KeyNames returns the sorted, distinct, non-empty key names of the
// instances in reservations. The caller filters on state; this trusts it.
func KeyNames(reservations []types.Reservation) []string {
	seen := map[string]bool{}
	var names []string
	for _, r := range reservations {
		for _, inst := range r.Instances {
			name := aws.ToString(inst.KeyName)
			if name == "" || seen[name] {
				continue
			}
			seen[name] = true
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// FormatKeys renders keys as authorized_keys lines: trimmed, distinct, in
// input order. Blank keys and keys spanning several lines are dropped: a
// multi-line value could smuggle a second entry (with options) past sshd.
func FormatKeys(keys []string) string {
	var b bytes.Buffer
	seen := map[string]bool{}
	for _, k := range keys {
		k = strings.TrimSpace(k)
		if k == "" || strings.ContainsAny(k, "\r\n") || seen[k] {
			continue
		}
		seen[k] = true
		b.WriteString(k)
		b.WriteByte('\n')
	}
	return b.String()
}
