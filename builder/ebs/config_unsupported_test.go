package ebs

import (
	"bufio"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

const amazonEBSOptions = "testdata/amazon-ebs-options/options.txt"

// readNames reads one name a line, skipping blank lines and # comments.
func readNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		if line := strings.TrimSpace(lines.Text()); line != "" && !strings.HasPrefix(line, "#") {
			names = append(names, line)
		}
	}
	if err := lines.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// ourOptions is every option bakery-ebs's HCL2 spec accepts, a nested
// block's options as block.option.
func ourOptions() map[string]bool {
	keys := map[string]bool{}
	var walk func(prefix string, spec hcldec.ObjectSpec)
	walk = func(prefix string, spec hcldec.ObjectSpec) {
		for key, s := range spec {
			keys[prefix+key] = true
			var nested hcldec.Spec
			switch b := s.(type) {
			case *hcldec.BlockSpec:
				nested = b.Nested
			case *hcldec.BlockListSpec:
				nested = b.Nested
			}
			if obj, ok := nested.(hcldec.ObjectSpec); ok {
				walk(prefix+key+".", obj)
			}
		}
	}
	walk("", (&Config{}).FlatMapstructure().HCL2Spec())
	return keys
}

// TestAmazonEBSOptionsAccountedFor: a template written for amazon-ebs never
// meets HCL's bare "Unsupported argument", and no option is dropped
// silently: each is in our spec, supported or refused with a reason.
func TestAmazonEBSOptionsAccountedFor(t *testing.T) {
	options := readNames(t, amazonEBSOptions)
	if len(options) < 250 {
		t.Fatalf("%s lists %d options; amazon-ebs v1.8.2 has 250, nested ones included", amazonEBSOptions, len(options))
	}
	ours := ourOptions()
	var missing []string
	for _, name := range options {
		if !ours[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d amazon-ebs option(s) are neither in bakery-ebs's spec nor refused in config_unsupported.go, so a template using them fails with HCL's bare \"Unsupported argument\":\n  %s",
			len(missing), strings.Join(missing, "\n  "))
	}
}

// TestUnsupportedOptionsAreDescribed: every refused option is an amazon-ebs
// option, has a reason, and is in the docs' list; and the reason table has no entry without a field.
func TestUnsupportedOptionsAreDescribed(t *testing.T) {
	amazon := map[string]bool{}
	for _, name := range readNames(t, amazonEBSOptions) {
		amazon[name] = true
	}
	docs, err := os.ReadFile("../../docs/builders/ebs.mdx")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(docs), "## Options from amazon-ebs we do not support")
	if !ok {
		t.Fatal("docs/builders/ebs.mdx has no section \"Options from amazon-ebs we do not support\"")
	}

	var fields []string
	typ := reflect.TypeOf(UnsupportedConfig{})
	for i := 0; i < typ.NumField(); i++ {
		fields = append(fields, mapstructureName(typ.Field(i)))
	}
	var table []string
	for _, o := range unsupportedOptions {
		table = append(table, o.Name)
		if len(o.Why) < 20 {
			t.Errorf("`%s`: the reason %q says too little", o.Name, o.Why)
		}
		if !strings.Contains(section, "- `"+o.Name+"`: "+o.Why) {
			t.Errorf("the docs' list lacks `%s` with its reason %q", o.Name, o.Why)
		}
	}
	sort.Strings(fields)
	sort.Strings(table)
	if !reflect.DeepEqual(fields, table) {
		t.Errorf("UnsupportedConfig's fields %v and unsupportedOptions %v differ", fields, table)
	}
	for _, name := range fields {
		if !amazon[name] {
			t.Errorf("`%s` is refused but is not an amazon-ebs option", name)
		}
	}
}

