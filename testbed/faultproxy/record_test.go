package faultproxy

import "testing"

func TestRequestsAreRecorded(t *testing.T) {
	moto := newFakeMoto(t)
	p := startProxy(t, moto.URL, WithConfig(Config{Throttle: Fault{Rate: 1, Actions: []string{"DescribeImages"}}}))

	mustCall(t, p, "ec2", "CreateImage", "InstanceId", "i-1", "BlockDeviceMapping.1.Ebs.Iops", "4000")
	mustCall(t, p, "ec2", "DescribeImages", "ImageId.1", "ami-1") // throttled: still asked for
	mustCall(t, p, "sts", "GetCallerIdentity")

	got := p.Requests("ec2", "CreateImage")
	if len(got) != 1 || got[0].Get("BlockDeviceMapping.1.Ebs.Iops") != "4000" || got[0].Get("InstanceId") != "i-1" {
		t.Errorf("Requests(ec2, CreateImage) = %v, want the one call's parameters", got)
	}
	if got := p.Requests("ec2", "DescribeImages"); len(got) != 1 || got[0].Get("ImageId.1") != "ami-1" {
		t.Errorf("a faulted call was not recorded: %v", got)
	}
	got[0].Set("InstanceId", "changed")
	if again := p.Requests("ec2", "CreateImage"); again[0].Get("InstanceId") != "i-1" {
		t.Error("Requests returned the proxy's own copy")
	}
	if got := p.Requests("ec2", "RunInstances"); len(got) != 0 {
		t.Errorf("Requests of a call never made = %v", got)
	}

	for range maxRecorded + 5 {
		mustCall(t, p, "sts", "GetCallerIdentity")
	}
	if n := len(p.Requests("sts", "GetCallerIdentity")); n != maxRecorded {
		t.Errorf("kept %d GetCallerIdentity requests, want the first %d", n, maxRecorded)
	}
	p.Reset()
	if got := p.Requests("ec2", "CreateImage"); len(got) != 0 {
		t.Errorf("after Reset: %v", got)
	}
}
