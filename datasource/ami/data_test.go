package ami

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/zclconf/go-cty/cty"

	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"

	bakery "github.com/packer-bakery/packer-plugin-bakery/common"
)

func TestConfigure(t *testing.T) {
	tests := []struct {
		name    string
		raw     map[string]interface{}
		want    *bakery.AMIFilterOptions // what the lookup will use, on success
		wantErr []string
	}{
		{
			name: "filters and owners",
			raw: map[string]interface{}{
				"region":      "us-east-1",
				"filters":     map[string]interface{}{"name": "amzn2-*", "architecture": "x86_64"},
				"owners":      []interface{}{"amazon", "self"},
				"most_recent": true,
			},
			want: &bakery.AMIFilterOptions{
				Filters:    map[string]string{"name": "amzn2-*", "architecture": "x86_64"},
				Owners:     []string{"amazon", "self"},
				MostRecent: true,
			},
		},
		{
			name: "deprecated AMIs included, first match only",
			raw: map[string]interface{}{
				"filters":            map[string]interface{}{"name": "base-*"},
				"owners":             []interface{}{"123456789012"},
				"include_deprecated": true,
			},
			want: &bakery.AMIFilterOptions{
				Filters:           map[string]string{"name": "base-*"},
				Owners:            []string{"123456789012"},
				IncludeDeprecated: true,
			},
		},
		{
			// What `packer hcl2_upgrade` writes from a JSON builder that sets aws_polling.
			name: "aws_polling copied from the builder",
			raw: map[string]interface{}{
				"region": "us-east-1", "filters": map[string]interface{}{"name": "amzn2-*"}, "owners": []interface{}{"amazon"},
				"aws_polling": map[string]interface{}{"delay_seconds": 5, "max_attempts": 40},
			},
			want: &bakery.AMIFilterOptions{
				Filters: map[string]string{"name": "amzn2-*"},
				Owners:  []string{"amazon"},
			},
		},
		{
			name: "vault_aws_engine",
			raw: map[string]interface{}{
				"region": "us-east-1", "filters": map[string]interface{}{"name": "amzn2-*"}, "owners": []interface{}{"amazon"},
				"vault_aws_engine": map[string]interface{}{"name": "packer"},
			},
			wantErr: []string{"`vault_aws_engine` is not supported by bakery-ami: credentials from Vault"},
		},
		{name: "no filter at all", raw: map[string]interface{}{"region": "us-east-1"}, wantErr: []string{"set `filters` and `owners`"}},
		{
			name:    "filters without owners",
			raw:     map[string]interface{}{"filters": map[string]interface{}{"name": "x"}},
			wantErr: []string{"needs `owners`"},
		},
		{
			name: "access problems are reported with filter problems",
			raw: map[string]interface{}{
				"access_key": "AKID",
				"filters":    map[string]interface{}{"name": "x"},
			},
			wantErr: []string{"`access_key` and `secret_key` go together", "needs `owners`"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Datasource
			err := d.Configure(tc.raw)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if !reflect.DeepEqual(d.config.AMIFilterOptions, *tc.want) {
					t.Errorf("decoded filter %+v, want %+v", d.config.AMIFilterOptions, *tc.want)
				}
				if region, _ := tc.raw["region"].(string); d.config.RawRegion != region {
					t.Errorf("decoded region %q, want %q", d.config.RawRegion, region)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestOutputMatchesSpec(t *testing.T) {
	img := types.Image{
		ImageId:         aws.String("ami-123"),
		Name:            aws.String("base"),
		CreationDate:    aws.String("2026-01-02T03:04:05.000Z"),
		OwnerId:         aws.String("137112412989"),
		ImageOwnerAlias: aws.String("amazon"),
		Tags:            []types.Tag{{Key: aws.String("Team"), Value: aws.String("bakery")}},
	}
	var d Datasource
	v := hcl2helper.HCL2ValueFromConfig(output(img), d.OutputSpec())
	for attr, want := range map[string]string{"id": "ami-123", "name": "base", "owner": "137112412989", "owner_name": "amazon", "creation_date": "2026-01-02T03:04:05.000Z"} {
		if got := v.GetAttr(attr); !got.RawEquals(cty.StringVal(want)) {
			t.Errorf("%s = %#v, want %q", attr, got, want)
		}
	}
	if got := v.GetAttr("tags").Index(cty.StringVal("Team")); !got.RawEquals(cty.StringVal("bakery")) {
		t.Errorf("tags.Team = %#v", got)
	}
}
