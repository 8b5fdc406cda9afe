package faultproxy

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// KindCapacity counts launches refused for want of capacity.
const KindCapacity Kind = "capacity"

// Capacity makes EC2 out of capacity for some instance types and subnets,
// which moto never is: a RunInstances (not a dry run, which AWS answers
// without looking at capacity) that asks for one of InstanceTypes is
// answered InsufficientInstanceCapacity, HTTP 500 (a server error in EC2's
// error-code reference); one that launches into one of SubnetIDs,
// Unsupported, HTTP 400 (the type is not offered in that zone). moto never
// sees the call.
type Capacity struct {
	InstanceTypes []string `json:"instance_types,omitempty"`
	SubnetIDs     []string `json:"subnet_ids,omitempty"`
}

// refuse is the reply to a launch with params, if it is refused.
func (c Capacity) refuse(params url.Values) (awsError, bool) {
	if params.Get("DryRun") == "true" {
		return awsError{}, false
	}
	typ := params.Get("InstanceType")
	if slices.Contains(c.InstanceTypes, typ) {
		return awsError{http.StatusInternalServerError, "InsufficientInstanceCapacity",
			fmt.Sprintf("We currently do not have sufficient %s capacity in the Availability Zone you requested.", typ)}, true
	}
	subnet := params.Get("SubnetId")
	if subnet == "" {
		subnet = params.Get("NetworkInterface.1.SubnetId")
	}
	if slices.Contains(c.SubnetIDs, subnet) {
		return awsError{http.StatusBadRequest, "Unsupported",
			fmt.Sprintf("Your requested instance type (%s) is not supported in the Availability Zone of %s.", typ, subnet)}, true
	}
	return awsError{}, false
}