func TestUnsupportedConfigPrepare(t *testing.T) {
	tests := []struct {
		name  string
		set   map[string]interface{}
		wants []string // options named in the errors, in order
	}{
		{name: "a list", set: map[string]interface{}{"ami_product_codes": []string{"abc"}}, wants: []string{"ami_product_codes"}},
		{name: "a number", set: map[string]interface{}{"block_duration_minutes": 60}, wants: []string{"block_duration_minutes"}},
		{name: "false is refused too", set: map[string]interface{}{"skip_ami_run_tags": false}, wants: []string{"skip_ami_run_tags"}},
		{name: "strings", set: map[string]interface{}{"capacity_reservation_preference": "open", "capacity_reservation_id": "cr-1", "capacity_reservation_group_arn": "arn:aws:x"},
			wants: []string{"capacity_reservation_preference", "capacity_reservation_id", "capacity_reservation_group_arn"}},
		{name: "an enabled block", set: map[string]interface{}{"deregistration_protection": map[string]interface{}{"enabled": true}}, wants: []string{"deregistration_protection"}},
		{name: "a nested block", set: map[string]interface{}{"fast_launch": map[string]interface{}{"enable_fast_launch": true, "region_launch_templates": []map[string]interface{}{{"region": "us-east-1", "template_id": "lt-1"}}}}, wants: []string{"fast_launch"}},
		{name: "a list of blocks", set: map[string]interface{}{"license_specifications": []map[string]interface{}{{"license_configuration_request": map[string]interface{}{"license_configuration_arn": "arn:aws:license-manager:x"}}}}, wants: []string{"license_specifications"}},
		{name: "vault", set: map[string]interface{}{"vault_aws_engine": map[string]interface{}{"name": "role", "ttl": "3600s"}}, wants: []string{"vault_aws_engine"}},
		{name: "durations", set: map[string]interface{}{"windows_password_timeout": "20m"}, wants: []string{"windows_password_timeout"}},
		{name: "flags", set: map[string]interface{}{"enable_nitro_enclave": true}, wants: []string{"enable_nitro_enclave"}},
		{name: "time-based copies", set: map[string]interface{}{"snapshot_copy_duration_minutes": 15}, wants: []string{"snapshot_copy_duration_minutes"}},
	}
	why := map[string]string{}
	for _, o := range unsupportedOptions {
		why[o.Name] = o.Why
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			_, err := c.Prepare(validConfig(tt.set))
			multi, ok := err.(*packersdk.MultiError)
			if !ok {
				t.Fatalf("Prepare = %v (%T), want a MultiError naming %v", err, err, tt.wants)
			}
			var got []string
			for _, e := range multi.Errors {
				got = append(got, e.Error())
			}
			sort.Strings(got)
			var want []string
			for _, name := range tt.wants {
				want = append(want, "`"+name+"` is not supported by bakery-ebs: "+why[name])
			}
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

// Values that ask for nothing bakery-ebs does not do are accepted: the
// "off" value a template may spell out, and skip_ami_run_tags = true.
func TestUnsupportedConfigPrepare_offValuesAreFine(t *testing.T) {
	var c Config
	_, err := c.Prepare(validConfig(map[string]interface{}{
		"block_duration_minutes": 0, "snapshot_copy_duration_minutes": 0, "enable_nitro_enclave": false,
		"deregistration_protection": map[string]interface{}{"enabled": false},
		"fast_launch":               map[string]interface{}{"enable_fast_launch": false},
		"skip_ami_run_tags":         true,
	}))
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
}

func TestUnsupportedConfigPrepare_unsetIsFine(t *testing.T) {
	var c Config
	if _, err := c.Prepare(validConfig(nil)); err != nil {
		t.Fatalf("Prepare of a template without unsupported options: %v", err)
	}
}

func TestUnsupportedConfigPrepare_emptyListsAreUnset(t *testing.T) {
	// What HCL hands over for a template without these blocks.
	var c Config
	_, err := c.Prepare(validConfig(map[string]interface{}{
		"tag": []map[string]interface{}{}, "run_volume_tag": []map[string]interface{}{},
		"license_specifications": []map[string]interface{}{}, "ami_product_codes": []string{},
	}))
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
}
