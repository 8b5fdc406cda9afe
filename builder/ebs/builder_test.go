package ebs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func regions(names ...string) *ec2.DescribeRegionsOutput {
	out := &ec2.DescribeRegionsOutput{}
	for _, n := range names {
		out.Regions = append(out.Regions, types.Region{RegionName: aws.String(n)})
	}
	return out
}

func TestValidateRegion(t *testing.T) {
	t.Run("known region", func(t *testing.T) {
		f := newFakeRegions(t)
		f.DescribeRegionsCalls.Return(regions("us-east-1", "eu-west-1", "ap-southeast-7"), nil)
		if err := validateRegion(t.Context(), f, "ap-southeast-7"); err != nil {
			t.Errorf("validateRegion: %v", err)
		}
		// Opt-in regions the account has not enabled are still regions.
		if !aws.ToBool(f.DescribeRegionsCalls.Input(t).AllRegions) {
			t.Errorf("DescribeRegions without AllRegions: opt-in regions would be reported unknown")
		}
	})
	t.Run("unknown region", func(t *testing.T) {
		f := newFakeRegions(t)
		f.DescribeRegionsCalls.Return(regions("us-east-1", "eu-west-1"), nil)
		err := validateRegion(t.Context(), f, "eu-wset-1")
		if err == nil {
			t.Fatal("validateRegion accepted a region EC2 does not list")
		}
		for _, w := range []string{`"eu-wset-1"`, "2 regions listed", "`region`", "`skip_region_validation = true`"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	})
	t.Run("copy regions in the same call", func(t *testing.T) {
		f := newFakeRegions(t)
		f.DescribeRegionsCalls.Return(regions("us-east-1", "eu-west-1"), nil)
		if err := validateRegion(t.Context(), f, "us-east-1", "eu-west-1"); err != nil {
			t.Errorf("validateRegion: %v", err)
		}
		f = newFakeRegions(t)
		f.DescribeRegionsCalls.Return(regions("us-east-1", "eu-west-1"), nil)
		err := validateRegion(t.Context(), f, "us-east-1", "eu-west-1", "eu-wset-2")
		if err == nil || !strings.Contains(err.Error(), "`ami_regions`: region \"eu-wset-2\"") || strings.Contains(err.Error(), "eu-west-1\"") {
			t.Errorf("err = %v, want only the unknown copy region named, with its option", err)
		}
	})
	t.Run("API error", func(t *testing.T) {
		f := newFakeRegions(t)
		f.DescribeRegionsCalls.Return(nil, apiErr("AuthFailure"))
		err := validateRegion(t.Context(), f, "us-east-1")
		if err == nil || !strings.Contains(err.Error(), "checking region us-east-1") || !strings.Contains(err.Error(), "`skip_region_validation = true`") {
			t.Errorf("err = %v, want it to name the region and the way to skip the check", err)
		}
		wantAPICode(t, err, "AuthFailure")
	})
}

func TestBuilderPrepare(t *testing.T) {
	var b Builder
	generated, warnings, err := b.Prepare(validConfig(nil))
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings = %v, want none", warnings)
	}
	want := []string{"BuildRegion", "SourceAMI", "SourceAMICreationDate", "SourceAMIName", "SourceAMIOwner", "SourceAMIOwnerName"}
	if !reflect.DeepEqual(generated, want) {
		t.Errorf("generated data = %v, want %v (what stepSourceAMI puts)", generated, want)
	}

	_, _, err = new(Builder).Prepare(validConfig(map[string]interface{}{"instance_type": unset}))
	if err == nil || !strings.Contains(err.Error(), "`instance_type` is required") {
		t.Errorf("Prepare of an invalid config: %v, want the config's error", err)
	}
}

// Every option the config decodes must be in the HCL2 spec, or HCL2
// templates cannot set it (the spec is generated; this catches a stale one).
func TestBuilderConfigSpecHasEveryOption(t *testing.T) {
	spec := new(Builder).ConfigSpec()
	var missing []string
	for _, key := range mapstructureKeys(reflect.TypeOf(Config{})) {
		if _, ok := spec[key]; !ok {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		t.Errorf("HCL2 spec lacks %v: run `make generate`", missing)
	}
}

// mapstructureKeys lists the keys a struct decodes, through squashed fields.
func mapstructureKeys(typ reflect.Type) []string {
	var keys []string
	for i := 0; i < typ.NumField(); i++ {
		field := typ.Field(i)
		if !field.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(field.Tag.Get("mapstructure"), ",")
		switch {
		case opts == "squash" && field.Type.Kind() == reflect.Struct:
			keys = append(keys, mapstructureKeys(field.Type)...)
		case name != "" && name != "-":
			keys = append(keys, name)
		}
	}
	return keys
}
