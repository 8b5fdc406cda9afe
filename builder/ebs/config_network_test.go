package ebs

import (
	"reflect"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
)

func TestNetworkConfigPrepare(t *testing.T) {
	tagClass := map[string]interface{}{"tag:Class": "build"}
	tests := []prepareCase{
		{name: "vpc_filter", input: validConfig(map[string]interface{}{"vpc_filter": map[string]interface{}{"filters": tagClass}}),
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.VpcFilter.Filters, map[string]string{"tag:Class": "build"}) {
					t.Errorf("vpc_filter filters = %v", c.VpcFilter.Filters)
				}
			}},
		{name: "filter blocks join filters", input: validConfig(map[string]interface{}{"subnet_filter": map[string]interface{}{
			"filters": tagClass,
			"filter":  []map[string]interface{}{{"name": "cidr-block", "value": "10.0.1.0/24, 10.0.2.0/24"}},
		}}),
			check: func(t *testing.T, c *Config) {
				want := map[string]string{"tag:Class": "build", "cidr-block": "10.0.1.0/24, 10.0.2.0/24"}
				if !reflect.DeepEqual(c.SubnetFilter.Filters, want) {
					t.Errorf("subnet_filter filters = %v, want %v", c.SubnetFilter.Filters, want)
				}
			}},
		{name: "subnet_filter with most_free", input: validConfig(map[string]interface{}{"subnet_filter": map[string]interface{}{"filters": tagClass, "most_free": true}})},
		{name: "subnet_filter with random", input: validConfig(map[string]interface{}{"subnet_filter": map[string]interface{}{"filters": tagClass, "random": true}})},
		{name: "vpc_filter and subnet_filter", input: validConfig(map[string]interface{}{"vpc_filter": map[string]interface{}{"filters": tagClass}, "subnet_filter": map[string]interface{}{"filters": tagClass}})},
		{name: "vpc_id and subnet_filter", input: validConfig(map[string]interface{}{"vpc_id": "vpc-1", "subnet_filter": map[string]interface{}{"filters": tagClass}})},
		{name: "security_group_filter makes no temporary group", input: validConfig(map[string]interface{}{"security_group_filter": map[string]interface{}{"filters": tagClass}}),
			check: func(t *testing.T, c *Config) {
				if len(c.TemporarySGSourceCidrs) != 0 {
					t.Errorf("temporary_security_group_source_cidrs = %v, want none: no temporary group is made", c.TemporarySGSourceCidrs)
				}
			}},
		{name: "security_group_id folds into security_group_ids", input: validConfig(map[string]interface{}{"security_group_id": "sg-0123"}),
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.SecurityGroupIDs, []string{"sg-0123"}) {
					t.Errorf("security_group_ids = %v, want [sg-0123]", c.SecurityGroupIDs)
				}
			}},
		{name: "source_public_ip replaces the default CIDR", input: validConfig(map[string]interface{}{"temporary_security_group_source_public_ip": true}),
			check: func(t *testing.T, c *Config) {
				if !c.TemporarySGSourcePublicIP || len(c.TemporarySGSourceCidrs) != 0 {
					t.Errorf("public_ip %v, cidrs %v; want true and none", c.TemporarySGSourcePublicIP, c.TemporarySGSourceCidrs)
				}
			}},
		{name: "default CIDR without any network option", input: validConfig(nil),
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.TemporarySGSourceCidrs, []string{"0.0.0.0/0"}) {
					t.Errorf("cidrs = %v, want [0.0.0.0/0]", c.TemporarySGSourceCidrs)
				}
			}},
		{name: "unknown filter values are not checked", input: validConfig(map[string]interface{}{"vpc_filter": map[string]interface{}{"filters": map[string]interface{}{"tag:Name": hcl2helper.UnknownVariableValue}}})},
		{name: "a quoted value keeps its comma", input: validConfig(map[string]interface{}{"vpc_filter": map[string]interface{}{"filters": map[string]interface{}{"tag:Name": `"a,b", c`}}})},

		// Where amazon-ebs lets one option win, so does bakery-ebs, with a
		// warning, and the loser is gone before any step sees it.
		{name: "vpc_id and vpc_filter", input: validConfig(map[string]interface{}{"vpc_id": "vpc-1", "vpc_filter": map[string]interface{}{"filters": tagClass}}),
			wantWarn: []string{"`vpc_filter` is ignored, as in amazon-ebs: `vpc_id` is set and wins"},
			check: func(t *testing.T, c *Config) {
				assertTrue(t, "vpc_filter dropped", c.VpcFilter.Empty() && c.VpcID == "vpc-1")
			}},
		{name: "subnet_id and subnet_filter", input: validConfig(map[string]interface{}{"subnet_id": "subnet-1", "subnet_filter": map[string]interface{}{"filters": tagClass}}),
			wantWarn: []string{"`subnet_filter` is ignored, as in amazon-ebs: `subnet_id` is set and wins"},
			check: func(t *testing.T, c *Config) {
				assertTrue(t, "subnet_filter dropped", c.SubnetFilter.Empty() && c.SubnetID == "subnet-1")
			}},
		{name: "most_free and random", input: validConfig(map[string]interface{}{"subnet_filter": map[string]interface{}{"filters": tagClass, "most_free": true, "random": true}}),
			wantWarn: []string{"`subnet_filter.random` is ignored, as in amazon-ebs: `most_free` is set and wins"},
			check: func(t *testing.T, c *Config) {
				assertTrue(t, "most_free kept", c.SubnetFilter.MostFree && !c.SubnetFilter.Random)
			}},
		{name: "most_free without filters", input: validConfig(map[string]interface{}{"subnet_filter": map[string]interface{}{"most_free": true}}),
			wantWarn: []string{"`subnet_filter` is ignored, as in amazon-ebs: it has `most_free` or `random` but no `filters`"},
			check:    func(t *testing.T, c *Config) { assertTrue(t, "subnet_filter dropped", c.SubnetFilter.Empty()) }},
		{name: "empty filter name", input: validConfig(map[string]interface{}{"vpc_filter": map[string]interface{}{"filters": map[string]interface{}{" ": "x"}}}),
			wantErr: []string{"`vpc_filter` has a filter with an empty name"}},
		{name: "unbalanced quote in a value", input: validConfig(map[string]interface{}{"security_group_filter": map[string]interface{}{"filters": map[string]interface{}{"group-name": `"packer`}}}),
			wantErr: []string{"`security_group_filter`: filter \"group-name\": \"\\\"packer\" is not a comma-separated list of values"}},
		{name: "a filter in both forms", input: validConfig(map[string]interface{}{"vpc_filter": map[string]interface{}{"filters": tagClass, "filter": []map[string]interface{}{{"name": "tag:Class", "value": "other"}}}}),
			wantErr: []string{"`vpc_filter`: filter \"tag:Class\" is set twice"}},
		{name: "security_group_id and security_group_ids", input: validConfig(map[string]interface{}{"security_group_id": "sg-1", "security_group_ids": []string{"sg-2"}}),
			wantErr: []string{"`security_group_id` and `security_group_ids` both set"}},
		{name: "security_group_filter and security_group_ids", input: validConfig(map[string]interface{}{"security_group_filter": map[string]interface{}{"filters": tagClass}, "security_group_ids": []string{"sg-2"}}),
			wantWarn: []string{"`security_group_filter` is ignored, as in amazon-ebs: `security_group_ids` (or `security_group_id`) is set and wins"},
			check: func(t *testing.T, c *Config) {
				assertTrue(t, "ids kept, filter dropped", c.SecurityGroupFilter.Empty() && len(c.SecurityGroupIDs) == 1 && len(c.TemporarySGSourceCidrs) == 0)
			}},
		{name: "security_group_filter and security_group_id", input: validConfig(map[string]interface{}{"security_group_filter": map[string]interface{}{"filters": tagClass}, "security_group_id": "sg-2"}),
			wantWarn: []string{"`security_group_filter` is ignored, as in amazon-ebs: `security_group_ids` (or `security_group_id`) is set and wins"}},
		{name: "security_group_filter and CIDRs", input: validConfig(map[string]interface{}{"security_group_filter": map[string]interface{}{"filters": tagClass}, "temporary_security_group_source_cidrs": []string{"10.0.0.0/8"}}),
			wantWarn: []string{"`temporary_security_group_source_cidrs` is ignored, as in amazon-ebs: it only applies to the temporary security group"},
			check:    func(t *testing.T, c *Config) { assertTrue(t, "CIDRs dropped", len(c.TemporarySGSourceCidrs) == 0) }},
		{name: "security_group_id and CIDRs", input: validConfig(map[string]interface{}{"security_group_id": "sg-1", "temporary_security_group_source_cidrs": []string{"10.0.0.0/8"}}),
			wantWarn: []string{"`temporary_security_group_source_cidrs` is ignored, as in amazon-ebs: it only applies to the temporary security group"}},
		{name: "source_public_ip and CIDRs", input: validConfig(map[string]interface{}{"temporary_security_group_source_public_ip": true, "temporary_security_group_source_cidrs": []string{"10.0.0.0/8"}}),
			wantWarn: []string{"`temporary_security_group_source_public_ip` is ignored, as in amazon-ebs: `temporary_security_group_source_cidrs` is set and wins"},
			check: func(t *testing.T, c *Config) {
				assertTrue(t, "CIDRs kept", !c.TemporarySGSourcePublicIP && len(c.TemporarySGSourceCidrs) == 1)
			}},
		{name: "source_public_ip and security_group_ids", input: validConfig(map[string]interface{}{"temporary_security_group_source_public_ip": true, "security_group_ids": []string{"sg-1"}}),
			wantWarn: []string{"`temporary_security_group_source_public_ip` is ignored, as in amazon-ebs: it only applies to the temporary security group"}},
		{name: "source_public_ip and security_group_filter", input: validConfig(map[string]interface{}{"temporary_security_group_source_public_ip": true, "security_group_filter": map[string]interface{}{"filters": tagClass}}),
			wantWarn: []string{"`temporary_security_group_source_public_ip` is ignored, as in amazon-ebs: it only applies to the temporary security group"}},
	}
	runPrepareCases(t, tests)
}

func TestEC2Filters(t *testing.T) {
	got, err := ec2Filters(map[string]string{"tag:Name": `a, "b,c"`, "vpc-id": "vpc-user"}, "vpc-id", "vpc-build", "state", "available")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"state": {"available"}, "tag:Name": {"a", "b,c"}, "vpc-id": {"vpc-build"}}
	if m := filterMap(got); !reflect.DeepEqual(m, want) {
		t.Errorf("filters = %v, want %v", m, want)
	}
	for i := 1; i < len(got); i++ {
		if *got[i-1].Name > *got[i].Name {
			t.Errorf("filters not sorted by name: %v", filterMap(got))
		}
	}
	if _, err := ec2Filters(map[string]string{"x": `"open`}); err == nil {
		t.Error("an unbalanced quote was accepted")
	}
}
