package ebs

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// nestedNotInLaunchTemplates are nested RunInstancesInput fields (by path)
// that a launch template cannot hold, and why.
var nestedNotInLaunchTemplates = map[string]string{
	// EbsBlockDevice is shared with CreateVolume-like calls; RunInstances
	// places a build's volumes with the instance.
	"BlockDeviceMappings.Ebs.AvailabilityZone":   "volumes of a launch go where the instance goes",
	"BlockDeviceMappings.Ebs.AvailabilityZoneId": "volumes of a launch go where the instance goes",
	"BlockDeviceMappings.Ebs.OutpostArn":         "volumes of a launch go where the instance goes",
}

// leafPath is one settable leaf of RunInstancesInput: the field indexes
// from the top, through pointers and first slice elements.
type leafPath struct {
	name  string
	index [][]int
}

// leaves lists every leaf field under t, e.g.
// "NetworkInterfaces.Ipv6Addresses.IsPrimaryIpv6".
func leaves(t reflect.Type, prefix string, index []int, depth int) []leafPath {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || depth > 8 {
		return []leafPath{{name: prefix, index: [][]int{index}}}
	}
	var out []leafPath
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if prefix != "" {
			name = prefix + "." + f.Name
		}
		for _, l := range leaves(f.Type, name, append(append([]int(nil), index...), i), depth+1) {
			out = append(out, l)
		}
	}
	return out
}

// setLeaf sets the leaf at path in v (allocating pointers and one slice
// element on the way) to a value derived from n; with zero it only
// allocates the way there. It returns the value set, as text.
func setLeaf(t *testing.T, v reflect.Value, path []int, n int, zero bool) string {
	t.Helper()
	for _, i := range path {
		v = deref(v).Field(i)
	}
	v = deref(v)
	if zero {
		return ""
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("leaf-%d", n))
		return v.String()
	case reflect.Int32, reflect.Int64, reflect.Int:
		v.SetInt(int64(1000 + n))
		return fmt.Sprint(v.Int())
	case reflect.Float64, reflect.Float32:
		v.SetFloat(float64(1000 + n))
		return fmt.Sprint(v.Float())
	case reflect.Bool:
		v.SetBool(true)
		return ""
	default:
		t.Fatalf("leaf of kind %s: teach this test to set it", v.Kind())
		return ""
	}
}

// deref walks through pointers and slices, allocating as needed.
func deref(v reflect.Value) reflect.Value {
	for {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		case reflect.Slice:
			if v.Len() == 0 {
				v.Set(reflect.MakeSlice(v.Type(), 1, 1))
			}
			v = v.Index(0)
		default:
			return v
		}
	}
}

// TestLaunchTemplateDataCarriesEveryField sets each leaf field of
// RunInstancesInput alone and checks that the launch template data differs
// from the one without it, and holds its value: a field the spot launch
// drops fails here, including fields a new SDK version adds.
func TestLaunchTemplateDataCarriesEveryField(t *testing.T) {
	all := leaves(reflect.TypeOf(ec2.RunInstancesInput{}), "", nil, 0)
	if len(all) < 100 {
		t.Fatalf("found only %d leaf fields in RunInstancesInput: the walk is broken", len(all))
	}
	carried := 0
	for n, leaf := range all {
		top, _, _ := strings.Cut(leaf.name, ".")
		if _, ok := notInLaunchTemplates[top]; ok {
			continue
		}
		if _, ok := nestedNotInLaunchTemplates[leaf.name]; ok {
			continue
		}
		t.Run(leaf.name, func(t *testing.T) {
			without := new(ec2.RunInstancesInput)
			setLeaf(t, reflect.ValueOf(without).Elem(), leaf.index[0], n, true)
			with := new(ec2.RunInstancesInput)
			value := setLeaf(t, reflect.ValueOf(with).Elem(), leaf.index[0], n, false)

			base, err := launchTemplateData(without)
			if err != nil {
				t.Fatal(err)
			}
			got, err := launchTemplateData(with)
			if err != nil {
				t.Fatal(err)
			}
			if reflect.DeepEqual(base, got) {
				t.Fatalf("RunInstancesInput.%s is dropped by the launch template conversion: carry it, or list it in notInLaunchTemplates with the reason", leaf.name)
			}
			if value != "" && !strings.Contains(jsonString(got), fmt.Sprintf("%q", value)) && !strings.Contains(jsonString(got), ":"+value) {
				t.Errorf("RunInstancesInput.%s = %s is not in the launch template data: %s", leaf.name, value, jsonString(got))
			}
		})
		carried++
	}
	t.Logf("%d of %d leaf fields carried", carried, len(all))
}

