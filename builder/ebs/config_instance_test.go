package ebs

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

// TestInstanceConfigPrepare covers every rule of InstanceConfig through the
// whole Config.Prepare, so the option names are checked too.
func TestInstanceConfigPrepare(t *testing.T) {
	userDataFile := filepath.Join(t.TempDir(), "user-data.sh")
	if err := os.WriteFile(userDataFile, []byte("#!/bin/sh\necho from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nope.sh")
	unknown := hcl2helper.UnknownVariableValue
	type m = map[string]interface{}

	tests := []prepareCase{
		{
			name:  "defaults: IMDSv2 required, nothing else asked for",
			input: validConfig(nil),
			check: func(t *testing.T, c *Config) {
				got := c.metadataOptions()
				want := &types.InstanceMetadataOptionsRequest{HttpEndpoint: "enabled", HttpTokens: "required"}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("metadata options %s, want %s", jsonString(got), jsonString(want))
				}
				if c.userDataBase64() != "" || c.placement() != nil || c.LaunchMappings.ec2(true) != nil || c.AMIMappings.ec2(false) != nil {
					t.Errorf("defaults ask for user data, placement or mappings: %+v", c.InstanceConfig)
				}
			},
		},
		{
			name:  "user_data is sent base64-encoded",
			input: validConfig(m{"user_data": "#cloud-config\n"}),
			check: func(t *testing.T, c *Config) {
				if got := c.userDataBase64(); got != base64.StdEncoding.EncodeToString([]byte("#cloud-config\n")) {
					t.Errorf("user data %q", got)
				}
			},
		},
		{
			name:  "user_data_file is read at Prepare",
			input: validConfig(m{"user_data_file": userDataFile}),
			check: func(t *testing.T, c *Config) {
				if got, _ := base64.StdEncoding.DecodeString(c.userDataBase64()); string(got) != "#!/bin/sh\necho from-file\n" {
					t.Errorf("user data %q, want the file's content", got)
				}
			},
		},
		{name: "user_data and user_data_file", input: validConfig(m{"user_data": "x", "user_data_file": userDataFile}), wantErr: []string{"`user_data` and `user_data_file` both set"}},
		{name: "user_data_file missing", input: validConfig(m{"user_data_file": missing}), wantErr: []string{"`user_data_file`: open " + missing}},
		{name: "user data over 16 KiB", input: validConfig(m{"user_data": strings.Repeat("x", 16*1024+1)}), wantErr: []string{"user data is 16385 bytes; EC2 takes at most 16384"}},
		{
			name: "metadata_options as given",
			input: validConfig(m{"metadata_options": m{
				"http_endpoint": "enabled", "http_tokens": "optional", "http_put_response_hop_limit": 2, "instance_metadata_tags": "enabled",
			}}),
			check: func(t *testing.T, c *Config) {
				got := c.metadataOptions()
				want := &types.InstanceMetadataOptionsRequest{HttpEndpoint: "enabled", HttpTokens: "optional", HttpPutResponseHopLimit: aws.Int32(2), InstanceMetadataTags: "enabled"}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("metadata options %s, want %s", jsonString(got), jsonString(want))
				}
			},
		},
		{name: "http_endpoint misspelt", input: validConfig(m{"metadata_options": m{"http_endpoint": "on"}}), wantErr: []string{"`metadata_options.http_endpoint` \"on\""}},
		{name: "http_tokens misspelt", input: validConfig(m{"metadata_options": m{"http_tokens": "v2"}}), wantErr: []string{"`metadata_options.http_tokens` \"v2\""}},
		{
			name: "hop limit 0 is unset", input: validConfig(m{"metadata_options": m{"http_put_response_hop_limit": 0}}),
			check: func(t *testing.T, c *Config) {
				if got := c.metadataOptions().HttpPutResponseHopLimit; got != nil {
					t.Errorf("hop limit %d sent, want none (EC2's default)", *got)
				}
			},
		},
		{
			name: "hop limit 64", input: validConfig(m{"metadata_options": m{"http_put_response_hop_limit": 64}}),
			check: func(t *testing.T, c *Config) {
				if got := c.metadataOptions().HttpPutResponseHopLimit; aws.ToInt32(got) != 64 {
					t.Errorf("hop limit %v sent, want 64", got)
				}
			},
		},
		{name: "hop limit 65", input: validConfig(m{"metadata_options": m{"http_put_response_hop_limit": 65}}), wantErr: []string{"`metadata_options.http_put_response_hop_limit` 65: use 1 to 64"}},
		{name: "hop limit negative", input: validConfig(m{"metadata_options": m{"http_put_response_hop_limit": -1}}), wantErr: []string{"http_put_response_hop_limit` -1"}},
		{name: "instance_metadata_tags misspelt", input: validConfig(m{"metadata_options": m{"instance_metadata_tags": "yes"}}), wantErr: []string{"`metadata_options.instance_metadata_tags` \"yes\""}},
		{name: "unknown metadata values are not checked", input: validConfig(m{"metadata_options": m{"http_tokens": unknown, "http_endpoint": unknown}})},
		{name: "unlimited credits on t3", input: validConfig(m{"enable_unlimited_credits": true})},
		{name: "unlimited credits on t4g", input: validConfig(m{"enable_unlimited_credits": true, "instance_type": "t4g.small"})},
		{name: "unlimited credits on m5", input: validConfig(m{"enable_unlimited_credits": true, "instance_type": "m5.large"}), wantErr: []string{"`enable_unlimited_credits` only applies to burstable instance types (t2, t3, t3a, t4g), not \"m5.large\""}},
		{name: "unlimited credits on an unknown type", input: validConfig(m{"enable_unlimited_credits": true, "instance_type": unknown})},
		{name: "shutdown_behavior terminate", input: validConfig(m{"shutdown_behavior": "terminate"})},
		{name: "shutdown_behavior misspelt", input: validConfig(m{"shutdown_behavior": "halt"}), wantErr: []string{"`shutdown_behavior` \"halt\": use \"stop\" (the default) or \"terminate\""}},
		{
			name:     "disable_stop_instance with terminate warns",
			input:    validConfig(m{"disable_stop_instance": true, "shutdown_behavior": "terminate"}),
			wantWarn: []string{"a shutdown from inside the instance terminates it"},
		},
		{
			name:     "top-level tenancy is mapped to placement, with a warning",
			input:    validConfig(m{"tenancy": "dedicated"}),
			wantWarn: []string{"`tenancy` is deprecated: write `placement { tenancy = \"dedicated\" }`"},
			check: func(t *testing.T, c *Config) {
				if got := c.placement(); got == nil || got.Tenancy != types.TenancyDedicated {
					t.Errorf("placement %s, want tenancy dedicated", jsonString(got))
				}
			},
		},
		{name: "tenancy and placement.tenancy", input: validConfig(m{"tenancy": "dedicated", "placement": m{"tenancy": "default"}}), wantErr: []string{"`tenancy` and `placement.tenancy` both set"}, wantWarn: []string{"deprecated"}},
		{name: "tenancy misspelt", input: validConfig(m{"placement": m{"tenancy": "shared"}}), wantErr: []string{"`placement.tenancy` \"shared\": use one of default, dedicated, host"}},
		{name: "deprecated tenancy misspelt", input: validConfig(m{"tenancy": "shared"}), wantErr: []string{"`placement.tenancy` \"shared\""}, wantWarn: []string{"deprecated"}},
		{
			name:  "host_id implies host tenancy",
			input: validConfig(m{"placement": m{"host_id": "h-0123456789abcdef0"}}),
			check: func(t *testing.T, c *Config) {
				want := &types.Placement{Tenancy: types.TenancyHost, HostId: aws.String("h-0123456789abcdef0")}
				if got := c.placement(); !reflect.DeepEqual(got, want) {
					t.Errorf("placement %s, want %s", jsonString(got), jsonString(want))
				}
			},
		},
		{
			name:  "host resource group",
			input: validConfig(m{"placement": m{"host_resource_group_arn": "arn:aws:resource-groups:us-east-1:123456789012:group/hosts", "tenancy": "host"}}),
			check: func(t *testing.T, c *Config) {
				if got := c.placement(); got == nil || aws.ToString(got.HostResourceGroupArn) != "arn:aws:resource-groups:us-east-1:123456789012:group/hosts" {
					t.Errorf("placement %s", jsonString(got))
				}
			},
		},
		{name: "host_id with dedicated tenancy", input: validConfig(m{"placement": m{"host_id": "h-0123456789abcdef0", "tenancy": "dedicated"}}), wantErr: []string{"`placement.tenancy` \"dedicated\" with a Dedicated Host"}},
		{
			name:    "host_id and host resource group",
			input:   validConfig(m{"placement": m{"host_id": "h-0123456789abcdef0", "host_resource_group_arn": "arn:aws:resource-groups:us-east-1:123456789012:group/hosts"}}),
			wantErr: []string{"`placement.host_id` and `placement.host_resource_group_arn` both set"},
		},
		{name: "host_id malformed", input: validConfig(m{"placement": m{"host_id": "host-1"}}), wantErr: []string{"`placement.host_id` \"host-1\" is not a Dedicated Host ID"}},
		{name: "host resource group not an ARN", input: validConfig(m{"placement": m{"host_resource_group_arn": "hosts"}}), wantErr: []string{"`placement.host_resource_group_arn` \"hosts\" is not an ARN"}},
		{
			name: "block device mappings of both options are checked and named",
			input: validConfig(m{
				"launch_block_device_mappings": []m{{"device_name": "/dev/xvda", "volume_size": 20, "volume_type": "gp3", "iops": 100}},
				"ami_block_device_mappings":    []m{{"volume_size": 20}},
			}),
			wantErr: []string{
				"`launch_block_device_mappings` /dev/xvda: `iops` 100: gp3 volumes take 3000 to 16000",
				"`ami_block_device_mappings` #1: `device_name` is required",
			},
		},
		{
			name:  "run_volume_tags",
			input: validConfig(m{"run_volume_tags": m{"disk": "scratch"}, "run_tags": m{"team": "bakers"}}),
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.VolumeRunTags, map[string]string{"disk": "scratch"}) || !reflect.DeepEqual(c.RunTags, map[string]string{"team": "bakers"}) {
					t.Errorf("run_volume_tags %v, run_tags %v", c.VolumeRunTags, c.RunTags)
				}
			},
		},
		{
			name:    "run_volume_tags cannot take the builder's own tags",
			input:   validConfig(m{"run_volume_tags": m{bakery.TagBuildID: "mine", bakery.TagCreatedBy: "me"}}),
			wantErr: []string{"`run_volume_tags`: \"bakery:build-id\" is the builder's own tag", "\"bakery:created-by\" is the builder's own tag"},
		},
		{
			name: "every problem at once",
			input: validConfig(m{
				"user_data": "x", "user_data_file": userDataFile, "shutdown_behavior": "off",
				"metadata_options": m{"http_tokens": "no", "http_put_response_hop_limit": 100},
				"instance_type":    "c5.large", "enable_unlimited_credits": true,
			}),
			wantErr: []string{"`user_data` and `user_data_file`", "http_tokens", "hop_limit", "enable_unlimited_credits", "shutdown_behavior"},
		},
		{
			name:  "capacity fallback",
			input: validConfig(m{"fallback_instance_types": []string{"t3a.micro", "t2.micro"}, "fallback_subnets": true}),
			check: func(t *testing.T, c *Config) {
				if len(c.FallbackInstanceTypes) != 2 || !c.FallbackSubnets {
					t.Errorf("fallback %v %v", c.FallbackInstanceTypes, c.FallbackSubnets)
				}
			},
		},
		{
			name: "capacity fallback problems",
			input: validConfig(m{"fallback_instance_types": []string{"t3a-micro", "t3.micro"}, "fallback_subnets": true,
				"availability_zone": "us-east-1a", "spot_price": "auto"}),
			wantErr: []string{"with `spot_price`, list the types in `spot_instance_types`", "`availability_zone` pins the zone",
				"\"t3a-micro\" is not an EC2 instance type", "\"t3.micro\" is listed twice (or is `instance_type`)"},
		},
	}
	runPrepareCases(t, tests)
}
