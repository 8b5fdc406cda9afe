package authkeys

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

func TestParseArgs(t *testing.T) {
	cfg, err := ParseArgs([]string{"--endpoint", "http://127.0.0.1:5000", "--regions", "us-east-1, eu-west-1,us-east-1", "ec2-user"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Endpoint != "http://127.0.0.1:5000" || cfg.User != "ec2-user" || !slices.Equal(cfg.Regions, []string{"us-east-1", "eu-west-1"}) {
		t.Errorf("ParseArgs = %+v", cfg)
	}
	bad := map[string][]string{
		"real AWS endpoint": {"--endpoint", "https://ec2.us-east-1.amazonaws.com", "ec2-user"},
		"no endpoint":       {"ec2-user"},
		"no user":           {"--endpoint", "http://127.0.0.1:5000"},
		"two users":         {"--endpoint", "http://127.0.0.1:5000", "a", "b"},
		"bad region":        {"--endpoint", "http://127.0.0.1:5000", "--regions", "us-east-1;rm", "ec2-user"},
		"unknown flag":      {"--endpoint", "http://127.0.0.1:5000", "--x", "ec2-user"},
	}
	for name, args := range bad {
		if _, err := ParseArgs(args); err == nil {
			t.Errorf("%s: ParseArgs(%q) accepted", name, args)
		}
	}
}

func TestParseRegions(t *testing.T) {
	for in, ok := range map[string]bool{
		"us-east-1":               true,
		"us-gov-west-1,eu-west-2": true,
		"":                        false,
		" , ":                     false,
		"US-EAST-1":               false,
		"us-east-1 %u":            false,
		"useast1":                 false,
	} {
		if _, err := ParseRegions(in); (err == nil) != ok {
			t.Errorf("ParseRegions(%q) = %v, want ok=%v", in, err, ok)
		}
	}
}

func instance(key string) types.Instance { return types.Instance{KeyName: aws.String(key)} }

func TestKeyNames(t *testing.T) {
	res := []types.Reservation{
		{Instances: []types.Instance{instance("b"), instance("a"), {}}},
		{Instances: []types.Instance{instance("a"), instance("")}},
	}
	if got := KeyNames(res); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("KeyNames = %q", got)
	}
	if got := KeyNames(nil); len(got) != 0 {
		t.Errorf("KeyNames(nil) = %q", got)
	}
}

func TestFormatKeys(t *testing.T) {
	got := FormatKeys([]string{
		"  ssh-ed25519 AAAA1 one\n",
		"",
		"ssh-ed25519 AAAA1 one",
		"ssh-ed25519 AAAA2 two",
		"ssh-ed25519 AAAA3\ncommand=\"sh\" ssh-ed25519 AAAA4",
	})
	want := "ssh-ed25519 AAAA1 one\nssh-ed25519 AAAA2 two\n"
	if got != want {
		t.Errorf("FormatKeys = %q, want %q", got, want)
	}
}

// fakeEC2 serves DescribeInstances/DescribeKeyPairs from maps and records
// the DescribeKeyPairs calls.
type fakeEC2 struct {
	instances map[string]string // instance id -> key name (all live)
	pairs     map[string]string // key name -> public key
	calls     [][]string
	err       error
}

func (f *fakeEC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	if len(in.Filters) != 1 || aws.ToString(in.Filters[0].Name) != "instance-state-name" ||
		!slices.Equal(in.Filters[0].Values, []string{"pending", "running"}) {
		return nil, errors.New("fake: expected a pending/running state filter")
	}
	var r types.Reservation
	for id, key := range f.instances {
		r.Instances = append(r.Instances, types.Instance{InstanceId: aws.String(id), KeyName: aws.String(key)})
	}
	return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{r}}, nil
}

