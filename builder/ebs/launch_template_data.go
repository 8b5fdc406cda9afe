package ebs

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// launchTemplateData turns the RunInstancesInput an on-demand launch would
// send into the launch template a spot launch uses, so that a spot build
// instance is configured exactly like an on-demand one, including options
// added to the on-demand launch later.
//
// The two API shapes share almost every field name, down to the nested
// structs, so the fields are carried by name (a JSON round trip) rather than
// one by one: a field the SDK adds to both shapes is carried without a change
// here. What differs is mapped by hand below; the unit test fails for any
// field of RunInstancesInput that neither way carries.
func launchTemplateData(in *ec2.RunInstancesInput) (*types.RequestLaunchTemplateData, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("converting the launch request to a launch template: %w", err)
	}
	data := new(types.RequestLaunchTemplateData)
	if err := json.Unmarshal(raw, data); err != nil {
		return nil, fmt.Errorf("converting the launch request to a launch template: %w", err)
	}

	// Renamed in the launch template API.
	data.RamDiskId = in.RamdiskId
	data.ElasticGpuSpecifications = in.ElasticGpuSpecification

	// A launch template has no subnet, private address, IPv6 or primary IPv6
	// setting of its own: they belong to the primary network interface.
	if in.SubnetId != nil || in.PrivateIpAddress != nil || in.Ipv6AddressCount != nil || in.Ipv6Addresses != nil || in.EnablePrimaryIpv6 != nil {
		if len(data.NetworkInterfaces) == 0 {
			// EC2 rejects groups both at the top level and in an interface.
			data.NetworkInterfaces = []types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{{
				DeviceIndex:         aws.Int32(0),
				Groups:              data.SecurityGroupIds,
				DeleteOnTermination: aws.Bool(true),
			}}
			data.SecurityGroupIds = nil
		}
		primary := &data.NetworkInterfaces[0]
		for i := range data.NetworkInterfaces {
			if aws.ToInt32(data.NetworkInterfaces[i].DeviceIndex) == 0 {
				primary = &data.NetworkInterfaces[i]
			}
		}
		if in.SubnetId != nil {
			primary.SubnetId = in.SubnetId
		}
		if in.PrivateIpAddress != nil {
			primary.PrivateIpAddress = in.PrivateIpAddress
		}
		if in.Ipv6AddressCount != nil {
			primary.Ipv6AddressCount = in.Ipv6AddressCount
		}
		for _, a := range in.Ipv6Addresses {
			primary.Ipv6Addresses = append(primary.Ipv6Addresses, types.InstanceIpv6AddressRequest{Ipv6Address: a.Ipv6Address})
			if aws.ToBool(a.IsPrimaryIpv6) {
				primary.PrimaryIpv6 = aws.Bool(true)
			}
		}
		if in.EnablePrimaryIpv6 != nil {
			primary.PrimaryIpv6 = in.EnablePrimaryIpv6
		}
	}
	// An interface's IPv6 address cannot be marked primary in a launch
	// template; the interface's PrimaryIpv6 says the same.
	for i, ni := range in.NetworkInterfaces {
		for _, a := range ni.Ipv6Addresses {
			if aws.ToBool(a.IsPrimaryIpv6) && i < len(data.NetworkInterfaces) {
				data.NetworkInterfaces[i].PrimaryIpv6 = aws.Bool(true)
			}
		}
	}
	return data, nil
}

// notInLaunchTemplates are the RunInstancesInput fields a launch template
// cannot hold, and why. The conversion test checks every other field is
// carried.
var notInLaunchTemplates = map[string]string{
	"MinCount":       "the fleet's target capacity says how many instances",
	"MaxCount":       "the fleet's target capacity says how many instances",
	"ClientToken":    "CreateLaunchTemplate and CreateFleet take their own tokens",
	"DryRun":         "a request option, not instance configuration",
	"AdditionalInfo": "reserved by EC2; launch templates have no such field",
	"LaunchTemplate": "a launch template cannot refer to another launch template",
}

// templateDataDiff names the fields in which a launch template version's
// data (as EC2 describes it) differs from what the build sent, "" when
// none does. The two shapes share their field names, so they are compared
// by name; a field set on one side only is a difference too (a planted
// template's user data or instance profile where the build sent none).
func templateDataDiff(sent *types.RequestLaunchTemplateData, got *types.ResponseLaunchTemplateData) string {
	a, b := fieldsByName(sent), fieldsByName(got)
	var diff []string
	for k, v := range a {
		if !reflect.DeepEqual(v, b[k]) {
			diff = append(diff, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, k)
		}
	}
	sort.Strings(diff)
	return strings.Join(diff, ", ")
}

// fieldsByName is v as JSON values by field name, without unset fields.
func fieldsByName(v any) map[string]any {
	raw, err := json.Marshal(v)
	var m map[string]any
	if err != nil || json.Unmarshal(raw, &m) != nil {
		return map[string]any{"(unreadable)": true}
	}
	for k, x := range m {
		if x = pruned(x); x == nil {
			delete(m, k)
		} else {
			m[k] = x
		}
	}
	return m
}

// pruned drops nulls, empty strings (unset enums) and empty lists and
// objects, which the API shapes use alike for "not set".
func pruned(x any) any {
	switch v := x.(type) {
	case string:
		if v == "" {
			return nil
		}
	case map[string]any:
		for k, e := range v {
			if e = pruned(e); e == nil {
				delete(v, k)
			} else {
				v[k] = e
			}
		}
		if len(v) == 0 {
			return nil
		}
	case []any:
		out := v[:0]
		for _, e := range v {
			if e = pruned(e); e != nil {
				out = append(out, e)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return x
}
