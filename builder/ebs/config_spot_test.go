package ebs

import (
	"reflect"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
)

func TestSpotConfigPrepare(t *testing.T) {
	types := []interface{}{"t3.micro", "t3a.micro"}
	tests := []prepareCase{
		{name: "on demand by default", input: validConfig(nil), check: func(t *testing.T, c *Config) {
			if c.IsSpot() {
				t.Error("a template without spot_price launches a spot instance")
			}
		}},
		{name: "spot_price auto", input: validConfig(map[string]interface{}{"spot_price": "auto"}), check: func(t *testing.T, c *Config) {
			if !c.IsSpot() || c.SpotPrice != "auto" {
				t.Errorf("IsSpot = %v, SpotPrice %q, want a spot build capped at on demand", c.IsSpot(), c.SpotPrice)
			}
		}},
		{name: "spot_price as a price", input: validConfig(map[string]interface{}{"spot_price": "0.0125"}), check: func(t *testing.T, c *Config) {
			if !c.IsSpot() {
				t.Error("spot_price 0.0125 is not a spot build")
			}
		}},
		{name: "spot_price 0 means on demand, as in amazon-ebs", input: validConfig(map[string]interface{}{"spot_price": "0"}), check: func(t *testing.T, c *Config) {
			if c.IsSpot() {
				t.Error("spot_price \"0\" launches a spot instance")
			}
		}},
		{name: "every spot option", input: validConfig(map[string]interface{}{
			"instance_type": unset, "spot_price": "auto", "spot_instance_types": types,
			"spot_allocation_strategy": "price-capacity-optimized",
			"spot_tags":                map[string]interface{}{"team": "bakers"},
			"fleet_tags":               map[string]interface{}{"fleet": "yes"},
		}), check: func(t *testing.T, c *Config) {
			if !reflect.DeepEqual(c.SpotInstanceTypes, []string{"t3.micro", "t3a.micro"}) || c.SpotAllocationStrategy != "price-capacity-optimized" ||
				c.SpotTags["team"] != "bakers" || c.FleetTags["fleet"] != "yes" {
				t.Errorf("decoded %+v", c.SpotConfig)
			}
		}},
		{name: "spot_price not a number", input: validConfig(map[string]interface{}{"spot_price": "cheap"}),
			wantErr: []string{"`spot_price` \"cheap\": give a maximum hourly price"}},
		{name: "spot_price with a currency", input: validConfig(map[string]interface{}{"spot_price": "$0.05"}),
			wantErr: []string{"`spot_price` \"$0.05\""}},
		{name: "spot_price negative", input: validConfig(map[string]interface{}{"spot_price": "-0.05"}),
			wantErr: []string{"`spot_price` \"-0.05\""}},
		{name: "spot_price zero written as a decimal", input: validConfig(map[string]interface{}{"spot_price": "0.00"}),
			wantErr: []string{"`spot_price` \"0.00\""}},
		{name: "spot_price in exponent notation", input: validConfig(map[string]interface{}{"spot_price": "5e-2"}),
			wantErr: []string{"`spot_price` \"5e-2\""}},
		{name: "spot_price NaN", input: validConfig(map[string]interface{}{"spot_price": "NaN"}),
			wantErr: []string{"`spot_price` \"NaN\""}},
		{name: "spot_price Inf", input: validConfig(map[string]interface{}{"spot_price": "Inf"}),
			wantErr: []string{"`spot_price` \"Inf\""}},
		{name: "spot_price hexadecimal", input: validConfig(map[string]interface{}{"spot_price": "0x1p-4"}),
			wantErr: []string{"`spot_price` \"0x1p-4\""}},
		{name: "spot_price with a leading dot", input: validConfig(map[string]interface{}{"spot_price": ".05"}), check: func(t *testing.T, c *Config) {
			if !c.IsSpot() {
				t.Error("spot_price .05 is not a spot build")
			}
		}},
		{name: "spot_price Auto in capitals", input: validConfig(map[string]interface{}{"spot_price": "Auto"}),
			wantErr: []string{"`spot_price` \"Auto\""}},
		{name: "neither instance_type nor spot_instance_types", input: validConfig(map[string]interface{}{"instance_type": unset, "spot_price": "auto"}),
			wantErr: []string{"`instance_type` is required, e.g. \"t3.micro\" (or, for a spot build, `spot_instance_types`)"}},
		{name: "instance_type and spot_instance_types", input: validConfig(map[string]interface{}{"spot_price": "auto", "spot_instance_types": types}),
			wantErr: []string{"`instance_type` and `spot_instance_types` both set: keep one"}},
		{name: "spot_instance_types without spot_price", input: validConfig(map[string]interface{}{"instance_type": unset, "spot_instance_types": types}),
			wantErr: []string{"`spot_instance_types` only applies to a spot instance: set `spot_price`"}},
		{name: "spot_instance_types with spot_price 0", input: validConfig(map[string]interface{}{"instance_type": unset, "spot_price": "0", "spot_instance_types": types}),
			wantErr: []string{"`spot_instance_types` only applies to a spot instance"}},
		{name: "spot_instance_types entry misspelt", input: validConfig(map[string]interface{}{"instance_type": unset, "spot_price": "auto", "spot_instance_types": []interface{}{"t3.micro", "t3-large"}}),
			wantErr: []string{"`spot_instance_types`: \"t3-large\" is not an EC2 instance type"}},
		{name: "spot_tags without spot_price", input: validConfig(map[string]interface{}{"spot_tags": map[string]interface{}{"a": "b"}}),
			wantErr: []string{"`spot_tags` only applies to a spot instance"}},
		{name: "fleet_tags without spot_price", input: validConfig(map[string]interface{}{"fleet_tags": map[string]interface{}{"a": "b"}}),
			wantErr: []string{"`fleet_tags` only applies to a spot instance"}},
		{name: "spot_allocation_strategy without spot_price", input: validConfig(map[string]interface{}{"spot_allocation_strategy": "diversified"}),
			wantErr: []string{"`spot_allocation_strategy` only applies to a spot instance"}},
		{name: "spot_allocation_strategy unknown", input: validConfig(map[string]interface{}{"spot_price": "auto", "spot_allocation_strategy": "cheapest"}),
			wantErr: []string{"`spot_allocation_strategy` \"cheapest\": use one of lowest-price, diversified, capacity-optimized, capacity-optimized-prioritized, price-capacity-optimized"}},
		{name: "spot_allocation_strategy in amazon's old camel case", input: validConfig(map[string]interface{}{"spot_price": "auto", "spot_allocation_strategy": "lowestPrice"}),
			wantErr: []string{"`spot_allocation_strategy` \"lowestPrice\""}},
		{name: "unlimited credits with a T2 spot instance, as amazon-ebs refuses", input: validConfig(map[string]interface{}{
			"instance_type": "t2.micro", "spot_price": "auto", "enable_unlimited_credits": true}),
			wantErr: []string{"`enable_unlimited_credits` cannot be used with a T2 spot instance (t2.micro)"}},
		{name: "unlimited credits with a T2 among spot_instance_types", input: validConfig(map[string]interface{}{
			"instance_type": unset, "spot_price": "auto", "spot_instance_types": []interface{}{"t3.micro", "t2.micro"}, "enable_unlimited_credits": true}),
			wantErr: []string{"`enable_unlimited_credits` cannot be used with a T2 spot instance (t2.micro)"}},
		{name: "unlimited credits with a non-burstable spot type", input: validConfig(map[string]interface{}{
			"instance_type": unset, "spot_price": "auto", "spot_instance_types": []interface{}{"t3.micro", "m5.large"}, "enable_unlimited_credits": true}),
			wantErr: []string{"`enable_unlimited_credits` only applies to burstable instance types (t2, t3, t3a, t4g), not \"m5.large\" of `spot_instance_types`"}},
		{name: "unlimited credits with a T3 spot instance", input: validConfig(map[string]interface{}{
			"instance_type": "t3.micro", "spot_price": "auto", "enable_unlimited_credits": true}), check: func(t *testing.T, c *Config) {
			if !c.IsSpot() || !c.EnableUnlimitedCredits {
				t.Error("a T3 spot instance with unlimited credits was not kept")
			}
		}},
		{name: "unlimited credits with T3 spot_instance_types", input: validConfig(map[string]interface{}{
			"instance_type": unset, "spot_price": "auto", "spot_instance_types": []interface{}{"t3.micro", "t3a.micro"}, "enable_unlimited_credits": true})},
		{name: "unlimited credits on a T2 on demand", input: validConfig(map[string]interface{}{
			"instance_type": "t2.micro", "enable_unlimited_credits": true})},
		{name: "disable_stop_instance with a spot instance", input: validConfig(map[string]interface{}{"spot_price": "auto", "disable_stop_instance": true}),
			wantErr: []string{"`disable_stop_instance` does not apply to a spot instance"}},
		{name: "ena_support with a spot instance", input: validConfig(map[string]interface{}{"spot_price": "auto", "ena_support": true}),
			wantErr: []string{"`ena_support` and `sriov_support` are set on the stopped build instance, and a spot instance cannot be stopped"}},
		{name: "sriov_support with a spot instance", input: validConfig(map[string]interface{}{"spot_price": "auto", "sriov_support": true}),
			wantErr: []string{"`ena_support` and `sriov_support`"}},
		{name: "ena_support on demand", input: validConfig(map[string]interface{}{"ena_support": true})},
		{name: "every spot problem at once", input: validConfig(map[string]interface{}{
			"spot_price": "0", "spot_instance_types": types, "spot_tags": map[string]interface{}{"a": "b"},
			"fleet_tags": map[string]interface{}{"a": "b"}, "spot_allocation_strategy": "cheapest",
		}), wantErr: []string{
			"`instance_type` and `spot_instance_types` both set", "`spot_instance_types` only applies", "`spot_allocation_strategy` only applies",
			"`spot_tags` only applies", "`fleet_tags` only applies", "`spot_allocation_strategy` \"cheapest\"",
		}},
	}
	runPrepareCases(t, tests)
}

func TestSpotConfigPrepare_everyStrategy(t *testing.T) {
	for _, s := range []string{"lowest-price", "diversified", "capacity-optimized", "capacity-optimized-prioritized", "price-capacity-optimized"} {
		var c Config
		if _, err := c.Prepare(validConfig(map[string]interface{}{"spot_price": "auto", "spot_allocation_strategy": s})); err != nil {
			t.Errorf("spot_allocation_strategy %q rejected: %v", s, err)
		}
	}
}

func TestSpotConfigPrepare_unknownValuesPassValidation(t *testing.T) {
	unknown := hcl2helper.UnknownVariableValue
	var c Config
	_, err := c.Prepare(validConfig(map[string]interface{}{
		"instance_type": unset, "spot_price": unknown, "spot_instance_types": []interface{}{unknown},
		"spot_allocation_strategy": unknown,
	}))
	if err != nil {
		t.Errorf("placeholders rejected: %v", err)
	}
}
