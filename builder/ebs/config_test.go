package ebs

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// Secrets Prepare registers with the process-wide log filter: long and
// unique, so that filtering them cannot garble other tests' output.
const (
	exampleSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	exampleToken     = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"
)

// unset removes a key from validConfig's map.
type unsetKey struct{}

var unset = unsetKey{}

// validConfig is the smallest valid template, changed by over.
func validConfig(over map[string]interface{}) map[string]interface{} {
	raw := map[string]interface{}{
		"source_ami":    "ami-0123456789abcdef0",
		"instance_type": "t3.micro",
		"ami_name":      "bakery-test-1",
		"ssh_username":  "ec2-user",
		"region":        "us-east-1",
	}
	for k, v := range over {
		if v == unset {
			delete(raw, k)
			continue
		}
		raw[k] = v
	}
	return raw
}

// writeKeyFile writes a private key that ssh_private_key_file accepts.
func writeKeyFile(t *testing.T) string {
	t.Helper()
	private, _, err := generateKey("ed25519", 0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, private, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigPrepare(t *testing.T) {
	keyFile := writeKeyFile(t)
	filter := map[string]interface{}{"filters": map[string]interface{}{"name": "al2023-ami-*"}, "owners": []interface{}{"amazon"}, "most_recent": true}

	tests := []prepareCase{
		{
			name:  "minimal with source_ami, and its defaults",
			input: validConfig(nil),
			check: func(t *testing.T, c *Config) {
				if c.Comm.Type != "ssh" || c.Comm.SSHPort != 22 {
					t.Errorf("communicator %q on port %d, want ssh on 22", c.Comm.Type, c.Comm.SSHPort)
				}
				if c.Comm.SSHTemporaryKeyPairType != "ed25519" {
					t.Errorf("temporary_key_pair_type = %q, want ed25519", c.Comm.SSHTemporaryKeyPairType)
				}
				if !reflect.DeepEqual(c.TemporarySGSourceCidrs, []string{"0.0.0.0/0"}) {
					t.Errorf("temporary_security_group_source_cidrs = %v, want [0.0.0.0/0]", c.TemporarySGSourceCidrs)
				}
				if c.StateTimeout != 30*time.Minute {
					t.Errorf("state_timeout = %s, want 30m", c.StateTimeout)
				}
				if c.SourceAMI != "ami-0123456789abcdef0" || c.InstanceType != "t3.micro" || c.AMIName != "bakery-test-1" || c.RawRegion != "us-east-1" {
					t.Errorf("options not decoded: %+v", c.RunConfig)
				}
			},
		},
		{
			name:  "minimal with source_ami_filter",
			input: validConfig(map[string]interface{}{"source_ami": unset, "source_ami_filter": filter}),
			check: func(t *testing.T, c *Config) {
				f := c.SourceAMIFilter
				if !reflect.DeepEqual(f.Owners, []string{"amazon"}) || f.Filters["name"] != "al2023-ami-*" || !f.MostRecent {
					t.Errorf("source_ami_filter = %+v", f)
				}
			},
		},
		{
			name:  "rsa defaults to 4096 bits",
			input: validConfig(map[string]interface{}{"temporary_key_pair_type": "rsa"}),
			check: func(t *testing.T, c *Config) {
				if c.Comm.SSHTemporaryKeyPairBits != 4096 {
					t.Errorf("temporary_key_pair_bits = %d, want 4096", c.Comm.SSHTemporaryKeyPairBits)
				}
			},
		},
		{
			name:  "rsa with chosen bits",
			input: validConfig(map[string]interface{}{"temporary_key_pair_type": "rsa", "temporary_key_pair_bits": 2048}),
			check: func(t *testing.T, c *Config) {
				if c.Comm.SSHTemporaryKeyPairBits != 2048 {
					t.Errorf("temporary_key_pair_bits = %d, want 2048", c.Comm.SSHTemporaryKeyPairBits)
				}
			},
		},
		{
			name:  "explicit options are kept",
			input: validConfig(map[string]interface{}{"state_timeout": "45m", "temporary_security_group_source_cidrs": []string{"203.0.113.0/24"}, "ssh_port": 2222}),
			check: func(t *testing.T, c *Config) {
				if c.StateTimeout != 45*time.Minute || c.Comm.SSHPort != 2222 || !reflect.DeepEqual(c.TemporarySGSourceCidrs, []string{"203.0.113.0/24"}) {
					t.Errorf("state_timeout %s, ssh_port %d, cidrs %v; want 45m, 2222, [203.0.113.0/24]", c.StateTimeout, c.Comm.SSHPort, c.TemporarySGSourceCidrs)
				}
			},
		},
		{name: "vpc_id with availability_zone", input: validConfig(map[string]interface{}{"vpc_id": "vpc-1", "availability_zone": "us-east-1a"})},
		{name: "vpc_id with subnet_id", input: validConfig(map[string]interface{}{"vpc_id": "vpc-1", "subnet_id": "subnet-1"})},
		{name: "security_group_ids alone", input: validConfig(map[string]interface{}{"security_group_ids": []string{"sg-1"}})},
		{name: "ssh_keypair_name with key file", input: validConfig(map[string]interface{}{"ssh_keypair_name": "mine", "ssh_private_key_file": keyFile})},
		{name: "ssh_keypair_name with agent", input: validConfig(map[string]interface{}{"ssh_keypair_name": "mine", "ssh_agent_auth": true})},
		{name: "ssh_interface private_dns", input: validConfig(map[string]interface{}{"ssh_interface": "private_dns"})},
		{name: "ami_name of every allowed character", input: validConfig(map[string]interface{}{"ami_name": "web (v1) [x] ./-'@_ 2"})},
		{name: "ami_description of 255 characters", input: validConfig(map[string]interface{}{"ami_description": strings.Repeat("d", 255)})},
		{name: "access_key with secret_key and token", input: validConfig(map[string]interface{}{"access_key": "AKIDEXAMPLE", "secret_key": exampleSecretKey, "token": exampleToken})},
		{name: "GovCloud region", input: validConfig(map[string]interface{}{"region": "us-gov-west-1"})},
		{name: "no region (taken from the environment later)", input: validConfig(map[string]interface{}{"region": unset})},
		{name: "odd region with skip_region_validation", input: validConfig(map[string]interface{}{"region": "moto_local", "skip_region_validation": true})},
		{name: "custom endpoints", input: validConfig(map[string]interface{}{"custom_endpoint_ec2": "http://127.0.0.1:5000", "custom_endpoint_sts": "https://sts.example.com", "custom_endpoint_iam": "https://iam.example.com/"})},
		{name: "values packer validate cannot know yet", input: validConfig(map[string]interface{}{"source_ami": hcl2helper.UnknownVariableValue, "instance_type": hcl2helper.UnknownVariableValue, "temporary_security_group_source_cidrs": []string{hcl2helper.UnknownVariableValue}})},
		{name: "instance types of every shape", input: validConfig(map[string]interface{}{"instance_type": "u7i-12tb.224xlarge"})},
		{name: "an 8-digit AMI ID", input: validConfig(map[string]interface{}{"source_ami": "ami-1234abcd"})},
		{name: "winrm ignores ssh key options", input: validConfig(map[string]interface{}{"communicator": "winrm", "winrm_username": "Administrator", "ssh_username": unset, "temporary_key_pair_type": "dsa"})},

		{name: "no source AMI", input: validConfig(map[string]interface{}{"source_ami": unset}),
			wantErr: []string{"set `source_ami` or `source_ami_filter`"}},
		{name: "source_ami and source_ami_filter", input: validConfig(map[string]interface{}{"source_ami_filter": filter}),
			wantErr: []string{"`source_ami` and `source_ami_filter` both set"}},
		{name: "source_ami_filter without owners", input: validConfig(map[string]interface{}{"source_ami": unset, "source_ami_filter": map[string]interface{}{"filters": map[string]interface{}{"name": "x-*"}}}),
			wantErr: []string{"`source_ami_filter` needs `owners`"}},
		{name: "source_ami_filter with an empty filter name", input: validConfig(map[string]interface{}{"source_ami": unset, "source_ami_filter": map[string]interface{}{"filters": map[string]interface{}{" ": "x"}, "owners": []string{"self"}}}),
			wantErr: []string{"`source_ami_filter` has a filter with an empty name"}},
		{name: "the product's principal tag is the builder's", input: validConfig(map[string]interface{}{
			"tags": map[string]string{"bakery:principal": "x"}, "snapshot_tags": map[string]string{"bakery:principal": "y", "Team": "web"}}),
			wantErr: []string{"`tags`: \"bakery:principal\" is the builder's own tag", "`snapshot_tags`: \"bakery:principal\" is the builder's own tag"}},
		{name: "source_ami given an AMI name", input: validConfig(map[string]interface{}{"source_ami": "amzn2-ami-hvm-2.0-x86_64-gp2"}),
			wantErr: []string{"`source_ami` \"amzn2-ami-hvm-2.0-x86_64-gp2\" is not an AMI ID like ami-0123456789abcdef0: to choose an AMI by name, use `source_ami_filter`"}},
		{name: "instance_type with a dash for the dot", input: validConfig(map[string]interface{}{"instance_type": "t3-micro"}),
			wantErr: []string{"`instance_type` \"t3-micro\" is not an EC2 instance type"}},
		{name: "ed25519 with temporary_key_pair_bits", input: validConfig(map[string]interface{}{"temporary_key_pair_type": "ed25519", "temporary_key_pair_bits": 4096}),
			wantErr: []string{"`temporary_key_pair_bits` does not apply to ed25519 keys"}},
		{name: "no instance_type", input: validConfig(map[string]interface{}{"instance_type": unset}),
			wantErr: []string{"`instance_type` is required"}},
		{name: "vpc_id alone picks a subnet of that VPC", input: validConfig(map[string]interface{}{"vpc_id": "vpc-1"})},
		{name: "bad CIDR", input: validConfig(map[string]interface{}{"temporary_security_group_source_cidrs": []string{"10.0.0.0/8", "10.0.0.300/32"}}),
			wantErr: []string{"`temporary_security_group_source_cidrs`: \"10.0.0.300/32\" is not a CIDR block"}},
		{name: "CIDRs with security_group_ids", input: validConfig(map[string]interface{}{"security_group_ids": []string{"sg-1"}, "temporary_security_group_source_cidrs": []string{"10.0.0.0/8"}}),
			wantWarn: []string{"`temporary_security_group_source_cidrs` is ignored, as in amazon-ebs: it only applies to the temporary security group"}},
		{name: "bad ssh_interface", input: validConfig(map[string]interface{}{"ssh_interface": "ipv6"}),
			wantErr: []string{"`ssh_interface` \"ipv6\" is not one of"}},
		{name: "negative state_timeout", input: validConfig(map[string]interface{}{"state_timeout": "-5m"}),
			wantErr: []string{"`state_timeout` cannot be negative"}},
		{name: "dsa key pair", input: validConfig(map[string]interface{}{"temporary_key_pair_type": "dsa"}),
			wantErr: []string{"`temporary_key_pair_type` \"dsa\": EC2 imports ed25519 (the default) and rsa keys only"}},
		{name: "rsa bits too few", input: validConfig(map[string]interface{}{"temporary_key_pair_type": "rsa", "temporary_key_pair_bits": 1024}),
			wantErr: []string{"`temporary_key_pair_bits` 1024"}},
		{name: "rsa bits too many", input: validConfig(map[string]interface{}{"temporary_key_pair_type": "rsa", "temporary_key_pair_bits": 32768}),
			wantErr: []string{"`temporary_key_pair_bits` 32768"}},
		{name: "ssh_keypair_name without a private key", input: validConfig(map[string]interface{}{"ssh_keypair_name": "mine"}),
			wantErr: []string{"`ssh_keypair_name` needs `ssh_private_key_file`"}},
		{name: "no ami_name", input: validConfig(map[string]interface{}{"ami_name": unset}),
			wantErr: []string{"`ami_name` is required"}},
		{name: "ami_name too short", input: validConfig(map[string]interface{}{"ami_name": "ab"}),
			wantErr: []string{"`ami_name` \"ab\""}},
		{name: "ami_name with a colon", input: validConfig(map[string]interface{}{"ami_name": "web:1"}),
			wantErr: []string{"`ami_name` \"web:1\": use 3 to 128 letters"}},
		{name: "ami_name too long", input: validConfig(map[string]interface{}{"ami_name": strings.Repeat("a", 129)}),
			wantErr: []string{"`ami_name`"}},
		{name: "ami_description too long", input: validConfig(map[string]interface{}{"ami_description": strings.Repeat("d", 256)}),
			wantErr: []string{"`ami_description` is longer than EC2's limit of 255"}},
		{name: "access_key without secret_key", input: validConfig(map[string]interface{}{"access_key": "AKIDEXAMPLE"}),
			wantErr: []string{"`access_key` and `secret_key` go together"}},
		{name: "secret_key without access_key", input: validConfig(map[string]interface{}{"secret_key": exampleSecretKey}),
			wantErr: []string{"`access_key` and `secret_key` go together"}},
		{name: "token without keys", input: validConfig(map[string]interface{}{"token": exampleToken}),
			wantErr: []string{"`token` needs `access_key` and `secret_key`"}},
		{name: "bad region", input: validConfig(map[string]interface{}{"region": "US-East-1"}),
			wantErr: []string{"`region` \"US-East-1\" is not a region name like us-east-1 (set `skip_region_validation = true`"}},
		{name: "endpoint without scheme", input: validConfig(map[string]interface{}{"custom_endpoint_ec2": "ec2.local:5000"}),
			wantErr: []string{"`custom_endpoint_ec2` \"ec2.local:5000\" must be an absolute URL"}},
		{name: "endpoint without host", input: validConfig(map[string]interface{}{"custom_endpoint_sts": "http://"}),
			wantErr: []string{"`custom_endpoint_sts` \"http://\" must be an absolute URL"}},
		{name: "endpoint unparsable", input: validConfig(map[string]interface{}{"custom_endpoint_iam": "http://[::1"}),
			wantErr: []string{"`custom_endpoint_iam`"}},
		{name: "negative max_retries", input: validConfig(map[string]interface{}{"max_retries": -1}),
			wantErr: []string{"`max_retries` cannot be negative"}},
		{name: "unknown communicator", input: validConfig(map[string]interface{}{"communicator": "rdp"}),
			wantErr: []string{"`communicator` \"rdp\": use \"ssh\" (the default), \"winrm\" or \"none\""}},
		{name: "no ssh_username", input: validConfig(map[string]interface{}{"ssh_username": unset}),
			wantErr: []string{"ssh_username must be specified"}},
		{
			name: "every problem reported at once",
			input: validConfig(map[string]interface{}{
				"instance_type": unset, "ami_name": unset, "ssh_username": unset,
				"region": "nowhere", "max_retries": -2, "ssh_interface": "serial",
			}),
			wantErr: []string{
				"`instance_type` is required", "`ami_name` is required", "ssh_username must be specified",
				"`region` \"nowhere\"", "`max_retries` cannot be negative", "`ssh_interface` \"serial\"",
			},
		},
	}
	runPrepareCases(t, tests)
}

func TestConfigPrepare_secretsHiddenFromOutput(t *testing.T) {
	secret := "secret-" + randomHex(t)
	token := "token-" + randomHex(t)
	password := "password-" + randomHex(t)
	var c Config
	_, err := c.Prepare(validConfig(map[string]interface{}{
		"access_key": "AKIDEXAMPLE", "secret_key": secret, "token": token, "ssh_password": password,
	}))
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}

	var out, errOut bytes.Buffer
	ui := &packersdk.BasicUi{Writer: &out, ErrorWriter: &errOut}
	ui.Say("credentials " + secret + " / " + token + " / " + password)
	ui.Error("failed with " + secret)
	for _, shown := range []string{out.String(), errOut.String()} {
		for _, s := range []string{secret, token, password} {
			if strings.Contains(shown, s) {
				t.Errorf("the UI showed a secret: %q", shown)
			}
		}
		if !strings.Contains(shown, "<sensitive>") {
			t.Errorf("the UI did not mark the hidden secret: %q", shown)
		}
	}
	if got := packersdk.LogSecretFilter.FilterString("log: " + token); got != "log: <sensitive>" {
		t.Errorf("PACKER_LOG would show %q, want the token filtered", got)
	}
}

// A template that fails validation still must not leak its secrets into the
// error output Packer prints.
func TestConfigPrepare_secretsHiddenWhenInvalid(t *testing.T) {
	secret := "secret-" + randomHex(t)
	var c Config
	_, err := c.Prepare(validConfig(map[string]interface{}{"secret_key": secret, "instance_type": unset}))
	if err == nil {
		t.Fatal("Prepare accepted secret_key without access_key")
	}
	if got := packersdk.LogSecretFilter.FilterString(secret); got != "<sensitive>" {
		t.Errorf("secret_key of an invalid template is not filtered: %q", got)
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Prepare hides ssh_password from the output; winrm_password deserves the same.
func TestConfigPrepare_winrmPasswordHidden(t *testing.T) {
	password := "winrm-" + randomHex(t)
	var c Config
	_, err := c.Prepare(validConfig(map[string]interface{}{
		"communicator": "winrm", "winrm_username": "Administrator", "winrm_password": password, "ssh_username": unset,
	}))
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if got := packersdk.LogSecretFilter.FilterString(password); got != "<sensitive>" {
		t.Errorf("winrm_password is not filtered: %q", got)
	}
}

// amazon-ebs makes RSA temporary keys: a migrated template that sizes its key
// gets an RSA key of that size, not an ed25519 one with the size ignored.
func TestConfigPrepare_keyBitsWithoutTypeMeanRSA(t *testing.T) {
	var c Config
	if _, err := c.Prepare(validConfig(map[string]interface{}{"temporary_key_pair_bits": 3072})); err != nil {
		t.Fatal(err)
	}
	if c.Comm.SSHTemporaryKeyPairType != "rsa" || c.Comm.SSHTemporaryKeyPairBits != 3072 {
		t.Errorf("key %s/%d, want rsa/3072", c.Comm.SSHTemporaryKeyPairType, c.Comm.SSHTemporaryKeyPairBits)
	}
}

// `packer validate` passes a placeholder for values it cannot know yet (a
// data source's output); those are checked when the build runs.
func TestConfigPrepare_unknownValuesPassValidation(t *testing.T) {
	unknown := hcl2helper.UnknownVariableValue
	var c Config
	_, err := c.Prepare(validConfig(map[string]interface{}{
		"source_ami": unknown, "instance_type": unknown, "ami_name": unknown,
		"region": unknown, "custom_endpoint_ec2": unknown,
	}))
	if err != nil {
		t.Errorf("placeholders rejected: %v", err)
	}
}

func TestConfigPrepare_force(t *testing.T) {
	var c Config
	if _, err := c.Prepare(validConfig(map[string]interface{}{"packer_force": true, "force_delete_snapshot": true})); err != nil {
		t.Fatalf("-force with force_delete_snapshot: %v", err)
	}
	if !c.AMIForceDeregister {
		t.Error("`packer build -force` did not turn on force_deregister")
	}
	var d Config
	_, err := d.Prepare(validConfig(map[string]interface{}{"force_delete_snapshot": true}))
	if err == nil || !strings.Contains(err.Error(), "`force_delete_snapshot` only applies with `force_deregister = true`") {
		t.Errorf("force_delete_snapshot alone: %v", err)
	}
}

// prepareCase is one row of the Prepare table tests.
type prepareCase struct {
	name     string
	input    map[string]interface{}
	wantErr  []string // one substring per expected error; none means valid
	wantWarn []string // one substring per expected warning
	check    func(*testing.T, *Config)
}

// runPrepareCases runs Config.Prepare on each case: a valid one must pass
// (and its check), an invalid one must fail with exactly one error per
// wantErr, each mentioning its substring; the warnings must be wantWarn's.
func runPrepareCases(t *testing.T, tests []prepareCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			warnings, err := c.Prepare(tt.input)
			if len(warnings) != len(tt.wantWarn) {
				t.Errorf("warnings %q, want %d", warnings, len(tt.wantWarn))
			}
			for _, w := range tt.wantWarn {
				if !strings.Contains(strings.Join(warnings, "\n"), w) {
					t.Errorf("no warning mentions %q: %q", w, warnings)
				}
			}
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				if tt.check != nil {
					tt.check(t, &c)
				}
				return
			}
			if err == nil {
				t.Fatalf("Prepare succeeded, want an error mentioning %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if multi, ok := err.(*packersdk.MultiError); !ok || len(multi.Errors) != len(tt.wantErr) {
				t.Errorf("want %d error(s) in a MultiError, got %T:\n%v", len(tt.wantErr), err, err)
			}
		})
	}
}
