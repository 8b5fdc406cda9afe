package ebs

import (
	"reflect"
	"strings"
	"testing"
)

// amazon-ebs options kept under their old spelling do what they did there.
func TestStockConfigPrepare(t *testing.T) {
	kv := func(k, v string) []map[string]interface{} { return []map[string]interface{}{{"key": k, "value": v}} }
	tests := []struct {
		name     string
		set      map[string]interface{}
		check    func(t *testing.T, c *Config)
		wantWarn []string
	}{
		{
			name: "tag blocks fold into the maps, the block winning on a key",
			set: map[string]interface{}{
				"tags": map[string]string{"Name": "map", "Team": "web"}, "tag": kv("Name", "block"),
				"run_tag": kv("Owner", "ops"), "snapshot_tag": kv("Backup", "yes"),
				"run_volume_tag": []map[string]interface{}{{"name": "Vol", "value": "v"}},
			},
			check: func(t *testing.T, c *Config) {
				if want := map[string]string{"Name": "block", "Team": "web"}; !reflect.DeepEqual(c.AMITags, want) {
					t.Errorf("tags = %v, want %v", c.AMITags, want)
				}
				if c.RunTags["Owner"] != "ops" || c.SnapshotTags["Backup"] != "yes" || c.VolumeRunTags["Vol"] != "v" {
					t.Errorf("run_tags %v, snapshot_tags %v, run_volume_tags %v", c.RunTags, c.SnapshotTags, c.VolumeRunTags)
				}
			},
		},
		{
			name:     "enable_t2_unlimited means enable_unlimited_credits",
			set:      map[string]interface{}{"enable_t2_unlimited": true, "instance_type": "t2.micro"},
			check:    func(t *testing.T, c *Config) { assertTrue(t, "enable_unlimited_credits", c.EnableUnlimitedCredits) },
			wantWarn: []string{"`enable_t2_unlimited` is deprecated: it means `enable_unlimited_credits = true`"},
		},
		{
			name: "enable_t2_unlimited = false asks nothing",
			set:  map[string]interface{}{"enable_t2_unlimited": false},
			check: func(t *testing.T, c *Config) {
				assertTrue(t, "enable_unlimited_credits unset", !c.EnableUnlimitedCredits)
			},
		},
		{
			name:     "spot_price_auto_product is ignored with a warning",
			set:      map[string]interface{}{"spot_price_auto_product": "Linux/UNIX (Amazon VPC)"},
			wantWarn: []string{"`spot_price_auto_product` is ignored"},
		},
		{
			name: "no_ephemeral empties xvdca to xvdcz, the template's own mapping kept",
			set: map[string]interface{}{"no_ephemeral": true, "launch_block_device_mappings": []map[string]interface{}{
				{"device_name": "xvdcb", "virtual_name": "ephemeral0"},
			}},
			check: func(t *testing.T, c *Config) {
				var noDevice []string
				for _, b := range c.LaunchMappings {
					if b.NoDevice {
						noDevice = append(noDevice, b.DeviceName)
					}
				}
				if len(noDevice) != 25 || noDevice[0] != "xvdca" || noDevice[1] != "xvdcc" || noDevice[24] != "xvdcz" {
					t.Errorf("no_device mappings %v, want xvdca, xvdcc … xvdcz", noDevice)
				}
				if c.LaunchMappings[0].VirtualName != "ephemeral0" {
					t.Errorf("the template's own xvdcb mapping is gone: %+v", c.LaunchMappings[0])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			warnings, err := c.Prepare(validConfig(tt.set))
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if tt.check != nil {
				tt.check(t, &c)
			}
			if len(warnings) != len(tt.wantWarn) {
				t.Fatalf("warnings %q, want %d like %q", warnings, len(tt.wantWarn), tt.wantWarn)
			}
			for i, want := range tt.wantWarn {
				if !strings.Contains(warnings[i], want) {
					t.Errorf("warning %q lacks %q", warnings[i], want)
				}
			}
		})
	}
}

func assertTrue(t *testing.T, what string, ok bool) {
	t.Helper()
	if !ok {
		t.Errorf("%s: no", what)
	}
}