func TestLaunchTemplateDataExclusionsAreReal(t *testing.T) {
	fields := map[string]bool{}
	rt := reflect.TypeOf(ec2.RunInstancesInput{})
	for i := 0; i < rt.NumField(); i++ {
		fields[rt.Field(i).Name] = true
	}
	for name := range notInLaunchTemplates {
		if !fields[name] {
			t.Errorf("notInLaunchTemplates lists %s, which RunInstancesInput no longer has", name)
		}
	}
	paths := map[string]bool{}
	for _, l := range leaves(rt, "", nil, 0) {
		paths[l.name] = true
	}
	for name := range nestedNotInLaunchTemplates {
		if !paths[name] {
			t.Errorf("nestedNotInLaunchTemplates lists %s, which RunInstancesInput no longer has", name)
		}
	}
}

// The on-demand launch as the build sends it today becomes this template.
func TestLaunchTemplateDataFromTheBuildsLaunch(t *testing.T) {
	state, _ := stateForLaunch(t, "packer_bakery_b1")
	for _, publicIP := range []*bool{nil, aws.Bool(true)} {
		step := newRunStep(nil)
		step.associatePublicIP = publicIP
		in := step.input(state)
		data, err := launchTemplateData(in)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(data.ImageId) != "ami-0source" || data.InstanceType != "t3.micro" || aws.ToString(data.KeyName) != "packer_bakery_b1" {
			t.Errorf("template launches %s from %s with key %s", data.InstanceType, aws.ToString(data.ImageId), aws.ToString(data.KeyName))
		}
		if data.MetadataOptions == nil || data.MetadataOptions.HttpTokens != types.LaunchTemplateHttpTokensStateRequired {
			t.Errorf("MetadataOptions = %s, want IMDSv2 required as on demand", jsonString(data.MetadataOptions))
		}
		if len(data.NetworkInterfaces) != 1 || data.SecurityGroupIds != nil {
			t.Fatalf("want the subnet and groups in one network interface, got %s / groups %v", jsonString(data.NetworkInterfaces), data.SecurityGroupIds)
		}
		ni := data.NetworkInterfaces[0]
		if aws.ToString(ni.SubnetId) != "subnet-1" || !reflect.DeepEqual(ni.Groups, []string{"sg-1"}) || aws.ToInt32(ni.DeviceIndex) != 0 {
			t.Errorf("network interface %s, want device 0 in subnet-1 with [sg-1]", jsonString(ni))
		}
		if !reflect.DeepEqual(ni.AssociatePublicIpAddress, publicIP) {
			t.Errorf("AssociatePublicIpAddress = %v, want %v", ni.AssociatePublicIpAddress, publicIP)
		}
		specs := map[types.ResourceType]map[string]string{}
		for _, s := range data.TagSpecifications {
			specs[s.ResourceType] = tagMap(s.Tags)
		}
		if !reflect.DeepEqual(specs[types.ResourceTypeInstance], map[string]string(runTags)) || !reflect.DeepEqual(specs[types.ResourceTypeVolume], map[string]string(volumeTags)) {
			t.Errorf("tag specifications %s, want instance tagged %v and volumes %v", jsonString(data.TagSpecifications), runTags, volumeTags)
		}
	}
}