func (f *fakeEC2) DescribeKeyPairs(ctx context.Context, in *ec2.DescribeKeyPairsInput, _ ...func(*ec2.Options)) (*ec2.DescribeKeyPairsOutput, error) {
	f.calls = append(f.calls, in.KeyNames)
	if !aws.ToBool(in.IncludePublicKey) {
		return nil, errors.New("fake: IncludePublicKey not set")
	}
	out := &ec2.DescribeKeyPairsOutput{}
	for _, name := range in.KeyNames {
		pub, ok := f.pairs[name]
		if !ok {
			return nil, &smithy.GenericAPIError{Code: "InvalidKeyPair.NotFound", Message: "The key pair '" + name + "' does not exist"}
		}
		out.KeyPairs = append(out.KeyPairs, types.KeyPairInfo{KeyName: aws.String(name), PublicKey: aws.String(pub + "\n")})
	}
	return out, nil
}

func run(t *testing.T, f *fakeEC2, user string) (string, string, error) {
	t.Helper()
	var out, warn bytes.Buffer
	cfg := Config{Endpoint: "http://127.0.0.1:1", Regions: []string{"us-east-1"}, User: user}
	err := Run(context.Background(), cfg, func(string) (EC2API, error) { return f, nil }, &out, &warn)
	return out.String(), warn.String(), err
}

func TestRunPrintsKeysOfLiveInstances(t *testing.T) {
	f := &fakeEC2{
		instances: map[string]string{"i-1": "k1", "i-2": "k2", "i-3": "k1"},
		pairs:     map[string]string{"k1": "ssh-ed25519 AAA1", "k2": "ssh-ed25519 AAA2", "unused": "ssh-ed25519 AAA9"},
	}
	out, _, err := run(t, f, "ec2-user")
	if err != nil {
		t.Fatal(err)
	}
	if out != "ssh-ed25519 AAA1\nssh-ed25519 AAA2\n" {
		t.Errorf("output %q", out)
	}
	if strings.Contains(out, "AAA9") {
		t.Error("key of no instance authorised")
	}
}

func TestRunNoInstancesNeverListsAllKeys(t *testing.T) {
	f := &fakeEC2{pairs: map[string]string{"k1": "ssh-ed25519 AAA1"}}
	out, _, err := run(t, f, "ec2-user")
	if err != nil || out != "" {
		t.Errorf("Run = %q, %v; want nothing", out, err)
	}
	if len(f.calls) != 0 {
		t.Errorf("DescribeKeyPairs called %v; with no names it would list every key pair", f.calls)
	}
}

func TestRunSkipsVanishedKeyPair(t *testing.T) {
	f := &fakeEC2{
		instances: map[string]string{"i-1": "gone", "i-2": "k2"},
		pairs:     map[string]string{"k2": "ssh-ed25519 AAA2"},
	}
	out, warn, err := run(t, f, "ec2-user")
	if err != nil {
		t.Fatal(err)
	}
	if out != "ssh-ed25519 AAA2\n" {
		t.Errorf("output %q", out)
	}
	if !strings.Contains(warn, `"gone"`) {
		t.Errorf("no warning about the vanished pair: %q", warn)
	}
}

func TestRunOtherUserGetsNothing(t *testing.T) {
	f := &fakeEC2{err: errors.New("must not be called")}
	out, _, err := run(t, f, "root")
	if err != nil || out != "" {
		t.Errorf("Run for root = %q, %v", out, err)
	}
}

func TestRunDeployUserGetsTheInstanceKeys(t *testing.T) {
	f := &fakeEC2{
		instances: map[string]string{"i-1": "k1", "i-2": "k2"},
		pairs:     map[string]string{"k1": "ssh-ed25519 AAA1", "k2": "ssh-ed25519 AAA2", "unused": "ssh-ed25519 AAA9"},
	}
	out, _, err := run(t, f, DeployUser)
	if err != nil {
		t.Fatal(err)
	}
	if out != "ssh-ed25519 AAA1\nssh-ed25519 AAA2\n" {
		t.Errorf("keys for %s: %q, want those of the live instances", DeployUser, out)
	}
}

func TestRunErrorPrintsNothing(t *testing.T) {
	f := &fakeEC2{err: errors.New("connection refused")}
	out, _, err := run(t, f, "ec2-user")
	if err == nil {
		t.Fatal("no error")
	}
	if out != "" {
		t.Errorf("partial output %q on error", out)
	}
}
