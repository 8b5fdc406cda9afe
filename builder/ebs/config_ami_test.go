package ebs

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
)

const unknownValue = hcl2helper.UnknownVariableValue

const (
	orgARN = "arn:aws:organizations::123456789012:organization/o-abcdefghij"
	ouARN  = "arn:aws:organizations::123456789012:ou/o-abcdefghij/ou-ab12-cdefgh34"
	keyARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

func TestAMIDistributionConfigPrepare(t *testing.T) {
	future := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name     string
		over     map[string]interface{}
		wantErr  []string                      // every one must be in the error; none: valid
		wantWarn string                        // a warning that must be given
		check    func(t *testing.T, c *Config) // what a valid config gives the plan
	}{
		{name: "nothing set", over: nil},
		{name: "regions", over: map[string]interface{}{"ami_regions": []string{"eu-west-1", "us-west-2", "eu-west-1"}}},
		{name: "region misspelt", over: map[string]interface{}{"ami_regions": []string{"eu-west1"}},
			wantErr: []string{"`ami_regions`: \"eu-west1\" is not a region name"}},
		{name: "key for a region not copied to", over: map[string]interface{}{"encrypt_boot": true, "ami_regions": []string{"eu-west-1"},
			"region_kms_key_ids": map[string]string{"eu-west-1": "alias/a", "us-west-2": "alias/b"}},
			wantErr: []string{"`region_kms_key_ids` has a key for us-west-2, which is not in `ami_regions`"}},
		{name: "region without key", over: map[string]interface{}{"encrypt_boot": true, "ami_regions": []string{"eu-west-1", "us-west-2"},
			"region_kms_key_ids": map[string]string{"eu-west-1": "alias/a"}},
			wantErr: []string{"`ami_regions` has us-west-2 but `region_kms_key_ids` has no key for it"}},
		{name: "region keys, default key allowed without sharing", over: map[string]interface{}{"encrypt_boot": true, "ami_regions": []string{"eu-west-1", "us-west-2"},
			"region_kms_key_ids": map[string]string{"eu-west-1": "alias/a", "us-west-2": ""}}},
		{name: "kms key without encrypt_boot", over: map[string]interface{}{"kms_key_id": "alias/images"},
			wantErr: []string{"`kms_key_id` and `region_kms_key_ids` only apply with `encrypt_boot = true`"}},
		{name: "region keys with encrypt_boot false", over: map[string]interface{}{"encrypt_boot": false, "ami_regions": []string{"eu-west-1"},
			"region_kms_key_ids": map[string]string{"eu-west-1": "alias/a"}},
			wantErr: []string{"only apply with `encrypt_boot = true`"}},
		{name: "kms key forms", over: map[string]interface{}{"encrypt_boot": true, "kms_key_id": keyARN, "ami_regions": []string{"eu-west-1", "us-west-2", "ap-south-1"},
			"region_kms_key_ids": map[string]string{"eu-west-1": "1234abcd-12ab-34cd-56ef-1234567890ab", "us-west-2": "mrk-1234abcd12ab34cd56ef1234567890ab", "ap-south-1": "arn:aws:kms:ap-south-1:123456789012:alias/images"}}},
		{name: "alias without prefix", over: map[string]interface{}{"encrypt_boot": true, "kms_key_id": "images"},
			wantErr: []string{"`kms_key_id` \"images\" is not a key ID, `alias/…` name or KMS ARN"}},
		{name: "share encrypted with default key", over: map[string]interface{}{"encrypt_boot": true, "ami_users": []string{"123456789012"}},
			wantErr: []string{"the AMI would be encrypted with the default EBS key, which other accounts cannot use"}},
		{name: "share with org, encrypted with default key", over: map[string]interface{}{"encrypt_boot": true, "ami_org_arns": []string{orgARN}},
			wantErr: []string{"`ami_users`/`ami_org_arns`/`ami_ou_arns`: the AMI would be encrypted with the default EBS key"}},
		{name: "snapshot users, encrypted with default key", over: map[string]interface{}{"encrypt_boot": true, "snapshot_users": []string{"123456789012"}},
			wantErr: []string{"`snapshot_users`: the AMI would be encrypted with the default EBS key"}},
		{name: "share, a region on the default key", over: map[string]interface{}{"encrypt_boot": true, "kms_key_id": "alias/a", "ami_users": []string{"123456789012"},
			"ami_regions": []string{"eu-west-1", "us-west-2"}, "region_kms_key_ids": map[string]string{"eu-west-1": "alias/a", "us-west-2": ""}},
			wantErr: []string{"`region_kms_key_ids` leaves us-west-2 on the default EBS key"}, wantWarn: "only if the key's policy"},
		{name: "share, encrypted with own key: warning about the key policy", over: map[string]interface{}{"encrypt_boot": true, "kms_key_id": "alias/a", "ami_users": []string{"123456789012"}},
			wantWarn: "only if the key's policy"},
		{name: "sharing", over: map[string]interface{}{"ami_users": []string{"123456789012", "123456789012"}, "ami_groups": []string{"all"},
			"ami_org_arns": []string{orgARN}, "ami_ou_arns": []string{ouARN}, "snapshot_users": []string{"210987654321"}, "snapshot_groups": []string{"all"}}},
		{name: "account ID too short", over: map[string]interface{}{"ami_users": []string{"12345678901"}},
			wantErr: []string{"`ami_users`: \"12345678901\" is not an AWS account ID (12 digits"}},
		{name: "account ID as ARN", over: map[string]interface{}{"snapshot_users": []string{"arn:aws:iam::123456789012:root"}},
			wantErr: []string{"`snapshot_users`: \"arn:aws:iam::123456789012:root\" is not an AWS account ID"}},
		{name: "group other than all", over: map[string]interface{}{"ami_groups": []string{"admins"}},
			wantErr: []string{"`ami_groups`: \"admins\" is not a group EC2 knows: the only one is \"all\""}},
		{name: "snapshot group other than all", over: map[string]interface{}{"snapshot_groups": []string{"everyone"}},
			wantErr: []string{"`snapshot_groups`: \"everyone\" is not a group EC2 knows"}},
		{name: "org ARN is an OU", over: map[string]interface{}{"ami_org_arns": []string{ouARN}},
			wantErr: []string{"`ami_org_arns`: \"" + ouARN + "\" is not an organization ARN"}},
		{name: "OU ARN is an org", over: map[string]interface{}{"ami_ou_arns": []string{orgARN}},
			wantErr: []string{"`ami_ou_arns`: \"" + orgARN + "\" is not an organizational unit ARN"}},
		{name: "public and encrypted", over: map[string]interface{}{"encrypt_boot": true, "ami_groups": []string{"all"}},
			wantErr: []string{"EC2 cannot make an encrypted AMI public"}},
		{name: "public snapshots and encrypted", over: map[string]interface{}{"encrypt_boot": true, "snapshot_groups": []string{"all"}},
			wantErr: []string{"EC2 cannot make encrypted snapshots public"}},
		{name: "imds v2", over: map[string]interface{}{"imds_support": "v2.0"}, check: func(t *testing.T, c *Config) {
			var attrs []*stepAMIAttributes
			for _, s := range testPlan(&Builder{config: *c}) {
				if a, ok := s.(*stepAMIAttributes); ok {
					attrs = append(attrs, a)
				}
			}
			if len(attrs) != 1 || attrs[0].imdsSupport != "v2.0" {
				t.Errorf("%d AMI attribute steps, want 1 setting imds_support v2.0", len(attrs))
			}
		}},
		{name: "imds v2 misspelt", over: map[string]interface{}{"imds_support": "v2"},
			wantErr: []string{"`imds_support` \"v2\": the only value is \"v2.0\""}},
		{name: "boot mode uefi", over: map[string]interface{}{"boot_mode": "uefi"}, check: func(t *testing.T, c *Config) {
			var creates []*stepCreateImage
			for _, s := range testPlan(&Builder{config: *c}) {
				if ci, ok := s.(*stepCreateImage); ok {
					creates = append(creates, ci)
				}
			}
			if len(creates) != 1 || creates[0].bootMode != "uefi" {
				t.Errorf("%d CreateImage steps, want 1 forcing uefi", len(creates))
			}
		}},
		{name: "boot mode legacy-bios", over: map[string]interface{}{"boot_mode": "legacy-bios"},
			wantErr: []string{"`boot_mode` \"legacy-bios\": CreateImage can only force \"uefi\""}},
		{name: "boot mode uefi-preferred", over: map[string]interface{}{"boot_mode": "uefi-preferred"},
			wantErr: []string{"choose a source AMI that has uefi-preferred"}},
		{name: "boot mode unknown", over: map[string]interface{}{"boot_mode": "bios"},
			wantErr: []string{"`boot_mode` \"bios\" is not one of legacy-bios, uefi, uefi-preferred"}},
		{name: "deprecate_at", over: map[string]interface{}{"deprecate_at": future}},
		{name: "deprecate_at not RFC 3339", over: map[string]interface{}{"deprecate_at": "2030-01-01"},
			wantErr: []string{"`deprecate_at` \"2030-01-01\" is not an RFC 3339 time"}},
		{name: "deprecate_at in the past", over: map[string]interface{}{"deprecate_at": "2020-01-01T00:00:00Z"},
			wantErr: []string{"`deprecate_at` 2020-01-01T00:00:00Z is in the past"}},
		{name: "deprecate_at too far", over: map[string]interface{}{"deprecate_at": time.Now().AddDate(11, 0, 0).UTC().Format(time.RFC3339)},
			wantErr: []string{"more than 10 years away"}},
		{name: "virtualization hvm with ena", over: map[string]interface{}{"ami_virtualization_type": "hvm", "ena_support": true, "sriov_support": true}},
		{name: "paravirtual with ena", over: map[string]interface{}{"ami_virtualization_type": "paravirtual", "ena_support": true},
			wantErr: []string{"`ena_support` and `sriov_support` need an HVM AMI"}},
		{name: "paravirtual with sriov", over: map[string]interface{}{"ami_virtualization_type": "paravirtual", "sriov_support": true},
			wantErr: []string{"need an HVM AMI"}},
		{name: "virtualization unknown", over: map[string]interface{}{"ami_virtualization_type": "pv"},
			wantErr: []string{"`ami_virtualization_type` \"pv\" is not \"hvm\" or \"paravirtual\""}},
		{name: "skip_save_build_region without regions", over: map[string]interface{}{"skip_save_build_region": true},
			wantErr: []string{"`skip_save_build_region` keeps no AMI in the build region, so it needs `ami_regions`"}},
		{name: "skip_save_build_region", over: map[string]interface{}{"skip_save_build_region": true, "ami_regions": []string{"eu-west-1"}}},
		{name: "skip_create_ami makes copies moot", over: map[string]interface{}{"skip_create_ami": true, "ami_regions": []string{"eu-west-1"}, "ami_users": []string{"123456789012"}},
			wantWarn: "`skip_create_ami` is set: no AMI is made, so `ami_regions`, `ami_users` have no effect"},
		{name: "placeholders are not validated", over: map[string]interface{}{"ami_users": []string{unknownValue}, "deprecate_at": unknownValue, "boot_mode": unknownValue, "ami_org_arns": []string{unknownValue}}},
		{name: "every problem at once", over: map[string]interface{}{"ami_users": []string{"1"}, "ami_groups": []string{"x"}, "imds_support": "v1"},
			wantErr: []string{"`ami_users`", "`ami_groups`", "`imds_support`"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			warns, err := c.Prepare(validConfig(tc.over))
			if len(tc.wantErr) == 0 && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(tc.wantErr) > 0 && err == nil {
				t.Fatalf("no error, want one mentioning %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tc.wantWarn != "" && !strings.Contains(strings.Join(warns, "\n"), tc.wantWarn) {
				t.Errorf("warnings %q do not say %q", warns, tc.wantWarn)
			}
			if tc.wantWarn == "" && len(warns) > 0 {
				t.Errorf("unexpected warnings %q", warns)
			}
			if tc.check != nil && err == nil {
				tc.check(t, &c)
			}
		})
	}
}

func TestAMIDistributionConfig_dedupesAndRegions(t *testing.T) {
	var c Config
	if _, err := c.Prepare(validConfig(map[string]interface{}{
		"ami_regions":  []string{"eu-west-1", "us-east-1", "eu-west-1", "us-west-2"},
		"ami_users":    []string{"123456789012", "123456789012"},
		"encrypt_boot": true, "kms_key_id": "alias/build",
		"region_kms_key_ids": map[string]string{"eu-west-1": "alias/eu", "us-east-1": "alias/home", "us-west-2": "alias/us"},
	})); err != nil {
		t.Fatal(err)
	}
	if got, want := c.copyRegions("us-east-1"), []string{"eu-west-1", "us-west-2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("copyRegions = %v, want %v (build region and duplicates dropped, order kept)", got, want)
	}
	if got := c.AMIUsers; !reflect.DeepEqual(got, []string{"123456789012"}) {
		t.Errorf("ami_users = %v, want the duplicate dropped", got)
	}
	// The build region's entry in region_kms_key_ids wins over kms_key_id,
	// as in amazon-ebs.
	for region, want := range map[string]string{"us-east-1": "alias/home", "eu-west-1": "alias/eu", "us-west-2": "alias/us"} {
		if got := c.kmsKey(region, "us-east-1"); got != want {
			t.Errorf("kmsKey(%s) = %q, want %q", region, got, want)
		}
	}
	var d Config
	if _, err := d.Prepare(validConfig(map[string]interface{}{"encrypt_boot": true, "kms_key_id": "alias/build", "ami_regions": []string{"eu-west-1"}})); err != nil {
		t.Fatal(err)
	}
	if got := d.kmsKey("us-east-1", "us-east-1"); got != "alias/build" {
		t.Errorf("build region key %q, want kms_key_id", got)
	}
	if got := d.kmsKey("eu-west-1", "us-east-1"); got != "" {
		t.Errorf("copy region key %q, want the region's default (\"\")", got)
	}
}
