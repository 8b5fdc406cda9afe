package faultproxy

import (
	"encoding/xml"
	"testing"
)

// Launches of a listed type or into a listed subnet are refused as EC2
// refuses them, without reaching moto; dry runs and other launches pass.
func TestCapacity(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{Capacity: Capacity{InstanceTypes: []string{"t3.micro"}, SubnetIDs: []string{"subnet-1"}}}))
	for _, tc := range []struct {
		params []string
		status int
		code   string
	}{
		{[]string{"InstanceType", "t3.micro", "SubnetId", "subnet-2"}, 500, "InsufficientInstanceCapacity"},
		{[]string{"InstanceType", "t3a.micro", "SubnetId", "subnet-1"}, 400, "Unsupported"},
		{[]string{"InstanceType", "t3a.micro", "NetworkInterface.1.SubnetId", "subnet-1"}, 400, "Unsupported"},
	} {
		status, body := mustCall(t, p, "ec2", "RunInstances", tc.params...)
		var e ec2Error
		if err := xml.Unmarshal(body, &e); err != nil || status != tc.status || e.Code != tc.code || e.RequestID == "" {
			t.Errorf("%v: HTTP %d %s (%v), want %d %s", tc.params, status, body, err, tc.status, tc.code)
		}
	}
	if got := moto.calls(); len(got) != 0 {
		t.Errorf("refused launches reached moto: %q", got)
	}
	if status, _ := mustCall(t, p, "ec2", "RunInstances", "InstanceType", "t3.micro", "DryRun", "true"); status != 200 {
		t.Errorf("a dry run: HTTP %d, want it passed to moto", status)
	}
	if status, _ := mustCall(t, p, "ec2", "RunInstances", "InstanceType", "t3a.micro", "SubnetId", "subnet-2"); status != 200 {
		t.Errorf("a launch of another type into another subnet: HTTP %d, want it passed to moto", status)
	}
	if got := len(moto.calls()); got != 2 || p.Injected()[KindCapacity] != 3 {
		t.Errorf("moto saw %d calls, injected %v", got, p.Injected())
	}
}
